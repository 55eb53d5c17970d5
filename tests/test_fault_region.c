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

/* ---- crash-looping producers ------------------------------------------- */

#define LOOP_EPS 4 /* multi-mode endpoint entries */

enum loop_how { LOOP_PUSH, LOOP_HOLD };

/* A child opens as producer, pushes one message (or, LOOP_HOLD, keeps
 * a reservation open) and is killed. Returns 0 if it attached. */
static int crash_once(const char *name, uint32_t type, enum loop_how how, uint64_t seq)
{
	pid_t pid = t_fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring p;
		int ret = shmring_open(&p, name, SHMRING_PRODUCER, NULL);

		if (ret < 0) {
			fprintf(stderr, "crash loop: open: %d (%s)\n", ret, shmring_errdetail());
			_exit(1);
		}
		if (type == SHMRING_MSG_MPSC) {
			void *buf;

			if (how == LOOP_HOLD)
				(void)shmring_msg_reserve(&p, 8, &buf);
			else
				(void)shmring_msg_push(&p, &seq, sizeof(seq));
		} else if (type == SHMRING_MPMC) {
			uint64_t pos;

			if (how == LOOP_HOLD)
				(void)shmring_mpmc_reserve(&p, 1, &pos);
			else
				(void)shmring_mpmc_try_push(&p, &seq);
		} else {
			(void)shmring_spsc_try_push(&p, &seq);
		}
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : -1;
}

static void drain(struct shmring *c, uint32_t type)
{
	uint64_t v;

	if (type == SHMRING_MSG_MPSC) {
		const void *buf;

		while (shmring_msg_peek(c, &buf) > 0)
			shmring_msg_release(c);
	} else if (type == SHMRING_MPMC) {
		while (shmring_mpmc_try_pop(c, &v) == 0)
			;
	} else {
		while (shmring_spsc_try_pop(c, &v) == 0)
			;
	}
}

