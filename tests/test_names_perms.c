/* SPDX-License-Identifier: MIT */
/*
 * Names and permissions: -EEXIST leaves the existing object untouched,
 * -ENOENT, the mode is exactly what was asked whatever the umask, wider
 * modes, symlinks and other users' objects are refused and never adopted.
 */
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

#define NOBODY 65534

static void shm_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
}

static unsigned file_mode(const char *name)
{
	char path[256];
	struct stat st;

	shm_path(path, sizeof(path), name);
	cr_assert_eq(lstat(path, &st), 0, "stat %s", path);
	return (unsigned)(st.st_mode & 07777);
}

static unsigned char *file_read(const char *name, size_t *len)
{
	char path[256];
	struct stat st;
	int fd;

	shm_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	cr_assert_geq(fd, 0, "open %s", path);
	cr_assert_eq(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);

	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static int create(struct shmring *r, const char *name, uint64_t cap, uint32_t mode, uint32_t role)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, cap, 8);
	p.mode = mode;
	return shmring_create(r, name, &p, role);
}

Test(names_perms, eexist_leaves_existing_untouched)
{
	struct shmring a, b, c;
	const char *name = t_name("exist");
	char keep[96];
	uint64_t v = 77;
	size_t n0, n1;

	snprintf(keep, sizeof(keep), "%s", name);
	cr_assert_eq(create(&a, keep, 8, 0, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_spsc_try_push(&a, &v), 0);
	unsigned char *before = file_read(keep, &n0);

	/* Different geometry, mode and role: none of it may reach the object. */
	cr_assert_eq(create(&b, keep, 1024, 0644, SHMRING_CONSUMER), -EEXIST);
	cr_assert(strstr(shmring_errdetail(), keep), "%s", shmring_errdetail());
	cr_assert_eq(file_mode(keep), 0600);
	unsigned char *after = file_read(keep, &n1);

	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0, "the existing object changed");
	/* It still works, with its message. */
	cr_assert_eq(shmring_open(&c, keep, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	v = 0;
	cr_assert_eq(shmring_spsc_try_pop(&c, &v), 0);
	cr_assert_eq(v, 77);
	free(before);
	free(after);
	shmring_close(&c);
	shmring_close(&a);
	cr_assert_eq(shmring_unlink(keep), 0);
}

Test(names_perms, enoent)
{
	struct shmring r;
	const char *name = t_name("missing");

	cr_assert_eq(shmring_open(&r, name, SHMRING_CONSUMER, NULL), -ENOENT);
	cr_assert_eq(shmring_open(&r, name, SHMRING_PRODUCER, NULL), -ENOENT);
	cr_assert_eq(shmring_open(&r, name, SHMRING_OBSERVER, NULL), -ENOENT);
	/* A closed and unlinked ring is gone for openers. */
	cr_assert_eq(create(&r, name, 8, 0, SHMRING_ROLE_NONE), 0);
	cr_assert_eq(shmring_unlink(name), 0);
	struct shmring o;

	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, NULL), -ENOENT);
	shmring_close(&r);
}

/* Names with and without the leading '/' are the same object. */
Test(names_perms, leading_slash_optional)
{
	struct shmring r, o;
	const char *name = t_name("slash");

	cr_assert_eq(create(&r, name + 1, 8, 0, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, NULL), 0);
	shmring_close(&o);
	shmring_close(&r);
	cr_assert_eq(shmring_unlink(name + 1), 0);
}

Test(names_perms, mode_exact_under_any_umask)
{
	static const mode_t masks[] = { 0, 077, 022, 0777 };
	static const uint32_t modes[] = { 0, 0600, 0640, 0660, 0400, 0666 };

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
			struct shmring r;
			const char *name = t_name("mode");
			mode_t old = umask(masks[i]);
			int ret = create(&r, name, 8, modes[k], SHMRING_PRODUCER);

			umask(old);
			cr_assert_eq(ret, 0, "%s", shmring_errdetail());
			unsigned want = modes[k] ? modes[k] : 0600;

			cr_assert_eq(file_mode(name), want, "umask %03o mode %03o: got %03o", masks[i],
				     modes[k], file_mode(name));
			cr_assert_eq(r.hdr->mode, want);
			shmring_close(&r);
			cr_assert_eq(shmring_unlink(name), 0);
		}
	}
}

