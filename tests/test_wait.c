/* SPDX-License-Identifier: MIT */
/*
 * Blocking waits: deadlines (past, on a full ring, under a signal storm),
 * signals, policies, counters (no futex call when nobody sleeps), wakes
 * across fork (shmring_dup) and across an unrelated process that opens the
 * ring by name (fork + exec of wait_helper), peer death while asleep,
 * wake batching, burst waits.
 */
#include <signal.h>
#include <string.h>

#include "wait_common.h"

static const uint32_t modes[] = { SHMRING_WAIT_SPIN_SLEEP, SHMRING_WAIT_SPIN, SHMRING_WAIT_SLEEP };

static void ring_named(struct shmring *r, const char *name, uint64_t cap, uint32_t role)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, cap, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(r, name, &prm, role), 0, "%s", shmring_errdetail());
}

static void pair(struct shmring *p, struct shmring *c, uint64_t cap)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, cap, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(c, p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
}

static void push_msg(struct shmring *p, uint64_t i)
{
	struct t_msg m;

	t_msg_make(&m, 1, i);
	cr_assert_eq(shmring_spsc_try_push(p, &m), 0, "push %llu", (unsigned long long)i);
}

static void pop_msg(struct shmring *c, uint64_t i)
{
	struct t_msg m;

	cr_assert_eq(shmring_spsc_try_pop(c, &m), 0, "pop %llu", (unsigned long long)i);
	cr_assert(m.seq == i && m.producer == 1 && t_msg_ok(&m), "message %llu is %llu",
		  (unsigned long long)i, (unsigned long long)m.seq);
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

Test(wait, policy_and_arguments)
{
	struct shmring p, c;
	struct shmring_wait_policy pol = { 0 }, got;
	struct timespec bad = { 0, 1000000000L };
	struct t_msg m;

	pair(&p, &c, 4);
	shmring_wait_policy_get(&c, &got);
	cr_assert_eq(got.mode, SHMRING_WAIT_SPIN_SLEEP);
	cr_assert_eq(got.spin_ns, SHMRING_WAIT_SPIN_NS_DEFAULT);
	cr_assert_eq(got.slice_ms, SHMRING_WAIT_SLICE_MS_DEFAULT);
	pol.mode = 3;
	cr_assert_eq(shmring_wait_policy_set(&c, &pol), -EINVAL);
	pol.mode = SHMRING_WAIT_SLEEP;
	pol.flags = 0x80;
	cr_assert_eq(shmring_wait_policy_set(&c, &pol), -EINVAL);
	cr_assert_eq(shmring_wait_policy_set(NULL, &pol), -EINVAL);
	cr_assert_eq(shmring_wait_policy_set(&c, NULL), -EINVAL);
	/* A deadline with tv_nsec out of range changes nothing. */
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &bad), -EINVAL);
	bad.tv_nsec = -1;
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &bad), -EINVAL);
	cr_assert_eq(shmring_wait_until(&c, 9, shmring_spsc__ready_pop, NULL, NULL), -EINVAL);
	cr_assert_eq(shmring_wait_until(&c, SHMRING_CONSUMER, NULL, NULL, NULL), -EINVAL);
	push_msg(&p, 0);
	pop_msg(&c, 0);
	shmring_close(&c);
	shmring_close(&p);
}

/* Deadline already passed, empty ring: -ETIMEDOUT, ring unchanged. */
Test(wait, deadline_past_empty, .timeout = 10)
{
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		struct shmring p, c;
		struct timespec past = { 0, 0 };
		struct t_msg m;

		pair(&p, &c, 4);
		tw_policy(&c, modes[k], 0, 0);
		cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &past), -ETIMEDOUT, "mode %u", modes[k]);
		cr_assert_eq(shmring_spsc_pop_burst_wait(&c, &m, 1, &past), -ETIMEDOUT);
		clock_gettime(CLOCK_MONOTONIC, &past);
		cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &past), -ETIMEDOUT);
		push_msg(&p, 0);
		cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &past), 0, "data beats the deadline");
		cr_assert(m.seq == 0 && t_msg_ok(&m));
		shmring_close(&c);
		shmring_close(&p);
	}
}

