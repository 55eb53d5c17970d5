/* SPDX-License-Identifier: MIT */
/*
 * Stale rings: the creator died before the ring was ready, or everyone
 * died. shmring-dump reports them; shmring_unlink_stale() removes the
 * name, after which the name can be created again; a live ring is never
 * unlinked.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmring/set.h>

#include "common.h"

static pid_t dead_pid(void)
{
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	t_wait_ok(pid, "short-lived child");
	return pid;
}

/* Exit status of `shmring-dump --check name`. */
static int dump_check(const char *name)
{
	const char *dump = getenv("SHMRING_DUMP");
	pid_t pid;
	int st;

	if (!dump)
		return -1;
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(dump, dump, "--check", name, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int name_exists(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	return lstat(path, &st) == 0;
}

Test(stale, creator_died_before_ready, .timeout = 30)
{
	struct shmring r, o;
	struct shmring_params prm;
	struct shmring_open_opts opts = { .timeout_ms = 20 };
	const char *name = t_name("stale-init");

	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	/* As if the creator had died between ftruncate and `ready`. */
	r.hdr->creator_pid = dead_pid();
	__atomic_store_n((uint32_t *)(void *)&r.hdr->ready, 0, __ATOMIC_RELEASE);
	shmring_close(&r);

	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, &opts), -ETIMEDOUT);
	int rc = dump_check(name);

	if (rc >= 0)
		cr_assert_eq(rc, 4, "shmring-dump --check exit status %d, expected 4 (not ready)", rc);
	cr_assert_eq(shmring_create(&o, name, &prm, SHMRING_PRODUCER), -EEXIST);
	cr_assert_eq(shmring_unlink_stale(name), 0, "%s", shmring_errdetail());
	cr_assert(!name_exists(name));
	cr_assert_eq(shmring_create(&o, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	/* The new ring is live: its creator (this process) is alive. */
	cr_assert_eq(shmring_unlink_stale(name), -EBUSY);
	cr_assert(strstr(shmring_errdetail(), "alive"), "%s", shmring_errdetail());
	cr_assert(name_exists(name));
	shmring_close(&o);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* Creator, producer and consumer all SIGKILLed. */
Test(stale, everyone_died, .timeout = 30)
{
	struct shmring_params prm;
	const char *name = t_name("stale-all");
	char nm[96];
	int pipefd[2];
	pid_t pid[2];

	snprintf(nm, sizeof(nm), "%s", name);
	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(pipe(pipefd), 0);
	for (int i = 0; i < 2; i++) {
		pid[i] = t_fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			struct shmring r;
			uint64_t v = 7;
			int ret = i == 0 ? shmring_create(&r, nm, &prm, SHMRING_PRODUCER)
					 : shmring_open(&r, nm, SHMRING_CONSUMER, NULL);

			if (ret < 0)
				_exit(2);
			if (i == 0)
				shmring_spsc_try_push(&r, &v);
			if (write(pipefd[1], "x", 1) != 1)
				_exit(3);
			pause();
			_exit(0);
		}
		char b;

		cr_assert_eq(read(pipefd[0], &b, 1), 1, "participant %d did not attach", i);
	}
	/* Both alive: live, never unlinked. */
	cr_assert_eq(shmring_unlink_stale(nm), -EBUSY);
	cr_assert(name_exists(nm));
	/* The creator (also the producer) dies; the consumer still holds it. */
	kill(pid[0], SIGKILL);
	waitpid(pid[0], NULL, 0);
	cr_assert_eq(shmring_unlink_stale(nm), -EBUSY);
	cr_assert(strstr(shmring_errdetail(), "live pid"), "%s", shmring_errdetail());
	cr_assert(name_exists(nm));
	kill(pid[1], SIGKILL);
	waitpid(pid[1], NULL, 0);
	/* shmring-dump reports the dead endpoints (a warning: --check
	 * passes, the ring itself is consistent); it must still read it. */
	int rc = dump_check(nm);

	if (rc >= 0)
		cr_assert(rc == 0 || rc == 1, "shmring-dump --check exit status %d", rc);
	cr_assert_eq(shmring_unlink_stale(nm), 0, "%s", shmring_errdetail());
	cr_assert(!name_exists(nm));
	cr_assert_eq(shmring_unlink_stale(nm), -ENOENT);
	close(pipefd[0]);
	close(pipefd[1]);
}

Test(stale, refuses_symlink_and_garbage)
{
	char name[96], link[96], path[256], lpath[256];

	snprintf(name, sizeof(name), "%s", t_name("stale-raw")); /* t_name reuses its buffer */
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 8192), 0);
	/* Nothing written yet, and just made: maybe a creator at work. */
	cr_assert_eq(shmring_unlink_stale(name), -EBUSY);
	/* Not a shmring object: nobody can tell whose it is. */
	cr_assert_eq(pwrite(fd, "junk", 4, 0), 4);
	cr_assert_eq(shmring_unlink_stale(name), -EPROTO);
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	snprintf(link, sizeof(link), "%s", t_name("stale-link"));
	snprintf(lpath, sizeof(lpath), "/dev/shm%s", link);
	cr_assert_eq(symlink(path, lpath), 0);
	cr_assert_eq(shmring_unlink_stale(link), -ELOOP);
	cr_assert_eq(unlink(lpath), 0);
	cr_assert_eq(shmring_unlink_stale("a/b"), -EINVAL);
	close(fd);
	shm_unlink(name);
}

/* A ring set whose consumer died: its membership table and its control
 * ring are stale and removed; a live set's are not. */
Test(stale, dead_set, .timeout = 30)
{
	char set[128], tab[160], ctl[160];
	struct shmring_set *s;
	pid_t pid;

	snprintf(set, sizeof(set), "%s", t_name("sset"));
	snprintf(tab, sizeof(tab), "%s.set", set);
	snprintf(ctl, sizeof(ctl), "%s.ctl", set);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (shmring_set_create(&s, set, 0) < 0)
			_exit(1);
		raise(SIGKILL);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "the set's consumer was killed");
	cr_assert(name_exists(tab) && name_exists(ctl), "left behind");
	cr_assert_eq(shmring_unlink_stale(tab), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink_stale(ctl), 0, "%s", shmring_errdetail());
	cr_assert(!name_exists(tab) && !name_exists(ctl));
	/* The name is free again; a live set keeps its objects. */
	cr_assert_eq(shmring_set_create(&s, set, 0), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink_stale(tab), -EBUSY);
	cr_assert(strstr(shmring_errdetail(), "alive"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink_stale(ctl), -EBUSY);
	cr_assert(name_exists(tab) && name_exists(ctl));
	cr_assert_eq(shmring_set_destroy(s), 0);
	cr_assert(!name_exists(tab) && !name_exists(ctl), "destroy removes both");
}
