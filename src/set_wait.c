/* SPDX-License-Identifier: MIT */
/*
 * The wait of a ring set: one sleep on the futex words of every member and
 * of the control ring (futex_waitv), or on the control ring alone with the
 * members ringing it (the doorbell) where futex_waitv is missing or the
 * set is too large for it. The arming steps are shared with a set's
 * readiness fd (ready.c), which sleeps on the same words.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "internal.h"
#include "set_internal.h"

/* ---- arming: the park of wait.h over many blocks ---- */

int shmring__set_any_ready(struct shmring_set *s, const struct set_arm *a)
{
	if (shmring_msg_used(&s->ctl))
		return 1;
	for (uint32_t i = 0; i < a->n; i++)
		if (shmring__set_member_has_data(a->ms[i]))
			return 1;
	return 0;
}

int shmring__set_arm_hold(struct shmring_set *s, struct set_arm *a)
{
	memset(a, 0, sizeof(*a));
	/* Hold every member for the sleep: a removal meanwhile only drops
	 * the set's reference, the ring stays mapped until we let go. */
	shmring__set_read_lock();
	struct members *cur = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	a->n = cur->n;
	a->ms = malloc((a->n ? a->n : 1) * sizeof(*a->ms));
	if (!a->ms) {
		shmring__set_read_unlock(s);
		a->n = 0;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < a->n; i++) {
		a->ms[i] = cur->m[i];
		shmring_atomic_fetch_add(&a->ms[i]->refs, 1, SHMRING_RELAXED);
	}
	shmring__set_read_unlock(s);
	return 0;
}

