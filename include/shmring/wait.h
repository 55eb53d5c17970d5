/* SPDX-License-Identifier: MIT */
/*
 * Blocking waits: sleep on a futex in the shared mapping while a ring is
 * full (producer) or empty (consumer), across processes; the waking side
 * pays nothing but a load and a branch while nobody sleeps.
 *
 * Every ring kind uses the same mechanism:
 *
 *   sleeper  shmring_wait_until(r, side, ready, arg, deadline)
 *            spins (per the handle's policy), then parks on the side's
 *            futex block (ctrl->prod_wait or ctrl->cons_wait) until
 *            ready(r, arg) holds, the deadline passes or the peer dies.
 *   waker    shmring_wake(r, side) after publishing: inline check of the
 *            block's waiter count; a futex system call only if one sleeps.
 *
 * The SPSC and MPMC wrappers at the end of this file
 * (shmring_spsc_push_wait, shmring_mpmc_pop_wait, ...) are built from
 * those two; docs/wait.md says how another ring kind plugs in.
 *
 * THE LOST-WAKEUP ARGUMENT (StoreLoad on both sides)
 *
 * The block's futex word is an epoch E that every arming sleeper and
 * every wake bumps; `waiters` counts parked sleepers.
 *
 *   sleeper S (each time it arms)        waker W
 *   S1 v = ++E             (seq_cst RMW)  W1 publish data (release stores)
 *   S2 waiters += 1, first arm only       W2 StoreLoad barrier (see below)
 *   S3 StoreLoad barrier (see below)      W3 n = waiters, e = E   (relaxed)
 *   S4 ready()? re-check the data         W4 if n && e != last: last = ++E,
 *   S5 FUTEX_WAIT(&E, v)                        FUTEX_WAKE(all)
 *
 * Both sides store, then load what the other stored (Dekker). With a full
 * barrier between store and load on both sides, at least one of S4, W3
 * sees the other's stores: either S4 finds the data and S does not sleep,
 * or W3 sees the waiter and its bump of E. Then e != last (S bumped E
 * after W's previous wake), so W bumps E and wakes all: S5 returns at once
 * if it comes after the bump (E is no longer v), and FUTEX_WAKE finds S
 * queued if S5 came first. A futex return of any kind (wake, EINTR,
 * EAGAIN, timeout, spurious) leads back to S1, so S re-arms and re-checks.
 *
 * `last` (per waker handle) is what makes a stream of pushes into a ring
 * whose consumer is still waking up cost one wake system call, not one
 * per push: while E == last, nobody armed since W's own wake, and every
 * sleeper armed before it was woken by it. Wakes that find nobody
 * (stats.wakes_empty) remain only when a sleeper armed, then found data
 * at S4 without sleeping, in the window W looked.
 *
 * THE BARRIER: who pays. By default the waker, and nobody else: W2 is a
 * seq_cst fence (S3 is always one too: it is on the slow path). The
 * fence makes the waker wait for its store buffer to drain, usually a
 * store miss on the slot line the consumer read last, so a *_wait push of
 * one element costs several times a try_push while a burst pays it once
 * (docs/wait.md has the figures). No other core is disturbed.
 *
 * SHMRING_WAIT_F_LIGHT (opt-in, per handle, any mode) moves the cost to
 * the sleeper and beyond: the waker's process registers with
 * membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) once, sets `light`
 * in the block it wakes, and from then on W2 is a compiler barrier only;
 * S3 is then membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full
 * barrier on every CPU executing a registered process before it returns.
 * Either W's barrier point falls after W1 (then W1 is visible before S4)
 * or before W3 (then S2, made visible by membarrier's entry barrier, is
 * seen by W3). The price: every arm of every sleeper of that block sends
 * an interrupt to each other CPU that is running a registered process at
 * that moment, whoever's it is (GLOBAL, not PRIVATE): the waker's own,
 * and any unrelated process that registered (any light shmring handle
 * registers its process, as does an MPMC ring's claim mode), whose
 * latency it costs. Use it where the wakes are many, the sleeps few and
 * the machine's other cores run nothing that minds. Where membarrier is
 * missing (old kernel, seccomp) or the handle also sets
 * SHMRING_WAIT_F_FENCE, a light handle fences like the default.
 *
 * A block's `light` flag stays 0 while only fence wakers use it, and its
 * sleepers then skip membarrier. A sleeper whose membarrier fails while
 * `light` is set sleeps in 1 ms slices instead, so it can be late but
 * never lost. The setup ordering: a light waker stores `light` (seq_cst)
 * and fences before its first light wake; a sleeper that read light == 0
 * at S3 was therefore ordered before that fence, and W3 sees its S2.
 *
 * Only the blocking wrappers and explicit shmring_wake() calls wake: the
 * try_* operations of spsc.h never wake anyone and stay exactly as fast.
 * A side that may sleep needs its peer to use the *_wait operations (which
 * block only when they must) or to call shmring_spsc_wake() after its
 * try_* operations.
 *
 * Return codes of the blocking calls: 0 or a count; -ETIMEDOUT (the
 * deadline passed, also for a deadline already in the past when the ring
 * is full/empty), -EPIPE (every peer endpoint that was attached belongs
 * to a dead process and nothing is left to take or room to make),
 * -EINTR (a signal, only with SHMRING_WAIT_F_EINTR; by default a signal
 * handler runs and the wait goes on with the same absolute deadline),
 * -EINVAL (bad argument or deadline), -EPROTO (peer state corrupt).
 */
