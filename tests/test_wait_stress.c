/* SPDX-License-Identifier: MIT */
/*
 * Lost-wakeup stress: a producer and a consumer (processes, and threads
 * for ThreadSanitizer) hand messages through a tiny ring with random
 * delays on both sides, so both sides keep going to sleep; every message
 * is checked (sequence + checksum). A lost wakeup hangs, and the
 * Criterion timeout turns the hang into a failure. Run again under a
 * SIGALRM storm (every 100 us) in both processes.
 *
 * Sizes: SHMRING_STRESS_SCALE x the CI size below (see docs/wait.md for
 * the measured runtime of 1 M sleeping handoffs).
 */
#include <pthread.h>

#include "wait_common.h"

#define CI_HANDOFFS 200000ull

struct stress {
	const char *name;
	uint64_t n;
	int storm;
	uint32_t mode;
};

/* xorshift: cheap per-side randomness for the delays. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mostly no delay, sometimes a short spin, rarely a sleep of a few us:
 * the other side finds the ring empty (full) and parks. */
static void delay(uint64_t *s)
{
	uint64_t x = rnd(s) & 1023;

	if (x < 700)
		return;
	if (x < 1000) {
		for (uint64_t i = 0, k = x & 255; i < k; i++)
			shmring_cpu_relax();
		return;
	}
	usleep((useconds_t)(x & 15));
}

static int produce(struct shmring *p, const struct stress *s)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	struct t_msg m;

	for (uint64_t i = 0; i < s->n; i++) {
		t_msg_make(&m, 1, i);
		int ret = shmring_spsc_push_wait(p, &m, NULL);

		if (ret) {
			fprintf(stderr, "push_wait %llu: %s\n", (unsigned long long)i, shmring_strerror(ret));
			return 1;
		}
		delay(&seed);
	}
	return 0;
}

static int consume(struct shmring *c, const struct stress *s)
{
	uint64_t seed = 0xda942042e4dd58b5ull ^ (uint64_t)getpid();
	struct t_msg m;

	for (uint64_t i = 0; i < s->n; i++) {
		int ret = shmring_spsc_pop_wait(c, &m, NULL);

		if (ret) {
			fprintf(stderr, "pop_wait %llu: %s\n", (unsigned long long)i, shmring_strerror(ret));
			return 1;
		}
		if (m.producer != 1 || m.seq != i || !t_msg_ok(&m)) {
			fprintf(stderr, "message %llu: producer %llu seq %llu check %s\n",
				(unsigned long long)i, (unsigned long long)m.producer,
				(unsigned long long)m.seq, t_msg_ok(&m) ? "ok" : "BAD");
			return 1;
		}
		delay(&seed);
	}
	/* Nothing extra: the ring is empty at the end. */
	return shmring_spsc_try_pop(c, &m) == -EAGAIN ? 0 : 1;
}

static void run_processes(const struct stress *s)
{
	struct shmring p, c;
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(&p, s->name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	tw_policy(&p, s->mode, 0, 0);

	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (shmring_open(&c, s->name, SHMRING_CONSUMER, NULL))
			_exit(2);
		struct shmring_wait_policy pol = { .mode = s->mode };

		shmring_wait_policy_set(&c, &pol);
		if (s->storm)
			tw_alarm_storm(100, 0);
		int ret = consume(&c, s);

		if (s->storm)
			tw_alarm_storm(0, 0);
		_exit(ret);
	}
	if (s->storm)
		tw_alarm_storm(100, 0);
	int ret = produce(&p, s);

	if (s->storm)
		tw_alarm_storm(0, 0);
	t_wait_ok(pid, "consumer");
	cr_assert_eq(ret, 0, "producer failed");

	struct shmring_ctrl *ctl = p.ctrl;
	uint64_t csleeps = tw_stat(&ctl->cons_stats.sleeps), psleeps = tw_stat(&ctl->prod_stats.sleeps);

	cr_log_info("%llu handoffs: consumer slept %llu times, producer %llu; wakes sent %llu + %llu, "
		    "found nobody %llu + %llu; futex calls %llu + %llu; alarms %d",
		    (unsigned long long)s->n, (unsigned long long)csleeps, (unsigned long long)psleeps,
		    (unsigned long long)tw_stat(&ctl->prod_stats.wakes),
		    (unsigned long long)tw_stat(&ctl->cons_stats.wakes),
		    (unsigned long long)tw_stat(&ctl->prod_stats.wakes_empty),
		    (unsigned long long)tw_stat(&ctl->cons_stats.wakes_empty),
		    (unsigned long long)tw_stat(&ctl->prod_stats.futex_calls),
		    (unsigned long long)tw_stat(&ctl->cons_stats.futex_calls), (int)tw_alarms);
	/* The consumer really slept: at-once sleepers on at least a tenth of
	 * the handoffs, spin-then-sleep ones on some. */
	uint64_t want = s->mode == SHMRING_WAIT_SLEEP ? s->n / 10 : s->n / 2000;

	cr_assert_geq(csleeps, want ? want : 1, "consumer slept only %llu times",
		      (unsigned long long)csleeps);
	/* Every sleep was ended by a wake (or a spurious return): wakes sent
	 * by the producer cover the consumer's sleeps' wakeups. */
	cr_assert_gt(tw_stat(&ctl->prod_stats.wakes), 0);
	cr_assert_eq(shmring_spsc_count(&p), 0);
	shmring_close(&p);
	shmring_unlink(s->name);
}

Test(wait_stress, lost_wakeup_processes, .timeout = 300)
{
	struct stress s = { t_name("wstress"), t_scale(CI_HANDOFFS), 0, SHMRING_WAIT_SLEEP };

	run_processes(&s);
}

Test(wait_stress, lost_wakeup_processes_spin_sleep, .timeout = 300)
{
	struct stress s = { t_name("wstress"), t_scale(CI_HANDOFFS) / 2, 0, SHMRING_WAIT_SPIN_SLEEP };

	/* Default policy: spinning catches most waits, the usleep delays
	 * still make the consumer sleep. */
	run_processes(&s);
}

Test(wait_stress, lost_wakeup_processes_alarm_storm, .timeout = 300)
{
	struct stress s = { t_name("wstorm"), t_scale(CI_HANDOFFS), 1, SHMRING_WAIT_SLEEP };

	run_processes(&s);
	cr_assert_gt(tw_alarms, 100, "the storm raised only %d alarms", (int)tw_alarms);
}

/* Thread variant (ThreadSanitizer sees threads, not processes). */
struct targ {
	struct shmring *r;
	const struct stress *s;
	int ret;
};

static void *tconsume(void *a)
{
	struct targ *t = (struct targ *)a;

	t->ret = consume(t->r, t->s);
	return NULL;
}

Test(wait_stress, lost_wakeup_threads, .timeout = 300)
{
	struct stress s = { t_name("wthr"), t_scale(CI_HANDOFFS) / 4, 0, SHMRING_WAIT_SLEEP };
	struct shmring p, c;
	struct shmring_params prm;
	pthread_t th;

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&p, s.name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	tw_policy(&p, s.mode, 0, 0);
	tw_policy(&c, s.mode, 0, 0);

	struct targ t = { &c, &s, -1 };

	cr_assert_eq(pthread_create(&th, NULL, tconsume, &t), 0);
	int ret = produce(&p, &s);

	pthread_join(th, NULL);
	cr_assert_eq(ret, 0);
	cr_assert_eq(t.ret, 0);
	cr_assert_gt(tw_stat(&p.ctrl->cons_stats.sleeps), 0);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(s.name);
}
