/* SPDX-License-Identifier: MIT */
/*
 * An endpoint entry left BUSY by a process SIGKILLed while it held it:
 * between taking the entry at registration and filling it in
 * (SHMRING_FAULT_EP_CLAIMED), or while freeing a dead endpoint's entry in
 * recovery (SHMRING_FAULT_EP_REAPING). The BUSY word names its holder, so
 * registration takes such an entry back and recovery frees it; a BUSY
 * entry whose holder is alive still keeps others out.
 *
 * The library's test hook (src/internal.h) stops a child at the point;
 * the hook SIGKILLs it there, or parks it for the live-holder case.
 */
#include <shmring/layout.h>
#include <shmring/mpmc.h>
#include <shmring/msg.h>
#include <signal.h>
#include <string.h>

#include "../src/internal.h"
#include "common.h"

#define KILLS 100 /* registrations killed per test */

static int hook_point;
static int hook_park_fd = -1; /* park (write a byte, then sleep) instead of dying */

static void hook(int point)
{
	if (point != hook_point)
		return;
	if (hook_park_fd >= 0) {
		if (write(hook_park_fd, "p", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	raise(SIGKILL);
}

static struct shmring_endpoint *ep(struct shmring *r, uint32_t i)
{
	return (struct shmring_endpoint *)(void *)((unsigned char *)r->map + SHMRING_EP_OFF) + i;
}

/* A child that registers `role` on fd and is SIGKILLed at `point`; returns
 * its pid (reaped). */
static pid_t kill_at(int fd, uint32_t role, int point)
{
	pid_t pid = t_fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;

		hook_point = point;
		shmring__test_fault_hook = hook;
		(void)shmring_open_fd(&c, fd, role, NULL);
		_exit(1); /* the hook did not fire */
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x: the hook did not fire", st);
	return pid;
}

static void check_busy_by(struct shmring *r, uint32_t i, pid_t pid)
{
	uint32_t st = shmring_atomic_load(&ep(r, i)->state, SHMRING_ACQUIRE);

	cr_assert_eq(SHMRING_EP_STATE(st), SHMRING_EP_BUSY, "entry %u state %#x", i, st);
	cr_assert_eq(SHMRING_EP_BUSY_PID(st), pid, "entry %u names pid %d, not %d", i,
		     (int)SHMRING_EP_BUSY_PID(st), (int)pid);
}

static void spsc_roundtrip(struct shmring *p, struct shmring *c, uint64_t seq)
{
	struct t_msg m, got;

	t_msg_make(&m, 1, seq);
	cr_assert_eq(shmring_spsc_try_push(p, &m), 0);
	cr_assert_eq(shmring_spsc_try_pop(c, &got), 0);
	cr_assert(t_msg_ok(&got) && got.seq == seq);
}

/* SPSC: the producer killed KILLS times mid-registration, each time the
 * next producer attaches at once (a short open timeout: it does not wait
 * the stuck entry out) and the ring works. */
Test(ep_busy, spsc_registrant_killed, .timeout = 60)
{
	struct shmring r, p, c;
	struct shmring_params prm;
	struct shmring_open_opts o = { 0 };

	o.timeout_ms = 100;
	shmring_params_init(&prm, SHMRING_SPSC, 16, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, &o), 0, "%s", shmring_errdetail());
	for (unsigned k = 0; k < KILLS; k++) {
		pid_t dead = kill_at(shmring_fd(&r), SHMRING_PRODUCER, SHMRING_FAULT_EP_CLAIMED);

		check_busy_by(&r, 0, dead);
		cr_assert_eq(shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, &o), 0, "kill %u: %s", k,
			     shmring_errdetail());
		cr_assert_eq(shmring_atomic_load(&ep(&r, 0)->state, SHMRING_ACQUIRE), SHMRING_EP_ACTIVE);
		cr_assert_eq(shmring_atomic_load(&ep(&r, 0)->pid, SHMRING_RELAXED), getpid());
		spsc_roundtrip(&p, &c, k);
		cr_assert_eq(shmring_close(&p), 0);
	}
	printf("ep_busy spsc: %u registrations killed after taking the entry, %u entries taken back\n", KILLS,
	       KILLS);
	shmring_close(&c);
	shmring_close(&r);
}

/* A BUSY entry whose holder is alive (parked at the same point) keeps the
 * role out (-EBUSY after the open timeout); once the holder is killed the
 * role attaches. */
Test(ep_busy, live_holder_keeps_entry, .timeout = 60)
{
	struct shmring r, p;
	struct shmring_params prm;
	struct shmring_open_opts o = { 0 };
	int pfd[2];
	char b;
	int st;

	o.timeout_ms = 200;
	shmring_params_init(&prm, SHMRING_SPSC, 16, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;

		hook_point = SHMRING_FAULT_EP_CLAIMED;
		hook_park_fd = pfd[1];
		shmring__test_fault_hook = hook;
		(void)shmring_open_fd(&c, shmring_fd(&r), SHMRING_PRODUCER, NULL);
		_exit(1);
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &b, 1), 1, "the child did not reach the point");
	close(pfd[0]);
	check_busy_by(&r, 0, pid);
	cr_assert_eq(shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, &o), -EBUSY);
	cr_assert_eq(shmring_recover(&r), 0, "recovery freed a live holder's entry");
	check_busy_by(&r, 0, pid);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, &o), 0, "%s", shmring_errdetail());
	shmring_close(&p);
	shmring_close(&r);
}

