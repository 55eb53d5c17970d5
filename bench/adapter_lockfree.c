/* SPDX-License-Identifier: MIT */
/*
 * Other lock-free queues as baselines: Concurrency Kit's ck_ring (SPSC and
 * MPMC), liburcu's wait-free concurrent queue (wfcqueue; threads only, it
 * links nodes by pointer), a Vyukov bounded MPMC queue (per-slot
 * sequence numbers) as the textbook reference, and a cached-index Lamport
 * SPSC ring (bench/ref_lamport.h) as the hand-written one.
 *
 * ck_ring, the Vyukov queue and the Lamport ring keep no pointers in their
 * state, so they live in a shared mapping and run between processes as
 * well. ck_ring and the Vyukov queue carry one 8-byte value per slot, so
 * they run with 8-byte messages; the Lamport ring copies messages of 8 to
 * 64 bytes, each size its own compile-time constant.
 */
#include <stdlib.h>

#include "bench.h"
#include "bench_config.h"
#include "ref_lamport.h"
#include "ref_vyukov.h"

#define SHARED_RING_ALIGN 128

/* Shared mappings for rtt (two rings) or tput (one). */
struct shm_rings {
	void *ring[2];
	size_t size;
	int n;
};

static int shm_rings_new(struct bench_run *run, size_t size, struct shm_rings **out)
{
	struct shm_rings *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->size = size;
	for (st->n = 0; st->n < (run->rtt ? 2 : 1); st->n++) {
		st->ring[st->n] = bench_alloc_shared(size);
		if (!st->ring[st->n]) {
			while (st->n > 0)
				bench_free_shared(st->ring[--st->n], size);
			free(st);
			return -ENOMEM;
		}
	}
	run->state = st;
	*out = st;
	return 0;
}

static void shm_rings_teardown(struct bench_run *run)
{
	struct shm_rings *st = run->state;

	while (st->n > 0)
		bench_free_shared(st->ring[--st->n], st->size);
	free(st);
}

/* ---------------- Vyukov bounded MPMC (bench/ref_vyukov.h) ---------------- */

struct vy_ep {
	struct ref_vyukov *q;
};

static int vy_setup(struct bench_run *run)
{
	struct shm_rings *st;
	int r = shm_rings_new(run, ref_vyukov_size(run->capacity, run->size), &st);

	if (r < 0)
		return r;
	for (int i = 0; i < st->n; i++)
		ref_vyukov_init(st->ring[i], run->capacity, run->size);
	return 0;
}

static int vy_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct vy_ep *ep = vep;

	(void)role;
	ep->q = ((struct shm_rings *)run->state)->ring[ring];
	return 0;
}

static inline int vy_send(struct vy_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	return ref_vyukov_push(ep->q, m) == 0;
}

static inline int vy_recv(struct vy_ep *ep, void *m, uint32_t size)
{
	(void)size;
	return ref_vyukov_pop(ep->q, m) == 0;
}

BENCH_LOOPS(vy, struct vy_ep, vy_send, vy_recv)

/* ---------------- cached-index Lamport SPSC (bench/ref_lamport.h) ---------------- */

struct lp_ep {
	struct ref_lamport *q;
};

static int lp_setup(struct bench_run *run)
{
	struct shm_rings *st;
	int r = shm_rings_new(run, ref_lamport_size(run->capacity, run->size), &st);

	if (r < 0)
		return r;
	for (int i = 0; i < st->n; i++)
		ref_lamport_init(st->ring[i], run->capacity, run->size);
	return 0;
}

static int lp_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct lp_ep *ep = vep;

	(void)role;
	ep->q = ((struct shm_rings *)run->state)->ring[ring];
	return 0;
}

