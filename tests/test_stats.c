/* SPDX-License-Identifier: MIT */
/*
 * shmring_stats / shmring_endpoint_stats (stats.h): across processes, the
 * counts match what a producer and consumers did, for every ring kind,
 * through an observer's handle and the creator's; bad input is refused
 * and changes nothing; the call never writes to the ring.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>

#include <shmring/stats.h>
#include <shmring/wait.h>
#ifdef SHMRING_TEST_HAVE_SETS
#include <shmring/set.h>
#endif

#include "common.h"
#include <criterion/new/assert.h>

#define MSG_LEN 24u

struct kind {
	uint32_t type;
	uint64_t capacity;
	uint32_t slot_size;
	uint64_t unit; /* fill per message: 1 slot, or its record's bytes */
};

static const struct kind k_spsc = { SHMRING_SPSC, 64, MSG_LEN, 1 };
static const struct kind k_mpmc = { SHMRING_MPMC, 64, MSG_LEN, 1 };
static const struct kind k_msg_spsc = { SHMRING_MSG_SPSC, 4096, 0, 8 + MSG_LEN };
static const struct kind k_msg_mpsc = { SHMRING_MSG_MPSC, 4096, 0, 8 + MSG_LEN };

static int k_push(struct shmring *r, const void *buf)
{
	switch (r->type) {
	case SHMRING_SPSC: return shmring_spsc_try_push(r, buf);
	case SHMRING_MPMC: return shmring_mpmc_try_push(r, buf);
	default: return shmring_msg_push(r, buf, MSG_LEN);
	}
}

static int k_pop(struct shmring *r, void *buf)
{
	int n;

	switch (r->type) {
	case SHMRING_SPSC: return shmring_spsc_try_pop(r, buf);
	case SHMRING_MPMC: return shmring_mpmc_try_pop(r, buf);
	default:
		n = shmring_msg_pop(r, buf, 64);
		return n < 0 ? n : n == (int)MSG_LEN ? 0 : -EPROTO;
	}
}

/* ---- a child per role, talking to the test through two pipes ---- */

struct child {
	pid_t pid;
	int res; /* the child's result words arrive here */
	int go;  /* one byte lets it close and exit */
};

static uint64_t child_read(const struct child *c)
{
	struct pollfd p = { .fd = c->res, .events = POLLIN };
	uint64_t v;

	cr_assert(poll(&p, 1, 20000) == 1, "the child did not report");
	cr_assert(read(c->res, &v, sizeof(v)) == (ssize_t)sizeof(v), "the child failed before reporting");
	return v;
}

static void child_finish(struct child *c)
{
	cr_assert(write(c->go, "g", 1) == 1);
	t_wait_ok(c->pid, "child");
	close(c->res);
	close(c->go);
}

static void report(int fd, uint64_t v)
{
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		_exit(3);
}

static void await_go(int fd)
{
	char b;

	if (read(fd, &b, 1) != 1)
		_exit(4);
}

/* What a child does: 'p' push until full then `extra` refused pushes;
 * 'c' pop `n` (0: all) then `extra` refused pops. It reports the count
 * it moved, waits for the go, closes and exits 0. */
static struct child child_start(const char *name, char what, uint64_t n, int extra)
{
	int res[2], go[2];
	struct child c;

