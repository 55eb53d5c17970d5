/* SPDX-License-Identifier: MIT */
/*
 * Opening a ring: shmring_open and shmring_open_fd. A header is input from
 * another process: open copies it once, validates the copy against the
 * object's real size by recomputing the whole geometry from the few fields
 * that define it (shmring__derive, region.c), and then uses only the copy;
 * nothing is read from the mapping's header afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Check the private copy field by field against a recomputed geometry. */
static int validate(const struct shmring_hdr *c, uint64_t st_size, uint32_t st_uid,
		    const struct shmring_open_opts *o)
{
	struct shmring_hdr d;
	uint32_t type;
	int ret;

#define EXPECT(field, want)                                                                        \
	do {                                                                                       \
		if ((uint64_t)c->field != (uint64_t)(want))                                        \
			return shmring__fail(-EPROTO, "header field " #field " is %llu, expected %llu", \
					     (unsigned long long)c->field,                         \
					     (unsigned long long)(want));                          \
	} while (0)

	if (c->magic != SHMRING_MAGIC)
		return shmring__fail(-EPROTO, "header field magic is 0x%016llx, expected 0x%016llx",
				     (unsigned long long)c->magic, SHMRING_MAGIC);
	EXPECT(abi_version, SHMRING_ABI_VERSION);
	EXPECT(hdr_size, sizeof(struct shmring_hdr));
	type = shmring__type_of(c->kind, c->prod_mode, c->cons_mode);
	if (!type)
		return shmring__fail(-EPROTO, "header fields kind/prod_mode/cons_mode are %u/%u/%u: no such ring type",
				     c->kind, c->prod_mode, c->cons_mode);
	if (c->flags & ~(uint32_t)(SHMRING_F_ALL | SHMRING_F_LOSSY))
		return shmring__fail(-EPROTO, "header field flags is 0x%x, unknown bits 0x%x", c->flags,
				     c->flags & ~(uint32_t)(SHMRING_F_ALL | SHMRING_F_LOSSY));
	if ((c->flags & SHMRING_F_SOLO) && (c->flags & SHMRING_F_NO_SOLO))
		return shmring__fail(-EPROTO, "header field flags is 0x%x: SHMRING_F_SOLO and SHMRING_F_NO_SOLO",
				     c->flags);
	if (c->flags & ~shmring__kind_ops(type)->flags)
		return shmring__fail(-EPROTO, "header field flags is 0x%x: 0x%x do not apply to %s rings",
				     c->flags, c->flags & ~shmring__kind_ops(type)->flags,
				     shmring__kind_ops(type)->name);
	if (c->mode & ~0777u)
		return shmring__fail(-EPROTO, "header field mode is %o, outside 0777", c->mode);
	memset(&d, 0, sizeof(d));
	ret = shmring__derive(&d, type, c->slot_size, c->capacity, c->ep_count, c->page_size);
	if (ret < 0) {
		char why[256];

		if (ret == -ENOTSUP)
			return ret;
		/* Copy first: the detail is the buffer shmring__fail writes. */
		snprintf(why, sizeof(why), "%s", shmring_errdetail());
		return shmring__fail(-EPROTO, "header field %s", why);
	}
	/* Derived fields: the detail also gives what they were derived from. */
#define EXPECT_DERIVED(field)                                                                      \
	do {                                                                                       \
		if (c->field != d.field)                                                           \
			return shmring__fail(-EPROTO,                                              \
					     "header field " #field " is %llu, expected %llu for "  \
					     "slot_size %u, capacity %llu, ep_count %u, page_size %llu", \
					     (unsigned long long)c->field, (unsigned long long)d.field, \
					     c->slot_size, (unsigned long long)c->capacity,        \
					     c->ep_count, (unsigned long long)c->page_size);       \
	} while (0)
	EXPECT_DERIVED(slot_stride);
	EXPECT_DERIVED(ctrl_off);
	EXPECT_DERIVED(ep_off);
	EXPECT_DERIVED(data_off);
	EXPECT_DERIVED(data_size);
	EXPECT_DERIVED(total_size);
#undef EXPECT_DERIVED
	/* A ring with single producer and consumer has exactly their two entries. */
	if (c->prod_mode == SHMRING_MODE_SINGLE && c->cons_mode == SHMRING_MODE_SINGLE)
		EXPECT(ep_count, 2);
	EXPECT(creator_uid, st_uid);
	for (size_t i = 0; i < sizeof(c->reserved0); i++)
		if (c->reserved0[i])
			return shmring__fail(-EPROTO, "header field reserved0[%zu] is 0x%02x, expected 0",
					     i, c->reserved0[i]);
	for (size_t i = 0; i < sizeof(c->reserved1); i++)
		if (c->reserved1[i])
			return shmring__fail(-EPROTO, "header field reserved1[%zu] is 0x%02x, expected 0",
					     i, c->reserved1[i]);
	if (c->total_size != st_size)
		return shmring__fail(-EPROTO, "header field total_size is %llu, the object is %llu bytes",
				     (unsigned long long)c->total_size, (unsigned long long)st_size);
	/* Last: every field before it passed its own check, so a mismatch
	 * is a change that leaves a valid-looking value. */
	if (c->hdr_check != shmring_hdr_check(c))
		return shmring__fail(-EPROTO, "header field hdr_check is 0x%016llx, expected 0x%016llx: "
				     "a field before it changed after the ring was created",
				     (unsigned long long)c->hdr_check,
				     (unsigned long long)shmring_hdr_check(c));
	if (o && o->type && o->type != type)
		return shmring__fail(-EPROTO, "ring type is %u, expected %u", type, o->type);
	if (o && o->slot_size && o->slot_size != c->slot_size)
		return shmring__fail(-EPROTO, "header field slot_size is %u, expected %u", c->slot_size,
				     o->slot_size);
#undef EXPECT
	return 0;
}

