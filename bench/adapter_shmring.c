/* SPDX-License-Identifier: MIT */
/*
 * shmring subjects: the SPSC ring (single and burst; spinning on try_*,
 * and blocking through wait.h), the MPMC ring, the broadcast ring
 * (lossless and lossy) and, as its baseline, one SPSC ring per reader
 * (spsc-fanout).
 *
 * The rings are created without a name (memfd) before the endpoints start;
 * each endpoint attaches its own handle with shmring_dup, in its thread or
 * in its forked process, exactly as an application would.
 */
#include <stdio.h>
#include <stdlib.h>

#include <shmring/shmring.h>
#include <shmring/broadcast.h>
#include <shmring/mpmc.h>
#include <shmring/spsc.h>
#include <shmring/typed.h>
#include <shmring/wait.h>

#include "bench.h"

struct sr_state {
	struct shmring ring[2];
	int nrings;
};

struct sr_ep {
	struct shmring r; /* first: bench_sr_ep_open */
};

_Static_assert(offsetof(struct sr_ep, r) == 0, "bench_sr_ep_open takes the endpoint as its ring");

int bench_sr_setup(struct bench_run *run, uint32_t type, uint64_t capacity, uint32_t flags)
{
	struct sr_state *st = calloc(1, sizeof(*st));
	struct shmring_params p;
	int r;

	if (!st)
		return -ENOMEM;
	shmring_params_init(&p, type, capacity, run->size);
	p.flags = flags;
	for (st->nrings = 0; st->nrings < (run->rtt ? 2 : 1); st->nrings++) {
		r = shmring_create_anon(&st->ring[st->nrings], &p, SHMRING_ROLE_NONE);
		if (r < 0) {
			while (st->nrings > 0)
				shmring_close(&st->ring[--st->nrings]);
			free(st);
			return r;
		}
	}
	run->state = st;
	return 0;
}

static int sr_setup_spsc(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_SPSC, run->capacity, 0);
}

static int sr_setup_mpmc(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_MPMC, run->capacity, 0);
}

/* The same ring with the claim mode (opt-in, mpmc.h): an endpoint alone
 * on its side claims with plain stores. */
static int sr_setup_mpmc_solo(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_MPMC, run->capacity, SHMRING_F_SOLO);
}

void bench_sr_teardown(struct bench_run *run)
{
	struct sr_state *st = run->state;

	while (st->nrings > 0) {
		struct shmring *r = &st->ring[--st->nrings];

		if (getenv("SHMRING_BENCH_MODES") && r->type == SHMRING_MPMC)
			fprintf(stderr, "[mpmc %ux%u: grants %llu/%llu, revokes %llu/%llu (producers/consumers)]\n",
				run->nprod, run->ncons,
				(unsigned long long)r->ctrl->prod_stats.solo_grants,
				(unsigned long long)r->ctrl->cons_stats.solo_grants,
				(unsigned long long)r->ctrl->prod_stats.solo_revokes,
				(unsigned long long)r->ctrl->cons_stats.solo_revokes);
		shmring_close(r);
	}
	free(st);
}

/* vep: the endpoint struct, its first member the struct shmring */
int bench_sr_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct sr_state *st = run->state;
	struct shmring *r = vep;

	return shmring_dup(r, &st->ring[ring], role == BR_PROD ? SHMRING_PRODUCER : SHMRING_CONSUMER);
}

void bench_sr_ep_close(struct bench_run *run, void *vep)
{
	struct shmring *r = vep;

	(void)run;
	shmring_close(r);
}

