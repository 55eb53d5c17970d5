/* SPDX-License-Identifier: MIT */
/*
 * Fault regressions of the blocking waits and of the fast paths' handle
 * checks, across real processes:
 *
 *  - a loop of waits with deadlines shorter than the liveness slice still
 *    ends with -EPIPE when the peer is dead (every ring kind, both sides),
 *    and still runs MPMC automatic recovery;
 *  - a waiter learns that its peer died when a third process ran
 *    shmring_recover() (and freed the dead entry) before it looked;
 *  - every operation on a handle of the wrong role or ring kind, or on a
 *    closed one, returns -EBADF and leaves the ring's positions alone;
 *  - a handle inherited over fork() is refused in the child, so a child
 *    that keeps pushing after its parent exited loses nothing silently.
 *
 * Nothing is timed: loops count calls and bound them; blocking steps have
 * a Criterion timeout.
 */
#include <sys/mman.h>
#include <sys/uio.h>

static void t_fault_hook(int point);
#define SHMRING_FAULT_HOOK(point) t_fault_hook(point)

#include "wait_common.h"

static int fault_point;

static void t_fault_hook(int point)
{
	if (point == fault_point) {
		kill(getpid(), SIGKILL);
		for (;;)
			pause();
	}
}

/* ---- the four ring kinds behind one interface ---- */

struct kind {
	uint32_t type;
	uint32_t slot;
	uint64_t cap;
	const char *tag;
};

static const struct kind kinds[] = {
	{ SHMRING_SPSC, sizeof(struct t_msg), 16, "spsc" },
	{ SHMRING_MPMC, sizeof(struct t_msg), 16, "mpmc" },
	{ SHMRING_MSG_SPSC, 64, 1024, "msgs" },
	{ SHMRING_MSG_MPSC, 64, 1024, "msgm" },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void k_create(struct shmring *r, const struct kind *k, const char *name, uint32_t role)
{
	struct shmring_params p;

	shmring_params_init(&p, k->type, k->cap, k->slot);
	cr_assert_eq(shmring_create(r, name, &p, role), 0, "create %s: %s", k->tag, shmring_errdetail());
}

static int k_try_push(struct shmring *r, uint64_t producer, uint64_t seq)
{
	struct t_msg m;

	t_msg_make(&m, producer, seq);
	switch (r->type) {
	case SHMRING_SPSC:
		return shmring_spsc_try_push(r, &m);
	case SHMRING_MPMC:
		return shmring_mpmc_try_push(r, &m);
	default:
		return shmring_msg_push(r, &m, sizeof(m));
	}
}

static int k_push_wait(struct shmring *r, uint64_t producer, uint64_t seq,
		       const struct timespec *dl)
{
	struct t_msg m;

	t_msg_make(&m, producer, seq);
	switch (r->type) {
	case SHMRING_SPSC:
		return shmring_spsc_push_wait(r, &m, dl);
	case SHMRING_MPMC:
		return shmring_mpmc_push_wait(r, &m, dl);
	default:
		return shmring_msg_push_wait(r, &m, sizeof(m), dl);
	}
}

static int k_pop_wait(struct shmring *r, struct t_msg *m, const struct timespec *dl)
{
	int ret;

	switch (r->type) {
	case SHMRING_SPSC:
		return shmring_spsc_pop_wait(r, m, dl);
	case SHMRING_MPMC:
		return shmring_mpmc_pop_wait(r, m, dl);
	default:
		ret = shmring_msg_pop_wait(r, m, sizeof(*m), dl);
		return ret < 0 ? ret : ret == (int)sizeof(*m) ? 0 : -EPROTO;
	}
}

static int k_try_pop(struct shmring *r, struct t_msg *m)
{
	int ret;

	switch (r->type) {
	case SHMRING_SPSC:
		return shmring_spsc_try_pop(r, m);
	case SHMRING_MPMC:
		return shmring_mpmc_try_pop(r, m);
	default:
		ret = shmring_msg_pop(r, m, sizeof(*m));
		return ret < 0 ? ret : ret == (int)sizeof(*m) ? 0 : -EPROTO;
	}
}

static void *shared_area(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert(p != MAP_FAILED);
	memset(p, 0, n);
	return p;
}

static void wait_killed(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x", st);
}

/*
 * Calls of a 1 ms wait allowed before the liveness check must have run:
 * two slices' worth of them plus slack (each call lasts at least 1 ms).
 */
#define SHORT_CALLS ((int)SHMRING_WAIT_SLICE_MS_DEFAULT * 2 + 10)

/* ---- short deadlines: liveness is still checked ---- */

/*
 * The producer sends two messages; the consumer takes them with 1 ms
 * waits and waits once more while the producer lives (so its handle has
 * just checked liveness); then the producer is SIGKILLed, and the loop of
 * 1 ms waits must see -EPIPE within a bounded number of calls.
 */
static void short_waits_consumer(const struct kind *k)
{
	const char *name = t_name(k->tag);
	char keep[96];
	struct shmring c;
	struct t_msg m;
	int ret = -ETIMEDOUT, got = 0, calls = 0;

	snprintf(keep, sizeof(keep), "%s", name);
	k_create(&c, k, keep, SHMRING_CONSUMER);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring p;

		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		for (uint64_t i = 0; i < 2; i++)
			if (k_try_push(&p, 1, i) != 0)
				_exit(3);
		for (;;)
			pause();
	}
	for (int i = 0; i < 3; i++) {
		struct timespec dl;

		shmring_deadline_after(&dl, 1000000);
		ret = k_pop_wait(&c, &m, i < 2 ? NULL : &dl);
		cr_assert_eq(ret, i < 2 ? 0 : -ETIMEDOUT, "%s: wait %d: %d", k->tag, i, ret);
		if (i < 2)
			cr_assert(t_msg_ok(&m) && m.producer == 1 && m.seq == (uint64_t)i);
	}
	got = 2;
	cr_assert_eq(kill(pid, SIGKILL), 0);
	wait_killed(pid);
	while (calls < SHORT_CALLS) {
		struct timespec dl;

		shmring_deadline_after(&dl, 1000000);
		ret = k_pop_wait(&c, &m, &dl);
		calls++;
		if (ret == 0) {
			cr_assert(t_msg_ok(&m) && m.producer == 1 && m.seq == (uint64_t)got);
			got++;
		} else if (ret != -ETIMEDOUT) {
			break;
		}
	}
	cr_assert_eq(got, 2, "%s: %d messages", k->tag, got);
	cr_assert_eq(ret, -EPIPE, "%s: %d calls of 1 ms, last %d", k->tag, calls, ret);
	shmring_close(&c);
	shmring_unlink(keep);
}

