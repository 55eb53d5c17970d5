/* SPDX-License-Identifier: MIT */
/*
 * Anonymous rings: shmring_create_anon, a fork()ed child attached with
 * shmring_dup or shmring_open_fd, sealed size, shared mappings between the
 * handles of one process.
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

#define N 20000

static void anon(struct shmring *r, uint64_t cap, uint32_t role)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, cap, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(r, &p, role), 0, "%s", shmring_errdetail());
}

static void produce(struct shmring *p, uint64_t id, uint64_t n)
{
	struct t_msg m;

	for (uint64_t i = 0; i < n; i++) {
		t_msg_make(&m, id, i);
		while (shmring_spsc_try_push(p, &m) == -EAGAIN)
			sched_yield();
	}
}

/* In a child: consume n messages from `id`, exit non-zero on any error. */
static int consume(struct shmring *c, uint64_t id, uint64_t n)
{
	struct t_msg m;

	for (uint64_t i = 0; i < n; i++) {
		int ret;

		while ((ret = shmring_spsc_try_pop(c, &m)) == -EAGAIN)
			sched_yield();
		if (ret < 0 || !t_msg_ok(&m) || m.producer != id || m.seq != i)
			return 1;
	}
	return 0;
}

static void run_child_consumer(int use_open_fd)
{
	struct shmring p;
	pid_t pid;

	anon(&p, 64, SHMRING_PRODUCER);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;
		int ret = use_open_fd ? shmring_open_fd(&c, shmring_fd(&p), SHMRING_CONSUMER, NULL)
				      : shmring_dup(&c, &p, SHMRING_CONSUMER);

		if (ret < 0)
			_exit(10);
		/* The inherited producer handle only unmaps in the child. */
		shmring_close(&p);
		ret = consume(&c, 3, N);
		shmring_close(&c);
		_exit(ret);
	}
	produce(&p, 3, N);
	t_wait_ok(pid, "consumer child");
	/* The child's close left our producer entry registered. */
	struct shmring x;

	cr_assert_eq(shmring_dup(&x, &p, SHMRING_PRODUCER), -EBUSY);
	cr_assert_eq(shmring_close(&p), 0);
}

Test(anon, fork_child_dup, .timeout = 60)
{
	run_child_consumer(0);
}

Test(anon, fork_child_open_fd, .timeout = 60)
{
	run_child_consumer(1);
}

Test(anon, no_name_and_sealed)
{
	struct shmring p;
	char link[64], target[PATH_MAX];
	ssize_t n;

	anon(&p, 64, SHMRING_PRODUCER);
	cr_assert(p.hdr->flags & SHMRING_F_MEMFD);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", shmring_fd(&p));
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = '\0';
	cr_assert(strncmp(target, "/memfd:", 7) == 0, "fd is %s", target);
	/* Nobody can shrink it (SIGBUS for every user) or grow it. */
	cr_assert_eq(ftruncate(shmring_fd(&p), 0), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(ftruncate(shmring_fd(&p), (off_t)p.map_size * 2), -1);
	cr_assert_eq(errno, EPERM);
	struct stat st;

	cr_assert_eq(fstat(shmring_fd(&p), &st), 0);
	cr_assert_eq((uint64_t)st.st_size, p.map_size);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(shmring_close(&p), 0);
}

/* Handles of one process share one mapping; each closes on its own. */
Test(anon, dup_shares_mapping)
{
	struct shmring p, c, o;
	struct t_msg m;

	anon(&p, 8, SHMRING_PRODUCER);
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(c.map, p.map);
	cr_assert_eq(c.fd, p.fd);
	/* An observer gets its own read-only mapping. */
	cr_assert_eq(shmring_dup(&o, &p, SHMRING_OBSERVER), 0, "%s", shmring_errdetail());
	cr_assert_neq(o.map, p.map);
	/* Closing the creator's handle leaves the others working. */
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_dup(&p, &c, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	t_msg_make(&m, 9, 0);
	cr_assert_eq(shmring_spsc_try_push(&p, &m), 0);
	cr_assert_eq(shmring_spsc_count(&o), 1);
	memset(&m, 0, sizeof(m));
	cr_assert_eq(shmring_spsc_try_pop(&c, &m), 0);
	cr_assert(t_msg_ok(&m));
	cr_assert_eq(m.producer, 9);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&o), 0);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_close(&p), -EINVAL, "second close");
}

/* An observer of an observer shares its read-only mapping; a producer
 * cannot be made from a read-only descriptor. */
Test(anon, observer_dup)
{
	struct shmring p, o, o2, x;
	char name[96];
	struct shmring_params prm;

	snprintf(name, sizeof(name), "%s", t_name("obs"));
	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_open(&o, name, SHMRING_OBSERVER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&o2, &o, SHMRING_OBSERVER), 0, "%s", shmring_errdetail());
	cr_assert_eq(o2.map, o.map);
	cr_assert_eq(shmring_dup(&x, &o, SHMRING_CONSUMER), -EACCES, "%s", shmring_errdetail());
	shmring_close(&o2);
	shmring_close(&o);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}