/* Deadline already passed, full ring: -ETIMEDOUT, contents unchanged. */
Test(wait, deadline_past_full_push, .timeout = 10)
{
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		struct shmring p, c;
		struct timespec past = { 1, 0 };
		struct t_msg m;

		pair(&p, &c, 4);
		tw_policy(&p, modes[k], 0, 0);
		for (uint64_t i = 0; i < 4; i++)
			push_msg(&p, i);
		t_msg_make(&m, 1, 4);
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, &past), -ETIMEDOUT, "mode %u", modes[k]);
		cr_assert_eq(shmring_spsc_push_burst_wait(&p, &m, 1, &past), -ETIMEDOUT);
		cr_assert_eq(shmring_spsc_count(&p), 4);
		for (uint64_t i = 0; i < 4; i++)
			pop_msg(&c, i);
		cr_assert_eq(shmring_spsc_try_pop(&c, &m), -EAGAIN);
		shmring_close(&c);
		shmring_close(&p);
	}
}

/* A future deadline on a full ring: the push waits until the deadline,
 * not less, then gives up without writing. */
Test(wait, deadline_full_push_waits, .timeout = 10)
{
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		struct shmring p, c;
		struct timespec dl;
		struct t_msg m;

		pair(&p, &c, 2);
		tw_policy(&p, modes[k], 0, 5);
		push_msg(&p, 0);
		push_msg(&p, 1);
		t_msg_make(&m, 1, 2);
		shmring_deadline_after(&dl, 30 * 1000000ull);
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, &dl), -ETIMEDOUT, "mode %u", modes[k]);
		cr_assert_geq(tw_now_ns(), ts_ns(&dl), "returned before its deadline");
		pop_msg(&c, 0);
		pop_msg(&c, 1);
		cr_assert_eq(shmring_spsc_try_pop(&c, &m), -EAGAIN);
		shmring_close(&c);
		shmring_close(&p);
	}
}

/*
 * A SIGALRM every 100 us while a consumer sleeps with a deadline: every
 * EINTR re-waits to the same absolute time, so the wait ends at the
 * deadline. A relative re-wait would restart at every signal and never
 * end: the Criterion timeout would catch that.
 */
Test(wait, deadline_under_eintr, .timeout = 20)
{
	struct shmring p, c;
	struct timespec dl;
	struct t_msg m;

	pair(&p, &c, 4);
	tw_policy(&c, SHMRING_WAIT_SLEEP, 0, 0);
	tw_alarms = 0;
	tw_alarm_storm(100, 0);
	shmring_deadline_after(&dl, 200 * 1000000ull);
	int ret = shmring_spsc_pop_wait(&c, &m, &dl);
	uint64_t now = tw_now_ns();

	tw_alarm_storm(0, 0);
	cr_assert_eq(ret, -ETIMEDOUT);
	cr_assert_geq(now, ts_ns(&dl));
	cr_assert_gt(tw_alarms, 10, "only %d alarms arrived", (int)tw_alarms);
	/* The sleeper was interrupted and slept again many times. */
	cr_assert_gt(tw_stat(&p.ctrl->cons_stats.sleeps), 10);
	cr_log_info("%d alarms, %llu sleeps in 200 ms", (int)tw_alarms,
		    (unsigned long long)tw_stat(&p.ctrl->cons_stats.sleeps));
	/* Same with SA_RESTART handlers and a full ring on push. */
	push_msg(&p, 0);
	push_msg(&p, 1);
	push_msg(&p, 2);
	push_msg(&p, 3);
	tw_policy(&p, SHMRING_WAIT_SLEEP, 0, 0);
	tw_alarm_storm(100, 1);
	shmring_deadline_after(&dl, 100 * 1000000ull);
	t_msg_make(&m, 1, 4);
	ret = shmring_spsc_push_wait(&p, &m, &dl);
	now = tw_now_ns();
	tw_alarm_storm(0, 0);
	cr_assert_eq(ret, -ETIMEDOUT);
	cr_assert_geq(now, ts_ns(&dl));
	for (uint64_t i = 0; i < 4; i++)
		pop_msg(&c, i);
	shmring_close(&c);
	shmring_close(&p);
}