/* The same for a producer waiting for room: the consumer died. */
static void short_waits_producer(const struct kind *k)
{
	const char *name = t_name(k->tag);
	char keep[96];
	struct shmring p;
	int ret = -ETIMEDOUT, calls = 0;
	uint64_t seq = 0;
	int *attached = shared_area(sizeof(int));

	snprintf(keep, sizeof(keep), "%s", name);
	k_create(&p, k, keep, SHMRING_PRODUCER);
	while (k_try_push(&p, 1, seq) == 0)
		seq++;
	cr_assert_gt(seq, 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring c;

		if (shmring_open(&c, keep, SHMRING_CONSUMER, NULL) < 0)
			_exit(2);
		__atomic_store_n(attached, 1, __ATOMIC_SEQ_CST);
		for (;;)
			pause();
	}
	while (!__atomic_load_n(attached, __ATOMIC_SEQ_CST))
		usleep(1000);
	/* One wait while the consumer lives: the handle has just checked. */
	struct timespec dl0;

	shmring_deadline_after(&dl0, 1000000);
	cr_assert_eq(k_push_wait(&p, 1, seq, &dl0), -ETIMEDOUT, "%s", k->tag);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	wait_killed(pid);
	while (calls < SHORT_CALLS) {
		struct timespec dl;

		shmring_deadline_after(&dl, 1000000);
		ret = k_push_wait(&p, 1, seq, &dl);
		calls++;
		cr_assert_neq(ret, 0, "%s: pushed into a full ring nobody reads", k->tag);
		if (ret != -ETIMEDOUT)
			break;
	}
	cr_assert_eq(ret, -EPIPE, "%s: %d calls of 1 ms, last %d", k->tag, calls, ret);
	shmring_close(&p);
	shmring_unlink(keep);
	munmap(attached, sizeof(int));
}

Test(fault_wait, short_deadlines_consumer_epipe, .timeout = 60)
{
	for (size_t i = 0; i < NKINDS; i++)
		short_waits_consumer(&kinds[i]);
}

