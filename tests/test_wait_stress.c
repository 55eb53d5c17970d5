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
 * the measured runtime of 1 M sleeping handoffs). The thread variant is
 * test_wait_threads.c (suite tsan).
 */
#include "wait_stress.h"

static void run_processes(const struct stress *s)
{
	struct shmring p, c;
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(&p, s->name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	tw_policy(&p, s->mode, s->flags, 0);

	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (shmring_open(&c, s->name, SHMRING_CONSUMER, NULL))
			_exit(2);
		struct shmring_wait_policy pol = { .mode = s->mode, .flags = s->flags };

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
	/* Sleep at once, light wakers: every sleep pays the membarrier. */
	struct stress s = { t_name("wstress"), t_scale(CI_HANDOFFS), 0, SHMRING_WAIT_SLEEP,
			    SHMRING_WAIT_F_LIGHT };

	run_processes(&s);
}

Test(wait_stress, lost_wakeup_processes_spin_sleep, .timeout = 300)
{
	struct stress s = { t_name("wstress"), t_scale(CI_HANDOFFS) / 2, 0, SHMRING_WAIT_SPIN_SLEEP, 0 };

	/* Default policy: spinning catches most waits, the usleep delays
	 * still make the consumer sleep. */
	run_processes(&s);
}

/* Sleep at once with its default: wakers fence, sleepers skip membarrier. */
Test(wait_stress, lost_wakeup_processes_fence, .timeout = 300)
{
	struct stress s = { t_name("wfence"), t_scale(CI_HANDOFFS) / 2, 0, SHMRING_WAIT_SLEEP, 0 };

	run_processes(&s);
}

Test(wait_stress, lost_wakeup_processes_alarm_storm, .timeout = 300)
{
	struct stress s = { t_name("wstorm"), t_scale(CI_HANDOFFS), 1, SHMRING_WAIT_SLEEP,
			    SHMRING_WAIT_F_LIGHT };

	run_processes(&s);
	cr_assert_gt(tw_alarms, 100, "the storm raised only %d alarms", (int)tw_alarms);
}

