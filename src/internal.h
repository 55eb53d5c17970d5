/* SPDX-License-Identifier: MIT */
/* Library-internal declarations: not installed, not API. */
#ifndef SHMRING_SRC_INTERNAL_H
#define SHMRING_SRC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include <shmring/shmring.h>
#include <shmring/topo.h>
#include <shmring/wait.h>

#define SHMRING_HIDDEN __attribute__((visibility("hidden")))

#define SHMRING_SHM_DIR "/dev/shm" /* where shm_open(3) keeps named objects */

/*
 * Per-type geometry and set-up. geometry() fills the derived header fields
 * (slot_stride, data_size) from the requested ones and is used both by
 * create and, on the private copy, by open to check what a header claims.
 */
struct shmring_kind_ops {
	uint32_t type;
	const char *name;
	/* The SHMRING_F_* a ring of this kind may carry (create refuses
	 * others with -EINVAL, open with -EPROTO). */
	uint32_t flags;
	/* Fill hdr->slot_stride and hdr->data_size from slot_size and
	 * capacity; -EINVAL (with detail) when they are out of range. */
	int (*geometry)(struct shmring_hdr *hdr);
	/* Initialise control blocks and data of a new ring. */
	void (*init)(const struct shmring_hdr *hdr, struct shmring_ctrl *ctrl, unsigned char *data);
	/* Optional: after init, record in the kind blocks what the creator
	 * asked for beyond the header (broadcast: the eviction deadline). */
	void (*setup)(struct shmring_ctrl *ctrl, const struct shmring_params *p);
	/* Optional: every read-only check attach makes of the shared state
	 * (positions, kind words), run before the endpoint is registered,
	 * so that an open refused for what it found has written nothing.
	 * -EPROTO with detail. Not run for observers, which trust nothing. */
	int (*check)(const struct shmring *r);
	/* Set up a freshly attached handle (positions, caches); runs after
	 * check() and registration, and may still refuse what changed since. */
	int (*attach)(struct shmring *r);
	/* Optional, multi mode: does the ACTIVE entry e of a dead process hold
	 * nothing the ring still needs? Then registration takes it over. */
	bool (*ep_idle)(const struct shmring *r, struct shmring_endpoint *e);
	/* Optional, multi mode: settle dead entries that hold something, from
	 * any handle (MPMC recovery), when the table is full. Returns how many
	 * entries it freed, or -errno. */
	int (*ep_settle)(struct shmring *r);
	/* Recover from dead endpoints, behind shmring_recover() (recover.c):
	 * find them, release or skip what they held, free their entries.
	 * Returns how many it recovered, or -errno (with detail). */
	int (*recover)(struct shmring *r);
	/* Optional: at each liveness check of a wait (futex.c, ready.c,
	 * unless SHMRING_WAIT_F_NO_RECOVER), let the waiter recover a ring
	 * stalled by a dead endpoint itself. side: the waiter's side;
	 * peers_dead: the check found the other side dead. Returns the
	 * number of dead endpoints whose holdings were released (> 0: the
	 * wait re-checks), 0, or -errno. */
	int (*stall_check)(struct shmring *r, uint32_t side, int peers_dead);
	/* Optional: settle what the handle holds before its endpoint leaves
	 * (shmring_close, owner process only). */
	void (*detach)(struct shmring *r);
	/* The ready predicates of a wait for room (producer) and for data
	 * (consumer), as the kind's own blocking calls use them; what an
	 * outside waiter (shmring_wait_arm, ready.c) re-checks. */
	shmring_wait_ready_fn *ready_prod;
	shmring_wait_ready_fn *ready_cons;
	/* The two positions the fill is counted between, one load each and
	 * the consumers' first: *tail (released, or claimed) and *head
	 * (published, or claimed). Reads only; any handle (stats.c). */
	void (*positions)(const struct shmring *r, uint64_t *head, uint64_t *tail);
};

/* The kind of ring type `type` (kinds.c), NULL if none. */
SHMRING_HIDDEN const struct shmring_kind_ops *shmring__kind_ops(uint32_t type);
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__spsc_ops;
/* Slot rings' geometry: sequence word + payload, rounded (spsc.c). */
SHMRING_HIDDEN int shmring__slot_geometry(struct shmring_hdr *hdr);
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__mpmc_ops;
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__msg_spsc_ops;
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__msg_mpsc_ops;
SHMRING_HIDDEN extern const struct shmring_kind_ops shmring__bcast_ops;

