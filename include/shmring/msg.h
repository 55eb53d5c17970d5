/* SPDX-License-Identifier: MIT */
/*
 * Variable-length message ring (SHMRING_MSG_SPSC, SHMRING_MSG_MPSC):
 * inline fast path.
 *
 * The data area is a byte ring of `capacity` bytes (a power of two) holding
 * records. A record is an 8-byte header word, then the payload, padded to a
 * multiple of 8 bytes, so every header is 8-byte aligned:
 *
 *   bits  0..31  length: payload bytes (message), or bytes after the header (padding)
 *   bits 32..39  type: SHMRING_MSG_T_DATA or SHMRING_MSG_T_PAD
 *   bits 40..63  tag: (position >> 3) & 0xffffff, a check against a header
 *                read at the wrong place
 *
 * A record never crosses the end of the ring: where it would, a padding
 * record fills the rest and the message starts at offset 0, so every
 * message is one contiguous span the caller reads and writes in place.
 * The largest record is 8 + round8(slot_size), and geometry requires
 * capacity >= 2 x that, so any reservation fits into an empty ring.
 *
 * Single producer (MSG_SPSC). A record is published by its header word,
 * as a slot ring's slot is by its sequence word, so the consumer never
 * reads the producer's position (one cache line less moving between the
 * cores per message). The header word at the producer's head always reads
 * 0: a record takes its own bytes plus the 8-byte word after it, which
 * the producer clears before publishing (P1), so a ring of C bytes holds
 * at most C - 8 bytes of records. P2 release store of the header word,
 * after the payload and P1 (after padding, the record's header is written
 * first and the padding's header published last); the consumer's C1
 * acquire load of the header pairs with P2: 0 means nothing yet, anything
 * else is a record, or corruption. P3 release store of prod.pos, for
 * observers and for a producer that takes over (attach follows published
 * headers past it). C2 release store of cons.pos after the consumer's last
 * read of a record; the producer's P0 acquire load of cons.pos pairs with
 * C2 before it reuses the space.
 *
 * Many producers (MSG_MPSC). A producer claims [c, c + need) with a CAS on
 * prod.claim and commits on its own, so records complete out of order; the
 * consumer delivers in claim order. A record is committed when its header
 * word is non-zero: M2 release store of the header pairs with the
 * consumer's M3 acquire load of it. The consumer zeroes every byte it
 * releases (M4, before C2), so a header position the producers have not
 * written yet reads 0, never stale bytes of an earlier lap.
 *
 * M5, why "claim - cons.pos > capacity" is corruption and not a race, in
 * C11 terms (x86 alone would not show the difference). Every value of
 * prod.claim was written by a CAS (M1, acq_rel; each later CAS continues
 * the release sequence of the earlier ones) of a producer that had read
 * cons.pos = t' before it (P0, or its cached copy, itself loaded by P0 or
 * at attach) and checked claim - t' <= capacity. A producer loads the
 * claim with acquire (the plain load, the CAS's failure order, the
 * re-read) and cons.pos after it: the claimer's read of t' then happens
 * before ours, so by read-read coherence ours reads t >= t' and
 * claim - t <= capacity. The one exception is t > claim: the consumer
 * released records claimed after the claim we read; then a fresh acquire
 * read of the claim differs, because the consumer stores t (C2) only
 * after an acquire of each record's header (M3) or of the claim
 * (recovery), both after the CAS that claimed it, so our acquire of
 * cons.pos = t makes that CAS happen before the re-read. Hence: a
 * difference over the capacity with the claim unchanged on a fresh read
 * is corruption. The consumer compares the claim (acquire) with its own
 * read position, which is at least every cons.pos value a producer can
 * have read (the consumer stored them all), and at most the claim (each
 * record it passed was claimed by a CAS that happens before its M3
 * acquire, or lies below a claim recovery acquired): no race there.
 *
 * Padding no message follows (aborted reservations, recovered records of
 * dead producers) must not keep space from the producers: peek frees
 * padding it passes while it holds nothing (no message peeked and not yet
 * released) at once, and wakes producers that sleep for room.
 *
 * Recovery of a producer that dies between reserve and commit needs no
 * timeout: before its CAS a producer records its intent (claim_end, then
 * claim_pos | 1) in its own endpoint entry, and confirms it (claim_pos) after
 * the CAS; commit and abort clear it. A record whose header stays 0 thus
 * always has its owner in the endpoint table, with its pid and start time.
 * shmring_recover() on the consumer's handle turns the records of dead
 * owners into padding; the consumer also runs it on its own when it sees
 * the same uncommitted record for a while (SHMRING_MSG_STALL_CHECK polls).
 * A producer that closes with a reservation open leaves it the same way
 * (its entry marked dead, src/msg.c): close writes nothing but through
 * the kernel, so it is safe on an object a peer shrank.
 *
 * Every header is checked before use (type, tag, length against the
 * largest record, against the end of the ring): a corrupt one gives
 * -EPROTO and a count in stats.corrupt, never an access outside the data
 * area. The SPSC consumer does not read the producer's position, so a
 * well-formed header with a wrong length delivers bytes of the ring,
 * never bytes outside it.
 *
 * M6, what the MPSC consumer checks against the claim. It reads the claim
 * only when a header reads 0, and then only at one such poll in
 * SHMRING_MSG_CLAIM_POLL: a consumer that reads the claim per record, or
 * per empty poll, takes the claim line from the producers once per
 * message, and their next CAS waits for it. So a data record is checked
 * against the claim at the consumer's next read of it, not before it is
 * delivered: a well-formed header with an overstated length delivers
 * bytes of the ring (as SPSC), and that read, within
 * SHMRING_MSG_CLAIM_POLL polls, finds the consumer's position past the
 * claim: -EPROTO, counted, and every producer's P0 finds the same. Padding,
 * skipped without being seen, is checked against a fresh read of the
 * claim before the consumer passes it.
 */
