/* SPDX-License-Identifier: MIT */
/*
 * Broadcast rings (broadcast.h) across real processes: every reader gets
 * every message in order (lossless), joins and leaves mid-stream, dead
 * and stopped readers evicted with their exact loss, lossy rings lapping
 * a slow reader without ever handing out a torn payload, and bad input.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <poll.h>
#include <shmring/ready.h>
#include <shmring/wait.h>

#include "common.h"

#define PAY 6

/* A message: its sequence number, a payload derived from it, a checksum. */
struct bmsg {
	uint64_t seq;
	uint64_t pay[PAY];
	uint64_t sum;
};

static uint64_t bmsg_sum(const struct bmsg *m)
{
	uint64_t x = 0xcbf29ce484222325ull ^ m->seq;

	for (int i = 0; i < PAY; i++)
		x = (x ^ m->pay[i]) * 0x100000001b3ull;
	return x;
}

static void bmsg_make(struct bmsg *m, uint64_t seq)
{
	m->seq = seq;
	for (int i = 0; i < PAY; i++)
		m->pay[i] = seq * 0x9e3779b97f4a7c15ull + (uint64_t)i;
	m->sum = bmsg_sum(m);
}

static int bmsg_ok(const struct bmsg *m)
{
	if (m->sum != bmsg_sum(m))
		return 0;
	for (int i = 0; i < PAY; i++)
		if (m->pay[i] != m->seq * 0x9e3779b97f4a7c15ull + (uint64_t)i)
			return 0;
	return 1;
}

static void create_bcast(struct shmring *r, const char *name, uint64_t cap, uint32_t flags,
			 uint64_t evict_ns)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_BROADCAST, cap, sizeof(struct bmsg));
	p.flags = flags;
	p.evict_ns = evict_ns;
	p.max_endpoints = 8;
	cr_assert_eq(shmring_create(r, name, &p, SHMRING_PRODUCER), 0, "create: %s", shmring_errdetail());
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	shmring_deadline_after(ts, ms * 1000000ull);
}

static const struct shmring_bcast_evict *evict_block(const struct shmring *r)
{
	return (const struct shmring_bcast_evict *)(const void *)(r->ctrl->kind_blocks + SHMRING_BLOCK);
}

/* Child: read one byte from fd (a go signal); 0 on success. */
static int wait_byte(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -1;
}

