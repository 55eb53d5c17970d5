/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: message rings (include/shmring/msg.h), SPSC and MPSC.
 *
 * The data area is a byte ring of records: an 8-byte header word (length,
 * type DATA or PAD, and a tag taken from the record's position) and the
 * payload padded to 8 bytes. The consumer has released everything below
 * cons.pos; the producers have claimed (MPSC: prod.claim) or published
 * (SPSC: prod.pos) everything below the head. Between the two lies the
 * record chain, which --check walks: every header must carry its
 * position's tag, a known type, a length within the largest record, and
 * end inside the ring and at or before the head. On an MPSC ring a header
 * still 0 is a record claimed and not committed, whose producer announces
 * it in its endpoint entry (claim_pos, odd while unconfirmed, to
 * claim_end); the consumer delivers in order and waits there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

#define SNAP_TRIES 256
#define WALK_MAX (1u << 24) /* records --check walks at most */

enum { PRIV_MSGS, PRIV_BYTES, PRIV_PADS, PRIV_UNCOMMITTED, PRIV_WALKED_TO, PRIV_BAD_AT, PRIV_END_HDR };

struct rec {
	uint64_t pos, size; /* the header's position; bytes to the next record */
	uint32_t len, type; /* type 0: uncommitted (MPSC header still 0) */
};

static bool mpsc(const struct dump_ring *d)
{
	return d->type == SHMRING_MSG_MPSC;
}

static uint64_t rec_max(const struct dump_ring *d)
{
	return SHMRING_MSG_HDR + (((uint64_t)d->r.slot_size + 7u) & ~7ull);
}

static uint64_t hdr_at(const struct dump_ring *d, uint64_t pos)
{
	/* Acquire: pairs with the producer's release store of the header
	 * (M2, MPSC) so that the payload read after it is the committed one. */
	return shmring_atomic_load(shmring_msg__hdr(&d->r, pos), SHMRING_ACQUIRE);
}

static void pos_pair(const struct dump_ring *d, uint64_t *t, uint64_t *h)
{
	/* Acquire: pairs with the release store of cons.pos (C2), and with
	 * the producer's release store of prod.pos (P2) or its CAS of
	 * prod.claim (M1). */
	*t = shmring_atomic_load(&d->r.ctrl->cons.pos, SHMRING_ACQUIRE);
	*h = shmring_atomic_load(mpsc(d) ? &d->r.ctrl->prod.claim : &d->r.ctrl->prod.pos,
				 SHMRING_ACQUIRE);
}

/* The producer entry announcing a claim that starts at `pos` (fresh
 * read); its end in *end. */
static bool claim_at(const struct dump_ring *d, uint64_t pos, uint64_t *end)
{
	const struct shmring_endpoint *eps =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)d->r.map +
								 SHMRING_EP_OFF);

	for (uint32_t i = 0; i < d->r.ep_count; i++) {
		uint64_t cp = shmring_atomic_load(&eps[i].claim_pos, SHMRING_RELAXED);
		uint64_t ce = shmring_atomic_load(&eps[i].claim_end, SHMRING_RELAXED);

		if (cp == SHMRING_NO_CLAIM ||
		    shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) != SHMRING_PRODUCER)
			continue;
		/* the claim [c, ce) may open with a padding record the
		 * producer has already committed */
		if (pos - (cp & ~1ull) < ce - (cp & ~1ull)) {
			*end = ce;
			return true;
		}
	}
	return false;
}

/*
 * Decode the record at `pos` (below `head`). Returns 0, or -EPROTO with
 * why filled in.
 */