/* MPMC, 2 endpoint entries. A registrant killed leaves entry 2 BUSY; the
 * next registrant, killed too, takes entry 2 back (not entry 3): the dead
 * holder's entry is reused at once. Then, on alternate rounds, recovery
 * frees it (its count includes it) or a live registrant takes it back;
 * both entries then attach and the ring works. */
Test(ep_busy, mpmc_registrants_killed, .timeout = 60)
{
	struct shmring r, h[2];
	struct shmring_params prm;
	unsigned freed = 0, taken = 0;

	shmring_params_init(&prm, SHMRING_MPMC, 16, sizeof(struct t_msg));
	prm.max_endpoints = 2;
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	for (unsigned k = 0; k < KILLS / 2; k++) {
		pid_t d0 = kill_at(shmring_fd(&r), SHMRING_PRODUCER, SHMRING_FAULT_EP_CLAIMED);

		check_busy_by(&r, 2, d0);
		pid_t d1 = kill_at(shmring_fd(&r), SHMRING_CONSUMER, SHMRING_FAULT_EP_CLAIMED);

		check_busy_by(&r, 2, d1);
		cr_assert_eq(shmring_atomic_load(&ep(&r, 3)->state, SHMRING_ACQUIRE), SHMRING_EP_FREE);
		taken++;
		if (k % 2 == 0) {
			cr_assert_eq(shmring_recover(&r), 1, "recovery: %s", shmring_errdetail());
			freed++;
			cr_assert_eq(shmring_atomic_load(&ep(&r, 2)->state, SHMRING_ACQUIRE), SHMRING_EP_FREE);
		} else {
			taken++;
		}
		cr_assert_eq(shmring_open_fd(&h[0], shmring_fd(&r), SHMRING_PRODUCER, NULL), 0, "%s",
			     shmring_errdetail());
		cr_assert_eq((unsigned char *)h[0].ep - (unsigned char *)h[0].map,
			     (unsigned char *)ep(&r, 2) - (unsigned char *)r.map, "entry 2 taken");
		cr_assert_eq(shmring_open_fd(&h[1], shmring_fd(&r), SHMRING_CONSUMER, NULL), 0, "%s",
			     shmring_errdetail());
		struct t_msg m, got;

		t_msg_make(&m, 1, k);
		cr_assert_eq(shmring_mpmc_try_push(&h[0], &m), 0);
		cr_assert_eq(shmring_mpmc_try_pop(&h[1], &got), 0);
		cr_assert(t_msg_ok(&got) && got.seq == k);
		cr_assert_eq(shmring_close(&h[0]), 0);
		cr_assert_eq(shmring_close(&h[1]), 0);
	}
	printf("ep_busy mpmc: %u registrations killed after taking an entry; %u freed by shmring_recover, "
	       "%u taken back by registration\n", KILLS, freed, taken);
	shmring_close(&r);
}

