/* SPDX-License-Identifier: MIT */
/*
 * Single-producer single-consumer ring of fixed-size slots: inline fast path.
 *
 * Slot i holds an 8-byte sequence word, then the payload:
 *
 *   seq == pos + 1   the slot holds the message at position pos
 *   anything else    not yet written (the value left from the lap before)
 *
 * The consumer watches the sequence word inside the slot instead of the
 * producer's head, so a message costs the consumer one cache-line transfer
 * (the slot's line carries both the flag and, for small slots, the data);
 * polling a head index costs a second line transfer per message. The
 * producer still publishes its head once per push or burst, for bursts,
 * blocking waits and the dump tool. Each side caches the other side's
 * position and reads the shared one only when the cache says full/empty.
 *
 * Ordering (P = producer, C = consumer):
 *   P1 payload stores; P2 release store seq = pos + 1; P3 release store
 *   head. C1 acquire load of seq (or of head) pairs with P2 (or P3), so the
 *   payload stores P1 happen before C's copy. C2 release store of tail
 *   after the copy; P0 acquire load of tail pairs with C2, so C's reads of
 *   a slot happen before P overwrites it.
 *
 * A position read from shared memory is checked before use: a peer that
 * writes a head or tail further than `capacity` from ours gets -EPROTO and
 * a count in stats.corrupt, never an access outside the data area (every
 * index is pos & mask).
 */
/* Outside the guard: shmring.h includes this header (and mpmc.h, which
 * uses it) at its end, so whichever comes first, the handle is declared
 * before this body and this body before mpmc.h's. */
#include <shmring/shmring.h>

#ifndef SHMRING_SPSC_H
#define SHMRING_SPSC_H

#include <errno.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Payload of the slot at position `pos`. */
SHMRING_FORCE_INLINE void *shmring_slot(const struct shmring *r, uint64_t pos)
{
	return r->data + (size_t)(pos & r->mask) * r->stride + SHMRING_SLOT_HDR;
}

/* Sequence word of the slot at position `pos`. */
SHMRING_FORCE_INLINE SHMRING_ATOMIC(uint64_t) *shmring__slot_seq(const struct shmring *r, uint64_t pos)
{
	return (SHMRING_ATOMIC(uint64_t) *)(void *)(r->data + (size_t)(pos & r->mask) * r->stride);
}

/*
 * Copy one slot's payload; small slots move as 8-byte words (the slot
 * payload is 8-byte aligned), so the common sizes need no call. Each word
 * passes through a register the compiler must keep (empty asm): without
 * it gcc -O2 turns the loop into `rep movsq`, whose start-up cost is many
 * times that of a small push + pop (docs/bench.md).
 */
SHMRING_FORCE_INLINE void shmring__slot_copy(void *dst, const void *src, uint32_t n)
{
	if (shmring_likely(n <= 64 && (n & 7u) == 0)) {
		unsigned char *d = (unsigned char *)dst;
		const unsigned char *s = (const unsigned char *)src;

#if defined(__GNUC__) || defined(__clang__)
		/* gcc need not know the objects: with a small buffer and a
		 * slot size it cannot see, it warned about the longer sizes */
		__asm__("" : "+r"(d), "+r"(s));
#endif
		for (uint32_t i = 0; i < n; i += 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
#if defined(__GNUC__) || defined(__clang__)
			__asm__("" : "+r"(w));
#endif
			memcpy(d + i, &w, 8);
		}
	} else {
		memcpy(dst, src, n);
	}
}

/* Single-writer counter bump (one producer or one consumer owns it). */
SHMRING_FORCE_INLINE void shmring__stat_inc1(SHMRING_ATOMIC(uint64_t) *c)
{
	shmring_atomic_store(c, shmring_atomic_load(c, SHMRING_RELAXED) + 1, SHMRING_RELAXED);
}

SHMRING_INLINE void shmring_spsc__note_corrupt(struct shmring *r, struct shmring_stats *s)
{
	if (r->flags & SHMRING_F_COUNTERS)
		shmring__stat_inc1(&s->corrupt);
}

