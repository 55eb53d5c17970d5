/* SPDX-License-Identifier: MIT */
/*
 * Blocking waits, slow path: the spin, the park on a futex word in the
 * shared mapping, the wake system call, membarrier registration and the
 * peer liveness check. The ordering argument is in include/shmring/wait.h.
 *
 * Futex calls never use FUTEX_PRIVATE_FLAG: the word is shared with other
 * processes, and a private wait hashes on (mm, address) so a wake from
 * another process would never find it.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shmring/wait.h>

#include "endpoint.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define SPIN_CHECK_EVERY 32u     /* spin iterations between clock reads */
#define FALLBACK_SLICE_NS 1000000ull /* sleeper without membarrier while `light` is set */

/* ---- membarrier ---- */

static pthread_once_t mb_once = PTHREAD_ONCE_INIT;
static SHMRING_ATOMIC(int) mb_registered; /* 1: this process gets GLOBAL_EXPEDITED barriers */

static long sys_membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0u, 0);
}

/* A fork()ed child is normally registered already (the mm is copied); make
 * sure of it, since the child's handles may keep relying on it. */
static void mb_atfork_child(void)
{
	if (sys_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) < 0) {
		shmring_atomic_store(&mb_registered, 0, SHMRING_RELAXED);
		fprintf(stderr, "shmring: membarrier registration lost in a forked child: %s\n",
			strerror(errno));
	}
}

static void mb_init(void)
{
	long q = sys_membarrier(MEMBARRIER_CMD_QUERY);

	if (q < 0 || !(q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
	    !(q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED))
		return;
	if (sys_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) < 0)
		return;
	pthread_atfork(NULL, NULL, mb_atfork_child);
	shmring_atomic_store(&mb_registered, 1, SHMRING_RELAXED);
}

int shmring_wait_light(void)
{
	pthread_once(&mb_once, mb_init);
	return shmring_atomic_load(&mb_registered, SHMRING_RELAXED);
}

/* ---- counters (slow path only: always kept, any number of writers) ---- */

static struct shmring_stats *side_stats(const struct shmring *r, uint32_t side)
{
	return side == SHMRING_PRODUCER ? &r->ctrl->prod_stats : &r->ctrl->cons_stats;
}

static void stat_add(SHMRING_ATOMIC(uint64_t) *c, uint64_t n)
{
	shmring_atomic_fetch_add(c, n, SHMRING_RELAXED);
}

/* ---- waker ---- */

int shmring__wake_setup(struct shmring *r, uint32_t side)
{
	uint32_t bit = side == SHMRING_PRODUCER ? SHMRING_WS_READY_PROD : SHMRING_WS_READY_CONS;

	/* A closed handle (its wait flags cleared) or an observer's read-only
	 * mapping: nothing to wake with. */
	if (!r->ctrl || (r->key & 0xffu) == SHMRING_OBSERVER)
		return -EBADF;

	/* Fence unless asked: a light waker makes every sleeper's arm send
	 * barrier interrupts to the cores of all registered processes, ours
	 * and unrelated ones (wait.h argues the choice). */
	int light = (r->wait.flags & SHMRING_WAIT_F_LIGHT) && !(r->wait.flags & SHMRING_WAIT_F_FENCE);

	if (light && shmring_wait_light()) {
		/* Announce before the first light wake: a sleeper that reads
		 * light == 0 after its seq_cst waiter increment is ordered
		 * before the fence below, so our later waiter loads see it
		 * (the setup half of the argument in wait.h). */
		shmring_atomic_store(&shmring__wait_block(r, side)->light, 1, SHMRING_SEQ_CST);
		shmring__wait_fence();
		r->wait.flags |= SHMRING_WS_LIGHT;
	}
	r->wait.flags |= bit;
	return 0;
}

static long futex_wake(SHMRING_ATOMIC(uint32_t) *word, uint32_t n)
{
	return syscall(SYS_futex, (void *)word, FUTEX_WAKE, (int)(n > INT_MAX ? INT_MAX : n), NULL, NULL, 0);
}