#ifndef SHMRING_MSG_H
#define SHMRING_MSG_H

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <shmring/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Declared with the blocking operations below; peek calls it. */
SHMRING_API int shmring_msg_wake(struct shmring *r);

#define SHMRING_MSG_HDR 8u       /* bytes of a record header */
#define SHMRING_MSG_T_DATA 1u    /* a message */
#define SHMRING_MSG_T_PAD 2u     /* padding: skipped by the consumer */
#define SHMRING_MSG_TAG_MASK 0xffffffull
#define SHMRING_MSG_CAP_MIN 64u  /* smallest message ring, bytes */
/* Consecutive polls of one uncommitted record before the consumer checks
 * whether its producer is dead. */
#define SHMRING_MSG_STALL_CHECK 1024u
/* MPSC consumer: polls of an empty header per read of the producers'
 * claim (a power of two dividing SHMRING_MSG_STALL_CHECK). */
#define SHMRING_MSG_CLAIM_POLL 16u

/*
 * A message ring handle's own state (process-local), laid over struct
 * shmring's ext[] (shmring_msg__hs): one named field per slot, so that no
 * two uses can share a slot by accident.
 */
struct shmring_msg__hstate {
	uint64_t res;   /* producer: header position of the open reservation, or SHMRING_NO_CLAIM */
	uint64_t rlen;  /* producer: its payload length */
	uint64_t cur;   /* consumer: next record to peek (r->pos: released up to) */
	uint64_t stall; /* consumer: claim reads that found the same record uncommitted */
	uint64_t rmax;  /* largest record, bytes */
	uint64_t rchk;  /* consumer: CLOCK_MONOTONIC ns of the last recovery check while waiting */
	uint64_t polls; /* MPSC consumer: polls of an empty header, all positions */
};
SHMRING_STATIC_ASSERT(sizeof(struct shmring_msg__hstate) <= sizeof(((struct shmring *)0)->ext),
		      "message ring handle state fits in struct shmring's ext");

/* The message ring state of handle r (an address inside *r: no load). */
static inline struct shmring_msg__hstate *shmring_msg__hs(struct shmring *r)
{
	return (struct shmring_msg__hstate *)(void *)r->ext;
}

/* The same, read-only, for a const handle. */
static inline const struct shmring_msg__hstate *shmring_msg__hs_const(const struct shmring *r)
{
	return (const struct shmring_msg__hstate *)(const void *)r->ext;
}

/* Bytes a record with `len` payload bytes takes. */
SHMRING_FORCE_INLINE uint64_t shmring_msg__rec_size(uint64_t len)
{
	return SHMRING_MSG_HDR + ((len + 7u) & ~(uint64_t)7u);
}