/*
 * Producer: slots free to write, up to `want`, refreshing the cached
 * consumer position only when the cache cannot satisfy `want`.
 * Returns the count (0..want), or -EPROTO if the consumer's position is
 * impossible.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc__free(struct shmring *r, uint64_t want)
{
	uint64_t h = r->pos;
	uint64_t used = h - r->cached;
	uint64_t room = r->capacity - used;

	if (shmring_likely(used <= r->capacity && room >= want))
		return (int64_t)want;
	/* P0: pairs with the consumer's release store of its tail (C2). */
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	used = h - t;
	if (shmring_unlikely(used > r->capacity)) {
		shmring_spsc__note_corrupt(r, &r->ctrl->prod_stats);
		return -EPROTO;
	}
	r->cached = t;
	shmring_atomic_store(&r->ctrl->prod.cached, t, SHMRING_RELAXED);
	if ((r->flags & SHMRING_F_COUNTERS) && used > r->hwm) {
		r->hwm = used;
		shmring_atomic_store(&r->ctrl->prod_stats.high_water, used, SHMRING_RELAXED);
	}
	room = r->capacity - used;
	return (int64_t)(room < want ? room : want);
}

/*
 * Consumer: messages ready to read, up to `want`. Uses the cached producer
 * head, then the shared head. Returns the count, or -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc__avail(struct shmring *r, uint64_t want)
{
	uint64_t t = r->pos;
	uint64_t avail = r->cached - t;

	if (avail <= r->capacity && avail >= want)
		return (int64_t)want;
	/* C1: pairs with the producer's release store of its head (P3). */
	uint64_t h = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
	avail = h - t;
	if (shmring_unlikely(avail > r->capacity)) {
		/* We may be ahead of the head by what we took through the
		 * slot sequence words before the producer's head store. */
		if (t - h > r->capacity) {
			shmring_spsc__note_corrupt(r, &r->ctrl->cons_stats);
			return -EPROTO;
		}
		return 0;
	}
	r->cached = h;
	shmring_atomic_store(&r->ctrl->cons.cached, h, SHMRING_RELAXED);
	return (int64_t)(avail < want ? avail : want);
}

/* Producer: publish `n` slots written from r->pos on (P2 + P3). */
SHMRING_FORCE_INLINE void shmring_spsc__publish(struct shmring *r, uint64_t n)
{
	uint64_t h = r->pos;

	for (uint64_t i = 0; i < n; i++)
		/* P2: pairs with the consumer's acquire load of seq (C1). */
		shmring_atomic_store(shmring__slot_seq(r, h + i), h + i + 1, SHMRING_RELEASE);
	r->pos = h + n;
	/* P3: pairs with the consumer's acquire load of head (C1). */
	shmring_atomic_store(&r->ctrl->prod.pos, h + n, SHMRING_RELEASE);
}

/* Consumer: give back `n` slots read from r->pos on (C2). */
SHMRING_FORCE_INLINE void shmring_spsc__consume(struct shmring *r, uint64_t n)
{
	r->pos += n;
	/* C2: pairs with the producer's acquire load of tail (P0). */
	shmring_atomic_store(&r->ctrl->cons.pos, r->pos, SHMRING_RELEASE);
}

/*
 * The copying operations, for elements of `size` bytes: the ring's
 * slot_size (the operations below), or sizeof the element type of a
 * typed ring (typed.h), a constant the copy is compiled for. They check
 * nothing of the handle.
 */

/* Producer: copy one element in. Returns 0, -EAGAIN (full) or -EPROTO. */
SHMRING_FORCE_INLINE int shmring_spsc__push_one(struct shmring *r, const void *elem, uint32_t size)
{
	int64_t room = shmring_spsc__free(r, 1);

	if (shmring_unlikely(room <= 0)) {
		if (room == 0 && (r->flags & SHMRING_F_COUNTERS))
			shmring__stat_inc1(&r->ctrl->prod_stats.blocked);
		return room == 0 ? -EAGAIN : (int)room;
	}
	shmring__slot_copy(shmring_slot(r, r->pos), elem, size);
	shmring_spsc__publish(r, 1);
	return 0;
}

