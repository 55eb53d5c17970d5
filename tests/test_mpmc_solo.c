/* SPDX-License-Identifier: MIT */
/*
 * MPMC claim mode (mpmc.h, "CLAIM MODE"): an endpoint alone on its side
 * claims with plain stores; whoever takes the mode back must wait out the
 * holder's claim, and a grant must wait out the claimers that loaded the
 * word before it. The waits are shown by holding an endpoint at the fault
 * point between reading the mode word and writing the counter
 * (SHMRING_FAULT_CLAIM_MODE_READ, this test's inlined copy only).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

static void t_fault_hook(int point);
#define SHMRING_FAULT_HOOK(point) t_fault_hook(point)

#include "common.h"

#include <shmring/mpmc.h>

/* The hook: the thread (or process) that armed it stops at the point
 * (held: until released; kill: SIGKILL). */
static _Thread_local int armed;
static _Atomic int hook_mode; /* 1 hold, 2 kill */
static _Atomic int held, release_held;

static void t_fault_hook(int point)
{
	if (point != SHMRING_FAULT_CLAIM_MODE_READ || !armed)
		return;
	armed = 0;
	if (atomic_load(&hook_mode) == 2) {
		kill(getpid(), SIGKILL);
		for (;;)
			pause();
	}
	atomic_store(&held, 1);
	while (!atomic_load(&release_held))
		sched_yield();
}

static struct shmring_mpmc_block *blk(struct shmring *r)
{
	return (struct shmring_mpmc_block *)(void *)r->ctrl->kind_blocks;
}

static uint32_t word(struct shmring *r, int side)
{
	return shmring_atomic_load(&blk(r)->solo[side], SHMRING_RELAXED);
}

static uint32_t idx(struct shmring *h)
{
	return (uint32_t)(h->ep - (struct shmring_endpoint *)(void *)((unsigned char *)h->map + SHMRING_EP_OFF));
}

static uint32_t solo_of(struct shmring *h)
{
	return SHMRING_MPMC_SOLO_WORD(idx(h), SHMRING_MPMC_SOLO);
}

static uint64_t stat(SHMRING_ATOMIC(uint64_t) *c)
{
	return shmring_atomic_load(c, SHMRING_RELAXED);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void make(struct shmring *r, uint32_t flags)
{
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_MPMC, 64, sizeof(uint64_t));
	/* The mode is opt-in: every ring here asks for it, but the one
	 * that asks for SHMRING_F_NO_SOLO. */
	p.flags = flags & SHMRING_F_NO_SOLO ? flags : flags | SHMRING_F_SOLO;
	p.init_pos = UINT64_MAX - 20; /* the counters cross 2^64 in every test */
	cr_assert_eq(shmring_create_anon(r, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

static void push_ok(struct shmring *p, uint64_t v)
{
	int ret = shmring_mpmc_try_push(p, &v);

	cr_assert_eq(ret, 0, "push %llu: %d", (unsigned long long)v, ret);
}

static void pop_expect(struct shmring *c, uint64_t v)
{
	uint64_t got = 0;
	int ret = shmring_mpmc_try_pop(c, &got);

	cr_assert_eq(ret, 0, "pop (expecting %llu): %d", (unsigned long long)v, ret);
	cr_assert_eq(got, v, "popped %llu, expected %llu", (unsigned long long)got, (unsigned long long)v);
}

Test(mpmc_solo, lone_endpoints_hold_the_mode)
{
	struct shmring ring, p, c;
	uint64_t v;

	make(&ring, 0);
	cr_assert_eq(word(&ring, 0), 0);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(word(&ring, 0), solo_of(&p), "producer word 0x%x", word(&ring, 0));
	cr_assert_eq(word(&ring, 1), solo_of(&c), "consumer word 0x%x", word(&ring, 1));
	/* Three laps through the ring, bursts and zero copy included. */
	for (uint64_t i = 0; i < 192; i += 4) {
		uint64_t in[2] = { i + 1, i + 2 }, out[2], pos = 0;

		push_ok(&p, i);
		cr_assert_eq(shmring_mpmc_push_burst(&p, in, 2), 2);
		cr_assert_eq(shmring_mpmc_reserve(&p, 1, &pos), 1);
		memcpy(shmring_slot(&p, pos), &(uint64_t){ i + 3 }, 8);
		cr_assert_eq(shmring_mpmc_commit(&p, 1), 0);
		pop_expect(&c, i);
		cr_assert_eq(shmring_mpmc_pop_burst(&c, out, 2), 2);
		cr_assert(out[0] == i + 1 && out[1] == i + 2);
		cr_assert_eq(shmring_mpmc_peek(&c, 1, &pos), 1);
		memcpy(&v, shmring_slot(&c, pos), 8);
		cr_assert_eq(v, i + 3);
		cr_assert_eq(shmring_mpmc_release(&c), 0);
	}
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_grants), 1);
	cr_assert_eq(stat(&ring.ctrl->cons_stats.solo_grants), 1);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_revokes), 0);
	/* Close leaves the word (it may not write the control page, which a
	 * peer may have cut off); the next claimer takes it back from the
	 * closed entry, or holds it as its own when it registers there. */
	uint32_t pw = word(&ring, 0);

	shmring_close(&p);
	shmring_close(&c);
	cr_assert_eq(word(&ring, 0), pw);
	struct shmring p2, p3;

	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p3, &ring, SHMRING_PRODUCER), 0);
	cr_assert_neq(solo_of(&p3), pw, "a new entry");
	push_ok(&p3, 1000);
	pop_expect(&p2, 1000);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_revokes), 1);
	cr_assert(word(&ring, 0) == 0 || word(&ring, 0) == solo_of(&p3), "word 0x%x", word(&ring, 0));
	shmring_close(&p2);
	shmring_close(&p3);
	shmring_close(&ring);
}

