/* SPDX-License-Identifier: MIT */
/*
 * Ring sets under faults: a consumer killed while producers stream is
 * replaced by a new consumer that takes the set over, with every producer
 * still running.
 */
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "../src/internal.h"
#include "common.h"

/* Producers of the takeover test, by role (the index is also the tag). */
enum {
	P_STREAM0,       /* 0..2: stream until told to stop */
	P_STREAM1,
	P_STREAM2,
	P_LEFT_FULL,     /* left before the restart with messages undelivered */
	P_LEFT_DRAINED,  /* left before the restart, everything delivered */
	P_ANNOUNCED,     /* joined while the consumer was stopped, then killed */
	P_LATE,          /* joined after the last restart */
	NPROD
};

#define BUDGET 8u
#define KILLS 6

struct shared {
	char set[64];
	uint64_t next[NPROD];      /* consumer: next seq expected (all before it delivered) */
	uint64_t committed[NPROD]; /* producer: messages its pushes returned 0 for */
	uint64_t bad;              /* consumer: torn, reordered, duplicated or lost */
	uint32_t up;               /* consumer: the incarnation that holds the set */
	uint32_t ever_tags;        /* consumer: tags that were members in this incarnation */
	uint32_t tags;             /* consumer: tags that are members now */
	uint32_t create_err;       /* consumer: -shmring_set_create() when it failed */
	int stop;                  /* parent: streamers finish */
	int finish;                /* parent: consumer destroys the set and exits */
	int leave[NPROD];          /* parent: a leaver may leave */
	int state[NPROD];          /* producer: 1 drained, 2 left */
};

#define LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void ring_name(const struct shared *sh, int p, char *out, size_t len)
{
	snprintf(out, len, "/%s-r%d", sh->set, p);
}

static int take(void *arg, const struct shmring_set_msg *m)
{
	struct shared *sh = arg;
	struct t_msg t;

	if (m->len < sizeof(t)) {
		ST(sh->bad, LD(sh->bad) + 1);
		return 0;
	}
	memcpy(&t, m->data, sizeof(t));
	if (!t_msg_ok(&t) || t.producer >= NPROD || m->tag != t.producer ||
	    t.seq != LD(sh->next[t.producer])) {
		ST(sh->bad, LD(sh->bad) + 1);
		return 0;
	}
	ST(sh->next[t.producer], t.seq + 1);
	/* Now and then a slow one: a kill often lands inside a batch, taken
	 * and not released. */
	if (t.seq % 16 == 0)
		usleep(200);
	return 0;
}

/* Which tags are members now (member ids are small and dense). */
static uint32_t member_tags(struct shmring_set *s)
{
	struct shmring_set_stats st;
	uint32_t tags = 0, found = 0;

	shmring_set_stats(s, &st);
	for (uint32_t id = 0; id < 4096 && found < st.members; id++) {
		struct shmring_set_member_stats ms;

		if (shmring_set_member_stats(s, id, &ms) == 0) {
			found++;
			if (ms.tag < 32)
				tags |= 1u << ms.tag;
		}
	}
	return tags;
}

static void consumer_proc(struct shared *sh, uint32_t incarnation)
{
	struct shmring_set *s;
	int ret = shmring_set_create(&s, sh->set, 0);

	if (ret < 0) {
		fprintf(stderr, "consumer %u: shmring_set_create: %d %s\n", incarnation, ret,
			shmring_errdetail());
		ST(sh->create_err, (uint32_t)-ret);
		_exit(20);
	}
	ST(sh->up, incarnation);
	while (!LD(sh->finish)) {
		struct timespec dl;
		uint32_t tags;

		if (shmring_set_poll(s, BUDGET, take, sh) > 0)
			continue;
		tags = member_tags(s);
		ST(sh->tags, tags);
		ST(sh->ever_tags, LD(sh->ever_tags) | tags);
		shmring_deadline_after(&dl, 20 * 1000000ull);
		shmring_set_wait(s, &dl);
	}
	shmring_set_destroy(s);
	_exit(0);
}