int shmring__set_arm_prepare(struct shmring_set *s, struct set_arm *a)
{
	a->doorbell = (s->flags & SHMRING_SET_F_DOORBELL) || a->n + 1 > SET_WAITV_MAX ||
		      shmring_atomic_load(&s->no_waitv, SHMRING_RELAXED);
	if (!a->doorbell) {
		a->wv = calloc(a->n + 1, sizeof(*a->wv));
		if (!a->wv)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The park of wait.h (S1..S5) over many blocks at once, written out here
 * rather than through futex.c's arm_once/disarm: those arm one block of
 * one ring and end in its ready check and one barrier, where this sleep
 * arms every member and the control ring first, then takes one barrier
 * for all (shmring__arm_barrier_multi) and checks them all once; it also
 * counts the doorbell before the waiter counts, and switches to the
 * doorbell mid-wait on kernels without futex_waitv. Calling arm_once per
 * block would cost a barrier and a check per member and change that order.
 */
void shmring__set_arm_count(struct shmring_set *s, struct set_arm *a)
{
	struct shmring_wait *ctlw = &s->ctl.ctrl->cons_wait;

	/* S2 for every block: the waiter counts wakers test (seq_cst RMW). */
	shmring_atomic_fetch_add(&ctlw->waiters, 1, SHMRING_SEQ_CST);
	for (uint32_t i = 0; i < a->n; i++) {
		struct shmring_wait *w = &a->ms[i]->r.ctrl->cons_wait;

		if (a->doorbell)
			/* Before the epoch arms below: a waker whose acq_rel bump
			 * reads one of them sees this flag (futex.c). */
			shmring_atomic_fetch_add(&w->doorbell, 1, SHMRING_SEQ_CST);
		shmring_atomic_fetch_add(&w->waiters, 1, SHMRING_SEQ_CST);
	}
}

int shmring__set_arm_epochs(struct shmring_set *s, struct set_arm *a)
{
	struct shmring_wait *ctlw = &s->ctl.ctrl->cons_wait;
	int need_mb;

	/* S1: arm the control block (the doorbell), then every member. */
	a->ctl_val = shmring_atomic_fetch_add(&ctlw->futex, 1, SHMRING_SEQ_CST) + 1;
	/* seq_cst: pairs with the seq_cst store of light (futex.c). */
	need_mb = shmring_atomic_load(&ctlw->light, SHMRING_SEQ_CST) != 0;
	if (!a->doorbell) {
		a->wv[0].val = a->ctl_val;
		a->wv[0].uaddr = (uint64_t)(uintptr_t)&ctlw->futex;
		a->wv[0].flags = FUTEX_32;
	}
	for (uint32_t i = 0; i < a->n; i++) {
		struct shmring_wait *w = &a->ms[i]->r.ctrl->cons_wait;
		uint32_t e = shmring_atomic_fetch_add(&w->futex, 1, SHMRING_SEQ_CST) + 1;

		/* seq_cst: pairs with the seq_cst store of light (futex.c). */
		if (shmring_atomic_load(&w->light, SHMRING_SEQ_CST))
			need_mb = 1;
		if (!a->doorbell) {
			a->wv[i + 1].val = e;
			a->wv[i + 1].uaddr = (uint64_t)(uintptr_t)&w->futex;
			a->wv[i + 1].flags = FUTEX_32;
		}
	}
	/* S3 */
	return shmring__arm_barrier_multi(need_mb) < 0;
}

void shmring__set_waitv_missing(struct shmring_set *s, struct set_arm *a)
{
	/* Old kernel: from now on the doorbell. Flag the members; the
	 * caller re-arms and re-checks. */
	shmring_atomic_store(&s->no_waitv, 1, SHMRING_RELAXED);
	shmring_atomic_store(&s->tab->memb.doorbell, 1, SHMRING_RELAXED);
	/* seq_cst, as above: before the re-arm; pairs with a
	 * waker's acq_rel bump (futex.c). */
	for (uint32_t i = 0; i < a->n; i++)
		shmring_atomic_fetch_add(&a->ms[i]->r.ctrl->cons_wait.doorbell, 1, SHMRING_SEQ_CST);
	a->doorbell = 1;
}

void shmring__set_arm_uncount(struct shmring_set *s, struct set_arm *a)
{
	/* Release: our reads of the rings happen before a waker that sees
	 * the smaller count skips its wake. */
	for (uint32_t i = 0; i < a->n; i++) {
		struct shmring_wait *w = &a->ms[i]->r.ctrl->cons_wait;

		shmring_atomic_fetch_add(&w->waiters, (uint32_t)-1, SHMRING_RELEASE);
		if (a->doorbell)
			shmring_atomic_fetch_add(&w->doorbell, (uint32_t)-1, SHMRING_RELEASE);
	}
	shmring_atomic_fetch_add(&s->ctl.ctrl->cons_wait.waiters, (uint32_t)-1, SHMRING_RELEASE);
}

void shmring__set_arm_release(struct set_arm *a)
{
	for (uint32_t i = 0; i < a->n; i++)
		shmring__set_member_put(a->ms[i]);
	free(a->ms);
	free(a->wv);
	memset(a, 0, sizeof(*a));
}

/* ---- wait ---- */

int shmring_set_wait(struct shmring_set *s, const struct timespec *deadline)
{
	struct set_arm a;
	uint64_t dl = UINT64_MAX, now, until;
	int ret = 0;

	if (!s || (deadline && (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L ||
				deadline->tv_sec < 0)))
		return -EINVAL;
	if (deadline)
		dl = (uint64_t)deadline->tv_sec * 1000000000ull + (uint64_t)deadline->tv_nsec;

	ret = shmring__set_arm_hold(s, &a);
	if (ret < 0)
		return ret;
	if (shmring__set_any_ready(s, &a))
		goto out;
	ret = shmring__set_arm_prepare(s, &a);
	if (ret < 0)
		goto out;
	struct shmring_wait *ctlw = &s->ctl.ctrl->cons_wait;

	shmring__set_arm_count(s, &a);
	for (;;) {
		/* S1, S3 */
		int late = shmring__set_arm_epochs(s, &a);

		/* S4 */
		if (shmring__set_any_ready(s, &a))
			break;
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (now >= dl) {
			ret = -ETIMEDOUT;
			break;
		}
		until = now + (late ? SET_LATE_SLICE_NS : SET_SLICE_NS);
		if (until > dl)
			until = dl;
		/* S5 */
		shmring_atomic_fetch_add(&s->tab->ctr2.sleeps, 1, SHMRING_RELAXED);
		long r;

		if (a.doorbell) {
			r = shmring__futex_wait_abs(&ctlw->futex, a.ctl_val, until);
		} else {
			r = shmring__futex_waitv_abs(a.wv, a.n + 1, until);
			if (r < 0 && errno == ENOSYS) {
				/* Go round to re-arm and re-check, on the doorbell. */
				shmring__set_waitv_missing(s, &a);
				continue;
			}
		}
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (r >= 0 || (errno != ETIMEDOUT && errno != EINTR))
			shmring_atomic_fetch_add(&s->tab->ctr2.wakeups, 1, SHMRING_RELAXED);
		if (now >= dl) {
			ret = shmring__set_any_ready(s, &a) ? 0 : -ETIMEDOUT;
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
	shmring__set_arm_uncount(s, &a);
out:
	shmring__set_arm_release(&a);
	return ret;
}

int shmring_set_link_producer(struct shmring_set *s, struct shmring *producer)
{
	if (!s || !producer || producer->role != SHMRING_PRODUCER)
		return -EINVAL;
	producer->doorbell = &s->ctl.ctrl->cons_wait;
	return 0;
}
