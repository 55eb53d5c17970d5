/* SPDX-License-Identifier: MIT */
/*
 * MPMC automatic recovery by waiters (no shmring_recover() call anywhere):
 *
 *  - a producer process SIGKILLed between claim and publish (each labelled
 *    fault point of mpmc.h) while the consumer sleeps in pop_wait behind
 *    its slot: the consumer's own liveness check skips the slot and goes
 *    on; every other producer's message arrives once and in order, every
 *    message the victim's push returned for arrives, the one in flight
 *    never does, and the skipped slot is counted (prod_stats, cons_stats);
 *  - the same with only the producers allowed to recover (they wait for
 *    room behind the stuck slot), and with everyone recovering at once
 *    (two consumer and two producer processes racing to recover);
 *  - every producer dead: the consumer takes what was published past the
 *    dead slot, then gets -EPIPE;
 *  - a consumer killed between claim and release while a producer sleeps
 *    in push_wait on the full ring: the producer drops the dead claim and
 *    goes on; exactly the claimed message is lost (cons_stats.lost).
 *
 * Nothing here is timed: the waits have no deadline, the test a timeout.
 */
#include <sys/mman.h>

static void t_fault_hook(int point);
#define SHMRING_FAULT_HOOK(point) t_fault_hook(point)

#include "common.h"

#include <shmring/wait.h>

static int fault_point;
static long fault_countdown;

static void t_fault_hook(int point)
{
	if (point == fault_point && --fault_countdown == 0) {
		kill(getpid(), SIGKILL);
		for (;;)
			pause();
	}
}

static uint64_t st_get(SHMRING_ATOMIC(uint64_t) *c)
{
	return shmring_atomic_load(c, SHMRING_RELAXED);
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return rnd_state >> 33;
}

#define CAP 16
#define NSURV 2
#define SURV_MSGS 400

/* policy: slice_ms (0: default) and whether this handle may recover */
static void set_policy(struct shmring *r, uint32_t slice_ms, int recover)
{
	struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP, .slice_ms = slice_ms };

	if (!recover)
		pol.flags = SHMRING_WAIT_F_NO_RECOVER;
	if (shmring_wait_policy_set(r, &pol))
		_exit(20);
}

/* Producers attached so far (shared; NULL: not counted). */
static SHMRING_ATOMIC(uint64_t) *attached;

/* Producer child: push_wait seq [0, n) as `id`; the victim dies at its
 * fault point. */
static void producer_child(struct shmring *ring, uint64_t id, uint64_t n, uint32_t slice_ms,
			   int recover)
{
	struct shmring p;
	struct t_msg m;

	if (shmring_dup(&p, ring, SHMRING_PRODUCER) < 0)
		_exit(10);
	set_policy(&p, slice_ms, recover);
	if (attached)
		shmring_atomic_fetch_add(attached, 1, SHMRING_RELEASE);
	for (uint64_t seq = 0; seq < n; seq++) {
		t_msg_make(&m, id, seq);
		if (shmring_mpmc_push_wait(&p, &m, NULL) != 0)
			_exit(11);
	}
	shmring_close(&p);
	_exit(0);
}

static void make_ring(struct shmring *ring)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MPMC, CAP, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	prm.init_pos = rnd() % 2 ? UINT64_MAX - 20 : 0;
	cr_assert_eq(shmring_create_anon(ring, &prm, SHMRING_ROLE_NONE), 0);
}

/* The victim: `v` messages (< CAP, so it never waits), then killed in
 * push number v + 1 at `point`, holding that slot. Returns v. */
static uint64_t kill_victim(struct shmring *ring, int point, uint64_t id)
{
	uint64_t v = rnd() % (CAP / 2);
	pid_t pid;
	int st;

	fault_point = point;
	fault_countdown = (long)v + 1;
	pid = t_fork();
	if (pid == 0)
		producer_child(ring, id, CAP, 0, 1);
	fault_point = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "victim status 0x%x", st);
	return v;
}

/* One consumer (this process) behind a dead producer's slot, survivors
 * pushing behind it; who may recover: the consumer, the producers, or
 * both. */