/* SHMRING_WAIT_F_EINTR: a caught signal ends the wait, nothing taken. */
Test(wait, eintr_flag, .timeout = 10)
{
	struct shmring p, c;
	struct itimerval it;
	struct t_msg m;

	pair(&p, &c, 4);
	tw_policy(&c, SHMRING_WAIT_SLEEP, SHMRING_WAIT_F_EINTR, 0);
	tw_alarm_storm(0, 0); /* install the handler */
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 20000;
	setitimer(ITIMER_REAL, &it, NULL);
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), -EINTR);
	push_msg(&p, 0);
	pop_msg(&c, 0);
	shmring_close(&c);
	shmring_close(&p);
}

/* No futex system call when nobody sleeps: an uncontended push/pop path
 * with the default policy, and with fences instead of membarrier. */
Test(wait, zero_futex_uncontended, .timeout = 10)
{
	for (int fence = 0; fence < 2; fence++) {
		struct shmring p, c;
		struct t_msg m;

		pair(&p, &c, 8);
		tw_policy(&p, SHMRING_WAIT_SPIN_SLEEP, fence ? SHMRING_WAIT_F_FENCE : 0, 0);
		tw_policy(&c, SHMRING_WAIT_SPIN_SLEEP, fence ? SHMRING_WAIT_F_FENCE : 0, 0);
		for (uint64_t i = 0; i < 10000; i++) {
			t_msg_make(&m, 1, i);
			cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
			if (i % 3 == 2) {
				for (uint64_t j = i - 2; j <= i; j++) {
					cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), 0);
					cr_assert(m.seq == j && t_msg_ok(&m));
				}
			}
		}
		struct shmring_ctrl *ctl = p.ctrl;

		cr_assert_eq(tw_stat(&ctl->prod_stats.futex_calls) + tw_stat(&ctl->cons_stats.futex_calls), 0);
		cr_assert_eq(tw_stat(&ctl->prod_stats.sleeps) + tw_stat(&ctl->cons_stats.sleeps), 0);
		cr_assert_eq(tw_stat(&ctl->prod_stats.wakes) + tw_stat(&ctl->cons_stats.wakes), 0);
		shmring_close(&c);
		shmring_close(&p);
	}
}

/* Spin policy on both sides across two processes: many waits, no futex
 * system call at all, every message intact. */
Test(wait, zero_futex_spin_policy, .timeout = 60)
{
	const char *name = t_name("wspin");
	uint64_t n = t_scale(100000);
	struct shmring p, c;
	struct t_msg m;

	ring_named(&p, name, 16, SHMRING_PRODUCER);
	tw_policy(&p, SHMRING_WAIT_SPIN, 0, 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SPIN };

		if (shmring_open(&c, name, SHMRING_CONSUMER, NULL))
			_exit(2);
		shmring_wait_policy_set(&c, &pol);
		for (uint64_t i = 0; i < n; i++)
			if (shmring_spsc_pop_wait(&c, &m, NULL) || m.seq != i || !t_msg_ok(&m))
				_exit(3);
		_exit(0);
	}
	for (uint64_t i = 0; i < n; i++) {
		t_msg_make(&m, 1, i);
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
	}
	t_wait_ok(pid, "consumer");
	struct shmring_ctrl *ctl = p.ctrl;

	/* The sides did wait (the ring was found empty or full) ... */
	cr_assert_gt(tw_stat(&ctl->cons_stats.blocked) + tw_stat(&ctl->prod_stats.blocked), 0);
	/* ... and never made a futex call. */
	cr_assert_eq(tw_stat(&ctl->prod_stats.futex_calls), 0);
	cr_assert_eq(tw_stat(&ctl->cons_stats.futex_calls), 0);
	cr_assert_eq(tw_stat(&ctl->cons_stats.sleeps), 0);
	shmring_close(&p);
	shmring_unlink(name);
}