/* Push seq until `end` (or until told to stop when end is 0). */
static void stream(struct shared *sh, int p, struct shmring *r, uint64_t end)
{
	for (uint64_t seq = LD(sh->committed[p]); end ? seq < end : !LD(sh->stop);) {
		struct timespec dl;
		struct t_msg m;
		int ret;

		t_msg_make(&m, (uint64_t)p, seq);
		shmring_deadline_after(&dl, 20 * 1000000ull);
		ret = shmring_spsc_push_wait(r, &m, &dl);
		if (ret == 0) {
			ST(sh->committed[p], ++seq);
			continue;
		}
		/* The consumer is dead or asleep-less: wait for the next one. */
		if (ret != -ETIMEDOUT && ret != -EPIPE)
			_exit(12);
	}
}

static void wait_drained(struct shmring *r)
{
	while (shmring_spsc_count(r) != 0)
		usleep(500);
}

static void producer_proc(struct shared *sh, int p)
{
	struct shmring_params pp;
	struct shmring_set_link l;
	struct shmring r;
	char name[128];
	int ret;

	ring_name(sh, p, name, sizeof(name));
	shmring_params_init(&pp, SHMRING_SPSC, 64, sizeof(struct t_msg));
	if (shmring_create(&r, name, &pp, SHMRING_PRODUCER) < 0)
		_exit(10);
	while ((ret = shmring_set_join(&l, sh->set, &r, name, (uint64_t)p)) == -EAGAIN)
		usleep(1000);
	if (ret < 0)
		_exit(11);
	if (p == P_LEFT_FULL || p == P_LEFT_DRAINED) {
		stream(sh, p, &r, 200);
		wait_drained(&r);
		ST(sh->state[p], 1);
		while (!LD(sh->leave[p]))
			usleep(500);
		/* The consumer is stopped now: these stay in the ring. */
		if (p == P_LEFT_FULL)
			stream(sh, p, &r, 230);
		shmring_set_leave(&l, &r);
		shmring_close(&r); /* the name stays: the parent removes it */
		ST(sh->state[p], 2);
		_exit(0);
	}
	stream(sh, p, &r, 0);
	/* Stopped: everything committed is taken before we go. */
	wait_drained(&r);
	shmring_set_leave(&l, &r);
	shmring_close(&r);
	shmring_unlink(name);
	_exit(0);
}

/* Wait until consumer `incarnation` (pid) holds the set. */
static void wait_up(struct shared *sh, pid_t pid, uint32_t incarnation)
{
	while (LD(sh->up) != incarnation) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("consumer %u could not take the set over: status 0x%x, %s", incarnation,
				       st, strerror((int)LD(sh->create_err)));
		usleep(200);
	}
}

/* Fork the consumer's next incarnation; wait until it holds the set
 * unless `nowait` (to kill it while it takes the set over). */
static pid_t start_consumer(struct shared *sh, uint32_t incarnation, int nowait)
{
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		consumer_proc(sh, incarnation);
	if (!nowait)
		wait_up(sh, pid, incarnation);
	return pid;
}

/*
 * The consumer is dead: what it released is gone for good, what it had
 * taken but not released comes again. Its view (next) must cover what it
 * released, by at most one batch; the next consumer expects exactly the
 * first message not released.
 */
static uint64_t settle(struct shared *sh)
{
	uint64_t again = 0;

	for (int p = 0; p < NPROD; p++) {
		char name[128];
		struct shmring o;

		ring_name(sh, p, name, sizeof(name));
		if (shmring_open(&o, name, SHMRING_OBSERVER, NULL) < 0)
			continue;
		uint64_t released = shmring_atomic_load(&o.ctrl->cons.pos, SHMRING_ACQUIRE) - o.hdr->init_pos;
		uint64_t seen = LD(sh->next[p]);

		shmring_close(&o);
		cr_assert_geq(seen, released, "producer %d: %llu released but only %llu delivered", p,
			      (unsigned long long)released, (unsigned long long)seen);
		cr_assert_leq(seen - released, BUDGET, "producer %d: %llu taken and not released", p,
			      (unsigned long long)(seen - released));
		again += seen - released;
		ST(sh->next[p], released);
	}
	return again;
}

