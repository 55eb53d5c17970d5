/* SPDX-License-Identifier: MIT */
/*
 * wait_blocking: blocking push and pop, deadlines, and a producer that dies.
 *
 * The try_* calls return -EAGAIN at once when the ring is full or empty.
 * The *_wait calls of wait.h wait instead: they spin briefly, then sleep
 * on a futex in the shared mapping until the other process makes room or
 * publishes, until an absolute deadline, or until the other side's
 * processes are all dead. The side that publishes wakes a sleeper only
 * if one sleeps: no system call while both are busy.
 *
 * Here the parent is the consumer. A first child produces 100000
 * numbers and closes; the parent then shows a wait that times out. A
 * second child produces one number and is killed before it closes; the
 * parent's wait returns -EPIPE instead of waiting for it forever.
 *
 * Build against the installed library:
 *   cc -std=c11 wait_blocking.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <shmring/wait.h>

#define COUNT 100000
#define MS 1000000ull /* nanoseconds */

static int fail(const char *what, int err)
{
	fprintf(stderr, "wait_blocking: %s: %s (%s)\n", what, shmring_strerror(err),
		shmring_errdetail());
	return 1;
}

/* Child: attach as the producer, push `n` numbers, then close the
 * handle, or, with `crash`, die without closing it. */
static int produce(const char *name, uint64_t n, int crash)
{
	struct shmring prod;
	int ret = shmring_open(&prod, name, SHMRING_PRODUCER, NULL);
	if (ret < 0)
		return fail("shmring_open", ret);

	uint64_t v[16];
	uint64_t sent = 0;
	while (sent < n) {
		struct timespec deadline;
		shmring_deadline_after(&deadline, 5000 * MS); /* now + 5 s */

		/* Up to 16 at a time: returns as soon as at least one fits. */
		uint64_t want = n - sent < 16 ? n - sent : 16;
		for (uint64_t i = 0; i < want; i++)
			v[i] = sent + i;
		int64_t k = shmring_spsc_push_burst_wait(&prod, v, want, &deadline);
		if (k < 0)
			return fail("shmring_spsc_push_burst_wait", (int)k);
		sent += (uint64_t)k;
	}
	if (crash)
		raise(SIGKILL); /* as a crash would: the handle is never closed */
	shmring_close(&prod);
	return 0;
}

static pid_t spawn(const char *name, uint64_t n, int crash)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(produce(name, n, crash));
	return pid;
}

int main(void)
{
	char name[64];
	snprintf(name, sizeof(name), "/shmring-wait-%d", (int)getpid());

	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_SPSC, 64, sizeof(uint64_t));
	struct shmring cons;
	int ret = shmring_create(&cons, name, &prm, SHMRING_CONSUMER);
	if (ret < 0)
		return fail("shmring_create", ret);

	/* How this handle waits (zero means default): spin up to 50 us for
	 * a message, then sleep; re-check every 20 ms that a producer is
	 * still alive. */
	struct shmring_wait_policy pol = { 0 };
	pol.mode = SHMRING_WAIT_SPIN_SLEEP;
	pol.spin_ns = 50000;
	pol.slice_ms = 20;
	ret = shmring_wait_policy_set(&cons, &pol);
	if (ret < 0)
		return fail("shmring_wait_policy_set", ret);

	int bad = 0, status;
	pid_t child = spawn(name, COUNT, 0);

	/* 1. Take COUNT numbers, each wait bounded by an absolute deadline
	 * (CLOCK_MONOTONIC) 5 s from now. */
	for (uint64_t i = 0; i < COUNT && !bad; i++) {
		struct timespec deadline;
		shmring_deadline_after(&deadline, 5000 * MS);
		uint64_t v;
		ret = shmring_spsc_pop_wait(&cons, &v, &deadline);
		if (ret < 0)
			bad = fail("shmring_spsc_pop_wait", ret);
		else if (v != i)
			bad = fail("order check", -EPROTO);
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		bad = 1;
	printf("took %d numbers in order\n", COUNT);

	/* 2. The producer closed cleanly: a new one may still come, so a
	 * wait on the empty ring goes on until its deadline. */
	struct timespec soon;
	shmring_deadline_after(&soon, 100 * MS);
	uint64_t v;
	ret = shmring_spsc_pop_wait(&cons, &v, &soon);
	printf("empty ring, 100 ms deadline: %s\n", shmring_strerror(ret));
	if (ret != -ETIMEDOUT)
		bad = 1;

	/* 3. A producer that dies attached: the wait notices at its next
	 * liveness check (slice_ms) and returns -EPIPE once the ring is
	 * empty, instead of waiting for a process that will never push. */
	child = spawn(name, 1, 1);
	struct timespec later;
	shmring_deadline_after(&later, 5000 * MS);
	ret = shmring_spsc_pop_wait(&cons, &v, &later); /* its one number */
	if (ret < 0 || v != 0)
		bad = fail("shmring_spsc_pop_wait", ret);
	ret = shmring_spsc_pop_wait(&cons, &v, &later);
	printf("producer killed, ring empty: %s\n", shmring_strerror(ret));
	if (ret != -EPIPE)
		bad = 1;
	if (waitpid(child, &status, 0) < 0 || !WIFSIGNALED(status))
		bad = 1;

	shmring_close(&cons);
	shmring_unlink(name);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