#ifndef SHMRING_WAIT_H
#define SHMRING_WAIT_H

#include <errno.h>
#include <time.h>

#include <shmring/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* shmring_wait_policy.mode */
#define SHMRING_WAIT_SPIN_SLEEP 0u /* default: bounded, adaptive spin, then sleep */
#define SHMRING_WAIT_SPIN 1u       /* spin only: never a system call (deadline, liveness still hold) */
#define SHMRING_WAIT_SLEEP 2u      /* sleep at once */

/* shmring_wait_policy.flags */
#define SHMRING_WAIT_F_EINTR 0x1u /* a caught signal ends the wait with -EINTR */
#define SHMRING_WAIT_F_FENCE 0x2u /* wake with a seq_cst fence (the default); overrides _LIGHT */
#define SHMRING_WAIT_F_LIGHT 0x4u /* wake with a compiler barrier; sleepers interrupt other cores (above) */
#define SHMRING_WAIT_F_NO_RECOVER 0x8u /* MPMC: a wait never recovers dead endpoints itself */
#define SHMRING_WAIT_F_ALL 0xfu

/* internal bits of shmring_wait_state.flags */
#define SHMRING_WS_READY_PROD 0x100u /* wake setup done for the producer block */
#define SHMRING_WS_READY_CONS 0x200u /* wake setup done for the consumer block */
#define SHMRING_WS_LIGHT 0x400u      /* this process is registered: compiler barrier only */
#define SHMRING_WS_ARMED 0x800u      /* an outside waiter is counted (shmring_wait_arm) */

#define SHMRING_WAIT_SPIN_NS_DEFAULT 20000u /* about two futex round trips here */
#define SHMRING_WAIT_SLICE_MS_DEFAULT 100u
#define SHMRING_WAIT_NO_SLICE UINT32_MAX /* slice_ms: never re-check the peer */

/*
 * Per-endpoint policy. Zero-initialise, set what matters, apply with
 * shmring_wait_policy_set(); a new handle has all defaults.
 */
struct shmring_wait_policy {
	uint32_t mode;       /* SHMRING_WAIT_SPIN_SLEEP (default), _SPIN, _SLEEP */
	uint32_t flags;      /* SHMRING_WAIT_F_* */
	uint32_t spin_ns;    /* spin-then-sleep: longest spin; 0: default */
	uint32_t slice_ms;   /* while waiting, re-check peer liveness this often
			      * (MPMC: and recover, see below); 0: default;
			      * SHMRING_WAIT_NO_SLICE: never */
	uint32_t wake_batch; /* producer: wake sleeping consumers every N pushes (0, 1: every push) */
	uint32_t reserved;
	uint64_t wake_mark;  /* producer: also wake when the fill reaches this; 0: off */
};