static void kill_consumer(struct shared *sh, pid_t pid, uint64_t *again)
{
	int st;

	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "the consumer was killed (status 0x%x)", st);
	*again += settle(sh);
}

/*
 * Stream P_STREAM0 is flowing to the live consumer cons: let 100 more
 * messages through, stop the producer, wait until the consumer has every
 * committed message, end both and check that nothing went wrong.
 */
static void flow_on_and_finish(struct shared *sh, pid_t prod, pid_t cons)
{
	uint64_t from = LD(sh->next[P_STREAM0]);

	while (LD(sh->next[P_STREAM0]) < from + 100)
		usleep(500);
	ST(sh->stop, 1);
	t_wait_ok(prod, "producer");
	while (LD(sh->next[P_STREAM0]) != LD(sh->committed[P_STREAM0]))
		usleep(500);
	ST(sh->finish, 1);
	t_wait_ok(cons, "consumer");
	cr_assert_eq(LD(sh->bad), 0);
	munmap(sh, sizeof(*sh));
}


static void wait_progress(struct shared *sh, uint64_t more)
{
	uint64_t from[3];

	for (int p = 0; p < 3; p++)
		from[p] = LD(sh->next[p]);
	for (int p = 0; p < 3; p++)
		while (LD(sh->next[p]) < from[p] + more)
			usleep(500);
}

static pid_t fork_producer(struct shared *sh, int p)
{
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		producer_proc(sh, p);
	return pid;
}

Test(fault_set, consumer_killed_and_taken_over, .timeout = 180)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t prod[NPROD], cons;
	unsigned seed = (unsigned)getpid();
	uint64_t again = 0;
	uint32_t inc = 1;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->set, sizeof(sh->set), "shmring-test-fset-%d", (int)getpid());

	cons = start_consumer(sh, inc, 0);
	for (int p = 0; p < P_ANNOUNCED; p++)
		prod[p] = fork_producer(sh, p);
	while (!LD(sh->state[P_LEFT_FULL]) || !LD(sh->state[P_LEFT_DRAINED]))
		usleep(500);
	wait_progress(sh, 100);

	/* Stopped, the consumer cannot notice the leavers go, nor take the
	 * announcement of a producer that joins now: the next consumer must
	 * learn all of it from the set itself. */
	kill(cons, SIGSTOP);
	ST(sh->leave[P_LEFT_FULL], 1);
	ST(sh->leave[P_LEFT_DRAINED], 1);
	while (LD(sh->state[P_LEFT_FULL]) != 2 || LD(sh->state[P_LEFT_DRAINED]) != 2)
		usleep(500);
	prod[P_ANNOUNCED] = fork_producer(sh, P_ANNOUNCED);
	while (LD(sh->committed[P_ANNOUNCED]) < 10)
		usleep(500);
	kill_consumer(sh, cons, &again);

	ST(sh->ever_tags, 0u); /* from here on */
	cons = start_consumer(sh, ++inc, 0);
	wait_progress(sh, 100);
	while (LD(sh->next[P_LEFT_FULL]) != 230 || LD(sh->next[P_ANNOUNCED]) < 20)
		usleep(500);

	/* Killed again and again, at random, also while taking over. */
	for (int k = 0; k < KILLS; k++) {
		if (k % 2) {
			usleep((useconds_t)(rand_r(&seed) % 3000));
		} else {
			wait_up(sh, cons, inc);
			usleep((useconds_t)(rand_r(&seed) % 30000));
		}
		kill_consumer(sh, cons, &again);
		cons = start_consumer(sh, ++inc, 1);
	}
	wait_up(sh, cons, inc);
	wait_progress(sh, 100);
	prod[P_LATE] = fork_producer(sh, P_LATE);
	while (LD(sh->next[P_LATE]) < 300)
		usleep(500);
	/* The leavers' rings drained and gone; the one that left drained
	 * never came back. */
	while (LD(sh->tags) & (1u << P_LEFT_FULL))
		usleep(1000);
	cr_assert_eq(LD(sh->ever_tags) & (1u << P_LEFT_DRAINED), 0u,
		     "a producer that left before the restart is a member again");

	ST(sh->stop, 1);
	for (int p = 0; p < NPROD; p++)
		t_wait_ok(prod[p], "producer");
	for (int p = 0; p < NPROD; p++)
		while (LD(sh->next[p]) != LD(sh->committed[p]) && !LD(sh->bad))
			usleep(1000);
	ST(sh->finish, 1);
	t_wait_ok(cons, "consumer");

	cr_assert_eq(LD(sh->bad), 0, "a message was torn, reordered, duplicated or lost");
	for (int p = 0; p < NPROD; p++)
		cr_assert_eq(sh->next[p], sh->committed[p], "producer %d: %llu delivered of %llu", p,
			     (unsigned long long)sh->next[p], (unsigned long long)sh->committed[p]);
	cr_assert_eq(sh->next[P_LEFT_FULL], 230);
	cr_assert_eq(sh->next[P_LEFT_DRAINED], 200);
	cr_log_info("%u consumers, %llu messages taken again after a kill", inc,
		    (unsigned long long)again);
	for (int p = P_LEFT_FULL; p <= P_LEFT_DRAINED; p++) {
		char name[128];

		ring_name(sh, p, name, sizeof(name));
		shmring_unlink(name);
	}
	munmap(sh, sizeof(*sh));
}