static void dead_producer_round(int point, int cons_recovers, int prod_recover, uint32_t slice_ms)
{
	struct shmring ring, c;
	uint64_t next[NSURV + 1] = { 0 }, got = 0, v;
	pid_t surv[NSURV];
	struct t_msg m;

	make_ring(&ring);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	set_policy(&c, slice_ms, cons_recovers);
	v = kill_victim(&ring, point, NSURV);
	/* The survivors attach before the consumer waits: one that found only
	 * the dead victim would rightly end with -EPIPE. */
	attached = mmap(NULL, sizeof(*attached), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(attached != MAP_FAILED);
	for (int i = 0; i < NSURV; i++) {
		surv[i] = t_fork();
		if (surv[i] == 0)
			producer_child(&ring, (uint64_t)i, SURV_MSGS, slice_ms, prod_recover);
	}
	while (shmring_atomic_load(attached, SHMRING_ACQUIRE) < NSURV)
		usleep(1000);
	munmap((void *)attached, sizeof(*attached));
	attached = NULL;
	while (got < NSURV * SURV_MSGS + v) {
		int ret = shmring_mpmc_pop_wait(&c, &m, NULL);

		cr_assert_eq(ret, 0, "pop_wait: %d after %llu messages", ret, (unsigned long long)got);
		cr_assert(t_msg_ok(&m), "torn or corrupt message");
		cr_assert(m.producer <= NSURV);
		cr_assert_eq(m.seq, next[m.producer], "producer %llu: seq %llu, expected %llu",
			     (unsigned long long)m.producer, (unsigned long long)m.seq,
			     (unsigned long long)next[m.producer]);
		next[m.producer]++;
		got++;
	}
	for (int i = 0; i < NSURV; i++) {
		cr_assert_eq(next[i], SURV_MSGS);
		t_wait_ok(surv[i], "survivor");
	}
	/* The victim's pushes that returned, and not the one in flight. */
	cr_assert_eq(next[NSURV], v);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &m), -EAGAIN);
	cr_assert_eq(st_get(&ring.ctrl->prod_stats.skipped), 1);
	cr_assert_eq(st_get(&ring.ctrl->cons_stats.skipped), 1);
	cr_assert_eq(st_get(&ring.ctrl->cons_stats.lost), 0);
	shmring_close(&c);
	shmring_close(&ring);
}

static const int prod_points[] = { SHMRING_FAULT_PROD_CLAIMED, SHMRING_FAULT_PROD_MID_COPY,
				   SHMRING_FAULT_PROD_BEFORE_PUBLISH };

/* Only the consumer asleep in pop_wait recovers. */
Test(mpmc_autorecover, consumer_recovers, .timeout = 120)
{
	for (int round = 0; round < 12; round++)
		dead_producer_round(prod_points[round % 3], 1, 0, round == 0 ? 0 : 10);
}

/* Only the producers, asleep in push_wait on the ring filled up behind
 * the dead slot, recover; the consumer is woken by them. */
Test(mpmc_autorecover, producers_recover, .timeout = 120)
{
	for (int round = 0; round < 6; round++)
		dead_producer_round(prod_points[round % 3], 0, 1, 10);
}

/* Everyone may recover: one consumer and two producers here; below, two
 * consumer processes as well. */
Test(mpmc_autorecover, everyone_recovers, .timeout = 120)
{
	for (int round = 0; round < 6; round++)
		dead_producer_round(prod_points[round % 3], 1, 1, 5);
}

struct shared {
	SHMRING_ATOMIC(uint64_t) attached;
	SHMRING_ATOMIC(uint64_t) taken;
	SHMRING_ATOMIC(uint64_t) bad;
	SHMRING_ATOMIC(uint8_t) seen[NSURV + 1][SURV_MSGS];
};

