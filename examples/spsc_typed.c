/* SPDX-License-Identifier: MIT */
/*
 * spsc_typed: an SPSC ring of one element type (shmring/typed.h).
 *
 * SHMRING_SPSC_TYPED(tick_ring, struct tick) defines tick_ring_create,
 * tick_ring_open, tick_ring_try_push, tick_ring_pop_burst ... whose copies
 * are compiled for sizeof(struct tick), and which refuse a ring of any
 * other slot size instead of copying past a slot. The parent creates a
 * named ring and consumes; a fork()ed child opens it by name, produces
 * 100000 ticks, one at a time, and exits. The parent takes them in bursts
 * and checks that each arrives once, in order, intact.
 *
 * Build against the installed library:
 *   cc -std=c11 spsc_typed.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/typed.h>

struct tick {
	uint64_t seq;
	int64_t price; /* derived from seq, so the consumer can check it */
};

/* The typed functions for struct tick, as static inline functions. */
SHMRING_SPSC_TYPED(tick_ring, struct tick);

#define TICKS 100000u

static int fail(const char *what, int err)
{
	fprintf(stderr, "spsc_typed: %s: %s (%s)\n", what, shmring_strerror(err), shmring_errdetail());
	return 1;
}

/* The child: opens the ring by name as its producer. tick_ring_open asks
 * for a ring of sizeof(struct tick) slots; another size is refused. */
static int produce(const char *name)
{
	struct shmring r;
	int ret = tick_ring_open(&r, name, SHMRING_PRODUCER, NULL);

	if (ret < 0)
		return fail("tick_ring_open", ret);
	for (uint64_t seq = 0; seq < TICKS;) {
		struct tick t = { seq, 10000 + (int64_t)(seq % 500) };

		ret = tick_ring_try_push(&r, &t);
		if (ret == 0)
			seq++;
		else if (ret == -EAGAIN)
			sched_yield(); /* full: the consumer has not caught up */
		else
			return fail("tick_ring_try_push", ret);
	}
	return shmring_close(&r) == 0 ? 0 : 1;
}

/* The parent: takes the ticks in bursts of up to 64 and checks each. */
static int consume(struct shmring *r)
{
	struct tick batch[64];
	uint64_t seq = 0;

	while (seq < TICKS) {
		int64_t k = tick_ring_pop_burst(r, batch, 64);

		if (k < 0)
			return fail("tick_ring_pop_burst", (int)k);
		if (k == 0)
			sched_yield(); /* empty */
		for (int64_t i = 0; i < k; i++, seq++)
			if (batch[i].seq != seq || batch[i].price != 10000 + (int64_t)(seq % 500)) {
				fprintf(stderr, "spsc_typed: tick %llu is wrong\n", (unsigned long long)seq);
				return 1;
			}
	}
	return 0;
}

int main(void)
{
	char name[64];
	struct shmring r;
	int st, ret;
	pid_t pid;

	snprintf(name, sizeof(name), "/spsc_typed-%d", (int)getpid());
	ret = tick_ring_create(&r, name, 1024, SHMRING_CONSUMER);
	if (ret < 0)
		return fail("tick_ring_create", ret);
	pid = fork();
	if (pid == 0)
		_exit(produce(name));
	ret = pid < 0 ? 1 : consume(&r);
	if (ret && pid > 0)
		kill(pid, SIGKILL);
	if (pid > 0 && (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
		ret = 1;
	shmring_close(&r);
	shmring_unlink(name);
	if (ret == 0)
		printf("spsc_typed: %u ticks, in order and intact\n", TICKS);
	return ret;
}