/* Wake across fork: the child attaches with shmring_dup and sleeps; the
 * parent pushes only once it sees the child asleep. Then the other way:
 * the parent's producer sleeps on a full ring and the child wakes it. */
Test(wait, wake_after_fork_dup, .timeout = 60)
{
	const uint64_t n = 200;
	struct shmring p, c;
	struct t_msg m;

	for (int fence = 0; fence < 2; fence++) {
		const char *name = t_name("wfork");

		ring_named(&p, name, 2, SHMRING_PRODUCER);
		tw_policy(&p, SHMRING_WAIT_SLEEP, fence ? SHMRING_WAIT_F_FENCE : SHMRING_WAIT_F_LIGHT, 0);
		pid_t pid = t_fork();

		cr_assert(pid >= 0);
		if (pid == 0) {
			struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP };
			struct timespec dl;

			pol.flags = fence ? SHMRING_WAIT_F_FENCE : SHMRING_WAIT_F_LIGHT;
			if (shmring_dup(&c, &p, SHMRING_CONSUMER))
				_exit(2);
			shmring_wait_policy_set(&c, &pol);
			for (uint64_t i = 0; i < 2 * n; i++) {
				shmring_deadline_after(&dl, 10ull * 1000000000ull);
				/* The producer has pushed i + 1 and sleeps on i + 2. */
				if (i >= n && i + 2 < 2 * n && !tw_until_asleep(&c.ctrl->prod_wait, 5000))
					_exit(3);
				if (shmring_spsc_pop_wait(&c, &m, &dl) || m.seq != i || !t_msg_ok(&m))
					_exit(4);
			}
			_exit(0);
		}
		for (uint64_t i = 0; i < 2 * n; i++) {
			struct timespec dl;

			if (i < n)
				cr_assert(tw_until_sleeping(&p.ctrl->cons_wait, pid, 5000), "consumer never slept");
			t_msg_make(&m, 1, i);
			shmring_deadline_after(&dl, 10ull * 1000000000ull);
			cr_assert_eq(shmring_spsc_push_wait(&p, &m, &dl), 0, "push %llu", (unsigned long long)i);
		}
		t_wait_ok(pid, "consumer");
		/* Light wakers announced themselves in the blocks they wake;
		 * fence wakers never did, so those sleepers skip membarrier. */
		cr_assert_eq(shmring_atomic_load(&p.ctrl->cons_wait.light, SHMRING_RELAXED),
			     fence ? 0u : (uint32_t)shmring_wait_light());
		cr_assert_eq(shmring_atomic_load(&p.ctrl->prod_wait.light, SHMRING_RELAXED),
			     fence ? 0u : (uint32_t)shmring_wait_light());
		/* Both sides really slept and were woken across fork (how many
		 * of the handoffs found the peer already parked depends on the
		 * scheduler, so only that they happened is asserted; the count
		 * is logged). */
		cr_assert_gt(tw_stat(&p.ctrl->cons_stats.sleeps), 0);
		cr_assert_gt(tw_stat(&p.ctrl->prod_stats.sleeps), 0);
		cr_log_info("%s: consumer slept %llu, producer %llu; wakes found nobody %llu + %llu",
			    fence ? "fence" : "light",
			    (unsigned long long)tw_stat(&p.ctrl->cons_stats.sleeps),
			    (unsigned long long)tw_stat(&p.ctrl->prod_stats.sleeps),
			    (unsigned long long)tw_stat(&p.ctrl->prod_stats.wakes_empty),
			    (unsigned long long)tw_stat(&p.ctrl->cons_stats.wakes_empty));
		shmring_close(&p);
		shmring_unlink(name);
	}
}

