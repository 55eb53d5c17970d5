/* SPDX-License-Identifier: MIT */
/*
 * MPMC recovery from dead endpoints: the recover, ep_settle and
 * stall_check hooks of shmring__mpmc_ops (shmring_recover() in recover.c,
 * registration on a full table in endpoint.c, the waits in futex.c).
 *
 * The claim protocol is in include/shmring/mpmc.h: every endpoint
 * announces the positions it claims in its entry before the claim CAS
 * (claim_end = claim_pos - n), and marks the claim won after it
 * (claim_end = claim_pos + n). For an entry whose process is dead:
 *
 *  - producer: each announced position t that some producer has claimed
 *    (cons.claim <= t < prod.claim) and whose slot was never published is
 *    marked SKIP with a CAS. If the claim was won, t was the dead
 *    producer's. If it was only announced (killed between the two stores
 *    around its CAS), t is the dead producer's unless a live producer's
 *    announcement also holds t; then it is left to a later call. A live
 *    producer that owns t announced it before claiming it and keeps the
 *    announcement until after publishing, so it is never skipped under it.
 *    Consumers pass over SKIP slots, count them in cons_stats.skipped and
 *    never deliver their bytes; prod_stats.skipped counts the slots skipped.
 *
 *  - consumer: its announcement is dropped, so producers may reuse the
 *    slots. The messages of a won claim are lost, counted in
 *    cons_stats.lost. A claim only announced is counted too when cons.claim
 *    has passed it: it may have been won (an upper bound by one claim).
 *
 * Then the entry is freed (a producer's only once none of its positions
 * is left to a later call). One process recovers a ring at a time (a lock
 * in the MPMC kind block, taken over from a dead holder).
 *
 * Waiters run the same recovery themselves (shmring__mpmc_stall_check,
 * the stall_check hook the liveness checks of the waits call) when the consumers
 * made no progress for a whole slice, or every peer is dead. They free a
 * dead entry only while its role has a live endpoint left; otherwise they
 * drop its claim and keep it, so that the other side's waits still see a
 * dead peer and end with -EPIPE.
 */
#include <errno.h>
#include <unistd.h>

#include <shmring/wait.h>

#include "endpoint.h"

/* Is the entry ACTIVE and its process dead? */
static int ep_dead(struct shmring_endpoint *e)
{
	/* Acquire: pairs with the release store of state in registration. */
	if (shmring_atomic_load(&e->state, SHMRING_ACQUIRE) != SHMRING_EP_ACTIVE)
		return 0;
	return !shmring__ep_alive(e);
}

/* The announced claim of an entry: 1 won, 0 only announced, -1 none
 * (claim_end == claim_pos) or not a claim (a corrupt entry). *pos, *n
 * receive it. */
static int claim_of(struct shmring *r, struct shmring_endpoint *e, uint64_t *pos, uint64_t *n)
{
	/* Acquire: pairs with the release stores of the announcement (P1)
	 * and of its clearing (P5): what the endpoint published before
	 * them is visible after. */
	uint64_t ce = shmring_atomic_load(&e->claim_end, SHMRING_ACQUIRE);
	/* Acquire: pairs with the release store of claim_pos (P1). */
	uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_ACQUIRE);

	*pos = cp;
	return shmring__claim_decode(cp, ce, r->capacity, n);
}

/* Does a live producer other than `skip` announce position t? */
static int live_producer_holds(struct shmring *r, uint32_t hi, const struct shmring_endpoint *skip,
			       uint64_t t)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);

	for (uint32_t i = 2; i < hi; i++) {
		struct shmring_endpoint *e = &eps[i];
		uint64_t cp, n;
		int won;

		if (e == skip || shmring_atomic_load(&e->state, SHMRING_ACQUIRE) == SHMRING_EP_FREE ||
		    shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_PRODUCER)
			continue;
		won = claim_of(r, e, &cp, &n);
		if (won < 0) {
			/* Torn or corrupt: count it as holding t if it looks
			 * like a claim at all (we only skip on certainty). */
			if (shmring_atomic_load(&e->claim_end, SHMRING_RELAXED) ==
			    shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED))
				continue;
		} else if (t - cp >= n) {
			continue;
		}
		if (shmring__ep_alive(e))
			return 1;
	}
	return 0;
}