	cr_assert(pipe(res) == 0 && pipe(go) == 0);
	c.pid = t_fork();
	cr_assert(c.pid >= 0);
	if (c.pid == 0) {
		struct shmring r;
		unsigned char buf[64] = { 0 };
		uint64_t moved = 0;

		close(res[0]);
		close(go[1]);
		if (shmring_open(&r, name, what == 'p' ? SHMRING_PRODUCER : SHMRING_CONSUMER, NULL) < 0)
			_exit(10);
		if (what == 'p') {
			for (;; moved++) {
				memcpy(buf, &moved, sizeof(moved));
				int ret = k_push(&r, buf);

				if (ret == -EAGAIN)
					break;
				if (ret < 0)
					_exit(11);
			}
			for (int i = 0; i < extra; i++)
				if (k_push(&r, buf) != -EAGAIN)
					_exit(12);
		} else {
			for (; !n || moved < n; moved++) {
				int ret = k_pop(&r, buf);

				if (ret == -EAGAIN && !n)
					break;
				if (ret < 0)
					_exit(13);
				uint64_t seq;

				memcpy(&seq, buf, sizeof(seq));
				if (seq != moved && n) /* the first consumer sees 0, 1, ... */
					_exit(14);
			}
			for (int i = 0; i < extra; i++)
				if (k_pop(&r, buf) != -EAGAIN)
					_exit(15);
		}
		report(res[1], moved);
		await_go(go[0]);
		_exit(shmring_close(&r) == 0 ? 0 : 16);
	}
	close(res[1]);
	close(go[0]);
	c.res = res[0];
	c.go = go[1];
	return c;
}

static struct shmring_ring_stats stats_of(const struct shmring *r)
{
	struct shmring_ring_stats st;

	memset(&st, 0xab, sizeof(st));
	st.size = sizeof(st);
	cr_assert(eq(int, shmring_stats(r, &st), 0), "%s", shmring_errdetail());
	cr_assert(eq(u32, st.size, (uint32_t)sizeof(st)));
	for (size_t i = 0; i < sizeof(st.reserved) / sizeof(st.reserved[0]); i++)
		cr_assert(eq(u64, st.reserved[i], 0));
	return st;
}

/* The entry of process pid with `role`; -1 if none. */
static int ep_find(const struct shmring *r, uint32_t ep_count, pid_t pid, uint32_t role,
		   struct shmring_ep_stats *out)
{
	int found = -1;

	for (uint32_t i = 0; i < ep_count; i++) {
		struct shmring_ep_stats e;

		e.size = sizeof(e);
		int ret = shmring_endpoint_stats(r, i, &e);

		if (ret == -ENOENT)
			continue;
		cr_assert(eq(int, ret, 0), "entry %u: %s", i, shmring_errdetail());
		cr_assert(eq(u32, e.index, i));
		if (e.pid == pid && e.role == role) {
			*out = e;
			found = (int)i;
		}
	}
	return found;
}