static void consumer_child(struct shmring *ring, struct shared *sh, uint64_t total)
{
	struct shmring c;
	uint64_t last[NSURV + 1];
	struct t_msg m;

	for (int i = 0; i <= NSURV; i++)
		last[i] = UINT64_MAX;
	if (shmring_dup(&c, ring, SHMRING_CONSUMER) < 0)
		_exit(10);
	set_policy(&c, 5, 1);
	while (shmring_atomic_load(&sh->taken, SHMRING_ACQUIRE) < total) {
		struct timespec dl;

		/* The deadline only lets this consumer see that the other one
		 * took the last message; it asserts nothing. */
		shmring_deadline_after(&dl, 20 * 1000000ull);
		int ret = shmring_mpmc_pop_wait(&c, &m, &dl);

		if (ret == -ETIMEDOUT)
			continue;
		/* -EPIPE: every producer is gone and the ring is empty; right
		 * only once the other consumer took the last message (it may
		 * have, between our look at `taken` and our wait). */
		if (ret == -EPIPE && shmring_atomic_load(&sh->taken, SHMRING_ACQUIRE) >= total)
			break;
		if (ret)
			_exit(11);
		if (!t_msg_ok(&m) || m.producer > NSURV || m.seq >= SURV_MSGS)
			_exit(12);
		if (last[m.producer] != UINT64_MAX && m.seq <= last[m.producer])
			_exit(13);
		last[m.producer] = m.seq;
		if (shmring_atomic_fetch_add(&sh->seen[m.producer][m.seq], 1, SHMRING_RELAXED))
			_exit(14);
		shmring_atomic_fetch_add(&sh->taken, 1, SHMRING_RELEASE);
	}
	shmring_close(&c);
	_exit(0);
}

Test(mpmc_autorecover, two_consumers_two_producers_race, .timeout = 120)
{
	for (int round = 0; round < 6; round++) {
		struct shmring ring;
		struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		pid_t surv[NSURV], cons[2];
		uint64_t v;

		cr_assert(sh != MAP_FAILED);
		make_ring(&ring);
		v = kill_victim(&ring, prod_points[round % 3], NSURV);
		/* The survivors attach first: a consumer that found only the
		 * dead victim would rightly end with -EPIPE. */
		attached = &sh->attached;
		for (int i = 0; i < NSURV; i++) {
			surv[i] = t_fork();
			if (surv[i] == 0)
				producer_child(&ring, (uint64_t)i, SURV_MSGS, 5, 1);
		}
		attached = NULL;
		while (shmring_atomic_load(&sh->attached, SHMRING_ACQUIRE) < NSURV)
			usleep(1000);
		for (int i = 0; i < 2; i++) {
			cons[i] = t_fork();
			if (cons[i] == 0)
				consumer_child(&ring, sh, NSURV * SURV_MSGS + v);
		}
		for (int i = 0; i < NSURV; i++)
			t_wait_ok(surv[i], "survivor");
		for (int i = 0; i < 2; i++)
			t_wait_ok(cons[i], "consumer");
		for (int p = 0; p <= NSURV; p++)
			for (uint64_t s = 0; s < SURV_MSGS; s++)
				cr_assert_eq(sh->seen[p][s], p < NSURV || s < v ? 1 : 0,
					     "producer %d seq %llu seen %u times", p, (unsigned long long)s,
					     (unsigned)sh->seen[p][s]);
		cr_assert_eq(st_get(&ring.ctrl->prod_stats.skipped), 1);
		cr_assert_eq(st_get(&ring.ctrl->cons_stats.skipped), 1);
		shmring_close(&ring);
		munmap(sh, sizeof(*sh));
	}
}

/* Every producer is gone (the victim killed, the others closed after
 * pushing): the consumer recovers at once, takes everything published
 * past the dead slot, then gets -EPIPE, not an endless wait. */
