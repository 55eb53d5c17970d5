/* SPDX-License-Identifier: MIT */
/*
 * Faults of the region (create, open, close, unlink, the endpoint table)
 * found from outside, across real processes:
 *  - create/open/close/unlink racing on two names: a create never unlinks
 *    a ring it did not create, never returns -EBUSY;
 *  - an open refused for any reason leaves the object byte for byte;
 *  - a crash-looping producer always re-attaches (dead entries are taken
 *    over at open), also through a ring set's control ring;
 *  - shmring_unlink_stale removes an object whose creator died before it
 *    wrote the header;
 *  - shmring_errdetail() describes the last call, and only it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <shmring/set.h>

#include "common.h"

/* ---- create / open / close / unlink races ------------------------------ */

#define RACE_PROCS 8
#define RACE_OPS 1500

/* Shared by the racers: per name, how many shmring_unlink calls were
 * started and finished on it, so a creator can tell a legitimate loss of
 * its name from a create that unlinked it. */
struct race_shared {
	unsigned unlinks[2];
	unsigned unlinked[2];
};

static void race_unlink(struct race_shared *sh, int n, const char *name)
{
	__atomic_fetch_add(&sh->unlinks[n], 1, __ATOMIC_SEQ_CST);
	(void)shmring_unlink(name);
	__atomic_fetch_add(&sh->unlinked[n], 1, __ATOMIC_SEQ_CST);
}

/* The unlinks started so far when none is in flight, else UINT_MAX (the
 * ring made next may lose its name to one: not checked). */
static unsigned race_gen(struct race_shared *sh, int n)
{
	unsigned done = __atomic_load_n(&sh->unlinked[n], __ATOMIC_SEQ_CST);
	unsigned started = __atomic_load_n(&sh->unlinks[n], __ATOMIC_SEQ_CST);

	return done == started ? started : UINT_MAX;
}

static int race_fail(const char *what, int a, int b)
{
	fprintf(stderr, "racer %d: %s (%d, %d)\n", (int)getpid(), what, a, b);
	return 1;
}