static int rec_read(const struct dump_ring *d, uint64_t pos, uint64_t head, struct rec *r,
		    char *why, size_t why_len)
{
	uint64_t w = hdr_at(d, pos), cap = d->r.capacity;

	memset(r, 0, sizeof(*r));
	r->pos = pos;
	if (w == 0 && mpsc(d)) {
		uint64_t end;

		if (!claim_at(d, pos, &end) || end - pos > head - pos || end == pos) {
			snprintf(why, why_len,
				 "the record at %llu is not committed and no producer announces it",
				 (unsigned long long)pos);
			return -EPROTO;
		}
		r->size = end - pos;
		return 0;
	}
	r->len = (uint32_t)w;
	r->type = (uint32_t)(w >> 32) & 0xffu;
	r->size = shmring_msg__rec_size(r->len);
	if ((w >> 40) != ((pos >> 3) & SHMRING_MSG_TAG_MASK))
		snprintf(why, why_len, "the header at %llu (0x%016llx) carries the tag of another position",
			 (unsigned long long)pos, (unsigned long long)w);
	else if (r->type != SHMRING_MSG_T_DATA && r->type != SHMRING_MSG_T_PAD)
		snprintf(why, why_len, "the header at %llu has type %u", (unsigned long long)pos, r->type);
	else if (r->type == SHMRING_MSG_T_DATA && r->len > d->r.slot_size)
		snprintf(why, why_len, "the message at %llu is %u bytes, larger than the largest %u",
			 (unsigned long long)pos, r->len, d->r.slot_size);
	else if (r->size > rec_max(d) && r->type == SHMRING_MSG_T_DATA)
		snprintf(why, why_len, "the record at %llu is %llu bytes", (unsigned long long)pos,
			 (unsigned long long)r->size);
	else if ((pos & d->r.mask) + r->size > cap)
		snprintf(why, why_len, "the record at %llu (%llu bytes) crosses the end of the ring",
			 (unsigned long long)pos, (unsigned long long)r->size);
	else if (r->size > head - pos)
		snprintf(why, why_len, "the record at %llu (%llu bytes) ends past the head %llu",
			 (unsigned long long)pos, (unsigned long long)r->size, (unsigned long long)head);
	else
		return 0;
	return -EPROTO;
}

/* Walk the chain from the tail; stops at the head, at a corrupt header,
 * or (consumer's view) at the first uncommitted record when `readable`. */
static void walk(struct dump_ring *d)
{
	uint64_t t = d->tail, h = d->head, p = t, n = 0;
	char why[160];
	bool readable = true;

	d->avail_end = t;
	while (p != h && n++ < WALK_MAX) {
		struct rec r;

		if (rec_read(d, p, h, &r, why, sizeof(why)) < 0) {
			d->kind_priv[PRIV_BAD_AT] = p;
			break;
		}
		if (r.type == 0) {
			d->kind_priv[PRIV_UNCOMMITTED]++;
			readable = false;
		} else if (r.type == SHMRING_MSG_T_PAD) {
			d->kind_priv[PRIV_PADS]++;
		} else {
			d->kind_priv[PRIV_MSGS]++;
			d->kind_priv[PRIV_BYTES] += r.len;
		}
		p += r.size;
		if (readable)
			d->avail_end = p;
	}
	d->kind_priv[PRIV_WALKED_TO] = p;
	d->kind_priv[PRIV_END_HDR] = p != h ? hdr_at(d, p) : 0;
}

uint64_t dump_msg_records(const struct dump_ring *d)
{
	return d->kind_priv[PRIV_MSGS] + d->kind_priv[PRIV_UNCOMMITTED];
}

static void msg_snapshot(struct dump_ring *d)
{
	uint64_t t = 0, h = 0, t2, h2;
	bool consistent = false, stable = false;

	for (int i = 0; i < SNAP_TRIES && !stable; i++) {
		uint64_t a, b;

		pos_pair(d, &a, &b);
		pos_pair(d, &t2, &h2);
		if (a == t2 || !consistent) {
			consistent = a == t2;
			t = a;
			h = b;
		}
		stable = a == t2 && b == h2;
	}
	d->consistent = consistent;
	d->stable = stable;
	d->tail = t;
	d->head = h;
	d->fill = h - t;
	d->avail_end = t;
	memset(d->kind_priv, 0, sizeof(d->kind_priv));
	d->kind_priv[PRIV_BAD_AT] = SHMRING_NO_CLAIM;
	if (consistent && d->fill <= d->r.capacity && !((t | h) & 7u))
		walk(d);
}