int shmring__wake_slow(struct shmring *r, uint32_t side, uint32_t n)
{
	struct shmring_wait *w = shmring__wait_block(r, side);
	/* The waker's own side: producers count the wakes they send. */
	struct shmring_stats *st = side_stats(r, side == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER);
	uint32_t *last = side == SHMRING_PRODUCER ? &r->wait.woke_prod : &r->wait.woke_cons;
	long woken;

	/* W3, epoch half: relaxed, ordered by the caller's barrier W2. Nobody
	 * armed since our own last wake: whoever sleeps was woken by it. */
	if (shmring_atomic_load(&w->futex, SHMRING_RELAXED) == *last)
		return 0;
	/* W4, release: a sleeper's S1 RMW that reads the bump also sees what
	 * we published (pairs with that RMW; ready() re-checks anyway).
	 * Acquire: pairs with a ring-set sleeper's seq_cst arm of this word,
	 * which follows its increment of w->doorbell (set_wait.c), so the load of
	 * the doorbell count below sees every set sleeper that armed here. */
	*last = shmring_atomic_fetch_add(&w->futex, 1, SHMRING_ACQ_REL) + 1;
	woken = futex_wake(&w->futex, n);
	stat_add(&st->futex_calls, 1);
	stat_add(&st->wakes, 1);
	if (side == SHMRING_CONSUMER && r->doorbell &&
	    shmring_atomic_load(&w->doorbell, SHMRING_RELAXED)) {
		/* A ring-set consumer sleeps on its set's doorbell, not here. */
		shmring__doorbell_ring(r->doorbell);
		stat_add(&st->futex_calls, 1);
		stat_add(&st->wakes, 1);
		return woken < 0 ? -errno : 1;
	}
	if (woken < 0)
		return -errno;
	if (woken == 0)
		stat_add(&st->wakes_empty, 1);
	return (int)woken;
}

/* ---- ring sets (set_wait.c) ---- */

void shmring__doorbell_ring(struct shmring_wait *d)
{
	/* Release: pairs with the set sleeper's seq_cst arm of the doorbell
	 * epoch; a sleeper that armed before this bump fails its FUTEX_WAIT
	 * at once or is woken below. */
	shmring_atomic_fetch_add(&d->futex, 1, SHMRING_RELEASE);
	futex_wake(&d->futex, UINT32_MAX >> 1);
}

int shmring__arm_barrier_multi(int need_membarrier)
{
	/* S3 for several blocks at once: pairs with the wakers' W2 fences,
	 * and membarrier stands in for the W2 of light wakers. */
	shmring__wait_fence();
	if (need_membarrier && sys_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) < 0)
		return -1;
	return 0;
}

/* ---- policy ---- */

int shmring_wait_policy_set(struct shmring *r, const struct shmring_wait_policy *p)
{
	shmring__clear_detail();
	if (!r || !p)
		return shmring__fail(-EINVAL, "%s is NULL", r ? "policy" : "handle");
	if (p->mode > SHMRING_WAIT_SLEEP)
		return shmring__fail(-EINVAL, "mode %u: not SHMRING_WAIT_SPIN_SLEEP, _SPIN or _SLEEP", p->mode);
	if (p->flags & ~SHMRING_WAIT_F_ALL)
		return shmring__fail(-EINVAL, "flags 0x%x: unknown bits 0x%x", p->flags, p->flags & ~SHMRING_WAIT_F_ALL);
	r->wait.mode = p->mode;
	r->wait.spin_max_ns = p->spin_ns;
	r->wait.spin_ns = 0; /* restart the adaptive budget */
	r->wait.slice_ms = p->slice_ms;
	r->wait.batch = p->wake_batch;
	r->wait.mark = p->wake_mark;
	/* Redo the wake setup: fences are always safe, light needs setup. */
	r->wait.flags = p->flags;
	return 0;
}

void shmring_wait_policy_get(const struct shmring *r, struct shmring_wait_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = r->wait.mode;
	p->flags = r->wait.flags & SHMRING_WAIT_F_ALL;
	p->spin_ns = r->wait.spin_max_ns ? r->wait.spin_max_ns : SHMRING_WAIT_SPIN_NS_DEFAULT;
	p->slice_ms = r->wait.slice_ms ? r->wait.slice_ms : SHMRING_WAIT_SLICE_MS_DEFAULT;
	p->wake_batch = r->wait.batch;
	p->wake_mark = r->wait.mark;
}

