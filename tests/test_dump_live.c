/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump never disturbs a ring:
 *  - with nothing running, every mode leaves the object byte-identical;
 *  - while a producer and a consumer process stream checked messages,
 *    every dump succeeds with all invariants holding, every message
 *    arrives once and in order, and afterwards the object holds exactly
 *    what the producer and consumer alone put there;
 *  - a consumer asleep in a futex wait stays asleep through every mode
 *    (its futex epoch and sleep count do not move: no wake was issued).
 */
#include <sched.h>
#include <stdatomic.h>
#include <shmring/wait.h>

#include "dump_common.h"

#define SLOT ((uint32_t)sizeof(struct t_msg))

struct shared {
	_Atomic uint32_t stop;
	_Atomic uint64_t produced; /* messages pushed, terminator excluded */
	_Atomic uint32_t consumer_ok;
};

static const char *const modes[][8] = {
	{ NULL },
	{ "--check", NULL },
	{ "--json", "--check", "--messages", "4", NULL },
	{ "--json", "--tail", "4", NULL },
	{ "--raw", "--messages", "8", NULL },
	{ "--messages", "2", NULL },
	{ "--watch", "0.05", "--count", "2", NULL },
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

/* Run mode i against `name`; returns the run (caller frees). */
static struct t_run run_mode(size_t i, const char *name)
{
	const char *argv[12];
	int n = 0;

	argv[n++] = t_dump_path();
	for (int k = 0; modes[i][k]; k++)
		argv[n++] = modes[i][k];
	argv[n++] = name;
	argv[n] = NULL;
	return t_exec(argv, NULL);
}

static void check_json_ok(size_t i, const struct t_run *t)
{
	if (strcmp(modes[i][0] ? modes[i][0] : "", "--json"))
		return;
	char *ok = t_json(t->out, "d['check']['ok'], [p['invariant'] for p in d['check']['problems']]");

	cr_assert(ok, "mode %zu: invalid JSON:\n%s", i, t->out);
	cr_assert(!strncmp(ok, "True", 4), "mode %zu: %s\n%s", i, ok, t->out);
	free(ok);
}

static void create_ring(const char *name, uint64_t cap, struct shmring *r)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, cap, SLOT);
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

static int producer(const char *name, struct shared *sh, uint64_t min)
{
	struct shmring r;
	struct t_msg m;
	uint64_t seq = 0;

	if (shmring_open(&r, name, SHMRING_PRODUCER, NULL))
		return 1;
	/* Keep streaming until the parent has dumped enough, and at least `min`. */
	while (seq < min || !atomic_load(&sh->stop)) {
		t_msg_make(&m, 1, seq);
		int ret = shmring_spsc_try_push(&r, &m);

		if (ret == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (ret)
			return 2;
		seq++;
	}
	atomic_store(&sh->produced, seq);
	t_msg_make(&m, UINT32_MAX, seq); /* terminator */
	while (shmring_spsc_try_push(&r, &m) == -EAGAIN)
		sched_yield();
	shmring_close(&r);
	return 0;
}

static int consumer(const char *name, struct shared *sh)
{
	struct shmring r;
	struct t_msg m;
	uint64_t seq = 0;

	if (shmring_open(&r, name, SHMRING_CONSUMER, NULL))
		return 1;
	for (;;) {
		int ret = shmring_spsc_try_pop(&r, &m);

		if (ret == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (ret || !t_msg_ok(&m))
			return 2;
		if (m.producer == UINT32_MAX)
			break;
		if (m.producer != 1 || m.seq != seq)
			return 3; /* lost, duplicated or reordered */
		seq++;
	}
	if (m.seq != seq)
		return 4;
	atomic_store(&sh->consumer_ok, 1);
	shmring_close(&r);
	return 0;
}

Test(dump_live, quiescent_object_unchanged, .timeout = 60)
{
	const char *name = t_name("dump-quiet");
	struct shmring p, c;
	struct t_msg m;
	size_t len0, len1;

	create_ring(name, 16, &p);
	shmring_close(&p);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0);
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0);
	for (uint64_t k = 0; k < 29; k++) {
		t_msg_make(&m, 1, k);
		cr_assert_eq(shmring_spsc_try_push(&p, &m), 0);
		if (k < 20)
			cr_assert_eq(shmring_spsc_try_pop(&c, &m), 0);
	}
	unsigned char *before = t_object_bytes(name, &len0);

	for (size_t i = 0; i < N_MODES; i++) {
		struct t_run t = run_mode(i, name);

		cr_assert_eq(t.rc, 0, "mode %zu: rc %d: %s", i, t.rc, t.err);
		check_json_ok(i, &t);
		t_run_free(&t);
	}
	struct t_run t = t_dump("--json", NULL); /* the list reads every ring */

	cr_assert_eq(t.rc, 0);
	t_run_free(&t);
	unsigned char *after = t_object_bytes(name, &len1);

	cr_assert_eq(len0, len1);
	for (size_t i = 0; i < len0; i++)
		cr_assert_eq(before[i], after[i], "byte %zu changed from %u to %u", i, before[i], after[i]);
	free(before);
	free(after);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}

