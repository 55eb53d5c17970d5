/* SPDX-License-Identifier: MIT */
/*
 * Broadcast ring (SHMRING_BROADCAST): one producer, any number of readers
 * (up to max_endpoints), each reader sees every message. Reads are not
 * destructive: every reader has its own position, in its endpoint entry
 * (layout.h). Readers join and leave at any time. Fixed-size slots.
 *
 * Two policies, chosen at create:
 *   lossless (default)  the producer never overwrites a message a member
 *                       reader has not read: try_push says -EAGAIN, the
 *                       blocking push waits. A reader whose process died,
 *                       or (params.evict_ns) that kept the producer gated
 *                       at one position longer than the deadline, is
 *                       evicted from the gating set by the producer itself.
 *   SHMRING_F_LOSSY     the producer never waits; a reader that was lapped
 *                       learns it on its next read.
 * Either way a reader that lost messages (lapped, or evicted then lapped)
 * gets -EOVERFLOW once, its exact loss is added to shmring_bcast_lost(),
 * and it goes on from the oldest message still intact. An evicted reader
 * rejoins the gating set by itself (at that point, or when it finds the
 * ring empty): it stays a reader.
 *
 * THE SLOT PROTOCOL (a seqlock per slot; P = producer, R = reader)
 *
 * The slot of position p holds an 8-byte sequence word and the payload.
 *   P1 store seq = 2p + 1 (relaxed)      R1 s1 = load seq (acquire)
 *   P2 release fence                     R2 s1 < 2p + 2: empty (not yet);
 *   P3 write the payload                    s1 > 2p + 2: lapped
 *   P4 store seq = 2p + 2 (release)      R3 copy the payload
 *   P5 store prod.pos = p + 1 (release)  R4 acquire fence
 *                                        R5 s2 = load seq (relaxed);
 *                                           s2 == s1: the copy is p's
 * R1 pairs with P4: the payload of p is visible to R3. If any store of P3
 * for a later position (p + k * capacity) was read by R3, the acquire
 * fence R4 makes P1 of that write (ordered before P3 by P2) visible to
 * R5, which then sees a sequence word other than s1: a torn or newer copy
 * is never returned. Both policies write slots this way, so that an
 * evicted reader (no longer protecting its slot) is safe as well; in
 * lossless mode a member's slot is never written while it reads it.
 *
 * THE GATING SET (lossless)
 *
 * A reader stores its next position in its entry's claim_pos after each
 * read (R6, release: its copies happen before the producer, whose scan
 * loads it with acquire, overwrites the slot). The producer keeps a limit
 * (r->cached): positions below it may be written. When it reaches the
 * limit it scans the entries (shmring_bcast__room, src/broadcast.c):
 *   S1 seq_cst fence (pairs with J2)
 *   S2 for each ACTIVE member (claim_end == taken, claim_pos set):
 *      load claim_pos (acquire, pairs with R6)
 *   S3 limit = min(those positions, prod.pos) + capacity
 * JOIN (a new reader, a seek, an evicted reader rejoining at position c):
 *   J1 store claim_pos = c (and taken = claim_end), then
 *   J2 seq_cst fence (pairs with S1), J3 P' = load prod.pos.
 * Every scan whose fence S1 comes after J2 sees J1 and gates at c. Every
 * scan before it stored prod.pos (P5) before its S1 at a value that J3
 * then reads or exceeds, and its limit is at most that prod.pos plus the
 * capacity, so it lets the producer write positions below P' + capacity
 * only: the slots of positions from P' on are safe from every scan that
 * missed the reader. Positions from c to P' may still be overwritten
 * before the producer's next scan: the seqlock catches that, and the
 * reader moves on to the oldest intact message without counting the
 * skipped ones as lost (a joining reader was no member for them; handle
 * state `guard` = P'). A reader that joins at the newest message starts
 * at P' and so never sees that case.
 *
 * Waking: readers sleep on ctrl->cons_wait; one FUTEX_WAKE of all (wait.h)
 * after a push reaches every sleeping reader. The producer sleeps for room
 * on ctrl->prod_wait, woken by any reader that reads while it sleeps (the
 * free-when-nobody-sleeps protocol of wait.h).
 *
 * Fast paths are inline; eviction, lapped readers, joins and the blocking
 * calls are out of line (src/broadcast.c). Variable-length records are
 * left out on purpose: docs/broadcast.md says why.
 */