/* Skip what a dead producer claimed and never published. Returns the
 * number of slots skipped, or -1 when a position is left to a later call
 * (a live producer's announcement also holds it). */
static int64_t mpmc_recover_producer(struct shmring *r, uint32_t hi, struct shmring_endpoint *e)
{
	struct shmring_ctrl *c = r->ctrl;
	uint64_t cp, n;
	int64_t skipped = 0;
	int won = claim_of(r, e, &cp, &n);

	if (won < 0)
		return 0;
	/* Acquire: pairs with the consumers' release CAS of cons.claim (C3).
	 * Loaded first: the claims of every position the consumers passed
	 * happen before it (they acquired its PUB or SKIP), so pc, loaded
	 * after, is at least cc and [cc, pc) is a true interval. Loaded the
	 * other way round, consumers may pass pc in between, cc - pc wraps,
	 * and the test below would take an unclaimed position for claimed
	 * (and skip it under the producer that claims it next). */
	uint64_t cc = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);
	/* Acquire: pairs with the producers' release CAS of prod.claim (P2):
	 * the announcement of whoever claimed below it is visible. */
	uint64_t pc = shmring_atomic_load(&c->prod.claim, SHMRING_ACQUIRE);

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = cp + i;

		/* Claimed by a producer, not yet passed by the consumers. */
		if (t - cc >= pc - cc)
			continue;
		if (!won && live_producer_holds(r, hi, e, t)) {
			skipped = -1;
			continue;
		}
		SHMRING_ATOMIC(uint64_t) *seq = shmring__slot_seq(r, t);
		/* Acquire: pairs with the publication (P4), if there was one. */
		uint64_t s = shmring_atomic_load(seq, SHMRING_ACQUIRE);
		/* Unpublished means the slot still holds a lap before t
		 * (at least a capacity behind). Anything at t or later was
		 * published, or t was taken and the slot reused. */
		int64_t behind = (int64_t)(SHMRING_MPMC_SEQ(t, 0) - (s & ~(uint64_t)3)) >> 2;

		if (behind < (int64_t)r->capacity)
			continue;
		/* Release: pairs with the consumers' acquire load of seq (C1). */
		if (shmring_atomic_cas(seq, &s, SHMRING_MPMC_SEQ(t, SHMRING_MPMC_SKIP), SHMRING_RELEASE,
				       SHMRING_RELAXED)) {
			shmring_atomic_fetch_add(&c->prod_stats.skipped, 1, SHMRING_RELAXED);
			if (skipped >= 0)
				skipped++;
		}
	}
	return skipped;
}

/* Drop a dead consumer's claim, counting what it held: the messages of
 * its claim, or, with no claim left, those a blocking pop had taken and
 * not yet returned (`taken`, wait.h). Returns 1 if it held either. */
static int mpmc_recover_consumer(struct shmring *r, struct shmring_endpoint *e)
{
	struct shmring_ctrl *c = r->ctrl;
	uint64_t cp, n, lost = 0;
	int won = claim_of(r, e, &cp, &n);

	if (won < 0) {
		/* Relaxed: claim_of's acquire load of claim_end saw the
		 * clear (C5) that the store of `taken` precedes. A value
		 * above the capacity is not a count (a corrupt entry). */
		uint64_t taken = shmring_atomic_load(&e->taken, SHMRING_RELAXED);

		if (taken == 0 || taken > r->capacity)
			return 0;
		shmring_atomic_fetch_add(&c->cons_stats.lost, taken, SHMRING_RELAXED);
		return 1;
	}
	/* Acquire: pairs with the consumers' release CAS of cons.claim (C3). */
	uint64_t cc = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);

	/* An announced claim cons.claim has not passed was never won. */
	if (won || (int64_t)(cc - cp) > 0) {
		for (uint64_t i = 0; i < n; i++) {
			/* Acquire: pairs with the publication (P4). */
			uint64_t s = shmring_atomic_load(shmring__slot_seq(r, cp + i), SHMRING_ACQUIRE);

			lost += s == SHMRING_MPMC_SEQ(cp + i, SHMRING_MPMC_PUB);
		}
	}
	if (lost)
		shmring_atomic_fetch_add(&c->cons_stats.lost, lost, SHMRING_RELAXED);
	return 1;
}

