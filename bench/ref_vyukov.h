/* SPDX-License-Identifier: MIT */
/*
 * Reference for comparison: Dmitry Vyukov's bounded MPMC queue (per-slot
 * sequence numbers), written from its published description for the
 * benchmark and for the MPMC design notes in include/shmring/mpmc.h.
 * Not part of the library; no recovery, no endpoint table.
 *
 * Everything lives in one caller-provided block (shared memory works: no
 * pointers inside), laid out like a shmring slot ring: head and tail in
 * their own 128-byte blocks, then `capacity` slots of `stride` bytes, each
 * an 8-byte sequence word followed by the payload.
 *
 *   seq == pos        the slot is free for the producer of position pos
 *   seq == pos + 1    the slot holds the message of position pos
 *
 * Producer: load tail, load seq; if seq == tail, CAS tail -> tail + 1,
 * write, store seq = pos + 1 (release). Consumer: load head, load seq; if
 * seq == head + 1, CAS head -> head + 1, read, store seq = pos + capacity
 * (release). The consumer's store sends the slot's line back to the
 * producer side, which is the cost shmring's MPMC ring avoids.
 */
#ifndef SHMRING_BENCH_REF_VYUKOV_H
#define SHMRING_BENCH_REF_VYUKOV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ref_vyukov {
	_Alignas(128) _Atomic uint64_t tail; /* producers */
	uint8_t pad0[120];
	_Alignas(128) _Atomic uint64_t head; /* consumers */
	uint8_t pad1[120];
	uint64_t mask;
	uint32_t stride;
	uint32_t elem_size;
	uint8_t pad2[112];
	/* slots follow, 128-byte aligned */
};

static inline uint32_t ref_vyukov_stride(uint32_t elem_size)
{
	uint32_t s = 8 + ((elem_size + 7u) & ~7u), p = 16;

	if (s > 64)
		return (s + 63u) & ~63u;
	while (p < s)
		p <<= 1;
	return p;
}

/* Bytes needed for a queue of `capacity` (a power of two) elements. */
static inline size_t ref_vyukov_size(uint64_t capacity, uint32_t elem_size)
{
	return sizeof(struct ref_vyukov) + capacity * ref_vyukov_stride(elem_size);
}

static inline _Atomic uint64_t *ref_vyukov_seq(struct ref_vyukov *q, uint64_t pos)
{
	return (_Atomic uint64_t *)(void *)((unsigned char *)(q + 1) + (pos & q->mask) * q->stride);
}

static inline void *ref_vyukov_slot(struct ref_vyukov *q, uint64_t pos)
{
	return (unsigned char *)ref_vyukov_seq(q, pos) + 8;
}

static inline void ref_vyukov_init(struct ref_vyukov *q, uint64_t capacity, uint32_t elem_size)
{
	memset(q, 0, sizeof(*q));
	q->mask = capacity - 1;
	q->stride = ref_vyukov_stride(elem_size);
	q->elem_size = elem_size;
	for (uint64_t i = 0; i < capacity; i++)
		atomic_store_explicit(ref_vyukov_seq(q, i), i, memory_order_relaxed);
	atomic_store_explicit(&q->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&q->head, 0, memory_order_release);
}

/* Same copy as shmring__slot_copy (spsc.h): 8-byte words through a
 * register the compiler must keep, so gcc does not make it `rep movsq`. */
static inline void ref_vyukov_copy(void *dst, const void *src, uint32_t n)
{
	if (n <= 64 && (n & 7u) == 0) {
		unsigned char *d = (unsigned char *)dst;
		const unsigned char *s = (const unsigned char *)src;

		__asm__("" : "+r"(d), "+r"(s));
		for (uint32_t i = 0; i < n; i += 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			__asm__("" : "+r"(w));
			memcpy(d + i, &w, 8);
		}
	} else {
		memcpy(dst, src, n);
	}
}

/* 0, or -1 when full. */
static inline int ref_vyukov_push(struct ref_vyukov *q, const void *elem)
{
	uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		/* Acquire: pairs with the consumer's release store of seq. */
		uint64_t seq = atomic_load_explicit(ref_vyukov_seq(q, pos), memory_order_acquire);
		int64_t d = (int64_t)(seq - pos);

		if (d == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (d < 0) {
			return -1;
		} else {
			pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
		}
	}
	ref_vyukov_copy(ref_vyukov_slot(q, pos), elem, q->elem_size);
	/* Release: pairs with the consumer's acquire load of seq. */
	atomic_store_explicit(ref_vyukov_seq(q, pos), pos + 1, memory_order_release);
	return 0;
}

/* 0, or -1 when empty. */
static inline int ref_vyukov_pop(struct ref_vyukov *q, void *elem)
{
	uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

	for (;;) {
		/* Acquire: pairs with the producer's release store of seq. */
		uint64_t seq = atomic_load_explicit(ref_vyukov_seq(q, pos), memory_order_acquire);
		int64_t d = (int64_t)(seq - (pos + 1));

		if (d == 0) {
			if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (d < 0) {
			return -1;
		} else {
			pos = atomic_load_explicit(&q->head, memory_order_relaxed);
		}
	}
	ref_vyukov_copy(elem, ref_vyukov_slot(q, pos), q->elem_size);
	/* Release: pairs with the producer's acquire load of seq. */
	atomic_store_explicit(ref_vyukov_seq(q, pos), pos + q->mask + 1, memory_order_release);
	return 0;
}

#endif /* SHMRING_BENCH_REF_VYUKOV_H */
