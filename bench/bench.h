/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench: the harness every subject runs through.
 *
 * A subject (a shmring ring, a baseline, a floor) is a small adapter: it
 * creates its rings (setup), attaches one endpoint (ep_open) and moves one
 * message (SEND/RECV, optionally SEND_BURST/RECV_BURST). The loops that
 * time those operations are written once, below, as macros that each
 * adapter instantiates with its own operations inlined, so every subject
 * runs the same loop code and pays no indirect call per message.
 *
 * SEND/RECV contract: return 1 when one message moved, 0 when the ring was
 * full/empty (the loop spins and retries), or a negative errno. Kernel
 * baselines block inside SEND/RECV and return 1. Burst forms return how
 * many moved (0..n) or a negative errno.
 *
 * Messages carry a 64-bit tag in their first 8 bytes: producer id in the
 * top 16 bits, a sequence number (from 1) below. The consumer checks
 * per-producer order and sums the tags; the producers' sums must match,
 * so a lost, duplicated or reordered message is an error, not a figure.
 * Broadcast subjects (BS_BCAST): every consumer receives every message, so
 * the consumers' sums are each the producer's; a lossy one (BS_LOSSY) may
 * skip messages, and what its consumers received plus what they report
 * lost must make up the producer's count for each.
 */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* The C++ adapters (adapter_boost.cpp) instantiate the same loops: the
 * shared run's counters are std::atomic there, of the same layout. */
