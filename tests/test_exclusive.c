/* SPDX-License-Identifier: MIT */
/*
 * One producer, one consumer: a second live one gets -EBUSY; when the
 * holder dies (SIGKILL) a new one takes its place, and nothing is lost,
 * duplicated or torn across the change.
 */
#include <sched.h>
#include <signal.h>
#include <string.h>

#include "common.h"

static void create_named(struct shmring *r, const char *name, uint64_t cap, uint32_t slot,
			 uint32_t role)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, cap, slot);
	cr_assert_eq(shmring_create(r, name, &p, role), 0, "%s", shmring_errdetail());
}

Test(exclusive, second_live_endpoint_busy)
{
	struct shmring p, c, x, obs[3];
	char name[96];

	snprintf(name, sizeof(name), "%s", t_name("busy"));
	create_named(&p, name, 8, 8, SHMRING_PRODUCER);
	cr_assert_eq(shmring_open(&x, name, SHMRING_PRODUCER, NULL), -EBUSY);
	cr_assert(strstr(shmring_errdetail(), "producer"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&x, &p, SHMRING_PRODUCER), -EBUSY);
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&x, name, SHMRING_CONSUMER, NULL), -EBUSY);
	cr_assert_eq(shmring_dup(&x, &p, SHMRING_CONSUMER), -EBUSY);
	/* Observers are not endpoints: any number. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_open(&obs[i], name, SHMRING_OBSERVER, NULL), 0, "%s",
			     shmring_errdetail());
	/* Closing frees the place. */
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	for (int i = 0; i < 3; i++)
		shmring_close(&obs[i]);
	shmring_close(&c);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* A producer in another live process: -EBUSY naming its pid. */