/* One instance of the loops per size N: the copies are memcpy of N. */
#define LP_LOOPS(N, A, B)                                                                     \
	static inline int lp##N##_send(struct lp_ep *ep, const void *m, uint32_t size)       \
	{                                                                                  \
		(void)size;                                                                \
		return ref_lamport_push(ep->q, m, N) == 0;                                  \
	}                                                                                  \
	static inline int lp##N##_recv(struct lp_ep *ep, void *m, uint32_t size)             \
	{                                                                                  \
		(void)size;                                                                \
		return ref_lamport_pop(ep->q, m, N) == 0;                                   \
	}                                                                                  \
	static inline int64_t lp##N##_send_burst(struct lp_ep *ep, const void *m, uint32_t size,   \
						 uint64_t n)                                        \
	{                                                                                  \
		(void)size;                                                                \
		return (int64_t)ref_lamport_push_burst(ep->q, m, n, N);                     \
	}                                                                                  \
	static inline int64_t lp##N##_recv_burst(struct lp_ep *ep, void *m, uint32_t size, uint64_t n) \
	{                                                                                  \
		(void)size;                                                                \
		return (int64_t)ref_lamport_pop_burst(ep->q, m, n, N);                      \
	}                                                                                  \
	BENCH_LOOPS(lp##N, struct lp_ep, lp##N##_send, lp##N##_recv)                         \
	BENCH_BURST_LOOPS(lpb##N, struct lp_ep, lp##N##_send_burst, lp##N##_recv_burst)
BENCH_SIZES_8_64(LP_LOOPS, _, _)
BENCH_SIZED_LOOPS(lp)
BENCH_SIZED_BURST_LOOPS(lpb)

/* ---------------- Concurrency Kit ck_ring ---------------- */
#if BENCH_HAVE_CK
#include <ck_ring.h>

struct ck_shared {
	struct ck_ring ring;
	char pad[SHARED_RING_ALIGN];
	struct ck_ring_buffer buf[];
};

struct ckr_ep {
	struct ck_ring *ring;
	struct ck_ring_buffer *buf;
};

static int ckr_setup(struct bench_run *run)
{
	struct shm_rings *st;
	int r = shm_rings_new(run, sizeof(struct ck_shared) + run->capacity * sizeof(struct ck_ring_buffer),
			      &st);

	if (r < 0)
		return r;
	for (int i = 0; i < st->n; i++)
		ck_ring_init(&((struct ck_shared *)st->ring[i])->ring, (unsigned)run->capacity);
	return 0;
}

static int ckr_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct ckr_ep *ep = vep;
	struct ck_shared *s = ((struct shm_rings *)run->state)->ring[ring];

	(void)role;
	ep->ring = &s->ring;
	ep->buf = s->buf;
	return 0;
}

static inline int ckr_send_spsc(struct ckr_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	return ck_ring_enqueue_spsc(ep->ring, ep->buf, (void *)(uintptr_t)bench_tag_get(m));
}

static inline int ckr_recv_spsc(struct ckr_ep *ep, void *m, uint32_t size)
{
	void *v;

	(void)size;
	if (!ck_ring_dequeue_spsc(ep->ring, ep->buf, &v))
		return 0;
	bench_tag_set(m, (uint64_t)(uintptr_t)v);
	return 1;
}

static inline int ckr_send_mpmc(struct ckr_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	return ck_ring_enqueue_mpmc(ep->ring, ep->buf, (void *)(uintptr_t)bench_tag_get(m));
}

static inline int ckr_recv_mpmc(struct ckr_ep *ep, void *m, uint32_t size)
{
	void *v;

	(void)size;
	if (!ck_ring_dequeue_mpmc(ep->ring, ep->buf, &v))
		return 0;
	bench_tag_set(m, (uint64_t)(uintptr_t)v);
	return 1;
}

BENCH_LOOPS(ckspsc, struct ckr_ep, ckr_send_spsc, ckr_recv_spsc)
BENCH_LOOPS(ckmpmc, struct ckr_ep, ckr_send_mpmc, ckr_recv_mpmc)
#endif

/* ---------------- liburcu wfcqueue ---------------- */
#if BENCH_HAVE_URCU
#define _LGPL_SOURCE
#include <urcu/wfcqueue.h>

/*
 * A bounded pool of nodes makes it a queue of `capacity` like the others:
 * the consumer hands each node back on a second wfcqueue, and the
 * producer (the free list's only dequeuer) takes nodes from there.
 */
struct wfq_node {
	struct cds_wfcq_node node;
	uint64_t v;
};

struct wfq_queue {
	struct __cds_wfcq_head head;
	char pad0[SHARED_RING_ALIGN];
	struct cds_wfcq_tail tail;
	char pad1[SHARED_RING_ALIGN];
	struct __cds_wfcq_head fhead;
	char pad2[SHARED_RING_ALIGN];
	struct cds_wfcq_tail ftail;
	char pad3[SHARED_RING_ALIGN];
	struct wfq_node *pool;
};

struct wfq_state {
	struct wfq_queue q[2];
	int n;
};

struct wfq_ep {
	struct wfq_queue *q;
};

static void wfq_teardown(struct bench_run *run)
{
	struct wfq_state *st = run->state;

	for (int i = 0; i < st->n; i++)
		free(st->q[i].pool);
	free(st);
}

static int wfq_setup(struct bench_run *run)
{
	size_t sz = (sizeof(struct wfq_state) + SHARED_RING_ALIGN - 1) / SHARED_RING_ALIGN * SHARED_RING_ALIGN;
	struct wfq_state *st = aligned_alloc(SHARED_RING_ALIGN, sz);

	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof(*st));
	run->state = st;
	for (; st->n < (run->rtt ? 2 : 1); st->n++) {
		struct wfq_queue *q = &st->q[st->n];

		__cds_wfcq_init(&q->head, &q->tail);
		__cds_wfcq_init(&q->fhead, &q->ftail);
		q->pool = calloc(run->capacity, sizeof(struct wfq_node));
		if (!q->pool) {
			wfq_teardown(run);
			return -ENOMEM;
		}
		for (uint64_t k = 0; k < run->capacity; k++) {
			cds_wfcq_node_init(&q->pool[k].node);
			cds_wfcq_enqueue(&q->fhead, &q->ftail, &q->pool[k].node);
		}
	}
	return 0;
}