/* ---- sleeper ---- */

void shmring_deadline_after(struct timespec *ts, uint64_t ns)
{
	uint64_t t = shmring__now_ns(CLOCK_MONOTONIC) + ns;

	ts->tv_sec = (time_t)(t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

static int ts_to_ns(const struct timespec *ts, uint64_t *ns)
{
	if (!ts) {
		*ns = UINT64_MAX;
		return 0;
	}
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return -EINVAL;
	if (ts->tv_sec < 0) {
		*ns = 0;
		return 0;
	}
	if ((uint64_t)ts->tv_sec >= UINT64_MAX / 1000000000ull - 1) {
		*ns = UINT64_MAX;
		return 0;
	}
	*ns = (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
	return 0;
}

/* FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC time: an EINTR or a
 * spurious return re-waits to the same instant, never a stretched one. */
long shmring__futex_wait_abs(SHMRING_ATOMIC(uint32_t) *word, uint32_t val, uint64_t until_ns)
{
	struct timespec ts, *tp = NULL;

	if (until_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(until_ns / 1000000000ull);
		ts.tv_nsec = (long)(until_ns % 1000000000ull);
		tp = &ts;
	}
	return syscall(SYS_futex, (void *)word, FUTEX_WAIT_BITSET, val, tp, NULL, FUTEX_BITSET_MATCH_ANY);
}

long shmring__futex_waitv_abs(struct shmring__futex_waitv *w, uint32_t n, uint64_t until_ns)
{
	struct timespec ts, *tp = NULL;

	if (until_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(until_ns / 1000000000ull);
		ts.tv_nsec = (long)(until_ns % 1000000000ull);
		tp = &ts;
	}
	return syscall(SYS_futex_waitv, w, n, 0, tp, CLOCK_MONOTONIC);
}

static uint64_t slice_ns(const struct shmring *r)
{
	uint32_t ms = r->wait.slice_ms ? r->wait.slice_ms : SHMRING_WAIT_SLICE_MS_DEFAULT;

	return ms == SHMRING_WAIT_NO_SLICE ? UINT64_MAX : (uint64_t)ms * 1000000ull;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The other side's death count (layout.h: shmring_side.gone), and where
 * this handle keeps the value it last took. */
static SHMRING_ATOMIC(uint64_t) *gone_word(const struct shmring *r, uint32_t peer_role)
{
	return peer_role == SHMRING_PRODUCER ? &r->ctrl->prod.gone : &r->ctrl->cons.gone;
}

static int gone_moved(const struct shmring *r, uint32_t peer_role)
{
	/* Relaxed: only a hint that a check is due; check_peer loads it
	 * again with acquire. */
	return shmring_atomic_load(gone_word(r, peer_role), SHMRING_RELAXED) !=
	       r->wait.gone[peer_role - 1];
}

/*
 * A liveness check: is the peer gone? The endpoint table says so while a
 * dead peer's entry is still there; once somebody freed it (any process's
 * shmring_recover(), a message ring consumer's own recovery), only the
 * side's death count does: a count that moved since this handle last
 * took it, with no live peer attached now, is reported once as -EPIPE,
 * and the handle takes the new count. Where the kind has a stall_check
 * hook (MPMC: mpmc_recover.c), also the automatic recovery: a ring that
 * made no progress since the previous check (a slice or more ago), or
 * whose peers are all dead, is recovered by this waiter itself.
 * Returns 0 to keep waiting, 1 ready, else the result of the wait (a
 * last ready() so that what a dead peer left behind is still taken).
 */
static int check_peer(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready, void *arg)
{
	uint32_t peer_role = side == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER;
	/* Acquire: pairs with the release increment (endpoint.c: side_gone),
	 * made after the entry was freed: the scan below sees the table as
	 * it was then or later. */
	uint64_t gone = shmring_atomic_load(gone_word(r, peer_role), SHMRING_ACQUIRE);
	int moved = gone != r->wait.gone[peer_role - 1];
	int ret;

	r->wait.checked_ns = shmring__now_ns(CLOCK_MONOTONIC);
	ret = shmring__ep_peer_state(r, peer_role);
	/* A BUSY entry (2) may be a registrant of either side or a reaper:
	 * keep the count for a later check to judge. */
	if (ret != 2)
		r->wait.gone[peer_role - 1] = gone;
	if (ret == 0 && moved)
		ret = -EPIPE; /* died, and its entry was freed before we looked */

	const struct shmring_kind_ops *ops = shmring__kind_ops(r->type);

	if (ops->stall_check && !(r->wait.flags & SHMRING_WAIT_F_NO_RECOVER)) {
		int k = ops->stall_check(r, side, ret == -EPIPE);

		if (k > 0 && (k = ready(r, arg)) != 0)
			return k > 0 ? 1 : k;
	}
	if (ret != -EPIPE)
		return 0;
	ret = ready(r, arg);
	return ret > 0 ? 1 : ret < 0 ? ret : -EPIPE;
}

/* Liveness, when a wait (or an outside waiter's arm) starts: if this
 * handle's last check is a slice old (however short its waits are), or a
 * peer's entry was freed since (the death count moved). As check_peer. */
static int check_due(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready, void *arg)
{
	uint64_t slice = slice_ns(r);

	/* checked_ns 0: never checked, or a check asked for (ready.c, when a
	 * peer's pidfd fired). */
	if (r->wait.checked_ns == 0 ||
	    (slice != UINT64_MAX &&
	     (shmring__now_ns(CLOCK_MONOTONIC) - r->wait.checked_ns >= slice ||
	      gone_moved(r, side == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER))))
		return check_peer(r, side, ready, arg);
	return 0;
}

/*
 * Spin for up to budget_ns (UINT64_MAX: until the deadline). Returns > 0
 * ready, < 0 an error, 0 budget spent. *spent gets the time spun.
 */
static int spin(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready, void *arg,
		uint64_t deadline, uint64_t budget_ns, uint64_t *spent)
{
	uint64_t t0 = shmring__now_ns(CLOCK_MONOTONIC);
	uint64_t slice = slice_ns(r), next_check = add_sat(r->wait.checked_ns, slice);
	uint64_t end = add_sat(t0, budget_ns);
	int ret;

	if (deadline < end)
		end = deadline;
	for (;;) {
		for (uint32_t i = 0; i < SPIN_CHECK_EVERY; i++) {
			ret = ready(r, arg);
			if (ret)
				goto out;
			shmring_cpu_relax();
		}
		uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);

		/* A check that is due runs before a timeout is returned. */
		if (now >= next_check) {
			ret = check_peer(r, side, ready, arg);
			if (ret)
				goto out;
			next_check = add_sat(now, slice);
		}
		if (now >= end) {
			ret = now >= deadline ? -ETIMEDOUT : 0;
			goto out;
		}
	}
out:
	*spent = shmring__now_ns(CLOCK_MONOTONIC) - t0;
	return ret;
}

/* S3: full barrier; plus membarrier when some waker relies on it.
 * Returns 0, or -1 if membarrier was needed and failed. */
static int arm_barrier(struct shmring_wait *w)
{
	/* Pairs with the wakers' seq_cst fence W2 (fence mode). */
	shmring__wait_fence();
	/* seq_cst load: pairs with the seq_cst store of light in
	 * shmring__wake_setup (see there). */
	if (shmring_atomic_load(&w->light, SHMRING_SEQ_CST) &&
	    sys_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) < 0)
		return -1;
	return 0;
}

/*
 * S1..S4 of the argument in wait.h: bump the epoch, count this waiter
 * once (*armed), barrier, re-check. Returns ready()'s result (> 0 ready,
 * < 0 error, 0 not ready: the caller may sleep on the returned *v).
 * *poll_ns is lowered to the fallback slice when a light waker cannot be
 * made to see this waiter.
 */
static int arm_once(struct shmring *r, struct shmring_wait *w, shmring_wait_ready_fn *ready, void *arg,
		    int *armed, uint32_t *v, uint64_t *poll_ns)
{
	/* S1, seq_cst RMW: announces this arming to wakers (W3). */
	*v = shmring_atomic_fetch_add(&w->futex, 1, SHMRING_SEQ_CST) + 1;
	if (!*armed) {
		/* S2, seq_cst RMW: the waiter count wakers test first. */
		shmring_atomic_fetch_add(&w->waiters, 1, SHMRING_SEQ_CST);
		*armed = 1;
	}
	if (arm_barrier(w) < 0 && *poll_ns > FALLBACK_SLICE_NS)
		*poll_ns = FALLBACK_SLICE_NS; /* a light waker cannot see us: poll */
	/* S4 */
	return ready(r, arg);
}

static void disarm(struct shmring_wait *w)
{
	/* Release: our reads of the ring happen before a waker that reads
	 * the smaller count skips its wake (a skipped wake is only ever one
	 * for a sleeper that has left). */
	shmring_atomic_fetch_add(&w->waiters, (uint32_t)-1, SHMRING_RELEASE);
}

/* The park: S1..S5 of the argument in wait.h, looping until ready. */
static int park(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready, void *arg,
		uint64_t deadline)
{
	struct shmring_wait *w = shmring__wait_block(r, side);
	struct shmring_stats *st = side_stats(r, side);
	uint64_t slice = slice_ns(r);
	uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);
	/* From this handle's last check, not from this call: a loop of
	 * waits shorter than the slice still checks once a slice. */
	uint64_t next_check = add_sat(r->wait.checked_ns, slice);
	int armed = 0, ret;

	for (;;) {
		uint32_t v;
		uint64_t was = slice;

		ret = arm_once(r, w, ready, arg, &armed, &v, &slice);
		if (slice != was)
			next_check = add_sat(now, slice);
		if (ret) {
			ret = ret > 0 ? 0 : ret;
			break;
		}
		now = shmring__now_ns(CLOCK_MONOTONIC);
		/* A check that is due runs before a timeout is returned. */
		if (now >= next_check) {
			ret = check_peer(r, side, ready, arg);
			if (ret) {
				ret = ret > 0 ? 0 : ret;
				break;
			}
			next_check = add_sat(now, slice);
		}
		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		/* S5 */
		stat_add(&st->sleeps, 1);
		stat_add(&st->futex_calls, 1);
		if (shmring__futex_wait_abs(&w->futex, v, deadline < next_check ? deadline : next_check) < 0 &&
		    errno == EINTR && (r->wait.flags & SHMRING_WAIT_F_EINTR)) {
			ret = ready(r, arg);
			ret = ret > 0 ? 0 : ret < 0 ? ret : -EINTR;
			break;
		}
		/* Woken, EAGAIN (E moved), timed out, EINTR or spurious: re-arm
		 * (S1) and re-check (S4). The waiter count stays published. */
	}
	disarm(w);
	return ret;
}

int shmring_wait_until(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready, void *arg,
		       const struct timespec *deadline)
{
	uint64_t dl, spent = 0;
	int ret;

	if (!r || !r->ctrl || !ready || (side != SHMRING_PRODUCER && side != SHMRING_CONSUMER))
		return -EINVAL;
	/* Not an observer's read-only mapping, nor a handle inherited over
	 * fork() (shmring.h). */
	if ((r->key & ~(uint64_t)0xffffu) != shmring__fork_gen || (r->key & 0xffu) == SHMRING_OBSERVER)
		return -EBADF;
	ret = ts_to_ns(deadline, &dl);
	if (ret < 0)
		return ret;
	ret = ready(r, arg);
	if (ret)
		return ret > 0 ? 0 : ret;
	ret = check_due(r, side, ready, arg);
	if (ret)
		return ret > 0 ? 0 : ret;

	switch (r->wait.mode) {
	case SHMRING_WAIT_SPIN:
		ret = spin(r, side, ready, arg, dl, UINT64_MAX, &spent);
		return ret > 0 ? 0 : ret;
	case SHMRING_WAIT_SLEEP:
		break;
	default: {
		/* Adaptive: a wait that spinning satisfied doubles the budget
		 * (up to the maximum), one that had to sleep halves it (down to
		 * 1/16 of the maximum, so quick answers are noticed again). */
		uint64_t max = r->wait.spin_max_ns ? r->wait.spin_max_ns : SHMRING_WAIT_SPIN_NS_DEFAULT;
		uint64_t min = max / 16 ? max / 16 : 1;
		uint64_t budget = r->wait.spin_ns ? r->wait.spin_ns : max;

		ret = spin(r, side, ready, arg, dl, budget, &spent);
		if (ret > 0) {
			budget = budget * 2 > max ? max : budget * 2;
			r->wait.spin_ns = (uint32_t)budget;
			return 0;
		}
		if (ret < 0)
			return ret;
		r->wait.spin_ns = (uint32_t)(budget / 2 < min ? min : budget / 2);
		break;
	}
	}
	return park(r, side, ready, arg, dl);
}

/* ---- outside waiters: event loops, io_uring (wait.h, ready.c) ---- */

static int outside_side(const struct shmring *r, uint32_t *side, shmring_wait_ready_fn **ready)
{
	const struct shmring_kind_ops *ops;

	if (!r || !r->ctrl)
		return -EBADF;
	/* Not an observer, a handle of neither role, nor one inherited over
	 * fork() (shmring.h). */
	if ((r->key & ~(uint64_t)0xffffu) != shmring__fork_gen ||
	    (r->role != SHMRING_PRODUCER && r->role != SHMRING_CONSUMER))
		return -EBADF;
	ops = shmring__kind_ops(r->type);
	if (!ops || !ops->ready_prod || !ops->ready_cons)
		return -EBADF;
	*side = r->role;
	*ready = r->role == SHMRING_PRODUCER ? ops->ready_prod : ops->ready_cons;
	return 0;
}

int shmring_wait_disarm(struct shmring *r)
{
	uint32_t side;
	shmring_wait_ready_fn *ready;
	int ret = outside_side(r, &side, &ready);

	if (ret < 0)
		return ret;
	if (r->wait.flags & SHMRING_WS_ARMED) {
		r->wait.flags &= ~SHMRING_WS_ARMED;
		disarm(shmring__wait_block(r, side));
	}
	return 0;
}

void shmring__wait_release(struct shmring *r)
{
	if (r->ctrl && (r->wait.flags & SHMRING_WS_ARMED) && r->owner_pid == (int32_t)getpid()) {
		r->wait.flags &= ~SHMRING_WS_ARMED;
		disarm(shmring__wait_block(r, r->role));
	}
}

int shmring_wait_arm(struct shmring *r, struct shmring_wait_token *tok)
{
	uint32_t side, v;
	shmring_wait_ready_fn *ready;
	int ret = outside_side(r, &side, &ready), armed;
	uint64_t slice, left;

	if (ret < 0)
		return ret;
	if (!tok)
		return -EINVAL;
	memset(tok, 0, sizeof(*tok));
	armed = !!(r->wait.flags & SHMRING_WS_ARMED);
	ret = ready(r, NULL);
	if (!ret)
		ret = check_due(r, side, ready, NULL);
	if (!ret) {
		struct shmring_wait *w = shmring__wait_block(r, side);

		slice = slice_ns(r);
		ret = arm_once(r, w, ready, NULL, &armed, &v, &slice);
		r->wait.flags |= SHMRING_WS_ARMED;
		if (!ret) {
			stat_add(&side_stats(r, side)->sleeps, 1);
			tok->word = &w->futex;
			tok->value = v;
			tok->side = side;
			/* Until this handle's next liveness check falls due. */
			left = add_sat(r->wait.checked_ns, slice);
			uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);

			tok->recheck_ns = slice == UINT64_MAX ? UINT64_MAX : left > now ? left - now : 0;
			return 0;
		}
	}
	if (r->wait.flags & SHMRING_WS_ARMED) {
		r->wait.flags &= ~SHMRING_WS_ARMED;
		disarm(shmring__wait_block(r, side));
	}
	return ret > 0 ? 1 : ret;
}
