/* SPDX-License-Identifier: MIT */
/*
 * Every invalid argument: the exact error code, a detail, and nothing
 * created in /dev/shm.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

static int shm_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
	return lstat(path, &st) == 0;
}

/* create with these params must fail with err and leave no object. */
static void create_fails(const struct shmring_params *p, uint32_t role, int err, const char *what)
{
	struct shmring r;
	const char *name = t_name("neg");

	int ret = shmring_create(&r, name, p, role);

	cr_assert_eq(ret, err, "%s: create returned %d (%s), expected %d", what, ret,
		     shmring_errdetail(), err);
	cr_assert_neq(shmring_errdetail()[0], '\0', "%s: no detail", what);
	cr_assert_not(shm_exists(name), "%s: an object was left behind", what);
	/* The anonymous variant checks the same. */
	ret = shmring_create_anon(&r, p, role);
	cr_assert_eq(ret, err, "%s: create_anon returned %d (%s)", what, ret, shmring_errdetail());
}

static void params(struct shmring_params *p, uint64_t cap, uint32_t slot)
{
	shmring_params_init(p, SHMRING_SPSC, cap, slot);
}

Test(api_negative, capacity)
{
	struct shmring_params p;
	static const uint64_t bad[] = { 0, 3, 5, 6, 7, 12, 1000, (1ull << 40) + 1, 1ull << 41,
					1ull << 63, UINT64_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "capacity %llu", (unsigned long long)bad[i]);
		params(&p, bad[i], 8);
		create_fails(&p, SHMRING_PRODUCER, -EINVAL, what);
	}
	/* capacity x slot overflows the largest data area (2^40 x 2^20). */
	params(&p, 1ull << 40, 1u << 20);
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "capacity x slot overflow");
	params(&p, 1ull << 30, 1u << 20);
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "capacity x slot too large");
}

Test(api_negative, slot_size)
{
	struct shmring_params p;

	params(&p, 8, 0);
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "slot 0");
	params(&p, 8, SHMRING_SLOT_MAX + 1);
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "slot above SHMRING_SLOT_MAX");
	params(&p, 8, UINT32_MAX);
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "slot UINT32_MAX");
}

Test(api_negative, type_flags_mode_role)
{
	struct shmring_params p;

	params(&p, 8, 8);
	p.type = 0;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "type 0");
	p.type = 99;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "type 99");
	params(&p, 8, 8);
	p.flags = SHMRING_F_MEMFD; /* set by the library only */
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "flag MEMFD");
	p.flags = 0x80;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "unknown flag");
	p.flags = 0x80000000u | SHMRING_F_COUNTERS;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "unknown flag with a known one");
	params(&p, 8, 8);
	p.mode = 01600;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "sticky mode");
	p.mode = 04600;
	create_fails(&p, SHMRING_PRODUCER, -EINVAL, "setuid mode");
	params(&p, 8, 8);
	create_fails(&p, SHMRING_OBSERVER, -EINVAL, "create as observer");
	create_fails(&p, 4, -EINVAL, "role 4");
	create_fails(&p, UINT32_MAX, -EINVAL, "role UINT32_MAX");
	create_fails(NULL, SHMRING_PRODUCER, -EINVAL, "params NULL");
}

Test(api_negative, null_handle)
{
	struct shmring_params p;
	struct shmring r;

	params(&p, 8, 8);
	const char *name = t_name("neg");

	cr_assert_eq(shmring_create(NULL, name, &p, SHMRING_PRODUCER), -EINVAL);
	cr_assert_not(shm_exists(name));
	cr_assert_eq(shmring_create_anon(NULL, &p, SHMRING_PRODUCER), -EINVAL);
	cr_assert_eq(shmring_open(NULL, name, SHMRING_CONSUMER, NULL), -EINVAL);
	cr_assert_eq(shmring_open_fd(NULL, 0, SHMRING_CONSUMER, NULL), -EINVAL);
	cr_assert_eq(shmring_dup(NULL, NULL, SHMRING_CONSUMER), -EINVAL);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(shmring_dup(&r, &r, SHMRING_CONSUMER), -EINVAL, "dup of a closed handle");
	cr_assert_eq(shmring_close(NULL), -EINVAL);
	cr_assert_eq(shmring_close(&r), -EINVAL);
	cr_assert_eq(shmring_fd(NULL), -EINVAL);
	cr_assert_eq(shmring_fd(&r), -EINVAL);
}

