/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump internals: a read-only snapshot of a ring, and one small
 * module per ring type that knows how to read that type's positions,
 * messages and invariants.
 *
 * The reader never trusts the object: the library's observer open
 * (shmring_open_fd with SHMRING_OBSERVER) maps it PROT_READ after
 * validating a private copy of the header; the geometry used to address
 * memory is the handle's (derived from that validated copy), never a
 * value re-read from the mapping. Every shared word is read with an atomic
 * load, and every index is position & mask. Nothing here writes to the
 * mapping or makes a futex call.
 */
#ifndef SHMRING_TOOLS_DUMP_H
#define SHMRING_TOOLS_DUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <shmring/bridge.h>
#include <shmring/shmring.h>
#include <shmring/topo.h>

/* The acquire fence of a seqlock-style re-read (payload loads, fence, then
 * the sequence word again). gcc rejects fences under ThreadSanitizer
 * (-Werror=tsan); the dump reads memory other processes write, which TSan
 * cannot follow anyway, so a TSan build keeps only a compiler barrier. */
#if defined(__SANITIZE_THREAD__)
#define DUMP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUMP_TSAN 1
#endif
#endif
#ifdef DUMP_TSAN
#define dump_acquire_fence() atomic_signal_fence(memory_order_seq_cst)
#else
#define dump_acquire_fence() shmring_atomic_fence(SHMRING_ACQUIRE)
#endif

/* Exit codes (documented in --help, docs/shmring-dump.1). */
#define DUMP_EXIT_OK 0
#define DUMP_EXIT_CHECK 1   /* --check: an invariant failed */
#define DUMP_EXIT_USAGE 2   /* bad command line */
#define DUMP_EXIT_OPEN 3    /* missing, unreadable, not a shmring object, invalid header */
#define DUMP_EXIT_NOTREADY 4 /* the creator has not finished initialising it */

#define DUMP_PROBLEMS_MAX 32

struct dump_counters {
	uint64_t blocked, high_water, sleeps, wakes, wakes_empty, futex_calls, skipped, corrupt, lost;
};

struct dump_side {
	uint64_t pos, claim, cached;
	uint64_t gone; /* dead endpoints freed with none of the side left (layout.h) */
	uint32_t futex, waiters, light;
	struct dump_counters st;
};

struct dump_ep {
	uint32_t index, state, role;
	int32_t pid, tid;
	uint64_t start_time, attach_ns, claim_pos, claim_end, ops;
	uint64_t taken; /* MPMC: messages a blocking pop holds; broadcast: evictions acknowledged */
	int alive;
};

struct dump_problem {
	const char *invariant; /* short stable name, e.g. "positions-ordered" */
	char detail[240];
	bool warning;          /* reported, but does not fail --check */
};

struct dump_kind;

/* One ring, as read at one moment. */
struct dump_ring {
	char name[SHMRING_NAME_MAX + 2]; /* "/name" */
	struct stat st;
	struct shmring r;         /* observer handle: PROT_READ mapping */
	bool open;
	struct shmring_hdr hdr;   /* display copy of the header, read once */
	const struct dump_kind *kind;
	uint32_t type;

	/* snapshot */
	struct dump_side prod, cons;
	uint64_t head;      /* producer position as published */
	uint64_t tail;      /* consumer position as published */
	uint64_t avail_end; /* first position not readable by the consumer (>= head for SPSC) */
	uint64_t fill;      /* unconsumed slots (slot rings) or bytes (message rings) */
	bool consistent;    /* head and tail form a pair that existed at one moment */
	bool stable;        /* positions did not move while the snapshot was taken */
	bool creator_alive;
	uint64_t snap_ns;   /* CLOCK_MONOTONIC of the snapshot */
	uint64_t kind_priv[8]; /* the kind module's own snapshot state */

	struct dump_ep *eps; /* entries not free */
	uint32_t n_eps;
	uint32_t n_prod, n_cons; /* attached, alive or not */