SHMRING_FORCE_INLINE uint64_t shmring_msg__word(uint32_t len, uint32_t type, uint64_t pos)
{
	return (uint64_t)len | ((uint64_t)type << 32) | (((pos >> 3) & SHMRING_MSG_TAG_MASK) << 40);
}

/* The header word of the record at position `pos`. */
SHMRING_FORCE_INLINE SHMRING_ATOMIC(uint64_t) *shmring_msg__hdr(const struct shmring *r, uint64_t pos)
{
	return (SHMRING_ATOMIC(uint64_t) *)(void *)(r->data + (size_t)(pos & r->mask));
}

/*
 * Bytes of the record whose header word `w` was read at `pos`, or 0 when
 * `w` is not a well-formed header for that position: the tag of another
 * position, no such type, longer than the largest message, or crossing
 * the end of the ring.
 */
SHMRING_FORCE_INLINE uint64_t shmring_msg__rec_of(const struct shmring *r, uint64_t pos, uint64_t w)
{
	uint32_t len = (uint32_t)w;
	uint32_t type = (uint32_t)(w >> 32) & 0xffu;
	uint64_t rec = shmring_msg__rec_size(len);

	if ((w >> 40) != ((pos >> 3) & SHMRING_MSG_TAG_MASK) || rec > shmring_msg__hs_const(r)->rmax ||
	    (pos & r->mask) + rec > r->capacity ||
	    (type == SHMRING_MSG_T_DATA ? len > r->slot_size : type != SHMRING_MSG_T_PAD))
		return 0;
	return rec;
}

/* Largest message the ring carries (payload bytes). */
SHMRING_FORCE_INLINE uint32_t shmring_msg_max(const struct shmring *r)
{
	return r->slot_size;
}

SHMRING_INLINE int shmring_msg__corrupt(struct shmring *r, struct shmring_stats *s)
{
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_atomic_fetch_add(&s->corrupt, 1, SHMRING_RELAXED);
	return -EPROTO;
}

SHMRING_FORCE_INLINE void shmring_msg__note_blocked(struct shmring *r, struct shmring_stats *s)
{
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_atomic_fetch_add(&s->blocked, 1, SHMRING_RELAXED);
}

/*
 * SPSC producer: refresh the cached consumer position if needed and tell
 * whether `need` bytes from `from` on are free. Returns 1 (free), 0 (full)
 * or -EPROTO.
 */
SHMRING_FORCE_INLINE int shmring_msg__room(struct shmring *r, uint64_t from, uint64_t need)
{
	if (shmring_likely(from + need - r->cached <= r->capacity && from - r->cached <= r->capacity))
		return 1;
	/* P0: pairs with the consumer's release store of cons.pos (C2): its
	 * reads (and MPSC zeroing) of the space happen before we reuse it. */
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);

	if (shmring_unlikely(from - t > r->capacity || (t & 7u)))
		return shmring_msg__corrupt(r, &r->ctrl->prod_stats);
	r->cached = t;
	if ((r->flags & SHMRING_F_COUNTERS) && from - t > r->hwm) {
		r->hwm = from - t;
		shmring_atomic_store(&r->ctrl->prod_stats.high_water, r->hwm, SHMRING_RELAXED);
	}
	if (from + need - t > r->capacity) {
		shmring_msg__note_blocked(r, &r->ctrl->prod_stats);
		return 0;
	}
	return 1;
}

/* Bytes of padding a record of `rec` bytes needs at `pos` to stay contiguous. */
SHMRING_FORCE_INLINE uint64_t shmring_msg__pad(const struct shmring *r, uint64_t pos, uint64_t rec)
{
	uint64_t off = pos & r->mask;

	return off + rec > r->capacity ? r->capacity - off : 0;
}

/*
 * MPSC producer, counters on: raise the shared high-water mark to `fill`
 * (bytes claimed and not yet released, as this producer saw them). Runs
 * only when the handle's own mark rises, so the CAS is off the fast path.
 */
SHMRING_INLINE void shmring_msg__high_water(struct shmring *r, uint64_t fill)
{
	SHMRING_ATOMIC(uint64_t) *hw = &r->ctrl->prod_stats.high_water;
	uint64_t cur = shmring_atomic_load(hw, SHMRING_RELAXED);

	while (cur < fill && !shmring_atomic_cas_weak(hw, &cur, fill, SHMRING_RELAXED, SHMRING_RELAXED))
		;
	r->hwm = cur > fill ? cur : fill;
}