static void run_counts(const struct kind *k, bool counters)
{
	const char *n = t_name("stats");
	char name[96];
	struct shmring_params p;
	struct shmring own, obs;
	struct shmring_ring_stats st, st2;
	struct shmring_ep_stats ep;
	struct stat sb;
	uint64_t cap = k->capacity, u = k->unit;

	snprintf(name, sizeof(name), "%s", n);
	shmring_params_init(&p, k->type, cap, k->slot_size);
	p.flags = counters ? SHMRING_F_COUNTERS : 0;
	cr_assert(eq(int, shmring_create(&own, name, &p, SHMRING_ROLE_NONE), 0), "%s", shmring_errdetail());
	cr_assert(eq(int, shmring_open(&obs, name, SHMRING_OBSERVER, NULL), 0), "%s", shmring_errdetail());
	cr_assert(fstat(shmring_fd(&obs), &sb) == 0);

	st = stats_of(&obs);
	cr_assert(eq(u32, st.type, k->type));
	cr_assert(eq(u64, st.capacity, cap));
	cr_assert(eq(u64, st.total_size, (uint64_t)sb.st_size));
	cr_assert(eq(u64, st.fill, 0));
	cr_assert(eq(u64, st.head, st.init_pos));
	cr_assert(eq(u64, st.tail, st.init_pos));
	cr_assert(eq(u32, st.endpoints, 0));
	cr_assert(eq(u32, st.valid & SHMRING_STATS_COUNTERS, counters ? SHMRING_STATS_COUNTERS : 0u));
	cr_assert(ne(u32, st.valid & SHMRING_STATS_BASE, 0));
	cr_assert(ne(u32, st.valid & SHMRING_STATS_CONSISTENT, 0), "a quiet ring reads as a consistent pair");
	if (k->type == SHMRING_SPSC || k->type == SHMRING_MPMC) {
		cr_assert(eq(u32, st.slot_size, k->slot_size));
		cr_assert(st.slot_stride >= k->slot_size + 8);
	} else {
		cr_assert(eq(u32, st.slot_stride, 0));
	}

	/* A producer fills the ring, then finds it full 3 times. */
	struct child prod = child_start(name, 'p', 0, 3);
	uint64_t pushed = child_read(&prod);

	cr_assert(pushed > 0 && pushed * u <= cap);
	st = stats_of(&obs);
	cr_assert(eq(u64, st.fill, pushed * u));
	cr_assert(eq(u64, st.head - st.init_pos, pushed * u));
	cr_assert(eq(u64, st.tail, st.init_pos));
	cr_assert(eq(u32, st.prod.live, 1));
	cr_assert(eq(u32, st.prod.dead, 0));
	cr_assert(eq(u32, st.cons.live, 0));
	cr_assert(eq(u32, st.endpoints, 1));
	if (counters) {
		cr_assert(eq(u64, st.prod.blocked, 4), "the push that found it full, then 3 more");
		cr_assert(st.prod.high_water > 0 && st.prod.high_water <= pushed * u,
			  "high water %llu, fill %llu", (unsigned long long)st.prod.high_water,
			  (unsigned long long)(pushed * u));
	} else {
		cr_assert(eq(u64, st.prod.blocked, 0));
		cr_assert(eq(u64, st.prod.high_water, 0));
	}
	cr_assert(eq(u64, st.cons.blocked, 0));
	/* The creator's handle (no role) sees the same. */
	st2 = stats_of(&own);
	cr_assert(eq(u64, st2.fill, st.fill));
	cr_assert(eq(u64, st2.prod.blocked, st.prod.blocked));
	/* Its endpoint entry. */
	cr_assert(ep_find(&obs, st.ep_count, prod.pid, SHMRING_PRODUCER, &ep) >= 0);
	cr_assert(eq(u32, ep.alive, 1));
	cr_assert(eq(u32, ep.state, SHMRING_EP_ACTIVE));
	if (k->type == SHMRING_SPSC || k->type == SHMRING_MSG_SPSC)
		cr_assert(eq(u32, ep.index, 0), "a single producer has entry 0");
	if (k->type == SHMRING_MPMC)
		cr_assert(eq(u64, ep.ops, counters ? pushed : 0));
	cr_assert(eq(u32, ep.valid & SHMRING_STATS_COUNTERS, counters ? SHMRING_STATS_COUNTERS : 0u));
	child_finish(&prod);

	/* A consumer takes half. */
	uint64_t half = pushed / 2;
	struct child c1 = child_start(name, 'c', half, 0);

	cr_assert(eq(u64, child_read(&c1), half));
	st = stats_of(&obs);
	cr_assert(eq(u64, st.fill, (pushed - half) * u));
	cr_assert(eq(u64, st.tail - st.init_pos, half * u));
	cr_assert(eq(u64, st.head - st.init_pos, pushed * u));
	cr_assert(eq(u32, st.prod.live, 0), "the producer closed");
	cr_assert(eq(u32, st.prod.dead, 0));
	cr_assert(eq(u32, st.cons.live, 1));
	cr_assert(ep_find(&obs, st.ep_count, c1.pid, SHMRING_CONSUMER, &ep) >= 0);
	child_finish(&c1);

	/* Another drains it and finds it empty twice. */
	struct child c2 = child_start(name, 'c', 0, 2);

	cr_assert(eq(u64, child_read(&c2), pushed - half));
	st = stats_of(&obs);
	cr_assert(eq(u64, st.fill, 0));
	cr_assert(eq(u64, st.tail - st.init_pos, pushed * u));
	cr_assert(eq(u64, st.cons.blocked, counters ? 3u : 0u),
		  "the drain's pop that found it empty, then 2 more");
	cr_assert(eq(u64, st.prod.blocked, counters ? 4u : 0u));
	cr_assert(eq(u64, st.prod.gone + st.cons.gone, 0));
	child_finish(&c2);

	st = stats_of(&obs);
	cr_assert(eq(u32, st.endpoints, 0));
	cr_assert(eq(u32, st.cons.live + st.cons.dead + st.prod.live + st.prod.dead, 0));
	shmring_close(&obs);
	shmring_close(&own);
	shmring_unlink(name);
}

