/* SPDX-License-Identifier: MIT */
/*
 * Message ring blocking operations (wait.h mechanism): two processes with
 * a small ring so that both sides sleep often, deadlines, -EMSGSIZE at
 * once, -EPIPE when the producer is gone, and a consumer asleep behind the
 * record of a producer that was killed.
 */
#include <sched.h>
#include <string.h>

#include <shmring/wait.h>

#include "msg_common.h"

static void pair_open(struct shmring *p, struct shmring *c, uint32_t type, uint64_t cap,
		      uint32_t max)
{
	struct shmring_params prm;

	shmring_params_init(&prm, type, cap, max);
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create_anon(p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(c, p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
}

static void stream(uint32_t type, uint32_t mode)
{
	struct shmring p, c;
	struct shmring_wait_policy pol = { 0 };
	uint64_t n = 100000;
	pid_t pid;

	struct shmring_params prm;

	/* p: attached as neither side; the child attaches the producer. */
	shmring_params_init(&prm, type, 1024, 200);
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	pol.mode = mode;
	pid = t_fork();
	if (pid == 0) {
		struct shmring q;
		unsigned char buf[200];

		shmring_close(&c);
		if (shmring_dup(&q, &p, SHMRING_PRODUCER) != 0)
			_exit(1);
		shmring_wait_policy_set(&q, &pol);
		for (uint64_t i = 0; i < n; i++) {
			uint32_t len = t_len(4, i, 200);

			t_fill(buf, len, 4, i);
			if (i % 3 == 0) {
				struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };

				if (shmring_msg_pushv_wait(&q, iov, 2, NULL))
					_exit(2);
			} else if (i % 3 == 1) {
				if (shmring_msg_push_wait(&q, buf, len, NULL))
					_exit(3);
			} else {
				void *w;

				if (shmring_msg_reserve_wait(&q, len, &w, NULL))
					_exit(4);
				memcpy(w, buf, len);
				shmring_msg_commit(&q);
				shmring_msg_wake(&q);
			}
		}
		_exit(0);
	}
	shmring_wait_policy_set(&c, &pol);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char buf[200];
		uint32_t len = t_len(4, i, 200);

		if (i % 2) {
			int k = shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL);

			cr_assert_eq(k, (int)len, "message %llu: %d", (unsigned long long)i, k);
			cr_assert(t_check(buf, len, 4, i));
		} else {
			const void *rd;
			int k = shmring_msg_peek_wait(&c, &rd, NULL);

			cr_assert_eq(k, (int)len, "message %llu: %d", (unsigned long long)i, k);
			cr_assert(t_check(rd, len, 4, i));
			shmring_msg_release(&c);
			shmring_msg_wake(&c);
		}
	}
	t_wait_ok(pid, "producer");
	shmring_close(&c);
	shmring_close(&p);
}

Test(msg_wait, spsc_stream_sleep, .timeout = 120) { stream(SHMRING_MSG_SPSC, SHMRING_WAIT_SLEEP); }
Test(msg_wait, spsc_stream_spin_sleep, .timeout = 120) { stream(SHMRING_MSG_SPSC, SHMRING_WAIT_SPIN_SLEEP); }
Test(msg_wait, mpsc_stream_sleep, .timeout = 120) { stream(SHMRING_MSG_MPSC, SHMRING_WAIT_SLEEP); }

Test(msg_wait, deadlines_and_emsgsize, .timeout = 30)
{
	struct shmring p, c;
	struct timespec dl;
	uint32_t types[] = { SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };
	unsigned char buf[256];
	const void *rd;
	void *w;

	for (int k = 0; k < 2; k++) {
		pair_open(&p, &c, types[k], 256, 100);
		shmring_deadline_after(&dl, 10 * 1000000ull);
		cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), &dl), -ETIMEDOUT);
		cr_assert_eq(shmring_msg_peek_wait(&c, &rd, &dl), -ETIMEDOUT, "deadline in the past");
		/* Larger than the maximum: at once, never a wait. */
		cr_assert_eq(shmring_msg_reserve_wait(&p, 101, &w, NULL), -EMSGSIZE);
		cr_assert_eq(shmring_msg_push_wait(&p, buf, 1000, NULL), -EMSGSIZE);
		while (shmring_msg_push(&p, buf, 100) == 0)
			;
		shmring_deadline_after(&dl, 10 * 1000000ull);
		cr_assert_eq(shmring_msg_push_wait(&p, buf, 100, &dl), -ETIMEDOUT);
		cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL), 100);
		cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL), 100);
		cr_assert_eq(shmring_msg_push_wait(&p, buf, 100, NULL), 0);
		shmring_close(&c);
		shmring_close(&p);
	}
}

/* The producer process exits: the consumer takes what is left, then
 * -EPIPE instead of sleeping forever. */
Test(msg_wait, producer_gone, .timeout = 30)
{
	struct shmring p, c;
	struct shmring_params prm;
	const char *name = t_name("msg-gone");
	unsigned char buf[64];
	pid_t pid;

	shmring_params_init(&prm, SHMRING_MSG_SPSC, 1024, 64);
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	pid = t_fork();
	if (pid == 0) {
		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL))
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (shmring_msg_push_wait(&p, buf, 10, NULL))
				_exit(2);
		_exit(0); /* no close: as if it crashed */
	}
	t_wait_ok(pid, "producer");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL), 10);
	cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL), -EPIPE);
	shmring_close(&c);
	shmring_unlink(name);
}

/* A consumer asleep behind a killed producer's reservation wakes up,
 * recovers it and receives what a live producer sent behind it. */
Test(msg_wait, asleep_behind_dead_producer, .timeout = 30)
{
	struct shmring p, c;
	int fds[2];
	char ok;
	unsigned char buf[100];
	pid_t pid;

	pair_open(&p, &c, SHMRING_MSG_MPSC, 4096, 100);
	cr_assert_eq(pipe(fds), 0);
	pid = t_fork();
	if (pid == 0) {
		struct shmring q;
		void *w;

		if (shmring_dup(&q, &p, SHMRING_PRODUCER) || shmring_msg_reserve(&q, 50, &w))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	cr_assert_eq(read(fds[0], &ok, 1), 1);
	t_fill(buf, 100, 1, 1);
	cr_assert_eq(shmring_msg_push_wait(&p, buf, 100, NULL), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), NULL), 100);
	cr_assert(t_check(buf, 100, 1, 1));
	shmring_close(&c);
	shmring_close(&p);
}