static void put_u64(int fd, uint64_t v)
{
	cr_assert_eq(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

static int get_u64(int fd, uint64_t *v)
{
	return read(fd, v, sizeof(*v)) == (ssize_t)sizeof(*v) ? 0 : -1;
}

/* ---- single process: the calls and their errors ---- */

Test(bcast, basics_and_bad_input, .timeout = 60)
{
	const char *name = t_name("bcast-basic");
	struct shmring p, a, b, s;
	struct shmring_open_opts o;
	struct shmring_params prm;
	struct bmsg m, got;
	const void *view = NULL;

	create_bcast(&p, name, 8, 0, 0);
	memset(&o, 0, sizeof(o));
	o.type = SHMRING_BROADCAST;
	cr_assert_eq(shmring_open(&a, name, SHMRING_CONSUMER, &o), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&b, name, SHMRING_CONSUMER, &o), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_bcast_try_read(&a, &got), -EAGAIN);

	/* A second producer, the wrong type, the wrong slot size. */
	cr_assert_eq(shmring_open(&s, name, SHMRING_PRODUCER, NULL), -EBUSY);
	o.type = SHMRING_SPSC;
	cr_assert_eq(shmring_open(&s, name, SHMRING_CONSUMER, &o), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "ring type"), "%s", shmring_errdetail());
	o.type = SHMRING_BROADCAST;
	o.slot_size = 8;
	cr_assert_eq(shmring_open(&s, name, SHMRING_CONSUMER, &o), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "slot_size"), "%s", shmring_errdetail());

	/* Wrong roles: nothing moves. */
	bmsg_make(&m, 0);
	cr_assert_eq(shmring_bcast_try_push(&a, &m), -EBADF);
	cr_assert_eq(shmring_bcast_try_read(&p, &got), -EBADF);
	cr_assert_eq(shmring_bcast_peek(&p, &view), -EBADF);
	cr_assert_eq(shmring_bcast_lost(&p), -EBADF);
	cr_assert_eq(shmring_bcast_seek(&p, SHMRING_BCAST_OLDEST), -EBADF);
	cr_assert_eq(shmring_bcast_seek(&a, 7), -EINVAL);
	cr_assert_eq(shmring_spsc_try_push(&p, &m), -EBADF);
	cr_assert_eq(shmring_bcast_try_read(&a, &got), -EAGAIN);

	/* Lossless: 8 fit, the 9th waits for the slowest reader. */
	for (uint64_t i = 0; i < 8; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	}
	bmsg_make(&m, 8);
	cr_assert_eq(shmring_bcast_try_push(&p, &m), -EAGAIN);
	for (uint64_t i = 0; i < 8; i++) {
		cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
		cr_assert_eq(got.seq, i);
		cr_assert(bmsg_ok(&got));
	}
	cr_assert_eq(shmring_bcast_try_push(&p, &m), -EAGAIN, "b still holds position 0");
	/* Zero copy: peek, release. */
	cr_assert_eq(shmring_bcast_peek(&b, &view), 0);
	cr_assert_eq(((const struct bmsg *)view)->seq, 0);
	cr_assert_eq(shmring_bcast_release(&b), 0);
	cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	cr_assert_eq(shmring_bcast_read_burst(&b, &got, 1), 1);
	cr_assert_eq(got.seq, 1);
	/* A reader that leaves gates nothing, and lost nothing. */
	cr_assert_eq(shmring_bcast_lost(&b), 0);
	cr_assert_eq(shmring_close(&b), 0);
	cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
	cr_assert_eq(got.seq, 8);
	for (uint64_t i = 9; i < 17; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0, "%llu", (unsigned long long)i);
	}
	/* A late reader at the oldest message still there. */
	o.slot_size = 0;
	cr_assert_eq(shmring_open(&b, name, SHMRING_CONSUMER, &o), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_bcast_try_read(&b, &got), -EAGAIN, "a new reader starts at the newest");
	cr_assert_eq(shmring_bcast_seek(&b, SHMRING_BCAST_OLDEST), 0);
	cr_assert_eq(shmring_bcast_try_read(&b, &got), 0);
	cr_assert_eq(got.seq, 9);
	cr_assert_eq(shmring_bcast_lost(&b), 0);
	cr_assert_eq(evict_block(&p)->evictions, 0);
	cr_assert_eq(shmring_close(&a), 0);
	cr_assert_eq(shmring_close(&b), 0);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);

	/* Create: flags and deadlines that do not apply. */
	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	prm.flags = SHMRING_F_LOSSY;
	cr_assert_eq(shmring_create_anon(&s, &prm, SHMRING_PRODUCER), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "do not apply"), "%s", shmring_errdetail());
	prm.flags = 0;
	prm.evict_ns = 1000;
	cr_assert_eq(shmring_create_anon(&s, &prm, SHMRING_PRODUCER), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "evict_ns"), "%s", shmring_errdetail());
	shmring_params_init(&prm, SHMRING_BROADCAST, 8, 8);
	prm.flags = SHMRING_F_LOSSY;
	prm.evict_ns = 1000;
	cr_assert_eq(shmring_create_anon(&s, &prm, SHMRING_PRODUCER), -EINVAL);
	prm.evict_ns = 0;
	prm.capacity = 12;
	cr_assert_eq(shmring_create_anon(&s, &prm, SHMRING_PRODUCER), -EINVAL);
	prm.capacity = 8;
	prm.flags = SHMRING_F_SOLO;
	cr_assert_eq(shmring_create_anon(&s, &prm, SHMRING_PRODUCER), -EINVAL);
}

/* Lossy, one process: a lapped reader gets -EOVERFLOW once, the exact
 * loss, and goes on at the oldest message; a peeked slot overwritten in
 * use is reported by release. */