/* MPSC reservation: claim with a CAS, intent recorded in our endpoint entry. */
SHMRING_FORCE_INLINE int shmring_msg__reserve_mp(struct shmring *r, uint32_t len, void **buf)
{
	struct shmring_endpoint *ep = r->ep;
	uint64_t rec = shmring_msg__rec_size(len);
	/* M5 (acquire): pairs with the CAS (M1) that wrote the claim, so the
	 * consumer position its producer checked happens before our P0. */
	uint64_t c = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);
	uint64_t pad;

	if (shmring_unlikely(!ep))
		return -EINVAL;
	for (;;) {
		if (shmring_unlikely(c & 7u)) {
			shmring_atomic_store(&ep->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
			return shmring_msg__corrupt(r, &r->ctrl->prod_stats);
		}
		pad = shmring_msg__pad(r, c, rec);
		if (c + pad + rec - r->cached > r->capacity || c - r->cached > r->capacity) {
			/* P0: pairs with the consumer's release store of cons.pos
			 * (C2): its reads and zeroing of the space happen first.
			 * After the M5 acquire of c: t >= what c's claimer saw. */
			uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);

			if (shmring_unlikely(c - t > r->capacity || (t & 7u))) {
				/* c may be a claim the consumer has passed since
				 * (M5): a fresh read then differs. Acquire: M5. */
				uint64_t c2 = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);

				if (c2 != c && !(t & 7u)) {
					c = c2;
					continue;
				}
				shmring_atomic_store(&ep->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
				return shmring_msg__corrupt(r, &r->ctrl->prod_stats);
			}
			r->cached = t;
			if ((r->flags & SHMRING_F_COUNTERS) && c - t > r->hwm)
				shmring_msg__high_water(r, c - t);
			if (c + pad + rec - t > r->capacity) {
				shmring_atomic_store(&ep->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
				shmring_msg__note_blocked(r, &r->ctrl->prod_stats);
				return -EAGAIN;
			}
		}
		/* Intent first (odd claim_pos: not confirmed), so that a record
		 * whose header stays 0 always has an owner in the table. */
		shmring_atomic_store(&ep->claim_end, c + pad + rec, SHMRING_RELAXED);
		shmring_atomic_store(&ep->claim_pos, c | 1u, SHMRING_RELAXED);
		/* M1, release: whoever acquires prod.claim >= c + need (recovery)
		 * sees the intent above, and the next claimer (M5) our P0.
		 * Acquire on failure too (M5): the new c is checked against
		 * cons.pos above, which must be read after its claimer's. */
		if (shmring_atomic_cas_weak(&r->ctrl->prod.claim, &c, c + pad + rec, SHMRING_ACQ_REL,
					    SHMRING_ACQUIRE))
			break;
	}
	shmring_atomic_store(&ep->claim_pos, c, SHMRING_RELAXED);
	if (pad)
		/* M2: pairs with the consumer's acquire load of the header (M3). */
		shmring_atomic_store(shmring_msg__hdr(r, c),
				     shmring_msg__word((uint32_t)(pad - SHMRING_MSG_HDR), SHMRING_MSG_T_PAD, c),
				     SHMRING_RELEASE);
	shmring_msg__hs(r)->res = c + pad;
	shmring_msg__hs(r)->rlen = len;
	*buf = r->data + (size_t)((c + pad + SHMRING_MSG_HDR) & r->mask);
	return 0;
}

/*
 * Producer: reserve room for a message of `len` bytes (0 allowed) and
 * point *buf at it, to write in place; nothing is visible to the consumer
 * until shmring_msg_commit(). One reservation at a time per handle.
 * Returns 0, or -EMSGSIZE (len > shmring_msg_max(r), at once),
 * -EAGAIN (not enough free space now), -EBUSY (a reservation is open),
 * -EBADF (not a producer handle of a message ring: every operation below
 * checks the handle's key first, shmring.h), -EPROTO (consumer state
 * corrupt).
 */
