/* SPDX-License-Identifier: MIT */
/*
 * shmring: lock-free ring buffers in POSIX shared memory.
 *
 * Lifecycle, options, errors and version. The fast paths are inline in
 * spsc.h (and the other ring headers); this header is included by them.
 *
 * Every function returns 0 or a count on success and a negative errno on
 * failure; errno itself is never the channel. shmring_strerror() turns a
 * code into text and shmring_errdetail() says, for the last failure of the
 * calling thread, which field or value was wrong. Besides the codes each
 * function lists, one that makes system calls can return theirs (named,
 * with the call, in the detail).
 */
#ifndef SHMRING_SHMRING_H
#define SHMRING_SHMRING_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/layout.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_VERSION_MAJOR 0
#define SHMRING_VERSION_MINOR 1
#define SHMRING_VERSION_PATCH 0

/* Ring types: a kind plus producer and consumer modes. */
#define SHMRING_SPSC 1u     /* fixed slots, one producer, one consumer */
#define SHMRING_MPMC 2u     /* fixed slots, any number of each */
#define SHMRING_MSG_SPSC 3u /* variable-length messages, one producer */
#define SHMRING_MSG_MPSC 4u /* variable-length messages, many producers */
#define SHMRING_BROADCAST 5u /* fixed slots, one producer, readers that each see every message */

#define SHMRING_NAME_MAX 200 /* bytes of a name, leading '/' included */
#define SHMRING_SLOT_MAX (1u << 20)
#define SHMRING_DEFAULT_MODE 0600u
#define SHMRING_DEFAULT_OPEN_TIMEOUT_MS 1000u

/* What a creator asks for. Zero-initialise, then set what matters. */
struct shmring_params {
	uint32_t type;          /* SHMRING_SPSC, ... */
	uint32_t slot_size;     /* bytes per slot; message rings: largest message (0: capacity / 4) */
	uint64_t capacity;      /* slots, or bytes for message rings: a power of two */
	uint32_t mode;          /* permission bits of the object; 0: 0600 */
	uint32_t flags;         /* SHMRING_F_COUNTERS; MPMC: SHMRING_F_SOLO (or NO_SOLO, the default);
				 * broadcast: SHMRING_F_LOSSY */
	uint32_t max_endpoints; /* multi-mode rings: endpoint table size; 0: 64 */
	int32_t numa_node;      /* SHMRING_PLACE_NODE: the NUMA node (topo.h); else unused */
	uint32_t place_flags;   /* SHMRING_PLACE_* (topo.h); 0: nothing requested */
	uint32_t reserved0;
	uint64_t init_pos;      /* first position; leave 0 (tests seed wrap-around with it) */
	uint64_t place_cpus[4]; /* SHMRING_PLACE_NEAR: bit n = CPU n (topo.h) */
	uint64_t evict_ns;      /* SHMRING_BROADCAST, lossless: evict a reader that keeps the
				 * producer gated at one position this long (ns); 0: never
				 * (dead readers are evicted all the same) */
	uint64_t reserved[3];
};

/* shmring_open_opts.flags */
#define SHMRING_OPEN_F_WAIT_CREATE 0x1u /* shmring_open: wait for a ring not created yet */
#define SHMRING_OPEN_F_ALL 0x1u

/* What an opener expects. NULL means: any ring, 0600, default timeout. */
struct shmring_open_opts {
	uint32_t type;       /* 0: any; else the ring must be this type */
	uint32_t slot_size;  /* 0: any; else the ring's slot size must be this */
	uint32_t mode;       /* widest permission bits accepted; 0: 0600 */
	uint32_t timeout_ms; /* wait for a creator still initialising (and, with
			      * SHMRING_OPEN_F_WAIT_CREATE, for the name); 0: default */
	uint32_t allow_uid;  /* also accept objects owned by this uid (with allow_other_uid) */
	uint32_t allow_other_uid;
	uint32_t flags;      /* SHMRING_OPEN_F_*; 0: none */
	uint32_t reserved0;
	uint64_t reserved[1];
};
SHMRING_STATIC_ASSERT(sizeof(struct shmring_open_opts) == 40, "open opts size");

