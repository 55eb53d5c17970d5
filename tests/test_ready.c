/* SPDX-License-Identifier: MIT */
/*
 * Readiness fds (ready.h) across processes, for both ways of making one
 * (io_uring futex wait, helper thread): streams through 1- and 2-slot rings
 * with the consumer in an epoll loop (no lost wakeup: a lost one hangs the
 * test until its timeout, there are no deadlines), 2 producers and 2
 * consumers on an MPMC ring, message rings, 64 rings on one epoll set, a
 * dead peer seen through the fd, an exec'd producer, arm/disarm races,
 * and the waker's side: no system call while nobody is armed.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include <shmring/mpmc.h>
#include <shmring/msg.h>
#include <shmring/ready.h>

#include "common.h"

#ifndef READY_SCALE
#define READY_SCALE 1
#endif

struct tmsg {
	uint64_t producer, seq, check;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t check_of(uint64_t p, uint64_t s)
{
	return mix(p * 0x100000001b3ull ^ s);
}

static uint32_t backend_flags(int thread)
{
	return thread ? SHMRING_READY_F_THREAD : 0;
}

/* Wait for the readiness fd (no deadline: a lost wakeup hangs until the
 * test's timeout), then disarm. */
static void wait_fd(struct shmring_ready *rd)
{
	struct pollfd p = { .fd = shmring_ready_fd(rd), .events = POLLIN };
	int k;

	do
		k = poll(&p, 1, -1);
	while (k < 0 && errno == EINTR);
	cr_assert_eq(k, 1, "poll: %s", strerror(errno));
	cr_assert_eq(shmring_ready_disarm(rd), 0, "disarm: %s", shmring_errdetail());
}

/* ---- SPSC / MPMC streams ---- */

static void produce_spsc(const char *name, uint64_t id, uint64_t n)
{
	struct shmring p;
	struct tmsg m;

	if (shmring_open(&p, name, SHMRING_PRODUCER, NULL))
		_exit(3);
	for (uint64_t i = 0; i < n; i++) {
		m = (struct tmsg){ id, i, check_of(id, i) };
		if (shmring_spsc_push_wait(&p, &m, NULL))
			_exit(4);
	}
	shmring_close(&p);
	_exit(0);
}

static void stream_spsc(int thread, uint64_t capacity)
{
	const char *name = t_name("rdspsc");
	struct shmring c;
	struct shmring_params prm;
	struct shmring_ready *rd;
	uint64_t n = 100000 * READY_SCALE, next = 0, arms = 0;
	struct tmsg m;

	shmring_params_init(&prm, SHMRING_SPSC, capacity, sizeof(struct tmsg));
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_open(&rd, &c, backend_flags(thread)), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_backend(rd), thread ? SHMRING_READY_THREAD : shmring_ready_backend(rd));
	pid_t pid = t_fork();

	if (pid == 0)
		produce_spsc(name, 5, n);
	while (next < n) {
		int ret = shmring_spsc_try_pop(&c, &m);

		if (ret == 0) {
			cr_assert(m.producer == 5 && m.seq == next && m.check == check_of(5, next),
				  "message %llu: got seq %llu", (unsigned long long)next,
				  (unsigned long long)m.seq);
			next++;
			shmring_spsc_wake(&c); /* the producer may wait for room */
			continue;
		}
		cr_assert_eq(ret, -EAGAIN);
		ret = shmring_ready_arm(rd);
		cr_assert(ret >= 0, "arm: %d %s", ret, shmring_errdetail());
		arms++;
		if (ret == 0)
			wait_fd(rd);
	}
	t_wait_ok(pid, "producer");
	cr_assert_gt(arms, 0);
	shmring_ready_close(rd);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_wait.waiters, SHMRING_RELAXED), 0);
	shmring_close(&c);
	shmring_unlink(name);
}

Test(ready, spsc_stream_1slot_uring, .timeout = 120) { stream_spsc(0, 1); }
Test(ready, spsc_stream_1slot_thread, .timeout = 120) { stream_spsc(1, 1); }
Test(ready, spsc_stream_64_uring, .timeout = 120) { stream_spsc(0, 64); }
Test(ready, spsc_stream_64_thread, .timeout = 120) { stream_spsc(1, 64); }

