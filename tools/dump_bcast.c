/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: the broadcast ring (include/shmring/broadcast.h).
 *
 * Each slot is an 8-byte sequence word, then the payload: 2p + 1 while
 * the producer writes position p, 2p + 2 once it holds p (the creator
 * seeds 2(p - capacity) + 1, a lap "being written" before init_pos). The
 * readers are the consumer entries of the endpoint table; each keeps its
 * next position in claim_pos, its evictions (counted by the producer) in
 * claim_end and those it acknowledged in taken, its loss in ops (layout.h).
 * The tail is the slowest member's position, the fill what it has left.
 */
#include <inttypes.h>

#include "dump.h"

#define SLOT_CHECK_MAX (1ull << 24) /* slots whose sequence words --check reads */

enum { PRIV_LIMIT, PRIV_SCANS, PRIV_EVICT_NS, PRIV_EVICTIONS, PRIV_MEMBERS, PRIV_HEAD2 };

static const struct shmring_bcast_block *block(const struct dump_ring *d)
{
	return (const struct shmring_bcast_block *)(const void *)d->r.ctrl->kind_blocks;
}

static const struct shmring_bcast_evict *evict_block(const struct dump_ring *d)
{
	return (const struct shmring_bcast_evict *)(const void *)(d->r.ctrl->kind_blocks + SHMRING_BLOCK);
}

static uint64_t seq_at(const struct dump_ring *d, uint64_t pos)
{
	/* Acquire: pairs with the producer's release store of seq (P4). */
	return shmring_atomic_load(shmring__slot_seq(&d->r, pos), SHMRING_ACQUIRE);
}

/* A reader in the gating set: ACTIVE consumer, eviction acknowledged, joined. */
static bool is_member(const struct dump_ep *e)
{
	return e->state == SHMRING_EP_ACTIVE && e->role == SHMRING_CONSUMER &&
	       e->claim_pos != SHMRING_NO_CLAIM && e->taken == e->claim_end;
}

static void bcast_snapshot(struct dump_ring *d)
{
	const struct shmring_bcast_block *b = block(d);
	uint64_t head = shmring_atomic_load(&d->r.ctrl->prod.pos, SHMRING_ACQUIRE), tail = head;
	uint64_t members = 0;

	/* The endpoint table was read before the head: a member's position
	 * was at most the head then, so it is at most this one. */
	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (!is_member(e))
			continue;
		if (!members++ || (int64_t)(e->claim_pos - tail) < 0)
			tail = e->claim_pos;
	}
	d->head = head;
	d->tail = tail;
	d->prod.pos = head;
	d->cons.pos = tail;
	d->avail_end = head;
	d->fill = head - tail;
	d->consistent = true;
	d->kind_priv[PRIV_LIMIT] = shmring_atomic_load(&b->limit, SHMRING_RELAXED);
	d->kind_priv[PRIV_SCANS] = shmring_atomic_load(&b->scans, SHMRING_RELAXED);
	d->kind_priv[PRIV_EVICT_NS] = shmring_atomic_load(&b->evict_ns, SHMRING_RELAXED);
	d->kind_priv[PRIV_EVICTIONS] = shmring_atomic_load(&evict_block(d)->evictions, SHMRING_RELAXED);
	d->kind_priv[PRIV_MEMBERS] = members;
	d->kind_priv[PRIV_HEAD2] = shmring_atomic_load(&d->r.ctrl->prod.pos, SHMRING_ACQUIRE);
	d->stable = d->kind_priv[PRIV_HEAD2] == head;
}

/* Dead readers hold nothing: the messages stay for the others. */
static bool bcast_holds_claim(const struct dump_ring *d, const struct dump_ep *e)
{
	(void)d;
	(void)e;
	return false;
}

static bool lossy(const struct dump_ring *d)
{
	return (d->hdr.flags & SHMRING_F_LOSSY) != 0;
}

