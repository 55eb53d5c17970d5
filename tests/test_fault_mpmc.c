/* SPDX-License-Identifier: MIT */
/*
 * MPMC faults across processes:
 *
 *  - a producer stopped (SIGSTOP) inside its claim, between reading the
 *    claim mode word and writing the counter, and producers stopped at
 *    random instants: with the default flags the other producer goes on
 *    (the claim mode, which would make it wait, is opt-in: SHMRING_F_SOLO);
 *  - close with a reservation or a peek open settles what it holds: the
 *    reserved slots are given back and counted, the peeked messages are
 *    counted lost, and the ring flows on;
 *  - a consumer killed inside pop_wait after dropping its claim, while it
 *    wakes the producers: recovery counts the message it took;
 *  - the producers keep stats.high_water.
 *
 * The stops and kills come from mpmc.h's fault hook (this test's inlined
 * copy of the fast path only).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

static void t_fault_hook(int point);
#define SHMRING_FAULT_HOOK(point) t_fault_hook(point)
/* Where a ring has the claim mode, ask for it after 8 uncontended claims,
 * not 1024, so that a random stop often finds a holder (mpmc.h). */
#define SHMRING_MPMC_SOLO_RUN 8u

#include "common.h"
#include "../src/internal.h"

#include <shmring/mpmc.h>
#include <shmring/wait.h>

/* The hook: at `fault_point`, once armed, stop (SIGSTOP) or die (SIGKILL).
 * With claim_delay, every claim lingers between reading the mode word and
 * writing the counter, so that random stops often land there. */
static int fault_point, fault_sig;
static unsigned claim_delay;

static void t_fault_hook(int point)
{
	if (point == SHMRING_FAULT_CLAIM_MODE_READ && claim_delay)
		for (volatile unsigned i = 0; i < claim_delay; i++)
			;
	if (point != fault_point || !fault_sig)
		return;
	int sig = fault_sig;

	fault_sig = 0;
	kill(getpid(), sig);
	if (sig == SIGKILL)
		for (;;)
			pause();
}

static uint64_t st_get(SHMRING_ATOMIC(uint64_t) *c)
{
	return shmring_atomic_load(c, SHMRING_RELAXED);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void make(struct shmring *r, uint64_t cap, uint32_t flags)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_MPMC, cap, sizeof(uint64_t));
	p.flags = flags;
	p.max_endpoints = 8;
	cr_assert_eq(shmring_create_anon(r, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

/* Wait until the child has stopped itself. */
static void wait_stopped(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st), "child status 0x%x", st);
}

static void kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- a producer stopped inside its claim ---- */

#define STOP_MSGS 20000u
#define WATCHDOG_MS 20000u

/*
 * Producer A attaches first (alone on its side, as the claim mode's
 * grant needs) and stops itself inside a claim; producer B then pushes
 * STOP_MSGS while a consumer drains. Returns how many B pushed before the
 * watchdog.
 */
static uint64_t others_progress(uint32_t flags)
{
	struct shmring ring, c, b;
	uint64_t pushed = 0, popped = 0, v;

	make(&ring, 64, flags);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring a;

		if (shmring_dup(&a, &ring, SHMRING_PRODUCER) < 0)
			_exit(2);
		for (uint64_t i = 0; i < 10; i++)
			if (shmring_mpmc_try_push(&a, &i) < 0)
				_exit(3);
		fault_point = SHMRING_FAULT_CLAIM_MODE_READ;
		fault_sig = SIGSTOP;
		shmring_mpmc_try_push(&a, &(uint64_t){ 10 });
		_exit(0);
	}
	wait_stopped(pid);
	cr_assert_eq(shmring_dup(&b, &ring, SHMRING_PRODUCER), 0);
	for (uint64_t t0 = now_ms(); pushed < STOP_MSGS && now_ms() - t0 < WATCHDOG_MS;) {
		if (shmring_mpmc_try_push(&b, &(uint64_t){ 1000 + pushed }) == 0)
			pushed++;
		while (shmring_mpmc_try_pop(&c, &v) == 0)
			popped++;
	}
	while (shmring_mpmc_try_pop(&c, &v) == 0)
		popped++;
	kill_reap(pid);
	if (pushed == STOP_MSGS)
		cr_assert_eq(popped, 10 + STOP_MSGS, "popped %llu", (unsigned long long)popped);
	shmring_close(&b);
	shmring_close(&c);
	shmring_close(&ring);
	return pushed;
}

