/* SPDX-License-Identifier: MIT */
/*
 * Removing the name of a stale ring, and never that of a live one.
 *
 * A ring is stale when its creator died before it set `ready`, or when its
 * creator and every process in its endpoint table are dead (pid gone or
 * reused: start times are compared), or when nothing was ever written in
 * it (size 0, or a zero header page) and it has not changed for a while. Checking and then unlinking by name
 * would race with a process that recreates the name in between (it would
 * lose its new, live ring), so the name is first moved aside atomically
 * (renameat2 RENAME_NOREPLACE) to a private name, the moved object is
 * checked to be the very inode that was judged stale and judged again,
 * and only then unlinked. Whatever fails a check goes back to its name.
 * A ring set's membership table is judged by its consumer's liveness and
 * by its control ring's: while producers are linked, a new consumer takes
 * the set over from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

#define SHM_DIR "/dev/shm"

static int judge(int fd, const struct stat *st, const char *path);

/*
 * The control ring "<x>.ctl" of the set whose table is "<x>.set" (path
 * in SHM_DIR): 1 if it has live endpoints (producers still linked), else
 * 0 (none, not a ring, or stale).
 */
static int set_ctl_live(const char *path)
{
	char ctl[sizeof(SHM_DIR) + SHMRING_NAME_MAX + 2];
	size_t n = strlen(path);
	struct stat st;
	int fd, live;

	if (n < 4 || strcmp(path + n - 4, ".set") != 0 || n >= sizeof(ctl))
		return 0;
	memcpy(ctl, path, n - 4);
	memcpy(ctl + n - 4, ".ctl", 5);
	fd = open(ctl, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	live = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && judge(fd, &st, ctl) == 0;
	close(fd);
	return live;
}

/*
 * A ring set's membership table ("<set>.set", layout.h) has one writer,
 * the set's consumer process: stale once that process is dead, whether or
 * not it finished creating the table, unless producers are still linked
 * to the set's control ring: a new consumer learns the members from the
 * table when it takes the set over (set.h), so it stays.
 */
static int judge_set(int fd, const char *path)
{
	struct shmring_set_hdr sh;

	if (pread(fd, &sh, sizeof(sh), 0) != (ssize_t)sizeof(sh))
		return shmring__fail(-EIO, "cannot read the set table's header");
	if (sh.consumer_pid <= 0)
		return shmring__fail(-EPROTO, "the set table names no consumer (pid %d)", (int)sh.consumer_pid);
	if (shmring__pid_alive(sh.consumer_pid, sh.consumer_start))
		return shmring__fail(0, "the set's consumer, pid %d, is alive", (int)sh.consumer_pid);
	if (set_ctl_live(path))
		return shmring__fail(0, "the set's consumer, pid %d, is dead, but producers are linked to "
				     "its control ring: a new consumer takes the set over (shmring_set_create)",
				     (int)sh.consumer_pid);
	return 1;
}

/*
 * An object with nothing written: empty (size 0) or a header page of
 * zeroes. No creator of this library leaves one under a name (create
 * links a ring to its name only once it is complete), but a creator that
 * makes the object under its name first (another program, an older
 * version) and is killed before it writes the header does. Nothing in it
 * names a creator, so it is judged by age: stale once nothing has
 * changed its size or contents through a system call (st_mtime: the
 * ftruncate and pre-allocation that precede the header) for
 * UNWRITTEN_STALE_S, far longer than such a creator takes to write its
 * header after sizing the object. 1 stale, 0 maybe a creator at work.
 */
#define UNWRITTEN_STALE_S 10

static int judge_unwritten(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec - st->st_mtim.tv_sec >= UNWRITTEN_STALE_S)
		return 1;
	return shmring__fail(0, "nothing is written in it yet, and it changed %llds ago: "
			     "a creator may be at work (stale after %ds)",
			     (long long)(now.tv_sec - st->st_mtim.tv_sec), UNWRITTEN_STALE_S);
}

