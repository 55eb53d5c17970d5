/* SPDX-License-Identifier: MIT */
/*
 * Open-or-wait (SHMRING_OPEN_F_WAIT_CREATE): an opener started before the
 * creator gets the ring once it is created; with no creator it gets
 * -ETIMEDOUT after its timeout; without the flag a missing name is still
 * -ENOENT at once. The only time bound is a generous watchdog.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#ifdef SHMRING_TEST_HAVE_SETS
#include <shmring/set.h>
#include <shmring/wait.h>
#endif

#include "common.h"
#include "../src/internal.h"
#include <criterion/new/assert.h>

#define WATCHDOG_NS (60ull * 1000000000ull) /* a wait that takes this long is a hang */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The child opens before the ring exists and must pop what the creator
 * pushed: the ring it waited for, not just any object. */
static void opener_first(uint32_t type, bool no_inotify)
{
	const char *name = t_name("owait");
	struct shmring_params p;
	struct shmring r;
	int ready[2];
	char b;

	cr_assert(pipe(ready) == 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring_open_opts o = { .timeout_ms = 30000, .flags = SHMRING_OPEN_F_WAIT_CREATE };
		struct shmring c;
		uint64_t v = 0;
		int ret;

		close(ready[0]);
		shmring__test_no_inotify = no_inotify;
		if (write(ready[1], "r", 1) != 1)
			_exit(9);
		ret = shmring_open(&c, name, SHMRING_CONSUMER, &o);
		if (ret < 0) {
			fprintf(stderr, "open: %s: %s\n", shmring_strerror(ret), shmring_errdetail());
			_exit(1);
		}
		/* The creator pushes once its create returned: wait (bounded). */
		for (int i = 0; i < 30000; i++) {
			ret = type == SHMRING_SPSC ? shmring_spsc_try_pop(&c, &v)
						   : shmring_msg_pop(&c, &v, sizeof(v));
			if (ret != -EAGAIN)
				break;
			sleep_ms(1);
		}
		if (ret < 0 || v != 42)
			_exit(2);
		_exit(shmring_close(&c) == 0 ? 0 : 3);
	}
	close(ready[1]);
	cr_assert(read(ready[0], &b, 1) == 1);
	close(ready[0]);
	sleep_ms(100); /* the opener is (almost certainly) waiting by now */
	shmring_params_init(&p, type, type == SHMRING_SPSC ? 16 : 4096, type == SHMRING_SPSC ? 8 : 0);
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_PRODUCER), 0), "%s", shmring_errdetail());
	uint64_t v = 42;

	cr_assert(eq(int, type == SHMRING_SPSC ? shmring_spsc_try_push(&r, &v) : shmring_msg_push(&r, &v, sizeof(v)), 0));
	t_wait_ok(pid, "the opener that started first");
	shmring_close(&r);
	shmring_unlink(name);
}

Test(open_wait, opener_first_spsc, .timeout = 90) { opener_first(SHMRING_SPSC, false); }
Test(open_wait, opener_first_msg, .timeout = 90) { opener_first(SHMRING_MSG_MPSC, false); }
/* Where inotify is unavailable: the backoff poll. */
Test(open_wait, opener_first_no_inotify, .timeout = 90) { opener_first(SHMRING_SPSC, true); }

/* Several openers of several roles wait for one creator. */
Test(open_wait, many_openers, .timeout = 90)
{
	const char *name = t_name("owait-many");
	struct shmring_params p;
	struct shmring r;
	pid_t pids[4];

	for (int i = 0; i < 4; i++) {
		pids[i] = t_fork();
		if (pids[i] == 0) {
			struct shmring_open_opts o = { .timeout_ms = 30000, .flags = SHMRING_OPEN_F_WAIT_CREATE,
						       .type = SHMRING_MPMC };
			struct shmring c;

			if (shmring_open(&c, name, i % 2 ? SHMRING_PRODUCER : SHMRING_OBSERVER, &o) < 0)
				_exit(1);
			_exit(shmring_close(&c) == 0 ? 0 : 2);
		}
	}
	sleep_ms(100);
	shmring_params_init(&p, SHMRING_MPMC, 16, 8);
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_CONSUMER), 0));
	for (int i = 0; i < 4; i++)
		t_wait_ok(pids[i], "an opener");
	shmring_close(&r);
	shmring_unlink(name);
}

