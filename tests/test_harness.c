/* SPDX-License-Identifier: MIT */
/*
 * The test harness itself: a child made with t_fork() dies with its
 * parent, so a test process killed by a Criterion timeout leaves no
 * orphan behind.
 */
#include <errno.h>
#include <sys/prctl.h>

#include "common.h"

/*
 * The test process becomes a subreaper, so an orphaned grandchild is
 * reparented to it and can be waited for here. A middle child makes a
 * grandchild with `make` (t_fork or fork) that would sleep forever, and
 * sleeps itself; the grandchild's pid is read back once it runs (a
 * t_fork()ed one is armed by then). Returns the grandchild, *mid the
 * middle child.
 */
static pid_t grandchild_via(pid_t (*make)(void), pid_t *mid)
{
	int pfd[2];
	pid_t grand = 0;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe(pfd), 0);
	*mid = t_fork();
	cr_assert_geq(*mid, 0);
	if (*mid == 0) {
		pid_t g = make();

		if (g < 0)
			_exit(1);
		if (g == 0) {
			pid_t me = getpid();

			if (write(pfd[1], &me, sizeof(me)) != (ssize_t)sizeof(me))
				_exit(2);
			for (;;)
				pause();
		}
		for (;;)
			pause();
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &grand, sizeof(grand)), (ssize_t)sizeof(grand));
	close(pfd[0]);
	return grand;
}

/* The middle child is SIGKILLed: the grandchild must end with SIGKILL
 * (its death signal), not run on. */
Test(harness, t_fork_child_dies_with_parent, .timeout = 30)
{
	pid_t mid, grand = grandchild_via(t_fork, &mid);
	int st;

	cr_assert_gt(grand, 0);
	cr_assert_eq(kill(mid, SIGKILL), 0);
	cr_assert_eq(waitpid(mid, &st, 0), mid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The grandchild is ours now (subreaper); it must die on its own. */
	cr_assert_eq(waitpid(grand, &st, 0), grand, "grandchild: %s", strerror(errno));
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "the orphaned grandchild ended with status 0x%x, not SIGKILL", st);
}

/* Without the death signal the same grandchild outlives its parent: the
 * test above can fail. */
Test(harness, plain_fork_child_survives_parent, .timeout = 30)
{
	pid_t mid, grand = grandchild_via(fork, &mid);
	int st;

	cr_assert_eq(kill(mid, SIGKILL), 0);
	cr_assert_eq(waitpid(mid, &st, 0), mid);
	usleep(100000);
	cr_assert_eq(waitpid(grand, &st, WNOHANG), 0, "a plain fork()ed grandchild died with its parent");
	kill(grand, SIGKILL);
	cr_assert_eq(waitpid(grand, &st, 0), grand);
}
