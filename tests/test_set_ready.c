/* SPDX-License-Identifier: MIT */
/*
 * A ring set's readiness fd (shmring_set_ready_open) across processes, for
 * both backends (io_uring FUTEX_WAITV / FUTEX_WAIT, helper thread) and
 * both ways the set sleeps (futex_waitv over every member, the doorbell):
 * producer processes stream through 1- to 8-slot rings joined to the set
 * while the consumer sits in poll() on the set's fd (a lost wakeup hangs
 * until the watchdog; there are no deadlines), a ring joining while the
 * consumer is armed wakes it, a producer killed after its last push is
 * drained and removed by a loop that waits only on the fd, and bad input
 * changes nothing.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include <shmring/ready.h>
#include <shmring/set.h>
#include <shmring/spsc.h>

#include "common.h"
#include "set_common.h"

#define MAXP 8
#define WATCHDOG_S 100 /* SIGALRM ends a test that lost a wakeup */

struct checker {
	uint64_t next[MAXP];
	uint64_t total;
	uint64_t bad;
};

static int check_msg(void *arg, const struct shmring_set_msg *m)
{
	struct checker *c = arg;

	if (t_set_take(c->next, MAXP, m, &c->bad) == 0)
		c->total++;
	return 0;
}

/* Open the set's fd; the io_uring variants skip, saying why, where the
 * kernel or the build leaves only the helper thread. */
static struct shmring_ready *open_fd(struct shmring_set *s, int thread)
{
	struct shmring_ready *rd = NULL;

	cr_assert_eq(shmring_set_ready_open(&rd, s, thread ? SHMRING_READY_F_THREAD : 0), 0, "%s",
		     shmring_errdetail());
	if (thread) {
		cr_assert_eq(shmring_ready_backend(rd), SHMRING_READY_THREAD);
	} else if (shmring_ready_backend(rd) != SHMRING_READY_URING) {
		char why[256];

		snprintf(why, sizeof(why), "no io_uring backend here: %s", shmring_errdetail());
		shmring_ready_close(rd);
		shmring_set_destroy(s);
		cr_log_warn("%s", why);
		cr_skip_test("%s", why);
	}
	return rd;
}

/* Poll the fd with no deadline (the watchdog is the limit), then disarm;
 * returns the set's wakeup count moved by the disarm's look at what fired
 * (1: the source fired, 0: only the slice timer). */
static int wait_fd(struct shmring_set *s, struct shmring_ready *rd)
{
	struct pollfd p = { .fd = shmring_ready_fd(rd), .events = POLLIN };
	struct shmring_set_stats a, b;
	int k;

	do
		k = poll(&p, 1, -1);
	while (k < 0 && errno == EINTR);
	cr_assert_eq(k, 1, "poll: %s", strerror(errno));
	shmring_set_stats(s, &a);
	cr_assert_eq(shmring_ready_disarm(rd), 0, "disarm: %s", shmring_errdetail());
	shmring_set_stats(s, &b);
	return b.wakeups != a.wakeups;
}

/* Take until the set is empty, then arm; wait on the fd when armed. */
static void take_or_wait(struct shmring_set *s, struct shmring_ready *rd, struct checker *c, uint64_t *arms)
{
	if (shmring_set_poll(s, 32, check_msg, c) > 0)
		return;
	int ret = shmring_ready_arm(rd);

	cr_assert(ret >= 0, "arm: %d %s", ret, shmring_errdetail());
	(*arms)++;
	if (ret == 0)
		wait_fd(s, rd);
}

/* ---- producers: join with their own ring, push, leave or die ---- */