Test(fault_wait, short_deadlines_producer_epipe, .timeout = 60)
{
	for (size_t i = 0; i < NKINDS; i++)
		short_waits_producer(&kinds[i]);
}

/*
 * MPMC: a producer dies holding a claimed slot; the surviving producer
 * (this process) pushes a message behind it. The consumer's loop of 1 ms
 * pop_waits must run the automatic recovery, skip the dead slot and get
 * the message, within a bounded number of calls.
 */
Test(fault_wait, short_deadlines_mpmc_autorecover, .timeout = 60)
{
	const char *name = t_name("mpmcar");
	char keep[96];
	struct shmring c, p;
	struct t_msg m;
	int ret = -ETIMEDOUT, calls = 0;

	snprintf(keep, sizeof(keep), "%s", name);
	k_create(&c, &kinds[1], keep, SHMRING_CONSUMER);
	cr_assert_eq(shmring_dup(&p, &c, SHMRING_PRODUCER), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring v;

		if (shmring_open(&v, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		fault_point = SHMRING_FAULT_PROD_CLAIMED;
		k_try_push(&v, 9, 0);
		_exit(3);
	}
	wait_killed(pid);
	cr_assert_eq(k_try_push(&p, 1, 0), 0);
	while (calls < SHORT_CALLS) {
		struct timespec dl;

		shmring_deadline_after(&dl, 1000000);
		ret = k_pop_wait(&c, &m, &dl);
		calls++;
		if (ret != -ETIMEDOUT)
			break;
	}
	cr_assert_eq(ret, 0, "%d calls of 1 ms, last %d", calls, ret);
	cr_assert(t_msg_ok(&m) && m.producer == 1 && m.seq == 0);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_stats.skipped, SHMRING_RELAXED), 1);
	shmring_close(&p);
	shmring_close(&c);
	shmring_unlink(keep);
}

/* ---- a third process recovers before the waiter looks ---- */

struct third_shared {
	int first;     /* the consumer's first wait result */
	int epipe;     /* 1 once it returned */
	int got;       /* messages of the new producer received in order */
	int bad;       /* anything else */
};

#define NEW_MSGS 10

static void third_consumer(const char *name, struct third_shared *sh)
{
	struct shmring c;
	struct t_msg m;
	int ret;

	if (shmring_open(&c, name, SHMRING_CONSUMER, NULL) < 0)
		_exit(2);
	ret = k_pop_wait(&c, &m, NULL);
	__atomic_store_n(&sh->first, ret, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sh->epipe, 1, __ATOMIC_SEQ_CST);
	if (ret != -EPIPE)
		_exit(5);
	for (int i = 0; i < NEW_MSGS; i++) {
		ret = k_pop_wait(&c, &m, NULL);
		if (ret != 0 || !t_msg_ok(&m) || m.producer != 7 || m.seq != (uint64_t)i) {
			sh->bad++;
			_exit(6);
		}
		sh->got++;
	}
	shmring_close(&c);
	_exit(0);
}

static void third_round(const struct kind *k)
{
	const char *name = t_name(k->tag);
	char keep[96];
	struct shmring ring;
	struct third_shared *sh = shared_area(sizeof(*sh));
	int seen = 0;

	snprintf(keep, sizeof(keep), "%s", name);
	k_create(&ring, k, keep, SHMRING_ROLE_NONE);
	pid_t cons = t_fork();

	cr_assert(cons >= 0);
	if (cons == 0)
		third_consumer(keep, sh);
	cr_assert(tw_until_sleeping(&ring.ctrl->cons_wait, cons, 5000), "%s: consumer asleep", k->tag);
	/* Stopped while the producer dies and is recovered: whatever its
	 * slices, it cannot look before the dead entry is freed. */
	cr_assert_eq(kill(cons, SIGSTOP), 0);
	pid_t prod = t_fork();

	cr_assert(prod >= 0);
	if (prod == 0) {
		struct shmring p;

		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		raise(SIGKILL);
		_exit(4);
	}
	wait_killed(prod);
	cr_assert_eq(shmring_recover(&ring), 1, "%s: recover: %s", k->tag, shmring_errdetail());
	cr_assert_eq(kill(cons, SIGCONT), 0);
	for (int i = 0; i < 10000 && !seen; i++) {
		seen = __atomic_load_n(&sh->epipe, __ATOMIC_SEQ_CST);
		if (!seen)
			usleep(1000);
	}
	cr_assert(seen, "%s: the waiter never learned that its producer died", k->tag);
	cr_assert_eq(sh->first, -EPIPE, "%s: first wait %d", k->tag, sh->first);
	pid_t np = t_fork();

	cr_assert(np >= 0);
	if (np == 0) {
		struct shmring p;

		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		for (uint64_t i = 0; i < NEW_MSGS; i++)
			if (k_push_wait(&p, 7, i, NULL) != 0)
				_exit(3);
		shmring_close(&p);
		_exit(0);
	}
	t_wait_ok(np, "new producer");
	t_wait_ok(cons, "consumer");
	cr_assert_eq(sh->got, NEW_MSGS);
	cr_assert_eq(sh->bad, 0);
	shmring_close(&ring);
	shmring_unlink(keep);
	munmap(sh, sizeof(*sh));
}