/* Recovery itself killed while freeing a dead producer's entry: the entry
 * is BUSY with the dead recoverer's pid; the next recovery frees it and a
 * producer attaches. */
Test(ep_busy, reaper_killed, .timeout = 60)
{
	struct shmring r, p, c;
	struct shmring_params prm;
	struct shmring_open_opts o = { 0 };
	unsigned kills = 0;

	o.timeout_ms = 100;
	shmring_params_init(&prm, SHMRING_SPSC, 16, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, &o), 0, "%s", shmring_errdetail());
	for (unsigned k = 0; k < KILLS / 2; k++) {
		/* A producer that attaches and dies: an ACTIVE dead entry. */
		pid_t pid = t_fork(), reaper;
		int st;

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			if (shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, NULL) < 0)
				_exit(1);
			raise(SIGKILL);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		cr_assert_eq(shmring_atomic_load(&ep(&r, 0)->state, SHMRING_ACQUIRE), SHMRING_EP_ACTIVE);
		/* A recoverer killed while freeing it. */
		reaper = t_fork();
		cr_assert_geq(reaper, 0);
		if (reaper == 0) {
			struct shmring s;

			if (shmring_open_fd(&s, shmring_fd(&r), SHMRING_ROLE_NONE, NULL) < 0)
				_exit(1);
			hook_point = SHMRING_FAULT_EP_REAPING;
			shmring__test_fault_hook = hook;
			(void)shmring_recover(&s);
			_exit(2);
		}
		cr_assert_eq(waitpid(reaper, &st, 0), reaper);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "recoverer status 0x%x", st);
		kills++;
		check_busy_by(&r, 0, reaper);
		if (k % 2 == 0)
			cr_assert_eq(shmring_recover(&r), 1, "%s", shmring_errdetail());
		cr_assert_eq(shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, &o), 0, "%s",
			     shmring_errdetail());
		spsc_roundtrip(&p, &c, k);
		cr_assert_eq(shmring_close(&p), 0);
	}
	printf("ep_busy reaper: %u recoveries killed while freeing an entry, all entries taken back\n", kills);
	shmring_close(&c);
	shmring_close(&r);
}

/* Message ring (MPSC): producers killed mid-registration (the second
 * takes the first's entry back); the consumer's shmring_recover() frees
 * the entry, and a producer attaches again. */
Test(ep_busy, msg_mpsc_registrants_killed, .timeout = 60)
{
	struct shmring r, c, p;
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MSG_MPSC, 4096, 64);
	prm.max_endpoints = 3;
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	for (unsigned k = 0; k < KILLS / 4; k++) {
		pid_t d0 = kill_at(shmring_fd(&r), SHMRING_PRODUCER, SHMRING_FAULT_EP_CLAIMED);

		check_busy_by(&r, 2, d0);
		pid_t d1 = kill_at(shmring_fd(&r), SHMRING_PRODUCER, SHMRING_FAULT_EP_CLAIMED);

		check_busy_by(&r, 2, d1);
		cr_assert_eq(shmring_recover(&c), 1, "%s", shmring_errdetail());
		cr_assert_eq(shmring_atomic_load(&ep(&r, 2)->state, SHMRING_ACQUIRE), SHMRING_EP_FREE);
		cr_assert_eq(shmring_open_fd(&p, shmring_fd(&r), SHMRING_PRODUCER, NULL), 0, "%s",
			     shmring_errdetail());
		uint64_t v = k, got = 0;

		cr_assert_eq(shmring_msg_push(&p, &v, sizeof(v)), 0);
		cr_assert_eq(shmring_msg_pop(&c, &got, sizeof(got)), (int)sizeof(got));
		cr_assert_eq(got, k);
		cr_assert_eq(shmring_close(&p), 0);
	}
	printf("ep_busy msg_mpsc: %u registrations killed after taking an entry, %u freed by the "
	       "consumer's shmring_recover\n", KILLS / 2, KILLS / 4);
	shmring_close(&c);
	shmring_close(&r);
}
