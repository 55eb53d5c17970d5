/* SPDX-License-Identifier: MIT */
/*
 * Statistics of a ring: one call that copies what the ring keeps in shared
 * memory (geometry, positions, fill, counters, endpoints) into a struct
 * of the caller's, for every ring kind and through any handle (producer,
 * consumer, observer, SHMRING_ROLE_NONE).
 *
 * Reading is all it does: relaxed (and, for the positions, acquire)
 * loads, no store, no futex call, no recovery. So it never disturbs the
 * ring and may be called at any rate from a monitoring thread, or through
 * an observer's read-only handle from another process. The values of a
 * moving ring are each exact when loaded; head and tail are read as a
 * pair that existed at one moment when SHMRING_STATS_CONSISTENT says so.
 *
 * Versioned structs: the caller sets `size` to sizeof the struct it was
 * built with; the library fills what it knows up to that size, zeroes
 * the rest of the caller's struct, and writes back in `size` how many
 * bytes it filled. A caller built with an older, smaller struct keeps
 * working with a newer library (it gets the fields it knows), and a
 * newer caller learns from `size` (and from `valid`) which fields an
 * older library did not fill. The reserved words are zero today.
 *
 * The counters are those of layout.h (struct shmring_stats in struct
 * shmring_ctrl); read them here rather than through the layout, whose
 * blocks and offsets are the ring's ABI, not an interface.
 * docs/stats.md describes every field.
 */
#ifndef SHMRING_STATS_H
#define SHMRING_STATS_H

#include <shmring/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* shmring_ring_stats.valid and shmring_ep_stats.valid */
#define SHMRING_STATS_BASE 0x1u       /* every field not named below */
#define SHMRING_STATS_COUNTERS 0x2u   /* the ring keeps the fast-path counters (SHMRING_F_COUNTERS):
				       * blocked, high_water and the endpoints' ops hold values,
				       * and corrupt counts the fast paths' detections too */
#define SHMRING_STATS_CONSISTENT 0x4u /* head and tail were read as a pair that existed at
				       * one moment (else fill is an estimate, within capacity) */

/* One side's part of struct shmring_ring_stats: the producers (prod) or
 * the consumers (cons). */
struct shmring_ring_side {
	uint64_t pos;          /* the side's position word, ctrl->prod.pos / cons.pos (layout.h) */
	uint64_t claim;        /* the side's claim word, ctrl->prod.claim / cons.claim; which of
				* the two a kind moves: docs/stats.md (head and tail are the
				* positions to count with) */
	uint64_t gone;         /* dead endpoints of the side whose entries were freed while no
				* live one of the side was left (layout.h) */
	uint32_t live;         /* endpoints of the side whose process is alive */
	uint32_t dead;         /* entries of the side still registered by dead processes */
	uint32_t waiters;      /* asleep in a blocking call of wait.h now */
	uint32_t reserved0;
	uint64_t blocked;      /* SHMRING_STATS_COUNTERS: try operations that found the ring full
				* (producers) or empty (consumers) */
	uint64_t high_water;   /* SHMRING_STATS_COUNTERS, producers only: the most slots (bytes)
				* seen in use; consumers: 0 */
	uint64_t sleeps;       /* futex waits entered */
	uint64_t wakes;        /* futex wakes this side sent to the other */
	uint64_t wakes_empty;  /* wakes that found nobody asleep */
	uint64_t futex_calls;  /* futex system calls of any kind */
	uint64_t skipped;      /* slots or records given up (producers: marked skipped by
				* recovery, or given back by a close with a reservation
				* open; consumers: passed over) */
	uint64_t lost;         /* consumers: messages a dead consumer held, given up by recovery */
	uint64_t corrupt;      /* inconsistent peer state detected (always by the slow paths; by
				* the fast paths only with SHMRING_STATS_COUNTERS) */
	uint64_t solo_grants;  /* MPMC: claim mode granted or handed on (mpmc.h) */
	uint64_t solo_revokes; /* MPMC: claim mode taken back */
	uint64_t reserved[4];
};