/* Consumer: copy the oldest element out. Returns 0 or -EAGAIN (empty). */
SHMRING_FORCE_INLINE int shmring_spsc__pop_one(struct shmring *r, void *elem, uint32_t size)
{
	uint64_t t = r->pos;

	/* Below the cached head the slot is known to be published;
	 * at it, watch the slot's own sequence word. */
	if (r->cached == t &&
	    /* C1: pairs with the producer's release store of seq (P2). */
	    shmring_atomic_load(shmring__slot_seq(r, t), SHMRING_ACQUIRE) != t + 1) {
		if (r->flags & SHMRING_F_COUNTERS)
			shmring__stat_inc1(&r->ctrl->cons_stats.blocked);
		return -EAGAIN;
	}
	if (r->cached == t)
		r->cached = t + 1;
	shmring__slot_copy(elem, shmring_slot(r, t), size);
	shmring_spsc__consume(r, 1);
	return 0;
}

/* Producer: copy k elements in from r->pos on and publish them (k free). */
SHMRING_FORCE_INLINE void shmring_spsc__write(struct shmring *r, const void *elems, uint64_t k,
					      uint32_t size)
{
	const unsigned char *src = (const unsigned char *)elems;

	for (uint64_t i = 0; i < k; i++)
		shmring__slot_copy(shmring_slot(r, r->pos + i), src + (size_t)i * size, size);
	shmring_spsc__publish(r, k);
}

/* Consumer: copy k elements out from r->pos on and free them (k there). */
SHMRING_FORCE_INLINE void shmring_spsc__read(struct shmring *r, void *elems, uint64_t k, uint32_t size)
{
	unsigned char *dst = (unsigned char *)elems;

	for (uint64_t i = 0; i < k; i++)
		shmring__slot_copy(dst + (size_t)i * size, shmring_slot(r, r->pos + i), size);
	shmring_spsc__consume(r, k);
}

/* Producer: copy up to n contiguous elements in, one head publication.
 * Returns the count (0 when full) or -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_spsc__push_some(struct shmring *r, const void *elems, uint64_t n,
						     uint32_t size)
{
	int64_t k = shmring_spsc__free(r, n);

	if (shmring_unlikely(k <= 0)) {
		if (k == 0 && n && (r->flags & SHMRING_F_COUNTERS))
			shmring__stat_inc1(&r->ctrl->prod_stats.blocked);
		return k;
	}
	shmring_spsc__write(r, elems, (uint64_t)k, size);
	return k;
}

/* Consumer: copy up to n elements out. Returns the count (0 when empty)
 * or -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_spsc__pop_some(struct shmring *r, void *elems, uint64_t n,
						    uint32_t size)
{
	int64_t k = shmring_spsc__avail(r, n);

	if (shmring_unlikely(k <= 0)) {
		if (k == 0 && n && (r->flags & SHMRING_F_COUNTERS))
			shmring__stat_inc1(&r->ctrl->cons_stats.blocked);
		return k;
	}
	shmring_spsc__read(r, elems, (uint64_t)k, size);
	return k;
}

/*
 * The operations below check the handle's key first (shmring.h): on a
 * handle that is not this SPSC ring's producer (or consumer, for the
 * consumer's operations) of this process, they return -EBADF and touch
 * nothing. The building blocks above check nothing.
 */

/*
 * Copy one slot_size element into the ring.
 * Returns 0, -EAGAIN (full), -EBADF (not a producer handle of an SPSC
 * ring) or -EPROTO (consumer state corrupt).
 */
SHMRING_FORCE_INLINE int shmring_spsc_try_push(struct shmring *r, const void *elem)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))
		return -EBADF;
	return shmring_spsc__push_one(r, elem, r->slot_size);
}

/*
 * Copy the oldest element out of the ring.
 * Returns 0, -EAGAIN (empty) or -EBADF (not a consumer handle of an
 * SPSC ring). It reads only the slot's sequence word, never the
 * producer's position, so it has no -EPROTO.
 */
SHMRING_FORCE_INLINE int shmring_spsc_try_pop(struct shmring *r, void *elem)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))
		return -EBADF;
	return shmring_spsc__pop_one(r, elem, r->slot_size);
}