/* Outside the guard, as spsc.h: shmring.h includes this header at its end. */
#include <shmring/shmring.h>

#ifndef SHMRING_BROADCAST_H
#define SHMRING_BROADCAST_H

#include <errno.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ThreadSanitizer cannot see fences, and reports the seqlock's payload
 * accesses (racy by design) as races: under it the fences become
 * read-modify-writes and the payload moves as relaxed atomic words. */
#if defined(__SANITIZE_THREAD__)
#define SHMRING__BCAST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMRING__BCAST_TSAN 1
#endif
#endif

/* shmring_bcast_seek: where a reader goes */
#define SHMRING_BCAST_NEWEST 0u /* the next message published (where a new reader starts) */
#define SHMRING_BCAST_OLDEST 1u /* the oldest message still in the ring */

/*
 * A broadcast handle's own state (process-local), laid over struct
 * shmring's ext[] (shmring_bcast__hs). r->pos is the next position to
 * write (producer) or read (reader); the producer's r->cached is its
 * limit (positions below it may be written).
 */
struct shmring_bcast__hstate {
	uint64_t lost;     /* reader: messages lost since it attached */
	uint64_t guard;    /* reader: positions from here on were protected from its join on */
	uint64_t ack;      /* reader: evictions acknowledged (= its entry's taken) */
	uint64_t evict_ns; /* producer: the eviction deadline (kind block), 0 never */
	uint64_t gate_pos; /* producer: the position the readers gated it at, last time it was full */
	uint64_t gate_ns;  /* producer: CLOCK_MONOTONIC since when they gate it there */
	uint64_t live_ns;  /* producer: CLOCK_MONOTONIC of its last liveness check of them */
	uint64_t spare;
};
SHMRING_STATIC_ASSERT(sizeof(struct shmring_bcast__hstate) <= sizeof(((struct shmring *)0)->ext),
		      "broadcast handle state fits in struct shmring's ext");

static inline struct shmring_bcast__hstate *shmring_bcast__hs(struct shmring *r)
{
	return (struct shmring_bcast__hstate *)(void *)r->ext;
}

static inline const struct shmring_bcast__hstate *shmring_bcast__hs_const(const struct shmring *r)
{
	return (const struct shmring_bcast__hstate *)(const void *)r->ext;
}

/*
 * Slow paths (src/broadcast.c), exported only for this header's inline
 * code. room: the producer's scan (lossless) or lap (lossy); returns the
 * room now (>= 0) or -EPROTO. lapped: the reader at r->pos was lapped:
 * move it to the oldest intact message, count the loss, rejoin if it was
 * evicted; returns -EOVERFLOW, 0 where nothing counted was lost (the
 * positions a joining reader was not protected for), or -EAGAIN where it
 * cannot move (the producer's position does not yet show the lap). rejoin: an evicted
 * reader joins the gating set again at its position.
 */
SHMRING_API int64_t shmring_bcast__room(struct shmring *r);
SHMRING_API int shmring_bcast__lapped(struct shmring *r);
SHMRING_API void shmring_bcast__rejoin(struct shmring *r);

/* The sequence word a slot holds once the message of position p is in it. */
SHMRING_FORCE_INLINE uint64_t shmring_bcast__full(uint64_t p)
{
	return 2 * p + 2;
}

/* P1 + P2: mark the slot of p as being written. */
SHMRING_FORCE_INLINE void shmring_bcast__begin(struct shmring *r, uint64_t p)
{
#ifdef SHMRING__BCAST_TSAN
	shmring_atomic_exchange(shmring__slot_seq(r, p), 2 * p + 1, SHMRING_ACQ_REL);
#else
	shmring_atomic_store(shmring__slot_seq(r, p), 2 * p + 1, SHMRING_RELAXED);
	shmring_atomic_fence(SHMRING_RELEASE);
#endif
}