/* Every ring kind whose recovery any process may run (an MPSC message
 * ring's runs in its consumer only). */
Test(fault_wait, recovered_by_third_process_epipe, .timeout = 120)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (kinds[i].type != SHMRING_MSG_MPSC)
			third_round(&kinds[i]);
}

/* ---- handles inherited over fork() ---- */

struct fork_shared {
	int a_pushed;   /* messages the registering producer pushed */
	int go;         /* the grandchild may push now */
	int done;       /* the grandchild finished */
	int accepted;   /* pushes the inherited handle accepted */
	int refused;    /* pushes it refused with -EBADF */
	int other;      /* any other result */
};

#define A_MSGS 5
#define B_MSGS 10
#define P2_MSGS 10

/*
 * A registers as the producer and pushes, forks B and exits. A new
 * producer P2 attaches (A is dead) and pushes. Then B pushes with the
 * handle it inherited from A: refused (or, were it accepted, the consumer
 * must see it). The consumer sees every message anyone was told was sent.
 */
Test(fault_wait, fork_inherited_producer_refused, .timeout = 60)
{
	const char *name = t_name("forkinh");
	char keep[96];
	struct shmring c;
	struct fork_shared *sh = shared_area(sizeof(*sh));
	uint64_t next[3] = { 0 };
	struct t_msg m;
	int ret;

	snprintf(keep, sizeof(keep), "%s", name);
	k_create(&c, &kinds[0], keep, SHMRING_CONSUMER);
	/* capacity 16 holds everything: nobody waits for room */
	pid_t a = t_fork();

	cr_assert(a >= 0);
	if (a == 0) {
		struct shmring p;

		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		for (uint64_t i = 0; i < A_MSGS; i++)
			if (k_try_push(&p, 0, i) != 0)
				_exit(3);
		sh->a_pushed = A_MSGS;
		pid_t b = fork(); /* outlives A: no parent-death signal */

		if (b < 0)
			_exit(4);
		if (b == 0) {
			/* Bounded: ends by itself if the test went away. */
			for (int i = 0; i < 20000 && !__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST); i++)
				usleep(1000);
			for (uint64_t i = 0; i < B_MSGS; i++) {
				ret = k_try_push(&p, 1, (uint64_t)sh->accepted);
				if (ret == 0)
					sh->accepted++;
				else if (ret == -EBADF)
					sh->refused++;
				else
					sh->other++;
			}
			__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
			_exit(0);
		}
		_exit(0); /* A exits without closing: its entry stays, dead */
	}
	t_wait_ok(a, "registering producer");
	pid_t p2 = t_fork();

	cr_assert(p2 >= 0);
	if (p2 == 0) {
		struct shmring p;

		if (shmring_open(&p, keep, SHMRING_PRODUCER, NULL) < 0)
			_exit(2);
		for (uint64_t i = 0; i < P2_MSGS; i++)
			if (k_try_push(&p, 2, i) != 0)
				_exit(3);
		shmring_close(&p);
		_exit(0);
	}
	t_wait_ok(p2, "new producer");
	__atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 20000 && !__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	cr_assert(sh->done, "the grandchild did not finish");
	cr_assert_eq(sh->other, 0);
	while ((ret = k_try_pop(&c, &m)) == 0) {
		cr_assert(t_msg_ok(&m) && m.producer < 3, "torn or foreign message");
		cr_assert_eq(m.seq, next[m.producer], "producer %llu: seq %llu, expected %llu",
			     (unsigned long long)m.producer, (unsigned long long)m.seq,
			     (unsigned long long)next[m.producer]);
		next[m.producer]++;
	}
	cr_assert_eq(ret, -EAGAIN);
	cr_assert_eq(next[0], A_MSGS);
	cr_assert_eq(next[2], P2_MSGS, "the new producer's messages: %llu of %d",
		     (unsigned long long)next[2], P2_MSGS);
	cr_assert_eq(next[1], (uint64_t)sh->accepted, "inherited handle: %d accepted, %llu arrived",
		     sh->accepted, (unsigned long long)next[1]);
	cr_assert_eq(sh->accepted, 0, "the inherited handle pushed into a ring another producer owns");
	cr_assert_eq(sh->refused, B_MSGS);
	shmring_close(&c);
	shmring_unlink(keep);
	munmap(sh, sizeof(*sh));
}

