/* SPDX-License-Identifier: MIT */
/*
 * shmring-ready-bench: rings waited on from an event loop (ready.h), and
 * what the wake policy costs the waker and the rest of the machine.
 *
 *   1. Round trip between two processes that each wait in epoll_wait:
 *      two SPSC rings through their readiness fds (both backends) against
 *      an eventfd pair and a pipe pair, p50 and p99, same run.
 *   2. Throughput, 8 B messages, the consumer in an epoll loop (a ring:
 *      burst pops until empty, then arm; a pipe: 8-byte reads until
 *      EAGAIN), the producer pushing (writing) one message at a time.
 *   3. The waker's cost with a spinning consumer: ns per push_wait with
 *      the default policy (a fence per wake check) and with
 *      SHMRING_WAIT_F_LIGHT, next to try_push alone; the producer's futex
 *      calls per message (ring counters).
 *   4. Noisy neighbour: a process pinned to the second core streams
 *      through a ring of its own (push then pop, timed) while a pair on
 *      the first core ping-pongs through two rings with futex sleeps, for
 *      each wait policy: the interrupts that core got (the CAL line of
 *      /proc/interrupts) and the streaming process's p99.9.
 *
 * Every message carries its sequence number and is checked; a lost or
 * reordered one fails the case. Each figure is the median of the runs
 * (cases interleaved round-robin), [min - max] beside it.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmring/ready.h>

#include "bench.h"
#include "interrupts.h"

#define MAX_REPS 15
#define MAX_CHILDREN 4

static struct {
	int reps;
	uint64_t rounds;       /* round trips per run */
	double tput_ms;        /* throughput run length */
	uint64_t waker_msgs;   /* messages per waker-cost run */
	double noisy_ms;       /* noisy-neighbour run length per policy */
	int cpu[2];
	const char *csv;
	bool quick;
} O = { .reps = 3, .rounds = 5000, .tput_ms = 200, .waker_msgs = 2000000, .noisy_ms = 1000, .cpu = { -1, -1 } };

/* ------------------------------------------------------------------ */
/* plumbing: children, shared state, names */

/* What a run's children share with the parent (an anonymous shared
 * mapping, so it survives fork). */
struct shared {
	atomic_uint ready, go, stop, failed;
	atomic_ullong t_start, t_end;
	atomic_ullong nsent, nrecv; /* throughput: messages */
	char err[160];
	struct bench_hist hist;     /* round trips (client) or spinner iterations */
};

static struct shared *sh;
static pid_t kids[MAX_CHILDREN];
static int nkids;

static void on_alarm(int sig)
{
	static const char msg[] = "shmring-ready-bench: a run did not finish in time, giving up\n";

	(void)sig;
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void fail(const char *what, int err)
{
	if (atomic_fetch_add(&sh->failed, 1) == 0)
		snprintf(sh->err, sizeof(sh->err), "%s: %s", what, strerror(err < 0 ? -err : err));
	atomic_store(&sh->stop, 1);
	_exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static const char *ring_name(void)
{
	static char buf[64];
	static unsigned n;

	snprintf(buf, sizeof(buf), "/shmring-ready-bench-%d-%u", (int)getpid(), n++);
	return buf;
}

static void reset_shared(void)
{
	memset(sh, 0, offsetof(struct shared, hist));
	memset(&sh->hist, 0, sizeof(sh->hist));
	sh->hist.min = UINT64_MAX;
}

/* Start a child pinned to cpu running fn(arg); it exits 0 unless fn fails. */
static void spawn(int cpu, void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(cpu);
		fn(arg);
		_exit(0);
	}
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	kids[nkids++] = pid;
}

/* Wait for every child; 0 if all exited 0. The first to fail takes the
 * others down (a peer left waiting would wait for ever). */
static int reap(void)
{
	int bad = 0, left = nkids;

	while (left > 0) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		for (int i = 0; i < nkids; i++)
			if (kids[i] == pid) {
				kids[i] = 0;
				left--;
			}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			bad = 1;
			for (int i = 0; i < nkids; i++)
				if (kids[i] > 0)
					kill(kids[i], SIGKILL);
		}
	}
	nkids = 0;
	alarm(0);
	if (bad && !sh->err[0])
		snprintf(sh->err, sizeof(sh->err), "an endpoint process failed");
	return bad ? -1 : 0;
}

/* Children check in; the parent lets them go together. */
static void child_ready(void)
{
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load_explicit(&sh->go, memory_order_acquire))
		bench_pause();
}

static void start(unsigned n)
{
	while (atomic_load(&sh->ready) < n) {
		if (atomic_load(&sh->failed))
			break;
		usleep(100);
	}
	atomic_store(&sh->t_start, bench_now());
	/* Release: the children's acquire load of go sees t_start. */
	atomic_store_explicit(&sh->go, 1, memory_order_release);
}

static void sleep_ms(double ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(fmod(ms, 1000) * 1e6) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static struct shmring_params spsc_params(uint64_t capacity, uint32_t flags)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, capacity, sizeof(uint64_t));
	p.flags = flags;
	return p;
}

static void open_or_fail(struct shmring *r, const char *name, uint32_t role)
{
	int ret = shmring_open(r, name, role, NULL);

	if (ret < 0)
		fail("shmring_open", ret);
}

static void policy_or_fail(struct shmring *r, uint32_t mode, uint32_t flags)
{
	struct shmring_wait_policy p = { .mode = mode, .flags = flags };
	int ret = shmring_wait_policy_set(r, &p);

	if (ret < 0)
		fail("shmring_wait_policy_set", ret);
}