static int wfq_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct wfq_ep *ep = vep;

	(void)role;
	ep->q = &((struct wfq_state *)run->state)->q[ring];
	return 0;
}

static inline int wfq_send(struct wfq_ep *ep, const void *m, uint32_t size)
{
	struct cds_wfcq_node *n = __cds_wfcq_dequeue_blocking(&ep->q->fhead, &ep->q->ftail);
	struct wfq_node *w;

	(void)size;
	if (!n)
		return 0;
	w = caa_container_of(n, struct wfq_node, node);
	w->v = bench_tag_get(m);
	cds_wfcq_node_init(&w->node);
	cds_wfcq_enqueue(&ep->q->head, &ep->q->tail, &w->node);
	return 1;
}

static inline int wfq_recv(struct wfq_ep *ep, void *m, uint32_t size)
{
	struct cds_wfcq_node *n = __cds_wfcq_dequeue_blocking(&ep->q->head, &ep->q->tail);
	struct wfq_node *w;

	(void)size;
	if (!n)
		return 0;
	w = caa_container_of(n, struct wfq_node, node);
	bench_tag_set(m, w->v);
	cds_wfcq_node_init(&w->node);
	cds_wfcq_enqueue(&ep->q->fhead, &ep->q->ftail, &w->node);
	return 1;
}

BENCH_LOOPS(wfq, struct wfq_ep, wfq_send, wfq_recv)
#endif

#define LOOPS(PFX) .producer = PFX##_producer, .consumer = PFX##_consumer, .client = PFX##_client, \
		   .server = PFX##_server

static const struct bench_subject subjects[] = {
#if BENCH_HAVE_CK
	{
		.name = "ck-spsc",
		.group = "baseline",
		.desc = "Concurrency Kit ck_ring, enqueue_spsc/dequeue_spsc (one pointer-sized value)",
		.flags = BS_TPUT | BS_RTT,
		.max_size = 8,
		.setup = ckr_setup,
		.teardown = shm_rings_teardown,
		.ep_size = sizeof(struct ckr_ep),
		.ep_open = ckr_ep_open,
		LOOPS(ckspsc),
	},
	{
		.name = "ck-mpmc",
		.group = "baseline",
		.desc = "Concurrency Kit ck_ring, enqueue_mpmc/dequeue_mpmc",
		.flags = BS_TPUT | BS_MULTI,
		.max_size = 8,
		.setup = ckr_setup,
		.teardown = shm_rings_teardown,
		.ep_size = sizeof(struct ckr_ep),
		.ep_open = ckr_ep_open,
		LOOPS(ckmpmc),
	},
#endif
#if BENCH_HAVE_URCU
	{
		.name = "urcu-wfcq",
		.group = "baseline",
		.desc = "liburcu wait-free concurrent queue with a bounded node pool (threads)",
		.flags = BS_TPUT | BS_RTT | BS_THREADS,
		.max_size = 8,
		.setup = wfq_setup,
		.teardown = wfq_teardown,
		.ep_size = sizeof(struct wfq_ep),
		.ep_open = wfq_ep_open,
		LOOPS(wfq),
	},
#endif
	{
		.name = "lamport-cached",
		.group = "baseline",
		.desc = "Lamport SPSC ring with cached indices (bench/ref_lamport.h), one message at a time",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = 64,
		.setup = lp_setup,
		.teardown = shm_rings_teardown,
		.ep_size = sizeof(struct lp_ep),
		.ep_open = lp_ep_open,
		LOOPS(lp),
	},
	{
		.name = "lamport-cached-burst",
		.group = "baseline",
		.desc = "Lamport SPSC ring with cached indices, a run copied and published at once",
		.flags = BS_TPUT | BS_SIZES | BS_BURST,
		.max_size = 64,
		.burst = 32,
		.setup = lp_setup,
		.teardown = shm_rings_teardown,
		.ep_size = sizeof(struct lp_ep),
		.ep_open = lp_ep_open,
		.producer = lpb_producer,
		.consumer = lpb_consumer,
	},
	{
		.name = "vyukov",
		.group = "baseline",
		.desc = "Vyukov bounded MPMC queue (per-slot sequence numbers), reference",
		.flags = BS_TPUT | BS_RTT | BS_MULTI,
		.max_size = 8,
		.setup = vy_setup,
		.teardown = shm_rings_teardown,
		.ep_size = sizeof(struct vy_ep),
		.ep_open = vy_ep_open,
		LOOPS(vy),
	},
};

const struct bench_subjects bench_subjects_lockfree = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