static pid_t spawn_helper(const char *role, const char *name, uint64_t n)
{
	const char *helper = getenv("SHMRING_WAIT_HELPER");
	char num[32];

	cr_assert(helper, "SHMRING_WAIT_HELPER is not set (run through meson test)");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		execl(helper, helper, role, name, num, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Wake across an unrelated process that opened the ring by name. */
Test(wait, wake_exec_by_name, .timeout = 60)
{
	const uint64_t n = 200;
	const char *name = t_name("wexec");
	struct shmring p, c;
	struct t_msg m;
	char keep[96];

	/* The helper consumes and sleeps; we push once it sleeps. */
	ring_named(&p, name, 4, SHMRING_PRODUCER);
	snprintf(keep, sizeof(keep), "%s", name);
	tw_policy(&p, SHMRING_WAIT_SLEEP, 0, 0);
	pid_t pid = spawn_helper("consumer", keep, n);

	for (uint64_t i = 0; i < n; i++) {
		cr_assert(tw_until_sleeping(&p.ctrl->cons_wait, pid, 5000), "helper never slept");
		m.producer = 7;
		m.seq = i;
		m.check = t_mix(7 * 0x100000001b3ull ^ i);
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
	}
	t_wait_ok(pid, "helper consumer");
	cr_assert_geq(tw_stat(&p.ctrl->cons_stats.sleeps), n / 2);
	shmring_close(&p);
	shmring_unlink(keep);

	/* The helper produces; we sleep and it wakes us. */
	name = t_name("wexec");
	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&c, keep, 4, SHMRING_CONSUMER);
	tw_policy(&c, SHMRING_WAIT_SLEEP, 0, 0);
	pid = spawn_helper("producer", keep, n);
	for (uint64_t i = 0; i < n; i++) {
		cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), 0);
		cr_assert(m.producer == 7 && m.seq == i && m.check == t_mix(7 * 0x100000001b3ull ^ i),
			  "message %llu", (unsigned long long)i);
	}
	t_wait_ok(pid, "helper producer");
	cr_assert_geq(tw_stat(&c.ctrl->cons_stats.sleeps), n / 2);
	shmring_close(&c);
	shmring_unlink(keep);
}

/* The producer dies (SIGKILL) while the consumer sleeps: the consumer
 * takes what was sent, then gets -EPIPE instead of sleeping forever. */
Test(wait, peer_death_producer, .timeout = 20)
{
	const char *name = t_name("wdead");
	char keep[96];
	struct shmring c, p;
	struct t_msg m;

	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&c, keep, 8, SHMRING_CONSUMER);
	tw_policy(&c, SHMRING_WAIT_SLEEP, 0, 20);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL))
			_exit(2);
		for (uint64_t i = 0; i < 3; i++) {
			t_msg_make(&m, 1, i);
			shmring_spsc_push_wait(&p, &m, NULL);
		}
		/* Dies while the consumer sleeps on the empty ring. */
		tw_until_asleep(&p.ctrl->cons_wait, 5000);
		raise(SIGKILL);
		_exit(3);
	}
	for (uint64_t i = 0; i < 3; i++) {
		cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), 0);
		cr_assert(m.seq == i && t_msg_ok(&m));
	}
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), -EPIPE);
	/* Reaped or not, the answer stays. */
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, NULL), -EPIPE);
	shmring_close(&c);
	shmring_unlink(keep);
}

/* The consumer dies while the producer sleeps on a full ring: -EPIPE,
 * after exactly capacity + what the consumer took. */
Test(wait, peer_death_consumer, .timeout = 20)
{
	const char *name = t_name("wdead");
	char keep[96];
	struct shmring c, p;
	struct t_msg m;
	uint64_t pushed = 0;
	int ret;

	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&p, keep, 2, SHMRING_PRODUCER);
	tw_policy(&p, SHMRING_WAIT_SPIN_SLEEP, 0, 20);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (shmring_open(&c, keep, SHMRING_CONSUMER, NULL))
			_exit(2);
		if (shmring_spsc_pop_wait(&c, &m, NULL))
			_exit(3);
		tw_until_asleep(&c.ctrl->prod_wait, 5000);
		raise(SIGKILL);
		_exit(4);
	}
	for (;;) {
		t_msg_make(&m, 1, pushed);
		ret = shmring_spsc_push_wait(&p, &m, NULL);
		if (ret)
			break;
		pushed++;
	}
	cr_assert_eq(ret, -EPIPE, "push ended with %d", ret);
	cr_assert_eq(pushed, 3);
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "consumer status 0x%x", st);
	shmring_close(&p);
	shmring_unlink(keep);
}