/* A snapshot of one ring (shmring_stats). */
struct shmring_ring_stats {
	uint32_t size;        /* in: sizeof(struct shmring_ring_stats); out: bytes filled */
	uint32_t valid;       /* SHMRING_STATS_* */
	uint32_t type;        /* SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC */
	uint32_t flags;       /* the ring's SHMRING_F_* */
	uint64_t capacity;    /* slots, or bytes for a message ring */
	uint32_t slot_size;   /* payload bytes per slot; message rings: the largest message */
	uint32_t slot_stride; /* slot rings: bytes per slot, its sequence word included; else 0 */
	uint64_t total_size;  /* bytes of the shared object (docs/sizing.md) */
	uint64_t init_pos;    /* the first position: head - init_pos is what was ever written */
	uint64_t head;        /* the producers' position fill counts from: published, or
			       * claimed for multi-producer kinds (MPMC, MSG_MPSC) */
	uint64_t tail;        /* the consumers' position: released, or claimed (MPMC) */
	uint64_t fill;        /* head - tail: slots or bytes in use now, 0..capacity */
	uint32_t ep_count;    /* endpoint table entries (shmring_endpoint_stats' indices) */
	uint32_t endpoints;   /* entries in use now, alive or not */
	struct shmring_ring_side prod;
	struct shmring_ring_side cons;
	uint64_t reserved[8];
};

/* What the first version of the struct holds; no caller passes less. */
#define SHMRING_RING_STATS_SIZE_V1 464u

/* One entry of a ring's endpoint table (shmring_endpoint_stats). */
struct shmring_ep_stats {
	uint32_t size;       /* in: sizeof(struct shmring_ep_stats); out: bytes filled */
	uint32_t valid;      /* SHMRING_STATS_BASE, plus SHMRING_STATS_COUNTERS for ops */
	uint32_t index;      /* entry in the table: 0 the single producer, 1 the single consumer,
			      * 2.. multi-mode endpoints */
	uint32_t state;      /* SHMRING_EP_ACTIVE, or SHMRING_EP_BUSY (being taken) */
	uint32_t role;       /* SHMRING_PRODUCER or SHMRING_CONSUMER */
	uint32_t alive;      /* 1: its process is alive (pid and start time) */
	int32_t pid;         /* its process (BUSY: the process taking it) */
	int32_t tid;         /* its thread at attach */
	uint64_t start_time; /* its process' start, clock ticks after boot */
	uint64_t attach_ns;  /* CLOCK_REALTIME at attach */
	uint64_t claim_pos;  /* multi mode: first position claimed, not finished; SHMRING_NO_CLAIM */
	uint64_t claim_end;  /* see layout.h (struct shmring_endpoint) */
	uint64_t ops;        /* SHMRING_STATS_COUNTERS: operations completed (MPMC) */
	uint64_t taken;      /* MPMC consumer: messages a blocking pop took, not yet returned */
	uint64_t reserved[6];
};

#define SHMRING_EP_STATS_SIZE_V1 128u

SHMRING_STATIC_ASSERT(sizeof(struct shmring_ring_side) == 160, "ring side stats");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_ring_stats) == SHMRING_RING_STATS_SIZE_V1, "ring stats v1");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_ep_stats) == SHMRING_EP_STATS_SIZE_V1, "ep stats v1");

/*
 * Copy the statistics of the ring r is attached to into *out, whose
 * `size` the caller sets first (see above). r may be any handle attached
 * in this process, of any role. Reads only.
 * Returns 0, or -EINVAL (r or out NULL; out->size smaller than
 * SHMRING_RING_STATS_SIZE_V1, larger than 65536 or not a multiple of 8),
 * -EBADF (r is closed, was never attached, or was inherited across
 * fork(): shmring_dup() gives the child a handle of its own). On an
 * error nothing is written to *out, and shmring_errdetail() says why.
 */
SHMRING_API int shmring_stats(const struct shmring *r, struct shmring_ring_stats *out);

/*
 * Copy entry `index` (0 .. ep_count - 1) of the ring's endpoint table
 * into *out, whose `size` the caller sets first. Reads only.
 * Returns 0, or -ENOENT (the entry is free: no endpoint there now),
 * -EINVAL (r or out NULL, bad out->size as for shmring_stats, index not
 * below ep_count), -EBADF (as for shmring_stats). On an error nothing is
 * written to *out.
 */
SHMRING_API int shmring_endpoint_stats(const struct shmring *r, uint32_t index,
				       struct shmring_ep_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_STATS_H */