/* 2 producers, 2 consumers on an MPMC ring of 2 slots; both consumers in
 * poll loops. Every message arrives once, per producer in order at each
 * consumer, checksums intact. */
struct mp_result {
	uint64_t count[2][2]; /* [consumer][producer] */
	uint64_t sum[2][2];
	int bad[2];
};

static void mpmc_consume(const char *name, int thread, int ci, uint64_t total, struct mp_result *res,
			 SHMRING_ATOMIC(uint64_t) *taken)
{
	struct shmring c;
	struct shmring_ready *rd;
	uint64_t last[2] = { UINT64_MAX, UINT64_MAX };
	struct tmsg m;

	if (shmring_open(&c, name, SHMRING_CONSUMER, NULL) || shmring_ready_open(&rd, &c, backend_flags(thread)))
		_exit(3);
	while (shmring_atomic_load(taken, SHMRING_ACQUIRE) < total) {
		int ret = shmring_mpmc_try_pop(&c, &m);

		if (ret == 0) {
			shmring_atomic_fetch_add(taken, 1, SHMRING_RELEASE);
			shmring_mpmc_wake(&c);
			if (m.producer > 1 || m.check != check_of(m.producer, m.seq) ||
			    (last[m.producer] != UINT64_MAX && m.seq <= last[m.producer]))
				res->bad[ci]++;
			else {
				last[m.producer] = m.seq;
				res->count[ci][m.producer]++;
				res->sum[ci][m.producer] += m.seq;
			}
			continue;
		}
		if (ret != -EAGAIN)
			_exit(4);
		ret = shmring_ready_arm(rd);
		if (ret < 0)
			_exit(5);
		if (ret == 0) {
			struct pollfd p = { .fd = shmring_ready_fd(rd), .events = POLLIN };

			/* The other consumer may take the last message while we
			 * sleep: wake up now and then to see the total. */
			poll(&p, 1, 50);
			shmring_ready_disarm(rd);
		}
	}
	shmring_ready_close(rd);
	shmring_close(&c);
	_exit(0);
}

static void produce_mpmc(const char *name, uint64_t id, uint64_t n)
{
	struct shmring p;
	struct tmsg m;

	if (shmring_open(&p, name, SHMRING_PRODUCER, NULL))
		_exit(3);
	for (uint64_t i = 0; i < n; i++) {
		m = (struct tmsg){ id, i, check_of(id, i) };
		if (shmring_mpmc_push_wait(&p, &m, NULL))
			_exit(4);
	}
	shmring_close(&p);
	_exit(0);
}

static void mpmc_2p2c(int thread)
{
	const char *name = t_name("rdmpmc");
	struct shmring owner;
	struct shmring_params prm;
	uint64_t n = 20000 * READY_SCALE;
	struct mp_result *res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[4];

	cr_assert(res != MAP_FAILED);
	memset(res, 0, 4096);
	SHMRING_ATOMIC(uint64_t) *taken = (void *)((char *)res + 2048);
	shmring_params_init(&prm, SHMRING_MPMC, 2, sizeof(struct tmsg));
	cr_assert_eq(shmring_create(&owner, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	for (int i = 0; i < 2; i++)
		if ((pids[i] = t_fork()) == 0)
			mpmc_consume(name, thread, i, 2 * n, res, taken);
	for (int i = 0; i < 2; i++)
		if ((pids[2 + i] = t_fork()) == 0)
			produce_mpmc(name, (uint64_t)i, n);
	for (int i = 0; i < 4; i++)
		t_wait_ok(pids[i], i < 2 ? "consumer" : "producer");
	for (int p = 0; p < 2; p++) {
		cr_assert_eq(res->count[0][p] + res->count[1][p], n, "producer %d", p);
		cr_assert_eq(res->sum[0][p] + res->sum[1][p], n * (n - 1) / 2, "producer %d", p);
	}
	cr_assert_eq(res->bad[0] + res->bad[1], 0);
	shmring_close(&owner);
	shmring_unlink(name);
	munmap(res, 4096);
}

Test(ready, mpmc_2p2c_uring, .timeout = 180) { mpmc_2p2c(0); }
Test(ready, mpmc_2p2c_thread, .timeout = 180) { mpmc_2p2c(1); }

/* ---- message ring ---- */

static void msg_stream(int thread)
{
	const char *name = t_name("rdmsg");
	struct shmring c;
	struct shmring_params prm;
	struct shmring_ready *rd;
	uint64_t n = 50000 * READY_SCALE, next = 0;
	unsigned char buf[256];

	shmring_params_init(&prm, SHMRING_MSG_SPSC, 1024, 200);
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_open(&rd, &c, backend_flags(thread)), 0, "%s", shmring_errdetail());
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring p;

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL))
			_exit(3);
		for (uint64_t i = 0; i < n; i++) {
			size_t len = 8 + (size_t)(mix(i) % 180);

			memcpy(buf, &i, 8);
			for (size_t k = 8; k < len; k++)
				buf[k] = (unsigned char)(i + k);
			if (shmring_msg_push_wait(&p, buf, (uint32_t)len, NULL))
				_exit(4);
		}
		shmring_close(&p);
		_exit(0);
	}
	while (next < n) {
		int64_t len = shmring_msg_pop(&c, buf, sizeof(buf));

		if (len > 0) {
			uint64_t seq;

			memcpy(&seq, buf, 8);
			cr_assert_eq(seq, next);
			cr_assert_eq((size_t)len, 8 + (size_t)(mix(seq) % 180));
			for (int64_t k = 8; k < len; k++)
				cr_assert_eq(buf[k], (unsigned char)(seq + (uint64_t)k));
			next++;
			shmring_msg_wake(&c);
			continue;
		}
		cr_assert_eq(len, -EAGAIN, "pop: %lld", (long long)len);
		int ret = shmring_ready_arm(rd);

		cr_assert(ret >= 0, "arm: %d", ret);
		if (ret == 0)
			wait_fd(rd);
	}
	t_wait_ok(pid, "producer");
	shmring_ready_close(rd);
	shmring_close(&c);
	shmring_unlink(name);
}

