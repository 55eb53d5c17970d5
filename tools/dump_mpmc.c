/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: the MPMC slot ring (include/shmring/mpmc.h).
 *
 * Producers and consumers claim positions with a CAS on prod.claim and
 * cons.claim; the slot sequence word is (position << 2) | state for the
 * position it last held, state PUB (a message), SKIP (given up by
 * recovery) or CANCEL (reserved, given back). A position between the two
 * claim counters whose slot still shows the lap before is in flight: a
 * producer claimed it and has not published it; that producer's endpoint
 * entry announces it (claim_pos, claim_end) until it publishes.
 *
 * Consumers stop at the first in-flight slot (FIFO), so the readable run
 * is from cons.claim to the first slot that is not done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

#define SLOT_CHECK_MAX (1ull << 24)
#define SNAP_TRIES 256
#define POS_MASK ((1ull << 62) - 1) /* positions as the sequence word keeps them */

enum { PRIV_END_SEQ, PRIV_IN_FLIGHT, PRIV_PASSED, PRIV_READY, PRIV_MODE_P, PRIV_MODE_C, PRIV_GRANTS,
       PRIV_REVOKES };

static const struct shmring_mpmc_block *mpmc_block(const struct dump_ring *d)
{
	return (const struct shmring_mpmc_block *)(const void *)d->r.ctrl->kind_blocks;
}

static uint64_t seq_at(const struct dump_ring *d, uint64_t pos)
{
	/* Acquire: pairs with the producer's release store of seq (P4). */
	return shmring_atomic_load(shmring__slot_seq(&d->r, pos), SHMRING_ACQUIRE);
}

/* Does s hold position p in a finished state? */
static bool seq_done(uint64_t s, uint64_t p)
{
	uint64_t st = s & 3u;

	return (s & ~3ull) == SHMRING_MPMC_SEQ(p, 0) && st >= SHMRING_MPMC_PUB &&
	       st <= SHMRING_MPMC_CANCEL;
}

/* Laps between the position s names and p: 0 same, -1 the lap before,
 * 1 or more later; INT64_MIN when s names no position of p's slot. */
static int64_t seq_lap(const struct dump_ring *d, uint64_t s, uint64_t p)
{
	uint64_t diff = ((s >> 2) - p) & POS_MASK;

	if ((diff & d->r.mask) != 0 || (s & 3u) == 0)
		return INT64_MIN;
	/* sign-extend the 62-bit difference, then count laps */
	int64_t sd = (int64_t)(diff << 2) >> 2;

	return sd / (int64_t)d->r.capacity;
}

static void claim_pair(const struct dump_ring *d, uint64_t *t, uint64_t *h)
{
	/* Acquire: pairs with the release CASes of cons.claim (C3) and
	 * prod.claim (P2). */
	*t = shmring_atomic_load(&d->r.ctrl->cons.claim, SHMRING_ACQUIRE);
	*h = shmring_atomic_load(&d->r.ctrl->prod.claim, SHMRING_ACQUIRE);
}

static void mpmc_snapshot(struct dump_ring *d)
{
	const struct shmring_ctrl *c = d->r.ctrl;
	uint64_t t = 0, h = 0, t2, h2, pc = 0;
	bool consistent = false, stable = false;

	for (int i = 0; i < SNAP_TRIES && !stable; i++) {
		uint64_t pc_i = shmring_atomic_load(&c->prod.cached, SHMRING_RELAXED);
		uint64_t a, b;

		claim_pair(d, &a, &b);
		claim_pair(d, &t2, &h2);
		if (a == t2 || !consistent) {
			consistent = a == t2;
			t = a;
			h = b;
			pc = pc_i;
		}
		stable = a == t2 && b == h2;
	}
	d->consistent = consistent;
	d->stable = stable;
	d->tail = t;
	d->head = h;
	d->prod.cached = pc;
	d->fill = h - t;
	d->avail_end = t;
	memset(d->kind_priv, 0, sizeof(d->kind_priv));
	/* The claim mode words (mpmc.h) and how often the mode moved: one
	 * relaxed read each, for display and the range check. */
	d->kind_priv[PRIV_MODE_P] = shmring_atomic_load(&mpmc_block(d)->solo[0], SHMRING_RELAXED);
	d->kind_priv[PRIV_MODE_C] = shmring_atomic_load(&mpmc_block(d)->solo[1], SHMRING_RELAXED);
	d->kind_priv[PRIV_GRANTS] = (shmring_atomic_load(&c->prod_stats.solo_grants, SHMRING_RELAXED) << 32) |
				    (shmring_atomic_load(&c->cons_stats.solo_grants, SHMRING_RELAXED) & UINT32_MAX);
	d->kind_priv[PRIV_REVOKES] = (shmring_atomic_load(&c->prod_stats.solo_revokes, SHMRING_RELAXED) << 32) |
				     (shmring_atomic_load(&c->cons_stats.solo_revokes, SHMRING_RELAXED) & UINT32_MAX);
	if (d->fill > d->r.capacity)
		return;

	/* The readable run, then what is in flight behind it. */
	uint64_t n = d->fill < SLOT_CHECK_MAX ? d->fill : SLOT_CHECK_MAX, k, s = 0;

	for (k = 0; k < n; k++) {
		s = seq_at(d, t + k);
		if (!seq_done(s, t + k))
			break;
		d->kind_priv[(s & 3u) == SHMRING_MPMC_PUB ? PRIV_READY : PRIV_PASSED]++;
	}
	d->avail_end = t + k;
	d->kind_priv[PRIV_END_SEQ] = k < n ? s : 0;
	for (; k < n; k++)
		if (!seq_done(seq_at(d, t + k), t + k))
			d->kind_priv[PRIV_IN_FLIGHT]++;
}

