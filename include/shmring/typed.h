/* SPDX-License-Identifier: MIT */
/*
 * Typed SPSC rings: the element type, and so its size, known at compile
 * time (like ck_ring's CK_RING_PROTOTYPE).
 *
 *   SHMRING_SPSC_TYPED(name, type)
 *
 * at file scope defines, over an ordinary SPSC ring (struct shmring) whose
 * slot_size is sizeof(type):
 *
 *   void    name_params_init(struct shmring_params *p, uint64_t capacity);
 *   int     name_create(struct shmring *r, const char *ring, uint64_t capacity,
 *                       uint32_t role);
 *   int     name_create_anon(struct shmring *r, uint64_t capacity, uint32_t role);
 *   int     name_open(struct shmring *r, const char *ring, uint32_t role,
 *                     const struct shmring_open_opts *opts);
 *   int     name_check(const struct shmring *r);
 *   int     name_try_push(struct shmring *r, const type *e);
 *   int     name_try_pop(struct shmring *r, type *e);
 *   int64_t name_push_burst(struct shmring *r, const type *e, uint64_t n);
 *   int64_t name_pop_burst(struct shmring *r, type *e, uint64_t n);
 *
 * The copies are compiled for sizeof(type), a constant: small elements
 * move as a few register moves with no call and no per-message size
 * load. The ring is the same ring, the same layout and protocol as
 * spsc.h's (these functions are its building blocks with the size
 * fixed), so a typed producer and an untyped consumer, or a dump tool,
 * share it.
 *
 * A ring of another slot size is refused, never overflowed:
 * name_open asks shmring_open for slot_size == sizeof(type) (a ring of
 * another size: -EPROTO before anything is attached, the detail names
 * both sizes); name_check (shmring_spsc_check_size) refuses one with
 * -EINVAL and the detail, for handles from shmring_open_fd or
 * shmring_dup; and each operation returns -EINVAL for a ring of another
 * slot size (one compare with a constant) before it copies.
 *
 * The operations return what their spsc.h counterparts return
 * (shmring_spsc_try_push ...), plus that -EINVAL; sizeof(type) must be
 * from 1 to SHMRING_SLOT_MAX (a compile-time assertion).
 */
#ifndef SHMRING_TYPED_H
#define SHMRING_TYPED_H

#include <string.h>

#include <shmring/shmring.h>

/* The typed functions are forced inline like spsc.h's fast paths. */
#if defined(__GNUC__) || defined(__clang__)
#define SHMRING_TYPED_FN static inline __attribute__((always_inline, unused))
#else
#define SHMRING_TYPED_FN static inline
#endif

#define SHMRING_SPSC_TYPED(name, etype)                                                         \
	SHMRING_TYPED_FN void name##_params_init(struct shmring_params *p, uint64_t capacity)   \
	{                                                                                       \
		shmring_params_init(p, SHMRING_SPSC, capacity, (uint32_t)sizeof(etype));        \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_create(struct shmring *r, const char *ring, uint64_t capacity, \
					   uint32_t role)                                       \
	{                                                                                       \
		struct shmring_params p;                                                        \
		name##_params_init(&p, capacity);                                               \
		return shmring_create(r, ring, &p, role);                                       \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_create_anon(struct shmring *r, uint64_t capacity, uint32_t role) \
	{                                                                                       \
		struct shmring_params p;                                                        \
		name##_params_init(&p, capacity);                                               \
		return shmring_create_anon(r, &p, role);                                        \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_open(struct shmring *r, const char *ring, uint32_t role,    \
					 const struct shmring_open_opts *opts)                  \
	{                                                                                       \
		struct shmring_open_opts o;                                                     \
		if (opts)                                                                       \
			o = *opts;                                                              \
		else                                                                            \
			memset(&o, 0, sizeof(o));                                               \
		o.type = SHMRING_SPSC;                                                          \
		o.slot_size = (uint32_t)sizeof(etype);                                          \
		return shmring_open(r, ring, role, &o);                                         \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_check(const struct shmring *r)                              \
	{                                                                                       \
		return shmring_spsc_check_size(r, (uint32_t)sizeof(etype));                     \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_try_push(struct shmring *r, const etype *e)                 \
	{                                                                                       \
		if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))                     \
			return -EBADF;                                                          \
		if (shmring_unlikely(r->slot_size != sizeof(etype)))                            \
			return -EINVAL;                                                         \
		return shmring_spsc__push_one(r, e, (uint32_t)sizeof(etype));                   \
	}                                                                                       \
	SHMRING_TYPED_FN int name##_try_pop(struct shmring *r, etype *e)                        \
	{                                                                                       \
		if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))                     \
			return -EBADF;                                                          \
		if (shmring_unlikely(r->slot_size != sizeof(etype)))                            \
			return -EINVAL;                                                         \
		return shmring_spsc__pop_one(r, e, (uint32_t)sizeof(etype));                    \
	}                                                                                       \
	SHMRING_TYPED_FN int64_t name##_push_burst(struct shmring *r, const etype *e, uint64_t n) \
	{                                                                                       \
		if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_PRODUCER))                     \
			return -EBADF;                                                          \
		if (shmring_unlikely(r->slot_size != sizeof(etype)))                            \
			return -EINVAL;                                                         \
		return shmring_spsc__push_some(r, e, n, (uint32_t)sizeof(etype));               \
	}                                                                                       \
	SHMRING_TYPED_FN int64_t name##_pop_burst(struct shmring *r, etype *e, uint64_t n)      \
	{                                                                                       \
		if (!SHMRING_KEY_IS(r, SHMRING_KEY_SPSC, SHMRING_CONSUMER))                     \
			return -EBADF;                                                          \
		if (shmring_unlikely(r->slot_size != sizeof(etype)))                            \
			return -EINVAL;                                                         \
		return shmring_spsc__pop_some(r, e, n, (uint32_t)sizeof(etype));                \
	}                                                                                       \
	SHMRING_STATIC_ASSERT(sizeof(etype) >= 1 && sizeof(etype) <= SHMRING_SLOT_MAX,          \
			      "SHMRING_SPSC_TYPED: the element size must be 1 to SHMRING_SLOT_MAX")

#endif /* SHMRING_TYPED_H */