/* go: a pipe to read one byte from before pushing (-1: none). */
static void producer_proc(const char *set, uint64_t id, uint64_t capacity, uint64_t count, int die, int go)
{
	struct shmring_params p;
	struct shmring r;
	struct shmring_set_link l;
	char name[96];

	snprintf(name, sizeof(name), "/shmring-test-setrdp-%d-%llu", (int)getpid(), (unsigned long long)id);
	shmring_params_init(&p, SHMRING_SPSC, capacity, sizeof(struct t_msg));
	if (shmring_create(&r, name, &p, SHMRING_PRODUCER) < 0)
		_exit(10);
	if (shmring_set_join(&l, set, &r, name, id) < 0)
		_exit(11);
	if (go >= 0) {
		char b;

		if (read(go, &b, 1) != 1)
			_exit(12);
	}
	for (uint64_t seq = 0; seq < count; seq++) {
		struct t_msg m;

		t_msg_make(&m, id, seq);
		if (shmring_spsc_push_wait(&r, &m, NULL) < 0)
			_exit(13);
	}
	t_set_wait_consumer(&r);
	shmring_unlink(name);
	if (die)
		raise(SIGKILL);
	while (shmring_spsc_count(&r) != 0)
		usleep(200);
	shmring_set_leave(&l, &r);
	shmring_close(&r);
	_exit(0);
}

/* np producer processes of `per` messages each, producer i through a
 * ring of caps[i] slots; die: SIGKILL after the last push. */
static void start_producers(const char *set, pid_t *pids, int np, const uint64_t *caps, uint64_t per, int die)
{
	for (int i = 0; i < np; i++) {
		pids[i] = t_fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			producer_proc(set, (uint64_t)i, caps[i], per, die, -1);
	}
}

static void set_name(char *buf, size_t len, const char *tag)
{
	static unsigned counter;

	snprintf(buf, len, "shmring-test-setrd-%s-%d-%u", tag, (int)getpid(), counter++);
}

/* Every producer gone: the loop on the fd alone (arm, wait, poll) drains
 * and removes every joined member, through the liveness checks of the
 * slices. */
static void drain_members(struct shmring_set *s, struct shmring_ready *rd, struct checker *c)
{
	struct shmring_set_stats st;
	uint64_t arms = 0;

	for (;;) {
		shmring_set_stats(s, &st);
		if (st.members == 0)
			break;
		take_or_wait(s, rd, c, &arms);
	}
}

/* Watchdog on, a new set (its name in set) and its fd, c cleared. */
static struct shmring_ready *begin(struct shmring_set **s, char *set, size_t len, const char *tag,
				   uint32_t set_flags, int thread, struct checker *c)
{
	alarm(WATCHDOG_S);
	memset(c, 0, sizeof(*c));
	set_name(set, len, tag);
	cr_assert_eq(shmring_set_create(s, set, set_flags), 0, "%s", shmring_errdetail());
	return open_fd(*s, thread);
}

static void end(struct shmring_set *s, struct shmring_ready *rd)
{
	shmring_ready_close(rd);
	shmring_set_destroy(s);
	alarm(0);
}

/* ---- no lost wakeup: a million messages through tiny rings ---- */

static void stream(int thread, uint32_t set_flags, uint64_t per)
{
	static const uint64_t caps[] = { 1, 2, 4, 8 };
	const int np = 4;
	struct shmring_set *s;
	struct shmring_ready *rd;
	struct checker c;
	pid_t pids[MAXP];
	uint64_t arms = 0;
	char set[96];

	rd = begin(&s, set, sizeof(set), "stream", set_flags, thread, &c);
	start_producers(set, pids, np, caps, per, 0);
	while (c.total < (uint64_t)np * per) {
		take_or_wait(s, rd, &c, &arms);
		cr_assert_eq(c.bad, 0, "a message was torn, reordered or duplicated");
	}
	for (int i = 0; i < np; i++)
		t_wait_ok(pids[i], "producer");
	drain_members(s, rd, &c);
	for (int i = 0; i < np; i++)
		cr_assert_eq(c.next[i], per, "producer %d: %llu of %llu", i, (unsigned long long)c.next[i],
			     (unsigned long long)per);
	cr_assert_eq(c.total, (uint64_t)np * per);
	cr_assert_gt(arms, 0);
	struct shmring_set_stats st;

	shmring_set_stats(s, &st);
	cr_assert_eq(st.joins, (uint64_t)np);
	cr_assert_eq(st.leaves, (uint64_t)np);
	cr_assert_gt(st.sleeps, 0);
	end(s, rd);
}

/* 4 x 262144 messages on the io_uring fd; the helper thread's extra hop
 * per wake makes its runs shorter (CI time), the doorbell's too. */
