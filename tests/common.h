/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion tests. */
#ifndef SHMRING_TESTS_COMMON_H
#define SHMRING_TESTS_COMMON_H

#include <criterion/criterion.h>
#include "msg.h"
#include <shmring/shmring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* A shared-memory name no other test (or test run) uses. */
static inline const char *t_name(const char *tag)
{
	static _Thread_local char buf[96];
	static unsigned counter;

	snprintf(buf, sizeof(buf), "/shmring-test-%s-%d-%u", tag, (int)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	return buf;
}

/* Wait for a child and require a clean exit with status 0. */
static inline void t_wait_ok(pid_t pid, const char *what)
{
	int st;

	cr_assert(waitpid(pid, &st, 0) == pid, "waitpid %s", what);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with status 0x%x", what, st);
}

#endif