Test(bcast, lossy_lap_exact, .timeout = 60)
{
	struct shmring p, a;
	struct shmring_params prm;
	struct bmsg m, got;
	const void *view = NULL;

	shmring_params_init(&prm, SHMRING_BROADCAST, 16, sizeof(struct bmsg));
	prm.flags = SHMRING_F_LOSSY;
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&a, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	for (uint64_t i = 0; i < 3; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	}
	cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
	cr_assert_eq(got.seq, 0);
	/* 100 more: the reader at 1 is lapped; 103 - 16 = 87 is the oldest. */
	for (uint64_t i = 3; i < 103; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0, "lossy never waits");
	}
	cr_assert_eq(shmring_bcast_try_read(&a, &got), -EOVERFLOW);
	cr_assert_eq(shmring_bcast_lost(&a), 86);
	for (uint64_t i = 87; i < 103; i++) {
		cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
		cr_assert_eq(got.seq, i);
		cr_assert(bmsg_ok(&got));
	}
	cr_assert_eq(shmring_bcast_try_read(&a, &got), -EAGAIN);
	/* Peek, overwritten during use (16 pushes later), release says so. */
	bmsg_make(&m, 103);
	cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	cr_assert_eq(shmring_bcast_peek(&a, &view), 0);
	cr_assert_eq(((const struct bmsg *)view)->seq, 103);
	for (uint64_t i = 104; i < 120; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	}
	cr_assert_eq(shmring_bcast_release(&a), -EOVERFLOW);
	cr_assert_eq(shmring_bcast_lost(&a), 87);
	for (uint64_t i = 104; i < 120; i++) {
		cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
		cr_assert_eq(got.seq, i);
	}
	cr_assert_eq(shmring_bcast_release(&a), -EINVAL, "nothing to release at the newest position");
	cr_assert_eq(shmring_close(&a), 0);
	cr_assert_eq(shmring_close(&p), 0);
}

/* ---- across processes ---- */

/*
 * A reader process: read until `last` (inclusive) or `stop_after`
 * messages, every one in order and intact, none lost. Exit 0 on success,
 * else a code saying what went wrong.
 */
static int reader_run(const char *name, int ready_fd, uint32_t where, uint64_t last, uint64_t stop_after)
{
	struct shmring r;
	struct shmring_open_opts o;
	struct bmsg got;
	struct timespec dl;
	uint64_t n = 0, expect = UINT64_MAX;

	memset(&o, 0, sizeof(o));
	o.type = SHMRING_BROADCAST;
	if (shmring_open(&r, name, SHMRING_CONSUMER, &o) != 0)
		return 10;
	if (where == SHMRING_BCAST_OLDEST && shmring_bcast_seek(&r, where) != 0)
		return 11;
	if (write(ready_fd, "r", 1) != 1)
		return 12;
	deadline_in(&dl, 30000);
	for (;;) {
		int ret = shmring_bcast_read_wait(&r, &got, &dl);

		if (ret != 0)
			return ret == -EOVERFLOW ? 13 : ret == -ETIMEDOUT ? 14 : 15;
		if (!bmsg_ok(&got))
			return 16;
		if (expect != UINT64_MAX && got.seq != expect)
			return 17;
		expect = got.seq + 1;
		n++;
		if (got.seq == last || n == stop_after)
			break;
	}
	if (shmring_bcast_lost(&r) != 0)
		return 18;
	return shmring_close(&r) == 0 ? 0 : 19;
}

static void push_range(struct shmring *p, uint64_t from, uint64_t to)
{
	struct timespec dl;
	struct bmsg m;

	deadline_in(&dl, 30000);
	for (uint64_t i = from; i < to; i++) {
		bmsg_make(&m, i);
		int ret = shmring_bcast_push_wait(p, &m, &dl);

		cr_assert_eq(ret, 0, "push %llu: %d", (unsigned long long)i, ret);
	}
}