#ifdef SHMRING__BCAST_TSAN
/* The payload as relaxed atomic words (ThreadSanitizer builds only). */
static inline void shmring_bcast__copy_atomic(void *dst, const void *src, uint32_t n, int to_slot)
{
	for (uint32_t i = 0; i < n; i += 8) {
		uint64_t w = 0;
		uint32_t k = n - i < 8 ? n - i : 8;

		if (to_slot) {
			memcpy(&w, (const unsigned char *)src + i, k);
			shmring_atomic_store((SHMRING_ATOMIC(uint64_t) *)(void *)((unsigned char *)dst + i), w,
					     SHMRING_RELAXED);
		} else {
			w = shmring_atomic_load((SHMRING_ATOMIC(uint64_t) *)(void *)((unsigned char *)src + i),
						SHMRING_RELAXED);
			memcpy((unsigned char *)dst + i, &w, k);
		}
	}
}
#endif

/* P3 + P4: write the payload of p and publish the slot. */
SHMRING_FORCE_INLINE void shmring_bcast__fill(struct shmring *r, uint64_t p, const void *elem)
{
	shmring_bcast__begin(r, p);
#ifdef SHMRING__BCAST_TSAN
	shmring_bcast__copy_atomic(shmring_slot(r, p), elem, r->slot_size, 1);
#else
	shmring__slot_copy(shmring_slot(r, p), elem, r->slot_size);
#endif
	/* P4: pairs with the reader's acquire load of seq (R1). */
	shmring_atomic_store(shmring__slot_seq(r, p), shmring_bcast__full(p), SHMRING_RELEASE);
}

/* P5: publish the producer's position after n slots. */
SHMRING_FORCE_INLINE void shmring_bcast__publish(struct shmring *r, uint64_t n)
{
	r->pos += n;
	/* P5: pairs with the acquire loads of prod.pos (J3, lapped readers). */
	shmring_atomic_store(&r->ctrl->prod.pos, r->pos, SHMRING_RELEASE);
}

/* Producer: slots free to write now, up to want (refreshing the limit
 * only when it says fewer). Returns the count, or -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_bcast__free(struct shmring *r, uint64_t want)
{
	uint64_t room = r->cached - r->pos;

	if (shmring_unlikely(room < want || room > r->capacity)) {
		int64_t k = shmring_bcast__room(r);

		if (k <= 0)
			return k;
		room = (uint64_t)k;
	}
	return (int64_t)(room < want ? room : want);
}

/*
 * R1..R5: copy the message at the reader's position p into elem.
 * Returns 1 (copied), 0 (not there yet) or -1 (lapped: p is gone).
 */
SHMRING_FORCE_INLINE int shmring_bcast__get(struct shmring *r, uint64_t p, void *elem)
{
	SHMRING_ATOMIC(uint64_t) *seq = shmring__slot_seq(r, p);
	/* R1: pairs with the producer's release store of seq (P4). */
	uint64_t s1 = shmring_atomic_load(seq, SHMRING_ACQUIRE);
	int64_t d = (int64_t)(s1 - shmring_bcast__full(p));

	if (d != 0)
		return d < 0 ? 0 : -1;
#ifdef SHMRING__BCAST_TSAN
	shmring_bcast__copy_atomic(elem, shmring_slot(r, p), r->slot_size, 0);
	uint64_t s2 = shmring_atomic_fetch_add(seq, 0, SHMRING_ACQ_REL);
#else
	shmring__slot_copy(elem, shmring_slot(r, p), r->slot_size);
	/* R4: the copy's loads happen before R5 (pairs with P2, see above). */
	shmring_atomic_fence(SHMRING_ACQUIRE);
	uint64_t s2 = shmring_atomic_load(seq, SHMRING_RELAXED);
#endif
	return s2 == s1 ? 1 : -1;
}

/* R6: the reader read up to r->pos; tell the producer. */
SHMRING_FORCE_INLINE void shmring_bcast__advance(struct shmring *r, uint64_t n)
{
	r->pos += n;
	/* R6: pairs with the producer's acquire load of claim_pos (S2). */
	shmring_atomic_store(&r->ep->claim_pos, r->pos, SHMRING_RELEASE);
}

/* The reader found the ring empty: rejoin if it was evicted (a reader
 * that caught up gates the producer again). */
SHMRING_FORCE_INLINE int shmring_bcast__empty(struct shmring *r)
{
	/* Relaxed: a hint; rejoin loads it again. */
	if (shmring_unlikely(shmring_atomic_load(&r->ep->claim_end, SHMRING_RELAXED) !=
			     shmring_bcast__hs(r)->ack))
		shmring_bcast__rejoin(r);
	return -EAGAIN;
}