#ifdef __cplusplus
#include <atomic>
#define BENCH_ATOMIC(T) std::atomic<T>
using std::atomic_compare_exchange_weak;
using std::atomic_fetch_add;
using std::atomic_load_explicit;
using std::memory_order_relaxed;
extern "C" {
#else
#include <stdatomic.h>
#define BENCH_ATOMIC(T) _Atomic T
#endif

#define BENCH_MAX_EP 16        /* producers or consumers per run */
#define BENCH_POISON UINT64_MAX /* end-of-stream tag */
#define BENCH_ID_SHIFT 48
#define BENCH_SEQ_MASK ((1ull << BENCH_ID_SHIFT) - 1)
#define BENCH_MAX_BURST 256

/* Subject flags */
#define BS_TPUT 0x01u    /* one-way throughput */
#define BS_RTT 0x02u     /* ping-pong round trip */
#define BS_BURST 0x04u   /* has SEND_BURST/RECV_BURST: runs with burst > 1 */
#define BS_MULTI 0x08u   /* many producers and consumers */
#define BS_THREADS 0x10u /* threads only (process-local pointers) */
#define BS_BLOCK 0x20u   /* sleeps in the kernel when it waits */
#define BS_SIZES 0x40u   /* any message size from 8 to max_size */
#define BS_MPSC 0x80u    /* many producers, one consumer */
#define BS_PROCS 0x100u  /* processes only */
#define BS_CUSTOM 0x200u /* runs its own loop (memcpy floor) */
#define BS_BCAST 0x400u  /* one producer, every consumer sees every message */
#define BS_LOSSY 0x800u  /* BS_BCAST: consumers may lose messages (counted in nlost) */

/* Roles of an endpoint */
enum { BR_PROD = 1, BR_CONS = 2 };

/*
 * Log-linear histogram of nanosecond values (HdrHistogram's scheme): exact
 * below 128, then 64 sub-buckets per power of two, so a recorded value is
 * known within 1/64 (1.6%) and the whole range of uint64 fits in 3776
 * counters, whatever the number of samples.
 */
#define BH_SUB_BITS 6
#define BH_BUCKETS ((64 - BH_SUB_BITS) * (1u << BH_SUB_BITS) + (1u << BH_SUB_BITS))

struct bench_hist {
	uint64_t count, min, max, sum;
	uint64_t b[BH_BUCKETS];
};

static inline unsigned bench_hist_index(uint64_t v)
{
	if (v < (2u << BH_SUB_BITS))
		return (unsigned)v;
	unsigned e = (unsigned)(63 - __builtin_clzll(v)) - BH_SUB_BITS;
	return (e << BH_SUB_BITS) + (unsigned)(v >> e);
}

static inline void bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->b[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

/* Shared state of one run: lives in a MAP_SHARED mapping, so endpoints
 * in child processes report through it. */
struct bench_run {
	/* what to run */
	const struct bench_subject *s;
	uint32_t size, burst, nprod, ncons;
	uint32_t procs;      /* endpoints are processes, not threads */
	uint32_t rtt;        /* ping-pong instead of throughput */
	uint64_t capacity;   /* slots (or bytes, message rings) */
	uint64_t count;      /* messages in all (tput) or round trips (rtt) */
	int cpu[2];          /* producer side, consumer side */
	void *state;         /* the adapter's rings, set by setup() */

	/* synchronisation and results */
	BENCH_ATOMIC(uint32_t) ready, go, prod_done, errors;
	BENCH_ATOMIC(uint32_t) spare_poison; /* burst MPMC: poisons one consumer popped for another */
	BENCH_ATOMIC(uint64_t) t_start, t_end;
	BENCH_ATOMIC(uint64_t) sum_sent, sum_recv, nsent, nrecv;
	BENCH_ATOMIC(uint64_t) preempt; /* involuntary context switches of the endpoints */
	BENCH_ATOMIC(uint64_t) nlost;   /* BS_LOSSY: messages the consumers lost, all of them */
	uint64_t deadline;   /* producers and clients stop early after this */
	uint64_t check_mask; /* producers look at the clock every mask + 1 messages */
	char errmsg[160];
	struct bench_hist hist;
};

struct bench_subject {
	const char *name;
	const char *group; /* "shmring", "baseline" or "floor" */
	const char *desc;
	uint32_t flags;
	uint32_t max_size;
	uint32_t min_size; /* 0: 8 */
	uint32_t burst; /* burst size for BS_BURST subjects */
	/* Create the rings (rtt: two, else one) in run->state. 0 or -errno. */
	int (*setup)(struct bench_run *run);
	void (*teardown)(struct bench_run *run);
	size_t ep_size;
	/* Attach an endpoint to ring `ring` (0 or 1) as `role`. */
	int (*ep_open)(struct bench_run *run, void *ep, int ring, int role);
	void (*ep_close)(struct bench_run *run, void *ep);
	void (*producer)(struct bench_run *run, void *ep, uint32_t id);
	void (*consumer)(struct bench_run *run, void *ep, uint32_t id);
	void (*client)(struct bench_run *run, void *tx, void *rx);
	void (*server)(struct bench_run *run, void *rx, void *tx);
	/* BS_CUSTOM: whole run in the calling thread; returns ns or -errno. */
	int64_t (*custom)(struct bench_run *run);
};

/* A list of subjects, one per adapter file. */
struct bench_subjects {
	const struct bench_subject *v;
	size_t n;
};

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Spin once on a full or empty ring. Pause, and after a long streak give
 * the CPU away: with more endpoints than cores (4P4C on two) a waiter must
 * let a preempted peer run; on an idle core sched_yield returns at once. */
static inline void bench_relax(unsigned *spins)
{
	if (++*spins < 256) {
		bench_pause();
		return;
	}
	*spins = 0;
	sched_yield();
}

void bench_fail(struct bench_run *run, const char *what, int err);
void *bench_alloc_shared(size_t size);
void bench_free_shared(void *p, size_t size);
void *bench_msgbuf(struct bench_run *run, size_t n);

/*
 * Shared by the shmring ring subjects (adapter_shmring.c, adapter_msg.c),
 * defined in adapter_shmring.c. setup: run->state holds run->rtt ? 2 : 1
 * anonymous rings of that type (struct shmring_params's type, capacity);
 * 0 or a negative errno. An endpoint is the adapter's struct whose first
 * member is a struct shmring, attached with shmring_dup.
 */
int bench_sr_setup(struct bench_run *run, uint32_t type, uint64_t capacity, uint32_t flags);
void bench_sr_teardown(struct bench_run *run);
int bench_sr_ep_open(struct bench_run *run, void *vep, int ring, int role);
void bench_sr_ep_close(struct bench_run *run, void *vep);

static inline uint64_t bench_tag_get(const void *m)
{
	uint64_t v;

	memcpy(&v, m, sizeof(v));
	return v;
}

static inline void bench_tag_set(void *m, uint64_t v)
{
	memcpy(m, &v, sizeof(v));
}

/* Consumer-side check of one tag: per-producer order. Returns 1 for the
 * poison, 0 for a message, -1 for an order or id error. */
static inline int bench_check(uint64_t v, uint64_t *last, uint64_t *sum, uint64_t *n)
{
	if (v == BENCH_POISON)
		return 1;
	uint64_t id = v >> BENCH_ID_SHIFT, seq = v & BENCH_SEQ_MASK;

	if (id >= BENCH_MAX_EP || seq <= last[id])
		return -1;
	last[id] = seq;
	*sum += v;
	++*n;
	return 0;
}

/* Record the failure and leave the loop. */
#define BENCH_ERR(run, what, err)             \
	do {                                  \
		bench_fail((run), (what), (err)); \
		return;                       \
	} while (0)

/* A consumer of a burst MPMC run whose poison another consumer popped
 * along with its own (one pop may take several): take one. */
static inline int bench_take_spare_poison(struct bench_run *run)
{
	uint32_t n = atomic_load_explicit(&run->spare_poison, memory_order_relaxed);

	while (n && !atomic_compare_exchange_weak(&run->spare_poison, &n, n - 1))
		;
	return n != 0;
}

/* Poisons the last producer sends: one per consumer, or one that every
 * consumer sees (BS_BCAST). */
static inline uint32_t bench_poisons(const struct bench_run *run)
{
	return (run->s->flags & BS_BCAST) ? 1 : run->ncons;
}

void bench_producer_done(struct bench_run *run, uint64_t sum, uint64_t n);
void bench_consumer_done(struct bench_run *run, uint64_t sum, uint64_t n);

/*
 * The loops. PFX names the functions; EP is the adapter's endpoint type;
 * SEND(ep, msg, size) and RECV(ep, msg, size) as described above.
 * BENCH_LOOPS defines all four; a subject without a round trip takes
 * BENCH_TPUT_LOOPS (producer, consumer) alone.
 */
#define BENCH_LOOPS(PFX, EP, SEND, RECV)                                                   \
	BENCH_TPUT_LOOPS(PFX, EP, SEND, RECV)                                              \
	BENCH_RTT_LOOPS(PFX, EP, SEND, RECV)
#define BENCH_TPUT_LOOPS(PFX, EP, SEND, RECV)                                              \
	static void PFX##_producer(struct bench_run *run, void *vep, uint32_t id)             \
	{                                                                                      \
		EP *ep = (EP *)vep;                                                            \
		uint32_t size = run->size;                                                     \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, size);                   \
		uint64_t n = run->count / run->nprod + (id < run->count % run->nprod);          \
		uint64_t sum = 0;                                                              \
		unsigned spins = 0;                                                            \
		int r;                                                                         \
		if (!m)                                                                        \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		memset(m, 0x5a, size);                                                         \
		for (uint64_t i = 1; i <= n; i++) {                                            \
			uint64_t v = ((uint64_t)id << BENCH_ID_SHIFT) | i;                      \
			bench_tag_set(m, v);                                                   \
			while ((r = SEND(ep, m, size)) == 0)                                   \
				bench_relax(&spins);                                           \
			if (r < 0)                                                             \
				BENCH_ERR(run, "send", r);                             \
			sum += v;                                                              \
			if ((i & run->check_mask) == 0 && bench_now() > run->deadline) {                    \
				n = i;                                                         \
				break;                                                         \
			}                                                                      \
		}                                                                              \
		bench_producer_done(run, sum, n);                                              \
		/* The last producer ends the stream (bench_poisons). */                       \
		if (atomic_fetch_add(&run->prod_done, 1) + 1 == run->nprod) {                  \
			bench_tag_set(m, BENCH_POISON);                                        \
			for (uint32_t c = 0; c < bench_poisons(run); c++) {                    \
				while ((r = SEND(ep, m, size)) == 0)                           \
					bench_relax(&spins);                                   \
				if (r < 0)                                                     \
					BENCH_ERR(run, "send", r);                     \
			}                                                                      \
		}                                                                              \
	}                                                                                      \
	static void PFX##_consumer(struct bench_run *run, void *vep, uint32_t id)             \
	{                                                                                      \
		EP *ep = (EP *)vep;                                                            \
		uint32_t size = run->size;                                                     \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, size);                   \
		uint64_t last[BENCH_MAX_EP] = { 0 }, sum = 0, n = 0;                           \
		unsigned spins = 0;                                                            \
		int r;                                                                         \
		(void)id;                                                                      \
		if (!m)                                                                        \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		for (;;) {                                                                     \
			while ((r = RECV(ep, m, size)) == 0)                                   \
				bench_relax(&spins);                                           \
			if (r < 0)                                                             \
				BENCH_ERR(run, "recv", r);                             \
			r = bench_check(bench_tag_get(m), last, &sum, &n);                     \
			if (r > 0)                                                             \
				break;                                                         \
			if (r < 0)                                                             \
				BENCH_ERR(run, "message order", -EPROTO);              \
		}                                                                              \
		bench_consumer_done(run, sum, n);                                              \
	}
