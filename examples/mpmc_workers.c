/* SPDX-License-Identifier: MIT */
/*
 * mpmc_workers: a job queue between processes on an MPMC ring.
 *
 * Three producer processes each queue 20000 jobs; two worker processes
 * take them, whichever is free first. Every process has its own endpoint
 * (its own handle); the parent made the ring and, once the producers are
 * done, queues one STOP job per worker. Each worker reports what it took
 * through a pipe, and the parent checks that every job was done exactly
 * once and that each worker saw each producer's jobs in order.
 *
 * The producers and workers use the blocking calls of wait.h: a full
 * ring puts producers to sleep, an empty one puts workers to sleep, with
 * a deadline so that nothing waits forever.
 *
 * Build against the installed library:
 *   cc -std=c11 mpmc_workers.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <shmring/wait.h> /* the blocking calls: shmring_mpmc_push_wait, ... */

#define PRODUCERS 3
#define WORKERS 2
#define JOBS 20000 /* per producer */
#define WAIT_NS (10ull * 1000000000ull) /* longest any one call may wait */

enum { JOB_WORK = 1, JOB_STOP = 2 };

/* One slot: which producer queued the job, and its number there. */
struct job {
	uint32_t kind;
	uint32_t producer;
	uint64_t seq;
};

/* What a worker sends back: jobs taken per producer, and their sum. */
struct tally {
	uint64_t count[PRODUCERS];
	uint64_t sum[PRODUCERS];
	int ok; /* every producer's jobs came in increasing order */
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "mpmc_workers: %s: %s (%s)\n", what, shmring_strerror(err),
		shmring_errdetail());
	return 1;
}

/* A producer process: queue JOBS jobs, blocking while the ring is full. */
static int producer(const struct shmring *inherited, uint32_t id)
{
	/* The handle inherited over fork() is the parent's endpoint and is
	 * refused here; shmring_dup gives this process an endpoint of its
	 * own on the same ring. */
	struct shmring prod;
	int ret = shmring_dup(&prod, inherited, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_dup (producer)", ret);

	for (uint64_t seq = 0; seq < JOBS; seq++) {
		struct job j = { .kind = JOB_WORK, .producer = id, .seq = seq };
		struct timespec deadline;

		shmring_deadline_after(&deadline, WAIT_NS);
		ret = shmring_mpmc_push_wait(&prod, &j, &deadline);
		if (ret < 0)
			return fail("shmring_mpmc_push_wait", ret);
	}
	shmring_close(&prod);
	return 0;
}

/* A worker process: take jobs until a STOP, then report through `out`. */
static int worker(const struct shmring *inherited, int out)
{
	struct shmring cons;
	int ret = shmring_dup(&cons, inherited, SHMRING_CONSUMER);
	if (ret < 0)
		return fail("shmring_dup (worker)", ret);

	struct tally t;
	uint64_t next[PRODUCERS] = { 0 }; /* lowest seq still possible per producer */
	memset(&t, 0, sizeof(t));
	t.ok = 1;
	for (;;) {
		struct job j;
		struct timespec deadline;

		shmring_deadline_after(&deadline, WAIT_NS);
		ret = shmring_mpmc_pop_wait(&cons, &j, &deadline);
		if (ret < 0)
			return fail("shmring_mpmc_pop_wait", ret);
		if (j.kind == JOB_STOP)
			break;
		if (j.kind != JOB_WORK || j.producer >= PRODUCERS || j.seq < next[j.producer]) {
			t.ok = 0; /* a job twice, or out of its producer's order */
			continue;
		}
		next[j.producer] = j.seq + 1;
		t.count[j.producer]++;
		t.sum[j.producer] += j.seq;
	}
	shmring_close(&cons);
	/* Smaller than PIPE_BUF: the write is atomic, reports never mix. */
	return write(out, &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1;
}

int main(void)
{
	char name[64];
	snprintf(name, sizeof(name), "/shmring-workers-%d", (int)getpid());

	/* An MPMC ring of 256 job slots. The parent attaches as a producer:
	 * it queues the STOP jobs at the end. */
	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_MPMC, 256, sizeof(struct job));
	struct shmring ring;
	int ret = shmring_create(&ring, name, &prm, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_create", ret);

	int fds[2];
	if (pipe(fds) < 0) {
		perror("pipe");
		shmring_close(&ring);
		shmring_unlink(name);
		return 1;
	}

	pid_t pids[PRODUCERS + WORKERS];
	int started = 0, bad = 0;
	for (int i = 0; i < PRODUCERS + WORKERS; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			bad = 1;
			break;
		}
		if (pid == 0) {
			close(fds[0]);
			_exit(i < PRODUCERS ? producer(&ring, (uint32_t)i) : worker(&ring, fds[1]));
		}
		pids[started++] = pid;
	}
	close(fds[1]);

	/* Wait for the producers; then every job is in the ring or done. */
	for (int i = 0; i < started; i++) {
		int status;

		if (i == PRODUCERS && !bad) {
			/* The STOPs queue behind every job: a worker that takes
			 * one has nothing left to miss. */
			for (int w = 0; w < WORKERS; w++) {
				struct job stop = { .kind = JOB_STOP };
				struct timespec deadline;

				shmring_deadline_after(&deadline, WAIT_NS);
				ret = shmring_mpmc_push_wait(&ring, &stop, &deadline);
				if (ret < 0)
					bad = fail("shmring_mpmc_push_wait (stop)", ret);
			}
		}
		if (bad && i >= PRODUCERS)
			kill(pids[i], SIGTERM); /* it would wait for a STOP */
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	}

	/* Add up the workers' reports. */
	uint64_t count[PRODUCERS] = { 0 }, sum[PRODUCERS] = { 0 };
	struct tally t;
	int reports = 0;
	while (read(fds[0], &t, sizeof(t)) == (ssize_t)sizeof(t)) {
		reports++;
		bad |= !t.ok;
		for (int p = 0; p < PRODUCERS; p++) {
			count[p] += t.count[p];
			sum[p] += t.sum[p];
			printf("worker %d: %llu jobs of producer %d\n", reports,
			       (unsigned long long)t.count[p], p);
		}
	}
	close(fds[0]);
	bad |= reports != WORKERS;
	for (int p = 0; p < PRODUCERS; p++)
		bad |= count[p] != JOBS || sum[p] != (uint64_t)JOBS * (JOBS - 1) / 2;

	shmring_close(&ring);
	shmring_unlink(name);
	printf("%d producers x %d jobs, %d workers: %s\n", PRODUCERS, JOBS, WORKERS,
	       bad ? "FAILED" : "each job done once, in order per producer");
	return bad;
}