SHMRING_FORCE_INLINE int shmring_msg_reserve(struct shmring *r, uint32_t len, void **buf)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MSG, SHMRING_PRODUCER))
		return -EBADF;
	if (shmring_unlikely(len > r->slot_size))
		return -EMSGSIZE;
	if (shmring_unlikely(shmring_msg__hs(r)->res != SHMRING_NO_CLAIM))
		return -EBUSY;
	if (r->type == SHMRING_MSG_MPSC)
		return shmring_msg__reserve_mp(r, len, buf);

	uint64_t h = r->pos;
	uint64_t rec = shmring_msg__rec_size(len);
	uint64_t pad = shmring_msg__pad(r, h, rec);
	/* Room for the record and for the header word after it (P1). */
	int room = shmring_msg__room(r, h, pad + rec + SHMRING_MSG_HDR);

	if (shmring_unlikely(room <= 0))
		return room == 0 ? -EAGAIN : room;
	shmring_msg__hs(r)->res = h + pad;
	shmring_msg__hs(r)->rlen = len;
	*buf = r->data + (size_t)((h + pad + SHMRING_MSG_HDR) & r->mask);
	return 0;
}

/* End the open reservation as a message (`type` DATA) or as padding.
 * A building block: checks no key. */
SHMRING_FORCE_INLINE int shmring_msg__finish(struct shmring *r, uint32_t type)
{
	uint64_t p = shmring_msg__hs(r)->res;
	uint32_t len = (uint32_t)shmring_msg__hs(r)->rlen;
	uint64_t rec = shmring_msg__rec_size(len);

	if (shmring_unlikely(p & 7u)) /* none open, or not a producer */
		return -EINVAL;
	shmring_msg__hs(r)->res = SHMRING_NO_CLAIM;
	if (r->type == SHMRING_MSG_MPSC) {
		if (type == SHMRING_MSG_T_PAD)
			len = (uint32_t)(rec - SHMRING_MSG_HDR);
		/* M2: pairs with the consumer's acquire load of the header (M3):
		 * the payload stores above happen before its reads. */
		shmring_atomic_store(shmring_msg__hdr(r, p), shmring_msg__word(len, type, p),
				     SHMRING_RELEASE);
		shmring_atomic_store(&r->ep->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
		return 0;
	}
	if (type == SHMRING_MSG_T_PAD)
		return 0; /* nothing was published: the space is simply reused */

	uint64_t h = r->pos, e = p + rec;
	uint64_t w = shmring_msg__word(len, type, p);

	/* P1: the header word after the record reads 0 before the record is
	 * published (reserve made sure that word is free space). */
	shmring_atomic_store(shmring_msg__hdr(r, e), 0, SHMRING_RELAXED);
	if (p != h) {
		/* Padding leads to the record: the record's header first. */
		shmring_atomic_store(shmring_msg__hdr(r, p), w, SHMRING_RELAXED);
		w = shmring_msg__word((uint32_t)(p - h - SHMRING_MSG_HDR), SHMRING_MSG_T_PAD, h);
	}
	/* P2: pairs with the consumer's acquire load of the header (C1). */
	shmring_atomic_store(shmring_msg__hdr(r, h), w, SHMRING_RELEASE);
	r->pos = e;
	/* P3: for observers (dump tool, shmring_msg_used, the next producer):
	 * pairs with their acquire loads of prod.pos. */
	shmring_atomic_store(&r->ctrl->prod.pos, e, SHMRING_RELEASE);
	return 0;
}

/* Producer: publish the reserved message. Returns 0, -EINVAL (none
 * open) or -EBADF. */
SHMRING_FORCE_INLINE int shmring_msg_commit(struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MSG, SHMRING_PRODUCER))
		return -EBADF;
	return shmring_msg__finish(r, SHMRING_MSG_T_DATA);
}

/*
 * Producer: drop the reserved message; the consumer never sees it (MPSC:
 * its space becomes padding). Returns 0, -EINVAL (none open) or -EBADF.
 */
SHMRING_INLINE int shmring_msg_abort(struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MSG, SHMRING_PRODUCER))
		return -EBADF;
	return shmring_msg__finish(r, SHMRING_MSG_T_PAD);
}

/*
 * Copy n bytes between a caller's buffer and a record: up to 64 bytes as
 * 8-byte words and a byte tail, with no call (a libc memcpy call of a
 * size the compiler cannot see costs more than a small message's whole
 * push or pop); longer ones with memcpy.
 */