/* single-message operations */
static inline int spsc_send(struct sr_ep *ep, const void *m, uint32_t size)
{
	int r = shmring_spsc_try_push(&ep->r, m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

static inline int spsc_recv(struct sr_ep *ep, void *m, uint32_t size)
{
	int r = shmring_spsc_try_pop(&ep->r, m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

BENCH_LOOPS(spsc, struct sr_ep, spsc_send, spsc_recv)

/* burst operations */
#define spsc_send_burst(ep, m, size, n) shmring_spsc_push_burst(&(ep)->r, (m), (n))
#define spsc_recv_burst(ep, m, size, n) shmring_spsc_pop_burst(&(ep)->r, (m), (n))

BENCH_BURST_LOOPS(spsc_burst, struct sr_ep, spsc_send_burst, spsc_recv_burst)

/* typed rings (typed.h): one element type per size N, the copies compiled
 * for N; the same ring as shmring-spsc */
#define TY_LOOPS(N, A, B)                                                                     \
	struct ty_elem##N {                                                                    \
		unsigned char b[N];                                                            \
	};                                                                                     \
	SHMRING_SPSC_TYPED(ty##N##_ring, struct ty_elem##N);                                   \
	static inline int ty##N##_send(struct sr_ep *ep, const void *m, uint32_t size)         \
	{                                                                                      \
		int r = ty##N##_ring_try_push(&ep->r, (const struct ty_elem##N *)m);           \
		(void)size;                                                                    \
		return r == 0 ? 1 : r == -EAGAIN ? 0 : r;                                      \
	}                                                                                      \
	static inline int ty##N##_recv(struct sr_ep *ep, void *m, uint32_t size)               \
	{                                                                                      \
		int r = ty##N##_ring_try_pop(&ep->r, (struct ty_elem##N *)m);                  \
		(void)size;                                                                    \
		return r == 0 ? 1 : r == -EAGAIN ? 0 : r;                                      \
	}                                                                                      \
	BENCH_LOOPS(ty##N, struct sr_ep, ty##N##_send, ty##N##_recv)
BENCH_SIZES_8_64(TY_LOOPS, _, _)
BENCH_SIZED_LOOPS(ty)

/* MPMC: every producer and consumer thread or process has its own handle */
static inline int mpmc_send(struct sr_ep *ep, const void *m, uint32_t size)
{
	int r = shmring_mpmc_try_push(&ep->r, m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

static inline int mpmc_recv(struct sr_ep *ep, void *m, uint32_t size)
{
	int r = shmring_mpmc_try_pop(&ep->r, m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

BENCH_LOOPS(mpmc, struct sr_ep, mpmc_send, mpmc_recv)

/* MPMC bursts: one claim for up to n slots */
#define mpmc_send_burst(ep, m, size, n) shmring_mpmc_push_burst(&(ep)->r, (m), (n))
#define mpmc_recv_burst(ep, m, size, n) shmring_mpmc_pop_burst(&(ep)->r, (m), (n))

BENCH_BURST_LOOPS(mpmc_burst, struct sr_ep, mpmc_send_burst, mpmc_recv_burst)

/*
 * Blocking: push_wait/pop_wait. "-wait" sleeps at once when the ring is
 * empty or full (SHMRING_WAIT_SLEEP), like the raw futex floor; "-adaptive"
 * uses the default policy (spin a while, then sleep).
 */
static int sr_ep_open_policy(struct bench_run *run, void *vep, int ring, int role, uint32_t mode)
{
	struct sr_ep *ep = vep;
	struct shmring_wait_policy p;
	int r = bench_sr_ep_open(run, vep, ring, role);

	if (r < 0)
		return r;
	memset(&p, 0, sizeof(p));
	p.mode = mode;
	r = shmring_wait_policy_set(&ep->r, &p);
	if (r < 0)
		shmring_close(&ep->r);
	return r;
}

static int sr_ep_open_sleep(struct bench_run *run, void *vep, int ring, int role)
{
	return sr_ep_open_policy(run, vep, ring, role, SHMRING_WAIT_SLEEP);
}

static int sr_ep_open_adaptive(struct bench_run *run, void *vep, int ring, int role)
{
	return sr_ep_open_policy(run, vep, ring, role, SHMRING_WAIT_SPIN_SLEEP);
}

static inline int spsc_send_wait(struct sr_ep *ep, const void *m, uint32_t size)
{
	int r = shmring_spsc_push_wait(&ep->r, m, NULL);

	(void)size;
	return r == 0 ? 1 : r;
}

static inline int spsc_recv_wait(struct sr_ep *ep, void *m, uint32_t size)
{
	int r = shmring_spsc_pop_wait(&ep->r, m, NULL);

	(void)size;
	return r == 0 ? 1 : r;
}

BENCH_LOOPS(spsc_wait, struct sr_ep, spsc_send_wait, spsc_recv_wait)

/*
 * Broadcast (broadcast.h): one producer, readers that each see every
 * message (BS_BCAST). A lossy reader that was lapped reads on from the
 * oldest message still there; the loss it was told of is reported when
 * it closes.
 */
static int sr_setup_bcast(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_BROADCAST, run->capacity, 0);
}

static int sr_setup_bcast_lossy(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_BROADCAST, run->capacity, SHMRING_F_LOSSY);
}

static void bcast_ep_close(struct bench_run *run, void *vep)
{
	struct sr_ep *ep = vep;
	int64_t lost = shmring_bcast_lost(&ep->r); /* -EBADF for the producer */

	if (lost > 0)
		atomic_fetch_add(&run->nlost, (uint64_t)lost);
	shmring_close(&ep->r);
}

static inline int bcast_send(struct sr_ep *ep, const void *m, uint32_t size)
{
	int r = shmring_bcast_try_push(&ep->r, m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

static inline int bcast_recv(struct sr_ep *ep, void *m, uint32_t size)
{
	int r;

	(void)size;
	/* -EOVERFLOW: lapped (lossy), counted in shmring_bcast_lost(); the
	 * next read takes the oldest message still in the ring */
	while ((r = shmring_bcast_try_read(&ep->r, m)) == -EOVERFLOW)
		;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

BENCH_LOOPS(bcast, struct sr_ep, bcast_send, bcast_recv)

static inline int64_t bcast_recv_burst(struct sr_ep *ep, void *m, uint64_t n)
{
	int64_t r;

	while ((r = shmring_bcast_read_burst(&ep->r, m, n)) == -EOVERFLOW)
		;
	return r;
}

#define bcast_send_burst(ep, m, size, n) shmring_bcast_push_burst(&(ep)->r, (m), (n))
#define bcast_recv_burst_op(ep, m, size, n) bcast_recv_burst((ep), (m), (n))

BENCH_BURST_LOOPS(bcast_burst, struct sr_ep, bcast_send_burst, bcast_recv_burst_op)

/*
 * spsc-fanout: what a user would write for a broadcast today, one SPSC
 * ring per reader. The producer pushes each message to every ring in
 * turn (spinning on a full one); each reader pops its own ring, which it
 * takes in the order the readers attach (a counter in shared memory, so
 * that reader processes see it too).
 */
struct fan_state {
	struct shmring ring[BENCH_MAX_EP];
	uint32_t nrings;
	BENCH_ATOMIC(uint32_t) *next_reader; /* shared mapping */
};

struct fan_ep {
	struct shmring r[BENCH_MAX_EP]; /* producer: one per reader; reader: its own in r[0] */
	uint32_t n, next;               /* rings held; producer: the ring the message goes to next */
};

static void fan_teardown(struct bench_run *run)
{
	struct fan_state *st = run->state;

	while (st->nrings > 0)
		shmring_close(&st->ring[--st->nrings]);
	bench_free_shared((void *)st->next_reader, sizeof(*st->next_reader));
	free(st);
}

static int fan_setup(struct bench_run *run)
{
	struct fan_state *st = calloc(1, sizeof(*st));
	struct shmring_params p;
	int r = 0;

	if (!st)
		return -ENOMEM;
	run->state = st;
	st->next_reader = bench_alloc_shared(sizeof(*st->next_reader));
	if (!st->next_reader) {
		fan_teardown(run);
		return -ENOMEM;
	}
	shmring_params_init(&p, SHMRING_SPSC, run->capacity, run->size);
	for (; st->nrings < run->ncons; st->nrings++) {
		r = shmring_create_anon(&st->ring[st->nrings], &p, SHMRING_ROLE_NONE);
		if (r < 0) {
			fan_teardown(run);
			return r;
		}
	}
	return 0;
}

static void fan_ep_close(struct bench_run *run, void *vep)
{
	struct fan_ep *ep = vep;

	(void)run;
	while (ep->n > 0)
		shmring_close(&ep->r[--ep->n]);
}

static int fan_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct fan_state *st = run->state;
	struct fan_ep *ep = vep;
	int r;

	(void)ring;
	if (role == BR_CONS) {
		uint32_t i = atomic_fetch_add(st->next_reader, 1);

		if (i >= st->nrings)
			return -EINVAL;
		r = shmring_dup(&ep->r[0], &st->ring[i], SHMRING_CONSUMER);
		ep->n = r == 0;
		return r;
	}
	for (ep->n = 0; ep->n < st->nrings; ep->n++) {
		if ((r = shmring_dup(&ep->r[ep->n], &st->ring[ep->n], SHMRING_PRODUCER)) < 0) {
			fan_ep_close(run, ep);
			return r;
		}
	}
	return 0;
}

/* 1 once the message is in every ring; 0 while ring ep->next is full
 * (the loop retries the same message from there) */
static inline int fan_send(struct fan_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	for (; ep->next < ep->n; ep->next++) {
		int r = shmring_spsc_try_push(&ep->r[ep->next], m);

		if (r < 0)
			return r == -EAGAIN ? 0 : r;
	}
	ep->next = 0;
	return 1;
}

static inline int fan_recv(struct fan_ep *ep, void *m, uint32_t size)
{
	int r = shmring_spsc_try_pop(&ep->r[0], m);

	(void)size;
	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

BENCH_TPUT_LOOPS(fan, struct fan_ep, fan_send, fan_recv)

static const struct bench_subject subjects[] = {
	{
		.name = "shmring-spsc",
		.group = "shmring",
		.desc = "SPSC slot ring, try_push/try_pop one message at a time",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = SHMRING_SLOT_MAX,
		.setup = sr_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = spsc_producer,
		.consumer = spsc_consumer,
		.client = spsc_client,
		.server = spsc_server,
	},
	{
		.name = "shmring-spsc-burst",
		.group = "shmring",
		.desc = "SPSC slot ring, push_burst/pop_burst",
		.flags = BS_TPUT | BS_BURST | BS_SIZES,
		.max_size = 64,
		.burst = 32,
		.setup = sr_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = spsc_burst_producer,
		.consumer = spsc_burst_consumer,
	},
	{
		.name = "shmring-spsc-typed",
		.group = "shmring",
		.desc = "SPSC slot ring through SHMRING_SPSC_TYPED (typed.h): copies compiled for the element size",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = 64,
		.setup = sr_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = ty_producer,
		.consumer = ty_consumer,
		.client = ty_client,
		.server = ty_server,
	},
	{
		.name = "shmring-mpmc",
		.group = "shmring",
		.desc = "MPMC slot ring (default: every claim a CAS), try_push/try_pop",
		.flags = BS_TPUT | BS_RTT | BS_MULTI,
		.max_size = 8,
		.setup = sr_setup_mpmc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = mpmc_producer,
		.consumer = mpmc_consumer,
		.client = mpmc_client,
		.server = mpmc_server,
	},
	{
		.name = "shmring-mpmc-solo",
		.group = "shmring",
		.desc = "MPMC slot ring with SHMRING_F_SOLO (the claim mode), try_push/try_pop",
		.flags = BS_TPUT | BS_MULTI,
		.max_size = 8,
		.setup = sr_setup_mpmc_solo,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = mpmc_producer,
		.consumer = mpmc_consumer,
	},
	{
		.name = "shmring-mpmc-burst",
		.group = "shmring",
		.desc = "MPMC slot ring, push_burst/pop_burst",
		.flags = BS_TPUT | BS_BURST | BS_MULTI,
		.max_size = 8,
		.burst = 32,
		.setup = sr_setup_mpmc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = mpmc_burst_producer,
		.consumer = mpmc_burst_consumer,
	},
	{
		.name = "shmring-spsc-wait",
		.group = "shmring",
		.desc = "SPSC slot ring, push_wait/pop_wait, sleeps at once on empty/full (futex)",
		.flags = BS_TPUT | BS_RTT | BS_BLOCK,
		.max_size = 8,
		.setup = sr_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = sr_ep_open_sleep,
		.ep_close = bench_sr_ep_close,
		.producer = spsc_wait_producer,
		.consumer = spsc_wait_consumer,
		.client = spsc_wait_client,
		.server = spsc_wait_server,
	},
	{
		.name = "shmring-spsc-adaptive",
		.group = "shmring",
		.desc = "SPSC slot ring, push_wait/pop_wait, default policy: spin a while, then sleep",
		.flags = BS_TPUT | BS_RTT | BS_BLOCK,
		.max_size = 8,
		.setup = sr_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = sr_ep_open_adaptive,
		.ep_close = bench_sr_ep_close,
		.producer = spsc_wait_producer,
		.consumer = spsc_wait_consumer,
		.client = spsc_wait_client,
		.server = spsc_wait_server,
	},
	{
		.name = "shmring-bcast",
		.group = "shmring",
		.desc = "broadcast ring (lossless), try_push/try_read: every reader gets every message",
		.flags = BS_TPUT | BS_RTT | BS_SIZES | BS_BCAST,
		.max_size = 64,
		.setup = sr_setup_bcast,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bcast_ep_close,
		.producer = bcast_producer,
		.consumer = bcast_consumer,
		.client = bcast_client,
		.server = bcast_server,
	},
	{
		.name = "shmring-bcast-lossy",
		.group = "shmring",
		.desc = "broadcast ring, SHMRING_F_LOSSY: the producer never waits, lapped readers count their loss",
		.flags = BS_TPUT | BS_SIZES | BS_BCAST | BS_LOSSY,
		.max_size = 64,
		.setup = sr_setup_bcast_lossy,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bcast_ep_close,
		.producer = bcast_producer,
		.consumer = bcast_consumer,
	},
	{
		.name = "shmring-bcast-burst",
		.group = "shmring",
		.desc = "broadcast ring (lossless), push_burst/read_burst",
		.flags = BS_TPUT | BS_BURST | BS_SIZES | BS_BCAST,
		.max_size = 64,
		.burst = 32,
		.setup = sr_setup_bcast,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct sr_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bcast_ep_close,
		.producer = bcast_burst_producer,
		.consumer = bcast_burst_consumer,
	},
	{
		.name = "spsc-fanout",
		.group = "baseline",
		.desc = "one SPSC shmring ring per reader, the producer pushing each message to every ring",
		.flags = BS_TPUT | BS_SIZES | BS_BCAST,
		.max_size = 64,
		.setup = fan_setup,
		.teardown = fan_teardown,
		.ep_size = sizeof(struct fan_ep),
		.ep_open = fan_ep_open,
		.ep_close = fan_ep_close,
		.producer = fan_producer,
		.consumer = fan_consumer,
	},
};

const struct bench_subjects bench_subjects_shmring = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
