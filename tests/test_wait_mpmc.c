/* SPDX-License-Identifier: MIT */
/*
 * Blocking waits on the MPMC ring: two producer and two consumer
 * processes on a 4-slot ring with random delays, everyone sleeping at
 * once when blocked; every message is checked, none lost or duplicated,
 * per-producer order kept at each consumer. Then peer death: consumers
 * asleep while every producer is SIGKILLed get -EPIPE.
 */
#include <sys/mman.h>

#include "wait_stress.h"

#define NPROD 2
#define NCONS 2

struct shared {
	SHMRING_ATOMIC(uint64_t) taken;
	SHMRING_ATOMIC(uint8_t) seen[];
};

static void mpmc_ring(struct shmring *r, const char *name, uint64_t cap)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MPMC, cap, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

static int open_as(struct shmring *r, const char *name, uint32_t role, uint32_t mode)
{
	struct shmring_wait_policy pol = { .mode = mode };

	if (shmring_open(r, name, role, NULL))
		return -1;
	return shmring_wait_policy_set(r, &pol);
}

static int producer(const char *name, uint64_t id, uint64_t n)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * (id + 1);
	struct shmring r;
	struct t_msg m;

	if (open_as(&r, name, SHMRING_PRODUCER, SHMRING_WAIT_SLEEP))
		return 2;
	for (uint64_t i = 0; i < n; i++) {
		t_msg_make(&m, id, i);
		if (shmring_mpmc_push_wait(&r, &m, NULL))
			return 3;
		delay(&seed);
	}
	shmring_close(&r);
	return 0;
}

static int consumer(const char *name, uint64_t id, uint64_t total, struct shared *sh)
{
	uint64_t seed = 0xda942042e4dd58b5ull * (id + 1), last[NPROD];
	struct shmring r;
	struct timespec dl;
	struct t_msg m;

	for (int i = 0; i < NPROD; i++)
		last[i] = UINT64_MAX;
	if (open_as(&r, name, SHMRING_CONSUMER, SHMRING_WAIT_SLEEP))
		return 2;
	while (shmring_atomic_load(&sh->taken, SHMRING_ACQUIRE) < total) {
		shmring_deadline_after(&dl, 20 * 1000000ull);
		int ret = shmring_mpmc_pop_wait(&r, &m, &dl);

		if (ret == -ETIMEDOUT)
			continue;
		if (ret)
			return 3;
		if (m.producer >= NPROD || m.seq >= total || !t_msg_ok(&m))
			return 4;
		/* Per-producer order at this consumer. */
		if (last[m.producer] != UINT64_MAX && m.seq <= last[m.producer])
			return 5;
		last[m.producer] = m.seq;
		if (shmring_atomic_exchange(&sh->seen[m.producer * (total / NPROD) + m.seq], 1,
					    SHMRING_RELAXED))
			return 6; /* duplicate */
		shmring_atomic_fetch_add(&sh->taken, 1, SHMRING_RELEASE);
		delay(&seed);
	}
	shmring_close(&r);
	return 0;
}

Test(wait_mpmc, two_by_two_sleeping, .timeout = 300)
{
	const uint64_t per = t_scale(20000), total = per * NPROD;
	char name[96];
	struct shmring r;
	pid_t pids[NPROD + NCONS];
	size_t sz = sizeof(struct shared) + total;
	struct shared *sh = (struct shared *)mmap(NULL, sz, PROT_READ | PROT_WRITE,
						   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert(sh != MAP_FAILED);
	snprintf(name, sizeof(name), "%s", t_name("wmpmc"));
	mpmc_ring(&r, name, 4);
	for (int i = 0; i < NPROD + NCONS; i++) {
		pids[i] = t_fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(i < NPROD ? producer(name, (uint64_t)i, per)
					: consumer(name, (uint64_t)(i - NPROD), total, sh));
	}
	for (int i = 0; i < NPROD + NCONS; i++)
		t_wait_ok(pids[i], i < NPROD ? "producer" : "consumer");
	for (uint64_t i = 0; i < total; i++)
		cr_assert(shmring_atomic_load(&sh->seen[i], SHMRING_RELAXED), "message %llu lost",
			  (unsigned long long)i);
	cr_assert_eq(shmring_atomic_load(&sh->taken, SHMRING_RELAXED), total);
	uint64_t cs = tw_stat(&r.ctrl->cons_stats.sleeps), ps = tw_stat(&r.ctrl->prod_stats.sleeps);

	cr_log_info("%llu messages: consumers slept %llu times, producers %llu; wakes found nobody %llu + %llu",
		    (unsigned long long)total, (unsigned long long)cs, (unsigned long long)ps,
		    (unsigned long long)tw_stat(&r.ctrl->prod_stats.wakes_empty),
		    (unsigned long long)tw_stat(&r.ctrl->cons_stats.wakes_empty));
	cr_assert_gt(cs, total / 100, "consumers slept only %llu times", (unsigned long long)cs);
	shmring_close(&r);
	shmring_unlink(name);
	munmap(sh, sz);
}

/* Every producer dies while the consumers sleep: -EPIPE once empty. */
Test(wait_mpmc, producers_die, .timeout = 30)
{
	char name[96];
	struct shmring r, c;
	struct t_msg m;
	pid_t pids[NPROD];

	snprintf(name, sizeof(name), "%s", t_name("wmdead"));
	mpmc_ring(&r, name, 8);
	cr_assert_eq(open_as(&c, name, SHMRING_CONSUMER, SHMRING_WAIT_SLEEP), 0);
	struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP, .slice_ms = 20 };

	cr_assert_eq(shmring_wait_policy_set(&c, &pol), 0);
	for (int i = 0; i < NPROD; i++) {
		pids[i] = t_fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			struct shmring p;

			if (open_as(&p, name, SHMRING_PRODUCER, SHMRING_WAIT_SLEEP))
				_exit(2);
			t_msg_make(&m, (uint64_t)i, 0);
			shmring_mpmc_push_wait(&p, &m, NULL);
			tw_until_asleep(&p.ctrl->cons_wait, 5000);
			raise(SIGKILL);
			_exit(3);
		}
	}
	/* Both producers have pushed before anyone is taken: none of them can
	 * be found dead while another has not attached yet. */
	for (int i = 0; i < 50000 && shmring_mpmc_count(&c) < NPROD; i++)
		usleep(100);
	cr_assert_eq(shmring_mpmc_count(&c), NPROD);
	for (int i = 0; i < NPROD; i++) {
		cr_assert_eq(shmring_mpmc_pop_wait(&c, &m, NULL), 0);
		cr_assert(t_msg_ok(&m) && m.seq == 0);
	}
	cr_assert_eq(shmring_mpmc_pop_wait(&c, &m, NULL), -EPIPE);
	for (int i = 0; i < NPROD; i++) {
		int st;

		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFSIGNALED(st));
	}
	shmring_close(&c);
	shmring_close(&r);
	shmring_unlink(name);
}