static int same_inode(const char *name, int fd)
{
	char path[160];
	struct stat a, b;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	if (stat(path, &a) < 0 || fstat(fd, &b) < 0)
		return 0;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int racer(struct race_shared *sh, char names[2][96], unsigned seed)
{
	struct shmring own[2], opened[2];
	unsigned gen[2];
	int have_own[2] = { 0, 0 }, have_open[2] = { 0, 0 };
	static const uint32_t types[] = { SHMRING_SPSC, SHMRING_MSG_MPSC, SHMRING_MPMC };
	static const uint32_t roles[] = { SHMRING_PRODUCER, SHMRING_CONSUMER, SHMRING_ROLE_NONE };

	for (int op = 0; op < RACE_OPS; op++) {
		unsigned k = (seed = seed * 1103515245u + 12345u) >> 16;
		int n = k & 1;

		/* A creator's name stays its own until someone unlinks it. */
		for (int i = 0; i < 2; i++)
			if (have_own[i] && gen[i] != UINT_MAX && !same_inode(names[i], own[i].fd) &&
			    __atomic_load_n(&sh->unlinks[i], __ATOMIC_SEQ_CST) == gen[i])
				return race_fail("a ring lost its name under its creator", i, op);
		switch ((k >> 1) % 5) {
		case 0: { /* create */
			struct shmring_params p;
			uint32_t type = types[(k >> 4) % 3];
			uint32_t role = roles[(k >> 6) % 3];
			int ret;

			if (have_own[n])
				break;
			shmring_params_init(&p, type, type == SHMRING_MPMC || type == SHMRING_SPSC ? 4 : 256, 8);
			p.max_endpoints = 4;
			gen[n] = race_gen(sh, n);
			ret = shmring_create(&own[n], names[n], &p, role);
			if (ret == 0)
				have_own[n] = 1;
			else if (ret != -EEXIST)
				return race_fail(shmring_errdetail(), ret, op);
			break;
		}
		case 1: { /* open */
			struct shmring_open_opts o = { .timeout_ms = 5 };
			int ret;

			if (have_open[n])
				break;
			ret = shmring_open(&opened[n], names[n], roles[(k >> 4) % 2], &o);
			if (ret == 0)
				have_open[n] = 1;
			else if (ret != -ENOENT && ret != -EBUSY && ret != -ENOSPC && ret != -ETIMEDOUT &&
				 ret != -EPROTO)
				return race_fail(shmring_errdetail(), ret, op);
			break;
		}
		case 2: /* close what was opened */
			if (have_open[n]) {
				if (shmring_close(&opened[n]) != 0)
					return race_fail("close", n, op);
				have_open[n] = 0;
			}
			break;
		case 3: /* unlink, by anyone */
			race_unlink(sh, n, names[n]);
			break;
		default: /* the creator closes (and unlinks) its own */
			if (have_own[n]) {
				if (same_inode(names[n], own[n].fd))
					race_unlink(sh, n, names[n]);
				if (shmring_close(&own[n]) != 0)
					return race_fail("close own", n, op);
				have_own[n] = 0;
			}
			break;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (have_open[i])
			shmring_close(&opened[i]);
		if (have_own[i])
			shmring_close(&own[i]);
	}
	return 0;
}

Test(fault_region, create_open_unlink_race, .timeout = 120)
{
	struct race_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char names[2][96];
	pid_t pids[RACE_PROCS];

	cr_assert_neq(sh, MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	for (int i = 0; i < 2; i++)
		snprintf(names[i], sizeof(names[i]), "%s", t_name("race"));
	for (int i = 0; i < RACE_PROCS; i++) {
		pids[i] = t_fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			_exit(racer(sh, names, (unsigned)i * 7919u + 1));
	}
	for (int i = 0; i < RACE_PROCS; i++)
		t_wait_ok(pids[i], "racer");
	for (int i = 0; i < 2; i++)
		(void)shmring_unlink(names[i]);
	munmap(sh, sizeof(*sh));
}

/* No opener ever sees a ring before its creator holds its endpoint:
 * openers of the creator's role spin on the name while it is created. */
Test(fault_region, create_role_never_ebusy, .timeout = 120)
{
	const char *nm = t_name("ebusy");
	char name[96];
	pid_t pid;
	int *stop = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(stop, MAP_FAILED);
	*stop = 0;
	snprintf(name, sizeof(name), "%s", nm);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring_open_opts o = { .timeout_ms = 1 };

		while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
			struct shmring r;

			if (shmring_open(&r, name, SHMRING_PRODUCER, &o) == 0)
				shmring_close(&r);
		}
		_exit(0);
	}
	for (int i = 0; i < 2000; i++) {
		struct shmring r;
		struct shmring_params p;
		int ret;

		shmring_params_init(&p, SHMRING_SPSC, 2, 8);
		ret = shmring_create(&r, name, &p, SHMRING_PRODUCER);
		cr_assert(ret == 0 || ret == -EEXIST, "create %d: %d (%s)", i, ret, shmring_errdetail());
		if (ret == 0) {
			cr_assert(same_inode(name, r.fd), "the new ring has no name");
			cr_assert_eq(shmring_unlink(name), 0);
			cr_assert_eq(shmring_close(&r), 0);
		}
	}
	__atomic_store_n(stop, 1, __ATOMIC_RELAXED);
	t_wait_ok(pid, "opener");
	(void)shmring_unlink(name);
}

/* ---- refused opens leave the object unchanged ------------------------- */

static unsigned char *obj_copy(const char *name, size_t *len)
{
	char path[160];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size);

	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* open(role) must fail with err and change no byte of the object. */
static void refused(const char *name, uint32_t role, int err, const char *what)
{
	struct shmring_open_opts o = { .timeout_ms = 20 };
	struct shmring r;
	size_t n0, n1;
	unsigned char *a = obj_copy(name, &n0);
	int ret = shmring_open(&r, name, role, &o);

	cr_assert_eq(ret, err, "%s: open returned %d (%s), expected %d", what, ret, shmring_errdetail(), err);
	cr_assert_neq(shmring_errdetail()[0], '\0', "%s: no detail", what);
	unsigned char *b = obj_copy(name, &n1);

	cr_assert_eq(n0, n1, "%s: size changed", what);
	for (size_t i = 0; i < n0; i++)
		cr_assert_eq(a[i], b[i], "%s: byte %zu changed (0x%02x -> 0x%02x)", what, i, a[i], b[i]);
	free(a);
	free(b);
}

static void corrupt_positions(struct shmring *r, int side)
{
	struct shmring_side *s = side ? &r->ctrl->cons : &r->ctrl->prod;

	shmring_atomic_store(&s->pos, (uint64_t)1 << 40, SHMRING_RELAXED);
	shmring_atomic_store(&s->claim, (uint64_t)1 << 40, SHMRING_RELAXED);
}

static const uint32_t all_types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };

static void make(struct shmring *r, const char *name, uint32_t type, uint32_t max_eps)
{
	struct shmring_params p;

	shmring_params_init(&p, type, type == SHMRING_SPSC || type == SHMRING_MPMC ? 16 : 1024, 8);
	p.max_endpoints = max_eps;
	cr_assert_eq(shmring_create(r, name, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

Test(fault_region, refused_open_writes_nothing, .timeout = 60)
{
	for (size_t k = 0; k < sizeof(all_types) / sizeof(all_types[0]); k++) {
		uint32_t type = all_types[k];
		bool multi_prod = type == SHMRING_MPMC || type == SHMRING_MSG_MPSC;
		bool multi_cons = type == SHMRING_MPMC;
		char name[96], what[96];
		struct shmring c, h1, h2;

		snprintf(name, sizeof(name), "%s", t_name("refused"));
		make(&c, name, type, 2);
		/* Corrupt positions, either side. */
		for (int side = 0; side < 2; side++) {
			struct shmring_ctrl saved = *c.ctrl;

			corrupt_positions(&c, side);
			snprintf(what, sizeof(what), "type %u, side %d corrupt: producer", type, side);
			refused(name, SHMRING_PRODUCER, -EPROTO, what);
			snprintf(what, sizeof(what), "type %u, side %d corrupt: consumer", type, side);
			refused(name, SHMRING_CONSUMER, -EPROTO, what);
			memcpy(c.ctrl, &saved, sizeof(saved));
		}
		/* MPMC: a claim-mode word naming no entry. */
		if (type == SHMRING_MPMC) {
			struct shmring_mpmc_block *b = (struct shmring_mpmc_block *)(void *)c.ctrl->kind_blocks;

			for (int side = 0; side < 2; side++) {
				uint32_t w = shmring_atomic_load(&b->solo[side], SHMRING_RELAXED);

				shmring_atomic_store(&b->solo[side], 0x7fff0001u, SHMRING_RELAXED);
				snprintf(what, sizeof(what), "claim mode word %d: producer", side);
				refused(name, SHMRING_PRODUCER, -EPROTO, what);
				snprintf(what, sizeof(what), "claim mode word %d: consumer", side);
				refused(name, SHMRING_CONSUMER, -EPROTO, what);
				shmring_atomic_store(&b->solo[side], w, SHMRING_RELAXED);
			}
		}
		/* Single roles held by a live process: -EBUSY. Multi roles, a
		 * full table (2 entries): -ENOSPC. */
		for (uint32_t role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++) {
			bool multi = role == SHMRING_PRODUCER ? multi_prod : multi_cons;

			cr_assert_eq(shmring_open(&h1, name, role, NULL), 0, "%s", shmring_errdetail());
			if (multi)
				cr_assert_eq(shmring_open(&h2, name, role, NULL), 0, "%s", shmring_errdetail());
			snprintf(what, sizeof(what), "type %u, role %u taken", type, role);
			refused(name, role, multi ? -ENOSPC : -EBUSY, what);
			if (multi)
				cr_assert_eq(shmring_close(&h2), 0);
			cr_assert_eq(shmring_close(&h1), 0);
		}
		cr_assert_eq(shmring_close(&c), 0);
		cr_assert_eq(shmring_unlink(name), 0);
	}
}