/* Returns 0, or -EINVAL (unknown mode or flags, NULL argument). */
SHMRING_API int shmring_wait_policy_set(struct shmring *r, const struct shmring_wait_policy *p);
SHMRING_API void shmring_wait_policy_get(const struct shmring *r, struct shmring_wait_policy *p);

/* *ts = now (CLOCK_MONOTONIC) + ns: an absolute deadline for the waits. */
SHMRING_API void shmring_deadline_after(struct timespec *ts, uint64_t ns);

/*
 * Ready predicate of a wait: > 0 ready (the operation may succeed now),
 * 0 not yet, < 0 an error to return. Called many times, from the spin
 * loop and after every wakeup; it must not block.
 */
typedef int shmring_wait_ready_fn(struct shmring *r, void *arg);

/*
 * Wait as `side` (SHMRING_PRODUCER: for room, on ctrl->prod_wait;
 * SHMRING_CONSUMER: for data, on ctrl->cons_wait) until ready(r, arg) > 0,
 * following the handle's policy. deadline: absolute CLOCK_MONOTONIC, NULL
 * for none. Returns 0 (ready), ready's negative result, -ETIMEDOUT,
 * -EPIPE (the other side's endpoints all died), -EINTR (only with
 * SHMRING_WAIT_F_EINTR), -EINVAL (NULL or closed handle, NULL ready, bad
 * side or deadline), -EBADF (an observer's handle, or one inherited over
 * fork()).
 */
SHMRING_API int shmring_wait_until(struct shmring *r, uint32_t side, shmring_wait_ready_fn *ready,
				   void *arg, const struct timespec *deadline);

/*
 * Waiting outside the library: an event loop or an io_uring loop sleeps on
 * the ring's own futex word by its own means. The protocol is the one the
 * blocking calls run (above), split in two:
 *
 *   for (;;) {
 *       take what there is (try_pop / peek / try_push ...);
 *       ret = shmring_wait_arm(r, &tok);      1: ready now, take again
 *       if (ret == 0) sleep while *tok.word == tok.value, at most
 *                     tok.recheck_ns (io_uring FUTEX_WAIT, or the readiness
 *                     fd of ready.h which does this for you);
 *       shmring_wait_disarm(r);
 *   }
 *
 * The handle's role picks the side: a consumer waits for data, a producer
 * for room (message rings: room for the largest message). While armed the
 * handle counts as a sleeper, so the other side's wakes (its *_wait
 * calls, shmring_*_wake) make their futex call; a wake that finds the
 * word moved since this arm is enough, whatever the loop is doing. Arming
 * again while armed re-arms (new tok) without counting twice. Returns 1
 * (ready: not armed), 0 (armed), -EPIPE (every peer of the other side
 * died and nothing is left), -EBADF (observer, no role, closed or
 * inherited handle), -EINVAL (tok NULL), -EPROTO. The liveness check and
 * MPMC recovery of the blocking waits run in shmring_wait_arm when due:
 * arm again within tok.recheck_ns (UINT64_MAX: no need) to keep them
 * going. shmring_close() disarms.
 */
struct shmring_wait_token {
	const void *word;    /* 32-bit futex word in the shared mapping (never private) */
	uint32_t value;      /* sleep only while the word holds this */
	uint32_t side;       /* SHMRING_CONSUMER (data) or SHMRING_PRODUCER (room) */
	uint64_t recheck_ns; /* arm again within this long; UINT64_MAX: no need */
	uint64_t reserved[2];
};