static bool ring_moved(const struct dump_ring *d)
{
	uint64_t t, h;

	claim_pair(d, &t, &h);
	return t != d->tail || h != d->head ||
	       (d->avail_end != d->head && seq_at(d, d->avail_end) != d->kind_priv[PRIV_END_SEQ]);
}

/* Is position p announced by a producer entry now (a fresh read)? */
static bool producer_holds(const struct dump_ring *d, uint64_t p)
{
	const struct shmring_endpoint *eps =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)d->r.map +
								 SHMRING_EP_OFF);
	uint64_t cap = d->r.capacity;

	for (uint32_t i = 2; i < d->r.ep_count; i++) {
		const struct shmring_endpoint *e = &eps[i];
		/* Acquire: pairs with the release stores of the announcement (P1). */
		uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_ACQUIRE);
		uint64_t ce = shmring_atomic_load(&e->claim_end, SHMRING_ACQUIRE);

		if (cp == SHMRING_NO_CLAIM ||
		    shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_PRODUCER)
			continue;
		uint64_t len = ce - cp <= cap ? ce - cp : cp - ce; /* won or only announced */

		if (p - cp < len)
			return true;
	}
	return false;
}

static void check_claims(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, init = d->hdr.init_pos;

	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (e->claim_pos == SHMRING_NO_CLAIM || e->state != SHMRING_EP_ACTIVE)
			continue;
		bool won = e->claim_end - e->claim_pos <= cap;

		if (!won && e->claim_pos - e->claim_end > cap) {
			dump_problem(d, false, "claim-range",
				     "entry %u claims %llu..%llu, more than the capacity %llu", e->index,
				     (unsigned long long)e->claim_pos, (unsigned long long)e->claim_end,
				     (unsigned long long)cap);
			continue;
		}
		/* The entries were read before the claim counters. */
		uint64_t limit = e->role == SHMRING_PRODUCER ? d->head : d->tail;

		if (won && e->claim_end - init > limit - init)
			dump_problem(d, false, "claim-range",
				     "entry %u (%s) holds %llu..%llu, past the %s claim counter %llu",
				     e->index, dump_role_name(e->role), (unsigned long long)e->claim_pos,
				     (unsigned long long)e->claim_end,
				     e->role == SHMRING_PRODUCER ? "producer" : "consumer",
				     (unsigned long long)limit);
	}
}

static void check_slots(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, t = d->tail;
	uint64_t n = cap < SLOT_CHECK_MAX ? cap : SLOT_CHECK_MAX;

	for (uint64_t k = 0; k < n; k++) {
		uint64_t p = t + k;
		uint64_t s = seq_at(d, p);
		int64_t lap = seq_lap(d, s, p);
		bool claimed = k < d->fill;

		if (lap == INT64_MIN) {
			dump_problem(d, false, "slot-sequence",
				     "slot %llu holds sequence 0x%llx, which is no position of that slot",
				     (unsigned long long)(p & d->r.mask), (unsigned long long)s);
			return;
		}
		if (lap > 0 || (!claimed && lap == 0)) {
			/* a later lap than the snapshot allows: the ring moved */
			if (ring_moved(d))
				continue;
			dump_problem(d, false, "slot-sequence",
				     "slot %llu holds position %llu, ahead of the producers' claim %llu",
				     (unsigned long long)(p & d->r.mask), (unsigned long long)(s >> 2),
				     (unsigned long long)d->head);
			return;
		}
		if (lap < -1) {
			dump_problem(d, false, "slot-sequence",
				     "slot %llu (position %llu) still holds position %llu, %lld laps back",
				     (unsigned long long)(p & d->r.mask), (unsigned long long)p,
				     (unsigned long long)(s >> 2), (long long)-lap);
			return;
		}
		/* lap -1 inside the claimed window: in flight, owned by a producer */
		if (claimed && lap == -1 && !producer_holds(d, p) && seq_lap(d, seq_at(d, p), p) == -1 &&
		    !ring_moved(d)) {
			dump_problem(d, false, "in-flight-owner",
				     "position %llu was claimed but is neither published nor held by any producer",
				     (unsigned long long)p);
			return;
		}
	}
	if (n < cap)
		dump_problem(d, true, "slot-sequence", "checked the first %llu of %llu slots",
			     (unsigned long long)n, (unsigned long long)cap);
}