/* Per-handle wait policy and state, owned by wait.h (zero: defaults). */
struct shmring_wait_state {
	uint32_t mode;        /* SHMRING_WAIT_* */
	uint32_t flags;       /* SHMRING_WAIT_F_* and internal SHMRING_WS_* bits */
	uint32_t spin_max_ns; /* spin-then-sleep: longest spin */
	uint32_t spin_ns;     /* current adaptive spin budget */
	uint32_t slice_ms;    /* peer liveness re-check period while waiting */
	uint32_t batch;       /* producer: wake check every `batch` pushes */
	uint32_t pending;     /* producer: pushes since the last wake check */
	uint32_t woke_prod;   /* futex word our last wake of producers left */
	uint32_t woke_cons;   /* futex word our last wake of consumers left */
	uint32_t reserved;
	uint64_t mark;        /* producer: wake check when the fill reaches this */
	uint64_t checked_ns;  /* CLOCK_MONOTONIC of this handle's last liveness check */
	uint64_t gone[2];     /* the gone counters (layout.h) of the producers [0] and
			       * consumers [1] as this handle's waits last took them */
};

/*
 * Handle keys. Every inline operation first compares the handle's key
 * with the one it needs: its ring kind and role, and this process's fork
 * generation. Any other value (another role or kind, an observer, a
 * closed or never opened handle, a handle inherited over fork()) gives
 * -EBADF before the ring is touched. The cost: one load of the process's
 * generation (a read-only, always cached word) and one predictable branch.
 */
#define SHMRING_KEY_SPSC 1u /* classes: SPSC slot ring */
#define SHMRING_KEY_MPMC 2u /* MPMC slot ring */
#define SHMRING_KEY_MSG 3u  /* message ring, either type */
#define SHMRING_KEY_BCAST 4u /* broadcast ring */
#define SHMRING_KEY(cls, role) ((uint64_t)(cls) << 8 | (uint64_t)(role))

/*
 * The fork generation of this process, shifted past the class and role
 * (never 0): a pthread_atfork child handler advances it, so that the
 * handles the child inherited no longer match. Library state; read-only.
 */
SHMRING_API extern uint64_t shmring__fork_gen;

/* The key of a handle with `role` on a ring of class `cls` in this process. */
#define SHMRING_KEY_NOW(cls, role) (SHMRING_KEY(cls, role) | shmring__fork_gen)
/* Does r's key say: class cls, role `role`, attached by this process? */
#define SHMRING_KEY_IS(r, cls, role) shmring_likely((r)->key == SHMRING_KEY_NOW(cls, role))
/* ... class cls, producer or consumer (role 1 or 2)? */
#define SHMRING_KEY_PC(r, cls) \
	shmring_likely((r)->key - SHMRING_KEY_NOW(cls, SHMRING_PRODUCER) <= 1u)
/* ... class cls, any role (observers and SHMRING_ROLE_NONE included)? */
#define SHMRING_KEY_ANY(r, cls) shmring_likely(((r)->key | 3u) == SHMRING_KEY_NOW(cls, 3u))

/*
 * A handle: one endpoint's private view of a ring. Per process (and per
 * thread: give each thread its own, see shmring_dup). The first fields are
 * read by the inline fast paths; the rest belongs to the library.
 *
 * Handles and fork(): a handle belongs to the process that opened it. In
 * a fork()ed child every inherited handle is refused: each operation
 * returns -EBADF, shmring_close() only unmaps it (the parent's endpoint
 * entry stays the parent's), and shmring_dup() from it gives the child
 * its own endpoint. So a child that keeps using a producer handle after
 * its parent exited (and a new producer took the entry over) gets an
 * error instead of writing into positions that are no longer its own.
 * This relies on pthread_atfork(): a child made by a raw clone(2) or
 * fork system call is not noticed. A handle may be copied or moved within
 * its process (the key holds nothing that points at the handle).
 */