/*
 * Copy up to n elements (contiguous, slot_size bytes each) in, with one
 * head publication. Returns the count pushed (0 when full), -EBADF or
 * -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc_push_burst(struct shmring *r, const void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))
		return -EBADF;
	return shmring_spsc__push_some(r, elems, n, r->slot_size);
}

/*
 * All-or-nothing: push n elements or none. Returns n, -EAGAIN (not all
 * fit now), -EINVAL (n exceeds the capacity: it never will), -EBADF or
 * -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc_push_bulk(struct shmring *r, const void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))
		return -EBADF;

	int64_t k = shmring_spsc__free(r, n);

	if (k < 0)
		return k;
	if ((uint64_t)k < n)
		return n > r->capacity ? -EINVAL : -EAGAIN;
	shmring_spsc__write(r, elems, n, r->slot_size);
	return (int64_t)n;
}

/* Copy up to n elements out. Returns the count popped (0 when empty),
 * -EBADF or -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_spsc_pop_burst(struct shmring *r, void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))
		return -EBADF;
	return shmring_spsc__pop_some(r, elems, n, r->slot_size);
}

/*
 * All-or-nothing: pop n elements or none. Returns n, -EAGAIN (fewer are
 * there), -EINVAL (n exceeds the capacity), -EBADF or -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc_pop_bulk(struct shmring *r, void *elems, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))
		return -EBADF;

	int64_t k = shmring_spsc__avail(r, n);

	if (k < 0)
		return k;
	if ((uint64_t)k < n)
		return n > r->capacity ? -EINVAL : -EAGAIN;
	shmring_spsc__read(r, elems, n, r->slot_size);
	return (int64_t)n;
}

/*
 * Zero copy, producer: up to n slots to write in place. *pos receives the
 * first position; slot i is shmring_slot(r, *pos + i). Returns the count
 * (0 when full), -EBADF or -EPROTO. Nothing is visible until
 * shmring_spsc_commit.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc_reserve(struct shmring *r, uint64_t n, uint64_t *pos)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))
		return -EBADF;

	int64_t k = shmring_spsc__free(r, n);

	*pos = r->pos;
	return k;
}

/* Publish the first n reserved slots (n no more than reserved).
 * Returns 0, or -EBADF. */
SHMRING_FORCE_INLINE int shmring_spsc_commit(struct shmring *r, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))
		return -EBADF;
	shmring_spsc__publish(r, n);
	return 0;
}

/*
 * Zero copy, consumer: up to n messages to read in place from *pos on.
 * Returns the count (0 when empty), -EBADF or -EPROTO. The slots stay
 * ours until shmring_spsc_release.
 */
SHMRING_FORCE_INLINE int64_t shmring_spsc_peek(struct shmring *r, uint64_t n, uint64_t *pos)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))
		return -EBADF;

	uint64_t t = r->pos;

	*pos = t;
	if (n == 1 && r->cached == t) {
		/* C1: pairs with the producer's release store of seq (P2). */
		if (shmring_atomic_load(shmring__slot_seq(r, t), SHMRING_ACQUIRE) == t + 1)
			return 1;
	}
	return shmring_spsc__avail(r, n);
}

/* Free the first n peeked slots for the producer. Returns 0, or -EBADF. */
SHMRING_FORCE_INLINE int shmring_spsc_release(struct shmring *r, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))
		return -EBADF;
	if (r->cached - r->pos < n)
		r->cached = r->pos + n;
	shmring_spsc__consume(r, n);
	return 0;
}

/*
 * Does the handle's ring hold elements of `elem_size` bytes: an SPSC ring
 * whose slot_size is elem_size? For code compiled for one element type
 * (typed.h), at attach. Any role. Returns 0, or -EINVAL (NULL or closed
 * handle, another ring type, or another slot size: the detail gives the
 * ring's and the element's sizes).
 */
SHMRING_API int shmring_spsc_check_size(const struct shmring *r, uint32_t elem_size);

/* Messages in the ring as this handle (of any role) can tell (an estimate
 * while the other side runs); 0 for a handle that is not this process's
 * handle of an SPSC ring. */
SHMRING_FORCE_INLINE uint64_t shmring_spsc_count(const struct shmring *r)
{
	if (!SHMRING_KEY_ANY(r, SHMRING_KEY_SPSC))
		return 0;
	/* Acquire: pairs with the other side's release store of its position. */
	uint64_t h = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	uint64_t n = h - t;

	return n > r->capacity ? 0 : n;
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_SPSC_H */