static uint32_t opts_timeout_ms(const struct shmring_open_opts *o)
{
	return o && o->timeout_ms ? o->timeout_ms : SHMRING_DEFAULT_OPEN_TIMEOUT_MS;
}

static int check_opts(const struct shmring_open_opts *o)
{
	if (o && (o->flags & ~(uint32_t)SHMRING_OPEN_F_ALL))
		return shmring__fail(-EINVAL, "open flags 0x%x hold unknown bits 0x%x", o->flags,
				     o->flags & ~(uint32_t)SHMRING_OPEN_F_ALL);
	return 0;
}

/* Validate and attach the object on fd; wait for `ready` until deadline
 * (CLOCK_MONOTONIC ns), which the caller set timeout_ms after its start. */
static int open_common(struct shmring *r, int fd, uint32_t role, const struct shmring_open_opts *o,
		       uint64_t deadline)
{
	uint32_t accept_mode = o && o->mode ? o->mode : SHMRING_DEFAULT_MODE;
	uint32_t timeout_ms = opts_timeout_ms(o);
	struct shmring_hdr copy;
	struct stat st;
	void *hp = MAP_FAILED, *map;
	size_t hlen = SHMRING_HDR_SIZE;
	int ret;

	for (;;) {
		if (fstat(fd, &st) < 0)
			return shmring__fail(-errno, "fstat: %s", strerror(errno));
		if (!S_ISREG(st.st_mode))
			return shmring__fail(-EPROTO, "not a regular file (mode %o)", st.st_mode);
		if (st.st_uid != geteuid() && !(o && o->allow_other_uid && st.st_uid == o->allow_uid))
			return shmring__fail(-EPERM, "owned by uid %u, not by uid %u",
					     (unsigned)st.st_uid, (unsigned)geteuid());
		if ((st.st_mode & 07777) & ~accept_mode)
			return shmring__fail(-EACCES, "mode %o is wider than the accepted %o",
					     (unsigned)(st.st_mode & 07777), accept_mode);
		if (st.st_size > 0 && (uint64_t)st.st_size < SHMRING_HDR_SIZE)
			return shmring__fail(-EPROTO, "object is %lld bytes, smaller than the %u-byte header",
					     (long long)st.st_size, SHMRING_HDR_SIZE);
		if (st.st_size > 0) {
			if (hp == MAP_FAILED) {
				/* hugetlbfs maps (and unmaps) whole huge pages */
				if (st.st_blksize > (blksize_t)hlen && st.st_blksize <= (1 << 30))
					hlen = (size_t)st.st_blksize;
				hp = mmap(NULL, hlen, PROT_READ, MAP_SHARED, fd, 0);
				if (hp == MAP_FAILED)
					return shmring__fail(-errno, "mmap header: %s", strerror(errno));
			}
			/* Acquire: pairs with the creator's release store of ready. */
			if (shmring_atomic_load(&((struct shmring_hdr *)hp)->ready, SHMRING_ACQUIRE) ==
			    SHMRING_READY)
				break;
		}
		if (shmring__now_ns(CLOCK_MONOTONIC) > deadline) {
			uint32_t ready = 0;

			if (hp != MAP_FAILED) {
				ready = shmring_atomic_load(&((struct shmring_hdr *)hp)->ready, SHMRING_RELAXED);
				munmap(hp, hlen);
			}
			return shmring__fail(-ETIMEDOUT,
					     "the creator did not finish within %u ms (object %lld bytes, header field ready 0x%x)",
					     timeout_ms, (long long)st.st_size, ready);
		}
		usleep(1000);
	}
	/* One read of the shared header; only the copy is used from here on. */
	memcpy(&copy, hp, sizeof(copy));
	munmap(hp, hlen);
	ret = validate(&copy, (uint64_t)st.st_size, (uint32_t)st.st_uid, o);
	if (ret < 0)
		return ret;
	map = mmap(NULL, copy.total_size,
		   role == SHMRING_OBSERVER ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return shmring__fail(-errno, "mmap of %llu bytes: %s",
				     (unsigned long long)copy.total_size, strerror(errno));
	/* Prefault / mlock as the creator asked; best effort (place.c). */
	if (role != SHMRING_OBSERVER)
		shmring__place_map(map, copy.total_size, copy.place_flags, false, true);
	return shmring__attach_new(r, &copy, fd, map, role != SHMRING_OBSERVER, role, timeout_ms);
}

int shmring_open(struct shmring *r, const char *name, uint32_t role,
		 const struct shmring_open_opts *opts)
{
	char path[SHMRING_NAME_MAX + 2];
	uint64_t deadline = shmring__now_ns(CLOCK_MONOTONIC) + (uint64_t)opts_timeout_ms(opts) * 1000000ull;
	int fd, ret;
	int oflag = (role == SHMRING_OBSERVER ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW;

	shmring__clear_detail();
	if (!r)
		return shmring__fail(-EINVAL, "handle is NULL");
	if ((ret = shmring__check_name(name, path)) < 0 || (ret = shmring__check_role(role, true)) < 0 ||
	    (ret = check_opts(opts)) < 0)
		return ret;
	fd = shm_open(path, oflag, 0);
	if (fd < 0 && errno == ENOENT && opts && (opts->flags & SHMRING_OPEN_F_WAIT_CREATE)) {
		/* Not created yet: the name appears once the ring is ready. */
		fd = shmring__shm_open_wait(path, oflag, deadline, opts_timeout_ms(opts));
		if (fd < 0)
			return fd;
	}
	if (fd < 0)
		return shmring__fail(-errno, "shm_open('%s'): %s", path, strerror(errno));
	ret = open_common(r, fd, role, opts, deadline);
	if (ret < 0)
		close(fd);
	return ret;
}

int shmring_open_fd(struct shmring *r, int fd, uint32_t role, const struct shmring_open_opts *opts)
{
	int ret, nfd;

	shmring__clear_detail();
	if (!r)
		return shmring__fail(-EINVAL, "handle is NULL");
	if ((ret = shmring__check_role(role, true)) < 0 || (ret = check_opts(opts)) < 0)
		return ret;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0)
		return shmring__fail(-errno, "dup of fd %d: %s", fd, strerror(errno));
	ret = open_common(r, nfd, role, opts,
			  shmring__now_ns(CLOCK_MONOTONIC) + (uint64_t)opts_timeout_ms(opts) * 1000000ull);
	if (ret < 0)
		close(nfd);
	return ret;
}