/* A set whose consumer lives is never taken: create still says -EEXIST. */
Test(fault_set, live_consumer_keeps_its_set, .timeout = 60)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmring_set *s;
	pid_t cons, prod;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->set, sizeof(sh->set), "shmring-test-fset-live-%d", (int)getpid());
	cons = start_consumer(sh, 1, 0);
	prod = fork_producer(sh, P_STREAM0);
	wait_progress(sh, 0);
	while (LD(sh->next[P_STREAM0]) < 100)
		usleep(500);
	cr_assert_eq(shmring_set_create(&s, sh->set, 0), -EEXIST);
	cr_assert(strstr(shmring_errdetail(), "alive") || strstr(shmring_errdetail(), "live"), "%s",
		  shmring_errdetail());
	/* The live set goes on undisturbed. */
	flow_on_and_finish(sh, prod, cons);
}

/*
 * The recreate protocol: with producers still linked, shmring_unlink_stale
 * keeps both of the dead consumer's objects (the table is what the next
 * consumer learns the members from), and a new consumer takes the set
 * over.
 */
Test(fault_set, stale_set_with_linked_producers_is_kept_and_taken, .timeout = 60)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char tab[128], ctl[128];
	pid_t cons, prod;
	uint64_t again = 0;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->set, sizeof(sh->set), "shmring-test-fset-stale-%d", (int)getpid());
	snprintf(tab, sizeof(tab), "/%s.set", sh->set);
	snprintf(ctl, sizeof(ctl), "/%s.ctl", sh->set);
	cons = start_consumer(sh, 1, 0);
	prod = fork_producer(sh, P_STREAM0);
	while (LD(sh->next[P_STREAM0]) < 100)
		usleep(500);
	kill_consumer(sh, cons, &again);
	cr_assert_eq(shmring_unlink_stale(tab), -EBUSY, "%s", shmring_errdetail());
	cr_assert_eq(shmring_unlink_stale(ctl), -EBUSY, "%s", shmring_errdetail());
	cons = start_consumer(sh, 2, 0);
	flow_on_and_finish(sh, prod, cons);
}

static int count_msg(void *arg, const struct shmring_set_msg *m)
{
	(void)m;
	(*(uint64_t *)arg)++;
	return 0;
}

/* A control record longer than any announcement is dropped; the poll
 * goes on to the next one (it must not spin on it). */