Test(api_negative, names)
{
	struct shmring_params p;
	struct shmring r;
	char longname[SHMRING_NAME_MAX + 2];

	params(&p, 8, 8);
	/* SHMRING_NAME_MAX counts the leading '/': this is one byte over. */
	longname[0] = '/';
	memset(longname + 1, 'x', SHMRING_NAME_MAX);
	longname[SHMRING_NAME_MAX + 1] = '\0';
	const char *bad[] = { "", "/", "//", "/a/b", "a/b", "/a/", "/.", "/..", ".", "..", longname };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(shmring_create(&r, bad[i], &p, SHMRING_PRODUCER), -EINVAL, "create '%s'",
			     bad[i]);
		cr_assert_neq(shmring_errdetail()[0], '\0');
		cr_assert_eq(shmring_open(&r, bad[i], SHMRING_CONSUMER, NULL), -EINVAL, "open '%s'",
			     bad[i]);
		cr_assert_eq(shmring_unlink(bad[i]), -EINVAL, "unlink '%s'", bad[i]);
	}
	cr_assert_not(shm_exists("a"));
	cr_assert_not(shm_exists(longname));
	cr_assert_eq(shmring_create(&r, NULL, &p, SHMRING_PRODUCER), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "NULL"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&r, NULL, SHMRING_CONSUMER, NULL), -EINVAL);
	cr_assert_eq(shmring_unlink(NULL), -EINVAL);

	/* The longest allowed name works, with or without the leading '/'. */
	longname[SHMRING_NAME_MAX] = '\0';
	cr_assert_eq(shmring_create(&r, longname, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_unlink(longname + 1), 0);
}

Test(api_negative, open_and_unlink_missing)
{
	struct shmring r;
	const char *name = t_name("neg-missing");

	cr_assert_eq(shmring_open(&r, name, SHMRING_CONSUMER, NULL), -ENOENT);
	cr_assert_eq(shmring_open(&r, name, SHMRING_OBSERVER, NULL), -ENOENT);
	cr_assert_eq(shmring_unlink(name), -ENOENT);
	cr_assert_not(shm_exists(name));
}

Test(api_negative, open_bad_role)
{
	struct shmring_params p;
	struct shmring r, o;
	const char *name = t_name("neg-role");

	params(&p, 8, 8);
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&o, name, 4, NULL), -EINVAL);
	cr_assert_eq(shmring_open(&o, name, UINT32_MAX, NULL), -EINVAL);
	cr_assert_eq(shmring_open_fd(&o, shmring_fd(&r), 7, NULL), -EINVAL);
	cr_assert_eq(shmring_dup(&o, &r, 5), -EINVAL);
	/* The endpoint table is untouched by the failed calls. */
	struct shmring_endpoint *eps =
		(struct shmring_endpoint *)(void *)((unsigned char *)r.map + SHMRING_EP_OFF);

	cr_assert_eq(shmring_atomic_load(&eps[0].state, SHMRING_RELAXED), SHMRING_EP_FREE);
	cr_assert_eq(shmring_atomic_load(&eps[1].state, SHMRING_RELAXED), SHMRING_EP_FREE);
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(api_negative, open_fd_not_a_ring)
{
	struct shmring r;
	struct shmring_open_opts o = { .timeout_ms = 50 };
	int fds[2];

	cr_assert_eq(shmring_open_fd(&r, -1, SHMRING_CONSUMER, NULL), -EBADF);
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(shmring_open_fd(&r, fds[0], SHMRING_CONSUMER, NULL), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "regular"), "%s", shmring_errdetail());
	close(fds[0]);
	close(fds[1]);
	/* An empty memfd: a creator that never sized it. */
	int fd = memfd_create("t", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	fchmod(fd, 0600);
	cr_assert_eq(shmring_open_fd(&r, fd, SHMRING_CONSUMER, &o), -ETIMEDOUT);
	/* A page of zeros: sized, never marked ready. */
	cr_assert_eq(ftruncate(fd, 16384), 0);
	cr_assert_eq(shmring_open_fd(&r, fd, SHMRING_CONSUMER, &o), -ETIMEDOUT);
	close(fd);
}

Test(api_negative, strerror_covers_codes)
{
	static const int codes[] = { 0, EAGAIN, EPROTO, EEXIST, ENOENT, ETIMEDOUT, EBUSY, EMSGSIZE,
				     ELOOP, EPERM, EACCES, ENOSPC, EINVAL, ENOTSUP, ENOMEM, 12345 };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = shmring_strerror(-codes[i]);

		cr_assert(s && s[0], "no text for %d", codes[i]);
		cr_assert_str_eq(s, shmring_strerror(codes[i]));
	}
	cr_assert_str_neq(shmring_strerror(-EPROTO), shmring_strerror(-EINVAL));
}
