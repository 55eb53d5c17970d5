/* SPDX-License-Identifier: MIT */
/*
 * The default wake policy sends no interrupt to other cores.
 *
 * A light waker (SHMRING_WAIT_F_LIGHT) makes every sleeper of its ring run
 * membarrier(GLOBAL_EXPEDITED) when it arms, an interrupt on each CPU that
 * is running a membarrier-registered process, and a light handle
 * registers its own process. By default wakers fence instead, so nobody
 * registers and no sleeper interrupts anyone.
 *
 * The experiment, counted (not timed) through the CAL ("function call
 * interrupts") line of /proc/interrupts for CPU 1:
 *   - a spinner pinned to CPU 1 streams through a ring of its own with
 *     push_wait/pop_wait (it never sleeps, but wakes through the policy
 *     under test, so a light policy registers it);
 *   - a pair pinned to CPU 0 ping-pongs through two rings with the same
 *     policy; sharing one CPU, each hand-off ends in a futex sleep
 *     (counted by the rings' sleep counters).
 * The control run (SHMRING_WAIT_F_LIGHT everywhere) must show an
 * interrupt on CPU 1 for at least a quarter of the sleeps, which proves
 * the count can see them (else, after three tries, the test is skipped);
 * the default run must show fewer than one per twenty sleeps.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include <shmring/wait.h>

#include "common.h"
#include "../bench/interrupts.h"

#define ROUNDS 20000u
#define SPIN_CPU 1
#define PAIR_CPU 0

struct ipi_shared {
	SHMRING_ATOMIC(uint32_t) spinning; /* the spinner has woken through its policy once */
	SHMRING_ATOMIC(uint32_t) stop;
};

struct ipi_result {
	uint64_t interrupts; /* CAL on CPU 1 during the pair's run */
	uint64_t sleeps;     /* the pair's futex sleeps (both rings, both sides) */
};


static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		_exit(90);
}

static void policy(struct shmring *r, uint32_t flags)
{
	struct shmring_wait_policy p = { .flags = flags }; /* mode: the default, spin then sleep */

	if (shmring_wait_policy_set(r, &p) < 0)
		_exit(91);
}

/* CPU 1: stream through an own ring until told to stop. */
static void spinner(const char *name, uint32_t flags, struct ipi_shared *sh)
{
	struct shmring p, c;
	uint64_t v;

	pin(SPIN_CPU);
	if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) || shmring_open(&c, name, SHMRING_CONSUMER, NULL))
		_exit(3);
	policy(&p, flags);
	policy(&c, flags);
	for (uint64_t i = 0; !shmring_atomic_load(&sh->stop, SHMRING_RELAXED); i++) {
		if (shmring_spsc_push_wait(&p, &i, NULL) || shmring_spsc_pop_wait(&c, &v, NULL) || v != i)
			_exit(4);
		if (i == 0) /* release: the parent starts counting after this */
			shmring_atomic_store(&sh->spinning, 1, SHMRING_RELEASE);
	}
	shmring_close(&c);
	shmring_close(&p);
	_exit(0);
}

/* CPU 0: one side of the ping-pong. */
static void pair_side(const char *ping, const char *pong, int first, uint32_t flags)
{
	struct shmring out, in;
	uint64_t v;

	pin(PAIR_CPU);
	if (shmring_open(&out, first ? ping : pong, SHMRING_PRODUCER, NULL) ||
	    shmring_open(&in, first ? pong : ping, SHMRING_CONSUMER, NULL))
		_exit(3);
	policy(&out, flags);
	policy(&in, flags);
	for (uint64_t i = 0; i < ROUNDS; i++) {
		if (first && shmring_spsc_push_wait(&out, &i, NULL))
			_exit(4);
		if (shmring_spsc_pop_wait(&in, &v, NULL) || v != i)
			_exit(5);
		if (!first && shmring_spsc_push_wait(&out, &v, NULL))
			_exit(6);
	}
	shmring_close(&in);
	shmring_close(&out);
	_exit(0);
}

static uint64_t side_sleeps(const struct shmring *r)
{
	return shmring_atomic_load(&r->ctrl->prod_stats.sleeps, SHMRING_RELAXED) +
	       shmring_atomic_load(&r->ctrl->cons_stats.sleeps, SHMRING_RELAXED);
}