#define BENCH_RTT_LOOPS(PFX, EP, SEND, RECV)                                               \
	static void PFX##_client(struct bench_run *run, void *vtx, void *vrx)                 \
	{                                                                                      \
		EP *tx = (EP *)vtx, *rx = (EP *)vrx;                                           \
		uint32_t size = run->size;                                                     \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, size);                   \
		unsigned char *in = (unsigned char *)bench_msgbuf(run, size);                  \
		unsigned spins = 0;                                                            \
		int r;                                                                         \
		if (!m || !in)                                                                 \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		memset(m, 0x5a, size);                                                         \
		for (uint64_t i = 1; i <= run->count; i++) {                                   \
			bench_tag_set(m, i);                                                   \
			uint64_t t0 = bench_now();                                             \
			while ((r = SEND(tx, m, size)) == 0)                                   \
				bench_relax(&spins);                                           \
			if (r < 0)                                                             \
				BENCH_ERR(run, "send", r);                             \
			while ((r = RECV(rx, in, size)) == 0)                                  \
				bench_relax(&spins);                                           \
			uint64_t t1 = bench_now();                                             \
			if (r < 0)                                                             \
				BENCH_ERR(run, "recv", r);                             \
			if (bench_tag_get(in) != i)                                            \
				BENCH_ERR(run, "echo mismatch", -EPROTO);              \
			bench_hist_add(&run->hist, t1 - t0);                                   \
			if ((i & 63) == 0 && t1 > run->deadline)                               \
				break;                                                         \
		}                                                                              \
		bench_tag_set(m, BENCH_POISON);                                                \
		while ((r = SEND(tx, m, size)) == 0)                                           \
			bench_relax(&spins);                                                   \
		bench_consumer_done(run, 0, run->hist.count);                                  \
	}                                                                                      \
	static void PFX##_server(struct bench_run *run, void *vrx, void *vtx)                 \
	{                                                                                      \
		EP *tx = (EP *)vtx, *rx = (EP *)vrx;                                           \
		uint32_t size = run->size;                                                     \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, size);                   \
		unsigned spins = 0;                                                            \
		int r;                                                                         \
		if (!m)                                                                        \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		for (;;) {                                                                     \
			while ((r = RECV(rx, m, size)) == 0)                                   \
				bench_relax(&spins);                                           \
			if (r < 0)                                                             \
				BENCH_ERR(run, "recv", r);                             \
			if (bench_tag_get(m) == BENCH_POISON)                                  \
				break;                                                         \
			while ((r = SEND(tx, m, size)) == 0)                                   \
				bench_relax(&spins);                                           \
			if (r < 0)                                                             \
				BENCH_ERR(run, "send", r);                             \
		}                                                                              \
	}