/* Drop the claim of a dead entry that stays in the table: claim_end =
 * claim_pos reads as "holds nothing" everywhere. */
static void ep_drop_claim(struct shmring_endpoint *e)
{
	shmring_atomic_store(&e->taken, 0, SHMRING_RELAXED);
	/* Release: pairs with the acquire loads of claim_end in refresh and
	 * claim_of; our slot updates above come first. */
	shmring_atomic_store(&e->claim_end, shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED),
			     SHMRING_RELEASE);
}

/* Has `role` an endpoint of a live process (other than dead ones)? */
static int role_alive(struct shmring *r, uint32_t hi, uint32_t role)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);

	for (uint32_t i = 2; i < hi; i++) {
		/* Acquire: pairs with the release store of state in registration. */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);

		if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY && !shmring__ep_busy_dead(st))
			return 1; /* attaching: someone is coming */
		if (st == SHMRING_EP_ACTIVE &&
		    shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) == role && !ep_dead(&eps[i]))
			return 1;
	}
	return 0;
}

/* One recoverer at a time; a dead holder's lock is taken over. */
static int recover_lock(struct shmring_mpmc_block *b)
{
	int32_t me = (int32_t)getpid();

	for (int tries = 0; tries < 4; tries++) {
		int32_t holder = 0;

		/* Acquire: pairs with the release in recover_unlock. */
		if (shmring_atomic_cas(&b->recover_pid, &holder, me, SHMRING_ACQUIRE, SHMRING_RELAXED))
			goto locked;
		if (holder == me)
			return -EBUSY; /* another thread of ours is at it */
		if (shmring__pid_alive(holder, shmring_atomic_load(&b->recover_start, SHMRING_RELAXED)))
			return -EBUSY;
		if (shmring_atomic_cas(&b->recover_pid, &holder, me, SHMRING_ACQUIRE, SHMRING_RELAXED))
			goto locked;
	}
	return -EBUSY;
locked:
	shmring_atomic_store(&b->recover_start, shmring__proc_start_time(me), SHMRING_RELAXED);
	return 0;
}

static void recover_unlock(struct shmring_mpmc_block *b)
{
	shmring_atomic_store(&b->recover_start, 0, SHMRING_RELAXED);
	/* Release: our recovery happens before the next recoverer's. */
	shmring_atomic_store(&b->recover_pid, 0, SHMRING_RELEASE);
}

/*
 * Recover every dead endpoint. Returns the number of entries freed, or,
 * when `automatic` (a waiter's own recovery), the number of dead entries
 * whose claims were released. A waiter frees a dead entry only while its
 * role still has a live endpoint: when every producer (or consumer) is
 * dead, their entries stay, holding nothing, so that waits of the other
 * side still end with -EPIPE; shmring_recover() frees them.
 */