static struct ipi_result experiment(uint32_t flags)
{
	char names[3][96];
	struct shmring own[3];
	struct shmring_params prm;
	struct ipi_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ipi_result res;
	pid_t spin, a, b;
	unsigned waited = 0;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	shmring_params_init(&prm, SHMRING_SPSC, 8, sizeof(uint64_t));
	prm.flags = SHMRING_F_COUNTERS;
	for (int i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", t_name("ipi"));
		cr_assert_eq(shmring_create(&own[i], names[i], &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	}
	if ((spin = t_fork()) == 0)
		spinner(names[2], flags, sh);
	/* Acquire: pairs with the spinner's release store after its first
	 * push_wait, which made its wake setup (and registration, if light). */
	while (!shmring_atomic_load(&sh->spinning, SHMRING_ACQUIRE)) {
		cr_assert_lt(waited++, 60000u, "the spinner did not start");
		usleep(1000);
	}
	int64_t before = cal_count(SPIN_CPU);

	if ((a = t_fork()) == 0)
		pair_side(names[0], names[1], 1, flags);
	if ((b = t_fork()) == 0)
		pair_side(names[0], names[1], 0, flags);
	t_wait_ok(a, "pair side A");
	t_wait_ok(b, "pair side B");
	int64_t after = cal_count(SPIN_CPU);

	shmring_atomic_store(&sh->stop, 1, SHMRING_RELAXED);
	t_wait_ok(spin, "spinner");
	cr_assert(before >= 0 && after >= before, "CAL count of CPU %d: %lld, then %lld", SPIN_CPU,
		  (long long)before, (long long)after);
	res.interrupts = (uint64_t)(after - before);
	res.sleeps = side_sleeps(&own[0]) + side_sleeps(&own[1]);
	for (int i = 0; i < 3; i++) {
		shmring_close(&own[i]);
		shmring_unlink(names[i]);
	}
	munmap(sh, sizeof(*sh));
	return res;
}

Test(ready_ipi, default_policy_interrupts_no_other_core, .timeout = 180)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(PAIR_CPU, &set) || !CPU_ISSET(SPIN_CPU, &set))
		cr_skip_test("needs CPUs %d and %d", PAIR_CPU, SPIN_CPU);
	if (cal_count(SPIN_CPU) < 0)
		cr_skip_test("no CAL (function call interrupts) line for CPU %d in /proc/interrupts", SPIN_CPU);

	/* The control: other work sharing CPU 1 takes the spinner off it,
	 * and an interrupt only goes where it runs; a busy machine gets up
	 * to three tries to show the count works. */
	struct ipi_result light;

	for (int tries = 0;; tries++) {
		light = experiment(SHMRING_WAIT_F_LIGHT);
		cr_assert_gt(light.sleeps, 0, "the pair never slept: nothing was measured");
		if (light.interrupts * 4 >= light.sleeps)
			break;
		if (tries == 2)
			cr_skip_test("IPIs are not observable here: with light wakers, %llu interrupts on CPU %d "
				     "for %llu sleeps (want at least a quarter)",
				     (unsigned long long)light.interrupts, SPIN_CPU, (unsigned long long)light.sleeps);
	}

	struct ipi_result def = experiment(0);

	cr_assert_gt(def.sleeps, 0, "the pair never slept: nothing was measured");
	cr_log_info("light wakers: %llu interrupts on CPU %d for %llu sleeps; default: %llu for %llu",
		    (unsigned long long)light.interrupts, SPIN_CPU, (unsigned long long)light.sleeps,
		    (unsigned long long)def.interrupts, (unsigned long long)def.sleeps);
	cr_assert_lt(def.interrupts * 20, def.sleeps,
		     "default policy: %llu interrupts on CPU %d for %llu sleeps of a pair on CPU %d "
		     "(light wakers: %llu for %llu)",
		     (unsigned long long)def.interrupts, SPIN_CPU, (unsigned long long)def.sleeps, PAIR_CPU,
		     (unsigned long long)light.interrupts, (unsigned long long)light.sleeps);
}