SHMRING_FORCE_INLINE void shmring_msg__copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;

	if (shmring_likely(n <= 64)) {
		size_t i = 0;

		for (; i + 8 <= n; i += 8)
			memcpy(d + i, s + i, 8);
		for (; i < n; i++)
			d[i] = s[i];
		return;
	}
	memcpy(dst, src, n);
}

/* Copy a message of `len` bytes in. Same returns as shmring_msg_reserve. */
SHMRING_FORCE_INLINE int shmring_msg_push(struct shmring *r, const void *buf, uint32_t len)
{
	void *dst = NULL; /* set by reserve on success; gcc cannot always tell */
	int ret = shmring_msg_reserve(r, len, &dst);

	if (shmring_unlikely(ret < 0))
		return ret;
	shmring_msg__copy(dst, buf, len);
	return shmring_msg__finish(r, SHMRING_MSG_T_DATA); /* reserve checked the key */
}

/*
 * Gather `n` buffers into one message. Same returns as shmring_msg_reserve
 * (-EMSGSIZE when the total exceeds shmring_msg_max(r)).
 */
SHMRING_FORCE_INLINE int shmring_msg_pushv(struct shmring *r, const struct iovec *iov, unsigned n)
{
	uint64_t total = 0;
	unsigned char *dst;
	void *p;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		total += iov[i].iov_len;
		if (total > r->slot_size)
			return -EMSGSIZE;
	}
	ret = shmring_msg_reserve(r, (uint32_t)total, &p);
	if (shmring_unlikely(ret < 0))
		return ret;
	dst = (unsigned char *)p;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	return shmring_msg__finish(r, SHMRING_MSG_T_DATA); /* reserve checked the key */
}

/*
 * Consumer, MPSC: the header at `t` reads 0. Empty (the claim is at t),
 * claimed but not committed (-EAGAIN; after SHMRING_MSG_STALL_CHECK such
 * polls, check for a dead producer), or corrupt.
 * Returns 1 to look again, -EAGAIN, or -EPROTO.
 */
SHMRING_INLINE int shmring_msg__uncommitted(struct shmring *r, uint64_t t)
{
	struct shmring_msg__hstate *hs = shmring_msg__hs(r);

	/* Read the claim at one poll of an empty header in
	 * SHMRING_MSG_CLAIM_POLL: a consumer spinning on an empty ring then
	 * leaves the claim line with the producers, whose next CAS finds it
	 * in their own cache. The first poll after a corrupt claim reads it
	 * again. */
	if (hs->polls++ % SHMRING_MSG_CLAIM_POLL != 0) {
		shmring_msg__note_blocked(r, &r->ctrl->cons_stats);
		return -EAGAIN;
	}
	/* Acquire: pairs with the producers' CAS (M1), for recovery's reads
	 * of their endpoint entries. */
	uint64_t c = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);

	if (c == t) {
		hs->stall = 0;
		shmring_msg__note_blocked(r, &r->ctrl->cons_stats);
		return -EAGAIN;
	}
	/* Also catches a consumer position past the claim: a data record
	 * whose header overstated its length (M6). */
	if (shmring_unlikely(c - t > r->capacity || (c & 7u))) {
		hs->polls = 0;
		return shmring_msg__corrupt(r, &r->ctrl->cons_stats);
	}
	r->cached = c;
	if (++hs->stall % (SHMRING_MSG_STALL_CHECK / SHMRING_MSG_CLAIM_POLL) == 0 && shmring_recover(r) > 0)
		return 1;
	shmring_msg__note_blocked(r, &r->ctrl->cons_stats);
	return -EAGAIN;
}

SHMRING_FORCE_INLINE void shmring_msg__release(struct shmring *r);

/*
 * Consumer: the next message not yet peeked, read in place. *buf points at
 * its payload and stays valid until shmring_msg_release(); peek again for
 * the message after it (a batch), then release them all at once.
 * A batch may cover the whole ring: then nothing more can come before the
 * release (-EAGAIN). MPSC: padding peek passes while it holds nothing
 * (no message peeked since the last release) is freed at once, and
 * producers that sleep for room are woken (shmring_msg_wake: no system
 * call unless one sleeps); padding after a held message is freed with it.
 * Returns the message length (>= 0), or -EAGAIN (none), -EPROTO (a
 * corrupt record or position: nothing is consumed), -EBADF (not the
 * consumer's handle).
 */