/* MPMC: the ring's kind block (layout.h struct shmring_mpmc_block). */
SHMRING_HIDDEN struct shmring_mpmc_block *shmring__mpmc_block(struct shmring_ctrl *c);

/* MPMC recovery (mpmc_recover.c): shmring__mpmc_ops' recover, ep_settle
 * (recover, and so free, dead entries for a registration that finds the
 * table full, waiting briefly for another recoverer) and stall_check. */
SHMRING_HIDDEN int shmring__mpmc_recover(struct shmring *r);
SHMRING_HIDDEN int shmring__mpmc_ep_settle(struct shmring *r);
SHMRING_HIDDEN int shmring__mpmc_stall_check(struct shmring *r, uint32_t side, int peers_dead);

/* The validated private copy of an attached handle's header (region.c):
 * what open checked, never re-read from the shared page. */
SHMRING_HIDDEN const struct shmring_hdr *shmring__hdr_copy(const struct shmring *r);

/* An MPMC endpoint's claim, from its claim_pos cp and claim_end ce
 * (the encoding is in mpmc.h): 1 won, 0 announced but not yet won, -1 none
 * (ce == cp) or not a claim (a corrupt entry). *n receives its length. */
static inline int shmring__claim_decode(uint64_t cp, uint64_t ce, uint64_t capacity, uint64_t *n)
{
	if (ce - cp - 1 < capacity) {
		*n = ce - cp;
		return 1;
	}
	if (cp - ce - 1 < capacity) {
		*n = cp - ce;
		return 0;
	}
	return -1;
}

/*
 * Test hook: tests (which link the static library) set it, in a child
 * they then SIGKILL, to stop at a labelled point of a slow path. NULL in
 * every other program; never set it outside tests.
 */
#define SHMRING_FAULT_EP_CLAIMED 1 /* registration: entry taken (BUSY), nothing filled in */
#define SHMRING_FAULT_EP_REAPING 2 /* recovery: a dead entry taken (BUSY), not yet freed */
#define SHMRING_FAULT_SET_CTL_OPENED 20 /* set poll: an announced ring opened, not yet a member */
#define SHMRING_FAULT_MSG_DETACH 40 /* close: MPSC producer, reservation open, before its guarded store */
#define SHMRING_FAULT_MPMC_CLAIMS 41 /* MPMC attach: between loading the two claim counters */
SHMRING_HIDDEN extern void (*shmring__test_fault_hook)(int point);
#define SHMRING__FAULT(point)                                   \
	do {                                                    \
		if (shmring__test_fault_hook)                   \
			shmring__test_fault_hook(point);        \
	} while (0)

/* Store 0 into a 32-bit word of the mapping through the kernel
 * (FUTEX_WAKE_OP, endpoint.c): never SIGBUS, -EFAULT where a peer cut the
 * object short. Slow paths only (close, detach). */
SHMRING_HIDDEN int shmring__store_zero_guarded(void *word); /* after a release fence */

/*
 * shm_open(path, oflag) that waits, until deadline_ns (CLOCK_MONOTONIC),
 * for the name to appear (name_wait.c: inotify on /dev/shm, else a
 * backoff poll). Returns the descriptor, or -ETIMEDOUT (no such name by
 * the deadline; the detail gives timeout_ms) or shm_open's -errno.
 */
SHMRING_HIDDEN int shmring__shm_open_wait(const char *path, int oflag, uint64_t deadline_ns,
					  uint32_t timeout_ms);
/* Test hook: nonzero makes that wait poll with its backoff, as where
 * inotify is unavailable. 0 in every program but the tests. */
SHMRING_HIDDEN extern int shmring__test_no_inotify;

/* Record a detail for shmring_errdetail() and return err (negative). */
SHMRING_HIDDEN int shmring__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SHMRING_HIDDEN void shmring__clear_detail(void);

SHMRING_HIDDEN uint64_t shmring__now_ns(int clock);

/*
 * The detail of a create that found no room (region.c): "<what> <need>
 * bytes: <strerror(err)>; <where> is <fs_size>, <fs_free> free, the ring
 * needs <need>" (fs_size 0: a file system without a limit of its own).
 * Returns what snprintf does.
 */
SHMRING_HIDDEN int shmring__nospace_text(char *buf, size_t len, const char *what, int err,
					 uint64_t need, const char *where, uint64_t fs_size,
					 uint64_t fs_free);