/*
 * Burst loops: SEND_BURST(ep, msgs, size, n) and RECV_BURST(ep, msgs, size,
 * n) move up to n contiguous messages of `size` bytes.
 */
#define BENCH_BURST_LOOPS(PFX, EP, SEND_BURST, RECV_BURST)                                 \
	static void PFX##_producer(struct bench_run *run, void *vep, uint32_t id)             \
	{                                                                                      \
		EP *ep = (EP *)vep;                                                            \
		uint32_t size = run->size, burst = run->burst;                                 \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, (size_t)size * burst);   \
		uint64_t n = run->count / run->nprod + (id < run->count % run->nprod);          \
		uint64_t sum = 0, i = 1;                                                       \
		unsigned ticks = 0;                                                            \
		unsigned spins = 0;                                                            \
		int64_t r;                                                                     \
		if (!m)                                                                        \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		memset(m, 0x5a, (size_t)size * burst);                                         \
		while (i <= n) {                                                               \
			uint32_t k = n - i + 1 < burst ? (uint32_t)(n - i + 1) : burst;         \
			for (uint32_t j = 0; j < k; j++) {                                     \
				uint64_t v = ((uint64_t)id << BENCH_ID_SHIFT) | (i + j);        \
				bench_tag_set(m + (size_t)j * size, v);                        \
				sum += v;                                                      \
			}                                                                      \
			for (uint32_t off = 0; off < k;) {                                     \
				r = SEND_BURST(ep, m + (size_t)off * size, size, k - off);      \
				if (r < 0)                                                     \
					BENCH_ERR(run, "send burst", (int)r);          \
				if (r == 0)                                                    \
					bench_relax(&spins);                                   \
				off += (uint32_t)r;                                            \
			}                                                                      \
			i += k;                                                                \
			if ((++ticks & 7) == 0 && bench_now() > run->deadline)                 \
				break;                                                         \
		}                                                                              \
		bench_producer_done(run, sum, i - 1);                                          \
		if (atomic_fetch_add(&run->prod_done, 1) + 1 == run->nprod) {                  \
			bench_tag_set(m, BENCH_POISON);                                        \
			for (uint32_t c = 0; c < bench_poisons(run); c++) {                    \
				while ((r = SEND_BURST(ep, m, size, 1)) == 0)                  \
					bench_relax(&spins);                                   \
				if (r < 0)                                                     \
					BENCH_ERR(run, "send burst", (int)r);          \
			}                                                                      \
		}                                                                              \
	}                                                                                      \
	static void PFX##_consumer(struct bench_run *run, void *vep, uint32_t id)             \
	{                                                                                      \
		EP *ep = (EP *)vep;                                                            \
		uint32_t size = run->size, burst = run->burst;                                 \
		unsigned char *m = (unsigned char *)bench_msgbuf(run, (size_t)size * burst);   \
		uint64_t last[BENCH_MAX_EP] = { 0 }, sum = 0, n = 0;                           \
		unsigned spins = 0;                                                            \
		int64_t r;                                                                     \
		(void)id;                                                                      \
		if (!m)                                                                        \
			BENCH_ERR(run, "message buffer", -ENOMEM);                      \
		for (;;) {                                                                     \
			while ((r = RECV_BURST(ep, m, size, burst)) == 0) {                    \
				if (bench_take_spare_poison(run))                              \
					goto done;                                             \
				bench_relax(&spins);                                           \
			}                                                                      \
			if (r < 0)                                                             \
				BENCH_ERR(run, "recv burst", (int)r);                  \
			for (int64_t j = 0; j < r; j++) {                                      \
				int c = bench_check(bench_tag_get(m + (size_t)j * size), last,  \
						    &sum, &n);                                 \
				if (c < 0)                                                     \
					BENCH_ERR(run, "message order", -EPROTO);      \
				if (c > 0) {                                                   \
					/* Several consumers: the rest must be the     \
					 * others' poisons; hand them over. */            \
					for (int64_t k = j + 1; k < r; k++)                    \
						if (bench_tag_get(m + (size_t)k * size) !=     \
						    BENCH_POISON)                              \
							BENCH_ERR(run, "data after end",       \
								  -EPROTO);                    \
					if (r - j - 1 >= (int64_t)run->ncons)                  \
						BENCH_ERR(run, "poison count", -EPROTO);       \
					atomic_fetch_add(&run->spare_poison, (uint32_t)(r - j - 1)); \
					goto done;                                             \
				}                                                              \
			}                                                                      \
		}                                                                              \
	done:                                                                                  \
		bench_consumer_done(run, sum, n);                                              \
	}