SHMRING_FORCE_INLINE int shmring_msg_peek(struct shmring *r, const void **buf)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MSG, SHMRING_CONSUMER))
		return -EBADF;
	for (;;) {
		uint64_t t = shmring_msg__hs(r)->cur;
		uint64_t w;

		/* Peeked a whole ring ahead of what is released: the header
		 * at t is the first record held, one lap back, not the next
		 * one (MPSC records may fill all `capacity` bytes). */
		if (shmring_unlikely(t - r->pos >= r->capacity)) {
			shmring_msg__note_blocked(r, &r->ctrl->cons_stats);
			return -EAGAIN;
		}
		if (r->type == SHMRING_MSG_MPSC) {
			/* M3: pairs with the producer's release store of the header (M2). */
			w = shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE);
			if (w == 0) {
				int ret = shmring_msg__uncommitted(r, t);

				if (ret > 0)
					continue;
				return ret;
			}
			shmring_msg__hs(r)->stall = 0;
		} else {
			/* C1: pairs with the producer's release store of the header (P2). */
			w = shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE);
			if (w == 0) {
				shmring_msg__note_blocked(r, &r->ctrl->cons_stats);
				return -EAGAIN;
			}
		}

		uint64_t rec = shmring_msg__rec_of(r, t, w);

		if (shmring_unlikely(rec == 0))
			return shmring_msg__corrupt(r, &r->ctrl->cons_stats);
		if (r->type == SHMRING_MSG_MPSC && ((w >> 32) & 0xffu) == SHMRING_MSG_T_PAD &&
		    shmring_unlikely(r->cached - (t + rec) > r->capacity)) {
			/* Padding, skipped unseen, that ends past the producers'
			 * claim as last seen: only a fresh claim can vindicate it
			 * (acquire: pairs with the CAS, M1). Data records are
			 * not checked here (M6). */
			uint64_t c = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);

			if (c - t > r->capacity || c - (t + rec) > r->capacity || (c & 7u))
				return shmring_msg__corrupt(r, &r->ctrl->cons_stats);
			r->cached = c;
		}
		shmring_msg__hs(r)->cur = t + rec;
		if (((w >> 32) & 0xffu) == SHMRING_MSG_T_PAD) {
			/* Nothing held before it: free it now, since no
			 * message may follow (an abort, a dead producer's
			 * record), and a producer may wait for the room. SPSC
			 * padding is published with the message after it. */
			if (r->type == SHMRING_MSG_MPSC && t == r->pos) {
				shmring_msg__release(r);
				shmring_msg_wake(r);
			}
			continue;
		}
		*buf = r->data + (size_t)((t + SHMRING_MSG_HDR) & r->mask);
		return (int)(uint32_t)w;
	}
}

/* MPSC consumer: zero [from, to) of the ring, in at most two spans (M4). */
SHMRING_FORCE_INLINE void shmring_msg__zero(struct shmring *r, uint64_t from, uint64_t to)
{
	uint64_t off = from & r->mask, n = to - from;

	if (shmring_likely(n <= 64 && off + n <= r->capacity)) {
		/* One small record (8-byte aligned, as every record is):
		 * words, no call. */
		for (uint64_t i = 0; i < n; i += 8)
			memset(r->data + off + i, 0, 8);
		return;
	}
	if (off + n > r->capacity) {
		memset(r->data + off, 0, (size_t)(r->capacity - off));
		memset(r->data, 0, (size_t)(n - (r->capacity - off)));
	} else {
		memset(r->data + off, 0, (size_t)n);
	}
}

/* Consumer: free every message peeked so far (a building block: checks
 * no key). */
SHMRING_FORCE_INLINE void shmring_msg__release(struct shmring *r)
{
	uint64_t cur = shmring_msg__hs(r)->cur;

	if (cur == r->pos)
		return;
	if (r->type == SHMRING_MSG_MPSC) {
		/* A consumer that dies while zeroing leaves cons.claim for its
		 * successor to finish the job (see attach). */
		shmring_atomic_store(&r->ctrl->cons.claim, cur, SHMRING_RELAXED);
		shmring_msg__zero(r, r->pos, cur);
	}
	r->pos = cur;
	/* C2: pairs with the producers' acquire load of cons.pos (P0). */
	shmring_atomic_store(&r->ctrl->cons.pos, cur, SHMRING_RELEASE);
}