static void crash_loop(uint32_t type, enum loop_how how)
{
	struct shmring c;
	struct shmring_params p;
	const char *name = t_name("crashloop");
	uint32_t entries = type == SHMRING_SPSC ? 2 : LOOP_EPS + 2;

	shmring_params_init(&p, type, type == SHMRING_MSG_MPSC ? 4096 : 64, 8);
	p.max_endpoints = LOOP_EPS;
	cr_assert_eq(shmring_create(&c, name, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	for (uint32_t i = 0; i < 3 * entries + 2; i++) {
		cr_assert_eq(crash_once(name, type, how, i), 0,
			     "type %u: producer %u of a crash loop could not attach", type, i);
		drain(&c, type);
	}
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(fault_region, crash_loop_spsc, .timeout = 60)
{
	crash_loop(SHMRING_SPSC, LOOP_PUSH);
}

Test(fault_region, crash_loop_mpmc, .timeout = 60)
{
	crash_loop(SHMRING_MPMC, LOOP_PUSH);
}

Test(fault_region, crash_loop_mpmc_holding_claims, .timeout = 60)
{
	crash_loop(SHMRING_MPMC, LOOP_HOLD);
}

Test(fault_region, crash_loop_msg_mpsc, .timeout = 60)
{
	crash_loop(SHMRING_MSG_MPSC, LOOP_PUSH);
}

/* The table full of dead producers whose records the consumer still
 * needs: -ENOSPC, and the detail says the holders are dead. */
Test(fault_region, enospc_names_dead_holders, .timeout = 60)
{
	struct shmring c, p;
	struct shmring_params pp;
	const char *name = t_name("deadfull");

	shmring_params_init(&pp, SHMRING_MSG_MPSC, 4096, 8);
	pp.max_endpoints = LOOP_EPS;
	cr_assert_eq(shmring_create(&c, name, &pp, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	for (int i = 0; i < LOOP_EPS; i++)
		cr_assert_eq(crash_once(name, SHMRING_MSG_MPSC, LOOP_HOLD, (uint64_t)i), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), -ENOSPC);
	cr_assert(strstr(shmring_errdetail(), "dead"), "%s", shmring_errdetail());
	/* The consumer's recovery frees them. */
	cr_assert_eq(shmring_recover(&c), LOOP_EPS, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* ---- ring sets: killed joined producers --------------------------------- */

static int count_msg(void *arg, const struct shmring_set_msg *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

Test(fault_region, set_join_after_many_crashes, .timeout = 120)
{
	struct shmring_set *s;
	char set[96];
	char rings[80][96];
	const int n = 80; /* more than the control ring's 64 entries */
	int got = 0;

	snprintf(set, sizeof(set), "%s", t_name("set"));
	cr_assert_eq(shmring_set_create(&s, set, 0), 0, "%s", shmring_errdetail());
	for (int i = 0; i < n; i++) {
		snprintf(rings[i], sizeof(rings[i]), "%s", t_name("member"));
		pid_t pid = t_fork();
		int st;

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct shmring r;
			struct shmring_params p;
			struct shmring_set_link l;
			uint64_t v = (uint64_t)i;
			int ret;

			shmring_params_init(&p, SHMRING_SPSC, 8, 8);
			if (shmring_create(&r, rings[i], &p, SHMRING_PRODUCER) < 0)
				_exit(1);
			ret = shmring_set_join(&l, set, &r, rings[i], (uint64_t)i);
			if (ret < 0) {
				fprintf(stderr, "join %d: %d (%s)\n", i, ret, shmring_errdetail());
				_exit(2);
			}
			(void)shmring_spsc_try_push(&r, &v);
			kill(getpid(), SIGKILL);
			_exit(3);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
			  "joined producer %d could not join (status 0x%x)", i, st);
		for (int k = 0; k < 3; k++) {
			int r = shmring_set_poll(s, 16, count_msg, &got);

			cr_assert_geq(r, 0);
		}
	}
	cr_assert_eq(shmring_set_destroy(s), 0);
	for (int i = 0; i < n; i++)
		(void)shmring_unlink(rings[i]);
}

/* ---- stale names of creators killed before the header ------------------ */

static void make_raw(const char *name, off_t size, time_t age_s)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	if (size)
		cr_assert_eq(ftruncate(fd, size), 0);
	if (age_s) {
		struct timespec ts[2];

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= age_s;
		ts[1] = ts[0];
		cr_assert_eq(futimens(fd, ts), 0);
	}
	close(fd);
}

Test(fault_region, unlink_stale_unwritten_header, .timeout = 30)
{
	char name[96];

	/* Killed before ftruncate (size 0) or before the header (zeroes),
	 * long ago: removed. */
	snprintf(name, sizeof(name), "%s", t_name("stale0"));
	make_raw(name, 0, 3600);
	cr_assert_eq(shmring_unlink_stale(name), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink(name), -ENOENT);
	snprintf(name, sizeof(name), "%s", t_name("stalez"));
	make_raw(name, 3 * 4096, 3600);
	cr_assert_eq(shmring_unlink_stale(name), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink(name), -ENOENT);
	/* Just made: it may be a creator at work; left alone. */
	snprintf(name, sizeof(name), "%s", t_name("stalenew"));
	make_raw(name, 0, 0);
	cr_assert_eq(shmring_unlink_stale(name), -EBUSY, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink(name), 0);
	/* Not ours to judge: bytes that are not a header. */
	snprintf(name, sizeof(name), "%s", t_name("stalejunk"));
	make_raw(name, 4096, 3600);
	{
		char path[160];
		int fd;

		snprintf(path, sizeof(path), "/dev/shm%s", name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pwrite(fd, "junk", 4, 100), 4);
		close(fd);
	}
	cr_assert_eq(shmring_unlink_stale(name), -EPROTO, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink(name), 0);
}

/* ---- error detail -------------------------------------------------------- */

Test(fault_region, errdetail_is_the_last_calls)
{
	struct shmring r;
	struct shmring_params p;
	char name[96];

	snprintf(name, sizeof(name), "%s", t_name("detail"));
	/* A failure leaves a detail; the next failing call replaces it. */
	cr_assert_eq(shmring_unlink(t_name("nothere")), -ENOENT);
	cr_assert(strstr(shmring_errdetail(), "shm_unlink"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(NULL), -EINVAL);
	cr_assert(!strstr(shmring_errdetail(), "shm_unlink"), "%s", shmring_errdetail());
	cr_assert_neq(shmring_errdetail()[0], '\0');
	/* Close of a closed handle. */
	shmring_params_init(&p, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_unlink(t_name("nothere")), -ENOENT);
	cr_assert_eq(shmring_close(&r), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "closed"), "%s", shmring_errdetail());
	/* A success clears the detail. */
	cr_assert_eq(shmring_unlink(name), 0);
	cr_assert_eq(shmring_errdetail()[0], '\0');
	/* Every failure has a detail: bad descriptors too. */
	cr_assert_eq(shmring_open_fd(&r, -1, SHMRING_CONSUMER, NULL), -EBADF);
	cr_assert_neq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_fd(NULL), -EINVAL);
	cr_assert_neq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_recover(NULL), -EINVAL);
	cr_assert_neq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_fd_send(-1, -1), -EINVAL);
	cr_assert_neq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_fd_send(-1, 0), -EBADF);
	cr_assert_neq(shmring_errdetail()[0], '\0');
	cr_assert_eq(shmring_unlink_stale(t_name("nothere")), -ENOENT);
	cr_assert_neq(shmring_errdetail()[0], '\0');
}

/* Create's codes beyond its arguments: no descriptor left is -EMFILE,
 * with a detail (documented in shmring.h). */
Test(fault_region, create_emfile_documented)
{
	struct shmring r;
	struct shmring_params p;
	struct rlimit rl;
	int fds[256], n = 0, ret;

	shmring_params_init(&p, SHMRING_SPSC, 8, 8);
	/* Use up the descriptors under a low soft limit. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (;;) {
		int fd = dup(0);

		if (fd < 0)
			break;
		cr_assert_lt(n, 256);
		fds[n++] = fd;
	}
	ret = shmring_create(&r, t_name("emfile"), &p, SHMRING_PRODUCER);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	cr_assert_eq(ret, -EMFILE, "%d (%s)", ret, shmring_errdetail());
	cr_assert_neq(shmring_errdetail()[0], '\0');
}
