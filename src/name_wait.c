/* SPDX-License-Identifier: MIT */
/*
 * Open-or-wait (SHMRING_OPEN_F_WAIT_CREATE): wait for a ring's name to
 * appear in /dev/shm instead of failing at once with -ENOENT.
 *
 * A named ring appears complete: create builds it unnamed (O_TMPFILE)
 * and links it to its name last (region.c), which the directory reports
 * to inotify as IN_CREATE. So the waiter sleeps in poll(2) on an inotify
 * descriptor watching /dev/shm and tries shm_open again after every event
 * (and at least once a second, should an event be missed); without
 * inotify (no descriptor left, a watch limit, a kernel without it) it
 * polls with a backoff from 1 ms to 50 ms. It never spins. The watch is
 * set up before the first look, so a name linked between that look and
 * the sleep still wakes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RECHECK_MS 1000 /* longest sleep between looks with inotify */
#define BACKOFF_MIN_US 1000u
#define BACKOFF_MAX_US 50000u

int shmring__test_no_inotify;

static int watch_open(void)
{
	if (shmring__test_no_inotify)
		return -1;
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (in < 0)
		return -1;
	if (inotify_add_watch(in, SHMRING_SHM_DIR, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		close(in);
		return -1;
	}
	return in;
}

/* Sleep until the directory changed or ms passed; read what queued. */
static void watch_sleep(int in, int ms)
{
	struct pollfd p = { .fd = in, .events = POLLIN };
	_Alignas(struct inotify_event) char buf[4096];

	if (poll(&p, 1, ms) > 0)
		while (read(in, buf, sizeof(buf)) > 0)
			;
}

static void backoff_sleep(uint32_t *us, uint64_t left_ns)
{
	uint64_t ns = (uint64_t)*us * 1000u;
	struct timespec ts;

	if (ns > left_ns)
		ns = left_ns;
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	nanosleep(&ts, NULL);
	*us = *us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : *us * 2;
}

int shmring__shm_open_wait(const char *path, int oflag, uint64_t deadline_ns, uint32_t timeout_ms)
{
	int in = watch_open(), fd, err;
	uint32_t backoff = BACKOFF_MIN_US;

	for (;;) {
		fd = shm_open(path, oflag, 0);
		if (fd >= 0 || errno != ENOENT)
			break;
		uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);

		if (now >= deadline_ns) {
			if (in >= 0)
				close(in);
			return shmring__fail(-ETIMEDOUT, "no ring named '%s' appeared within %u ms "
					     "(SHMRING_OPEN_F_WAIT_CREATE)", path, timeout_ms);
		}
		uint64_t left = deadline_ns - now;

		if (in >= 0) {
			uint64_t ms = (left + 999999u) / 1000000u;

			watch_sleep(in, ms > RECHECK_MS ? RECHECK_MS : (int)ms);
		} else {
			backoff_sleep(&backoff, left);
		}
	}
	err = errno;
	if (in >= 0)
		close(in);
	if (fd < 0)
		return shmring__fail(-err, "shm_open('%s'): %s", path, strerror(err));
	return fd;
}