static int mpmc_recover(struct shmring *r, int automatic)
{
	struct shmring_mpmc_block *b = shmring__mpmc_block(r->ctrl);
	struct shmring_endpoint *eps = shmring__ep_table(r);
	int ret, n = 0;

	ret = recover_lock(b);
	if (ret < 0)
		return ret;
	/* Acquire: pairs with the release update of ep_hi at attach. */
	uint32_t hi = shmring_atomic_load(&b->ep_hi, SHMRING_ACQUIRE);

	if (hi > r->ep_count)
		hi = r->ep_count;
	/* Producers first: a dead consumer's entry keeps producers out of
	 * slots a lap ahead, never the slots skipped here. */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t role = pass == 0 ? SHMRING_PRODUCER : SHMRING_CONSUMER;
		int keep = -1; /* automatic: keep dead entries of this role? (lazy) */

		for (uint32_t i = 2; i < hi; i++) {
			struct shmring_endpoint *e = &eps[i];
			int held;

			if (shmring_atomic_load(&e->role, SHMRING_RELAXED) != role || !ep_dead(e))
				continue;
			if (role == SHMRING_PRODUCER) {
				int64_t k = mpmc_recover_producer(r, hi, e);

				if (k < 0)
					continue; /* a position is left to a later call */
				held = k > 0;
			} else {
				held = mpmc_recover_consumer(r, e);
			}
			if (automatic && keep < 0)
				keep = !role_alive(r, hi, role);
			if (automatic && keep) {
				/* Stays ACTIVE and dead, holding nothing. */
				ep_drop_claim(e);
				n += held;
				continue;
			}
			/* Still ours to free: registration takes only FREE
			 * MPMC entries (ACTIVE ones of the dead only through
			 * a kind's ep_idle, which MPMC does not have: its
			 * full table calls this recovery instead), and the
			 * lock keeps other recoverers out. */
			shmring__ep_free_gone(r, e, role);
			n += automatic ? held : 1;
		}
	}
	/* Entries left BUSY by a killed registrant (may lie past ep_hi:
	 * attach raises it after registering). */
	for (uint32_t i = 2; i < r->ep_count; i++) {
		/* Relaxed: the CAS that takes the entry is the acquire. */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_RELAXED);

		if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY)
			n += shmring__ep_free_dead(r, &eps[i], st, NULL);
	}
	recover_unlock(b);
	return n;
}

int shmring__mpmc_recover(struct shmring *r)
{
	return mpmc_recover(r, 0);
}

/*
 * Registration on a full table. MPMC registration takes FREE entries
 * only, never a dead ACTIVE one directly: recovery frees dead entries
 * without a compare-and-swap (under its lock, it relies on registration
 * not taking them under it), so the dead are freed here by recovery,
 * which first releases what they held. Another process recovering makes
 * us wait for it a little (its recovery frees the same entries).
 */
int shmring__mpmc_ep_settle(struct shmring *r)
{
	int n = -EBUSY;

	for (int tries = 0; tries < 100 && n == -EBUSY; tries++) {
		n = mpmc_recover(r, 0);
		if (n == -EBUSY)
			usleep(1000);
	}
	return n;
}

int shmring__mpmc_stall_check(struct shmring *r, uint32_t side, int peers_dead)
{
	struct shmring_ctrl *c = r->ctrl;
	/* A waiter's slices (wait.h): the stall seen at its last check. */
	struct shmring_mpmc__hstate *hs = shmring_mpmc__hs(r);
	/* Acquire: pairs with the consumers' release CAS of cons.claim (C3). */
	uint64_t h = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);
	uint64_t p = shmring_atomic_load(&c->prod.claim, SHMRING_RELAXED);
	int n;

	if (r->role != SHMRING_PRODUCER && r->role != SHMRING_CONSUMER)
		return 0; /* an observer's mapping is read-only */
	/* A consumer waits at h: only a claimed, unpublished slot there can
	 * be a dead producer's (p == h: simply empty). A producer waits for
	 * room: a dead consumer's claim, or consumers stopped at a dead
	 * producer's slot, show as consumers that do not move. */
	if (side == SHMRING_CONSUMER && p == h) {
		hs->stall_seen = 0;
		return 0;
	}
	if (!peers_dead && !(hs->stall_seen && hs->stall_pos == h)) {
		hs->stall_pos = h;
		hs->stall_seen = 1;
		return 0;
	}
	/* No progress for a whole slice (or nobody left alive to make it):
	 * check liveness ourselves. The next scan needs another slice. */
	hs->stall_seen = 0;
	n = mpmc_recover(r, 1);
	if (n <= 0)
		return n == -EBUSY ? 0 : n; /* EBUSY: another process is at it */
	/* Skipped slots let consumers on, dropped claims let producers on:
	 * wake both sides' sleepers (StoreLoad first, as a waker's W2). */
	shmring__wait_fence();
	for (uint32_t s = SHMRING_PRODUCER; s <= SHMRING_CONSUMER; s++)
		if (shmring_atomic_load(&shmring__wait_block(r, s)->waiters, SHMRING_RELAXED))
			shmring__wake_slow(r, s, UINT32_MAX >> 1);
	return n;
}