Test(stats, spsc_counts, .timeout = 60) { run_counts(&k_spsc, true); }
Test(stats, mpmc_counts, .timeout = 60) { run_counts(&k_mpmc, true); }
Test(stats, msg_spsc_counts, .timeout = 60) { run_counts(&k_msg_spsc, true); }
Test(stats, msg_mpsc_counts, .timeout = 60) { run_counts(&k_msg_mpsc, true); }
Test(stats, spsc_counters_off, .timeout = 60) { run_counts(&k_spsc, false); }
Test(stats, mpmc_counters_off, .timeout = 60) { run_counts(&k_mpmc, false); }
Test(stats, msg_mpsc_counters_off, .timeout = 60) { run_counts(&k_msg_mpsc, false); }

/* A producer killed without closing: counted dead until one takes over. */
Test(stats, dead_endpoint, .timeout = 60)
{
	const char *name = t_name("stats-dead");
	struct shmring_params p;
	struct shmring own, prod;
	struct shmring_ring_stats st;
	struct shmring_ep_stats ep;
	int res[2];

	shmring_params_init(&p, SHMRING_MPMC, 16, 8);
	cr_assert(eq(int, shmring_create(&own, name, &p, SHMRING_CONSUMER), 0));
	cr_assert(pipe(res) == 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring r;
		uint64_t v = 7;

		if (shmring_open(&r, name, SHMRING_PRODUCER, NULL) < 0 || shmring_mpmc_try_push(&r, &v) < 0)
			_exit(1);
		report(res[1], 1);
		pause();
		_exit(0);
	}
	close(res[1]);
	struct child c = { .pid = pid, .res = res[0], .go = -1 };

	cr_assert(eq(u64, child_read(&c), 1));
	kill(pid, SIGKILL);
	cr_assert(waitpid(pid, NULL, 0) == pid);
	st = stats_of(&own);
	cr_assert(eq(u32, st.prod.live, 0));
	cr_assert(eq(u32, st.prod.dead, 1));
	cr_assert(eq(u32, st.cons.live, 1), "the creator consumes");
	cr_assert(eq(u64, st.fill, 1));
	cr_assert(ep_find(&own, st.ep_count, pid, SHMRING_PRODUCER, &ep) >= 0);
	cr_assert(eq(u32, ep.alive, 0));
	/* A new producer takes the dead one's place (or a free entry). */
	cr_assert(eq(int, shmring_open(&prod, name, SHMRING_PRODUCER, NULL), 0));
	st = stats_of(&own);
	cr_assert(eq(u32, st.prod.live, 1));
	shmring_close(&prod);
	shmring_close(&own);
	shmring_unlink(name);
	close(res[0]);
}

/* A consumer asleep in pop_wait: seen as a waiter, its sleep and the
 * producer's wake counted (slow-path counters: no SHMRING_F_COUNTERS). */