Test(fault_mpmc, producer_stopped_in_claim_others_go_on, .timeout = 60)
{
	uint64_t n = others_progress(0);

	cr_assert_eq(n, STOP_MSGS, "the other producer pushed %llu of %u while the first was stopped",
		     (unsigned long long)n, STOP_MSGS);
}

/* SHMRING_F_NO_SOLO names the default now: the same. */
Test(fault_mpmc, producer_stopped_in_claim_no_solo, .timeout = 60)
{
	cr_assert_eq(others_progress(SHMRING_F_NO_SOLO), STOP_MSGS);
}

/*
 * Two producer processes push as fast as they can, each its own sequence,
 * and count their pushes in shared memory (each claim lingering inside the
 * claim, between reading the mode word and writing the counter, so that
 * stops often land there); the parent consumes, and stops one of them
 * (SIGSTOP) at random instants: while it is stopped, the
 * other goes on pushing PROGRESS messages, or until the ring is full. (A
 * producer stopped, or preempted before the stop, between its claim and
 * its publication holds the consumers at its slot, FIFO order: the other
 * can fill the ring behind it, and then waits for room. That is the
 * bound; the claim mode's stall left the other stuck on a ring with room.)
 * At the end, each producer's messages arrived once each, in order.
 */
#define ROUNDS 200u
#define PROGRESS 200u
#define RAND_CAP 1024u

static void producer_loop(struct shmring *ring, uint64_t id, _Atomic uint64_t *count)
{
	struct shmring p;

	if (shmring_dup(&p, ring, SHMRING_PRODUCER) < 0)
		_exit(2);
	claim_delay = 2000;
	for (uint64_t s = 0;; ) {
		uint64_t v = id << 56 | s;
		int ret = shmring_mpmc_try_push(&p, &v);

		if (ret == 0)
			atomic_store(count, ++s);
		else if (ret != -EAGAIN)
			_exit(3);
	}
}

Test(fault_mpmc, two_producers_stopped_at_random, .timeout = 120)
{
	struct shmring ring, c;
	unsigned held_fifo = 0;
	uint64_t next[2] = { 0, 0 }, v, seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	pid_t pid[2];

	_Atomic uint64_t *pushed = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert(pushed != MAP_FAILED);
	make(&ring, RAND_CAP, 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	for (int i = 0; i < 2; i++) {
		pid[i] = t_fork();
		cr_assert(pid[i] >= 0);
		if (pid[i] == 0)
			producer_loop(&ring, (uint64_t)i, &pushed[i * 16]);
	}
	for (unsigned round = 0; round < ROUNDS; round++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int victim = (int)(seed >> 63);
		uint64_t delay = (seed >> 20) % 3000, t0 = now_ms(), before;

		/* Run a random while, both producers going. */
		for (uint64_t k = 0; k < delay; k++)
			while (shmring_mpmc_try_pop(&c, &v) == 0) {
				int id = (int)(v >> 56);

				cr_assert(id == 0 || id == 1, "message 0x%llx", (unsigned long long)v);
				cr_assert_eq(v & ((1ull << 56) - 1), next[id]);
				next[id]++;
			}
		kill(pid[victim], SIGSTOP);
		wait_stopped(pid[victim]);
		before = atomic_load(&pushed[!victim * 16]);
		int full = 0;

		while (atomic_load(&pushed[!victim * 16]) - before < PROGRESS && !full &&
		       now_ms() - t0 < WATCHDOG_MS) {
			while (shmring_mpmc_try_pop(&c, &v) == 0) {
				int id = (int)(v >> 56);

				cr_assert_eq(v & ((1ull << 56) - 1), next[id]);
				next[id]++;
			}
			/* Nothing to pop and no room: stopped at the victim's
			 * slot, with the ring full behind it. */
			full = shmring_atomic_load(&ring.ctrl->prod.claim, SHMRING_RELAXED) -
				       shmring_atomic_load(&ring.ctrl->cons.claim, SHMRING_RELAXED) ==
			       RAND_CAP;
		}
		uint64_t got = atomic_load(&pushed[!victim * 16]) - before;

		cr_assert(got >= PROGRESS || full, "round %u: producer %d stopped, the other pushed %llu",
			  round, victim, (unsigned long long)got);
		held_fifo += full;
		kill(pid[victim], SIGCONT);
	}
	kill_reap(pid[0]);
	kill_reap(pid[1]);
	cr_assert_lt(held_fifo, ROUNDS, "every round ended on a full ring");
	cr_assert_gt(next[0] + next[1], (ROUNDS - held_fifo) * PROGRESS);
	munmap(pushed, 4096);
	shmring_close(&c);
	shmring_close(&ring);
}

/* The claim mode is granted where asked for, and only there. */
Test(fault_mpmc, claim_mode_is_opt_in)
{
	struct shmring ring, p, c;
	struct shmring_params prm;
	struct shmring_mpmc_block *b;
	uint64_t v;

	make(&ring, 64, 0);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	b = (struct shmring_mpmc_block *)(void *)ring.ctrl->kind_blocks;
	for (uint64_t i = 0; i < 3 * SHMRING_MPMC_SOLO_RUN; i++) {
		cr_assert_eq(shmring_mpmc_try_push(&p, &i), 0);
		cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	cr_assert_eq(shmring_atomic_load(&b->solo[0], SHMRING_RELAXED), 0);
	cr_assert_eq(shmring_atomic_load(&b->solo[1], SHMRING_RELAXED), 0);
	cr_assert_eq(st_get(&ring.ctrl->prod_stats.solo_grants) + st_get(&ring.ctrl->cons_stats.solo_grants), 0);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);

	make(&ring, 64, SHMRING_F_SOLO);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	b = (struct shmring_mpmc_block *)(void *)ring.ctrl->kind_blocks;
	cr_assert_neq(shmring_atomic_load(&b->solo[0], SHMRING_RELAXED), 0, "a lone producer holds the mode");
	shmring_close(&p);
	shmring_close(&ring);

	shmring_params_init(&prm, SHMRING_MPMC, 64, 8);
	prm.flags = SHMRING_F_SOLO | SHMRING_F_NO_SOLO;
	cr_assert_eq(shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE), -EINVAL);
}