Test(set_ready, stream_waitv_uring, .timeout = 120) { stream(0, 0, t_scale(262144)); }
Test(set_ready, stream_waitv_thread, .timeout = 120) { stream(1, 0, t_scale(131072)); }
Test(set_ready, stream_doorbell_uring, .timeout = 120) { stream(0, SHMRING_SET_F_DOORBELL, t_scale(32768)); }
Test(set_ready, stream_doorbell_thread, .timeout = 120) { stream(1, SHMRING_SET_F_DOORBELL, t_scale(32768)); }

/* ---- a ring joining while the consumer is armed wakes it ---- */

static void join_while_armed(int thread, uint32_t set_flags)
{
	struct shmring_set *s;
	struct shmring_ready *rd;
	struct shmring_set_stats st;
	struct checker c;
	uint64_t arms = 0;
	int go[2], woke = 0;
	char set[96];

	rd = begin(&s, set, sizeof(set), "join", set_flags, thread, &c);
	cr_assert_eq(shmring_ready_arm(rd), 0, "nothing to take: armed");
	cr_assert_eq(pipe(go), 0);
	pid_t pid = t_fork();

	if (pid == 0)
		producer_proc(set, 0, 1, 3, 0, go[0]);
	/* Only the control ring's word can wake the fd now: the join. A wake
	 * lost would leave only the slice timer, which moves no wakeup. */
	for (;;) {
		woke |= wait_fd(s, rd);
		cr_assert_eq(shmring_set_poll(s, 32, check_msg, &c), 0);
		shmring_set_stats(s, &st);
		if (st.members == 1)
			break;
		cr_assert_eq(shmring_ready_arm(rd), 0);
	}
	cr_assert(woke, "the join did not wake the armed fd");
	/* Armed again over the new member's word: its messages wake it. */
	cr_assert_eq(shmring_ready_arm(rd), 0);
	cr_assert_eq(write(go[1], "g", 1), 1);
	while (c.total < 3)
		take_or_wait(s, rd, &c, &arms);
	t_wait_ok(pid, "producer");
	drain_members(s, rd, &c);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.next[0], 3);
	close(go[0]);
	close(go[1]);
	end(s, rd);
}

Test(set_ready, join_while_armed_uring, .timeout = 60) { join_while_armed(0, 0); }
Test(set_ready, join_while_armed_thread, .timeout = 60) { join_while_armed(1, 0); }
Test(set_ready, join_while_armed_doorbell_thread, .timeout = 60) { join_while_armed(1, SHMRING_SET_F_DOORBELL); }

/* ---- producers killed after their last push: drained, then removed ---- */

static void producers_killed(int thread)
{
	static const uint64_t caps[] = { 4, 4, 4 };
	const int np = 3;
	const uint64_t per = 5000;
	struct shmring_set *s;
	struct shmring_ready *rd;
	struct shmring_set_stats st;
	struct checker c;
	pid_t pids[MAXP];
	uint64_t arms = 0;
	char set[96];

	rd = begin(&s, set, sizeof(set), "kill", 0, thread, &c);
	start_producers(set, pids, np, caps, per, 1);
	while (c.total < (uint64_t)np * per)
		take_or_wait(s, rd, &c, &arms);
	for (int i = 0; i < np; i++) {
		int wst;

		cr_assert_eq(waitpid(pids[i], &wst, 0), pids[i]);
		cr_assert(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL, "producer %d: status 0x%x", i, wst);
	}
	/* Nothing more will come: only the liveness checks the fd's slices
	 * lead to can remove them. */
	drain_members(s, rd, &c);
	shmring_set_stats(s, &st);
	cr_assert_eq(st.leaves, (uint64_t)np);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.total, (uint64_t)np * per);
	end(s, rd);
}

Test(set_ready, producers_killed_uring, .timeout = 60) { producers_killed(0); }
Test(set_ready, producers_killed_thread, .timeout = 60) { producers_killed(1); }

/* ---- a set beyond futex_waitv's limit: the doorbell and the slice ---- */

#define BIG_MEMBERS 130

/* The consumer adds BIG_MEMBERS rings itself (no join: their producer
 * does not ring the doorbell); a producer process pushes into the last
 * one. Only the fd's slice timer can lead the consumer to it. */