/* Consumer: free every message peeked so far for the producers.
 * Returns 0, or -EBADF (not the consumer's handle). */
SHMRING_FORCE_INLINE int shmring_msg_release(struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MSG, SHMRING_CONSUMER))
		return -EBADF;
	shmring_msg__release(r);
	return 0;
}

/*
 * Consumer: copy the next message into buf (cap bytes) and release it,
 * with every message peeked before it. Returns the length, or -EAGAIN,
 * -EPROTO, -EBADF (not the consumer's handle), or -EMSGSIZE (buf too
 * small: the message stays in the ring; shmring_msg_peek tells its length).
 */
SHMRING_FORCE_INLINE int shmring_msg_pop(struct shmring *r, void *buf, uint32_t cap)
{
	const void *p = NULL; /* set by peek on success; gcc cannot always tell */
	int n = shmring_msg_peek(r, &p);

	if (n < 0)
		return n;
	if (shmring_unlikely((uint32_t)n > cap)) {
		shmring_msg__hs(r)->cur -= shmring_msg__rec_size((uint32_t)n);
		return -EMSGSIZE;
	}
	shmring_msg__copy(buf, p, (size_t)n);
	shmring_msg__release(r); /* peek checked the key */
	return n;
}

/* Bytes in use (records of any kind) as this handle (of any role) can
 * tell; 0 for a handle that is not this process's handle of a message ring. */
SHMRING_INLINE uint64_t shmring_msg_used(const struct shmring *r)
{
	if (!SHMRING_KEY_ANY(r, SHMRING_KEY_MSG))
		return 0;
	/* Acquire: pairs with the release stores of the positions (P2, M1, C2). */
	uint64_t h = shmring_atomic_load(r->type == SHMRING_MSG_MPSC ? &r->ctrl->prod.claim
								   : &r->ctrl->prod.pos,
					 SHMRING_ACQUIRE);
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);

	return h - t > r->capacity ? 0 : h - t;
}

/*
 * Blocking operations (out of line, src/msg.c), through the wait
 * mechanism of wait.h: spin per the handle's wait policy, then sleep on
 * the side's futex block; the peer's *_wait operations or
 * shmring_msg_wake() wake the sleepers. deadline: absolute
 * CLOCK_MONOTONIC (shmring_deadline_after), NULL for none.
 * They return what the try operations return, and instead of -EAGAIN:
 * -ETIMEDOUT (deadline passed), -EPIPE (every peer endpoint died and
 * nothing is left: no message to take, no consumer to make room),
 * -EINTR (only with SHMRING_WAIT_F_EINTR), -EINVAL (bad deadline).
 * A consumer waiting behind the record of a producer that died runs
 * shmring_recover() itself (at most once a millisecond, and at every
 * liveness check of the wait), so it never waits for a timeout.
 */

/* Producer: reserve, waiting for room. Publish with shmring_msg_commit(),
 * then shmring_msg_wake() to wake a sleeping consumer. */
SHMRING_API int shmring_msg_reserve_wait(struct shmring *r, uint32_t len, void **buf,
					 const struct timespec *deadline);
/* Producer: copy a message in (waiting for room), then wake the consumer. */
SHMRING_API int shmring_msg_push_wait(struct shmring *r, const void *buf, uint32_t len,
				      const struct timespec *deadline);
SHMRING_API int shmring_msg_pushv_wait(struct shmring *r, const struct iovec *iov, unsigned n,
				       const struct timespec *deadline);
/* Consumer: peek, waiting for a message. After shmring_msg_release(),
 * shmring_msg_wake() wakes producers waiting for room. */
SHMRING_API int shmring_msg_peek_wait(struct shmring *r, const void **buf,
				      const struct timespec *deadline);
/* Consumer: pop (waiting for a message), then wake waiting producers. */
SHMRING_API int shmring_msg_pop_wait(struct shmring *r, void *buf, uint32_t cap,
				     const struct timespec *deadline);
/*
 * shmring_msg_wake(r) (declared at the top): wake the peers of this
 * handle that sleep: a producer wakes the consumer (after commit or push),
 * the consumer wakes producers (after release; peek does it itself when
 * it frees padding). No system call unless one sleeps. Returns the number
 * woken or -errno.
 */

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_MSG_H */