/* An epoll set of our own holding one fd, for reading. */
static int epoll_one(int fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fail("epoll", -errno);
	return ep;
}

static void epoll_wait_one(int ep)
{
	struct epoll_event ev;
	int k;

	do
		k = epoll_wait(ep, &ev, 1, -1);
	while (k < 0 && errno == EINTR);
	if (k != 1)
		fail("epoll_wait", -errno);
}

/* ------------------------------------------------------------------ */
/* statistics */

static double hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)h->count), seen = 0;

	if (!h->count)
		return NAN;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < BH_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < want)
			continue;
		double lo, width;

		if (i < (2u << BH_SUB_BITS)) {
			lo = i;
			width = 1;
		} else {
			unsigned e = (i >> BH_SUB_BITS) - 1;

			lo = (double)((uint64_t)(i - (e << BH_SUB_BITS)) << e);
			width = (double)(1ull << e);
		}
		double v = lo + (width - 1) / 2;

		return v > (double)h->max ? (double)h->max : v < (double)h->min ? (double)h->min : v;
	}
	return (double)h->max;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A figure over the runs: median, min, max. */
struct fig {
	double v[MAX_REPS];
	int n;
	double med, lo, hi;
};

static void fig_add(struct fig *f, double v)
{
	if (f->n < MAX_REPS && !isnan(v))
		f->v[f->n++] = v;
}

static void fig_done(struct fig *f)
{
	double t[MAX_REPS];

	if (!f->n) {
		f->med = f->lo = f->hi = NAN;
		return;
	}
	memcpy(t, f->v, sizeof(double) * (size_t)f->n);
	qsort(t, (size_t)f->n, sizeof(double), cmp_double);
	f->med = f->n % 2 ? t[f->n / 2] : (t[f->n / 2 - 1] + t[f->n / 2]) / 2;
	f->lo = t[0];
	f->hi = t[f->n - 1];
}

/* ------------------------------------------------------------------ */
/* 1. round trip, both processes in epoll_wait */

enum { RT_EVENTFD, RT_PIPE, RT_URING, RT_THREAD, RT_N };

static const char *const rt_names[RT_N] = { "eventfd + epoll", "pipe + epoll", "ring fd, io_uring", "ring fd, thread" };

struct rt_case {
	int kind;
	int fds[2][2];   /* eventfd: [dir][0] only; pipe: [dir][read, write]; dir 0 = client to server */
	char names[2][64]; /* rings: ping (client to server), pong */
	struct fig p50, p99;
	bool failed;
	char err[160];
};

/* Send one message on a kernel object. */
static void fd_send(const struct rt_case *c, int dir, uint64_t i)
{
	if (c->kind == RT_EVENTFD) {
		uint64_t one = 1;

		if (write(c->fds[dir][0], &one, sizeof(one)) != sizeof(one))
			fail("write eventfd", -errno);
	} else {
		char b = (char)i;

		if (write(c->fds[dir][1], &b, 1) != 1)
			fail("write pipe", -errno);
	}
}

/* Wait in epoll_wait for the fd, then read the message and check it. */
static void fd_recv(const struct rt_case *c, int ep, int dir, uint64_t i)
{
	epoll_wait_one(ep);
	if (c->kind == RT_EVENTFD) {
		uint64_t v;

		if (read(c->fds[dir][0], &v, sizeof(v)) != sizeof(v) || v != 1)
			fail("read eventfd", -EPROTO);
	} else {
		char b;

		if (read(c->fds[dir][0], &b, 1) != 1 || b != (char)i)
			fail("read pipe", -EPROTO);
	}
}

/* Take one message from a ring, waiting on its readiness fd in epoll: the
 * protocol of ready.h (take, arm, wait, disarm, take). */
static uint64_t ring_recv(struct shmring *c, struct shmring_ready *rd, int ep)
{
	uint64_t v;

	for (;;) {
		int ret = shmring_spsc_try_pop(c, &v);

		/* No wake for the producer: one message is in flight at a
		 * time, so it never waits for room. */
		if (ret == 0)
			return v;
		if (ret != -EAGAIN)
			fail("try_pop", ret);
		ret = shmring_ready_arm(rd);
		if (ret < 0)
			fail("shmring_ready_arm", ret);
		if (ret == 0) {
			epoll_wait_one(ep);
			if ((ret = shmring_ready_disarm(rd)) < 0)
				fail("shmring_ready_disarm", ret);
		}
	}
}

struct rt_ring_end {
	struct shmring out, in;
	struct shmring_ready *rd;
	int ep;
};

static void rt_ring_open(struct rt_case *c, struct rt_ring_end *e, int client)
{
	int ret;

	open_or_fail(&e->out, c->names[client ? 0 : 1], SHMRING_PRODUCER);
	open_or_fail(&e->in, c->names[client ? 1 : 0], SHMRING_CONSUMER);
	ret = shmring_ready_open(&e->rd, &e->in, c->kind == RT_THREAD ? SHMRING_READY_F_THREAD : 0);
	if (ret < 0)
		fail("shmring_ready_open", ret);
	e->ep = epoll_one(shmring_ready_fd(e->rd));
}

static void rt_server(void *arg)
{
	struct rt_case *c = arg;
	uint64_t n = O.rounds + O.rounds / 10;

	if (c->kind == RT_URING || c->kind == RT_THREAD) {
		struct rt_ring_end e;

		rt_ring_open(c, &e, 0);
		child_ready();
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v = ring_recv(&e.in, e.rd, e.ep);
			int ret;

			if (v != i)
				fail("server: message out of order", -EPROTO);
			if ((ret = shmring_spsc_push_wait(&e.out, &v, NULL)) < 0)
				fail("push_wait", ret);
		}
		shmring_ready_close(e.rd);
		return;
	}
	int ep = epoll_one(c->fds[0][0]);

	child_ready();
	for (uint64_t i = 0; i < n; i++) {
		fd_recv(c, ep, 0, i);
		fd_send(c, 1, i);
	}
}