Test(open_wait, no_creator, .timeout = 90)
{
	const char *name = t_name("owait-none");
	struct shmring_open_opts o = { .timeout_ms = 200, .flags = SHMRING_OPEN_F_WAIT_CREATE };
	struct shmring r;
	uint64_t t0 = now_ns();

	cr_assert(eq(int, shmring_open(&r, name, SHMRING_CONSUMER, &o), -ETIMEDOUT));
	cr_assert(now_ns() - t0 < WATCHDOG_NS, "the wait ended");
	cr_assert(strstr(shmring_errdetail(), "appeared") != NULL, "%s", shmring_errdetail());
	cr_assert(strstr(shmring_errdetail(), "200 ms") != NULL, "%s", shmring_errdetail());
	/* Without the flag: -ENOENT, no wait. */
	o.flags = 0;
	cr_assert(eq(int, shmring_open(&r, name, SHMRING_CONSUMER, &o), -ENOENT));
	cr_assert(eq(int, shmring_open(&r, name, SHMRING_CONSUMER, NULL), -ENOENT));
	/* The same through the backoff poll. */
	o.flags = SHMRING_OPEN_F_WAIT_CREATE;
	shmring__test_no_inotify = 1;
	cr_assert(eq(int, shmring_open(&r, name, SHMRING_CONSUMER, &o), -ETIMEDOUT));
	shmring__test_no_inotify = 0;
}

Test(open_wait, bad_flags, .timeout = 30)
{
	const char *name = t_name("owait-bad");
	struct shmring_open_opts o = { .flags = 0x80 };
	struct shmring_params p;
	struct shmring r, c;

	shmring_params_init(&p, SHMRING_SPSC, 16, 8);
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_PRODUCER), 0));
	cr_assert(eq(int, shmring_open(&c, name, SHMRING_CONSUMER, &o), -EINVAL));
	cr_assert(strstr(shmring_errdetail(), "flags") != NULL, "%s", shmring_errdetail());
	cr_assert(eq(int, shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, &o), -EINVAL));
	/* The flag on a ring that exists: an ordinary open. */
	o.flags = SHMRING_OPEN_F_WAIT_CREATE;
	cr_assert(eq(int, shmring_open(&c, name, SHMRING_CONSUMER, &o), 0));
	shmring_close(&c);
	cr_assert(eq(int, shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, &o), 0));
	shmring_close(&c);
	shmring_close(&r);
	shmring_unlink(name);
}

#ifdef SHMRING_TEST_HAVE_SETS
static int got_tag(void *arg, const struct shmring_set_msg *m)
{
	*(uint64_t *)arg = m->tag;
	return 0;
}

/* A producer joins a set whose consumer starts 100 ms later. */
Test(open_wait, set_join_before_create, .timeout = 90)
{
	const char *set = t_name("owait-set");
	char sname[96], rname[128];
	struct shmring_set *s;
	uint64_t tag = 0;

	snprintf(sname, sizeof(sname), "%s", set);
	snprintf(rname, sizeof(rname), "%s-r", sname);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring_open_opts o = { .timeout_ms = 30000, .flags = SHMRING_OPEN_F_WAIT_CREATE };
		struct shmring_params p;
		struct shmring_set_link l;
		struct shmring r;
		uint64_t v = 9;
		int ret;

		shmring_params_init(&p, SHMRING_SPSC, 16, 8);
		if (shmring_create(&r, rname, &p, SHMRING_PRODUCER) < 0)
			_exit(1);
		ret = shmring_set_join_opts(&l, sname, &r, rname, 77, &o);
		if (ret < 0) {
			fprintf(stderr, "join: %s: %s\n", shmring_strerror(ret), shmring_errdetail());
			_exit(2);
		}
		if (shmring_spsc_try_push(&r, &v) < 0)
			_exit(3);
		shmring_spsc_wake(&r);
		/* Stay until the consumer has the message (it unlinks the ring). */
		for (int i = 0; i < 30000; i++) {
			char path[160];

			snprintf(path, sizeof(path), "/dev/shm%s", rname);
			if (access(path, F_OK) != 0)
				break;
			sleep_ms(1);
		}
		shmring_set_leave(&l, &r);
		_exit(shmring_close(&r) == 0 ? 0 : 4);
	}
	sleep_ms(100);
	cr_assert(eq(int, shmring_set_create(&s, sname, 0), 0), "%s", shmring_errdetail());
	for (int i = 0; i < 30000 && tag == 0; i++) {
		if (shmring_set_poll(s, 8, got_tag, &tag) == 0)
			sleep_ms(1);
	}
	cr_assert(eq(u64, tag, 77), "the joined ring's message arrived");
	shmring_unlink(rname);
	t_wait_ok(pid, "the producer that joined first");
	shmring_set_destroy(s);
}
#endif