struct shmring {
	uint64_t key;              /* SHMRING_KEY_NOW(class, role); 0 once closed */
	unsigned char *data;       /* data area */
	struct shmring_ctrl *ctrl; /* control blocks */
	uint64_t mask;             /* capacity - 1 */
	uint64_t pos;              /* this endpoint's next position */
	uint64_t cached;           /* producer: consumer position last seen; consumer: producer's */
	uint32_t stride;           /* slot rings: bytes per slot */
	uint32_t slot_size;        /* payload bytes per slot, or largest message */
	uint32_t flags;            /* SHMRING_F_* of the ring */
	uint32_t role;             /* SHMRING_PRODUCER, ... */
	uint64_t capacity;
	uint64_t hwm;              /* producer: high-water mark this handle last stored; MPMC:
	                            * claims in a row nobody else claimed between */

	/* slow path */
	struct shmring_hdr *hdr;
	struct shmring_endpoint *ep; /* our entry, or NULL */
	void *map;
	size_t map_size;
	int fd;
	int32_t owner_pid; /* process that attached this handle */
	uint32_t type;     /* SHMRING_SPSC, ... */
	uint32_t ep_count;
	uint64_t ext[8];   /* per-kind and wait-policy state */
	void *shared;      /* library: the process-local mapping, shared by shmring_dup */
	struct shmring_wait_state wait; /* blocking waits (wait.h) */
	struct shmring_wait *doorbell;  /* producer: the ring set doorbell it also rings (set.h) */
};

/* Fill *p with defaults for `type`, `capacity` and `slot_size`. */
SHMRING_API void shmring_params_init(struct shmring_params *p, uint32_t type,
				     uint64_t capacity, uint32_t slot_size);

/*
 * Bytes of the shared object shmring_create would make for p: header
 * page, control blocks, endpoint table and data area, rounded to pages
 * (the same geometry code create runs; docs/sizing.md has the formula
 * for each kind). With SHMRING_PLACE_HUGE in p->place_flags the size is
 * counted in huge pages, as shmring_create_anon takes them where the
 * system has huge pages (a named ring never has them). Nothing is
 * created; reads only p (and, for huge pages, /proc/meminfo).
 * Returns the size (> 0), or -EINVAL (p NULL, or a parameter create
 * would refuse: the detail names it), -ENOTSUP (ring type not built in).
 */
SHMRING_API int64_t shmring_params_size(const struct shmring_params *p);

/*
 * Create a named ring and attach to it as `role` (SHMRING_PRODUCER,
 * SHMRING_CONSUMER, or SHMRING_ROLE_NONE to attach as neither).
 * The ring is built unnamed in /dev/shm (O_TMPFILE) with p->mode (fchmod,
 * so the umask does not change it), sized and pre-allocated, the
 * creator's endpoint registered and the header marked ready; only then is
 * it linked to `name`, which never replaces an existing name. So an
 * opener never sees a ring in the making, a failed create removes nothing
 * (it never unlinks a name), and a creator killed at any point leaves no
 * name behind.
 * Returns 0, or -EINVAL (bad name or parameter), -EEXIST (the name exists,
 * as anything, a symlink too: it is not touched), -ENOSPC (no room in
 * /dev/shm), -ENOMEM, -ENOTSUP (ring type not built in), or the -errno of
 * the system call that failed, named in the detail: -EMFILE / -ENFILE (no
 * descriptor left), -EACCES / -EPERM (not allowed in /dev/shm), -EFBIG,
 * -EOPNOTSUPP (/dev/shm does not support O_TMPFILE), -ENOENT (no
 * /dev/shm); placement (topo.h) adds its own codes.
 */
SHMRING_API int shmring_create(struct shmring *r, const char *name,
			       const struct shmring_params *p, uint32_t role);

/*
 * Create a ring with no name (a sealed memfd), for threads and fork()ed
 * children; shmring_fd() gives a descriptor to pass to another process,
 * which attaches with shmring_open_fd(). Returns what shmring_create
 * does, less -EEXIST (memfd_create's codes for the object).
 */
SHMRING_API int shmring_create_anon(struct shmring *r, const struct shmring_params *p,
				    uint32_t role);