static void check_slots(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, h = d->head, init = d->hdr.init_pos;
	uint64_t written = h - init < cap ? h - init : cap;
	uint64_t n = written < SLOT_CHECK_MAX ? written : SLOT_CHECK_MAX;

	/* The last `written` positions must hold their messages, unless the
	 * producer has moved on since (a later lap of the slot). */
	for (uint64_t k = 1; k <= n; k++) {
		uint64_t p = h - k, s = seq_at(d, p), want = 2 * p + 2;

		if (s == want)
			continue;
		if ((((s - 1) / 2 - p) & d->r.mask) != 0) {
			dump_problem(d, false, "slot-sequence",
				     "slot %llu holds sequence %llu, which is no position of that slot",
				     (unsigned long long)(p & d->r.mask), (unsigned long long)s);
			return;
		}
		if ((int64_t)(s - want) > 0 &&
		    shmring_atomic_load(&d->r.ctrl->prod.pos, SHMRING_ACQUIRE) != h)
			continue;
		dump_problem(d, false, "slot-sequence",
			     "slot %llu (position %llu, published) holds sequence %llu, expected %llu",
			     (unsigned long long)(p & d->r.mask), (unsigned long long)p,
			     (unsigned long long)s, (unsigned long long)want);
		return;
	}
}

static void bcast_check(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, h = d->head;
	bool moved = !d->stable;

	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (e->state != SHMRING_EP_ACTIVE || e->role != SHMRING_CONSUMER)
			continue;
		if (e->index < 2)
			dump_problem(d, false, "reader-entry", "reader in entry %u: readers use entries 2 on",
				     e->index);
		if ((int64_t)(e->claim_end - e->taken) < 0)
			dump_problem(d, false, "evictions-acknowledged",
				     "entry %u acknowledged %llu evictions of %llu counted", e->index,
				     (unsigned long long)e->taken, (unsigned long long)e->claim_end);
		if (e->claim_pos == SHMRING_NO_CLAIM)
			continue;
		if ((int64_t)(h - e->claim_pos) < 0)
			dump_problem(d, false, "reader-positions",
				     "entry %u reads at %llu, past the producer's %llu", e->index,
				     (unsigned long long)e->claim_pos, (unsigned long long)h);
		else if (!lossy(d) && is_member(e) && h - e->claim_pos > cap)
			/* A member that joined at the oldest message may
			 * trail until the producer's next scan sees it. */
			dump_problem(d, moved, "reader-positions",
				     "member entry %u reads at %llu, more than the capacity %llu behind the "
				     "producer's %llu", e->index, (unsigned long long)e->claim_pos,
				     (unsigned long long)cap, (unsigned long long)h);
	}
	if (!lossy(d) && d->kind_priv[PRIV_LIMIT] - h > cap && h - d->kind_priv[PRIV_LIMIT] > cap)
		dump_problem(d, false, "producer-limit",
			     "the producer's limit %llu is more than a lap from its position %llu",
			     (unsigned long long)d->kind_priv[PRIV_LIMIT], (unsigned long long)h);
	if (d->prod.st.high_water > cap)
		dump_problem(d, false, "high-water", "high-water mark %llu exceeds the capacity %llu",
			     (unsigned long long)d->prod.st.high_water, (unsigned long long)cap);
	if (d->n_failed == 0)
		check_slots(d);
}

/* Copy the payload of `pos` if the slot holds it; torn if it changed. */
static void read_slot(const struct dump_ring *d, uint64_t pos, unsigned char *buf, struct dump_msg *m)
{
	dump_slot_read(d, pos, 2 * pos + 2, buf, m);
	m->consumed = pos - d->hdr.init_pos < d->tail - d->hdr.init_pos;
}

static int64_t bcast_messages(struct dump_ring *d, bool tail, uint64_t n, dump_msg_fn fn, void *arg)
{
	uint64_t cap = d->r.capacity, end = d->head, first, count;
	uint64_t written = end - d->hdr.init_pos < cap ? end - d->hdr.init_pos : cap;

	if (tail) {
		count = n < written ? n : written;
		first = end - count;
	} else {
		/* From the slowest member, or the oldest retained message. */
		first = d->fill <= written ? d->tail : end - written;
		count = end - first < n ? end - first : n;
	}
	return dump_slot_each(d, first, count, read_slot, fn, arg);
}