/* Nobody ever attached as producer: that is not death; the deadline ends
 * the wait. */
Test(wait, peer_never_attached, .timeout = 10)
{
	const char *name = t_name("wnone");
	char keep[96];
	struct shmring c;
	struct timespec dl;
	struct t_msg m;

	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&c, keep, 8, SHMRING_CONSUMER);
	tw_policy(&c, SHMRING_WAIT_SLEEP, 0, 5);
	shmring_deadline_after(&dl, 50 * 1000000ull);
	cr_assert_eq(shmring_spsc_pop_wait(&c, &m, &dl), -ETIMEDOUT);
	shmring_close(&c);
	shmring_unlink(keep);
}

/* Wake batching: a wake check every 8 pushes (and the flush), so at most
 * n / 8 + 1 wakes; the consumer still gets every message. */
Test(wait, wake_batching, .timeout = 30)
{
	const uint64_t n = 400;
	const char *name = t_name("wbatch");
	char keep[96];
	struct shmring p, c;
	struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP, .wake_batch = 8 };
	struct t_msg m;

	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&p, keep, 1024, SHMRING_PRODUCER);
	cr_assert_eq(shmring_wait_policy_set(&p, &pol), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring_wait_policy cp = { .mode = SHMRING_WAIT_SLEEP };

		if (shmring_open(&c, keep, SHMRING_CONSUMER, NULL))
			_exit(2);
		shmring_wait_policy_set(&c, &cp);
		for (uint64_t i = 0; i < n; i++)
			if (shmring_spsc_pop_wait(&c, &m, NULL) || m.seq != i || !t_msg_ok(&m))
				_exit(3);
		_exit(0);
	}
	for (uint64_t i = 0; i < n; i++) {
		t_msg_make(&m, 1, i);
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
		if (i % 50 == 0)
			usleep(200); /* let the consumer drain and sleep */
	}
	shmring_spsc_wake(&p);
	t_wait_ok(pid, "consumer");
	cr_assert_leq(tw_stat(&p.ctrl->prod_stats.wakes), n / 8 + 1);
	shmring_close(&p);
	shmring_unlink(keep);
}

/* Burst waits across processes, random burst sizes, every message checked. */
Test(wait, burst_waits, .timeout = 60)
{
	const uint64_t n = t_scale(100000);
	const char *name = t_name("wburst");
	char keep[96];
	struct shmring p, c;
	struct t_msg buf[37];

	snprintf(keep, sizeof(keep), "%s", name);
	ring_named(&p, keep, 16, SHMRING_PRODUCER);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		uint64_t got = 0, s = 12345;

		if (shmring_open(&c, keep, SHMRING_CONSUMER, NULL))
			_exit(2);
		while (got < n) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t want = 1 + (s >> 33) % 37;
			int64_t k = shmring_spsc_pop_burst_wait(&c, buf, want, NULL);

			if (k <= 0 || (uint64_t)k > want)
				_exit(3);
			for (int64_t i = 0; i < k; i++, got++)
				if (buf[i].seq != got || !t_msg_ok(&buf[i]))
					_exit(4);
		}
		_exit(shmring_spsc_try_pop(&c, buf) == -EAGAIN ? 0 : 5);
	}
	uint64_t sent = 0, s = 777;

	while (sent < n) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t want = 1 + (s >> 33) % 37;

		if (want > n - sent)
			want = n - sent;
		for (uint64_t i = 0; i < want; i++)
			t_msg_make(&buf[i], 1, sent + i);
		int64_t k = shmring_spsc_push_burst_wait(&p, buf, want, NULL);

		cr_assert(k > 0 && (uint64_t)k <= want, "burst returned %lld", (long long)k);
		sent += (uint64_t)k;
	}
	cr_assert_eq(shmring_spsc_push_burst_wait(&p, buf, 0, NULL), 0);
	t_wait_ok(pid, "consumer");
	shmring_close(&p);
	shmring_unlink(keep);
}