/*
 * Lossless: four readers from the start get every message exactly once,
 * in order; a reader that leaves half-way does not stop the producer;
 * readers that join mid-stream (at the newest and at the oldest message)
 * get a gapless tail.
 */
Test(bcast, lossless_readers_join_leave, .timeout = 120)
{
	const char *name = t_name("bcast-lossless");
	enum { N = 20000, FULL = 4 };
	struct shmring p;
	struct shmring_wait_policy wp;
	pid_t kids[FULL + 3];
	int fds[2];
	int k = 0;

	create_bcast(&p, name, 64, 0, 0);
	memset(&wp, 0, sizeof(wp));
	wp.slice_ms = 10; /* a leaver's room is found at the next slice */
	cr_assert_eq(shmring_wait_policy_set(&p, &wp), 0);
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < FULL; i++) {
		kids[k] = t_fork();
		if (kids[k] == 0)
			_exit(reader_run(name, fds[1], SHMRING_BCAST_NEWEST, N - 1, 0));
		k++;
	}
	/* One that leaves after 3000. */
	kids[k] = t_fork();
	if (kids[k] == 0)
		_exit(reader_run(name, fds[1], SHMRING_BCAST_NEWEST, N - 1, 3000));
	k++;
	for (int i = 0; i < FULL + 1; i++)
		cr_assert_eq(wait_byte(fds[0]), 0);
	push_range(&p, 0, N / 2);
	/* Late joiners. */
	kids[k] = t_fork();
	if (kids[k] == 0)
		_exit(reader_run(name, fds[1], SHMRING_BCAST_NEWEST, N - 1, 0));
	k++;
	kids[k] = t_fork();
	if (kids[k] == 0)
		_exit(reader_run(name, fds[1], SHMRING_BCAST_OLDEST, N - 1, 0));
	k++;
	cr_assert_eq(wait_byte(fds[0]), 0);
	cr_assert_eq(wait_byte(fds[0]), 0);
	push_range(&p, N / 2, N);
	for (int i = 0; i < k; i++)
		t_wait_ok(kids[i], "reader");
	cr_assert_eq(evict_block(&p)->evictions, 0, "nobody was evicted");
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* Lossless: a reader SIGKILLed mid-stream is evicted; the producer and
 * the other readers go on. */
Test(bcast, lossless_reader_killed, .timeout = 120)
{
	const char *name = t_name("bcast-kill");
	enum { N = 6000 };
	struct shmring p;
	struct shmring_wait_policy wp;
	pid_t kids[3], victim;
	int fds[2];

	create_bcast(&p, name, 32, 0, 0);
	memset(&wp, 0, sizeof(wp));
	wp.slice_ms = 10;
	cr_assert_eq(shmring_wait_policy_set(&p, &wp), 0);
	cr_assert_eq(pipe(fds), 0);
	for (int i = 0; i < 3; i++) {
		kids[i] = t_fork();
		if (kids[i] == 0)
			_exit(reader_run(name, fds[1], SHMRING_BCAST_NEWEST, N - 1, 0));
	}
	/* The victim reads nothing: it gates the producer until it dies. */
	victim = t_fork();
	if (victim == 0) {
		struct shmring r;

		if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) != 0 || write(fds[1], "v", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	for (int i = 0; i < 4; i++)
		cr_assert_eq(wait_byte(fds[0]), 0);
	push_range(&p, 0, 32);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert_eq(waitpid(victim, NULL, 0), victim);
	push_range(&p, 32, N);
	for (int i = 0; i < 3; i++)
		t_wait_ok(kids[i], "reader");
	cr_assert_eq(evict_block(&p)->evictions, 1);
	cr_assert_eq(shmring_recover(&p), 1, "recovery frees the dead reader's entry");
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/*
 * A reader that reads k messages, tells the parent k, stops itself, and
 * once continued expects -EOVERFLOW with exactly the loss the parent
 * computed (sent after the continue), then the rest in order.
 */
static int stopped_reader(const char *name, int to_parent, int from_parent)
{
	struct shmring r;
	struct bmsg got;
	struct timespec dl;
	uint64_t k = 0, loss, total;
	int ret;

	if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) != 0)
		return 10;
	if (write(to_parent, "r", 1) != 1)
		return 11;
	deadline_in(&dl, 30000);
	while (k < 10) {
		if (shmring_bcast_read_wait(&r, &got, &dl) != 0 || got.seq != k || !bmsg_ok(&got))
			return 12;
		k++;
	}
	put_u64(to_parent, k);
	raise(SIGSTOP);
	if (get_u64(from_parent, &loss) != 0 || get_u64(from_parent, &total) != 0)
		return 13;
	ret = shmring_bcast_read_wait(&r, &got, &dl);
	if (ret != -EOVERFLOW)
		return 14;
	if ((uint64_t)shmring_bcast_lost(&r) != loss)
		return 15;
	/* The rest, from the oldest intact message on, gapless. */
	for (uint64_t want = k + loss; want < total; want++) {
		if (shmring_bcast_read_wait(&r, &got, &dl) != 0)
			return 16;
		if (got.seq != want || !bmsg_ok(&got))
			return 17;
	}
	if (write(to_parent, "d", 1) != 1)
		return 18;
	return shmring_close(&r) == 0 ? 0 : 19;
}

