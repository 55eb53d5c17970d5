/* SPDX-License-Identifier: MIT */
/*
 * DPDK rte_ring baselines: SP/SC and MP/MC (single and burst) and HTS
 * (head-tail sync) with 8-byte elements, SP/SC bursts of 8 to 64 bytes,
 * and SP/SC with message-sized elements for the size sweep.
 *
 * DPDK's ring library works without the environment layer (EAL): the ring
 * is sized with rte_ring_get_memsize_elem and set up with rte_ring_init on
 * memory of our own, here a shared mapping, so it runs between processes
 * as well. Built only when libdpdk-dev is found; this file alone gets
 * DPDK's compiler flags.
 */
#include <stdlib.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bench.h"

struct dpdk_state {
	struct rte_ring *ring[2];
	size_t size;
	int n;
};

struct dpdk_ep {
	struct rte_ring *r;
	uint32_t esize;
};

static void dpdk_teardown(struct bench_run *run)
{
	struct dpdk_state *st = run->state;

	while (st->n > 0)
		bench_free_shared(st->ring[--st->n], st->size);
	free(st);
}

static int dpdk_setup_flags(struct bench_run *run, unsigned flags)
{
	struct dpdk_state *st = calloc(1, sizeof(*st));
	ssize_t sz = rte_ring_get_memsize_elem(run->size, (unsigned)run->capacity);

	if (!st)
		return -ENOMEM;
	if (sz < 0) {
		free(st);
		return (int)sz;
	}
	st->size = (size_t)sz;
	run->state = st;
	for (; st->n < (run->rtt ? 2 : 1); st->n++) {
		st->ring[st->n] = bench_alloc_shared(st->size);
		if (!st->ring[st->n]) {
			dpdk_teardown(run);
			return -ENOMEM;
		}
		int r = rte_ring_init(st->ring[st->n], st->n ? "bench1" : "bench0", (unsigned)run->capacity, flags);

		if (r < 0) {
			st->n++;
			dpdk_teardown(run);
			return r;
		}
	}
	return 0;
}

static int dpdk_setup_spsc(struct bench_run *run)
{
	return dpdk_setup_flags(run, RING_F_SP_ENQ | RING_F_SC_DEQ);
}

static int dpdk_setup_mpmc(struct bench_run *run)
{
	return dpdk_setup_flags(run, 0);
}

static int dpdk_setup_hts(struct bench_run *run)
{
	return dpdk_setup_flags(run, RING_F_MP_HTS_ENQ | RING_F_MC_HTS_DEQ);
}

static int dpdk_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct dpdk_ep *ep = vep;

	(void)role;
	ep->r = ((struct dpdk_state *)run->state)->ring[ring];
	ep->esize = run->size;
	return 0;
}