Test(ready, msg_stream_uring, .timeout = 120) { msg_stream(0); }
Test(ready, msg_stream_thread, .timeout = 120) { msg_stream(1); }

/* ---- 64 rings on one epoll set ---- */

#define NRINGS 64
#define NPROD 4

/* Take what ring i holds and arm it; 1 when its last message came. */
static int serve_ring(struct shmring *c, struct shmring_ready *rd, int i, uint64_t *next, uint64_t n)
{
	struct tmsg m;

	for (;;) {
		while (*next < n && shmring_spsc_try_pop(c, &m) == 0) {
			cr_assert(m.producer == (uint64_t)i && m.seq == *next && m.check == check_of((uint64_t)i, *next));
			(*next)++;
			shmring_spsc_wake(c);
		}
		if (*next == n)
			return 1;
		int ret = shmring_ready_arm(rd);

		cr_assert(ret >= 0);
		if (ret == 0)
			return 0;
	}
}

Test(ready, many_rings_one_epoll, .timeout = 180)
{
	struct shmring c[NRINGS];
	struct shmring_ready *rd[NRINGS];
	char names[NRINGS][96];
	uint64_t next[NRINGS] = { 0 }, n = 2000 * READY_SCALE, done = 0;
	struct shmring_params prm;
	pid_t pids[NPROD];
	int ep = epoll_create1(0);

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct tmsg));
	for (int i = 0; i < NRINGS; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", t_name("rdmany"));
		cr_assert_eq(shmring_create(&c[i], names[i], &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
		/* Half of each kind of fd. */
		cr_assert_eq(shmring_ready_open(&rd[i], &c[i], backend_flags(i & 1)), 0, "%s", shmring_errdetail());
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, shmring_ready_fd(rd[i]), &ev), 0);
	}
	for (int p = 0; p < NPROD; p++) {
		if ((pids[p] = t_fork()) != 0)
			continue;
		struct shmring pr[NRINGS / NPROD];

		for (int k = 0; k < NRINGS / NPROD; k++)
			if (shmring_open(&pr[k], names[p * (NRINGS / NPROD) + k], SHMRING_PRODUCER, NULL))
				_exit(3);
		for (uint64_t i = 0; i < n; i++)
			for (int k = 0; k < NRINGS / NPROD; k++) {
				int id = p * (NRINGS / NPROD) + k;
				struct tmsg m = { (uint64_t)id, i, check_of((uint64_t)id, i) };

				if (shmring_spsc_push_wait(&pr[k], &m, NULL))
					_exit(4);
			}
		_exit(0);
	}
	/* Serve every ring once (which arms it), then whichever turns readable. */
	for (int i = 0; i < NRINGS; i++)
		done += serve_ring(&c[i], rd[i], i, &next[i], n);
	while (done < NRINGS) {
		struct epoll_event evs[16];
		int k = epoll_wait(ep, evs, 16, 20000);

		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0) {
			/* No deadline in the protocol: this only says where it hangs. */
			for (int i = 0; i < NRINGS; i++)
				if (next[i] < n)
					fprintf(stderr, "ring %d: %llu of %llu, backend %d, fill %lld, waiters %u\n", i,
						(unsigned long long)next[i], (unsigned long long)n,
						shmring_ready_backend(rd[i]), (long long)shmring_spsc_count(&c[i]),
						shmring_atomic_load(&c[i].ctrl->cons_wait.waiters, SHMRING_RELAXED));
			cr_assert_fail("nothing readable for 20 s with %llu rings done", (unsigned long long)done);
		}
		cr_assert_gt(k, 0);
		for (int e = 0; e < k; e++) {
			int i = (int)evs[e].data.u32;

			cr_assert_eq(shmring_ready_disarm(rd[i]), 0);
			if (next[i] < n) /* done: readable again when its producer exits */
				done += serve_ring(&c[i], rd[i], i, &next[i], n);
		}
	}
	for (int p = 0; p < NPROD; p++)
		t_wait_ok(pids[p], "producer");
	for (int i = 0; i < NRINGS; i++) {
		shmring_ready_close(rd[i]);
		shmring_close(&c[i]);
		shmring_unlink(names[i]);
	}
	close(ep);
}