static void rt_client(void *arg)
{
	struct rt_case *c = arg;
	uint64_t warm = O.rounds / 10, n = O.rounds + warm;
	struct rt_ring_end e;
	int ep = -1;

	if (c->kind == RT_URING || c->kind == RT_THREAD)
		rt_ring_open(c, &e, 1);
	else
		ep = epoll_one(c->fds[1][0]);
	child_ready();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = bench_now();

		if (c->kind == RT_URING || c->kind == RT_THREAD) {
			int ret = shmring_spsc_push_wait(&e.out, &i, NULL);

			if (ret < 0)
				fail("push_wait", ret);
			if (ring_recv(&e.in, e.rd, e.ep) != i)
				fail("client: wrong answer", -EPROTO);
		} else {
			fd_send(c, 0, i);
			fd_recv(c, ep, 1, i);
		}
		if (i >= warm)
			bench_hist_add(&sh->hist, bench_now() - t0);
	}
	if (c->kind == RT_URING || c->kind == RT_THREAD)
		shmring_ready_close(e.rd);
}

static int rt_run(struct rt_case *c)
{
	struct shmring own[2];
	int ret = 0;

	reset_shared();
	if (c->kind == RT_EVENTFD) {
		for (int d = 0; d < 2; d++)
			if ((c->fds[d][0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
				return -errno;
	} else if (c->kind == RT_PIPE) {
		for (int d = 0; d < 2; d++)
			if (pipe2(c->fds[d], O_NONBLOCK | O_CLOEXEC) < 0)
				return -errno;
	} else {
		struct shmring_params prm = spsc_params(8, 0);

		for (int d = 0; d < 2; d++) {
			snprintf(c->names[d], sizeof(c->names[d]), "%s", ring_name());
			if ((ret = shmring_create(&own[d], c->names[d], &prm, SHMRING_ROLE_NONE)) < 0)
				return ret;
		}
	}
	alarm(120);
	spawn(O.cpu[1], rt_server, c);
	spawn(O.cpu[0], rt_client, c);
	start(2);
	ret = reap();
	if (c->kind == RT_EVENTFD || c->kind == RT_PIPE) {
		for (int d = 0; d < 2; d++)
			for (int k = 0; k < (c->kind == RT_PIPE ? 2 : 1); k++)
				close(c->fds[d][k]);
	} else {
		for (int d = 0; d < 2; d++) {
			shmring_close(&own[d]);
			shmring_unlink(c->names[d]);
		}
	}
	if (ret == 0 && sh->hist.count != O.rounds) {
		snprintf(sh->err, sizeof(sh->err), "%llu round trips of %llu", (unsigned long long)sh->hist.count,
			 (unsigned long long)O.rounds);
		ret = -1;
	}
	if (ret < 0)
		return -1;
	fig_add(&c->p50, hist_quantile(&sh->hist, 0.50));
	fig_add(&c->p99, hist_quantile(&sh->hist, 0.99));
	return 0;
}

/* ------------------------------------------------------------------ */
/* 2. throughput, consumer in an epoll loop */

enum { TP_URING, TP_THREAD, TP_PIPE, TP_N };

static const char *const tp_names[TP_N] = { "ring fd, io_uring", "ring fd, thread", "pipe, 8 B reads" };

#define TP_BURST 64
#define TP_END UINT64_MAX

struct tp_case {
	int kind;
	char name[64];
	int pfd[2];
	struct fig rate;
	bool failed;
	char err[160];
};

static void tp_producer(void *arg)
{
	struct tp_case *c = arg;
	struct shmring p;
	uint64_t i = 0, end = TP_END;
	int ret;

	if (c->kind != TP_PIPE)
		open_or_fail(&p, c->name, SHMRING_PRODUCER);
	child_ready();
	for (;; i++) {
		if (!(i & 255) && atomic_load_explicit(&sh->stop, memory_order_relaxed))
			break;
		if (c->kind == TP_PIPE) {
			if (write(c->pfd[1], &i, sizeof(i)) != sizeof(i))
				fail("write pipe", -errno);
		} else if ((ret = shmring_spsc_push_wait(&p, &i, NULL)) < 0) {
			fail("push_wait", ret);
		}
	}
	atomic_store(&sh->nsent, i);
	if (c->kind == TP_PIPE) {
		close(c->pfd[1]); /* the consumer reads end of file */
	} else {
		if ((ret = shmring_spsc_push_wait(&p, &end, NULL)) < 0)
			fail("push_wait", ret);
		shmring_close(&p);
	}
}

static void tp_consumer(void *arg)
{
	struct tp_case *c = arg;
	struct shmring r;
	struct shmring_ready *rd = NULL;
	uint64_t buf[TP_BURST], next = 0;
	int ep, ret;

	if (c->kind == TP_PIPE) {
		close(c->pfd[1]);
		ep = epoll_one(c->pfd[0]);
	} else {
		open_or_fail(&r, c->name, SHMRING_CONSUMER);
		if ((ret = shmring_ready_open(&rd, &r, c->kind == TP_THREAD ? SHMRING_READY_F_THREAD : 0)) < 0)
			fail("shmring_ready_open", ret);
		ep = epoll_one(shmring_ready_fd(rd));
	}
	child_ready();
	for (;;) {
		if (c->kind == TP_PIPE) {
			ssize_t k = read(c->pfd[0], buf, sizeof(buf[0]));

			if (k == sizeof(buf[0])) {
				if (buf[0] != next++)
					fail("pipe: message out of order", -EPROTO);
				continue;
			}
			if (k == 0)
				break; /* end of file: the producer is done */
			if (errno != EAGAIN)
				fail("read pipe", -errno);
			epoll_wait_one(ep);
			continue;
		}
		int64_t k = shmring_spsc_pop_burst(&r, buf, TP_BURST);

		if (k > 0) {
			shmring_spsc_wake(&r); /* the producer may wait for room */
			for (int64_t j = 0; j < k; j++) {
				if (buf[j] == TP_END && j == k - 1)
					goto done;
				if (buf[j] != next++)
					fail("ring: message out of order", -EPROTO);
			}
			continue;
		}
		if (k < 0)
			fail("pop_burst", (int)k);
		ret = shmring_ready_arm(rd);
		if (ret < 0)
			fail("shmring_ready_arm", ret);
		if (ret == 0) {
			epoll_wait_one(ep);
			if ((ret = shmring_ready_disarm(rd)) < 0)
				fail("shmring_ready_disarm", ret);
		}
	}
done:
	atomic_store(&sh->t_end, bench_now());
	atomic_store(&sh->nrecv, next);
	if (rd) {
		shmring_ready_close(rd);
		shmring_close(&r);
	}
}

static int tp_run(struct tp_case *c)
{
	struct shmring own;
	int ret;

	reset_shared();
	if (c->kind == TP_PIPE) {
		if (pipe2(c->pfd, O_CLOEXEC) < 0)
			return -errno;
		/* Non-blocking reads only: the producer's writes block when full. */
		fcntl(c->pfd[0], F_SETFL, O_NONBLOCK);
	} else {
		struct shmring_params prm = spsc_params(4096, 0);

		snprintf(c->name, sizeof(c->name), "%s", ring_name());
		if ((ret = shmring_create(&own, c->name, &prm, SHMRING_ROLE_NONE)) < 0)
			return ret;
	}
	alarm(120);
	spawn(O.cpu[1], tp_consumer, c);
	spawn(O.cpu[0], tp_producer, c);
	if (c->kind == TP_PIPE)
		close(c->pfd[1]);
	start(2);
	sleep_ms(O.tput_ms);
	atomic_store(&sh->stop, 1);
	ret = reap();
	if (c->kind == TP_PIPE) {
		close(c->pfd[0]);
	} else {
		shmring_close(&own);
		shmring_unlink(c->name);
	}
	if (ret == 0 && atomic_load(&sh->nrecv) != atomic_load(&sh->nsent)) {
		snprintf(sh->err, sizeof(sh->err), "%llu messages received of %llu",
			 (unsigned long long)atomic_load(&sh->nrecv), (unsigned long long)atomic_load(&sh->nsent));
		ret = -1;
	}
	if (ret < 0)
		return -1;
	fig_add(&c->rate, (double)atomic_load(&sh->nrecv) * 1e9 /
				  (double)(atomic_load(&sh->t_end) - atomic_load(&sh->t_start)));
	return 0;
}

/* ------------------------------------------------------------------ */
/* 3. the waker's cost, consumer spinning */

enum { WK_TRY, WK_FENCE, WK_LIGHT, WK_N };

static const char *const wk_names[WK_N] = { "try_push (no wake check)", "push_wait, default (fence)",
					    "push_wait, SHMRING_WAIT_F_LIGHT" };

struct wk_case {
	int kind;
	char name[64];
	struct fig ns, calls;
	bool failed;
	char err[160];
};

static void wk_producer(void *arg)
{
	struct wk_case *c = arg;
	struct shmring p;
	int ret;

	open_or_fail(&p, c->name, SHMRING_PRODUCER);
	/* Waits for room spin too: every futex call it makes is a wake. */
	policy_or_fail(&p, SHMRING_WAIT_SPIN, c->kind == WK_LIGHT ? SHMRING_WAIT_F_LIGHT : 0);
	child_ready();
	for (uint64_t i = 0; i < O.waker_msgs; i++) {
		if (c->kind == WK_TRY) {
			while ((ret = shmring_spsc_try_push(&p, &i)) == -EAGAIN)
				bench_pause();
		} else {
			ret = shmring_spsc_push_wait(&p, &i, NULL);
		}
		if (ret < 0)
			fail("push", ret);
	}
	shmring_close(&p);
}

static void wk_consumer(void *arg)
{
	struct wk_case *c = arg;
	struct shmring r;
	uint64_t v;
	int ret;

	open_or_fail(&r, c->name, SHMRING_CONSUMER);
	child_ready();
	/* Spins on try_pop: never armed, never asleep, and no wake check of
	 * its own to slow it down. */
	for (uint64_t i = 0; i < O.waker_msgs; i++) {
		while ((ret = shmring_spsc_try_pop(&r, &v)) == -EAGAIN)
			bench_pause();
		if (ret < 0)
			fail("try_pop", ret);
		if (v != i)
			fail("message out of order", -EPROTO);
	}
	atomic_store(&sh->t_end, bench_now());
	atomic_store(&sh->nrecv, O.waker_msgs);
	shmring_close(&r);
}

static int wk_run(struct wk_case *c)
{
	struct shmring own;
	struct shmring_params prm = spsc_params(4096, SHMRING_F_COUNTERS);
	int ret;

	reset_shared();
	snprintf(c->name, sizeof(c->name), "%s", ring_name());
	if ((ret = shmring_create(&own, c->name, &prm, SHMRING_ROLE_NONE)) < 0)
		return ret;
	alarm(120);
	spawn(O.cpu[1], wk_consumer, c);
	spawn(O.cpu[0], wk_producer, c);
	start(2);
	ret = reap();
	uint64_t calls = atomic_load(&own.ctrl->prod_stats.futex_calls);

	shmring_close(&own);
	shmring_unlink(c->name);
	if (ret < 0)
		return -1;
	fig_add(&c->ns, (double)(atomic_load(&sh->t_end) - atomic_load(&sh->t_start)) / (double)O.waker_msgs);
	fig_add(&c->calls, (double)calls / (double)O.waker_msgs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* 4. noisy neighbour */

enum { NN_DEFAULT, NN_LIGHT, NN_SLEEP, NN_N };

static const char *const nn_names[NN_N] = { "default (fence)", "SHMRING_WAIT_F_LIGHT", "mode SLEEP" };
static const uint32_t nn_mode[NN_N] = { SHMRING_WAIT_SPIN_SLEEP, SHMRING_WAIT_SPIN_SLEEP, SHMRING_WAIT_SLEEP };
static const uint32_t nn_flags[NN_N] = { 0, SHMRING_WAIT_F_LIGHT, 0 };

struct nn_case {
	int kind;
	char names[3][64]; /* ping, pong (the pair), own (the spinner) */
	struct fig irq_s, irq_sleep, sleeps_s, p50, p999, p9999, stalls_s;
	bool failed;
	char err[160];
};


/* The second core: push then pop through its own ring, each iteration
 * timed, until told to stop. */
static void nn_spinner(void *arg)
{
	struct nn_case *c = arg;
	struct shmring p, r;
	uint64_t v, t, i = 0;
	int ret;

	open_or_fail(&p, c->names[2], SHMRING_PRODUCER);
	open_or_fail(&r, c->names[2], SHMRING_CONSUMER);
	policy_or_fail(&p, nn_mode[c->kind], nn_flags[c->kind]);
	policy_or_fail(&r, nn_mode[c->kind], nn_flags[c->kind]);
	/* One round first: its wake setup (and registration, if light) is
	 * made before the pair starts. */
	if ((ret = shmring_spsc_push_wait(&p, &i, NULL)) < 0 || (ret = shmring_spsc_pop_wait(&r, &v, NULL)) < 0)
		fail("spinner", ret);
	child_ready();
	t = bench_now();
	for (i = 1; !atomic_load_explicit(&sh->stop, memory_order_relaxed); i++) {
		if ((ret = shmring_spsc_push_wait(&p, &i, NULL)) < 0 || (ret = shmring_spsc_pop_wait(&r, &v, NULL)) < 0)
			fail("spinner", ret);
		if (v != i)
			fail("spinner: message out of order", -EPROTO);
		uint64_t t2 = bench_now();

		bench_hist_add(&sh->hist, t2 - t);
		t = t2;
	}
	shmring_close(&r);
	shmring_close(&p);
}

/* The first core: one side of a ping-pong that sleeps at each hand-off
 * (both sides share the core). */
static void nn_pair(struct nn_case *c, int first)
{
	struct shmring out, in;
	uint64_t v;
	int ret;

	open_or_fail(&out, c->names[first ? 0 : 1], SHMRING_PRODUCER);
	open_or_fail(&in, c->names[first ? 1 : 0], SHMRING_CONSUMER);
	policy_or_fail(&out, nn_mode[c->kind], nn_flags[c->kind]);
	policy_or_fail(&in, nn_mode[c->kind], nn_flags[c->kind]);
	child_ready();
	for (uint64_t i = 0;; i++) {
		if (first) {
			/* The stop marker ends the other side too. */
			v = atomic_load_explicit(&sh->stop, memory_order_relaxed) ? UINT64_MAX : i;
			if ((ret = shmring_spsc_push_wait(&out, &v, NULL)) < 0)
				fail("pair push", ret);
			if (v == UINT64_MAX)
				break;
		}
		if ((ret = shmring_spsc_pop_wait(&in, &v, NULL)) < 0)
			fail("pair pop", ret);
		if (v == UINT64_MAX && !first) {
			shmring_spsc_push_wait(&out, &v, NULL);
			break;
		}
		if (v != i)
			fail("pair: message out of order", -EPROTO);
		if (!first && (ret = shmring_spsc_push_wait(&out, &v, NULL)) < 0)
			fail("pair push", ret);
	}
	if (first)
		shmring_spsc_pop_wait(&in, &v, NULL); /* the marker back */
	shmring_close(&in);
	shmring_close(&out);
}

static void nn_pair_a(void *arg)
{
	nn_pair(arg, 1);
}

static void nn_pair_b(void *arg)
{
	nn_pair(arg, 0);
}

/* Iterations of the streaming process that took from 1 to 100 us: what an
 * interrupt costs it (a preemption by another process costs more). */
#define NN_STALL_MIN 1000u
#define NN_STALL_MAX 100000u

static uint64_t hist_between(const struct bench_hist *h, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;

	for (unsigned i = bench_hist_index(lo); i < bench_hist_index(hi); i++)
		n += h->b[i];
	return n;
}

static uint64_t ring_sleeps(const struct shmring *r)
{
	return atomic_load(&r->ctrl->prod_stats.sleeps) + atomic_load(&r->ctrl->cons_stats.sleeps);
}

static int nn_run(struct nn_case *c)
{
	struct shmring own[3];
	struct shmring_params prm = spsc_params(8, SHMRING_F_COUNTERS);
	int ret = 0;

	reset_shared();
	for (int i = 0; i < 3; i++) {
		snprintf(c->names[i], sizeof(c->names[i]), "%s", ring_name());
		if ((ret = shmring_create(&own[i], c->names[i], &prm, SHMRING_ROLE_NONE)) < 0)
			return ret;
	}
	alarm(120);
	spawn(O.cpu[1], nn_spinner, c);
	spawn(O.cpu[0], nn_pair_a, c);
	spawn(O.cpu[0], nn_pair_b, c);
	start(3);
	int64_t before = cal_count(O.cpu[1]);
	uint64_t t0 = bench_now(), s0 = ring_sleeps(&own[0]) + ring_sleeps(&own[1]);

	sleep_ms(O.noisy_ms);
	int64_t after = cal_count(O.cpu[1]);
	uint64_t t1 = bench_now(), s1 = ring_sleeps(&own[0]) + ring_sleeps(&own[1]);

	atomic_store(&sh->stop, 1);
	ret = reap();
	for (int i = 0; i < 3; i++) {
		shmring_close(&own[i]);
		shmring_unlink(c->names[i]);
	}
	if (ret < 0)
		return -1;
	double secs = (double)(t1 - t0) / 1e9;

	if (before >= 0 && after >= before) {
		fig_add(&c->irq_s, (double)(after - before) / secs);
		if (s1 > s0)
			fig_add(&c->irq_sleep, (double)(after - before) / (double)(s1 - s0));
	}
	fig_add(&c->sleeps_s, (double)(s1 - s0) / secs);
	fig_add(&c->p50, hist_quantile(&sh->hist, 0.50));
	fig_add(&c->p999, hist_quantile(&sh->hist, 0.999));
	fig_add(&c->p9999, hist_quantile(&sh->hist, 0.9999));
	fig_add(&c->stalls_s, (double)hist_between(&sh->hist, NN_STALL_MIN, NN_STALL_MAX) / secs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* output */

static void fmt_us(char *b, size_t n, const struct fig *f)
{
	if (isnan(f->med))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.1f [%.1f-%.1f]", f->med / 1e3, f->lo / 1e3, f->hi / 1e3);
}

static void target_line(FILE *f, const char *what, const char *measured, double ratio, double want, bool higher)
{
	bool ok = higher ? ratio >= want : ratio <= want;

	fprintf(f, "  %-44s %-42s %s %.2f (target %s %.2f)\n", what, measured,
		isnan(ratio) ? "n/a " : ok ? "MET " : "MISSED", ratio, higher ? ">=" : "<=", want);
}

static void csv_fig(FILE *f, const char *test, const char *subject, const char *metric, const char *unit,
		    const struct fig *x)
{
	if (f)
		fprintf(f, "%s,%s,%s,%s,%.6g,%.6g,%.6g,%d\n", test, subject, metric, unit, x->med, x->lo, x->hi, x->n);
}

static void print_all(struct rt_case *rt, struct tp_case *tp, struct wk_case *wk, struct nn_case *nn,
		      bool nn_ok, FILE *csv)
{
	char a[64], b[64], m[96];

	printf("\nRound trip between two processes, each waiting in epoll_wait (us, median of %d runs of %llu "
	       "round trips [min-max])\n\n%-22s %-22s %-22s %-16s %-16s\n", O.reps, (unsigned long long)O.rounds,
	       "subject", "p50", "p99", "p50, p99 vs eventfd", "p50, p99 vs pipe");
	for (int k = 0; k < RT_N; k++) {
		struct rt_case *c = &rt[k];

		if (c->failed) {
			printf("%-22s FAILED: %s\n", rt_names[k], c->err);
			continue;
		}
		fmt_us(a, sizeof(a), &c->p50);
		fmt_us(b, sizeof(b), &c->p99);
		printf("%-22s %-22s %-22s", rt_names[k], a, b);
		for (int ref = RT_EVENTFD; ref <= RT_PIPE; ref++) {
			if (k <= RT_PIPE || rt[ref].failed) {
				printf(" %-16s", "-");
				continue;
			}
			snprintf(m, sizeof(m), "%.2fx, %.2fx", c->p50.med / rt[ref].p50.med, c->p99.med / rt[ref].p99.med);
			printf(" %-16s", m);
		}
		printf("\n");
		csv_fig(csv, "rtt", rt_names[k], "p50", "ns", &c->p50);
		csv_fig(csv, "rtt", rt_names[k], "p99", "ns", &c->p99);
	}

	printf("\nThroughput, 8 B messages, consumer in an epoll loop (Mmsg/s, median of %d runs of %.0f ms "
	       "[min-max]; ring: burst pops of %d, arm when empty)\n\n", O.reps, O.tput_ms, TP_BURST);
	for (int k = 0; k < TP_N; k++) {
		struct tp_case *c = &tp[k];

		if (c->failed) {
			printf("%-22s FAILED: %s\n", tp_names[k], c->err);
			continue;
		}
		printf("%-22s %8.2f [%.2f-%.2f]", tp_names[k], c->rate.med / 1e6, c->rate.lo / 1e6, c->rate.hi / 1e6);
		if (k != TP_PIPE && !tp[TP_PIPE].failed)
			printf("  %.1fx pipe", c->rate.med / tp[TP_PIPE].rate.med);
		printf("\n");
		csv_fig(csv, "tput", tp_names[k], "msgs", "msg/s", &c->rate);
	}

	printf("\nThe waker's cost, consumer spinning (8 B, %llu messages per run; ns per message, producer futex "
	       "calls per message)\n\n", (unsigned long long)O.waker_msgs);
	for (int k = 0; k < WK_N; k++) {
		struct wk_case *c = &wk[k];

		if (c->failed) {
			printf("%-34s FAILED: %s\n", wk_names[k], c->err);
			continue;
		}
		printf("%-34s %6.1f ns [%.1f-%.1f]  futex calls/msg %.6f\n", wk_names[k], c->ns.med, c->ns.lo, c->ns.hi,
		       c->calls.med);
		csv_fig(csv, "waker", wk_names[k], "ns_per_msg", "ns", &c->ns);
		csv_fig(csv, "waker", wk_names[k], "futex_calls_per_msg", "calls", &c->calls);
	}

	printf("\nNoisy neighbour: a process on CPU %d streams through its own ring (push + pop, timed) while a pair "
	       "on CPU %d\nping-pongs with futex sleeps, all with the policy named: the interrupts CPU %d got (CAL), the "
	       "streaming\nprocess's iteration time and its iterations of 1-100 us per second (median of %d runs of "
	       "%.0f ms)\n\n", O.cpu[1], O.cpu[0], O.cpu[1], O.reps, O.noisy_ms);
	if (!nn_ok)
		printf("(interrupt counts not available: no CAL line for CPU %d in /proc/interrupts)\n", O.cpu[1]);
	printf("%-22s %13s %14s %13s %8s %9s %10s %14s\n", "policy", "interrupts/s", "per pair sleep", "pair sleeps/s",
	       "p50 ns", "p99.9 ns", "p99.99 ns", "1-100 us /s");
	for (int k = 0; k < NN_N; k++) {
		struct nn_case *c = &nn[k];

		if (c->failed) {
			printf("%-22s FAILED: %s\n", nn_names[k], c->err);
			continue;
		}
		printf("%-22s %13.0f %14.3f %13.0f %8.0f %9.0f %10.0f %14.0f\n", nn_names[k], c->irq_s.med,
		       c->irq_sleep.med, c->sleeps_s.med, c->p50.med, c->p999.med, c->p9999.med, c->stalls_s.med);
		csv_fig(csv, "noisy", nn_names[k], "interrupts_per_s", "1/s", &c->irq_s);
		csv_fig(csv, "noisy", nn_names[k], "interrupts_per_sleep", "ratio", &c->irq_sleep);
		csv_fig(csv, "noisy", nn_names[k], "pair_sleeps_per_s", "1/s", &c->sleeps_s);
		csv_fig(csv, "noisy", nn_names[k], "spinner_p50", "ns", &c->p50);
		csv_fig(csv, "noisy", nn_names[k], "spinner_p999", "ns", &c->p999);
		csv_fig(csv, "noisy", nn_names[k], "spinner_p9999", "ns", &c->p9999);
		csv_fig(csv, "noisy", nn_names[k], "spinner_stalls_per_s", "1/s", &c->stalls_s);
	}

	printf("\nTargets (medians of this run)\n");
	for (int k = RT_URING; k <= RT_THREAD; k++) {
		static const double want[2] = { 1.1, 1.0 };
		const char *be = k == RT_URING ? "io_uring" : "thread";

		if (rt[k].failed)
			continue;
		for (int ref = RT_EVENTFD; ref <= RT_PIPE; ref++) {
			if (rt[ref].failed)
				continue;
			for (int q = 0; q < 2; q++) {
				const struct fig *x = q ? &rt[k].p99 : &rt[k].p50, *y = q ? &rt[ref].p99 : &rt[ref].p50;
				char what[64];

				snprintf(what, sizeof(what), "ring fd (%s) round trip %s vs %s", be, q ? "p99" : "p50",
					 ref == RT_EVENTFD ? "eventfd" : "pipe");
				snprintf(m, sizeof(m), "%.1f vs %.1f us", x->med / 1e3, y->med / 1e3);
				target_line(stdout, what, m, x->med / y->med, want[ref], false);
			}
		}
	}
	for (int k = TP_URING; k <= TP_THREAD; k++) {
		char what[64];

		if (tp[k].failed || tp[TP_PIPE].failed)
			continue;
		snprintf(what, sizeof(what), "8 B into epoll, ring fd (%s) vs pipe",
			 k == TP_URING ? "io_uring" : "thread");
		snprintf(m, sizeof(m), "%.2f vs %.2f Mmsg/s", tp[k].rate.med / 1e6, tp[TP_PIPE].rate.med / 1e6);
		target_line(stdout, what, m, tp[k].rate.med / tp[TP_PIPE].rate.med, 10, true);
	}
	if (!wk[WK_FENCE].failed) {
		snprintf(m, sizeof(m), "%.6f calls/msg, %.1f ns/msg", wk[WK_FENCE].calls.med, wk[WK_FENCE].ns.med);
		target_line(stdout, "producer futex calls, consumer spinning", m, wk[WK_FENCE].calls.med, 0, false);
	}
	if (nn_ok && !nn[NN_DEFAULT].failed) {
		snprintf(m, sizeof(m), "%.0f/s on CPU %d, %.0f sleeps/s on %d", nn[NN_DEFAULT].irq_s.med, O.cpu[1],
			 nn[NN_DEFAULT].sleeps_s.med, O.cpu[0]);
		target_line(stdout, "default policy: interrupts per remote sleep", m, nn[NN_DEFAULT].irq_sleep.med,
			    0.05, false);
	}
}

/* ------------------------------------------------------------------ */
/* main */

static void usage(FILE *f)
{
	fprintf(f, "usage: shmring-ready-bench [-q] [-r REPS] [-n ROUNDS] [--cpus A,B] [--csv FILE]\n"
		   "Rings waited on from epoll (readiness fds) against eventfd and pipes, the waker's cost\n"
		   "per wait policy, and the interrupts each policy sends to another core.\n\n"
		   "  -q, --quick      short runs (a smoke test)\n"
		   "  -r, --reps N     runs of each case (default 3)\n"
		   "  -n, --rounds N   round trips per latency run (default 10000)\n"
		   "      --cpus A,B   the two cores (default: the first two this process may use);\n"
		   "                   the noisy neighbour streams on B, its pair sleeps on A\n"
		   "      --csv FILE   also write the figures as CSV\n");
}

static void default_cpus(void)
{
	cpu_set_t set;
	int n = 0;

	if (O.cpu[0] >= 0)
		return;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			O.cpu[n++] = i;
	if (n < 2)
		O.cpu[1] = O.cpu[0];
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, 0, 'q' },  { "reps", required_argument, 0, 'r' },
		{ "rounds", required_argument, 0, 'n' }, { "cpus", required_argument, 0, 'c' },
		{ "csv", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	static struct rt_case rt[RT_N];
	static struct tp_case tp[TP_N];
	static struct wk_case wk[WK_N];
	static struct nn_case nn[NN_N];
	bool reps_given = false, rounds_given = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "qr:n:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'q':
			O.quick = true;
			break;
		case 'r':
			O.reps = atoi(optarg);
			reps_given = true;
			if (O.reps < 1 || O.reps > MAX_REPS) {
				fprintf(stderr, "shmring-ready-bench: reps must be 1..%d\n", MAX_REPS);
				return 2;
			}
			break;
		case 'n':
			O.rounds = strtoull(optarg, NULL, 10);
			rounds_given = true;
			if (O.rounds < 100) {
				fprintf(stderr, "shmring-ready-bench: at least 100 round trips\n");
				return 2;
			}
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &O.cpu[0], &O.cpu[1]) != 2 || O.cpu[0] < 0 || O.cpu[1] < 0) {
				fprintf(stderr, "shmring-ready-bench: --cpus wants A,B\n");
				return 2;
			}
			break;
		case 'o':
			O.csv = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (O.quick) {
		if (!reps_given)
			O.reps = 1;
		if (!rounds_given)
			O.rounds = 1000;
		O.tput_ms = 20;
		O.waker_msgs = 100000;
		O.noisy_ms = 100;
	}
	default_cpus();
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	bool nn_ok = O.cpu[0] != O.cpu[1] && cal_count(O.cpu[1]) >= 0;
	uint64_t t0 = bench_now();

	fprintf(stderr, "shmring-ready-bench: %d runs per case, cores %d and %d\n", O.reps, O.cpu[0], O.cpu[1]);
	for (int k = 0; k < RT_N; k++)
		rt[k].kind = k;
	for (int k = 0; k < TP_N; k++)
		tp[k].kind = k;
	for (int k = 0; k < WK_N; k++)
		wk[k].kind = k;
	for (int k = 0; k < NN_N; k++)
		nn[k].kind = k;
	/* Round-robin over the cases in each repetition: drift of the
	 * machine hits them all alike. */
	for (int rep = 0; rep < O.reps; rep++) {
#define RUN(arr, n, fn)                                                              \
	for (int k = 0; k < (n); k++)                                                \
		if (!arr[k].failed && fn(&arr[k]) < 0) {                             \
			arr[k].failed = true;                                        \
			snprintf(arr[k].err, sizeof(arr[k].err), "%s", sh->err[0] ? sh->err : "setup failed"); \
		}
		RUN(rt, RT_N, rt_run)
		RUN(tp, TP_N, tp_run)
		RUN(wk, WK_N, wk_run)
		RUN(nn, NN_N, nn_run)
#undef RUN
		fprintf(stderr, "shmring-ready-bench: run %d of %d done, %.1f s\n", rep + 1, O.reps,
			(double)(bench_now() - t0) / 1e9);
	}
	for (int k = 0; k < RT_N; k++) {
		fig_done(&rt[k].p50);
		fig_done(&rt[k].p99);
	}
	for (int k = 0; k < TP_N; k++)
		fig_done(&tp[k].rate);
	for (int k = 0; k < WK_N; k++) {
		fig_done(&wk[k].ns);
		fig_done(&wk[k].calls);
	}
	for (int k = 0; k < NN_N; k++) {
		fig_done(&nn[k].irq_s);
		fig_done(&nn[k].irq_sleep);
		fig_done(&nn[k].sleeps_s);
		fig_done(&nn[k].p50);
		fig_done(&nn[k].p999);
		fig_done(&nn[k].p9999);
		fig_done(&nn[k].stalls_s);
	}
	FILE *csv = NULL;

	if (O.csv) {
		csv = fopen(O.csv, "w");
		if (!csv) {
			fprintf(stderr, "shmring-ready-bench: %s: %s\n", O.csv, strerror(errno));
			return 1;
		}
		fprintf(csv, "test,subject,metric,unit,median,min,max,runs\n");
	}
	print_all(rt, tp, wk, nn, nn_ok, csv);
	if (csv)
		fclose(csv);
	int failed = 0;

	for (int k = 0; k < RT_N; k++)
		failed += rt[k].failed;
	for (int k = 0; k < TP_N; k++)
		failed += tp[k].failed;
	for (int k = 0; k < WK_N; k++)
		failed += wk[k].failed;
	for (int k = 0; k < NN_N; k++)
		failed += nn[k].failed;
	if (failed)
		fprintf(stderr, "shmring-ready-bench: %d case(s) failed\n", failed);
	return failed ? 1 : 0;
}