/* 8-byte elements: the esize is a constant the compiler sees */
#define DPDK_OPS(NAME, ENQ, DEQ)                                                              \
	static inline int NAME##_send(struct dpdk_ep *ep, const void *m, uint32_t size)     \
	{                                                                                  \
		(void)size;                                                                \
		return (int)ENQ(ep->r, m, 8, 1, NULL);                                      \
	}                                                                                  \
	static inline int NAME##_recv(struct dpdk_ep *ep, void *m, uint32_t size)           \
	{                                                                                  \
		(void)size;                                                                \
		return (int)DEQ(ep->r, m, 8, 1, NULL);                                      \
	}                                                                                  \
	BENCH_LOOPS(NAME, struct dpdk_ep, NAME##_send, NAME##_recv)

DPDK_OPS(dspsc, rte_ring_sp_enqueue_bulk_elem, rte_ring_sc_dequeue_bulk_elem)
DPDK_OPS(dmpmc, rte_ring_mp_enqueue_bulk_elem, rte_ring_mc_dequeue_bulk_elem)
DPDK_OPS(dhts, rte_ring_mp_hts_enqueue_bulk_elem, rte_ring_mc_hts_dequeue_bulk_elem)

/* message-sized elements (a multiple of 4 bytes) */
static inline int dsize_send(struct dpdk_ep *ep, const void *m, uint32_t size)
{
	return (int)rte_ring_sp_enqueue_bulk_elem(ep->r, m, size, 1, NULL);
}

static inline int dsize_recv(struct dpdk_ep *ep, void *m, uint32_t size)
{
	return (int)rte_ring_sc_dequeue_bulk_elem(ep->r, m, size, 1, NULL);
}

BENCH_LOOPS(dsize, struct dpdk_ep, dsize_send, dsize_recv)

/* SP/SC bursts of 8- to 64-byte elements, the esize a constant in each
 * size's instance of the loops (bench.h, BENCH_SIZED_BURST_LOOPS) */
#define DBURST_LOOPS(N, A, B)                                                                 \
	static inline int64_t dburst##N##_send(struct dpdk_ep *ep, const void *m, uint32_t size, \
					       uint64_t n)                                  \
	{                                                                                  \
		(void)size;                                                                \
		return (int64_t)rte_ring_sp_enqueue_burst_elem(ep->r, m, N, (unsigned)n, NULL); \
	}                                                                                  \
	static inline int64_t dburst##N##_recv(struct dpdk_ep *ep, void *m, uint32_t size, uint64_t n) \
	{                                                                                  \
		(void)size;                                                                \
		return (int64_t)rte_ring_sc_dequeue_burst_elem(ep->r, m, N, (unsigned)n, NULL); \
	}                                                                                  \
	BENCH_BURST_LOOPS(dburst##N, struct dpdk_ep, dburst##N##_send, dburst##N##_recv)
BENCH_SIZES_8_64(DBURST_LOOPS, _, _)
BENCH_SIZED_BURST_LOOPS(dburst)

#define dmburst_send(ep, m, size, n) (int64_t)rte_ring_mp_enqueue_burst_elem((ep)->r, (m), 8, (n), NULL)
#define dmburst_recv(ep, m, size, n) (int64_t)rte_ring_mc_dequeue_burst_elem((ep)->r, (m), 8, (n), NULL)

BENCH_BURST_LOOPS(dmburst, struct dpdk_ep, dmburst_send, dmburst_recv)

#define DPDK_SUBJECT(NAME, DESC, FLAGS, MAX, SETUP)                                           \
	.name = NAME, .group = "baseline", .desc = DESC, .flags = FLAGS, .max_size = MAX,   \
	.setup = SETUP, .teardown = dpdk_teardown, .ep_size = sizeof(struct dpdk_ep),      \
	.ep_open = dpdk_ep_open

static const struct bench_subject subjects[] = {
	{
		DPDK_SUBJECT("dpdk-spsc", "DPDK rte_ring SP/SC, 8-byte elements, one at a time",
			     BS_TPUT | BS_RTT, 8, dpdk_setup_spsc),
		.producer = dspsc_producer, .consumer = dspsc_consumer,
		.client = dspsc_client, .server = dspsc_server,
	},
	{
		DPDK_SUBJECT("dpdk-spsc-burst", "DPDK rte_ring SP/SC burst, 8- to 64-byte elements",
			     BS_TPUT | BS_BURST | BS_SIZES, 64, dpdk_setup_spsc),
		.burst = 32,
		.producer = dburst_producer, .consumer = dburst_consumer,
	},
	{
		DPDK_SUBJECT("dpdk-spsc-elem", "DPDK rte_ring SP/SC with message-sized elements",
			     BS_TPUT | BS_SIZES, 64u << 10, dpdk_setup_spsc),
		.min_size = 16,
		.producer = dsize_producer, .consumer = dsize_consumer,
		.client = dsize_client, .server = dsize_server,
	},
	{
		DPDK_SUBJECT("dpdk-mpmc", "DPDK rte_ring MP/MC", BS_TPUT | BS_MULTI, 8, dpdk_setup_mpmc),
		.producer = dmpmc_producer, .consumer = dmpmc_consumer,
		.client = dmpmc_client, .server = dmpmc_server,
	},
	{
		DPDK_SUBJECT("dpdk-mpmc-burst", "DPDK rte_ring MP/MC burst", BS_TPUT | BS_BURST | BS_MULTI, 8,
			     dpdk_setup_mpmc),
		.burst = 32,
		.producer = dmburst_producer, .consumer = dmburst_consumer,
	},
	{
		DPDK_SUBJECT("dpdk-hts", "DPDK rte_ring MP/MC head-tail sync (HTS)", BS_TPUT | BS_MULTI, 8,
			     dpdk_setup_hts),
		.producer = dhts_producer, .consumer = dhts_consumer,
		.client = dhts_client, .server = dhts_server,
	},
};

const struct bench_subjects bench_subjects_dpdk = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