SHMRING_API int shmring_wait_arm(struct shmring *r, struct shmring_wait_token *tok);
/* Returns 0 (armed or not), -EBADF as shmring_wait_arm. */
SHMRING_API int shmring_wait_disarm(struct shmring *r);

/* Slow paths of shmring_wake(); not for direct use (internal, exported
 * only because the inline shmring_wake() calls them: src/libshmring.map).
 * shmring__wake_setup returns 0, or -EBADF (closed or observer handle). */
SHMRING_API int shmring__wake_setup(struct shmring *r, uint32_t side);
SHMRING_API int shmring__wake_slow(struct shmring *r, uint32_t side, uint32_t n);

/* Is the process that runs the calling thread membarrier-registered? (1/0) */
SHMRING_API int shmring_wait_light(void);

SHMRING_FORCE_INLINE struct shmring_wait *shmring__wait_block(const struct shmring *r, uint32_t side)
{
	return side == SHMRING_PRODUCER ? &r->ctrl->prod_wait : &r->ctrl->cons_wait;
}

#ifdef __cplusplus
#define shmring_compiler_fence() std::atomic_signal_fence(std::memory_order_seq_cst)
#else
#define shmring_compiler_fence() atomic_signal_fence(memory_order_seq_cst)
#endif

/* The StoreLoad fence of the protocol. ThreadSanitizer does not support
 * fences (gcc rejects them under -Werror): there, a seq_cst RMW, which is
 * a full barrier on every target TSan runs on, stands in. */
#if defined(__SANITIZE_THREAD__)
#define SHMRING__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMRING__TSAN 1
#endif
#endif
#ifdef SHMRING__TSAN
SHMRING_INLINE void shmring__wait_fence(void)
{
	static SHMRING_ATOMIC(uint32_t) dummy;

	shmring_atomic_fetch_add(&dummy, 0, SHMRING_SEQ_CST);
}
#else
#define shmring__wait_fence() shmring_atomic_fence(SHMRING_SEQ_CST)
#endif

/*
 * Wake the sleepers of `side` (SHMRING_CONSUMER after publishing data,
 * SHMRING_PRODUCER after freeing room). Call after the release stores
 * that publish. No system call unless one sleeps. Returns the number
 * woken (>= 0), -EBADF (closed or observer handle) or a negative errno
 * from the futex call.
 */
SHMRING_FORCE_INLINE int shmring_wake(struct shmring *r, uint32_t side)
{
	uint32_t bit = side == SHMRING_PRODUCER ? SHMRING_WS_READY_PROD : SHMRING_WS_READY_CONS;

	if (shmring_unlikely(!(r->wait.flags & bit)) && shmring__wake_setup(r, side) < 0)
		return -EBADF;
	/* W2 of the argument above: StoreLoad between the publishing stores
	 * and the waiter load. Light: the sleeper's membarrier (S3) supplies
	 * the full barrier on our CPU, the compiler must only keep order. */
	if (shmring_likely(r->wait.flags & SHMRING_WS_LIGHT))
		shmring_compiler_fence();
	else
		shmring__wait_fence();
	/* W3: relaxed; the barrier above orders it after the publication.
	 * The epoch half of W3 is in the slow path. */
	if (shmring_likely(shmring_atomic_load(&shmring__wait_block(r, side)->waiters,
					       SHMRING_RELAXED) == 0))
		return 0;
	return shmring__wake_slow(r, side, UINT32_MAX >> 1);
}

/*
 * Producer: account n messages just published and wake sleeping
 * consumers per the wake batching policy. `fill` is the ring's fill as
 * the producer sees it (for wake_mark).
 */
SHMRING_FORCE_INLINE void shmring_wake_pushed(struct shmring *r, uint64_t n, uint64_t fill)
{
	if (shmring_unlikely(r->wait.batch > 1 || r->wait.mark)) {
		uint64_t p = r->wait.pending + n;

		if (!((r->wait.batch > 1 && p >= r->wait.batch) ||
		      (r->wait.mark && fill >= r->wait.mark))) {
			r->wait.pending = (uint32_t)(p > UINT32_MAX ? UINT32_MAX : p);
			return;
		}
		r->wait.pending = 0;
	}
	shmring_wake(r, SHMRING_CONSUMER);
}

