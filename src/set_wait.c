/* SPDX-License-Identifier: MIT */
/*
 * The wait of a ring set: one sleep on the futex words of every member and
 * of the control ring (futex_waitv), or on the control ring alone with the
 * members ringing it (the doorbell) where futex_waitv is missing or the
 * set is too large for it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "internal.h"
#include "set_internal.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITV_MAX 128u              /* futex_waitv's limit, control ring included */
#define SLICE_NS (100ull * 1000000) /* re-check liveness and non-joined producers */

/* ---- wait ---- */

static int any_ready(struct shmring_set *s, struct member **ms, uint32_t n)
{
	if (shmring_msg_used(&s->ctl))
		return 1;
	for (uint32_t i = 0; i < n; i++)
		if (shmring__set_member_has_data(ms[i]))
			return 1;
	return 0;
}

struct futex_waitv_arg {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

static long sys_futex_waitv(struct futex_waitv_arg *w, uint32_t n, uint64_t until_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(until_ns / 1000000000ull),
			       .tv_nsec = (long)(until_ns % 1000000000ull) };

	return syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC);
}

int shmring_set_wait(struct shmring_set *s, const struct timespec *deadline)
{
	struct member **ms;
	struct futex_waitv_arg *wv = NULL;
	uint64_t dl = UINT64_MAX, now, until;
	uint32_t n;
	int ret = 0, doorbell, need_mb = 0;

	if (!s || (deadline && (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L ||
				deadline->tv_sec < 0)))
		return -EINVAL;
	if (deadline)
		dl = (uint64_t)deadline->tv_sec * 1000000000ull + (uint64_t)deadline->tv_nsec;

	/* Hold every member for the sleep: a removal meanwhile only drops
	 * the set's reference, the ring stays mapped until we let go. */
	shmring__set_read_lock();
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	n = a->n;
	ms = malloc((n ? n : 1) * sizeof(*ms));
	if (!ms) {
		shmring__set_read_unlock(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		ms[i] = a->m[i];
		shmring_atomic_fetch_add(&ms[i]->refs, 1, SHMRING_RELAXED);
	}
	shmring__set_read_unlock(s);

	if (any_ready(s, ms, n))
		goto out;
	doorbell = (s->flags & SHMRING_SET_F_DOORBELL) || n + 1 > WAITV_MAX ||
		   shmring_atomic_load(&s->no_waitv, SHMRING_RELAXED);
	if (!doorbell) {
		wv = calloc(n + 1, sizeof(*wv));
		if (!wv) {
			ret = -ENOMEM;
			goto out;
		}
	}
	struct shmring_wait *ctlw = &s->ctl.ctrl->cons_wait;

	/*
	 * The park of wait.h (S1..S5) over many blocks at once, written out
	 * here rather than through futex.c's arm_once/disarm: those arm one
	 * block of one ring and end in its ready check and one barrier, where
	 * this sleep arms every member and the control ring first, then takes
	 * one barrier for all (shmring__arm_barrier_multi) and checks them all
	 * once; it also counts the doorbell before the waiter counts, and
	 * switches to the doorbell mid-wait on kernels without futex_waitv.
	 * Calling arm_once per block would cost a barrier and a check per
	 * member and change that order.
	 */
	/* S2 for every block: the waiter counts wakers test (seq_cst RMW). */
	shmring_atomic_fetch_add(&ctlw->waiters, 1, SHMRING_SEQ_CST);
	for (uint32_t i = 0; i < n; i++) {
		struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;

		if (doorbell)
			/* Before the epoch arms below: a waker whose acq_rel bump
			 * reads one of them sees this flag (futex.c). */
			shmring_atomic_fetch_add(&w->doorbell, 1, SHMRING_SEQ_CST);
		shmring_atomic_fetch_add(&w->waiters, 1, SHMRING_SEQ_CST);
	}
	for (;;) {
		/* S1: arm the control block (the doorbell), then every member. */
		uint32_t v = shmring_atomic_fetch_add(&ctlw->futex, 1, SHMRING_SEQ_CST) + 1;

		/* seq_cst: pairs with the seq_cst store of light (futex.c). */
		need_mb = shmring_atomic_load(&ctlw->light, SHMRING_SEQ_CST) != 0;
		if (!doorbell) {
			wv[0].val = v;
			wv[0].uaddr = (uint64_t)(uintptr_t)&ctlw->futex;
			wv[0].flags = FUTEX_32;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;
			uint32_t e = shmring_atomic_fetch_add(&w->futex, 1, SHMRING_SEQ_CST) + 1;

			/* seq_cst: pairs with the seq_cst store of light (futex.c). */
			if (shmring_atomic_load(&w->light, SHMRING_SEQ_CST))
				need_mb = 1;
			if (!doorbell) {
				wv[i + 1].val = e;
				wv[i + 1].uaddr = (uint64_t)(uintptr_t)&w->futex;
				wv[i + 1].flags = FUTEX_32;
			}
		}
		/* S3 */
		int late = shmring__arm_barrier_multi(need_mb) < 0;

		/* S4 */
		if (any_ready(s, ms, n))
			break;
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (now >= dl) {
			ret = -ETIMEDOUT;
			break;
		}
		until = now + (late ? 1000000ull : SLICE_NS);
		if (until > dl)
			until = dl;
		/* S5 */
		shmring_atomic_fetch_add(&s->tab->ctr2.sleeps, 1, SHMRING_RELAXED);
		long r;

		if (doorbell) {
			r = shmring__futex_wait_abs(&ctlw->futex, v, until);
		} else {
			r = sys_futex_waitv(wv, n + 1, until);
			if (r < 0 && errno == ENOSYS) {
				/* Old kernel: from now on the doorbell. Flag the
				 * members, then go round to re-arm and re-check. */
				shmring_atomic_store(&s->no_waitv, 1, SHMRING_RELAXED);
				shmring_atomic_store(&s->tab->memb.doorbell, 1, SHMRING_RELAXED);
				/* seq_cst, as above: before the re-arm; pairs with a
				 * waker's acq_rel bump (futex.c). */
				for (uint32_t i = 0; i < n; i++)
					shmring_atomic_fetch_add(&ms[i]->r.ctrl->cons_wait.doorbell, 1,
								 SHMRING_SEQ_CST);
				doorbell = 1;
				continue;
			}
		}
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (r >= 0 || (errno != ETIMEDOUT && errno != EINTR))
			shmring_atomic_fetch_add(&s->tab->ctr2.wakeups, 1, SHMRING_RELAXED);
		if (now >= dl) {
			ret = any_ready(s, ms, n) ? 0 : -ETIMEDOUT;
			break;
		}
		if (r < 0 && errno == ETIMEDOUT) {
			/* Slice over: let the caller poll and check liveness. */
			shmring_atomic_store(&s->force_check, 1, SHMRING_RELAXED);
			break;
		}
		/* Woken: a member or the control ring moved (or spurious);
		 * return so the caller polls. */
		break;
	}
	/* Release: our reads of the rings happen before a waker that sees
	 * the smaller count skips its wake. */
	for (uint32_t i = 0; i < n; i++) {
		struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;

		shmring_atomic_fetch_add(&w->waiters, (uint32_t)-1, SHMRING_RELEASE);
		if (doorbell)
			shmring_atomic_fetch_add(&w->doorbell, (uint32_t)-1, SHMRING_RELEASE);
	}
	shmring_atomic_fetch_add(&ctlw->waiters, (uint32_t)-1, SHMRING_RELEASE);
out:
	for (uint32_t i = 0; i < n; i++)
		shmring__set_member_put(ms[i]);
	free(ms);
	free(wv);
	return ret;
}

int shmring_set_link_producer(struct shmring_set *s, struct shmring *producer)
{
	if (!s || !producer || producer->role != SHMRING_PRODUCER)
		return -EINVAL;
	producer->doorbell = &s->ctl.ctrl->cons_wait;
	return 0;
}