/* ---- wrong role, wrong kind, closed ---- */

struct ring_set4 {
	struct shmring r[NKINDS][4]; /* per kind: [role]: none, producer, consumer, observer */
	char names[NKINDS][96];
};

static const char *role_name(uint32_t role)
{
	static const char *n[] = { "none", "producer", "consumer", "observer" };

	return role < 4 ? n[role] : "?";
}

static void rings_make(struct ring_set4 *s)
{
	for (size_t k = 0; k < NKINDS; k++) {
		snprintf(s->names[k], sizeof(s->names[k]), "%s", t_name(kinds[k].tag));
		k_create(&s->r[k][SHMRING_PRODUCER], &kinds[k], s->names[k], SHMRING_PRODUCER);
		cr_assert_eq(shmring_open(&s->r[k][SHMRING_CONSUMER], s->names[k], SHMRING_CONSUMER, NULL), 0);
		cr_assert_eq(shmring_open(&s->r[k][SHMRING_OBSERVER], s->names[k], SHMRING_OBSERVER, NULL), 0);
		cr_assert_eq(shmring_open(&s->r[k][SHMRING_ROLE_NONE], s->names[k], SHMRING_ROLE_NONE, NULL), 0);
		/* one message in each, so that consumer operations have work */
		cr_assert_eq(k_try_push(&s->r[k][SHMRING_PRODUCER], 1, 0), 0);
	}
}

static void rings_free(struct ring_set4 *s)
{
	for (size_t k = 0; k < NKINDS; k++) {
		for (int role = 0; role < 4; role++)
			shmring_close(&s->r[k][role]);
		shmring_unlink(s->names[k]);
	}
}

struct snap {
	uint64_t v[NKINDS][6];
};

static void snap_take(struct ring_set4 *s, struct snap *out)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct shmring_ctrl *c = s->r[k][SHMRING_PRODUCER].ctrl;

		out->v[k][0] = shmring_atomic_load(&c->prod.pos, SHMRING_RELAXED);
		out->v[k][1] = shmring_atomic_load(&c->prod.claim, SHMRING_RELAXED);
		out->v[k][2] = shmring_atomic_load(&c->cons.pos, SHMRING_RELAXED);
		out->v[k][3] = shmring_atomic_load(&c->cons.claim, SHMRING_RELAXED);
		out->v[k][4] = shmring_atomic_load(&c->prod.cached, SHMRING_RELAXED);
		out->v[k][5] = shmring_atomic_load(&c->cons.cached, SHMRING_RELAXED);
	}
}

/*
 * Every operation of the fast path and of the blocking wrappers, with the
 * class and role it needs (any role: NEED_ANY, producer or consumer:
 * NEED_PC). Deadlines are in the past: nothing blocks.
 */
#define NEED_ANY 0u
#define NEED_PC 4u

static struct t_msg obuf[4];
static const struct timespec past = { 0, 0 };

static uint32_t u32(size_t n)
{
	return (uint32_t)n;
}