Test(stats, sleeps_and_wakes, .timeout = 60)
{
	const char *name = t_name("stats-sleep");
	struct shmring_params p;
	struct shmring own;
	struct shmring_ring_stats st;
	int res[2];
	uint64_t v = 5;

	shmring_params_init(&p, SHMRING_SPSC, 16, 8);
	cr_assert(eq(int, shmring_create(&own, name, &p, SHMRING_PRODUCER), 0));
	cr_assert(pipe(res) == 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring_wait_policy wp = { .mode = SHMRING_WAIT_SLEEP };
		struct timespec dl;
		struct shmring r;
		uint64_t got = 0;

		if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) < 0 || shmring_wait_policy_set(&r, &wp) < 0)
			_exit(1);
		shmring_deadline_after(&dl, 30ull * 1000000000ull);
		if (shmring_spsc_pop_wait(&r, &got, &dl) < 0)
			_exit(2);
		report(res[1], got);
		_exit(shmring_close(&r) == 0 ? 0 : 3);
	}
	close(res[1]);
	/* Wait (bounded) until the consumer is asleep. */
	for (int i = 0; i < 20000; i++) {
		st = stats_of(&own);
		if (st.cons.waiters == 1)
			break;
		usleep(1000);
	}
	cr_assert(eq(u32, st.cons.waiters, 1), "the consumer never slept");
	cr_assert(st.cons.sleeps >= 1);
	cr_assert(eq(u32, st.valid & SHMRING_STATS_COUNTERS, 0));
	cr_assert(eq(int, shmring_spsc_try_push(&own, &v), 0));
	cr_assert(shmring_spsc_wake(&own) >= 0);
	struct child c = { .pid = pid, .res = res[0], .go = -1 };

	cr_assert(eq(u64, child_read(&c), 5));
	t_wait_ok(pid, "the consumer");
	st = stats_of(&own);
	cr_assert(eq(u32, st.cons.waiters, 0));
	cr_assert(st.prod.wakes >= 1, "the producer's wake");
	cr_assert(st.prod.futex_calls >= 1);
	cr_assert(st.cons.futex_calls >= st.cons.sleeps);
	cr_assert(eq(u64, st.fill, 0));
	close(res[0]);
	shmring_close(&own);
	shmring_unlink(name);
}

/* The object's bytes, read through the descriptor. */
static unsigned char *object_bytes(const struct shmring *r, size_t *len)
{
	struct stat sb;

	cr_assert(fstat(shmring_fd(r), &sb) == 0);
	unsigned char *b = malloc((size_t)sb.st_size);

	cr_assert(b != NULL);
	cr_assert(pread(shmring_fd(r), b, (size_t)sb.st_size, 0) == sb.st_size);
	*len = (size_t)sb.st_size;
	return b;
}

/* Stats and endpoint stats through every role leave the object as it was. */
Test(stats, reads_only, .timeout = 30)
{
	const uint32_t types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };

	for (size_t i = 0; i < 4; i++) {
		const char *name = t_name("stats-ro");
		struct shmring_params p;
		struct shmring prod, cons, obs;
		unsigned char buf[64] = { 1, 2, 3 };
		size_t l1, l2;

		shmring_params_init(&p, types[i], types[i] <= SHMRING_MPMC ? 32 : 4096, MSG_LEN);
		p.flags = SHMRING_F_COUNTERS;
		cr_assert(eq(int, shmring_create(&prod, name, &p, SHMRING_PRODUCER), 0));
		cr_assert(eq(int, shmring_open(&cons, name, SHMRING_CONSUMER, NULL), 0));
		cr_assert(eq(int, shmring_open(&obs, name, SHMRING_OBSERVER, NULL), 0));
		for (int k = 0; k < 5; k++)
			cr_assert(eq(int, k_push(&prod, buf), 0));
		cr_assert(eq(int, k_pop(&cons, buf), 0));
		unsigned char *before = object_bytes(&obs, &l1);
		const struct shmring *hs[] = { &prod, &cons, &obs };

		for (size_t h = 0; h < 3; h++) {
			struct shmring_ring_stats st = stats_of(hs[h]);
			struct shmring_ep_stats ep;

			cr_assert(eq(u64, st.fill, 4 * (types[i] <= SHMRING_MPMC ? 1u : 8u + MSG_LEN)));
			for (uint32_t e = 0; e < st.ep_count; e++) {
				ep.size = sizeof(ep);
				int ret = shmring_endpoint_stats(hs[h], e, &ep);

				cr_assert(ret == 0 || ret == -ENOENT);
			}
		}
		unsigned char *after = object_bytes(&obs, &l2);

		cr_assert(eq(sz, l1, l2));
		cr_assert(memcmp(before, after, l1) == 0, "stats changed the object");
		free(before);
		free(after);
		shmring_close(&obs);
		shmring_close(&cons);
		shmring_close(&prod);
		shmring_unlink(name);
	}
}