Test(mpmc_autorecover, all_producers_gone, .timeout = 60)
{
	for (int round = 0; round < 6; round++) {
		struct shmring ring, c;
		uint64_t next[NSURV + 1] = { 0 }, v;
		struct t_msg m;
		int ret;

		make_ring(&ring);
		cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
		set_policy(&c, round % 2 ? 10 : 0, 1);
		v = kill_victim(&ring, prod_points[round % 3], NSURV);
		for (int i = 0; i < NSURV; i++) {
			pid_t pid = t_fork();

			if (pid == 0)
				producer_child(&ring, (uint64_t)i, 3, 0, 1);
			t_wait_ok(pid, "producer");
		}
		while ((ret = shmring_mpmc_pop_wait(&c, &m, NULL)) == 0) {
			cr_assert(t_msg_ok(&m) && m.producer <= NSURV);
			cr_assert_eq(m.seq, next[m.producer]);
			next[m.producer]++;
		}
		cr_assert_eq(ret, -EPIPE);
		cr_assert_eq(next[0], 3);
		cr_assert_eq(next[1], 3);
		cr_assert_eq(next[NSURV], v);
		cr_assert_eq(st_get(&ring.ctrl->cons_stats.skipped), 1);
		/* The waiter kept the dead entry (holding nothing) for -EPIPE;
		 * an explicit recovery frees it. */
		cr_assert_eq(shmring_mpmc_pop_wait(&c, &m, NULL), -EPIPE);
		cr_assert_eq(shmring_recover(&c), 1);
		cr_assert_eq(shmring_recover(&c), 0);
		shmring_close(&c);
		shmring_close(&ring);
	}
}

/* A consumer dies holding a claim; the producer sleeping on the full ring
 * drops the claim itself. The live consumer gets everything else. */
Test(mpmc_autorecover, dead_consumer_claim, .timeout = 120)
{
	static const int points[] = { SHMRING_FAULT_CONS_CLAIMED, SHMRING_FAULT_CONS_MID_COPY,
				      SHMRING_FAULT_CONS_BEFORE_RELEASE };

	for (int round = 0; round < 6; round++) {
		const uint64_t n = 300;
		struct shmring ring, c;
		SHMRING_ATOMIC(uint64_t) *blog = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
						       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		uint8_t seen[300] = { 0 };
		uint64_t k = rnd() % 4, got = 0, last = UINT64_MAX;
		pid_t prod, victim;
		struct t_msg m;
		int st;

		cr_assert(blog != MAP_FAILED);
		make_ring(&ring);
		cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
		/* This consumer may not recover: the producer must. */
		set_policy(&c, 10, 0);
		prod = t_fork();
		if (prod == 0)
			producer_child(&ring, 0, n, 10, 1);
		fault_point = points[round % 3];
		fault_countdown = (long)k + 1;
		victim = t_fork();
		if (victim == 0) {
			struct shmring v;

			if (shmring_dup(&v, &ring, SHMRING_CONSUMER) < 0)
				_exit(10);
			set_policy(&v, 10, 0);
			for (;;) {
				if (shmring_mpmc_pop_wait(&v, &m, NULL) != 0 || !t_msg_ok(&m))
					_exit(11);
				/* blog[0]: count, then the seqs taken */
				shmring_atomic_store(&blog[1 + blog[0]], m.seq, SHMRING_RELAXED);
				shmring_atomic_store(&blog[0], blog[0] + 1, SHMRING_RELEASE);
			}
		}
		fault_point = 0;
		cr_assert_eq(waitpid(victim, &st, 0), victim);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "victim status 0x%x", st);
		uint64_t taken = shmring_atomic_load(&blog[0], SHMRING_ACQUIRE);

		cr_assert_eq(taken, k);
		for (uint64_t i = 0; i < taken; i++)
			seen[blog[1 + i]]++;
		/* Everything but the victim's messages and the one it held. */
		while (got < n - k - 1) {
			cr_assert_eq(shmring_mpmc_pop_wait(&c, &m, NULL), 0);
			cr_assert(t_msg_ok(&m) && m.producer == 0 && m.seq < n);
			cr_assert(last == UINT64_MAX || m.seq > last);
			last = m.seq;
			cr_assert_eq(seen[m.seq]++, 0, "seq %llu twice", (unsigned long long)m.seq);
			got++;
		}
		t_wait_ok(prod, "producer");
		cr_assert_eq(shmring_mpmc_try_pop(&c, &m), -EAGAIN);
		uint64_t missing = 0;

		for (uint64_t i = 0; i < n; i++)
			missing += seen[i] == 0;
		cr_assert_eq(missing, 1);
		cr_assert_eq(st_get(&ring.ctrl->cons_stats.lost), 1);
		shmring_close(&c);
		shmring_close(&ring);
		munmap((void *)blog, 4096);
	}
}