Test(mpmc_solo, no_solo_flag_keeps_every_claim_a_cas)
{
	struct shmring ring, p, c;
	uint64_t v;

	make(&ring, SHMRING_F_NO_SOLO);
	cr_assert_eq(shmring_dup(&p, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	sleep_ms(1);
	for (uint64_t i = 0; i < 3 * SHMRING_MPMC_SOLO_RUN; i++) {
		push_ok(&p, i);
		pop_expect(&c, i);
	}
	cr_assert_eq(word(&ring, 0), 0);
	cr_assert_eq(word(&ring, 1), 0);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_grants) + stat(&ring.ctrl->cons_stats.solo_grants), 0);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

/* A second producer takes the mode back from an idle holder and, the
 * grant being old enough, has it handed on; then the first takes it
 * back the same way. Each one's messages stay in order. */
Test(mpmc_solo, taken_back_from_an_idle_holder_and_handed_on)
{
	struct shmring ring, p1, p2, c;

	make(&ring, 0);
	cr_assert_eq(shmring_dup(&p1, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(word(&ring, 0), solo_of(&p1), "a second producer is no reason to move");
	push_ok(&p1, 1);
	sleep_ms(2);
	push_ok(&p2, 100);
	cr_assert_eq(word(&ring, 0), solo_of(&p2), "word 0x%x", word(&ring, 0));
	push_ok(&p2, 101);
	sleep_ms(2);
	push_ok(&p1, 2);
	cr_assert_eq(word(&ring, 0), solo_of(&p1), "word 0x%x", word(&ring, 0));
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_revokes), 2);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.solo_grants), 3);
	pop_expect(&c, 1);
	pop_expect(&c, 100);
	pop_expect(&c, 101);
	pop_expect(&c, 2);
	shmring_close(&p1);
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

struct held_arg {
	struct shmring *h;
	uint64_t v;
	int ret;
};

/* Push (or pop, v == UINT64_MAX) once, stopping at the fault point. */
static void *held_op(void *p)
{
	struct held_arg *a = p;

	armed = 1;
	if (a->v == UINT64_MAX)
		a->ret = shmring_mpmc_try_pop(a->h, &a->v);
	else
		a->ret = shmring_mpmc_try_push(a->h, &a->v);
	return NULL;
}

static void hold(pthread_t *th, struct held_arg *a)
{
	atomic_store(&hook_mode, 1);
	atomic_store(&held, 0);
	atomic_store(&release_held, 0);
	cr_assert_eq(pthread_create(th, NULL, held_op, a), 0);
	while (!atomic_load(&held))
		sched_yield();
}

static void unhold(pthread_t th, struct held_arg *a)
{
	atomic_store(&release_held, 1);
	pthread_join(th, NULL);
	cr_assert_eq(a->ret, 0, "held operation: %d", a->ret);
}

/* The holder is stopped between reading the word (SOLO, its own) and
 * storing the counter. Taking the mode back must not end while it is
 * there: the other producer gets -EAGAIN, and no position is claimed
 * twice. (Without the wait, both would write the same position.) */
