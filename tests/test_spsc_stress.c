/* SPDX-License-Identifier: MIT */
/*
 * SPSC stress: a producer and a consumer pass {producer, seq, checksum}
 * messages, mixing single, burst and zero-copy operations on both sides.
 * The consumer checks every message: right producer, the next sequence
 * number (no loss, no duplicate, order kept) and an intact checksum.
 *
 * Two processes, 10 million messages (x the stress scale). The thread
 * variant is test_spsc_threads.c (a plain program, so that it also runs
 * under ThreadSanitizer).
 */
#include <sched.h>
#include <signal.h>
#include <string.h>

#include "common.h"
#include "spsc_stress.h"

static void report(const struct job *j)
{
	cr_assert_null(j->error, "%s at message %llu", j->error, (unsigned long long)j->at);
	cr_assert_eq(j->received, j->n);
}

static void params(struct shmring_params *p, uint64_t cap)
{
	shmring_params_init(p, SHMRING_SPSC, cap, sizeof(struct t_msg));
	p->flags = SHMRING_F_COUNTERS;
}

Test(spsc_stress, processes, .timeout = 600)
{
	struct shmring c;
	struct shmring_params prm;
	char name[96];
	uint64_t n = t_scale(10000000);
	pid_t pid;

	snprintf(name, sizeof(name), "%s", t_name("stress"));
	params(&prm, 1024);
	/* Seeded near 2^32 so that the positions cross it on the way. */
	prm.init_pos = (1ull << 32) - n / 2;
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring p;
		struct job j = { .r = &p, .n = n, .id = 42 };

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		produce(&j);
		shmring_close(&p);
		_exit(j.error ? 1 : 0);
	}
	struct job j = { .r = &c, .n = n, .id = 42 };

	consume(&j);
	if (j.error) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		report(&j);
	}
	t_wait_ok(pid, "producer");
	report(&j);
	cr_assert_eq(c.pos - prm.init_pos, n);
	/* Both sides ran into each other at least once on 2 cores, and
	 * never saw more than the capacity in use. */
	cr_assert_leq(shmring_atomic_load(&c.ctrl->prod_stats.high_water, SHMRING_RELAXED), 1024);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}