static void large_set(int thread)
{
	struct shmring_set *s;
	struct shmring_ready *rd;
	struct shmring_params p;
	struct shmring_set_stats st;
	struct checker c;
	char set[96], names[BIG_MEMBERS][96];
	uint64_t arms = 0;

	rd = begin(&s, set, sizeof(set), "big", 0, thread, &c);
	shmring_params_init(&p, SHMRING_SPSC, 2, sizeof(struct t_msg));
	for (int i = 0; i < BIG_MEMBERS; i++) {
		struct shmring r;

		snprintf(names[i], sizeof(names[i]), "%s", t_name("setrd-big"));
		cr_assert_eq(shmring_create(&r, names[i], &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
		cr_assert_geq(shmring_set_add(s, &r, 0), 0);
	}
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring r;

		if (shmring_open(&r, names[BIG_MEMBERS - 1], SHMRING_PRODUCER, NULL) < 0)
			_exit(10);
		for (uint64_t seq = 0; seq < 5; seq++) {
			struct t_msg m;

			t_msg_make(&m, 0, seq);
			if (shmring_spsc_push_wait(&r, &m, NULL) < 0)
				_exit(11);
		}
		shmring_close(&r);
		_exit(0);
	}
	while (c.total < 5)
		take_or_wait(s, rd, &c, &arms);
	t_wait_ok(pid, "producer");
	shmring_set_stats(s, &st);
	cr_assert_eq(st.doorbell, 0, "the set itself is not in doorbell mode");
	cr_assert_eq(st.members, BIG_MEMBERS);
	cr_assert_eq(c.bad, 0);
	end(s, rd);
	for (int i = 0; i < BIG_MEMBERS; i++)
		shmring_unlink(names[i]);
}

Test(set_ready, large_set_uring, .timeout = 60) { large_set(0); }
Test(set_ready, large_set_thread, .timeout = 60) { large_set(1); }

/* ---- bad input changes nothing ---- */

Test(set_ready, bad_input, .timeout = 30)
{
	struct shmring_set *s;
	struct shmring_ready *rd = NULL;
	struct shmring_set_stats st;
	char set[96];

	set_name(set, sizeof(set), "bad");
	cr_assert_eq(shmring_set_create(&s, set, 0), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_set_ready_open(NULL, s, 0), -EINVAL);
	cr_assert_eq(shmring_set_ready_open(&rd, NULL, 0), -EINVAL);
	cr_assert_eq(shmring_set_ready_open(&rd, s, 0x100), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "unknown bits") != NULL, "%s", shmring_errdetail());
	cr_assert_null(rd);
	cr_assert_eq(shmring_ready_arm(NULL), -EINVAL);
	cr_assert_eq(shmring_ready_disarm(NULL), -EINVAL);
	cr_assert_eq(shmring_ready_fd(NULL), -EINVAL);
	shmring_set_stats(s, &st);
	cr_assert_eq(st.sleeps, 0);

	/* A set inherited over fork() is not the child's: -EBADF, and the
	 * parent's set is untouched. */
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring_ready *crd = NULL;
		int ret = shmring_set_ready_open(&crd, s, 0);

		_exit(ret == -EBADF && crd == NULL ? 0 : 1);
	}
	t_wait_ok(pid, "child opening an inherited set");

	/* None of that counted a sleeper on the control ring; an object
	 * opened after it arms and disarms as it should. */
	struct shmring o;
	char ctl[128];

	snprintf(ctl, sizeof(ctl), "/%s.ctl", set);
	cr_assert_eq(shmring_open(&o, ctl, SHMRING_OBSERVER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_atomic_load(&o.ctrl->cons_wait.waiters, SHMRING_RELAXED), 0);
	cr_assert_eq(shmring_set_ready_open(&rd, s, 0), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_arm(rd), 0);
	cr_assert_eq(shmring_atomic_load(&o.ctrl->cons_wait.waiters, SHMRING_RELAXED), 1);
	cr_assert_eq(shmring_ready_disarm(rd), 0);
	cr_assert_eq(shmring_atomic_load(&o.ctrl->cons_wait.waiters, SHMRING_RELAXED), 0);
	shmring_ready_close(rd);
	shmring_close(&o);
	shmring_set_destroy(s);
}