/*
 * The operations below check the handle's key first (shmring.h): on a
 * handle that is not this broadcast ring's producer (or reader, for the
 * readers' operations) of this process they return -EBADF and touch
 * nothing.
 */

/*
 * Producer: copy one slot_size element in. Returns 0, -EAGAIN (lossless:
 * a member reader has not read the slot it needs), -EBADF or -EPROTO.
 * Lossy rings never say -EAGAIN.
 */
SHMRING_FORCE_INLINE int shmring_bcast_try_push(struct shmring *r, const void *elem)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_PRODUCER))
		return -EBADF;
	if (shmring_unlikely(r->pos == r->cached)) {
		int64_t k = shmring_bcast__room(r);

		if (k <= 0) {
			if (k == 0 && (r->flags & SHMRING_F_COUNTERS))
				shmring__stat_inc1(&r->ctrl->prod_stats.blocked);
			return k == 0 ? -EAGAIN : (int)k;
		}
	}
	shmring_bcast__fill(r, r->pos, elem);
	shmring_bcast__publish(r, 1);
	return 0;
}

/* Producer: copy up to n elements (contiguous) in, one position store.
 * Returns the count (0: no room), -EBADF or -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_bcast_push_burst(struct shmring *r, const void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_PRODUCER))
		return -EBADF;

	int64_t k = shmring_bcast__free(r, n);
	const unsigned char *src = (const unsigned char *)elems;

	if (shmring_unlikely(k <= 0)) {
		if (k == 0 && n && (r->flags & SHMRING_F_COUNTERS))
			shmring__stat_inc1(&r->ctrl->prod_stats.blocked);
		return k;
	}
	for (int64_t i = 0; i < k; i++)
		shmring_bcast__fill(r, r->pos + (uint64_t)i, src + (size_t)i * r->slot_size);
	shmring_bcast__publish(r, (uint64_t)k);
	return k;
}

/*
 * Reader: copy the message at its position into elem (slot_size bytes).
 * Returns 0, -EAGAIN (nothing new), -EOVERFLOW (it lost messages: lapped
 * in lossy mode, or evicted and then lapped; shmring_bcast_lost() grew by
 * the exact count, and the next read gives the oldest message still
 * intact; nothing is copied), or -EBADF. A torn or overwritten payload is
 * never returned.
 */
SHMRING_FORCE_INLINE int shmring_bcast_try_read(struct shmring *r, void *elem)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;

	for (;;) {
		int got = shmring_bcast__get(r, r->pos, elem);

		if (shmring_likely(got > 0)) {
			shmring_bcast__advance(r, 1);
			return 0;
		}
		if (got == 0)
			return shmring_bcast__empty(r);
		if ((got = shmring_bcast__lapped(r)) < 0)
			return got;
	}
}

/*
 * Reader: copy up to n messages out, one position store. Returns the
 * count (0: nothing new), -EOVERFLOW (as try_read; only when the first
 * message is gone: a loss after some were read ends the burst, and the
 * next call reports it) or -EBADF.
 */
SHMRING_FORCE_INLINE int64_t shmring_bcast_read_burst(struct shmring *r, void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;

	unsigned char *dst = (unsigned char *)elems;

	for (;;) {
		uint64_t k = 0;
		int got = 1;

		while (k < n && (got = shmring_bcast__get(r, r->pos + k, dst + (size_t)k * r->slot_size)) > 0)
			k++;
		if (shmring_likely(k > 0)) {
			shmring_bcast__advance(r, k);
			return (int64_t)k;
		}
		if (n == 0)
			return 0;
		if (got == 0) {
			shmring_bcast__empty(r);
			return 0;
		}
		if ((got = shmring_bcast__lapped(r)) < 0)
			return got;
	}
}

/*
 * Reader, zero copy: *elem receives the payload of the message at the
 * reader's position, in place. Returns 0, -EAGAIN, -EOVERFLOW (as
 * try_read) or -EBADF. Lossless: the slot stays as it is until
 * shmring_bcast_release (the reader gates it). Lossy: the producer may
 * overwrite it while it is used; release says so.
 */