/* ---- a dead peer makes the fd readable; the next arm says -EPIPE ---- */

static void dead_peer(int thread, uint32_t type)
{
	const char *name = t_name("rddead");
	struct shmring c;
	struct shmring_params prm;
	struct shmring_ready *rd;
	struct shmring_wait_policy pol = { .slice_ms = SHMRING_WAIT_NO_SLICE };
	int sync[2];
	char x;

	shmring_params_init(&prm, type, 64, 16);
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	/* No periodic liveness check: only the pidfd can tell. (MPMC keeps
	 * its recovery timer, which is the same check.) */
	shmring_wait_policy_set(&c, &pol);
	cr_assert_eq(pipe(sync), 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring p;

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL))
			_exit(3);
		(void)!write(sync[1], "r", 1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(sync[0], &x, 1), 1);
	cr_assert_eq(shmring_ready_open(&rd, &c, backend_flags(thread)), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_arm(rd), 0);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	wait_fd(rd);
	int ret;

	/* A liveness check was forced by the pidfd: -EPIPE now. */
	ret = shmring_ready_arm(rd);
	cr_assert_eq(ret, -EPIPE, "arm after the producer died: %d", ret);
	shmring_ready_close(rd);
	shmring_close(&c);
	shmring_unlink(name);
	close(sync[0]);
	close(sync[1]);
}

Test(ready, dead_peer_spsc_uring, .timeout = 60) { dead_peer(0, SHMRING_SPSC); }
Test(ready, dead_peer_spsc_thread, .timeout = 60) { dead_peer(1, SHMRING_SPSC); }
Test(ready, dead_peer_msg_uring, .timeout = 60) { dead_peer(0, SHMRING_MSG_SPSC); }
Test(ready, dead_peer_mpmc_thread, .timeout = 60) { dead_peer(1, SHMRING_MPMC); }

/* ---- an exec'd, unrelated producer wakes our fd ---- */

Test(ready, exec_producer, .timeout = 120)
{
	const char *helper = getenv("SHMRING_WAIT_HELPER");
	const char *name = t_name("rdexec");
	struct shmring c;
	struct shmring_params prm;
	struct shmring_ready *rd;
	uint64_t n = 300, next = 0;
	struct tmsg m;

	cr_assert(helper, "SHMRING_WAIT_HELPER is not set (run through meson test)");
	shmring_params_init(&prm, SHMRING_SPSC, 8, sizeof(struct tmsg));
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_open(&rd, &c, 0), 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		char num[32];

		snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
		execl(helper, helper, "producer", name, num, (char *)NULL);
		_exit(127);
	}
	while (next < n) {
		if (shmring_spsc_try_pop(&c, &m) == 0) {
			/* wait_helper's messages: producer 7 */
			cr_assert(m.producer == 7 && m.seq == next && m.check == check_of(7, next));
			next++;
			continue;
		}
		int ret = shmring_ready_arm(rd);

		cr_assert(ret >= 0);
		if (ret == 0)
			wait_fd(rd); /* the helper pushes only once we sleep */
	}
	t_wait_ok(pid, "wait_helper producer");
	shmring_ready_close(rd);
	shmring_close(&c);
	shmring_unlink(name);
}