static const char *mode_state(uint32_t w)
{
	static const char *const names[] = { "granting to", "solo", "being taken back from", "taken back from" };

	return w == 0 ? "shared" : names[w & 3u];
}

/* A mode word names an entry of the table, or none; a holder that is
 * gone is only a warning: the next claimer takes the word back. */
static void check_modes(struct dump_ring *d)
{
	for (int side = 0; side < 2; side++) {
		uint32_t w = (uint32_t)d->kind_priv[PRIV_MODE_P + side];
		uint32_t idx = w >> 2;
		const char *who = side ? "consumers'" : "producers'";

		if (w == 0)
			continue;
		if (idx < 2 || idx >= d->r.ep_count) {
			dump_problem(d, false, "claim-mode",
				     "the %s claim mode word 0x%x names entry %u, outside the endpoint table (2..%u)",
				     who, w, idx, d->r.ep_count - 1);
			continue;
		}
		const struct dump_ep *e = NULL;

		for (uint32_t i = 0; i < d->n_eps; i++)
			if (d->eps[i].index == idx)
				e = &d->eps[i];
		if (!e || e->state != SHMRING_EP_ACTIVE || !e->alive)
			dump_problem(d, true, "claim-mode",
				     "the %s claim mode is %s entry %u, which is %s: the next claimer takes it back",
				     who, mode_state(w), idx, !e ? "free" : "not a live endpoint");
		else if (e->role != (uint32_t)(side ? SHMRING_CONSUMER : SHMRING_PRODUCER))
			dump_problem(d, false, "claim-mode", "the %s claim mode is %s entry %u, a %s", who,
				     mode_state(w), idx, dump_role_name(e->role));
	}
}

/* An MPMC entry holds nothing when claim_end == claim_pos (mpmc.h); a
 * claim announced or won, or words that are no claim at all (corrupt:
 * claim-range says more), are something to recover. */
static bool mpmc_holds_claim(const struct dump_ring *d, const struct dump_ep *e)
{
	(void)d;
	return e->claim_end != e->claim_pos;
}

static void mpmc_check(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, t = d->tail, h = d->head, init = d->hdr.init_pos;

	if (!d->consistent) {
		dump_problem(d, true, "positions-ordered",
			     "the consumer claim moved during every one of %d reads: ordering not checked",
			     SNAP_TRIES);
		return;
	}
	if (h - t > cap) {
		if (t - h <= cap)
			dump_problem(d, false, "positions-ordered",
				     "the consumer claim %llu is ahead of the producer claim %llu",
				     (unsigned long long)t, (unsigned long long)h);
		else
			dump_problem(d, false, "fill-capacity",
				     "producer claim %llu and consumer claim %llu are %llu apart; the capacity is %llu",
				     (unsigned long long)h, (unsigned long long)t, (unsigned long long)(h - t),
				     (unsigned long long)cap);
		return;
	}
	if (d->prod.cached - init > t - init)
		dump_problem(d, false, "cached-positions",
			     "the producers' cached consumer position %llu is ahead of the consumer claim %llu",
			     (unsigned long long)d->prod.cached, (unsigned long long)t);
	if (d->prod.st.high_water > cap)
		dump_problem(d, false, "high-water", "high-water mark %llu exceeds the capacity %llu",
			     (unsigned long long)d->prod.st.high_water, (unsigned long long)cap);
	check_claims(d);
	check_modes(d);
	if (d->n_failed == 0)
		check_slots(d);
}

static void read_slot(const struct dump_ring *d, uint64_t pos, unsigned char *buf, struct dump_msg *m)
{
	dump_slot_read(d, pos, SHMRING_MPMC_SEQ(pos, SHMRING_MPMC_PUB), buf, m);
	uint64_t t = shmring_atomic_load(&d->r.ctrl->cons.claim, SHMRING_ACQUIRE);

	m->consumed = pos - d->hdr.init_pos < t - d->hdr.init_pos;
}