static bool ring_moved(const struct dump_ring *d)
{
	uint64_t t, h;

	pos_pair(d, &t, &h);
	return t != d->tail || h != d->head;
}

static void msg_check(struct dump_ring *d)
{
	uint64_t cap = d->r.capacity, t = d->tail, h = d->head, init = d->hdr.init_pos & ~7ull;

	if (!d->consistent) {
		dump_problem(d, true, "positions-ordered",
			     "the consumer position moved during every one of %d reads: not checked",
			     SNAP_TRIES);
		return;
	}
	if ((t | h) & 7u) {
		dump_problem(d, false, "positions-aligned",
			     "head %llu and tail %llu must be multiples of 8", (unsigned long long)h,
			     (unsigned long long)t);
		return;
	}
	if (h - t > cap) {
		if (t - h <= cap)
			dump_problem(d, false, "positions-ordered", "the tail %llu is ahead of the head %llu",
				     (unsigned long long)t, (unsigned long long)h);
		else
			dump_problem(d, false, "fill-capacity",
				     "head %llu and tail %llu are %llu bytes apart; the capacity is %llu",
				     (unsigned long long)h, (unsigned long long)t, (unsigned long long)(h - t),
				     (unsigned long long)cap);
		return;
	}
	if (mpsc(d)) {
		/* cons.claim is stored before cons.pos, and never past the head */
		uint64_t z = shmring_atomic_load(&d->r.ctrl->cons.claim, SHMRING_RELAXED);

		if (z - init < t - init || (z - init > h - init && !ring_moved(d)))
			dump_problem(d, false, "positions-ordered",
				     "the consumer's release mark %llu is outside tail %llu .. head %llu",
				     (unsigned long long)z, (unsigned long long)t, (unsigned long long)h);
	}
	if (d->prod.st.high_water > cap)
		dump_problem(d, false, "high-water", "high-water mark %llu exceeds the capacity %llu",
			     (unsigned long long)d->prod.st.high_water, (unsigned long long)cap);
	if (d->kind_priv[PRIV_BAD_AT] != SHMRING_NO_CLAIM) {
		uint64_t p = d->kind_priv[PRIV_BAD_AT];
		char why[160];
		struct rec r;

		/* Recheck: a consumer releasing (MPSC: zeroing) or a producer
		 * committing under us changes the chain, not breaks it. */
		if (rec_read(d, p, h, &r, why, sizeof(why)) < 0 && !ring_moved(d) &&
		    hdr_at(d, p) == d->kind_priv[PRIV_END_HDR])
			dump_problem(d, false, "record-chain", "%s", why);
	} else if (d->kind_priv[PRIV_WALKED_TO] != h) {
		dump_problem(d, true, "record-chain", "walked the first %u records only", WALK_MAX);
	}
	if (mpsc(d) && d->stable && d->n_failed == 0) {
		/* The consumer zeroes what it releases: free space reads 0
		 * (what producers claim after our snapshot may not). */
		for (uint64_t p = h; p != t + cap; p += 8) {
			uint64_t w = shmring_atomic_load(shmring_msg__hdr(&d->r, p), SHMRING_RELAXED);

			if (w != 0 && !ring_moved(d)) {
				dump_problem(d, false, "free-space-zero",
					     "free byte range at %llu holds 0x%016llx", (unsigned long long)p,
					     (unsigned long long)w);
				break;
			}
			if (w != 0)
				break;
		}
	}
}

