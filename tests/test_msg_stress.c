/* SPDX-License-Identifier: MIT */
/*
 * Message ring stress across processes.
 *
 * spsc_2proc: >= 1 M messages of random size 0..max (every byte derived
 * from the message's sequence number) from one process to another; the
 * consumer regenerates each and compares length and every byte, so a
 * lost, duplicated, reordered or torn message fails.
 * mpsc_4p: 4 producer processes, random sizes 16..max, the first 16 bytes
 * carry (producer, seq); the consumer checks each producer's sequence is
 * consecutive and every payload byte.
 * Sizes scale with SHMRING_STRESS_SCALE.
 */
#include <sched.h>
#include <string.h>

#include "msg_common.h"

#define MAX 2000u

static void push_wait(struct shmring *p, const void *buf, uint32_t len)
{
	int ret;

	while ((ret = shmring_msg_push(p, buf, len)) == -EAGAIN)
		sched_yield();
	if (ret)
		_exit(20);
}

static int pop_wait(struct shmring *c, void *buf, uint32_t cap)
{
	int n;

	while ((n = shmring_msg_pop(c, buf, cap)) == -EAGAIN)
		sched_yield();
	return n;
}

static void spsc_2proc(uint64_t n, int zero_copy)
{
	struct shmring p, c;
	const char *name = t_name("msg-stress");
	static unsigned char buf[MAX];
	pid_t pid;

	t_msg_ring(&p, &c, name, SHMRING_MSG_SPSC, 64 * 1024, MAX, 0);
	shmring_close(&c);
	pid = t_fork();
	if (pid == 0) {
		struct shmring cc;

		if (shmring_open(&cc, name, SHMRING_CONSUMER, NULL))
			_exit(1);
		for (uint64_t i = 0; i < n; i++) {
			uint32_t want = t_len(9, i, MAX);

			if (zero_copy) {
				const void *rd;
				int k;

				while ((k = shmring_msg_peek(&cc, &rd)) == -EAGAIN)
					sched_yield();
				if (k != (int)want || !t_check(rd, want, 9, i))
					_exit(2);
				/* Release in batches of 8. */
				if (i % 8 == 7 || i + 1 == n)
					shmring_msg_release(&cc);
			} else {
				int k = pop_wait(&cc, buf, MAX);

				if (k != (int)want || !t_check(buf, want, 9, i))
					_exit(3);
			}
		}
		if (shmring_msg_pop(&cc, buf, MAX) != -EAGAIN)
			_exit(4);
		_exit(0);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint32_t len = t_len(9, i, MAX);

		if (zero_copy) {
			void *w;
			int ret;

			while ((ret = shmring_msg_reserve(&p, len, &w)) == -EAGAIN)
				sched_yield();
			cr_assert_eq(ret, 0);
			t_fill(w, len, 9, i);
			cr_assert_eq(shmring_msg_commit(&p), 0);
		} else {
			t_fill(buf, len, 9, i);
			push_wait(&p, buf, len);
		}
	}
	t_wait_ok(pid, "consumer");
	shmring_close(&p);
	shmring_unlink(name);
}

Test(msg_stress, spsc_2proc_copy, .timeout = 300) { spsc_2proc(t_scale(1000000), 0); }
Test(msg_stress, spsc_2proc_zero_copy, .timeout = 300) { spsc_2proc(t_scale(1000000), 1); }

#define NPROD 4

Test(msg_stress, mpsc_4p, .timeout = 300)
{
	struct shmring p, c;
	const char *name = t_name("msg-mpsc");
	uint64_t per = t_scale(250000);
	uint64_t next[NPROD] = { 0 };
	static unsigned char buf[MAX];
	pid_t pids[NPROD];

	t_msg_ring(&p, &c, name, SHMRING_MSG_MPSC, 64 * 1024, MAX, 0);
	shmring_close(&p);
	for (int k = 0; k < NPROD; k++) {
		pids[k] = t_fork();
		if (pids[k] == 0) {
			struct shmring q;
			static unsigned char b[MAX];

			if (shmring_open(&q, name, SHMRING_PRODUCER, NULL))
				_exit(1);
			for (uint64_t i = 0; i < per; i++) {
				uint32_t len = 16 + t_len((uint64_t)k, i, MAX - 16);
				uint64_t id[2] = { (uint64_t)k, i };

				memcpy(b, id, 16);
				t_fill(b + 16, len - 16, (uint64_t)k, i);
				if (i % 2) {
					push_wait(&q, b, len);
				} else {
					/* Zero copy, after an aborted attempt now and then. */
					void *w;
					int ret;

					for (int attempt = i % 10 == 4 ? 0 : 1; attempt < 2; attempt++) {
						while ((ret = shmring_msg_reserve(&q, len, &w)) == -EAGAIN)
							sched_yield();
						if (ret)
							_exit(21);
						if (attempt == 0) {
							memset(w, 0xee, len);
							shmring_msg_abort(&q);
						} else {
							memcpy(w, b, len);
							shmring_msg_commit(&q);
						}
					}
				}
			}
			shmring_close(&q);
			_exit(0);
		}
	}
	for (uint64_t got = 0; got < per * NPROD; got++) {
		int n = pop_wait(&c, buf, MAX);
		uint64_t id[2];

		cr_assert_geq(n, 16, "message %llu: %d", (unsigned long long)got, n);
		memcpy(id, buf, 16);
		cr_assert_lt(id[0], NPROD);
		cr_assert_eq(id[1], next[id[0]], "producer %llu: seq %llu, expected %llu",
			     (unsigned long long)id[0], (unsigned long long)id[1],
			     (unsigned long long)next[id[0]]);
		cr_assert_eq((uint32_t)n, 16 + t_len(id[0], id[1], MAX - 16));
		cr_assert(t_check(buf + 16, (uint32_t)n - 16, id[0], id[1]), "payload of %llu/%llu",
			  (unsigned long long)id[0], (unsigned long long)id[1]);
		next[id[0]]++;
	}
	for (int k = 0; k < NPROD; k++)
		t_wait_ok(pids[k], "producer");
	cr_assert_eq(shmring_msg_pop(&c, buf, MAX), -EAGAIN);
	shmring_close(&c);
	shmring_unlink(name);
}