static int64_t mpmc_messages(struct dump_ring *d, bool tail, uint64_t n, dump_msg_fn fn, void *arg)
{
	uint64_t cap = d->r.capacity, first, end, done = 0;
	unsigned char *buf = malloc(d->r.slot_size);

	if (!buf)
		return -ENOMEM;
	if (!d->consistent || d->fill > cap) {
		free(buf);
		return 0;
	}
	if (tail) {
		uint64_t written = d->head - d->hdr.init_pos, count = n < cap ? n : cap;

		if (count > written)
			count = written;
		first = d->head - count;
		end = d->head;
	} else {
		first = d->tail;
		end = d->avail_end; /* consumers stop at the first slot in flight */
	}
	for (uint64_t p = first; p != end && done < n; p++) {
		uint64_t s = seq_at(d, p);
		struct dump_msg m;

		if (s != SHMRING_MPMC_SEQ(p, SHMRING_MPMC_PUB))
			continue; /* skipped, cancelled, in flight or reused */
		read_slot(d, p, buf, &m);
		int ret = fn(d, &m, arg);

		if (ret < 0) {
			free(buf);
			return ret;
		}
		done++;
	}
	free(buf);
	return (int64_t)done;
}

static void mpmc_text(FILE *f, const struct dump_ring *d)
{
	fprintf(f, "  readable run from the consumer claim: %llu message%s, %llu skipped or cancelled slot%s; "
		   "%llu position%s in flight (claimed, not published)\n",
		(unsigned long long)d->kind_priv[PRIV_READY], d->kind_priv[PRIV_READY] == 1 ? "" : "s",
		(unsigned long long)d->kind_priv[PRIV_PASSED], d->kind_priv[PRIV_PASSED] == 1 ? "" : "s",
		(unsigned long long)d->kind_priv[PRIV_IN_FLIGHT],
		d->kind_priv[PRIV_IN_FLIGHT] == 1 ? "" : "s");
	fprintf(f, "  claim mode:");
	for (int side = 0; side < 2; side++) {
		uint32_t w = (uint32_t)d->kind_priv[PRIV_MODE_P + side];

		fprintf(f, "%s %s %s", side ? "," : "", side ? "consumers" : "producers", mode_state(w));
		if (w)
			fprintf(f, " entry %u", w >> 2);
	}
	fprintf(f, "; granted %llu/%llu, taken back %llu/%llu times (producers/consumers)\n",
		(unsigned long long)(d->kind_priv[PRIV_GRANTS] >> 32),
		(unsigned long long)(d->kind_priv[PRIV_GRANTS] & UINT32_MAX),
		(unsigned long long)(d->kind_priv[PRIV_REVOKES] >> 32),
		(unsigned long long)(d->kind_priv[PRIV_REVOKES] & UINT32_MAX));
}

static void mpmc_json(FILE *f, const struct dump_ring *d)
{
	fprintf(f, ",\n \"mpmc\": {\"ready\": %llu, \"passed\": %llu, \"in_flight\": %llu, \"readable_end\": %llu, "
		   "\"claim_mode\": {\"producers\": %llu, \"consumers\": %llu, \"grants\": [%llu, %llu], "
		   "\"revokes\": [%llu, %llu]}}",
		(unsigned long long)d->kind_priv[PRIV_READY], (unsigned long long)d->kind_priv[PRIV_PASSED],
		(unsigned long long)d->kind_priv[PRIV_IN_FLIGHT], (unsigned long long)d->avail_end,
		(unsigned long long)d->kind_priv[PRIV_MODE_P], (unsigned long long)d->kind_priv[PRIV_MODE_C],
		(unsigned long long)(d->kind_priv[PRIV_GRANTS] >> 32),
		(unsigned long long)(d->kind_priv[PRIV_GRANTS] & UINT32_MAX),
		(unsigned long long)(d->kind_priv[PRIV_REVOKES] >> 32),
		(unsigned long long)(d->kind_priv[PRIV_REVOKES] & UINT32_MAX));
}

const struct dump_kind dump_kind_mpmc = {
	.type = SHMRING_MPMC,
	.name = "mpmc",
	.unit = "slots",
	.invariants = "header-immutable, endpoint-table, dead-endpoint-claim, positions-ordered, "
		      "fill-capacity, cached-positions, high-water, claim-range, slot-sequence, "
		      "in-flight-owner, claim-mode",
	.snapshot = mpmc_snapshot,
	.check = mpmc_check,
	.holds_claim = mpmc_holds_claim,
	.messages = mpmc_messages,
	.print_text = mpmc_text,
	.print_json = mpmc_json,
};
