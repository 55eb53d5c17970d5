/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: the SPSC slot ring (include/shmring/spsc.h).
 *
 * Each slot is an 8-byte sequence word, then the payload. The slot of
 * position p holds p + 1 once p is published, and q + 1 for the last
 * position q written to it before that (the creator seeds p + 1 - capacity,
 * as if the lap before had been written and consumed). The consumer may
 * run ahead of the published head by the slots whose sequence word the
 * producer stored before its head store, so the readable end is the head
 * extended over published slots.
 *
 * On a live ring the positions move while we read: a (head, tail) pair is
 * used only when the tail read before and after the head agree, and a
 * sequence word that differs from the snapshot's expectation is an error
 * only if it is not a later lap of the same slot or the ring stood still.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

#define SLOT_CHECK_MAX (1ull << 24) /* slots whose sequence words --check reads */
#define SNAP_TRIES 256

static uint64_t seq_at(const struct dump_ring *d, uint64_t pos)
{
	/* Acquire: pairs with the producer's release store of seq (P2 in
	 * spsc.h), so a payload read after it is the published one. */
	return shmring_atomic_load(shmring__slot_seq(&d->r, pos), SHMRING_ACQUIRE);
}

static void pos_pair(const struct dump_ring *d, uint64_t *t, uint64_t *h)
{
	/* Acquire: pairs with the release stores of tail (C2) and head (P3). */
	*t = shmring_atomic_load(&d->r.ctrl->cons.pos, SHMRING_ACQUIRE);
	*h = shmring_atomic_load(&d->r.ctrl->prod.pos, SHMRING_ACQUIRE);
}

static void spsc_snapshot(struct dump_ring *d)
{
	const struct shmring_ctrl *c = d->r.ctrl;
	uint64_t cap = d->r.capacity, t1 = 0, t2 = 0, h = 0, h2 = 0, pc = 0, cc = 0;
	bool consistent = false, stable = false;

	for (int i = 0; i < SNAP_TRIES && !stable; i++) {
		/* Caches first: each only ever trails the position read after it. */
		uint64_t pc_i = shmring_atomic_load(&c->prod.cached, SHMRING_RELAXED);
		uint64_t cc_i = shmring_atomic_load(&c->cons.cached, SHMRING_RELAXED);
		uint64_t a, b;

		pos_pair(d, &a, &b);
		pos_pair(d, &t2, &h2);
		if (a == t2 || !consistent) {
			/* tail unchanged around the head read: (a, b) existed together */
			consistent = a == t2;
			t1 = a;
			h = b;
			pc = pc_i;
			cc = cc_i;
		}
		stable = a == t2 && b == h2;
	}
	d->consistent = consistent;
	d->stable = stable;
	d->tail = t1;
	d->head = h;
	d->prod.cached = pc;
	d->cons.cached = cc;
	d->prod.pos = h;
	d->cons.pos = t1;

	uint64_t e = h;

	if (h - t1 > cap && t1 - h <= cap)
		e = t1; /* the consumer took slots published before the head store */
	if (e - t1 <= cap) {
		uint64_t s = 0;

		while (e - t1 < cap && (s = seq_at(d, e)) == e + 1)
			e++;
		d->kind_priv[0] = s; /* what stopped the scan, for ring_moved */
		d->avail_end = e;
		d->fill = e - t1;
	} else {
		d->avail_end = h;
		d->fill = h - t1;
	}
}

static bool ring_moved(const struct dump_ring *d)
{
	uint64_t t, h;

	pos_pair(d, &t, &h);
	/* A producer between its sequence store and its head store has
	 * moved the slot at the readable end, not the head. */
	return t != d->tail || h != d->head ||
	       (d->avail_end - d->tail < d->r.capacity && seq_at(d, d->avail_end) != d->kind_priv[0]);
}

static void check_slots(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, mask = d->r.mask, t = d->tail;
	uint64_t n = cap < SLOT_CHECK_MAX ? cap : SLOT_CHECK_MAX;

	for (uint64_t k = 0; k < n; k++) {
		uint64_t p = t + k;
		uint64_t want = p - d->tail < d->avail_end - d->tail ? p + 1 : p + 1 - cap;
		uint64_t s = seq_at(d, p);

		if (s == want)
			continue;
		if (((s - 1 - p) & mask) != 0) {
			dump_problem(d, false, "slot-sequence",
				     "slot %llu holds sequence %llu, which is no position of that slot",
				     (unsigned long long)(p & mask), (unsigned long long)s);
			return;
		}
		/* A later lap of the same slot is what a moving ring shows. */
		if ((int64_t)(s - want) > 0 && ring_moved(d))
			continue;
		dump_problem(d, false, "slot-sequence",
			     "slot %llu (position %llu) holds sequence %llu, expected %llu (%s)",
			     (unsigned long long)(p & mask), (unsigned long long)p, (unsigned long long)s,
			     (unsigned long long)want,
			     want == p + 1 ? "published, unconsumed" : "free, last written a lap ago");
		return;
	}
	if (n < cap)
		dump_problem(d, true, "slot-sequence", "checked the first %llu of %llu slots",
			     (unsigned long long)n, (unsigned long long)cap);
}