/* SPSC */
static int64_t s_try_push(struct shmring *r) { return shmring_spsc_try_push(r, obuf); }
static int64_t s_push_burst(struct shmring *r) { return shmring_spsc_push_burst(r, obuf, 2); }
static int64_t s_push_bulk(struct shmring *r) { return shmring_spsc_push_bulk(r, obuf, 2); }
static int64_t s_reserve(struct shmring *r) { uint64_t pos; return shmring_spsc_reserve(r, 1, &pos); }
static int64_t s_commit(struct shmring *r) { return shmring_spsc_commit(r, 1); }
static int64_t s_push_wait(struct shmring *r) { return shmring_spsc_push_wait(r, obuf, &past); }
static int64_t s_push_burst_wait(struct shmring *r) { return shmring_spsc_push_burst_wait(r, obuf, 2, &past); }
static int64_t s_try_pop(struct shmring *r) { return shmring_spsc_try_pop(r, obuf); }
static int64_t s_pop_burst(struct shmring *r) { return shmring_spsc_pop_burst(r, obuf, 2); }
static int64_t s_pop_bulk(struct shmring *r) { return shmring_spsc_pop_bulk(r, obuf, 1); }
static int64_t s_peek(struct shmring *r) { uint64_t pos; return shmring_spsc_peek(r, 1, &pos); }
static int64_t s_release(struct shmring *r) { return shmring_spsc_release(r, 1); }
static int64_t s_pop_wait(struct shmring *r) { return shmring_spsc_pop_wait(r, obuf, &past); }
static int64_t s_pop_burst_wait(struct shmring *r) { return shmring_spsc_pop_burst_wait(r, obuf, 2, &past); }
static int64_t s_wake(struct shmring *r) { return shmring_spsc_wake(r); }

/* MPMC */
static int64_t m_try_push(struct shmring *r) { return shmring_mpmc_try_push(r, obuf); }
static int64_t m_push_burst(struct shmring *r) { return shmring_mpmc_push_burst(r, obuf, 2); }
static int64_t m_push_bulk(struct shmring *r) { return shmring_mpmc_push_bulk(r, obuf, 2); }
static int64_t m_reserve(struct shmring *r) { uint64_t pos; return shmring_mpmc_reserve(r, 1, &pos); }
static int64_t m_commit(struct shmring *r) { return shmring_mpmc_commit(r, 0); }
static int64_t m_push_wait(struct shmring *r) { return shmring_mpmc_push_wait(r, obuf, &past); }
static int64_t m_push_burst_wait(struct shmring *r) { return shmring_mpmc_push_burst_wait(r, obuf, 2, &past); }
static int64_t m_try_pop(struct shmring *r) { return shmring_mpmc_try_pop(r, obuf); }
static int64_t m_pop_burst(struct shmring *r) { return shmring_mpmc_pop_burst(r, obuf, 2); }
static int64_t m_pop_bulk(struct shmring *r) { return shmring_mpmc_pop_bulk(r, obuf, 1); }
static int64_t m_peek(struct shmring *r) { uint64_t pos; return shmring_mpmc_peek(r, 1, &pos); }
static int64_t m_release(struct shmring *r) { return shmring_mpmc_release(r); }
static int64_t m_pop_wait(struct shmring *r) { return shmring_mpmc_pop_wait(r, obuf, &past); }
static int64_t m_pop_burst_wait(struct shmring *r) { return shmring_mpmc_pop_burst_wait(r, obuf, 2, &past); }
static int64_t m_wake(struct shmring *r) { return shmring_mpmc_wake(r); }

/* message rings */
static int64_t g_reserve(struct shmring *r) { void *b; return shmring_msg_reserve(r, 8, &b); }
static int64_t g_commit(struct shmring *r) { return shmring_msg_commit(r); }
static int64_t g_abort(struct shmring *r) { return shmring_msg_abort(r); }
static int64_t g_push(struct shmring *r) { return shmring_msg_push(r, obuf, 8); }
static int64_t g_pushv(struct shmring *r)
{
	struct iovec iov[2] = { { obuf, 4 }, { &obuf[1], 4 } };

	return shmring_msg_pushv(r, iov, 2);
}
static int64_t g_reserve_wait(struct shmring *r) { void *b; return shmring_msg_reserve_wait(r, 8, &b, &past); }
static int64_t g_push_wait(struct shmring *r) { return shmring_msg_push_wait(r, obuf, 8, &past); }
static int64_t g_pushv_wait(struct shmring *r)
{
	struct iovec iov[2] = { { obuf, 4 }, { &obuf[1], 4 } };

	return shmring_msg_pushv_wait(r, iov, 2, &past);
}
static int64_t g_peek(struct shmring *r) { const void *b; return shmring_msg_peek(r, &b); }
static int64_t g_release(struct shmring *r) { return shmring_msg_release(r); }
static int64_t g_pop(struct shmring *r) { return shmring_msg_pop(r, obuf, u32(sizeof(obuf))); }
static int64_t g_peek_wait(struct shmring *r) { const void *b; return shmring_msg_peek_wait(r, &b, &past); }
static int64_t g_pop_wait(struct shmring *r) { return shmring_msg_pop_wait(r, obuf, u32(sizeof(obuf)), &past); }
static int64_t g_wake(struct shmring *r) { return shmring_msg_wake(r); }