	/* placement (dump_placement): the library's answer */
	struct shmring_placement place;
	int place_ret; /* 0, or -ENOTSUP (no hwloc), -errno; 1: not queried */

	/* the bridge's sidecar "<name>.bridge", if any (dump_bridge.c) */
	bool has_bridge;
	bool bridge_alive;     /* its owner process runs */
	bool bridge_same_ring; /* its positions belong to this ring (same identity) */
	struct shmring_bridge_shared bridge;

	struct dump_problem problems[DUMP_PROBLEMS_MAX];
	uint32_t n_problems;
	uint32_t n_failed; /* problems that are not warnings */
};

/* One message found by a kind's reader. */
struct dump_msg {
	uint64_t pos;
	uint32_t len;         /* payload bytes */
	uint32_t rec_type;    /* message rings: record type; slot rings: 0 */
	const unsigned char *data; /* private copy, len bytes */
	bool consumed;        /* already consumed (--tail) */
	bool torn;            /* overwritten while it was read: data is not valid */
};

typedef int (*dump_msg_fn)(const struct dump_ring *d, const struct dump_msg *m, void *arg);

struct dump_kind {
	uint32_t type;
	const char *name;  /* "spsc" */
	const char *unit;  /* what capacity counts: "slots" or "bytes" */
	const char *invariants; /* what check() verifies, for --check's report */
	/* Read positions, caches and fill into d (the generic part has read
	 * the counters and the endpoint table already). */
	void (*snapshot)(struct dump_ring *d);
	/* Add every failed invariant to d->problems. */
	void (*check)(struct dump_ring *d);
	/* Optional: does the entry hold a claim (something recovery must
	 * release)? Without it: claim_pos != SHMRING_NO_CLAIM. */
	bool (*holds_claim)(const struct dump_ring *d, const struct dump_ep *e);
	/* Call fn for up to n messages: the oldest unconsumed ones, or with
	 * tail set the last n written. Returns the count, or fn's negative. */
	int64_t (*messages)(struct dump_ring *d, bool tail, uint64_t n, dump_msg_fn fn, void *arg);
	/* Optional: the type's own lines of the report, and JSON members
	 * (each starting with ",\n"). */
	void (*print_text)(FILE *f, const struct dump_ring *d);
	void (*print_json)(FILE *f, const struct dump_ring *d);
};

extern const struct dump_kind dump_kind_spsc;
extern const struct dump_kind dump_kind_mpmc;
extern const struct dump_kind dump_kind_msg_spsc;
extern const struct dump_kind dump_kind_msg_mpsc;
extern const struct dump_kind dump_kind_bcast;

/* A ring of fixed-size slots (capacity counts slots, not bytes)? */
static inline bool dump_slot_type(uint32_t type)
{
	return type == SHMRING_SPSC || type == SHMRING_MPMC || type == SHMRING_BROADCAST;
}

/* dump_snap.c */
const struct dump_kind *dump_kind_of(uint32_t type);
const char *dump_type_name(uint32_t type);
/*
 * Open `name` (as listed in /dev/shm, with or without '/') read-only.
 * Returns 0, or a negative errno with `why` filled in; -ETIMEDOUT means
 * not ready (still initialising); -ENOMSG means not a shmring object.
 */