/*
 * Subjects whose element size is a compile-time constant (a queue of a
 * fixed-size type, a copy the compiler inlines): the adapter instantiates
 * the loops once per size with PFX##N as prefix, N in 8, 16, ..., 64
 * (BENCH_SIZES_8_64(X, A, B) expands X(N, A, B) for each), and
 * BENCH_SIZED_LOOPS(PFX) / BENCH_SIZED_BURST_LOOPS(PFX) define PFX's
 * loops, which pick the instance for run->size once per run, so the
 * timed loop is that size's own.
 */
#define BENCH_SIZES_8_64(X, A, B)                                                             \
	X(8, A, B) X(16, A, B) X(24, A, B) X(32, A, B) X(40, A, B) X(48, A, B) X(56, A, B) X(64, A, B)
#define BENCH_SIZED_CASE(N, PFX, FN)                                                          \
	case N:                                                                                \
		PFX##N##_##FN(run, a, b);                                                      \
		return;
#define BENCH_SIZED_FN(PFX, FN, TB)                                                           \
	static void PFX##_##FN(struct bench_run *run, void *a, TB b)                           \
	{                                                                                      \
		switch (run->size) {                                                           \
			BENCH_SIZES_8_64(BENCH_SIZED_CASE, PFX, FN)                            \
		}                                                                              \
		bench_fail(run, "message size", -EINVAL);                                      \
	}
#define BENCH_SIZED_LOOPS(PFX)                                                                \
	BENCH_SIZED_FN(PFX, producer, uint32_t)                                                \
	BENCH_SIZED_FN(PFX, consumer, uint32_t)                                                \
	BENCH_SIZED_FN(PFX, client, void *)                                                    \
	BENCH_SIZED_FN(PFX, server, void *)
#define BENCH_SIZED_BURST_LOOPS(PFX)                                                          \
	BENCH_SIZED_FN(PFX, producer, uint32_t)                                                \
	BENCH_SIZED_FN(PFX, consumer, uint32_t)

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BENCH_H */