/*
 * Open an existing ring as SHMRING_PRODUCER, SHMRING_CONSUMER or
 * SHMRING_OBSERVER (read-only mapping). Waits up to opts->timeout_ms for a
 * creator still initialising.
 * With SHMRING_OPEN_F_WAIT_CREATE in opts->flags, a name that does not
 * exist yet is waited for too, within the same opts->timeout_ms (0: the
 * default, 1000 ms): the call sleeps (inotify on /dev/shm, else a short
 * backoff poll; never a busy loop) until a creator links the name, which
 * shmring_create does only once the ring is complete, then opens it as
 * usual. If no ring of that name appears in time it returns -ETIMEDOUT
 * (not -ENOENT; the detail says the name never appeared), so the caller
 * can tell "nobody created it" from "there is no such ring" only by the
 * flag it passed. Without the flag a missing name is -ENOENT at once.
 * Returns 0, or -ENOENT (no such name),
 * -EINVAL (bad name or role, unknown opts->flags), -ETIMEDOUT (never
 * became ready; with SHMRING_OPEN_F_WAIT_CREATE: or never appeared), -EPROTO
 * (header or size invalid: shmring_errdetail() names the field),
 * -EACCES / -EPERM (foreign owner or mode wider than accepted), -ELOOP
 * (symlink), -EBUSY (a single producer/consumer is already attached and
 * alive), -ENOSPC (endpoint table full of live processes, or of dead
 * ones that still hold what only recovery may free: the detail says how
 * many), -ENOMEM, -ENOTSUP (ring type not built in), -EMFILE / -ENFILE
 * (no descriptor left), or another -errno of shm_open, fstat or mmap.
 * A refused open writes nothing to the object. Entries of dead processes
 * that hold nothing the ring needs are taken over (multi mode: MPMC runs
 * recovery first when the table is full).
 */
SHMRING_API int shmring_open(struct shmring *r, const char *name, uint32_t role,
			     const struct shmring_open_opts *opts);

/* Open a ring from a descriptor (memfd or shm fd); the fd is duplicated.
 * SHMRING_OPEN_F_WAIT_CREATE has nothing to wait for here (the object
 * exists) and is accepted. Returns what shmring_open does, less -ENOENT
 * and -ELOOP, plus -EBADF (fd is not an open descriptor). */
SHMRING_API int shmring_open_fd(struct shmring *r, int fd, uint32_t role,
				const struct shmring_open_opts *opts);

/*
 * Another endpoint on the ring `src` is attached to (a thread's own
 * producer or consumer handle, or the child's after fork()). The new
 * handle shares src's mapping when it needs the same access (observer
 * from an observer, producer/consumer from a writable handle), else it
 * maps the ring again; each handle is closed on its own.
 * Returns 0, or -EINVAL (closed handle, bad role), -EBUSY, -ENOSPC,
 * -EPROTO, -ENOMEM, or what shmring_open_fd returns when it maps again.
 */
SHMRING_API int shmring_dup(struct shmring *dst, const struct shmring *src, uint32_t role);

/*
 * Detach: leave the endpoint table and unmap. A message-ring producer's
 * open reservation is aborted first. A handle inherited across
 * fork() only unmaps; the parent's endpoint stays registered. The closed
 * handle's key is cleared: every operation on it returns -EBADF. Safe on an
 * object another process shrank: the endpoint entry is cleared by the
 * kernel (no SIGBUS), and the handle is released in every case.
 * Returns 0, -EINVAL (NULL handle, or one already closed or never
 * attached: nothing is done), or -EIO (the object was shrunk past this
 * handle's endpoint entry, which could not be cleared; the handle is
 * released all the same).
 */
SHMRING_API int shmring_close(struct shmring *r);

/* Remove the name; attached processes keep the ring until they close.
 * Returns 0, or -EINVAL (bad name), -ENOENT (no such name), -EACCES
 * (not allowed), or another -errno of shm_unlink. */
SHMRING_API int shmring_unlink(const char *name);

/*
 * Remove the name of a stale ring: its creator died before the ring was
 * ready, or its creator and every attached endpoint are dead, or nothing
 * was ever written in the object (size 0, or a header page of zeroes: a
 * creator killed before its header, which this library's create never
 * leaves under a name but another program's may) and nothing changed its
 * size or contents for 10 s (st_mtime). A live ring is never unlinked
 * (the name is moved aside atomically, re-checked, and only then
 * removed). Returns 0 (removed), -EBUSY (alive: the detail names a live
 * pid; or unwritten but too recent to tell), -ENOENT, -EPERM (another
 * user's object), -ELOOP (symlink), -EPROTO (not a shmring object:
 * cannot tell), -EAGAIN (the name changed while it was checked; nothing
 * removed), -EINVAL, -EIO, or the -errno of open/fstat/rename/unlink.
 */
