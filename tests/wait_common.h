/* SPDX-License-Identifier: MIT */
/* Helpers for the blocking-wait tests. */
#ifndef SHMRING_TESTS_WAIT_COMMON_H
#define SHMRING_TESTS_WAIT_COMMON_H

#include <shmring/wait.h>
#include <signal.h>
#include <sys/time.h>
#include <string.h>
#include <time.h>

#include "common.h"

/*
 * LeakSanitizer: Criterion's runner leaks one 48-byte object per test that
 * fork()s when tests run in parallel (inside libcriterion, not ours; with
 * -j1 there is none). Suppress leaks whose allocation is in libcriterion.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

static inline uint64_t tw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void tw_policy(struct shmring *r, uint32_t mode, uint32_t flags, uint32_t slice_ms)
{
	struct shmring_wait_policy p = { 0 };

	p.mode = mode;
	p.flags = flags;
	p.slice_ms = slice_ms;
	cr_assert_eq(shmring_wait_policy_set(r, &p), 0);
}

static inline uint64_t tw_stat(SHMRING_ATOMIC(uint64_t) *c)
{
	return shmring_atomic_load(c, SHMRING_RELAXED);
}

/* Wait (bounded) until somebody sleeps on the block; 1 if so. */
static inline int tw_until_asleep(struct shmring_wait *w, unsigned ms)
{
	for (unsigned i = 0; i < ms * 10; i++) {
		if (shmring_atomic_load(&w->waiters, SHMRING_RELAXED))
			return 1;
		usleep(100);
	}
	return 0;
}

/* State letter of a process (/proc/PID/stat field 3), '?' if unknown. */
static inline char tw_proc_state(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' ? p[2] : '?';
}

/* Wait (bounded) until process `pid` is parked on the block: a waiter is
 * published and the process sleeps in the kernel. 1 if so. */
static inline int tw_until_sleeping(struct shmring_wait *w, pid_t pid, unsigned ms)
{
	for (unsigned i = 0; i < ms * 10; i++) {
		if (shmring_atomic_load(&w->waiters, SHMRING_RELAXED) && tw_proc_state(pid) == 'S')
			return 1;
		usleep(100);
	}
	return 0;
}

/* A SIGALRM every `us` microseconds to the whole process (0: stop). */
static volatile sig_atomic_t tw_alarms;

static void tw_on_alarm(int sig)
{
	(void)sig;
	tw_alarms++;
}

static inline void tw_alarm_storm(unsigned us, int restart)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tw_on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = us;
	it.it_value.tv_usec = us;
	setitimer(ITIMER_REAL, &it, NULL);
}

#endif
