/* SPDX-License-Identifier: MIT */
/*
 * Reference for comparison: a Lamport single-producer single-consumer ring
 * with cached indices, the queue most people write (or copy) when they
 * want "a fast SPSC ring" (rigtorp's SPSCQueue, folly's
 * ProducerConsumerQueue plus caches). Written for the benchmark; not part
 * of the library: no endpoint table, no checks of the peer's index.
 *
 * Everything lives in one caller-provided block (shared memory works: no
 * pointers inside). The producer's head and the consumer's tail sit in
 * their own 128-byte blocks, and so does each side's private copy of the
 * other's index, then the payload array: `capacity` elements of
 * `elem_size` bytes each, no per-slot word.
 *
 *   head - tail == capacity   full
 *   head == tail              empty
 *
 * Each side re-reads the other's index only when its cached copy says
 * full (producer) or empty (consumer). A burst copies the whole run (one
 * or two memcpy, around the wrap) and publishes the index once.
 *
 * Ordering: P1 payload stores; P2 release store of head. C1 acquire load
 * of head pairs with P2, so the payload is visible before C copies it. C2
 * release store of tail after the copy; P0 acquire load of tail pairs
 * with C2, so C's reads of a slot happen before P overwrites it.
 *
 * `size` in the calls must be the elem_size given at init; callers pass
 * a constant so that the memcpy is inlined as a few moves.
 */
#ifndef SHMRING_BENCH_REF_LAMPORT_H
#define SHMRING_BENCH_REF_LAMPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ref_lamport {
	_Alignas(128) _Atomic uint64_t head; /* producer writes */
	_Alignas(128) uint64_t tail_cache;   /* producer's copy of tail */
	_Alignas(128) _Atomic uint64_t tail; /* consumer writes */
	_Alignas(128) uint64_t head_cache;   /* consumer's copy of head */
	_Alignas(128) uint64_t capacity;     /* read-only after init */
	uint64_t mask;
	uint32_t elem_size;
	/* elements follow, 128-byte aligned */
};

/* Bytes needed for a ring of `capacity` (a power of two) elements. */
static inline size_t ref_lamport_size(uint64_t capacity, uint32_t elem_size)
{
	return sizeof(struct ref_lamport) + capacity * elem_size;
}

static inline unsigned char *ref_lamport_elem(struct ref_lamport *q, uint64_t pos, uint32_t size)
{
	return (unsigned char *)(q + 1) + (size_t)(pos & q->mask) * size;
}

static inline void ref_lamport_init(struct ref_lamport *q, uint64_t capacity, uint32_t elem_size)
{
	memset(q, 0, sizeof(*q));
	q->capacity = capacity;
	q->mask = capacity - 1;
	q->elem_size = elem_size;
	atomic_store_explicit(&q->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&q->head, 0, memory_order_release);
}

/* Producer: free slots, up to `want`, reading the consumer's tail only
 * when the cached copy leaves fewer than `want`. */
static inline uint64_t ref_lamport_room(struct ref_lamport *q, uint64_t h, uint64_t want)
{
	uint64_t room = q->capacity - (h - q->tail_cache);

	if (room >= want)
		return want;
	/* P0: pairs with the consumer's release store of tail (C2). */
	q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
	room = q->capacity - (h - q->tail_cache);
	return room < want ? room : want;
}

/* Consumer: messages ready, up to `want`, reading the producer's head
 * only when the cached copy shows fewer than `want`. */
static inline uint64_t ref_lamport_ready(struct ref_lamport *q, uint64_t t, uint64_t want)
{
	uint64_t ready = q->head_cache - t;

	if (ready >= want)
		return want;
	/* C1: pairs with the producer's release store of head (P2). */
	q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
	ready = q->head_cache - t;
	return ready < want ? ready : want;
}

/* 0, or -1 when full. */
static inline int ref_lamport_push(struct ref_lamport *q, const void *elem, uint32_t size)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed); /* our own index */

	if (!ref_lamport_room(q, h, 1))
		return -1;
	memcpy(ref_lamport_elem(q, h, size), elem, size);
	/* P2: pairs with the consumer's acquire load of head (C1). */
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return 0;
}

/* 0, or -1 when empty. */
static inline int ref_lamport_pop(struct ref_lamport *q, void *elem, uint32_t size)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed); /* our own index */

	if (!ref_lamport_ready(q, t, 1))
		return -1;
	memcpy(elem, ref_lamport_elem(q, t, size), size);
	/* C2: pairs with the producer's acquire load of tail (P0). */
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return 0;
}

/* Copy k elements between the ring from position pos on and buf, in at
 * most two pieces (before and after the wrap). */
static inline void ref_lamport_copy_run(struct ref_lamport *q, uint64_t pos, void *buf, uint64_t k,
					uint32_t size, int to_ring)
{
	uint64_t first = q->capacity - (pos & q->mask);
	unsigned char *b = (unsigned char *)buf;

	if (first > k)
		first = k;
	if (to_ring) {
		memcpy(ref_lamport_elem(q, pos, size), b, (size_t)first * size);
		memcpy(ref_lamport_elem(q, pos + first, size), b + (size_t)first * size,
		       (size_t)(k - first) * size);
	} else {
		memcpy(b, ref_lamport_elem(q, pos, size), (size_t)first * size);
		memcpy(b + (size_t)first * size, ref_lamport_elem(q, pos + first, size),
		       (size_t)(k - first) * size);
	}
}

/* Up to n elements in, one head store. Returns how many (0 when full). */
static inline uint64_t ref_lamport_push_burst(struct ref_lamport *q, const void *elems, uint64_t n,
					      uint32_t size)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint64_t k = ref_lamport_room(q, h, n);

	if (!k)
		return 0;
	ref_lamport_copy_run(q, h, (void *)(uintptr_t)elems, k, size, 1);
	/* P2: pairs with the consumer's acquire load of head (C1). */
	atomic_store_explicit(&q->head, h + k, memory_order_release);
	return k;
}

/* Up to n elements out, one tail store. Returns how many (0 when empty). */
static inline uint64_t ref_lamport_pop_burst(struct ref_lamport *q, void *elems, uint64_t n, uint32_t size)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t k = ref_lamport_ready(q, t, n);

	if (!k)
		return 0;
	ref_lamport_copy_run(q, t, elems, k, size, 0);
	/* C2: pairs with the producer's acquire load of tail (P0). */
	atomic_store_explicit(&q->tail, t + k, memory_order_release);
	return k;
}

#endif /* SHMRING_BENCH_REF_LAMPORT_H */