struct op {
	const char *name;
	uint32_t cls; /* SHMRING_KEY_SPSC, ... */
	uint32_t need; /* SHMRING_PRODUCER, SHMRING_CONSUMER, NEED_PC */
	int64_t (*call)(struct shmring *r);
};

#define OP(f, cls, need) { #f, cls, need, f }
static const struct op ops[] = {
	OP(s_try_push, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_push_burst, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_push_bulk, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_reserve, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_commit, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_push_wait, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_push_burst_wait, SHMRING_KEY_SPSC, SHMRING_PRODUCER),
	OP(s_try_pop, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_pop_burst, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_pop_bulk, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_peek, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_release, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_pop_wait, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_pop_burst_wait, SHMRING_KEY_SPSC, SHMRING_CONSUMER),
	OP(s_wake, SHMRING_KEY_SPSC, NEED_PC),
	OP(m_try_push, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_push_burst, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_push_bulk, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_reserve, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_commit, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_push_wait, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_push_burst_wait, SHMRING_KEY_MPMC, SHMRING_PRODUCER),
	OP(m_try_pop, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_pop_burst, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_pop_bulk, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_peek, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_release, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_pop_wait, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_pop_burst_wait, SHMRING_KEY_MPMC, SHMRING_CONSUMER),
	OP(m_wake, SHMRING_KEY_MPMC, NEED_PC),
	OP(g_reserve, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_commit, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_abort, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_push, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_pushv, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_reserve_wait, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_push_wait, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_pushv_wait, SHMRING_KEY_MSG, SHMRING_PRODUCER),
	OP(g_peek, SHMRING_KEY_MSG, SHMRING_CONSUMER),
	OP(g_release, SHMRING_KEY_MSG, SHMRING_CONSUMER),
	OP(g_pop, SHMRING_KEY_MSG, SHMRING_CONSUMER),
	OP(g_peek_wait, SHMRING_KEY_MSG, SHMRING_CONSUMER),
	OP(g_pop_wait, SHMRING_KEY_MSG, SHMRING_CONSUMER),
	OP(g_wake, SHMRING_KEY_MSG, NEED_PC),
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static uint32_t kind_cls(size_t k)
{
	return kinds[k].type == SHMRING_SPSC ? SHMRING_KEY_SPSC
	       : kinds[k].type == SHMRING_MPMC ? SHMRING_KEY_MPMC : SHMRING_KEY_MSG;
}

static int op_fits(const struct op *o, size_t k, uint32_t role)
{
	if (o->cls != kind_cls(k))
		return 0;
	return o->need == NEED_PC ? role == SHMRING_PRODUCER || role == SHMRING_CONSUMER : role == o->need;
}

/* Every operation on every handle it does not fit: -EBADF, and no
 * ring's positions move. Returns the number of calls checked. */
static int wrong_calls(struct ring_set4 *s)
{
	struct snap a, b;
	int calls = 0;

	for (size_t i = 0; i < NOPS; i++) {
		for (size_t k = 0; k < NKINDS; k++) {
			for (uint32_t role = 0; role < 4; role++) {
				if (op_fits(&ops[i], k, role))
					continue;
				snap_take(s, &a);
				int64_t ret = ops[i].call(&s->r[k][role]);

				snap_take(s, &b);
				cr_assert_eq(ret, -EBADF, "%s on a %s %s handle: %lld", ops[i].name,
					     kinds[k].tag, role_name(role), (long long)ret);
				cr_assert(!memcmp(&a, &b, sizeof(a)), "%s on a %s %s handle moved positions",
					  ops[i].name, kinds[k].tag, role_name(role));
				calls++;
			}
		}
	}
	return calls;
}

static int ready_never(struct shmring *r, void *arg)
{
	(void)r;
	(void)arg;
	return 0;
}

Test(fault_wait, wrong_role_or_kind_ebadf, .timeout = 60)
{
	struct ring_set4 s;
	int calls;

	rings_make(&s);
	calls = wrong_calls(&s);
	/* every op fits one handle in one class: ops x (16 - fitting) */
	cr_assert_gt(calls, (int)NOPS * 13);
	/* An observer's read-only mapping cannot be waited on. */
	for (size_t k = 0; k < NKINDS; k++)
		cr_assert_eq(shmring_wait_until(&s.r[k][SHMRING_OBSERVER], SHMRING_CONSUMER, ready_never,
						NULL, &past), -EBADF);
	/* The right handles still work. */
	for (size_t k = 0; k < NKINDS; k++) {
		struct t_msg m;

		cr_assert_eq(k_try_pop(&s.r[k][SHMRING_CONSUMER], &m), 0, "%s", kinds[k].tag);
		cr_assert(t_msg_ok(&m) && m.producer == 1 && m.seq == 0);
		cr_assert_eq(k_try_push(&s.r[k][SHMRING_PRODUCER], 1, 1), 0);
	}
	rings_free(&s);
}

/* Closed handles: every operation returns -EBADF (or -EINVAL), never a
 * crash; the counts read 0. */
Test(fault_wait, closed_handle_ebadf, .timeout = 60)
{
	struct ring_set4 s;

	rings_make(&s);
	for (size_t k = 0; k < NKINDS; k++) {
		for (uint32_t role = 0; role < 4; role++) {
			struct shmring *r = &s.r[k][role];

			cr_assert_eq(shmring_close(r), 0);
			for (size_t i = 0; i < NOPS; i++) {
				int64_t ret = ops[i].call(r);

				cr_assert(ret == -EBADF || ret == -EINVAL, "%s on a closed %s %s handle: %lld",
					  ops[i].name, kinds[k].tag, role_name(role), (long long)ret);
			}
			cr_assert_eq(shmring_spsc_count(r), 0);
			cr_assert_eq(shmring_mpmc_count(r), 0);
			cr_assert_eq(shmring_msg_used(r), 0);
			cr_assert_eq(shmring_wake(r, SHMRING_CONSUMER), -EBADF);
			cr_assert_eq(shmring_wait_until(r, SHMRING_CONSUMER, ready_never, NULL, &past), -EINVAL);
			cr_assert_eq(shmring_recover(r), -EINVAL);
			cr_assert_eq(shmring_close(r), -EINVAL);
		}
		shmring_unlink(s.names[k]);
	}
}

/*
 * In a fork()ed child every inherited handle is refused, the right role
 * included, and nothing moves; a handle the child dups from it works.
 */
Test(fault_wait, inherited_handles_ebadf, .timeout = 60)
{
	struct ring_set4 s;
	pid_t pid;

	rings_make(&s);
	pid = t_fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct snap a, b;
		struct shmring mine;
		struct t_msg m;

		snap_take(&s, &a);
		for (size_t k = 0; k < NKINDS; k++)
			for (uint32_t role = 0; role < 4; role++)
				for (size_t i = 0; i < NOPS; i++)
					if (ops[i].call(&s.r[k][role]) != -EBADF)
						_exit(10 + (int)i);
		snap_take(&s, &b);
		if (memcmp(&a, &b, sizeof(a)))
			_exit(2);
		/* The parent's consumers stay registered: an MPMC consumer
		 * of the child's own is the one to take the message. */
		if (shmring_dup(&mine, &s.r[1][SHMRING_CONSUMER], SHMRING_CONSUMER) != 0)
			_exit(3);
		if (k_try_pop(&mine, &m) != 0 || !t_msg_ok(&m))
			_exit(4);
		shmring_close(&mine);
		/* Closing inherited handles only unmaps them. */
		for (size_t k = 0; k < NKINDS; k++)
			for (uint32_t role = 0; role < 4; role++)
				if (shmring_close(&s.r[k][role]) != 0)
					_exit(5);
		_exit(0);
	}
	t_wait_ok(pid, "child with inherited handles");
	/* The parent's handles are untouched and still its own. */
	for (size_t k = 0; k < NKINDS; k++) {
		struct t_msg m;

		if (kinds[k].type != SHMRING_MPMC) {
			cr_assert_eq(k_try_pop(&s.r[k][SHMRING_CONSUMER], &m), 0, "%s", kinds[k].tag);
			cr_assert(t_msg_ok(&m) && m.seq == 0);
		}
		cr_assert_eq(k_try_push(&s.r[k][SHMRING_PRODUCER], 1, 1), 0, "%s", kinds[k].tag);
	}
	rings_free(&s);
}