/* ---- SPSC blocking operations ---- */

/* Ready predicates: the producer has a free slot, the consumer a message. */
SHMRING_INLINE int shmring_spsc__ready_push(struct shmring *r, void *arg)
{
	int64_t k = shmring_spsc__free(r, 1);

	(void)arg;
	return k < 0 ? (int)k : k > 0;
}

SHMRING_INLINE int shmring_spsc__ready_pop(struct shmring *r, void *arg)
{
	uint64_t t = r->pos;

	(void)arg;
	if (r->cached != t)
		return 1;
	/* C1 of spsc.h: pairs with the producer's release store of seq (P2). */
	return shmring_atomic_load(shmring__slot_seq(r, t), SHMRING_ACQUIRE) == t + 1;
}

/*
 * Wake the peer of this handle: a producer flushes batched wakeups to a
 * sleeping consumer, a consumer wakes a producer waiting for room. Use it
 * after try_push / commit / try_pop / release when the peer may sleep.
 */
SHMRING_FORCE_INLINE int shmring_spsc_wake(struct shmring *r)
{
	if (shmring_unlikely(!SHMRING_KEY_PC(r, SHMRING_KEY_SPSC)))
		return -EBADF;
	if (r->role == SHMRING_PRODUCER) {
		r->wait.pending = 0;
		return shmring_wake(r, SHMRING_CONSUMER);
	}
	return shmring_wake(r, SHMRING_PRODUCER);
}

/* Before a producer sleeps: a consumer must not sleep on batched wakeups. */
SHMRING_INLINE void shmring_spsc__flush(struct shmring *r)
{
	if (r->wait.pending) {
		r->wait.pending = 0;
		shmring_wake(r, SHMRING_CONSUMER);
	}
}

/*
 * Push one element, waiting while the ring is full; then wake a sleeping
 * consumer. Returns 0, -ETIMEDOUT, -EPIPE (consumer died), -EINTR (with
 * SHMRING_WAIT_F_EINTR), -EINVAL, -EBADF (not a producer handle),
 * -EPROTO.
 */