/*
 * Shared by create (region.c) and open (region_open.c): a ring name
 * checked and written as "/name", a role checked, the whole layout
 * derived from the fields that define it, and a new mapping attached
 * (on failure map is unmapped and fd left to the caller).
 */
SHMRING_HIDDEN int shmring__check_name(const char *name, char out[SHMRING_NAME_MAX + 2]);
SHMRING_HIDDEN int shmring__check_role(uint32_t role, bool observer_ok);
SHMRING_HIDDEN int shmring__derive(struct shmring_hdr *h, uint32_t type, uint32_t slot_size,
				   uint64_t capacity, uint32_t ep_count, uint64_t page_size);
SHMRING_HIDDEN int shmring__attach_new(struct shmring *r, const struct shmring_hdr *h, int fd,
				       void *map, bool writable, uint32_t role, uint32_t timeout_ms);

/* Type (SHMRING_SPSC...) from kind and modes, 0 if no such type. */
SHMRING_HIDDEN uint32_t shmring__type_of(uint32_t kind, uint32_t prod_mode, uint32_t cons_mode);

/*
 * Placement at create (place.c), used by region.c in this order: prepare
 * (check the request, resolve the node and page size), huge_check (after
 * the layout is known), bind (after mmap, before the pages are allocated),
 * bind_end (after posix_fallocate), map (prefault/mlock; also on open).
 */
struct shmring__place {
	uint64_t page_size; /* page size for the layout */
	int32_t node;       /* node to bind to, -1 none */
	int32_t req_node;   /* node recorded in the header, -1 none */
	uint32_t outcome;   /* SHMRING_PLACE_FELL_BACK */
	bool hugetlb;       /* memfd with MFD_HUGETLB */
	void *saved;        /* thread memory policy saved around the pre-allocation */
};
SHMRING_HIDDEN int shmring__place_prepare(struct shmring__place *pl, const struct shmring_params *p,
					  bool anon);
/* The default huge page size in bytes (/proc/meminfo), 0 if none (place.c). */
SHMRING_HIDDEN uint64_t shmring__huge_page_size(void);
/* 0: fine, 1: fell back to normal pages (re-derive with pl->page_size), <0 error. */
SHMRING_HIDDEN int shmring__place_huge_check(struct shmring__place *pl, uint64_t total_size,
					     uint32_t flags);
SHMRING_HIDDEN int shmring__place_bind(struct shmring__place *pl, void *map, size_t len,
				       uint32_t flags);
SHMRING_HIDDEN void shmring__place_bind_end(struct shmring__place *pl);
/*
 * The backend (place_hwloc.c, or topo_nohwloc.c without hwloc): the node
 * of a request prepare has checked (one of NODE, NEAR, LOCAL is set), and
 * where the pages of map are (out->pages and os_page_size filled in).
 */
SHMRING_HIDDEN int shmring__place_node(struct shmring__place *pl, const struct shmring_params *p);
SHMRING_HIDDEN int shmring__place_locate(const void *map, struct shmring_placement *out);
/* A fallback: the text goes to errdetail and, unless quiet, to stderr. */
SHMRING_HIDDEN void shmring__place_warn(uint32_t flags, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The largest CPU count thread binding and the affinity reads handle. */
#define SHMRING__BIND_CPU_MAX (1 << 16)
/* Prefault / mlock as flags ask; only a creator without FALLBACK gets errors. */
SHMRING_HIDDEN int shmring__place_map(void *map, size_t len, uint32_t flags, bool creating,
				      bool writable);

static inline bool shmring__is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Ring sets (set.c) and the futex slow path (futex.c). */
SHMRING_HIDDEN void shmring__doorbell_ring(struct shmring_wait *d);
/* Close: drop an outside waiter's count left armed (shmring_wait_arm). */
SHMRING_HIDDEN void shmring__wait_release(struct shmring *r);
SHMRING_HIDDEN int shmring__arm_barrier_multi(int need_membarrier);
SHMRING_HIDDEN long shmring__futex_wait_abs(SHMRING_ATOMIC(uint32_t) *word, uint32_t val,
					    uint64_t until_ns);
/* One entry of futex_waitv (the kernel's struct futex_waitv, which older
 * headers lack). */
struct shmring__futex_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};
/* futex_waitv until an absolute CLOCK_MONOTONIC time (UINT64_MAX: none);
 * -1 with errno as the system call. */
SHMRING_HIDDEN long shmring__futex_waitv_abs(struct shmring__futex_waitv *w, uint32_t n, uint64_t until_ns);

#endif