static int64_t msg_messages(struct dump_ring *d, bool tail, uint64_t n, dump_msg_fn fn, void *arg)
{
	uint64_t p = d->tail, end = d->avail_end, done = 0, total = 0;
	unsigned char *buf = malloc(d->r.slot_size ? d->r.slot_size : 1);
	char why[160];

	if (!buf)
		return -ENOMEM;
	if (!d->consistent || d->fill > d->r.capacity) {
		free(buf);
		return 0;
	}
	/* Records can only be found from the tail on: --tail gives the last
	 * n of the unconsumed messages, after counting them. */
	for (uint64_t q = p; tail && q != end;) {
		struct rec r;

		if (rec_read(d, q, d->head, &r, why, sizeof(why)) < 0 || r.type == 0)
			break;
		total += r.type == SHMRING_MSG_T_DATA;
		q += r.size;
	}
	uint64_t skip = tail && total > n ? total - n : 0, seen = 0;

	while (p != end && done < n) {
		struct rec r;

		if (rec_read(d, p, d->head, &r, why, sizeof(why)) < 0 || r.type == 0)
			break;
		if (r.type == SHMRING_MSG_T_DATA && seen++ >= skip) {
			struct dump_msg m;
			uint64_t w = hdr_at(d, p);

			memset(&m, 0, sizeof(m));
			m.pos = p;
			m.len = r.len;
			m.rec_type = r.type;
			m.data = buf;
			dump_copy(buf, (const unsigned char *)shmring_msg__hdr(&d->r, p) + SHMRING_MSG_HDR, r.len);
			/* Acquire: orders the payload loads before the re-reads;
			 * a released record is zeroed (MPSC) or rewritten. */
			dump_acquire_fence();
			uint64_t t2 = shmring_atomic_load(&d->r.ctrl->cons.pos, SHMRING_ACQUIRE);

			m.consumed = p - d->tail < t2 - d->tail;
			m.torn = shmring_atomic_load(shmring_msg__hdr(&d->r, p), SHMRING_RELAXED) != w;
			int ret = fn(d, &m, arg);

			if (ret < 0) {
				free(buf);
				return ret;
			}
			done++;
		}
		p += r.size;
	}
	free(buf);
	return (int64_t)done;
}

static void msg_text(FILE *f, const struct dump_ring *d)
{
	fprintf(f, "  records from the tail: %llu message%s (%llu payload bytes), %llu padding, "
		   "%llu uncommitted; readable up to %llu\n",
		(unsigned long long)d->kind_priv[PRIV_MSGS], d->kind_priv[PRIV_MSGS] == 1 ? "" : "s",
		(unsigned long long)d->kind_priv[PRIV_BYTES], (unsigned long long)d->kind_priv[PRIV_PADS],
		(unsigned long long)d->kind_priv[PRIV_UNCOMMITTED], (unsigned long long)d->avail_end);
}

static void msg_json(FILE *f, const struct dump_ring *d)
{
	fprintf(f,
		",\n \"records\": {\"messages\": %llu, \"payload_bytes\": %llu, \"padding\": %llu"
		", \"uncommitted\": %llu, \"readable_end\": %llu, \"largest_message\": %u}",
		(unsigned long long)d->kind_priv[PRIV_MSGS], (unsigned long long)d->kind_priv[PRIV_BYTES],
		(unsigned long long)d->kind_priv[PRIV_PADS],
		(unsigned long long)d->kind_priv[PRIV_UNCOMMITTED], (unsigned long long)d->avail_end,
		d->r.slot_size);
}

#define MSG_INVARIANTS                                                                             \
	"header-immutable, endpoint-table, dead-endpoint-claim, positions-aligned, "               \
	"positions-ordered, fill-capacity, high-water, record-chain"

const struct dump_kind dump_kind_msg_spsc = {
	.type = SHMRING_MSG_SPSC,
	.name = "msg-spsc",
	.unit = "bytes",
	.invariants = MSG_INVARIANTS,
	.snapshot = msg_snapshot,
	.check = msg_check,
	.messages = msg_messages,
	.print_text = msg_text,
	.print_json = msg_json,
};

const struct dump_kind dump_kind_msg_mpsc = {
	.type = SHMRING_MSG_MPSC,
	.name = "msg-mpsc",
	.unit = "bytes",
	.invariants = MSG_INVARIANTS ", free-space-zero",
	.snapshot = msg_snapshot,
	.check = msg_check,
	.messages = msg_messages,
	.print_text = msg_text,
	.print_json = msg_json,
};