static void spsc_check(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, t = d->tail, h = d->head, init = d->hdr.init_pos;

	if (!d->consistent) {
		dump_problem(d, true, "positions-ordered",
			     "the tail moved during every one of %d reads: ordering not checked", SNAP_TRIES);
		return;
	}
	if (h - t > cap) {
		if (t - h <= cap) {
			/* The consumer is ahead of the head only over slots the
			 * producer had published (sequence stored, head not yet). */
			for (uint64_t p = h; p != t; p++) {
				uint64_t s = seq_at(d, p);

				if (s != p + 1 && !((int64_t)(s - (p + 1)) > 0 && ring_moved(d))) {
					dump_problem(d, false, "positions-ordered",
						     "tail %llu is ahead of head %llu, and position %llu was never published (sequence %llu)",
						     (unsigned long long)t, (unsigned long long)h,
						     (unsigned long long)p, (unsigned long long)s);
					return;
				}
			}
		} else {
			dump_problem(d, false, "fill-capacity",
				     "head %llu and tail %llu are %llu slots apart; the capacity is %llu",
				     (unsigned long long)h, (unsigned long long)t,
				     (unsigned long long)(h - t), (unsigned long long)cap);
			return;
		}
	}
	if (d->fill > cap)
		dump_problem(d, false, "fill-capacity", "fill %llu exceeds the capacity %llu",
			     (unsigned long long)d->fill, (unsigned long long)cap);
	/* Positions only grow from init_pos; a cache trails what it caches. */
	if (d->prod.cached - init > t - init)
		dump_problem(d, false, "cached-positions",
			     "the producer's cached tail %llu is ahead of the tail %llu",
			     (unsigned long long)d->prod.cached, (unsigned long long)t);
	if (d->cons.cached - init > d->avail_end - init)
		dump_problem(d, false, "cached-positions",
			     "the consumer's cached head %llu is ahead of the published end %llu",
			     (unsigned long long)d->cons.cached, (unsigned long long)d->avail_end);
	if (d->prod.st.high_water > cap)
		dump_problem(d, false, "high-water", "high-water mark %llu exceeds the capacity %llu",
			     (unsigned long long)d->prod.st.high_water, (unsigned long long)cap);
	if (d->n_failed == 0)
		check_slots(d);
}

/* Copy the payload of `pos` if the slot holds it; torn if it changed. */
static void read_slot(const struct dump_ring *d, uint64_t pos, unsigned char *buf, struct dump_msg *m)
{
	dump_slot_read(d, pos, pos + 1, buf, m);
	uint64_t t = shmring_atomic_load(&d->r.ctrl->cons.pos, SHMRING_ACQUIRE);
	m->consumed = pos - d->hdr.init_pos < t - d->hdr.init_pos;
}

static int64_t spsc_messages(struct dump_ring *d, bool tail, uint64_t n, dump_msg_fn fn, void *arg)
{
	uint64_t cap = d->r.capacity, first, end = d->avail_end, count;

	if (!d->consistent || d->fill > cap)
		return 0; /* no position to start from can be trusted */
	if (tail) {
		/* Never before the first position, never more than one lap. */
		uint64_t written = end - d->hdr.init_pos;

		count = n < cap ? n : cap;
		if (count > written)
			count = written;
		first = end - count;
	} else {
		first = d->tail;
		count = d->fill < n ? d->fill : n;
	}
	return dump_slot_each(d, first, count, read_slot, fn, arg);
}

const struct dump_kind dump_kind_spsc = {
	.type = SHMRING_SPSC,
	.name = "spsc",
	.unit = "slots",
	.invariants = "header-immutable, endpoint-table, dead-endpoint-claim, positions-ordered, "
		      "fill-capacity, cached-positions, high-water, slot-sequence",
	.snapshot = spsc_snapshot,
	.check = spsc_check,
	.messages = spsc_messages,
};