Test(dump_live, stream_undisturbed, .timeout = 300)
{
	const char *name = t_name("dump-live");
	const uint64_t cap = 64, min = t_scale(200000);
	const unsigned dumps_while_running = 3 * N_MODES;
	struct shmring r;
	size_t len;

	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert(sh != MAP_FAILED);
	create_ring(name, cap, &r);
	unsigned char *base = t_object_bytes(name, &len);

	pid_t cp = t_fork();

	if (cp == 0)
		_exit(consumer(name, sh));
	pid_t pp = t_fork();

	if (pp == 0)
		_exit(producer(name, sh, min));

	/* Both children run until `stop`: every one of these dumps overlaps
	 * a moving producer and consumer. */
	for (unsigned n = 0; n < dumps_while_running; n++) {
		struct t_run t = run_mode(n % N_MODES, name);

		cr_assert_eq(t.rc, 0, "mode %zu: rc %d: %s%s", (size_t)(n % N_MODES), t.rc, t.out, t.err);
		check_json_ok(n % N_MODES, &t);
		t_run_free(&t);
	}
	atomic_store(&sh->stop, 1);
	t_wait_ok(pp, "producer");
	t_wait_ok(cp, "consumer");
	cr_assert_eq(atomic_load(&sh->consumer_ok), 1);

	/* The object holds what the producer and consumer alone wrote. */
	uint64_t total = atomic_load(&sh->produced) + 1; /* with the terminator */
	unsigned char *now = t_object_bytes(name, &len);
	const struct shmring_hdr *h = (const struct shmring_hdr *)(const void *)now;
	const struct shmring_ctrl *c = (const struct shmring_ctrl *)(const void *)(now + SHMRING_CTRL_OFF);

	cr_assert(!memcmp(now, base, SHMRING_HDR_SIZE), "the header page changed");
	cr_assert_eq(c->prod.pos, total);
	cr_assert_eq(c->cons.pos, total);
	cr_assert_eq(c->prod_wait.futex, 0);
	cr_assert_eq(c->cons_wait.futex, 0);
	cr_assert_eq(c->prod_wait.waiters, 0);
	cr_assert_eq(c->cons_wait.waiters, 0);
	cr_assert_eq(c->prod_stats.wakes + c->cons_stats.wakes + c->prod_stats.futex_calls +
			     c->cons_stats.futex_calls + c->prod_stats.sleeps + c->cons_stats.sleeps,
		     0);
	cr_assert(!memcmp(c->kind_blocks, ((const struct shmring_ctrl *)(const void *)(base + SHMRING_CTRL_OFF))->kind_blocks,
			  sizeof(c->kind_blocks)));
	for (uint64_t i = 0; i < cap; i++) {
		/* the last position written to slot i */
		uint64_t pos = (total - 1) - (((total - 1) - i) & (cap - 1));
		const unsigned char *slot = now + h->data_off + i * h->slot_stride;
		uint64_t seq;
		struct t_msg want, got;

		memcpy(&seq, slot, 8);
		memcpy(&got, slot + SHMRING_SLOT_HDR, sizeof(got));
		if (pos == total - 1)
			t_msg_make(&want, UINT32_MAX, total - 1);
		else
			t_msg_make(&want, 1, pos);
		cr_assert_eq(seq, pos + 1, "slot %llu", (unsigned long long)i);
		cr_assert(!memcmp(&got, &want, sizeof(got)), "slot %llu payload", (unsigned long long)i);
	}
	free(now);
	free(base);
	shmring_close(&r);
	shmring_unlink(name);
	munmap(sh, sizeof(*sh));
}

/* A consumer asleep in the futex wait: reported, and never woken. */
Test(dump_live, sleeping_consumer_not_woken, .timeout = 120)
{
	const char *name = t_name("dump-sleep");
	struct shmring p;
	struct t_msg m;

	create_ring(name, 8, &p);
	shmring_close(&p);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0);
	pid_t cp = t_fork();

	if (cp == 0) {
		struct shmring c;
		struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP,
						   .slice_ms = SHMRING_WAIT_NO_SLICE };

		if (shmring_open(&c, name, SHMRING_CONSUMER, NULL) || shmring_wait_policy_set(&c, &pol))
			_exit(1);
		if (shmring_spsc_pop_wait(&c, &m, NULL) || !t_msg_ok(&m) || m.seq != 77)
			_exit(2);
		_exit(0);
	}
	/* Wait until it sleeps (no timed assertion: the .timeout bounds it). */
	const struct shmring_wait *w = &p.ctrl->cons_wait;

	while (shmring_atomic_load(&w->waiters, SHMRING_ACQUIRE) == 0)
		usleep(1000);
	usleep(20000);
	uint32_t epoch = shmring_atomic_load(&w->futex, SHMRING_ACQUIRE);
	uint64_t sleeps = shmring_atomic_load(&p.ctrl->cons_stats.sleeps, SHMRING_RELAXED);

	for (size_t i = 0; i < N_MODES; i++) {
		struct t_run t = run_mode(i, name);

		cr_assert_eq(t.rc, 0, "mode %zu: %s", i, t.err);
		if (i == 0)
			cr_assert(strstr(t.out, "consumers waiting for data  1"), "%s", t.out);
		if (i == 2)
			t_json_eq(t.out, "d['sleepers']['consumers'], d['fill']", "1 0");
		t_run_free(&t);
	}
	cr_assert_eq(shmring_atomic_load(&w->futex, SHMRING_ACQUIRE), epoch, "the sleeper was woken");
	cr_assert_eq(shmring_atomic_load(&p.ctrl->cons_stats.sleeps, SHMRING_RELAXED), sleeps,
		     "the sleeper was woken");
	cr_assert_eq(shmring_atomic_load(&w->waiters, SHMRING_ACQUIRE), 1);
	int st;

	cr_assert_eq(waitpid(cp, &st, WNOHANG), 0, "the sleeper returned");

	t_msg_make(&m, 1, 77);
	cr_assert_eq(shmring_spsc_push_wait(&p, &m, NULL), 0);
	t_wait_ok(cp, "consumer");
	shmring_close(&p);
	shmring_unlink(name);
}