static bool page_zero(int fd)
{
	unsigned char page[SHMRING_HDR_SIZE];

	if (pread(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
		return false;
	for (size_t i = 0; i < sizeof(page); i++)
		if (page[i])
			return false;
	return true;
}

/* 1: stale, 0: live (detail says who), < 0: cannot judge. */
static int judge(int fd, const struct stat *st, const char *path)
{
	struct shmring_hdr h;
	void *map;
	size_t len;
	int ret;

	if (st->st_size == 0)
		return judge_unwritten(st);
	if ((uint64_t)st->st_size < SHMRING_HDR_SIZE)
		return shmring__fail(-EPROTO, "object is %lld bytes: no header to tell its creator by",
				     (long long)st->st_size);
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return shmring__fail(-EIO, "cannot read the header");
	if (h.magic == SHMRING_SET_MAGIC)
		return judge_set(fd, path);
	if (h.magic == 0 && page_zero(fd))
		return judge_unwritten(st);
	if (h.magic != SHMRING_MAGIC)
		return shmring__fail(-EPROTO, "not a shmring object (magic 0x%016llx)",
				     (unsigned long long)h.magic);
	if (shmring__pid_alive(h.creator_pid, h.creator_start))
		return shmring__fail(0, "its creator, pid %d, is alive", (int)h.creator_pid);
	/* A private copy, and the creator is dead: no ordering needed. */
	if (shmring_atomic_load(&h.ready, SHMRING_RELAXED) != SHMRING_READY)
		return 1; /* the creator died while initialising */
	if (h.ep_count < 2 || h.ep_count > SHMRING_EP_MAX ||
	    SHMRING_EP_OFF + (uint64_t)h.ep_count * SHMRING_EP_SIZE > (uint64_t)st->st_size)
		return shmring__fail(-EPROTO, "header field ep_count is %u: cannot read the endpoints",
				     h.ep_count);
	len = SHMRING_EP_OFF + (size_t)h.ep_count * SHMRING_EP_SIZE;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return shmring__fail(-errno, "mmap: %s", strerror(errno));
	const struct shmring_endpoint *eps =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)map + SHMRING_EP_OFF);

	ret = 1;
	for (uint32_t i = 0; i < h.ep_count; i++) {
		/* Acquire: pairs with the release store of state in ep_fill;
		 * a BUSY entry is judged by whatever pid it holds. */
		uint32_t s = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);
		int32_t pid = shmring_atomic_load(&eps[i].pid, SHMRING_RELAXED);

		if (s == SHMRING_EP_FREE)
			continue;
		if (SHMRING_EP_STATE(s) == SHMRING_EP_BUSY && !shmring__ep_busy_dead(s)) {
			ret = shmring__fail(0, "endpoint %u is being taken by live pid %d", i,
					    (int)SHMRING_EP_BUSY_PID(s));
			break;
		}
		if (shmring__ep_alive(&eps[i])) {
			ret = shmring__fail(0, "endpoint %u belongs to live pid %d", i, (int)pid);
			break;
		}
	}
	munmap(map, len);
	return ret;
}

int shmring_unlink_stale(const char *name)
{
	char path[sizeof(SHM_DIR) + SHMRING_NAME_MAX + 2], aside[sizeof(SHM_DIR) + 64];
	struct stat st, st2;
	int fd, ret;

	shmring__clear_detail();
	if (!name)
		return shmring__fail(-EINVAL, "name is NULL");
	const char *base = name[0] == '/' ? name + 1 : name;

	if (!*base || strlen(base) + 1 > SHMRING_NAME_MAX || strchr(base, '/') || !strcmp(base, ".") ||
	    !strcmp(base, ".."))
		return shmring__fail(-EINVAL, "name '%s' is not a valid ring name", name);
	snprintf(path, sizeof(path), SHM_DIR "/%s", base);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return shmring__fail(-errno, "open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = shmring__fail(-errno, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = shmring__fail(-EPROTO, "not a regular file");
		goto out;
	}
	if (st.st_uid != geteuid()) {
		ret = shmring__fail(-EPERM, "owned by uid %u, not by uid %u", (unsigned)st.st_uid,
				    (unsigned)geteuid());
		goto out;
	}
	ret = judge(fd, &st, path);
	if (ret <= 0) {
		if (ret == 0)
			ret = -EBUSY;
		goto out;
	}
	/* Move the name aside: from here nobody can open the object by name,
	 * and a new object under the name is not touched. */
	snprintf(aside, sizeof(aside), SHM_DIR "/.shmring-stale-%d-%llx", (int)getpid(),
		 (unsigned long long)shmring__now_ns(CLOCK_MONOTONIC));
	if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) < 0) {
		ret = shmring__fail(errno == ENOENT ? -EAGAIN : -errno, "rename aside: %s", strerror(errno));
		goto out;
	}
	/* The object moved must be the one judged, and still stale (an
	 * opener may have attached between the judgement and the move, a
	 * creator written to it: its size and times are read again). */
	int moved_same = lstat(aside, &st2) == 0 && st2.st_dev == st.st_dev && st2.st_ino == st.st_ino;

	if (moved_same && fstat(fd, &st2) == 0 && judge(fd, &st2, path) == 1) {
		if (unlink(aside) < 0) {
			ret = shmring__fail(-errno, "unlink '%s': %s", aside, strerror(errno));
			goto out;
		}
		ret = 0;
		goto out;
	}
	if (renameat2(AT_FDCWD, aside, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
		ret = shmring__fail(-EAGAIN, "the name changed while it was checked; the object is left at '%s'",
				    aside);
	else
		ret = shmring__fail(moved_same ? -EBUSY : -EAGAIN,
				    moved_same ? "the ring became live while it was checked"
					       : "the name changed while it was checked; nothing removed");
out:
	close(fd);
	return ret;
}