/* Each bad call: the code, a detail, and the caller's struct untouched. */
static void refused(const struct shmring *r, uint32_t size, int want)
{
	struct shmring_ring_stats st, before;

	memset(&st, 0x5a, sizeof(st));
	st.size = size;
	before = st;
	cr_assert(eq(int, shmring_stats(r, &st), want), "size %u", size);
	cr_assert(memcmp(&st, &before, sizeof(st)) == 0, "a refused call wrote to the struct");
	cr_assert(shmring_errdetail()[0] != 0, "a refused call says why");
}

Test(stats, bad_input, .timeout = 30)
{
	const char *name = t_name("stats-bad");
	struct shmring_params p;
	struct shmring r, obs, zero;
	struct shmring_ep_stats ep, ep_before;
	const uint32_t v1 = SHMRING_RING_STATS_SIZE_V1;

	shmring_params_init(&p, SHMRING_SPSC, 16, 8);
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_PRODUCER), 0));

	refused(NULL, sizeof(struct shmring_ring_stats), -EINVAL);
	cr_assert(eq(int, shmring_stats(&r, NULL), -EINVAL));
	refused(&r, 0, -EINVAL);
	refused(&r, v1 - 8, -EINVAL);
	refused(&r, v1 + 4, -EINVAL);
	refused(&r, 65536 + 8, -EINVAL);
	refused(&r, UINT32_MAX, -EINVAL);

	/* Closed, and never attached: -EBADF. */
	cr_assert(eq(int, shmring_open(&obs, name, SHMRING_OBSERVER, NULL), 0));
	cr_assert(eq(int, shmring_close(&obs), 0));
	refused(&obs, sizeof(struct shmring_ring_stats), -EBADF);
	memset(&zero, 0, sizeof(zero));
	refused(&zero, sizeof(struct shmring_ring_stats), -EBADF);
	/* Bad size before closed: the size is checked first. */
	refused(&obs, 8, -EINVAL);

	/* A handle inherited across fork() is not the child's. */
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring_ring_stats st;

		st.size = sizeof(st);
		_exit(shmring_stats(&r, &st) == -EBADF ? 0 : 1);
	}
	t_wait_ok(pid, "forked child's stats on the parent's handle");

	/* Endpoint stats: index out of the table, a free entry, a bad size. */
	memset(&ep, 0x5a, sizeof(ep));
	ep.size = sizeof(ep);
	ep_before = ep;
	cr_assert(eq(int, shmring_endpoint_stats(&r, 2, &ep), -EINVAL), "an SPSC ring has 2 entries");
	cr_assert(eq(int, shmring_endpoint_stats(&r, UINT32_MAX, &ep), -EINVAL));
	cr_assert(eq(int, shmring_endpoint_stats(&r, 1, &ep), -ENOENT), "no consumer attached");
	cr_assert(eq(int, shmring_endpoint_stats(NULL, 0, &ep), -EINVAL));
	cr_assert(eq(int, shmring_endpoint_stats(&obs, 0, &ep), -EBADF));
	cr_assert(memcmp(&ep, &ep_before, sizeof(ep)) == 0);
	ep.size = SHMRING_EP_STATS_SIZE_V1 - 8;
	ep_before = ep;
	cr_assert(eq(int, shmring_endpoint_stats(&r, 0, &ep), -EINVAL));
	cr_assert(memcmp(&ep, &ep_before, sizeof(ep)) == 0);
	cr_assert(eq(int, shmring_endpoint_stats(&r, 0, NULL), -EINVAL));
	ep.size = sizeof(ep);
	cr_assert(eq(int, shmring_endpoint_stats(&r, 0, &ep), 0));
	cr_assert(eq(i32, ep.pid, (int32_t)getpid()));

	shmring_close(&r);
	shmring_unlink(name);
}