Test(exclusive, busy_across_processes, .timeout = 30)
{
	struct shmring c, x;
	char name[96], pidtxt[32];
	int go[2], done[2];
	pid_t pid;

	snprintf(name, sizeof(name), "%s", t_name("busy2"));
	create_named(&c, name, 8, 8, SHMRING_CONSUMER);
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring p;
		char b = 0;

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) < 0)
			_exit(1);
		if (write(go[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
			_exit(2);
		shmring_close(&p);
		_exit(0);
	}
	char b;

	cr_assert_eq(read(go[0], &b, 1), 1);
	cr_assert_eq(shmring_open(&x, name, SHMRING_PRODUCER, NULL), -EBUSY);
	snprintf(pidtxt, sizeof(pidtxt), "pid %d", (int)pid);
	cr_assert(strstr(shmring_errdetail(), pidtxt), "%s", shmring_errdetail());
	cr_assert_eq(write(done[1], &b, 1), 1);
	t_wait_ok(pid, "producer");
	/* It closed: the place is free. */
	cr_assert_eq(shmring_open(&x, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	shmring_close(&x);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}

/*
 * A producer killed between publishing a slot's sequence word and its head
 * (the state is written by hand here, then the process kills itself): the
 * next producer resumes after that slot, which the consumer receives once.
 */
Test(exclusive, producer_killed_between_seq_and_head, .timeout = 30)
{
	struct shmring c, p2;
	char name[96];
	struct t_msg m;
	pid_t pid;
	int st;

	snprintf(name, sizeof(name), "%s", t_name("kill-seq"));
	create_named(&c, name, 8, sizeof(struct t_msg), SHMRING_CONSUMER);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring p;

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) < 0)
			_exit(1);
		for (uint64_t i = 0; i < 3; i++) {
			t_msg_make(&m, 1, i);
			if (shmring_spsc_try_push(&p, &m) < 0)
				_exit(2);
		}
		/* Message 3: payload and sequence word, no head store. */
		t_msg_make(&m, 1, 3);
		memcpy(shmring_slot(&p, p.pos), &m, sizeof(m));
		shmring_atomic_store(shmring__slot_seq(&p, p.pos), p.pos + 1, SHMRING_RELEASE);
		raise(SIGKILL);
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->prod.pos, SHMRING_RELAXED), 3, "head before takeover");
	/* The dead producer's entry is taken over. */
	cr_assert_eq(shmring_open(&p2, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(p2.pos, 4, "the new producer must resume after the published slot");
	cr_assert_eq(shmring_atomic_load(&c.ctrl->prod.pos, SHMRING_RELAXED), 4);
	for (uint64_t i = 4; i < 10; i++) {
		t_msg_make(&m, 1, i);
		while (shmring_spsc_try_push(&p2, &m) == -EAGAIN) {
			struct t_msg got;

			cr_assert_eq(shmring_spsc_try_pop(&c, &got), 0);
			cr_assert(t_msg_ok(&got));
			cr_assert_eq(got.seq, c.pos - 1);
		}
	}
	while (c.pos < 10) {
		struct t_msg got;

		cr_assert_eq(shmring_spsc_try_pop(&c, &got), 0, "at %llu", (unsigned long long)c.pos);
		cr_assert(t_msg_ok(&got));
		cr_assert_eq(got.seq, c.pos - 1, "got %llu", (unsigned long long)got.seq);
	}
	struct t_msg none;

	cr_assert_eq(shmring_spsc_try_pop(&c, &none), -EAGAIN);
	shmring_close(&p2);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* A consumer killed after popping: the next one resumes at its tail. */
Test(exclusive, consumer_killed_resumes_at_tail, .timeout = 30)
{
	struct shmring p, c2;
	char name[96];
	struct t_msg m;
	pid_t pid;
	int st;

	snprintf(name, sizeof(name), "%s", t_name("kill-cons"));
	create_named(&p, name, 64, sizeof(struct t_msg), SHMRING_PRODUCER);
	for (uint64_t i = 0; i < 50; i++) {
		t_msg_make(&m, 2, i);
		cr_assert_eq(shmring_spsc_try_push(&p, &m), 0);
	}
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;

		if (shmring_open(&c, name, SHMRING_CONSUMER, NULL) < 0)
			_exit(1);
		for (int i = 0; i < 20; i++)
			if (shmring_spsc_try_pop(&c, &m) < 0 || m.seq != (uint64_t)i)
				_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(shmring_open(&c2, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	for (uint64_t i = 20; i < 50; i++) {
		cr_assert_eq(shmring_spsc_try_pop(&c2, &m), 0);
		cr_assert(t_msg_ok(&m));
		cr_assert_eq(m.seq, i);
	}
	cr_assert_eq(shmring_spsc_try_pop(&c2, &m), -EAGAIN);
	shmring_close(&c2);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}

/*
 * Producers killed at arbitrary moments while the consumer runs: each new
 * producer takes over and sends the message for its first position. The
 * consumer must see every sequence number once, in order, intact.
 */
static void producer_loop(const char *name)
{
	struct shmring p;
	struct t_msg m[8];
	int ret;

	do
		ret = shmring_open(&p, name, SHMRING_PRODUCER, NULL);
	while (ret == -EBUSY);
	if (ret < 0)
		_exit(1);
	for (;;) {
		/* The message at position pos carries sequence number pos. */
		uint64_t pos = p.pos, n = 1 + pos % 8, at;

		switch (pos % 3) {
		case 0:
			t_msg_make(&m[0], 7, pos);
			ret = shmring_spsc_try_push(&p, &m[0]);
			break;
		case 1:
			for (uint64_t i = 0; i < n; i++)
				t_msg_make(&m[i], 7, pos + i);
			ret = (int)shmring_spsc_push_burst(&p, m, n);
			break;
		default: {
			int64_t k = shmring_spsc_reserve(&p, n, &at);

			for (int64_t i = 0; i < k; i++)
				t_msg_make((struct t_msg *)shmring_slot(&p, at + (uint64_t)i), 7,
					   at + (uint64_t)i);
			shmring_spsc_commit(&p, (uint64_t)(k > 0 ? k : 0));
			ret = (int)k;
		}
		}
		if (ret < 0 && ret != -EAGAIN)
			_exit(2);
		if (ret == -EAGAIN || ret == 0)
			sched_yield();
	}
}

Test(exclusive, producer_sigkill_takeover, .timeout = 120)
{
	struct shmring c;
	char name[96];
	struct t_msg m;
	uint64_t next = 0;
	unsigned rounds = 30;

	snprintf(name, sizeof(name), "%s", t_name("takeover"));
	create_named(&c, name, 256, sizeof(struct t_msg), SHMRING_CONSUMER);
	srand((unsigned)getpid());
	for (unsigned r = 0; r < rounds; r++) {
		pid_t pid = t_fork();
		int st;

		cr_assert_geq(pid, 0);
		if (pid == 0)
			producer_loop(name);
		/* Take a random number of messages, then kill mid-stream. */
		uint64_t stop = next + 500 + (uint64_t)(rand() % 5000);

		while (next < stop) {
			int ret = shmring_spsc_try_pop(&c, &m);

			if (ret == -EAGAIN) {
				sched_yield();
				continue;
			}
			cr_assert_eq(ret, 0);
			cr_assert(t_msg_ok(&m), "torn message at %llu", (unsigned long long)next);
			cr_assert_eq(m.producer, 7);
			cr_assert_eq(m.seq, next, "round %u: got %llu, expected %llu", r,
				     (unsigned long long)m.seq, (unsigned long long)next);
			next++;
		}
		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st), "producer exited with 0x%x", st);
	}
	/* What the last one published is still delivered, once. */
	while (shmring_spsc_try_pop(&c, &m) == 0) {
		cr_assert(t_msg_ok(&m));
		cr_assert_eq(m.seq, next);
		next++;
	}
	/* A new producer starts exactly where delivery stopped. */
	struct shmring p;

	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(p.pos, next, "producer resumes at %llu, consumer received up to %llu",
		     (unsigned long long)p.pos, (unsigned long long)next);
	cr_assert_gt(next, rounds * 500);
	shmring_close(&p);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}