Test(mpmc_solo, taking_back_waits_out_the_holders_claim, .timeout = 30)
{
	struct shmring ring, p1, p2, c;
	struct held_arg a;
	pthread_t th;

	make(&ring, 0);
	cr_assert_eq(shmring_dup(&p1, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	sleep_ms(2);
	a = (struct held_arg){ &p1, 7, -1 };
	hold(&th, &a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_mpmc_try_push(&p2, &(uint64_t){ 8 }), -EAGAIN,
			     "pushed past a holder inside its claim (word 0x%x)", word(&ring, 0));
	cr_assert_eq(word(&ring, 0), SHMRING_MPMC_SOLO_WORD(idx(&p1), SHMRING_MPMC_FENCED));
	unhold(th, &a);
	push_ok(&p2, 8);
	cr_assert_eq(word(&ring, 0), 0, "finished by one that did not start it: back to shared, word 0x%x",
		     word(&ring, 0));
	pop_expect(&c, 7);
	pop_expect(&c, 8);
	/* Same on the consumer side. */
	struct shmring c2;

	cr_assert_eq(shmring_dup(&c2, &ring, SHMRING_CONSUMER), 0);
	push_ok(&p1, 9);
	push_ok(&p1, 10);
	sleep_ms(2);
	a = (struct held_arg){ &c, UINT64_MAX, -1 };
	hold(&th, &a);
	cr_assert_eq(shmring_mpmc_try_pop(&c2, &(uint64_t){ 0 }), -EAGAIN);
	unhold(th, &a);
	cr_assert_eq(a.v, 9);
	pop_expect(&c2, 10);
	shmring_close(&c2);
	shmring_close(&p1);
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

/* A claimer in shared mode is stopped between reading the word (0) and its
 * CAS. A grant must not complete while it is there (the grantee's stores
 * would race the CAS): it gives up, the word goes back to 0. */
Test(mpmc_solo, a_grant_waits_out_claimers_that_read_shared, .timeout = 30)
{
	struct shmring ring, p1, p2, c;
	struct held_arg a;
	pthread_t th;

	make(&ring, SHMRING_F_COUNTERS);
	cr_assert_eq(shmring_dup(&p1, &ring, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	/* Shared mode. (Nobody is inside a claim: the word may simply go.) */
	shmring_atomic_store(&blk(&ring)->solo[0], 0, SHMRING_RELAXED);
	push_ok(&p2, 1);
	pop_expect(&c, 1);
	cr_assert_eq(word(&ring, 0), 0);
	sleep_ms(2);
	a = (struct held_arg){ &p1, 3, -1 };
	hold(&th, &a);
	shmring_mpmc__solo(&p2);
	cr_assert_eq(word(&ring, 0), 0, "granted past a claimer inside its CAS (word 0x%x)", word(&ring, 0));
	unhold(th, &a);
	sleep_ms(2);
	shmring_mpmc__solo(&p2);
	cr_assert_eq(word(&ring, 0), solo_of(&p2), "nobody in a claim: granted (word 0x%x)", word(&ring, 0));
	push_ok(&p2, 4);
	pop_expect(&c, 3);
	pop_expect(&c, 4);
	shmring_close(&p1);
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

/* The holder is a process killed inside its claim (word SOLO, announced,
 * counter not written). Another producer process takes the mode back
 * once it sees the holder dead, and every message pushed before or after
 * arrives once, in order. */
Test(mpmc_solo, holder_killed_inside_its_claim, .timeout = 60)
{
	struct shmring ring, c, p2;
	uint64_t v;

	make(&ring, 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring p;

		if (shmring_dup(&p, &ring, SHMRING_PRODUCER) < 0 || word(&ring, 0) != solo_of(&p))
			_exit(2);
		for (uint64_t i = 0; i < 10; i++)
			if (shmring_mpmc_try_push(&p, &i) < 0)
				_exit(3);
		atomic_store(&hook_mode, 2);
		armed = 1;
		shmring_mpmc_try_push(&p, &(uint64_t){ 10 });
		_exit(4);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "holder status 0x%x", st);
	cr_assert(word(&ring, 0) >> 2 >= 2 && (word(&ring, 0) & 3) == SHMRING_MPMC_SOLO, "word 0x%x",
		  word(&ring, 0));
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	for (uint64_t i = 100; i < 150; i++)
		push_ok(&p2, i);
	cr_assert_neq(word(&ring, 0) & 3, SHMRING_MPMC_FENCED);
	for (uint64_t i = 0; i < 10; i++)
		pop_expect(&c, i);
	for (uint64_t i = 100; i < 150; i++)
		pop_expect(&c, i);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	/* The dead entry announced a claim it never won: nothing to skip. */
	cr_assert_geq(shmring_recover(&p2), 1);
	cr_assert_eq(stat(&ring.ctrl->prod_stats.skipped), 0);
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

/* A GRANTING word whose granter closed, or whose entry we now hold, is
 * dropped by the next claimer; nothing is held up. */
Test(mpmc_solo, stale_granting_word_is_dropped)
{
	struct shmring ring, p1, p2, c;
	uint32_t gone;

	make(&ring, 0);
	cr_assert_eq(shmring_dup(&c, &ring, SHMRING_CONSUMER), 0);
	cr_assert_eq(shmring_dup(&p1, &ring, SHMRING_PRODUCER), 0);
	gone = idx(&p1);
	shmring_close(&p1);
	cr_assert_eq(shmring_dup(&p2, &ring, SHMRING_PRODUCER), 0);
	if (gone == idx(&p2))
		gone++; /* p2 took it: name the next, free, entry */
	cr_assert_lt(gone, ring.ep_count);
	cr_assert_eq(shmring_atomic_load(&((struct shmring_endpoint *)(void *)((unsigned char *)ring.map +
									   SHMRING_EP_OFF))[gone].state,
					 SHMRING_RELAXED),
		     SHMRING_EP_FREE);
	shmring_atomic_store(&blk(&ring)->solo[0], SHMRING_MPMC_SOLO_WORD(gone, 0), SHMRING_RELAXED);
	push_ok(&p2, 1);
	shmring_atomic_store(&blk(&ring)->solo[0], SHMRING_MPMC_SOLO_WORD(idx(&p2), 0), SHMRING_RELAXED);
	push_ok(&p2, 2);
	pop_expect(&c, 1);
	pop_expect(&c, 2);
	shmring_close(&p2);
	shmring_close(&c);
	shmring_close(&ring);
}

/* A word naming no endpoint entry: open refuses the ring with a reason;
 * an open endpoint's claims fail with -EPROTO and change nothing. */
Test(mpmc_solo, corrupt_mode_word)
{
	const char *name = t_name("solo-corrupt");
	struct shmring_params prm;
	struct shmring ring, p, c, o;
	uint64_t v = 5;

	shmring_params_init(&prm, SHMRING_MPMC, 64, 8);
	prm.max_endpoints = 8;
	cr_assert_eq(shmring_create(&ring, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	push_ok(&p, 1);
	for (int side = 0; side < 2; side++) {
		uint32_t bad[] = { SHMRING_MPMC_SOLO_WORD(1, SHMRING_MPMC_SOLO),
				   SHMRING_MPMC_SOLO_WORD(ring.ep_count, SHMRING_MPMC_REVOKING),
				   UINT32_MAX };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			uint32_t keep = word(&ring, side);
			uint64_t pc = ring.ctrl->prod.claim, cc = ring.ctrl->cons.claim;
			uint64_t corrupt = stat(side ? &ring.ctrl->cons_stats.corrupt : &ring.ctrl->prod_stats.corrupt);

			shmring_atomic_store(&blk(&ring)->solo[side], bad[i], SHMRING_RELAXED);
			cr_assert_eq(shmring_open(&o, name, side ? SHMRING_CONSUMER : SHMRING_PRODUCER, NULL), -EPROTO);
			cr_assert(strstr(shmring_errdetail(), "claim mode word"), "detail: %s", shmring_errdetail());
			/* The holder's own token never matches a bad word,
			 * so even it goes to the slow path and refuses. */
			if (side == 0)
				cr_assert_eq(shmring_mpmc_try_push(&p, &v), -EPROTO);
			else
				cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EPROTO);
			cr_assert_eq(ring.ctrl->prod.claim, pc);
			cr_assert_eq(ring.ctrl->cons.claim, cc);
			cr_assert_eq(word(&ring, side), bad[i]);
			cr_assert_eq(stat(side ? &ring.ctrl->cons_stats.corrupt : &ring.ctrl->prod_stats.corrupt),
				     corrupt + 1);
			shmring_atomic_store(&blk(&ring)->solo[side], keep, SHMRING_RELAXED);
		}
	}
	pop_expect(&c, 1);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
	shmring_unlink(name);
}