/* A caller built with a larger struct gets ours and zeroes after it. */
Test(stats, newer_caller, .timeout = 30)
{
	struct shmring_params p;
	struct shmring r;
	struct {
		struct shmring_ring_stats st;
		uint64_t later[16];
	} big;
	struct {
		struct shmring_ep_stats st;
		uint64_t later[4];
	} bige;

	shmring_params_init(&p, SHMRING_MSG_SPSC, 4096, 0);
	cr_assert(eq(int, shmring_create_anon(&r, &p, SHMRING_PRODUCER), 0));
	memset(&big, 0xab, sizeof(big));
	big.st.size = sizeof(big);
	cr_assert(eq(int, shmring_stats(&r, &big.st), 0));
	cr_assert(eq(u32, big.st.size, (uint32_t)sizeof(struct shmring_ring_stats)));
	cr_assert(eq(u64, big.st.capacity, 4096));
	for (int i = 0; i < 16; i++)
		cr_assert(eq(u64, big.later[i], 0));
	memset(&bige, 0xab, sizeof(bige));
	bige.st.size = sizeof(bige);
	cr_assert(eq(int, shmring_endpoint_stats(&r, 0, &bige.st), 0));
	cr_assert(eq(u32, bige.st.size, (uint32_t)sizeof(struct shmring_ep_stats)));
	for (int i = 0; i < 4; i++)
		cr_assert(eq(u64, bige.later[i], 0));
	shmring_close(&r);
}

#ifdef SHMRING_TEST_HAVE_SETS
static int count_msg(void *arg, const struct shmring_set_msg *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

/* A member's ring, through the set, in the same struct. */
Test(stats, set_member_ring, .timeout = 60)
{
	const char *name = t_name("stats-set");
	struct shmring_set *s;
	struct shmring_params p;
	struct shmring prod;
	struct shmring_ring_stats st, before;
	uint64_t v = 1;
	int id, got = 0;

	cr_assert(eq(int, shmring_set_create(&s, NULL, 0), 0), "%s", shmring_errdetail());
	shmring_params_init(&p, SHMRING_SPSC, 16, 8);
	cr_assert(eq(int, shmring_create(&prod, name, &p, SHMRING_PRODUCER), 0));
	id = shmring_set_add_name(s, name, 5);
	cr_assert(id >= 0, "%s", shmring_errdetail());
	for (int i = 0; i < 3; i++)
		cr_assert(eq(int, shmring_spsc_try_push(&prod, &v), 0));
	st.size = sizeof(st);
	cr_assert(eq(int, shmring_set_member_ring_stats(s, (uint32_t)id, &st), 0));
	cr_assert(eq(u64, st.fill, 3));
	cr_assert(eq(u32, st.cons.live, 1), "the set consumes it");
	cr_assert(eq(u32, st.prod.live, 1));
	while (shmring_set_poll(s, 8, count_msg, &got) > 0)
		;
	cr_assert(eq(int, got, 3));
	cr_assert(eq(int, shmring_set_member_ring_stats(s, (uint32_t)id, &st), 0));
	cr_assert(eq(u64, st.fill, 0));
	cr_assert(eq(u64, st.tail - st.init_pos, 3));
	memset(&st, 0x5a, sizeof(st));
	st.size = sizeof(st);
	before = st;
	cr_assert(eq(int, shmring_set_member_ring_stats(s, (uint32_t)id + 100, &st), -ENOENT));
	cr_assert(memcmp(&st, &before, sizeof(st)) == 0);
	st.size = 4;
	cr_assert(eq(int, shmring_set_member_ring_stats(s, (uint32_t)id, &st), -EINVAL));
	cr_assert(eq(int, shmring_set_member_ring_stats(NULL, (uint32_t)id, &st), -EINVAL));
	shmring_set_destroy(s);
	shmring_close(&prod);
	shmring_unlink(name);
}
#endif
