/* SPDX-License-Identifier: MIT */
/* Library-internal declarations: not installed, not API. */
#ifndef SHMRING_SRC_INTERNAL_H
#define SHMRING_SRC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include <shmring/shmring.h>

#define SHMRING_HIDDEN __attribute__((visibility("hidden")))

/*
 * Per-type geometry and set-up. geometry() fills the derived header fields
 * (slot_stride, data_size) from the requested ones and is used both by
 * create and, on the private copy, by open to check what a header claims.
 */
struct shmring_kind_ops {
	uint32_t type;
	const char *name;
	/* Fill hdr->slot_stride and hdr->data_size from slot_size and
	 * capacity; -EINVAL (with detail) when they are out of range. */
	int (*geometry)(struct shmring_hdr *hdr);
	/* Initialise control blocks and data of a new ring. */
	void (*init)(const struct shmring_hdr *hdr, struct shmring_ctrl *ctrl, unsigned char *data);
	/* Set up a freshly attached handle (positions, caches). */
	int (*attach)(struct shmring *r);
};

SHMRING_HIDDEN const struct shmring_kind_ops *shmring__kind_ops(uint32_t type);
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__spsc_ops;

/* Record a detail for shmring_errdetail() and return err (negative). */
SHMRING_HIDDEN int shmring__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SHMRING_HIDDEN void shmring__clear_detail(void);

SHMRING_HIDDEN uint64_t shmring__now_ns(int clock);

/* Type (SHMRING_SPSC...) from kind and modes, 0 if no such type. */
SHMRING_HIDDEN uint32_t shmring__type_of(uint32_t kind, uint32_t prod_mode, uint32_t cons_mode);

static inline bool shmring__is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif
