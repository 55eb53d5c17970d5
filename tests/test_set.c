/* SPDX-License-Identifier: MIT */
/* Ring sets: membership, fair poll, discovery across processes, blocking
 * (futex_waitv and the doorbell), producers that leave or die. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "common.h"
#include "set_common.h"

#define MAXP 64

/* ---- checking every message: per-producer order, checksum, count ---- */

struct checker {
	uint64_t next[MAXP]; /* next seq expected from each producer */
	uint64_t total;
	uint64_t bad;
	uint32_t last_member;
	uint32_t order[64];
	uint32_t norder;
};

static int check_msg(void *arg, const struct shmring_set_msg *m)
{
	struct checker *c = arg;

	if (t_set_take(c->next, MAXP, m, &c->bad) < 0)
		return 0;
	c->total++;
	if (c->norder < 64)
		c->order[c->norder++] = m->member;
	return 0;
}

static void params(struct shmring_params *p)
{
	shmring_params_init(p, SHMRING_SPSC, 64, sizeof(struct t_msg));
}

/* ---- in one process ---- */

Test(set, fair_round_robin_and_tags)
{
	struct shmring_set *s;
	struct shmring prod[3], cons;
	struct shmring_params p;
	struct checker c;
	struct t_msg m;
	int id[3];

	memset(&c, 0, sizeof(c));
	params(&p);
	cr_assert_eq(shmring_set_create(&s, NULL, 0), 0, "%s", shmring_errdetail());
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(shmring_create_anon(&prod[i], &p, SHMRING_PRODUCER), 0);
		cr_assert_eq(shmring_dup(&cons, &prod[i], SHMRING_CONSUMER), 0);
		id[i] = shmring_set_add(s, &cons, (uint64_t)i);
		cr_assert_geq(id[i], 0);
		for (uint64_t q = 0; q < 10; q++) {
			t_msg_make(&m, (uint64_t)i, q);
			cr_assert_eq(shmring_spsc_try_push(&prod[i], &m), 0);
		}
	}
	/* budget 1: every poll takes one message from each ring in turn */
	for (int round = 0; round < 10; round++)
		cr_assert_eq(shmring_set_poll(s, 1, check_msg, &c), 3);
	cr_assert_eq(shmring_set_poll(s, 1, check_msg, &c), 0);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.total, 30);
	/* each window of three deliveries names three different members */
	for (uint32_t w = 0; w + 3 <= c.norder; w += 3) {
		cr_assert_neq(c.order[w], c.order[w + 1]);
		cr_assert_neq(c.order[w + 1], c.order[w + 2]);
		cr_assert_neq(c.order[w], c.order[w + 2]);
	}
	struct shmring_set_stats st;
	struct shmring_set_member_stats ms;

	cr_assert_eq(shmring_set_stats(s, &st), 0);
	cr_assert_eq(st.members, 3);
	cr_assert_eq(st.messages, 30);
	cr_assert_eq(shmring_set_member_stats(s, (uint32_t)id[1], &ms), 0);
	cr_assert_eq(ms.messages, 10);
	cr_assert_eq(ms.tag, 1);
	cr_assert_eq(shmring_set_remove(s, (uint32_t)id[1]), 0);
	cr_assert_eq(shmring_set_remove(s, (uint32_t)id[1]), -ENOENT);
	cr_assert_eq(shmring_set_member_stats(s, (uint32_t)id[1], &ms), -ENOENT);
	cr_assert_eq(shmring_set_stats(s, &st), 0);
	cr_assert_eq(st.members, 2);
	cr_assert_eq(shmring_set_destroy(s), 0);
	for (int i = 0; i < 3; i++)
		shmring_close(&prod[i]);
}

static int stop_after_one(void *arg, const struct shmring_set_msg *m)
{
	(void)m;
	(*(int *)arg)++;
	return 1;
}

Test(set, mixed_kinds_budget_and_stop)
{
	struct shmring_set *s;
	struct shmring sp, sc, mp, mc;
	struct shmring_params p;
	struct checker c;
	struct t_msg m;
	int seen = 0;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(shmring_set_create(&s, NULL, 0), 0);
	params(&p);
	cr_assert_eq(shmring_create_anon(&sp, &p, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&sc, &sp, SHMRING_CONSUMER), 0);
	shmring_params_init(&p, SHMRING_MSG_SPSC, 4096, 256);
	cr_assert_eq(shmring_create_anon(&mp, &p, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&mc, &mp, SHMRING_CONSUMER), 0);
	cr_assert_geq(shmring_set_add(s, &sc, 0), 0);
	cr_assert_geq(shmring_set_add(s, &mc, 1), 0);
	for (uint64_t q = 0; q < 20; q++) {
		t_msg_make(&m, 0, q);
		cr_assert_eq(shmring_spsc_try_push(&sp, &m), 0);
		t_msg_make(&m, 1, q);
		cr_assert_eq(shmring_msg_push(&mp, &m, sizeof(m)), 0);
	}
	/* a callback that stops: exactly one message consumed, not lost */
	cr_assert_eq(shmring_set_poll(s, 8, stop_after_one, &seen), 1);
	cr_assert_eq(seen, 1);
	/* pretend the checker saw it: find which ring moved */
	uint64_t left = shmring_spsc_count(&sp);

	c.next[left == 19 ? 0 : 1] = 1;
	c.total = 1;
	int n;

	while ((n = shmring_set_poll(s, 8, check_msg, &c)) > 0)
		cr_assert_leq(n, 16);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.total, 40);
	/* bad arguments */
	cr_assert_eq(shmring_set_poll(s, 0, check_msg, &c), -EINVAL);
	cr_assert_eq(shmring_set_add(s, &sp, 0), -EINVAL); /* a producer handle */
	shmring_set_destroy(s);
	shmring_close(&sp);
	shmring_close(&mp);
}

Test(set, deadline_and_bad_arguments, .timeout = 10)
{
	struct shmring_set *s;
	struct timespec dl, bad = { .tv_sec = 0, .tv_nsec = 2000000000L };

	cr_assert_eq(shmring_set_create(&s, NULL, 7), -EINVAL);
	cr_assert_eq(shmring_set_create(&s, "", 0), -EINVAL);
	cr_assert_eq(shmring_set_create(&s, NULL, 0), 0);
	shmring_deadline_after(&dl, 20 * 1000000ull);
	cr_assert_eq(shmring_set_wait(s, &dl), -ETIMEDOUT);
	shmring_deadline_after(&dl, 0);
	cr_assert_eq(shmring_set_wait(s, &dl), -ETIMEDOUT);
	cr_assert_eq(shmring_set_wait(s, &bad), -EINVAL);
	shmring_set_destroy(s);
}

/* ---- blocking: the consumer sleeps, any member wakes it ---- */

struct waker_arg {
	struct shmring *prod;
	int which;
	uint64_t delay_ns;
};

static void *waker(void *arg)
{
	struct waker_arg *w = arg;
	struct timespec ts = { 0, (long)w->delay_ns };
	struct t_msg m;

	nanosleep(&ts, NULL);
	t_msg_make(&m, (uint64_t)w->which, 0);
	cr_assert_eq(shmring_spsc_push_wait(w->prod, &m, NULL), 0);
	return NULL;
}

static void sleep_and_wake(uint32_t flags)
{
	struct shmring_set *s;
	struct shmring prod[4], cons;
	struct shmring_params p;
	struct checker c;
	pthread_t th;

	memset(&c, 0, sizeof(c));
	params(&p);
	cr_assert_eq(shmring_set_create(&s, NULL, flags), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(shmring_create_anon(&prod[i], &p, SHMRING_PRODUCER), 0);
		cr_assert_eq(shmring_dup(&cons, &prod[i], SHMRING_CONSUMER), 0);
		cr_assert_geq(shmring_set_add(s, &cons, (uint64_t)i), 0);
		cr_assert_eq(shmring_set_link_producer(s, &prod[i]), 0);
	}
	/* each member in turn wakes the sleeping consumer */
	for (int i = 0; i < 4; i++) {
		struct waker_arg w = { &prod[i], i, 30 * 1000000ull };
		struct shmring_set_stats before, after;

		shmring_set_stats(s, &before);
		pthread_create(&th, NULL, waker, &w);
		while (c.next[i] == 0) {
			cr_assert_eq(shmring_set_wait(s, NULL), 0);
			shmring_set_poll(s, 16, check_msg, &c);
		}
		pthread_join(th, NULL);
		shmring_set_stats(s, &after);
		cr_assert_gt(after.sleeps, before.sleeps, "the consumer never slept");
		cr_assert_eq(after.doorbell, flags ? 1u : 0u);
	}
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.total, 4);
	shmring_set_destroy(s);
	for (int i = 0; i < 4; i++)
		shmring_close(&prod[i]);
}

Test(set, sleep_woken_by_any_member_waitv, .timeout = 30)
{
	sleep_and_wake(0);
}

Test(set, sleep_woken_by_any_member_doorbell, .timeout = 30)
{
	sleep_and_wake(SHMRING_SET_F_DOORBELL);
}

/* ---- across processes: producers join through the control ring ---- */

struct prod_plan {
	const char *set;
	uint64_t id;
	uint64_t count;  /* messages in all */
	int rejoins;     /* leave and join again with a new ring this often */
	int die;         /* SIGKILL itself after the last push (2: its endpoint entry left BUSY) */
};

static void producer_proc(const struct prod_plan *pl)
{
	struct shmring_params p;
	uint64_t seq = 0;
	unsigned seed = (unsigned)(pl->id * 7919 + (uint64_t)getpid());
	int parts = pl->rejoins + 1;

	params(&p);
	for (int part = 0; part < parts; part++) {
		char name[96];
		struct shmring r;
		struct shmring_set_link l;
		uint64_t end = part == parts - 1 ? pl->count : pl->count * (uint64_t)(part + 1) / (uint64_t)parts;

		snprintf(name, sizeof(name), "/shmring-test-setp-%d-%d", (int)getpid(), part);
		shmring_unlink(name);
		if (shmring_create(&r, name, &p, SHMRING_PRODUCER) < 0)
			_exit(10);
		if (shmring_set_join(&l, pl->set, &r, name, pl->id) < 0)
			_exit(11);
		for (; seq < end; seq++) {
			struct t_msg m;

			t_msg_make(&m, pl->id, seq);
			if (shmring_spsc_push_wait(&r, &m, NULL) < 0)
				_exit(12);
			if (rand_r(&seed) % 512 == 0)
				usleep(rand_r(&seed) % 2000);
		}
		t_set_wait_consumer(&r);
		shmring_unlink(name);
		/* Order across our rings is ours to keep: the next one starts
		 * once the consumer has taken everything from this one. */
		while (!pl->die && shmring_spsc_count(&r) != 0)
			usleep(200);
		if (pl->die == 2)
			/* Killed while (re)taking its endpoint entry: BUSY with
			 * a dead holder. */
			shmring_atomic_store(&r.ep->state, SHMRING_EP_BUSY_BY(getpid()), SHMRING_RELEASE);
		if (pl->die)
			raise(SIGKILL);
		shmring_set_leave(&l, &r);
		shmring_close(&r);
	}
	_exit(0);
}

static void fan_in(int nprod, uint64_t per, int rejoins, int die, uint32_t flags)
{
	struct shmring_set *s;
	struct checker c;
	pid_t pids[MAXP];
	char set[64];
	int alive;

	memset(&c, 0, sizeof(c));
	snprintf(set, sizeof(set), "shmring-test-set-%d-%d", (int)getpid(), nprod);
	cr_assert_eq(shmring_set_create(&s, set, flags), 0, "%s", shmring_errdetail());
	for (int i = 0; i < nprod; i++) {
		struct prod_plan pl = { set, (uint64_t)i, per, rejoins, die };

		pids[i] = t_fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			producer_proc(&pl);
	}
	alive = nprod;
	while (alive > 0 || c.total < (uint64_t)nprod * per) {
		struct timespec dl;
		int st;

		if (shmring_set_poll(s, 32, check_msg, &c) > 0)
			continue;
		for (int i = 0; i < nprod; i++) {
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				cr_assert(die ? WIFSIGNALED(st) : WIFEXITED(st) && WEXITSTATUS(st) == 0,
					  "producer %d ended with status 0x%x", i, st);
				pids[i] = 0;
				alive--;
			}
		}
		cr_assert_eq(c.bad, 0, "a message was torn, reordered or duplicated");
		shmring_deadline_after(&dl, 50 * 1000000ull);
		shmring_set_wait(s, &dl);
	}
	cr_assert_eq(c.bad, 0);
	for (int i = 0; i < nprod; i++)
		cr_assert_eq(c.next[i], per, "producer %d: %llu of %llu", i,
			     (unsigned long long)c.next[i], (unsigned long long)per);
	/* every producer has gone and its drained rings are removed */
	struct shmring_set_stats st;

	for (int tries = 0; tries < 200; tries++) {
		struct timespec dl;

		shmring_set_stats(s, &st);
		if (st.members == 0)
			break;
		shmring_deadline_after(&dl, 10 * 1000000ull);
		shmring_set_wait(s, &dl);
		shmring_set_poll(s, 32, check_msg, &c);
	}
	cr_assert_eq(st.members, 0, "%u members left", st.members);
	cr_assert_eq(st.joins, (uint64_t)nprod * (uint64_t)(rejoins + 1));
	cr_assert_eq(st.leaves, st.joins);
	cr_assert_eq(c.total, (uint64_t)nprod * per);
	shmring_set_destroy(s);
}

Test(set_procs, one_producer, .timeout = 120)
{
	fan_in(1, t_scale(100000), 2, 0, 0);
}

Test(set_procs, four_producers_joining_and_leaving, .timeout = 120)
{
	fan_in(4, t_scale(50000), 3, 0, 0);
}

Test(set_procs, thirty_two_producers, .timeout = 180)
{
	fan_in(32, t_scale(5000), 1, 0, 0);
}

Test(set_procs, four_producers_doorbell, .timeout = 120)
{
	fan_in(4, t_scale(20000), 1, 0, SHMRING_SET_F_DOORBELL);
}

Test(set_procs, producers_killed_are_drained_and_removed, .timeout = 120)
{
	fan_in(4, t_scale(20000), 0, 1, 0);
}

Test(set_procs, producers_killed_in_registration_are_removed, .timeout = 120)
{
	fan_in(4, t_scale(5000), 0, 2, 0);
}