/* ---- arm/disarm races: the loop arms and disarms without waiting while
 * the producer streams; nothing is lost and no count is left behind ---- */

static void arm_disarm_race(int thread)
{
	const char *name = t_name("rdrace");
	struct shmring c;
	struct shmring_params prm;
	struct shmring_ready *rd;
	uint64_t n = 50000 * READY_SCALE, next = 0, i = 0;
	struct tmsg m;

	shmring_params_init(&prm, SHMRING_SPSC, 2, sizeof(struct tmsg));
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_ready_open(&rd, &c, backend_flags(thread)), 0);
	pid_t pid = t_fork();

	if (pid == 0)
		produce_spsc(name, 9, n);
	while (next < n) {
		if (shmring_spsc_try_pop(&c, &m) == 0) {
			cr_assert(m.seq == next && m.check == check_of(9, next));
			next++;
			shmring_spsc_wake(&c);
			continue;
		}
		int ret = shmring_ready_arm(rd);

		cr_assert(ret >= 0);
		if (ret == 0 && (++i % 3))
			cr_assert_eq(shmring_ready_disarm(rd), 0); /* at once, readable or not */
		else if (ret == 0)
			wait_fd(rd);
	}
	t_wait_ok(pid, "producer");
	shmring_ready_close(rd);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_wait.waiters, SHMRING_RELAXED), 0);
	shmring_close(&c);
	shmring_unlink(name);
}

Test(ready, arm_disarm_race_uring, .timeout = 120) { arm_disarm_race(0); }
Test(ready, arm_disarm_race_thread, .timeout = 120) { arm_disarm_race(1); }

/* ---- the waker's side ---- */

/* With the consumer spinning (never armed), a producer's push_wait makes
 * no system call; once the consumer arms, one wake reaches it. */
Test(ready, no_syscall_while_not_armed, .timeout = 60)
{
	const char *name = t_name("rdnosys");
	struct shmring c, p;
	struct shmring_params prm;
	struct shmring_ready *rd;
	struct tmsg m = { 0 };

	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct tmsg));
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0);
	cr_assert_eq(shmring_ready_open(&rd, &c, 0), 0);
	for (int i = 0; i < 100000; i++) {
		cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
		cr_assert_eq(shmring_spsc_try_pop(&c, &m), 0);
	}
	cr_assert_eq(shmring_atomic_load(&c.ctrl->prod_stats.futex_calls, SHMRING_RELAXED), 0);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->prod_stats.wakes, SHMRING_RELAXED), 0);
	cr_assert_eq(shmring_ready_arm(rd), 0);
	cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->prod_stats.wakes, SHMRING_RELAXED), 1);
	wait_fd(rd);
	cr_assert_eq(shmring_spsc_try_pop(&c, &m), 0);
	shmring_ready_close(rd);
	shmring_close(&p);
	shmring_close(&c);
	shmring_unlink(name);
}

/* Bad input changes nothing. */
Test(ready, bad_input)
{
	const char *name = t_name("rdbad");
	struct shmring c, o;
	struct shmring_params prm;
	struct shmring_ready *rd = NULL;

	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_ready_open(NULL, &c, 0), -EINVAL);
	cr_assert_eq(shmring_ready_open(&rd, NULL, 0), -EINVAL);
	cr_assert_eq(shmring_ready_open(&rd, &c, 0x100), -EINVAL);
	cr_assert_eq(shmring_open(&o, name, SHMRING_OBSERVER, NULL), 0);
	cr_assert_eq(shmring_ready_open(&rd, &o, 0), -EBADF);
	cr_assert_null(rd);
	cr_assert_eq(shmring_ready_arm(NULL), -EINVAL);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_wait.waiters, SHMRING_RELAXED), 0);
	shmring_close(&o);
	shmring_close(&c);
	shmring_unlink(name);
}
