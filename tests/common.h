/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Criterion tests. */
#ifndef SHMRING_TESTS_COMMON_H
#define SHMRING_TESTS_COMMON_H

#include <criterion/criterion.h>
#include "msg.h"
#include <shmring/shmring.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
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

/* Make the calling child die with SIGKILL when its parent does, then check
 * that the parent is still `parent` (it may have died between fork() and
 * prctl(), before the death signal was armed). The kernel clears the
 * setting when the child changes its uids or gids: call this again after
 * setresuid()/setresgid(). Fails the child (_exit 127) if it cannot. */
static inline void t_child_guard(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
}

/* fork() for every test child: a test process that Criterion kills on a
 * timeout (or that dies of a failed assertion) takes its children with it,
 * so none is left spinning as an orphan. The death signal follows the
 * thread that forked: fork from the test's main thread. */
static inline pid_t t_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0)
		t_child_guard(parent);
	return pid;
}

/* Wait for a child and require a clean exit with status 0. */
static inline void t_wait_ok(pid_t pid, const char *what)
{
	int st;

	cr_assert(waitpid(pid, &st, 0) == pid, "waitpid %s", what);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with status 0x%x", what, st);
}

#endif