int dump_open(struct dump_ring *d, const char *name, char *why, size_t why_len);
/* Open from a descriptor (the fuzzer's entry point); fd is not kept. */
int dump_open_fd(struct dump_ring *d, int fd, const char *name, char *why, size_t why_len);
void dump_close(struct dump_ring *d);
/* Take a snapshot of everything (counters, endpoints, positions). */
void dump_snapshot(struct dump_ring *d);
/* Ask the library where the pages are (reads only; not in list mode). */
void dump_placement(struct dump_ring *d);
/* Run every invariant; returns the number of failed (non-warning) ones. */
uint32_t dump_check(struct dump_ring *d);
void dump_problem(struct dump_ring *d, bool warning, const char *invariant, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
uint64_t dump_now_ns(int clock);
const char *dump_role_name(uint32_t role);
const char *dump_state_name(uint32_t state);
/* Copy n bytes from shared memory with relaxed atomic loads (no data race
 * with a writer; the caller validates the copy afterwards). */
void dump_copy(void *dst, const unsigned char *src, size_t n);
/*
 * The slot rings' message at `pos` into buf (slot_size bytes), seqlock
 * style: the slot's sequence word must be `want` before the copy and
 * again after it, else m->torn. Fills m but for m->consumed.
 */
void dump_slot_read(const struct dump_ring *d, uint64_t pos, uint64_t want, unsigned char *buf,
		    struct dump_msg *m);
/* A kind's reader of the message at one position (dump_slot_read plus
 * whether it is consumed). */
typedef void dump_slot_fn(const struct dump_ring *d, uint64_t pos, unsigned char *buf,
			  struct dump_msg *m);
/* Call fn for the count messages from position first on, each read by
 * `read`. Returns the count, or fn's negative result, or -ENOMEM. */
int64_t dump_slot_each(struct dump_ring *d, uint64_t first, uint64_t count, dump_slot_fn *read,
		       dump_msg_fn fn, void *arg);

/* dump_bridge.c: the bridge's sidecar (read by dump_snapshot), and its
 * lines of the report. */
void dump_bridge_read(struct dump_ring *d);
void dump_bridge_print_text(FILE *f, const struct dump_ring *d);
void dump_bridge_print_json(FILE *f, const struct dump_ring *d);

/* dump_msg.c: records between the consumer and the producers (message rings). */
uint64_t dump_msg_records(const struct dump_ring *d);

/* ---- ring sets (dump_set.c) ---- */

/* What the set's report shows of one ring (a member or the control ring). */
struct dump_set_ring {
	bool read;        /* opened by name and snapshotted */
	int ret;          /* dump_open's error when not read */
	char why[256];
	uint32_t type, slot_size;
	uint64_t fill, capacity, pending, written, consumed;
	const char *unit;
	uint32_t prod_alive, prod_dead, cons_alive, cons_dead, cons_waiters;
	int32_t prod_pid, cons_pid;   /* the last producer / consumer entry seen */
	bool set_attached;            /* the set's consumer process is its consumer */
	struct dump_counters prod, cons;
	uint32_t failed, problems;    /* its --check result */
	char status[320];             /* "ok", or its first failed invariant */
	char note[256];               /* the ring under the name is not the member */
};

#define DUMP_SET_PENDING_MAX 16 /* pending announcements shown */

/* One record waiting on the control ring. */
struct dump_set_pending {
	uint64_t pos, tag;
	uint32_t op;
	bool valid;  /* a join the consumer will act on; else why_bad says why not */
	char name[SHMRING_SET_NAME_BYTES + 1];
	const char *why_bad;
};

struct dump_set_member {
	uint32_t slot, id, type;
	bool joined;
	uint64_t tag, join_ns, messages, empty_polls;
	char name[SHMRING_SET_NAME_BYTES + 1]; /* "" when added by handle */
	struct dump_set_ring ring;
};

struct dump_set {
	char name[SHMRING_NAME_MAX + 2];  /* "/orders" */
	char table[SHMRING_NAME_MAX + 6]; /* "/orders.set" */
	char ctl[SHMRING_NAME_MAX + 6];   /* "/orders.ctl"; "" when opened by descriptor */
	struct stat st;
	const struct shmring_set_table *t; /* PROT_READ mapping */
	size_t map_size;
	bool open;
	struct shmring_set_hdr hdr;       /* validated private copy */
	uint32_t capacity;                /* from the validated copy */
	bool consumer_alive;
	uint64_t snap_ns;

	/* snapshot: a consistent membership (one seqlock generation) */
	uint64_t gen;
	uint32_t count, hi, unlisted, doorbell;
	uint64_t joins, leaves, polls, messages, sleeps, wakeups;
	struct dump_set_member *m;
	uint32_t n;
	struct dump_set_ring ctl_ring;
	struct dump_set_pending pend[DUMP_SET_PENDING_MAX]; /* the oldest ones */
	uint32_t n_pend;
};

/*
 * Open a set's membership table read-only: `name` is the set ("orders",
 * "/orders") or its table or control ring ("orders.set", "orders.ctl").
 * Returns 0, or a negative errno with `why` filled in: -ENOENT (no such
 * set), -ENOMSG (not a membership table), -ETIMEDOUT (not ready),
 * -EPROTO (corrupt header).
 */
int dump_set_open(struct dump_set *s, const char *name, char *why, size_t why_len);
/* The same from a descriptor (the fuzzer's entry point); fd is not kept. */
int dump_set_open_fd(struct dump_set *s, int fd, char *why, size_t why_len);
/* A consistent, validated copy of the membership. Returns 0, -EPROTO
 * (corrupt table: why says what), -EAGAIN (it changed during every read),
 * -ENOMEM. */
int dump_set_snapshot(struct dump_set *s, char *why, size_t why_len);
/* Read the control ring and every named member ring (observer opens). */
void dump_set_rings(struct dump_set *s);
/* Members and control ring that fail --check. */
uint32_t dump_set_check(const struct dump_set *s);
void dump_set_close(struct dump_set *s);
void dump_set_print_text(FILE *f, const struct dump_set *s);
/* The members of the set's JSON object, no braces. */
void dump_set_print_json(FILE *f, const struct dump_set *s);

/* ---- metrics (dump_prom.c, dump_http.c) ---- */

#include <shmring/stats.h>

/* One ring of a scrape, as shmring_stats() and shmring_endpoint_stats()
 * gave it (or the open's error). */
struct prom_ring {
	char name[SHMRING_NAME_MAX + 2];
	int err;                    /* 0: read; else why not (-errno of the open) */
	uint32_t type;
	struct shmring_ring_stats st;
	struct shmring_ep_stats *eps; /* entries in use */
	uint32_t n_eps;
};

/* One ring set's table. */
struct prom_set {
	char name[SHMRING_NAME_MAX + 2]; /* the set's name, "/orders" */
	int err;
	uint32_t members, unlisted, consumer_alive;
	uint64_t polls, messages, sleeps, wakeups, joins, leaves;
};

struct prom_scrape {
	struct prom_ring *rings;
	size_t n_rings, cap_rings;
	struct prom_set *sets;
	size_t n_sets, cap_sets;
};

/* A zeroed entry appended to the scrape, or NULL (no memory). */
struct prom_ring *prom_add_ring(struct prom_scrape *sc);
struct prom_set *prom_add_set(struct prom_scrape *sc);
void prom_free(struct prom_scrape *sc);
/* The Prometheus text exposition (format 0.0.4) of a collected scrape. */
void prom_write(FILE *f, const struct prom_scrape *sc);

/*
 * Serve HTTP on addr ("[ADDR:]PORT"; ADDR defaults to 127.0.0.1, "[::1]"
 * for IPv6; PORT 0 takes a free port): GET /metrics answers with what
 * render writes (a fresh call per request). The bound address goes to
 * stderr as "listening on http://ADDR:PORT/metrics" once the socket
 * listens. Stops after `count` requests (0: until SIGINT or SIGTERM).
 * Returns 0, or -errno (bad address, bind) with why filled in.
 */
typedef int (*http_render_fn)(FILE *f, void *arg);
int dump_http_serve(const char *addr, uint64_t count, http_render_fn render, void *arg, char *why,
		    size_t why_len);

/* dump_out.c: text and JSON writers */
void dump_print_text(FILE *f, const struct dump_ring *d);
void dump_print_json(FILE *f, const struct dump_ring *d);
void json_str(FILE *f, const char *s);
void json_strn(FILE *f, const unsigned char *s, size_t n);
void text_name(FILE *f, const char *s);
void hexdump(FILE *f, const unsigned char *p, size_t n, const char *indent);

#endif