SHMRING_FORCE_INLINE int shmring_bcast_peek(struct shmring *r, const void **elem)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;

	for (;;) {
		uint64_t p = r->pos;
		/* R1: pairs with the producer's release store of seq (P4). */
		uint64_t s = shmring_atomic_load(shmring__slot_seq(r, p), SHMRING_ACQUIRE);
		int64_t d = (int64_t)(s - shmring_bcast__full(p));
		int ret;

		if (d == 0) {
			*elem = shmring_slot(r, p);
			return 0;
		}
		if (d < 0)
			return shmring_bcast__empty(r);
		if ((ret = shmring_bcast__lapped(r)) < 0)
			return ret;
	}
}

/*
 * Reader: done with the peeked message; move on. Returns 0 (the payload
 * was intact the whole time), -EOVERFLOW (it was overwritten while in
 * use: what was read of it is not to be trusted; counted as lost and the
 * reader moved on as try_read), -EINVAL (nothing peeked: the slot does
 * not hold the message of the reader's position) or -EBADF.
 */
SHMRING_FORCE_INLINE int shmring_bcast_release(struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;

	uint64_t p = r->pos;
	SHMRING_ATOMIC(uint64_t) *seq = shmring__slot_seq(r, p);
#ifdef SHMRING__BCAST_TSAN
	uint64_t s = shmring_atomic_fetch_add(seq, 0, SHMRING_ACQ_REL);
#else
	/* R4 + R5: the caller's reads of the payload come before this load. */
	shmring_atomic_fence(SHMRING_ACQUIRE);
	uint64_t s = shmring_atomic_load(seq, SHMRING_RELAXED);
#endif
	int64_t d = (int64_t)(s - shmring_bcast__full(p));

	if (d < 0)
		return -EINVAL;
	if (d > 0) {
		/* Overwritten in use, whatever the loss counts (0 before the
		 * reader's join was seen, or a lap not yet published). */
		(void)shmring_bcast__lapped(r);
		return -EOVERFLOW;
	}
	shmring_bcast__advance(r, 1);
	return 0;
}

/* Reader: messages lost since it attached (the sum of what its
 * -EOVERFLOW returns reported); -EBADF for a handle that is not this
 * process's reader of a broadcast ring. */
SHMRING_FORCE_INLINE int64_t shmring_bcast_lost(const struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;
	return (int64_t)shmring_bcast__hs_const(r)->lost;
}

/*
 * Blocking calls (src/broadcast.c), as wait.h's: deadline absolute
 * CLOCK_MONOTONIC, NULL for none; the handle's wait policy applies.
 *
 * push_wait: push one element, waiting for room (lossless: while a member
 * reader holds the slot; at each liveness slice of the wait, dead readers
 * and readers past the eviction deadline are evicted), then wake sleeping
 * readers. Returns 0, -ETIMEDOUT, -EINTR (SHMRING_WAIT_F_EINTR), -EINVAL,
 * -EBADF, -EPROTO.
 *
 * read_wait: read one message, waiting while there is none, then wake a
 * producer waiting for room. Returns 0, -EOVERFLOW (as try_read),
 * -ETIMEDOUT, -EPIPE (the producer died and nothing new is there),
 * -EINTR, -EINVAL, -EBADF.
 *
 * read_burst_wait: as read_wait for up to n (1..n read; 0 for n == 0).
 *
 * wake: a producer wakes sleeping readers (after try_push / push_burst),
 * a reader a producer waiting for room. Returns what shmring_wake does.
 *
 * seek: move a reader to the newest message (SHMRING_BCAST_NEWEST: the
 * next one published) or to the oldest still in the ring
 * (SHMRING_BCAST_OLDEST), joining the gating set there as a new reader
 * does: messages between the two that the producer overwrites before it
 * sees the reader are passed over, not counted as lost. A new reader
 * starts at the newest. Returns 0, -EINVAL (where is neither) or -EBADF.
 */
SHMRING_API int shmring_bcast_push_wait(struct shmring *r, const void *elem,
					const struct timespec *deadline);
SHMRING_API int shmring_bcast_read_wait(struct shmring *r, void *elem,
					const struct timespec *deadline);
SHMRING_API int64_t shmring_bcast_read_burst_wait(struct shmring *r, void *elems, uint64_t n,
						  const struct timespec *deadline);
SHMRING_API int shmring_bcast_wake(struct shmring *r);
SHMRING_API int shmring_bcast_seek(struct shmring *r, uint32_t where);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BROADCAST_H */