SHMRING_API int shmring_unlink_stale(const char *name);

/* The ring's descriptor (kept open while attached), or -EINVAL (NULL or
 * closed handle). */
SHMRING_API int shmring_fd(const struct shmring *r);

/* shmring_fd_recv flags */
#define SHMRING_FD_SEALED 0x1u /* refuse a descriptor not sealed against shrinking */

/*
 * Send a ring's descriptor (shmring_fd()) over a connected UNIX socket
 * with SCM_RIGHTS. Returns 0, or -EINVAL (bad fd) or sendmsg's -errno.
 */
SHMRING_API int shmring_fd_send(int sock, int fd);

/*
 * Receive one descriptor sent by shmring_fd_send; attach with
 * shmring_open_fd() and close it after. With SHMRING_FD_SEALED, a
 * descriptor that is not sealed against shrinking (a memfd ring from
 * shmring_create_anon is) is closed and refused, so an untrusted sender
 * cannot make this process fault by shrinking the object later.
 * Returns the descriptor (close-on-exec), or -EPERM (not sealed),
 * -EPROTO (no descriptor in the message), -ENOTCONN (peer closed),
 * -EINVAL (unknown flags) or recvmsg's -errno.
 */
SHMRING_API int shmring_fd_recv(int sock, uint32_t flags);

/* Text for a negative (or positive) errno returned by shmring. */
SHMRING_API const char *shmring_strerror(int err);

/*
 * Detail of the calling thread's last failure ("" if none). The functions
 * of this header that can fail (create, open, dup, close, unlink,
 * unlink_stale, fd, fd_send, fd_recv, recover) clear it on entry and set
 * it on each failure, so it describes the last of them that was called;
 * the inline fast paths (push, pop, reserve, peek ...) leave it as it
 * was, and their codes speak for themselves.
 */
SHMRING_API const char *shmring_errdetail(void);

/*
 * Library-internal, for the dump tool (which links the static library):
 * not exported by the shared library, not API.
 * shmring__pid_alive: liveness of an endpoint entry's process: 1 alive,
 * 0 gone (or pid reused).
 * shmring__proc_start_time: start time (clock ticks after boot) of a
 * process, 0 if it does not exist.
 */
int shmring__pid_alive(int32_t pid, uint64_t start_time);
uint64_t shmring__proc_start_time(int32_t pid);

/*
 * Find endpoints whose process died (pid gone, or reused: the start time
 * differs) and release what they held, so that the ring goes on: on an
 * MPMC ring, positions a dead producer claimed and never published are
 * marked skipped (consumers pass over them and count them in
 * cons_stats.skipped; never delivered), and a dead consumer's claim is
 * dropped (the messages it held are lost, counted in cons_stats.lost);
 * the blocking waits of wait.h run this themselves when the ring stops
 * making progress for a liveness slice (see there). On an MPSC message ring, the record a dead producer reserved and never
 * committed becomes padding (counted in cons_stats.skipped, never
 * delivered); this runs in the consumer's handle only (-EPERM elsewhere),
 * and the consumer also runs it by itself when one record stays
 * uncommitted for SHMRING_MSG_STALL_CHECK polls (see msg.h). On a
 * broadcast ring, dead readers still in the producer's gating set are
 * evicted (counted) and every dead entry is freed (broadcast.h).
 * Callable by any process attached to the ring (not through an observer's
 * read-only handle), at any time, concurrently with traffic.
 * Returns the number of endpoints recovered (0: none dead), or -EINVAL
 * (NULL or closed handle, or a ring type without recovery), -EPERM
 * (observer handle; message ring: not the consumer's), -EBUSY (another
 * live process is recovering this ring now), -EPROTO (message ring:
 * positions corrupt).
 */
SHMRING_API int shmring_recover(struct shmring *r);

#ifdef __cplusplus
}
#endif

#include <shmring/spsc.h>
#include <shmring/mpmc.h>
#include <shmring/msg.h>
#include <shmring/broadcast.h>

#endif /* SHMRING_SHMRING_H */