static void bcast_text(FILE *f, const struct dump_ring *d)
{
	fprintf(f, "  broadcast: %s", lossy(d) ? "lossy (the producer never waits)" : "lossless");
	if (!lossy(d)) {
		if (d->kind_priv[PRIV_EVICT_NS])
			fprintf(f, ", eviction deadline %.3f ms", (double)d->kind_priv[PRIV_EVICT_NS] / 1e6);
		else
			fprintf(f, ", no eviction deadline");
		fprintf(f, ", producer limit %llu (%llu scans)", (unsigned long long)d->kind_priv[PRIV_LIMIT],
			(unsigned long long)d->kind_priv[PRIV_SCANS]);
	}
	fprintf(f, "; %llu reader%s evicted in all, %llu in the gating set\n",
		(unsigned long long)d->kind_priv[PRIV_EVICTIONS], d->kind_priv[PRIV_EVICTIONS] == 1 ? "" : "s",
		(unsigned long long)d->kind_priv[PRIV_MEMBERS]);
	fprintf(f, "  %-5s %-8s %-6s %-20s %-10s %-12s %s\n", "entry", "pid", "alive", "position", "lag",
		"lost", "evicted");
	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];
		char pos[24], lag[24];

		if (e->state != SHMRING_EP_ACTIVE || e->role != SHMRING_CONSUMER)
			continue;
		if (e->claim_pos == SHMRING_NO_CLAIM) {
			snprintf(pos, sizeof(pos), "-");
			snprintf(lag, sizeof(lag), "-");
		} else {
			snprintf(pos, sizeof(pos), "%" PRIu64, e->claim_pos);
			snprintf(lag, sizeof(lag), "%" PRIu64, d->head - e->claim_pos);
		}
		fprintf(f, "  %-5u %-8d %-6s %-20s %-10s %-12" PRIu64 " %" PRIu64 " time%s%s\n", e->index,
			(int)e->pid, e->alive ? "yes" : "NO", pos, lag, e->ops, e->claim_end,
			e->claim_end == 1 ? "" : "s", e->claim_end != e->taken ? ", out of the gating set now" : "");
	}
}

static void bcast_json(FILE *f, const struct dump_ring *d)
{
	fprintf(f, ",\n \"broadcast\": {\"policy\": \"%s\", \"evict_ns\": %" PRIu64 ", \"limit\": %" PRIu64
		   ", \"scans\": %" PRIu64 ", \"evictions\": %" PRIu64 ", \"members\": %" PRIu64 ", \"readers\": [",
		lossy(d) ? "lossy" : "lossless", d->kind_priv[PRIV_EVICT_NS], d->kind_priv[PRIV_LIMIT],
		d->kind_priv[PRIV_SCANS], d->kind_priv[PRIV_EVICTIONS], d->kind_priv[PRIV_MEMBERS]);
	int first = 1;

	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (e->state != SHMRING_EP_ACTIVE || e->role != SHMRING_CONSUMER)
			continue;
		fprintf(f, "%s\n  {\"entry\": %u, \"pid\": %d, \"alive\": %s, \"position\": ", first ? "" : ",",
			e->index, (int)e->pid, e->alive ? "true" : "false");
		if (e->claim_pos == SHMRING_NO_CLAIM)
			fputs("null, \"lag\": null", f);
		else
			fprintf(f, "%" PRIu64 ", \"lag\": %" PRIu64, e->claim_pos, d->head - e->claim_pos);
		fprintf(f, ", \"lost\": %" PRIu64 ", \"evictions\": %" PRIu64 ", \"evicted\": %s}", e->ops,
			e->claim_end, e->claim_end != e->taken ? "true" : "false");
		first = 0;
	}
	fputs("]}", f);
}

const struct dump_kind dump_kind_bcast = {
	.type = SHMRING_BROADCAST,
	.name = "broadcast",
	.unit = "slots",
	.invariants = "header-immutable, endpoint-table, reader-entry, evictions-acknowledged, "
		      "reader-positions, producer-limit, high-water, slot-sequence",
	.snapshot = bcast_snapshot,
	.check = bcast_check,
	.holds_claim = bcast_holds_claim,
	.messages = bcast_messages,
	.print_text = bcast_text,
	.print_json = bcast_json,
};