static void stopped_reader_case(uint32_t flags, uint64_t evict_ns)
{
	const char *name = t_name("bcast-stop");
	enum { CAP = 32 };
	struct shmring p;
	struct shmring_wait_policy wp;
	int up[2], down[2], st;
	uint64_t k, total;
	pid_t kid, other = 0;

	create_bcast(&p, name, CAP, flags, evict_ns);
	memset(&wp, 0, sizeof(wp));
	wp.slice_ms = 5;
	cr_assert_eq(shmring_wait_policy_set(&p, &wp), 0);
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	kid = t_fork();
	if (kid == 0)
		_exit(stopped_reader(name, up[1], down[0]));
	cr_assert_eq(wait_byte(up[0]), 0);
	/* Lossless: a second reader that keeps up throughout (a lossy
	 * producer would lap it as well). */
	if (!(flags & SHMRING_F_LOSSY)) {
		other = t_fork();
		if (other == 0)
			_exit(reader_run(name, up[1], SHMRING_BCAST_NEWEST, 10 * CAP - 1, 0));
		cr_assert_eq(wait_byte(up[0]), 0);
	}
	push_range(&p, 0, 10);
	cr_assert_eq(get_u64(up[0], &k), 0);
	cr_assert_eq(waitpid(kid, &st, WUNTRACED), kid);
	cr_assert(WIFSTOPPED(st));
	/* Lossless: the stopped reader gates, then is evicted after
	 * evict_ns; lossy: it is lapped. Either way, the producer goes on. */
	total = 10 * CAP;
	push_range(&p, 10, total);
	if (other)
		t_wait_ok(other, "the reader that kept up");
	/* The producer is idle now: all CAP slots are intact, the oldest is
	 * total - CAP, and the stopped reader (at k) lost what lies between. */
	put_u64(down[1], total - CAP - k);
	put_u64(down[1], total);
	cr_assert_eq(kill(kid, SIGCONT), 0);
	t_wait_ok(kid, "the stopped reader");
	if (!(flags & SHMRING_F_LOSSY))
		cr_assert_eq(evict_block(&p)->evictions, 1, "evicted once, past its deadline");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(bcast, lossless_stopped_reader_evicted, .timeout = 120)
{
	/* Long enough that the reader which keeps up is never taken for
	 * a stopped one on a loaded machine. */
	stopped_reader_case(0, 1000 * 1000000ull);
}

Test(bcast, lossy_stopped_reader_lapped, .timeout = 120)
{
	stopped_reader_case(SHMRING_F_LOSSY, 0);
}

/*
 * Lossy, concurrent: a producer that never waits and a reader that
 * pauses now and then. Every message read is intact, and each
 * -EOVERFLOW's loss is exactly the gap to the next message read.
 */
struct big {
	uint64_t seq;
	uint64_t w[31];
};

Test(bcast, lossy_no_torn_payload, .timeout = 120)
{
	enum { N = 300000 };
	struct shmring p;
	struct shmring_params prm;
	int fds[2];
	pid_t kid;

	shmring_params_init(&prm, SHMRING_BROADCAST, 64, sizeof(struct big));
	prm.flags = SHMRING_F_LOSSY;
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(pipe(fds), 0);
	kid = t_fork();
	if (kid == 0) {
		struct shmring r;
		struct big b;
		uint64_t next = 0, lost = 0, overflows = 0, n = 0;

		if (shmring_dup(&r, &p, SHMRING_CONSUMER) != 0 || write(fds[1], "r", 1) != 1)
			_exit(10);
		while (next < N) {
			int ret = shmring_bcast_try_read(&r, &b);

			if (ret == -EAGAIN)
				continue;
			if (ret == -EOVERFLOW) {
				overflows++;
				continue; /* the next message read shows the gap */
			}
			if (ret != 0)
				_exit(12);
			uint64_t now = (uint64_t)shmring_bcast_lost(&r);

			/* Every loss reported is exactly the gap to this message. */
			if (b.seq != next + (now - lost))
				_exit(13);
			lost = now;
			for (int i = 0; i < 31; i++)
				if (b.w[i] != b.seq * 31 + (uint64_t)i)
					_exit(14);
			next = b.seq + 1;
			if (++n % 1000 == 0)
				usleep(200); /* be lapped now and then */
		}
		if (lost == 0 || overflows == 0)
			_exit(15); /* the test must have lapped the reader */
		_exit(0);
	}
	cr_assert_eq(wait_byte(fds[0]), 0);
	for (uint64_t i = 0; i < N; i++) {
		struct big b;

		b.seq = i;
		for (int j = 0; j < 31; j++)
			b.w[j] = i * 31 + (uint64_t)j;
		cr_assert_eq(shmring_bcast_try_push(&p, &b), 0);
		if (i % 4096 == 0)
			sched_yield();
	}
	t_wait_ok(kid, "lossy reader");
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(shmring_close(&p), 0);
}

/*
 * The readiness fd of ready.h, for a reader: armed on an empty ring, it
 * turns readable when the producer pushes (push_wait wakes the readers'
 * futex word), with both backends.
 */
static void ready_fd_case(uint32_t flags)
{
	const char *name = t_name("bcast-ready");
	struct shmring p, a;
	struct shmring_ready *rd;
	struct bmsg got;

	create_bcast(&p, name, 16, 0, 0);
	cr_assert_eq(shmring_open(&a, name, SHMRING_CONSUMER, NULL), 0);
	cr_assert_eq(shmring_ready_open(&rd, &a, flags), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_arm(rd), 0, "armed on an empty ring");
	struct pollfd pf = { .fd = shmring_ready_fd(rd), .events = POLLIN };

	cr_assert_eq(poll(&pf, 1, 0), 0, "nothing to read yet");
	struct bmsg m;
	struct timespec dl;

	bmsg_make(&m, 0);
	deadline_in(&dl, 10000);
	cr_assert_eq(shmring_bcast_push_wait(&p, &m, &dl), 0);
	cr_assert_eq(poll(&pf, 1, 10000), 1, "readable after the push");
	cr_assert_eq(shmring_ready_disarm(rd), 0);
	cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
	cr_assert_eq(got.seq, 0);
	shmring_ready_close(rd);
	cr_assert_eq(shmring_close(&a), 0);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(bcast, ready_fd_reader_thread, .timeout = 60)
{
	ready_fd_case(SHMRING_READY_F_THREAD);
}

Test(bcast, ready_fd_reader_default, .timeout = 60)
{
	ready_fd_case(0);
}

/*
 * A hostile peer with write access scribbles on the shared state: a
 * reader entry ahead of the producer gates nothing (counted corrupt), a
 * slot word and the producer's position out of all proportion make a
 * reader say -EAGAIN or -EOVERFLOW, never read outside the ring or spin.
 */
Test(bcast, hostile_state, .timeout = 60)
{
	struct shmring p, a, b;
	struct shmring_params prm;
	struct bmsg m, got;
	struct shmring_endpoint *eps;

	shmring_params_init(&prm, SHMRING_BROADCAST, 8, sizeof(struct bmsg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&a, &p, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&b, &p, SHMRING_CONSUMER), 0);
	eps = (struct shmring_endpoint *)(void *)((unsigned char *)p.map + SHMRING_EP_OFF);
	/* b's entry claims a position far past the producer's. */
	b.ep->claim_pos = 1000;
	for (uint64_t i = 0; i < 8; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	}
	cr_assert_eq(shmring_bcast_try_push(&p, &m), -EAGAIN, "a still gates");
	cr_assert_geq(p.ctrl->prod_stats.corrupt, 1, "the impossible position was seen");
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(shmring_bcast_try_read(&a, &got), 0);
	cr_assert_eq(shmring_bcast_try_push(&p, &m), 0, "b's entry gates nothing");
	cr_assert(eps[0].state == SHMRING_EP_ACTIVE);

	/* a's next slot says a later lap, the producer's position says no. */
	SHMRING_ATOMIC(uint64_t) *seq = shmring__slot_seq(&a, a.pos);
	uint64_t keep = *seq;

	*seq = 2 * (a.pos + 800) + 2;
	int ret = shmring_bcast_try_read(&a, &got);

	cr_assert(ret == -EAGAIN || ret == -EOVERFLOW, "%d", ret);
	*seq = keep;
	/* The producer's position a long way off. */
	p.ctrl->prod.pos = a.pos + (1ull << 40);
	ret = shmring_bcast_try_read(&a, &got);
	cr_assert(ret == 0 || ret == -EAGAIN || ret == -EOVERFLOW, "%d", ret);
	const void *view = NULL;

	ret = shmring_bcast_peek(&a, &view);
	cr_assert(ret == 0 || ret == -EAGAIN || ret == -EOVERFLOW, "%d", ret);
	if (ret == 0)
		cr_assert(view >= (const void *)a.data && view < (const void *)(a.data + 8 * a.stride));
	cr_assert_eq(shmring_close(&b), 0);
	cr_assert_eq(shmring_close(&a), 0);
	cr_assert_eq(shmring_close(&p), 0);
}

/* The producer's readiness fd: armed on a lossless ring that a reader
 * holds full, it turns readable when the reader reads (read_wait wakes
 * the producer's futex word). */
Test(bcast, ready_fd_producer, .timeout = 60)
{
	const char *name = t_name("bcast-ready-p");
	struct shmring p, a;
	struct shmring_ready *rd;
	struct bmsg m, got;
	struct timespec dl;

	create_bcast(&p, name, 4, 0, 0);
	cr_assert_eq(shmring_open(&a, name, SHMRING_CONSUMER, NULL), 0);
	for (uint64_t i = 0; i < 4; i++) {
		bmsg_make(&m, i);
		cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	}
	cr_assert_eq(shmring_bcast_try_push(&p, &m), -EAGAIN);
	cr_assert_eq(shmring_ready_open(&rd, &p, SHMRING_READY_F_THREAD), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_arm(rd), 0, "armed on a full ring");
	struct pollfd pf = { .fd = shmring_ready_fd(rd), .events = POLLIN };

	cr_assert_eq(poll(&pf, 1, 0), 0, "no room yet");
	deadline_in(&dl, 10000);
	cr_assert_eq(shmring_bcast_read_wait(&a, &got, &dl), 0);
	cr_assert_eq(poll(&pf, 1, 10000), 1, "readable after the read");
	cr_assert_eq(shmring_ready_disarm(rd), 0);
	bmsg_make(&m, 4);
	cr_assert_eq(shmring_bcast_try_push(&p, &m), 0);
	shmring_ready_close(rd);
	cr_assert_eq(shmring_close(&a), 0);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}