Test(fault_set, oversized_control_record, .timeout = 20)
{
	struct shmring_params p;
	struct shmring_set *s;
	struct shmring prod, ctlp;
	struct shmring_set_link l;
	char set[64], ctl[96], ring[96];
	unsigned char junk[256];
	struct t_msg m;
	struct shmring_set_stats st;
	uint64_t n = 0;

	snprintf(set, sizeof(set), "shmring-test-fset-big-%d", (int)getpid());
	snprintf(ctl, sizeof(ctl), "/%s.ctl", set);
	snprintf(ring, sizeof(ring), "/%s-r", set);
	cr_assert_eq(shmring_set_create(&s, set, 0), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&ctlp, ctl, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_gt(sizeof(junk), sizeof(struct shmring_set_ctl_rec));
	memset(junk, 0x5a, sizeof(junk));
	cr_assert_eq(shmring_msg_push(&ctlp, junk, sizeof(junk)), 0);
	shmring_params_init(&p, SHMRING_SPSC, 64, sizeof(m));
	cr_assert_eq(shmring_create(&prod, ring, &p, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_set_join(&l, set, &prod, ring, 7), 0);
	t_msg_make(&m, 7, 0);
	cr_assert_eq(shmring_spsc_try_push(&prod, &m), 0);
	for (int i = 0; i < 1000 && shmring_set_poll(s, 8, count_msg, &n) == 0; i++)
		usleep(1000);
	cr_assert_eq(n, 1);
	cr_assert_eq(shmring_set_stats(s, &st), 0);
	cr_assert_eq(st.members, 1);
	cr_assert_eq(st.messages, 1);
	shmring_set_leave(&l, &prod);
	shmring_close(&prod);
	shmring_unlink(ring);
	shmring_close(&ctlp);
	shmring_set_destroy(s);
}

static void kill_self(int point)
{
	if (point == SHMRING_FAULT_SET_CTL_OPENED)
		raise(SIGKILL);
}

/*
 * A consumer killed while it takes in an announcement (the ring opened,
 * not yet a member): the announcement is not lost, the consumer that
 * takes the set over serves the ring.
 */
Test(fault_set, consumer_killed_taking_an_announcement, .timeout = 30)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmring_params p;
	struct shmring_set *s;
	struct shmring_set_link l;
	struct shmring prod;
	char ring[128];
	pid_t cons;
	int st;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->set, sizeof(sh->set), "shmring-test-fset-ann-%d", (int)getpid());
	ring_name(sh, 1, ring, sizeof(ring));
	cons = t_fork();
	cr_assert_geq(cons, 0);
	if (cons == 0) {
		shmring__test_fault_hook = kill_self;
		consumer_proc(sh, 1);
	}
	wait_up(sh, cons, 1);
	shmring_params_init(&p, SHMRING_SPSC, 64, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&prod, ring, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_set_join(&l, sh->set, &prod, ring, 1), 0, "%s", shmring_errdetail());
	for (uint64_t seq = 0; seq < 5; seq++) {
		struct t_msg m;

		t_msg_make(&m, 1, seq);
		cr_assert_eq(shmring_spsc_try_push(&prod, &m), 0);
	}
	shmring_spsc_wake(&prod);
	cr_assert_eq(waitpid(cons, &st, 0), cons);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the hook did not fire: status 0x%x", st);

	cr_assert_eq(shmring_set_create(&s, sh->set, 0), 0, "%s", shmring_errdetail());
	for (int i = 0; i < 2000 && LD(sh->next[1]) < 5; i++) {
		struct timespec dl;

		if (shmring_set_poll(s, BUDGET, take, sh) == 0) {
			shmring_deadline_after(&dl, 1000000ull);
			shmring_set_wait(s, &dl);
		}
	}
	cr_assert_eq(LD(sh->next[1]), 5, "%llu of 5 delivered", (unsigned long long)LD(sh->next[1]));
	cr_assert_eq(LD(sh->bad), 0);
	shmring_set_leave(&l, &prod);
	shmring_close(&prod);
	shmring_unlink(ring);
	shmring_set_destroy(s);
	munmap(sh, sizeof(*sh));
}
