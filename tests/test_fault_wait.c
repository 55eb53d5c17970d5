/* SPDX-License-Identifier: MIT */
/*
 * Fault regressions of the blocking waits, across real processes:
 *
 *  - a loop of waits with deadlines shorter than the liveness slice still
 *    ends with -EPIPE when the peer is dead (every ring kind, both sides),
 *    and still runs MPMC automatic recovery;
 *  - a waiter learns that its peer died when a third process ran
 *    shmring_recover() (and freed the dead entry) before it looked;
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
 * The producer sends two messages and is SIGKILLed; the consumer waits
 * with 1 ms deadlines in a loop: it takes both, then -EPIPE comes within
 * a bounded number of calls.
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
		raise(SIGKILL);
		_exit(4);
	}
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
		raise(SIGKILL);
		_exit(4);
	}
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