Test(names_perms, wider_mode_refused)
{
	struct shmring r, o;
	struct shmring_open_opts opts = { 0 };
	const char *name = t_name("wide");

	cr_assert_eq(create(&r, name, 8, 0644, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, NULL), -EACCES);
	cr_assert(strstr(shmring_errdetail(), "644"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&o, name, SHMRING_OBSERVER, NULL), -EACCES);
	opts.mode = 0640;
	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, &opts), -EACCES);
	opts.mode = 0644;
	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, &opts), 0, "%s", shmring_errdetail());
	shmring_close(&o);
	/* A narrower mode than accepted is fine. */
	shmring_close(&r);
	cr_assert_eq(shmring_unlink(name), 0);
	cr_assert_eq(create(&r, name, 8, 0400, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_open(&o, name, SHMRING_OBSERVER, NULL), 0, "%s", shmring_errdetail());
	shmring_close(&o);
	shmring_close(&r);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* An object made outside the library with a loose mode is never adopted. */
Test(names_perms, foreign_object_wide_mode)
{
	struct shmring r;
	const char *name = t_name("raw");
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	cr_assert_eq(ftruncate(fd, 65536), 0);
	cr_assert_eq(shmring_open(&r, name, SHMRING_CONSUMER, NULL), -EACCES);
	close(fd);
	shm_unlink(name);
}

Test(names_perms, symlink_refused)
{
	struct shmring r, o;
	char target[96], link[96], lpath[256], tpath[256], dpath[256];
	struct stat st;

	snprintf(target, sizeof(target), "%s", t_name("target"));
	snprintf(link, sizeof(link), "%s", t_name("link"));
	shm_path(tpath, sizeof(tpath), target);
	shm_path(lpath, sizeof(lpath), link);
	cr_assert_eq(create(&r, target, 8, 0, SHMRING_PRODUCER), 0);
	cr_assert_eq(symlink(tpath, lpath), 0, "symlink");
	size_t n0, n1;
	unsigned char *before = file_read(target, &n0);

	cr_assert_eq(shmring_open(&o, link, SHMRING_CONSUMER, NULL), -ELOOP, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&o, link, SHMRING_OBSERVER, NULL), -ELOOP);
	/* Create over the link fails and writes nothing through it. */
	cr_assert_eq(create(&o, link, 1024, 0666, SHMRING_PRODUCER), -EEXIST);
	unsigned char *after = file_read(target, &n1);

	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0);
	cr_assert_eq(file_mode(target), 0600);
	cr_assert_eq(unlink(lpath), 0);
	/* A dangling link: create must not make its target. */
	snprintf(dpath, sizeof(dpath), "/dev/shm/shmring-test-dangling-%d", (int)getpid());
	cr_assert_eq(symlink(dpath, lpath), 0);
	cr_assert_eq(create(&o, link, 8, 0, SHMRING_PRODUCER), -EEXIST);
	cr_assert_neq(lstat(dpath, &st), 0, "create followed a dangling symlink");
	cr_assert_eq(unlink(lpath), 0);
	free(before);
	free(after);
	shmring_close(&r);
	cr_assert_eq(shmring_unlink(target), 0);
}

static void drop_to_nobody(void)
{
	pid_t parent = getppid();

	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(3);
	t_child_guard(parent); /* the uid change cleared the death signal */
}

/* A ring created by another user (nobody) is refused at open, and a name
 * it holds cannot be taken over by create. */
Test(names_perms, other_users_object_refused)
{
	struct shmring r;
	struct shmring_open_opts opts = { 0 };
	char name[96], path[256];
	struct stat st;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to create an object as another user");
	snprintf(name, sizeof(name), "%s", t_name("nobody"));
	shm_path(path, sizeof(path), name);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;

		drop_to_nobody();
		_exit(create(&c, name, 8, 0, SHMRING_PRODUCER) == 0 ? 0 : 4);
	}
	t_wait_ok(pid, "creator as nobody");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert_eq(st.st_uid, NOBODY);
	size_t n0, n1;
	unsigned char *before = file_read(name, &n0);

	cr_assert_eq(shmring_open(&r, name, SHMRING_CONSUMER, NULL), -EPERM);
	cr_assert(strstr(shmring_errdetail(), "uid 65534"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&r, name, SHMRING_PRODUCER, NULL), -EPERM);
	cr_assert_eq(shmring_open(&r, name, SHMRING_OBSERVER, NULL), -EPERM);
	cr_assert_eq(create(&r, name, 8, 0, SHMRING_PRODUCER), -EEXIST);
	unsigned char *after = file_read(name, &n1);

	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0, "the other user's object changed");
	/* Trusting that uid is an explicit choice. */
	opts.allow_uid = NOBODY;
	opts.allow_other_uid = 1;
	cr_assert_eq(shmring_open(&r, name, SHMRING_CONSUMER, &opts), 0, "%s", shmring_errdetail());
	shmring_close(&r);
	free(before);
	free(after);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* The other direction: nobody opening root's ring, even one it could
 * read and write (mode 0666, accepted by opts), is refused as foreign. */
Test(names_perms, other_user_opening_refused)
{
	struct shmring r;
	char name[96];
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to switch users");
	snprintf(name, sizeof(name), "%s", t_name("root"));
	cr_assert_eq(create(&r, name, 8, 0666, SHMRING_ROLE_NONE), 0);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;
		struct shmring_open_opts opts = { .mode = 0666 };

		drop_to_nobody();
		_exit(shmring_open(&c, name, SHMRING_CONSUMER, &opts) == -EPERM ? 0 : 5);
	}
	t_wait_ok(pid, "opener as nobody");
	/* A 0600 ring: the kernel already refuses nobody. */
	char name2[96];

	snprintf(name2, sizeof(name2), "%s", t_name("root"));
	struct shmring r2;

	cr_assert_eq(create(&r2, name2, 8, 0, SHMRING_ROLE_NONE), 0);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;

		drop_to_nobody();
		_exit(shmring_open(&c, name2, SHMRING_CONSUMER, NULL) == -EACCES ? 0 : 6);
	}
	t_wait_ok(pid, "opener of a 0600 ring as nobody");
	shmring_close(&r);
	shmring_close(&r2);
	cr_assert_eq(shmring_unlink(name), 0);
	cr_assert_eq(shmring_unlink(name2), 0);
}