SHMRING_INLINE int shmring_spsc_push_wait(struct shmring *r, const void *elem,
					  const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_spsc_try_push(r, elem);

		if (shmring_likely(ret == 0)) {
			shmring_wake_pushed(r, 1, r->pos - r->cached);
			return 0;
		}
		if (ret != -EAGAIN)
			return ret;
		shmring_spsc__flush(r);
		ret = shmring_wait_until(r, SHMRING_PRODUCER, shmring_spsc__ready_push, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/*
 * Pop one element, waiting while the ring is empty; then wake a producer
 * waiting for room. Returns 0, -ETIMEDOUT, -EPIPE (producer died and the
 * ring is empty), -EINTR (with SHMRING_WAIT_F_EINTR), -EINVAL, -EBADF
 * (not a consumer handle), -EPROTO.
 */
SHMRING_INLINE int shmring_spsc_pop_wait(struct shmring *r, void *elem,
					 const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_spsc_try_pop(r, elem);

		if (shmring_likely(ret == 0)) {
			shmring_wake(r, SHMRING_PRODUCER);
			return 0;
		}
		if (ret != -EAGAIN)
			return ret;
		ret = shmring_wait_until(r, SHMRING_CONSUMER, shmring_spsc__ready_pop, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/*
 * Push up to n elements, waiting until at least one fits. Returns the
 * count pushed (1..n; 0 only for n == 0) or an error as push_wait.
 */
SHMRING_INLINE int64_t shmring_spsc_push_burst_wait(struct shmring *r, const void *elems, uint64_t n,
						    const struct timespec *deadline)
{
	if (n == 0)
		return 0;
	for (;;) {
		int64_t k = shmring_spsc_push_burst(r, elems, n);

		if (shmring_likely(k > 0)) {
			shmring_wake_pushed(r, (uint64_t)k, r->pos - r->cached);
			return k;
		}
		if (k < 0)
			return k;
		shmring_spsc__flush(r);
		int ret = shmring_wait_until(r, SHMRING_PRODUCER, shmring_spsc__ready_push, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/*
 * Pop up to n elements, waiting until at least one is there. Returns the
 * count popped (1..n; 0 only for n == 0) or an error as pop_wait.
 */
SHMRING_INLINE int64_t shmring_spsc_pop_burst_wait(struct shmring *r, void *elems, uint64_t n,
						   const struct timespec *deadline)
{
	if (n == 0)
		return 0;
	for (;;) {
		int64_t k = shmring_spsc_pop_burst(r, elems, n);

		if (shmring_likely(k > 0)) {
			shmring_wake(r, SHMRING_PRODUCER);
			return k;
		}
		if (k < 0)
			return k;
		int ret = shmring_wait_until(r, SHMRING_CONSUMER, shmring_spsc__ready_pop, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}


/* ---- MPMC blocking operations (mpmc.h) ---- */

/* Ready predicates: room below the producers' write limit; a message (or
 * a slot to pass over) at the consumers' claim position. */
SHMRING_INLINE int shmring_mpmc__ready_push(struct shmring *r, void *arg)
{
	uint64_t t = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_RELAXED);

	(void)arg;
	if ((int64_t)(r->cached - t) > 0)
		return 1;
	/* Acquire loads of the consumers' positions inside refresh (P0). */
	int ret = shmring_mpmc__refresh(r, t, 1);

	return ret < 0 ? ret : (int64_t)(r->cached - t) > 0;
}

SHMRING_INLINE int shmring_mpmc__ready_pop(struct shmring *r, void *arg)
{
	uint64_t h = shmring_atomic_load(&r->ctrl->cons.claim, SHMRING_RELAXED);
	/* C1 of mpmc.h: pairs with the producer's release store of seq (P4). */
	uint64_t s = shmring_atomic_load(shmring__slot_seq(r, h), SHMRING_ACQUIRE);

	(void)arg;
	return (s >> 2) == (h & (UINT64_MAX >> 2)) && (s & 3u) != 0;
}

/* After a push: wake sleeping consumers per the batching policy. */
SHMRING_FORCE_INLINE void shmring_mpmc__pushed(struct shmring *r, uint64_t n)
{
	shmring_wake_pushed(r, n, r->wait.mark ? shmring_mpmc_count(r) : 0);
}

SHMRING_INLINE void shmring_mpmc__flush(struct shmring *r)
{
	if (r->wait.pending) {
		r->wait.pending = 0;
		shmring_wake(r, SHMRING_CONSUMER);
	}
}

/*
 * A blocking pop took its messages with the entry's `taken` set (mpmc.h,
 * shmring_mpmc__take): they are the caller's from here on. Until this
 * store, a consumer killed while it woke the producers (its claim already
 * dropped, so that they find the room) has its messages counted lost by
 * recovery; after it, they are returned.
 */
SHMRING_INLINE void shmring_mpmc__returned(struct shmring *r)
{
	shmring_atomic_store(&r->ep->taken, 0, SHMRING_RELAXED);
}

/* Wake the other side of this handle (as shmring_spsc_wake). */
SHMRING_FORCE_INLINE int shmring_mpmc_wake(struct shmring *r)
{
	if (shmring_unlikely(!SHMRING_KEY_PC(r, SHMRING_KEY_MPMC)))
		return -EBADF;
	if (r->role == SHMRING_PRODUCER) {
		r->wait.pending = 0;
		return shmring_wake(r, SHMRING_CONSUMER);
	}
	return shmring_wake(r, SHMRING_PRODUCER);
}

/*
 * Automatic recovery (MPMC): at each liveness check of a wait (every
 * slice_ms of the policy, default 100), a waiter that finds the consumers
 * stopped at the same position as at its previous check (a consumer:
 * stopped at a claimed, unpublished slot; a producer: no room), or every
 * peer dead, runs the recovery of shmring_recover() itself: a dead
 * producer's unpublished slots are skipped, a dead consumer's claim is
 * dropped, and the wait goes on. A dead process thus stalls the ring for
 * one to two slices. SHMRING_WAIT_F_NO_RECOVER turns it off per handle.
 * Nothing of it is on the fast path. docs/mpmc.md has the details.
 *
 * Push one element, waiting while the ring is full; then wake sleeping
 * consumers. Returns 0, -ETIMEDOUT, -EPIPE (every consumer died),
 * -EINTR (with SHMRING_WAIT_F_EINTR), -EBADF, -EINVAL, -EPROTO.
 * Several producers may wait at once; each wake wakes all of them.
 */
SHMRING_INLINE int shmring_mpmc_push_wait(struct shmring *r, const void *elem,
					  const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_mpmc_try_push(r, elem);

		if (shmring_likely(ret == 0)) {
			shmring_mpmc__pushed(r, 1);
			return 0;
		}
		if (ret != -EAGAIN)
			return ret;
		shmring_mpmc__flush(r);
		ret = shmring_wait_until(r, SHMRING_PRODUCER, shmring_mpmc__ready_push, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/*
 * Pop one element, waiting while the ring is empty; then wake producers
 * waiting for room. Returns 0, -ETIMEDOUT, -EPIPE (every producer died
 * and nothing is left), -EINTR, -EBADF, -EINVAL, -EPROTO. A slot held by
 * a producer that died after claiming it is skipped by the waiters'
 * automatic recovery (above) after one to two slices, at once when every
 * producer is dead; the wait then goes on with the messages behind it.
 */
SHMRING_INLINE int shmring_mpmc_pop_wait(struct shmring *r, void *elem,
					 const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_mpmc__pop1(r, elem, 1);

		if (shmring_likely(ret == 0)) {
			SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_WAKING);
			shmring_wake(r, SHMRING_PRODUCER);
			shmring_mpmc__returned(r);
			return 0;
		}
		if (ret != -EAGAIN)
			return ret;
		ret = shmring_wait_until(r, SHMRING_CONSUMER, shmring_mpmc__ready_pop, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/* Push up to n, waiting until at least one fits: the count (1..n), 0 for
 * n == 0, or an error as shmring_mpmc_push_wait. */
SHMRING_INLINE int64_t shmring_mpmc_push_burst_wait(struct shmring *r, const void *elems, uint64_t n,
						    const struct timespec *deadline)
{
	if (n == 0)
		return 0;
	for (;;) {
		int64_t k = shmring_mpmc_push_burst(r, elems, n);

		if (shmring_likely(k > 0)) {
			shmring_mpmc__pushed(r, (uint64_t)k);
			return k;
		}
		if (k < 0)
			return k;
		shmring_mpmc__flush(r);
		int ret = shmring_wait_until(r, SHMRING_PRODUCER, shmring_mpmc__ready_push, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

/* Pop up to n, waiting until at least one is there: the count (1..n), 0
 * for n == 0, or an error as shmring_mpmc_pop_wait. */
SHMRING_INLINE int64_t shmring_mpmc_pop_burst_wait(struct shmring *r, void *elems, uint64_t n,
						   const struct timespec *deadline)
{
	if (n == 0)
		return 0;
	for (;;) {
		int64_t k = shmring_mpmc__pop_n(r, elems, n, 0, 1);

		if (shmring_likely(k > 0)) {
			SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_WAKING);
			shmring_wake(r, SHMRING_PRODUCER);
			shmring_mpmc__returned(r);
			return k;
		}
		if (k < 0)
			return k;
		int ret = shmring_wait_until(r, SHMRING_CONSUMER, shmring_mpmc__ready_pop, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_WAIT_H */