/* ---- close with a reservation or a peek open ---- */

Test(fault_mpmc, close_with_reservation_open, .timeout = 60)
{
	struct shmring ring, c, p2;
	uint64_t v = 0;

	make(&ring, 8, 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring p;
		uint64_t pos;

		if (shmring_dup(&p, &ring, SHMRING_PRODUCER) < 0)
			_exit(2);
		if (shmring_mpmc_try_push(&p, &(uint64_t){ 1 }) != 0)
			_exit(3);
		if (shmring_mpmc_reserve(&p, 3, &pos) != 3)
			_exit(4);
		if (shmring_close(&p) != 0)
			_exit(5);
		_exit(0);
	}
	t_wait_ok(pid, "producer closing with a reservation");
	/* Behind the reservation: another producer's message. */
	cr_assert_eq(shmring_mpmc_try_push(&p2, &(uint64_t){ 2 }), 0);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0, "the ring is wedged at the closed reservation");
	cr_assert_eq(v, 2);
	cr_assert_eq(st_get(&ring.ctrl->prod_stats.skipped), 3);
	/* Laps on. */
	for (uint64_t i = 0; i < 40; i++) {
		cr_assert_eq(shmring_mpmc_try_push(&p2, &i), 0);
		cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

Test(fault_mpmc, close_with_peek_open, .timeout = 60)
{
	struct shmring ring, c, p;
	uint64_t v = 0;

	make(&ring, 8, 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	for (uint64_t i = 0; i < 5; i++)
		cr_assert_eq(shmring_mpmc_try_push(&p, &i), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring c2;
		uint64_t pos;

		if (shmring_dup(&c2, &ring, SHMRING_CONSUMER) < 0)
			_exit(2);
		if (shmring_mpmc_peek(&c2, 2, &pos) != 2)
			_exit(3);
		if (shmring_close(&c2) != 0)
			_exit(5);
		_exit(0);
	}
	t_wait_ok(pid, "consumer closing with a peek");
	cr_assert_eq(st_get(&ring.ctrl->cons_stats.lost), 2, "lost %llu",
		     (unsigned long long)st_get(&ring.ctrl->cons_stats.lost));
	for (uint64_t i = 2; i < 5; i++) {
		cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	/* The peeked slots are free again: a whole lap fits. */
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(shmring_mpmc_try_push(&p, &i), 0, "push %llu", (unsigned long long)i);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

/* ---- a consumer killed in pop_wait while it wakes the producers ---- */

Test(fault_mpmc, consumer_killed_waking_producers, .timeout = 60)
{
	struct shmring ring, p;
	uint64_t v;

	make(&ring, 4, 0);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	for (uint64_t i = 0; i < 4; i++)
		cr_assert_eq(shmring_mpmc_try_push(&p, &i), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring c;

		if (shmring_dup(&c, &ring, SHMRING_CONSUMER) < 0)
			_exit(2);
		fault_point = SHMRING_FAULT_CONS_WAKING;
		fault_sig = SIGKILL;
		shmring_mpmc_pop_wait(&c, &v, NULL);
		_exit(3);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "consumer status 0x%x", st);
	cr_assert_eq(shmring_recover(&p), 1);
	cr_assert_eq(st_get(&ring.ctrl->cons_stats.lost), 1, "lost %llu",
		     (unsigned long long)st_get(&ring.ctrl->cons_stats.lost));
	struct shmring c;

	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	for (uint64_t i = 1; i < 4; i++) {
		cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	shmring_close(&c);
	shmring_close(&p);
	shmring_close(&ring);
}

/* ---- high-water ---- */

/* High-water is what a producer saw when it refreshed its limit or used
 * the last slot it knew free: exact when the ring fills. */
Test(fault_mpmc, producers_keep_high_water, .timeout = 60)
{
	struct shmring ring, c;
	uint64_t v;

	make(&ring, 64, SHMRING_F_COUNTERS);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	for (int round = 0; round < 2; round++) {
		pid_t pid = t_fork();

		cr_assert(pid >= 0);
		if (pid == 0) {
			struct shmring p;

			if (shmring_dup(&p, &ring, SHMRING_PRODUCER) < 0)
				_exit(2);
			for (uint64_t i = 0; i < (round ? 30u : 64u); i++)
				if (shmring_mpmc_try_push(&p, &i) != 0)
					_exit(3);
			_exit(0);
		}
		t_wait_ok(pid, "producer");
		cr_assert_eq(st_get(&ring.ctrl->prod_stats.high_water), 64, "round %d: high-water %llu",
			     round, (unsigned long long)st_get(&ring.ctrl->prod_stats.high_water));
		for (int i = 0; i < (round ? 64 : 30); i++)
			cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
	}
	shmring_close(&c);
	shmring_close(&ring);
}

/* ---- attaching to a ring in full flow ---- */

/*
 * One producer and one consumer thread stream through a 2-slot ring while
 * the test attaches and closes another producer 2,000 times. An attach
 * reads both claim counters; a reader preempted between its two loads
 * (the library's test hook sleeps there, on every other call) sees the
 * streaming pair laps apart, which is not corruption: every attach must
 * succeed (each such attach was refused with -EPROTO; under load the
 * oversubscribed thread stress and the recovery chaos test hit it).
 */
static _Atomic unsigned claims_calls;

static void claims_hook(int point)
{
	if (point == SHMRING_FAULT_MPMC_CLAIMS && atomic_fetch_add(&claims_calls, 1) % 2 == 0) {
		struct timespec ts = { 0, 200000 };

		nanosleep(&ts, NULL);
	}
}

struct flow {
	struct shmring *ring;
	_Atomic int stop;
};

static void *flow_prod(void *arg)
{
	struct flow *f = arg;
	struct shmring h;
	uint64_t v = 0;

	if (shmring_dup(&h, f->ring, SHMRING_PRODUCER) < 0)
		return (void *)1;
	while (!atomic_load(&f->stop))
		v += shmring_mpmc_try_push(&h, &v) == 0;
	shmring_close(&h);
	return NULL;
}

static void *flow_cons(void *arg)
{
	struct flow *f = arg;
	struct shmring h;
	uint64_t v;

	if (shmring_dup(&h, f->ring, SHMRING_CONSUMER) < 0)
		return (void *)1;
	while (!atomic_load(&f->stop))
		(void)shmring_mpmc_try_pop(&h, &v);
	shmring_close(&h);
	return NULL;
}

Test(fault_mpmc, attach_during_traffic, .timeout = 120)
{
	struct shmring ring, p;
	struct flow f = { .ring = &ring };
	pthread_t tp, tc;
	void *rp, *rc;
	unsigned refused = 0;
	int first = 0;

	make(&ring, 2, 0);
	cr_assert_eq(pthread_create(&tp, NULL, flow_prod, &f), 0);
	cr_assert_eq(pthread_create(&tc, NULL, flow_cons, &f), 0);
	shmring__test_fault_hook = claims_hook;
	for (unsigned i = 0; i < 2000; i++) {
		int ret = shmring_dup(&p, &ring, SHMRING_PRODUCER);

		if (ret < 0) {
			refused++;
			first = first ? first : ret;
			continue;
		}
		shmring_close(&p);
	}
	shmring__test_fault_hook = NULL;
	atomic_store(&f.stop, 1);
	pthread_join(tp, &rp);
	pthread_join(tc, &rc);
	cr_assert_null(rp);
	cr_assert_null(rc);
	cr_assert_eq(refused, 0, "%u of 2000 attaches refused (first: %d, %s)", refused, first,
		     shmring_errdetail());
	shmring_close(&ring);
}
