/* SPDX-License-Identifier: MIT */
/*
 * MPMC slot ring: geometry, initialisation, attach, and the producers'
 * limit refresh (the fast path is inline in include/shmring/mpmc.h; the
 * algorithm and its ordering are described there).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

/* The claim mode (mpmc.h, SOLO): a grant stands at least this long
 * before another endpoint may take it over (it may always take it back). */
#define SOLO_HOLD_NS 20000u
/* How long shmring_mpmc__unsolo and a grant wait for an endpoint to leave
 * a claim before they give up for now. */
#define LEAVE_WAIT_NS 1000000u

struct shmring_mpmc_block *shmring__mpmc_block(struct shmring_ctrl *c)
{
	return (struct shmring_mpmc_block *)(void *)c->kind_blocks;
}

/* Every slot starts as if it held the message of the lap before init_pos,
 * already taken: the slot of position p holds PUB(p - capacity). */
static void mpmc_init(const struct shmring_hdr *h, struct shmring_ctrl *c, unsigned char *data)
{
	uint64_t p0 = h->init_pos;

	for (uint64_t i = 0; i < h->capacity; i++) {
		uint64_t p = p0 + i;
		SHMRING_ATOMIC(uint64_t) *seq =
			(SHMRING_ATOMIC(uint64_t) *)(void *)(data + (p & (h->capacity - 1)) * h->slot_stride);

		shmring_atomic_store(seq, SHMRING_MPMC_SEQ(p - h->capacity, SHMRING_MPMC_PUB),
				     SHMRING_RELAXED);
	}
	shmring_atomic_store(&c->prod.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->prod.claim, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->prod.cached, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.claim, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.cached, p0, SHMRING_RELAXED);
	shmring_atomic_store(&shmring__mpmc_block(c)->ep_hi, 2, SHMRING_RELAXED);
}

/*
 * The claim mode: slow paths (the protocol is described in mpmc.h).
 *
 * The solo claimer's side of the handshake costs no instruction beyond a
 * load: it stores its announcement, loads the mode word, and stores the
 * counter. Whoever changes the word under it runs a membarrier(2)
 * between storing the word and looking at the claimer's entry (S3), which
 * acts as a full barrier on every CPU running a registered process: the
 * claimer either announced before it (and is waited for) or loads the
 * word after it (and sees the change). Solo claimers register first.
 */
static int barrier_register(void)
{
	static SHMRING_ATOMIC(int32_t) registered; /* pid that registered (fork: ask again) */
	int32_t me = (int32_t)getpid();

	/* Relaxed: a cache of this process's own registration. */
	if (shmring_atomic_load(&registered, SHMRING_RELAXED) == me)
		return 0;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) < 0)
		return -errno;
	shmring_atomic_store(&registered, me, SHMRING_RELAXED);
	return 0;
}

/* S3: a full barrier on every CPU that runs a thread of a registered
 * process (the slow global form where the expedited one is refused). */
static int barrier_all(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ||
	    syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return 0;
	return shmring__fail(-errno, "membarrier: %s", strerror(errno));
}

static struct shmring_stats *side_stats(struct shmring *r)
{
	return r->role == SHMRING_PRODUCER ? &r->ctrl->prod_stats : &r->ctrl->cons_stats;
}

/* Has the entry announced a claim it has not won yet? A reader that sees
 * it won (or dropped) after a barrier S3 sees the counter it stored. */
static int mid_claim(const struct shmring *r, struct shmring_endpoint *e)
{
	/* Acquire: pairs with the release stores of claim_end in confirm
	 * and clear; claim_pos is then the one of that claim or newer. */
	uint64_t ce = shmring_atomic_load(&e->claim_end, SHMRING_ACQUIRE);
	uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED);
	uint64_t n;

	return shmring__claim_decode(cp, ce, r->capacity, &n) == 0;
}

/* Is the entry of a process that can still claim? (Closed entries and
 * dead processes cannot; this reads /proc, so ask seldom.) */
static int ep_can_claim(struct shmring_endpoint *e)
{
	/* Acquire: pairs with the release store of state at registration. */
	return shmring_atomic_load(&e->state, SHMRING_ACQUIRE) == SHMRING_EP_ACTIVE &&
	       shmring__ep_alive(e);
}

/* One step of waiting on another endpoint: spin first, then yield, so a
 * holder preempted on our own CPU runs. Returns 1 to go on waiting, 0 when
 * the holder cannot claim any more (closed, or its process dead: stop
 * waiting), -EAGAIN after about LEAVE_WAIT_NS. */
static int wait_step(struct shmring_endpoint *holder, uint32_t *spins, uint64_t *t0)
{
	uint64_t now;

	if ((*spins)++ < 128) {
		shmring_cpu_relax();
		return 1;
	}
	if (!ep_can_claim(holder))
		return 0;
	now = shmring__now_ns(CLOCK_MONOTONIC);
	if (!*t0)
		*t0 = now;
	else if (now - *t0 > LEAVE_WAIT_NS)
		return -EAGAIN;
	sched_yield();
	return 1;
}

/* Wait until the entry is not inside a claim, or cannot claim any more.
 * Returns 0, or -EAGAIN. */
static int wait_leave(struct shmring *r, struct shmring_endpoint *e)
{
	uint32_t spins = 0;
	uint64_t t0 = 0;
	int ret;

	while (mid_claim(r, e))
		if ((ret = wait_step(e, &spins, &t0)) <= 0)
			return ret;
	return 0;
}

/* Wait for a GRANTING word to change; a dead or closed granter's is
 * dropped. Returns 0, or -EAGAIN. */
static int wait_granted(struct shmring *r, SHMRING_ATOMIC(uint32_t) *mode, uint32_t w,
			struct shmring_endpoint *holder)
{
	uint32_t spins = 0;
	uint64_t t0 = 0;
	int ret = 1;

	/* Ours: left by a granter that died or closed in our entry (we
	 * took the entry over); it never stored the counter. */
	if (r->ep == holder)
		ret = 0;
	else
		while (shmring_atomic_load(mode, SHMRING_RELAXED) == w)
			if ((ret = wait_step(holder, &spins, &t0)) <= 0)
				break;
	/* Seq_cst, as every change of the word; it publishes nothing (a
	 * granter stores no counter before SOLO). */
	if (ret == 0)
		shmring_atomic_cas(mode, &w, 0, SHMRING_SEQ_CST, SHMRING_RELAXED);
	return ret < 0 ? ret : 0;
}

/* May this handle hold the mode? Its grant time check is the caller's. */
static int solo_eligible(struct shmring *r)
{
	return shmring_mpmc__hs(r)->token != UINT64_MAX && barrier_register() == 0;
}

/*
 * Ask for the mode (at attach, `alone_only`: only if no other live
 * endpoint of our role is in the table; later: after a run of claims
 * nobody came between). The word goes 0 -> GRANTING(us): from then on a
 * claimer that loads it keeps off the counter, and after the barrier we
 * wait out those that loaded 0 before and are still inside a claim.
 * Then GRANTING -> SOLO. Gives up (back to 0) if one stays inside a claim.
 */
static void solo_grant(struct shmring *r, int alone_only)
{
	struct shmring_mpmc_block *b = shmring__mpmc_block(r->ctrl);
	SHMRING_ATOMIC(uint32_t) *mode = &b->solo[r->role - 1];
	struct shmring_endpoint *eps = shmring__ep_table(r);
	uint32_t me = shmring__ep_index(r, r->ep);
	uint32_t granting = SHMRING_MPMC_SOLO_WORD(me, 0);
	/* Acquire: pairs with the release update in mpmc_attach. */
	uint32_t hi = shmring_atomic_load(&b->ep_hi, SHMRING_ACQUIRE);
	uint32_t w = 0;

	if (hi > r->ep_count)
		hi = r->ep_count;
	if (shmring_atomic_load(mode, SHMRING_RELAXED) != 0)
		return;
	if (shmring__now_ns(CLOCK_MONOTONIC) - shmring_atomic_load(&b->solo_ns[r->role - 1], SHMRING_RELAXED) <
	    SOLO_HOLD_NS)
		return;
	for (uint32_t i = 2; alone_only && i < hi; i++) {
		/* Acquire: pairs with the release store of state at
		 * registration: role, pid and start time are filled in. */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);

		if (i == me || (st != SHMRING_EP_ACTIVE && SHMRING_EP_STATE(st) != SHMRING_EP_BUSY))
			continue;
		if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY ||
		    (shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) == r->role && ep_can_claim(&eps[i])))
			return;
	}
	if (!solo_eligible(r))
		return;
	/* Seq_cst: the word is stored before the barrier below. */
	if (!shmring_atomic_cas(mode, &w, granting, SHMRING_SEQ_CST, SHMRING_RELAXED))
		return;
	shmring_atomic_store(&b->solo_ns[r->role - 1], shmring__now_ns(CLOCK_MONOTONIC), SHMRING_RELAXED);
	if (barrier_all() < 0)
		goto give_up;
	/* After the barrier: an endpoint that loaded the word before our
	 * CAS raised ep_hi before that, and we see it now. Acquire: pairs
	 * with the release update in mpmc_attach. */
	hi = shmring_atomic_load(&b->ep_hi, SHMRING_ACQUIRE);
	if (hi > r->ep_count)
		hi = r->ep_count;
	for (uint32_t i = 2; i < hi; i++) {
		if (i == me || shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) != r->role)
			continue;
		if (wait_leave(r, &eps[i]) < 0)
			goto give_up;
	}
	w = granting;
	/* Release: pairs with S2: the counter values the waited-out
	 * claimers stored are ours to continue from. */
	if (shmring_atomic_cas(mode, &w, (uint32_t)shmring_mpmc__hs(r)->token, SHMRING_SEQ_CST,
			       SHMRING_RELAXED))
		shmring_atomic_fetch_add(&side_stats(r)->solo_grants, 1, SHMRING_RELAXED);
	return;
give_up:
	/* We never stored the counter: the word can go straight back
	 * (seq_cst, as every change of the word); claimers waiting in
	 * wait_granted see it go. */
	w = granting;
	shmring_atomic_cas(mode, &w, 0, SHMRING_SEQ_CST, SHMRING_RELAXED);
}

void shmring_mpmc__solo(struct shmring *r)
{
	r->hwm = 0;
	if (r->ep)
		solo_grant(r, 0);
}

int shmring_mpmc__unsolo(struct shmring *r, uint32_t w)
{
	struct shmring_mpmc_block *b = shmring__mpmc_block(r->ctrl);
	uint32_t side = r->role - 1;
	SHMRING_ATOMIC(uint32_t) *mode = &b->solo[side];
	uint32_t idx = w >> 2, st = w & 3u, next = 0;
	struct shmring_endpoint *e = &shmring__ep_table(r)[idx];
	uint64_t seen = 0;
	int ret, revoker = 0;

	if (idx < 2 || idx >= r->ep_count) {
		shmring_atomic_fetch_add(&side_stats(r)->corrupt, 1, SHMRING_RELAXED);
		return -EPROTO;
	}
	switch (st) {
	case 0:
		/* GRANTING: its holder stores nothing until SOLO, and waits
		 * for claimers to leave their claims: ours is cleared, so
		 * wait here, not in a claim. A dead or closed holder's word
		 * is dropped. */
		return wait_granted(r, mode, w, e);
	case SHMRING_MPMC_SOLO:
		/* Its last claim, to tell below whether it is claiming
		 * alongside us or not running. */
		seen = shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED);
		revoker = 1;
		/* Seq_cst: stored before the barrier (S3). */
		if (!shmring_atomic_cas(mode, &w, SHMRING_MPMC_SOLO_WORD(idx, SHMRING_MPMC_REVOKING),
					SHMRING_SEQ_CST, SHMRING_RELAXED))
			return 0; /* changed: look again */
		w = SHMRING_MPMC_SOLO_WORD(idx, SHMRING_MPMC_REVOKING);
		shmring_atomic_fetch_add(&side_stats(r)->solo_revokes, 1, SHMRING_RELAXED);
		/* fall through */
	case SHMRING_MPMC_REVOKING:
		ret = barrier_all();
		if (ret < 0)
			return ret;
		/* Seq_cst, after the barrier (S3): FENCED tells whoever
		 * comes next that the barrier has run. */
		if (!shmring_atomic_cas(mode, &w, SHMRING_MPMC_SOLO_WORD(idx, SHMRING_MPMC_FENCED),
					SHMRING_SEQ_CST, SHMRING_RELAXED) &&
		    w != SHMRING_MPMC_SOLO_WORD(idx, SHMRING_MPMC_FENCED))
			return 0;
		w = SHMRING_MPMC_SOLO_WORD(idx, SHMRING_MPMC_FENCED);
		/* fall through */
	default:
		/* FENCED: the holder's next claim sees the word; wait out
		 * the one it may be inside. */
		ret = wait_leave(r, e);
		if (ret < 0)
			return ret;
		/* Hand the mode on to us if the holder made no claim while we
		 * took it back (it is not running, or waits for room: as
		 * when claimers share a CPU) and its grant has stood long
		 * enough: the word never went through 0 since it was
		 * granted, so no claimer can be inside a CAS. Otherwise (it
		 * claims alongside us) back to shared. */
		if (revoker && shmring__ep_index(r, r->ep) != idx &&
		    shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED) == seen && solo_eligible(r) &&
		    shmring__now_ns(CLOCK_MONOTONIC) - shmring_atomic_load(&b->solo_ns[side], SHMRING_RELAXED) >=
			    SOLO_HOLD_NS)
			next = (uint32_t)shmring_mpmc__hs(r)->token;
		/* S4: release, pairs with S2: the holder's counter stores,
		 * seen through wait_leave's acquire, come first. */
		if (shmring_atomic_cas(mode, &w, next, SHMRING_SEQ_CST, SHMRING_RELAXED) && next) {
			shmring_atomic_store(&b->solo_ns[side], shmring__now_ns(CLOCK_MONOTONIC),
					     SHMRING_RELAXED);
			shmring_atomic_fetch_add(&side_stats(r)->solo_grants, 1, SHMRING_RELAXED);
		}
		return 0;
	}
}

/*
 * Close: settle what the handle holds, so the ring never waits for it.
 * A reservation is given back (its slots CANCEL: consumers pass them;
 * prod_stats.skipped counts them). A peek's messages are counted in
 * cons_stats.lost and its slots freed: they cannot be given back to
 * another consumer, since the consumer claim counter has moved past them
 * (other consumers may have claimed beyond), it never moves back, and
 * consumers never write a slot, so FIFO order leaves no place to put
 * them again. Not if the object was shrunk under us: then nothing is
 * written (the entry, freed through the kernel by ep_unregister, takes
 * the claim with it; the ring is unusable anyway). A peer that shrinks
 * the object between that fstat and these stores still raises SIGBUS:
 * settling means slot and counter stores, which the kernel cannot do
 * for us the way store_zero_guarded (endpoint.c) stores one word. Close
 * with nothing open writes nothing but the entry and has no such window.
 *
 * A claim mode we hold is not handed back here: the word lives in the
 * control page, which a peer may have cut off, and no compare-and-swap
 * can be done through the kernel the way store_zero_guarded (endpoint.c)
 * does a store. Freeing our entry is what ends the mode: the next
 * claimer of the side finds the word naming an entry that cannot claim
 * and takes it back (shmring_mpmc__unsolo: one barrier, no wait), and an
 * endpoint that later registers in that entry holds it as its own.
 */
static void mpmc_detach(struct shmring *r)
{
	uint64_t k = shmring_mpmc__hs(r)->pending, lost = 0;
	struct stat st;

	if (!r->ep || k == 0)
		return;
	if (fstat(r->fd, &st) != 0 || (uint64_t)st.st_size < r->map_size)
		return;
	if (r->role == SHMRING_PRODUCER) {
		if (shmring_mpmc_commit(r, 0) == 0)
			shmring_atomic_fetch_add(&r->ctrl->prod_stats.skipped, k, SHMRING_RELAXED);
		return;
	}
	for (uint64_t i = 0; i < k; i++)
		/* Relaxed: our claim keeps the slot as C1 acquired it. */
		lost += shmring_atomic_load(shmring__slot_seq(r, r->pos + i), SHMRING_RELAXED) ==
			SHMRING_MPMC_SEQ(r->pos + i, SHMRING_MPMC_PUB);
	if (lost)
		shmring_atomic_fetch_add(&r->ctrl->cons_stats.lost, lost, SHMRING_RELAXED);
	shmring_mpmc_release(r);
}

/*
 * The two claim counters, read as a consistent pair: p - t <= capacity.
 * On a live ring a reader preempted between its two loads can see the
 * other side laps ahead (either order of the loads), so an inconsistent
 * pair is read again; one that stays the same twice in a row, or keeps
 * changing for 1000 reads, is corruption (-EPROTO).
 */
static int mpmc_claims(const struct shmring *r, uint64_t *pp, uint64_t *tp)
{
	struct shmring_ctrl *c = r->ctrl;
	uint64_t p = 0, t = 0;

	for (int i = 0; i < 1000; i++) {
		uint64_t p0 = p, t0 = t;

		/* Acquire: pairs with the release CASes of the claim counters
		 * (P0a: the cons.claim loaded next is at least the one the
		 * producers' claim was made against). */
		p = shmring_atomic_load(&c->prod.claim, SHMRING_ACQUIRE);
		SHMRING__FAULT(SHMRING_FAULT_MPMC_CLAIMS);
		t = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);
		if (p - t <= r->capacity || t - p <= r->capacity) {
			*pp = p;
			*tp = t;
			return 0;
		}
		if (i > 0 && p == p0 && t == t0)
			break;
	}
	return shmring__fail(-EPROTO, "positions are inconsistent: producer claim %llu, consumer claim %llu, capacity %llu",
			     (unsigned long long)p, (unsigned long long)t,
			     (unsigned long long)r->capacity);
}

/* The read-only checks of attach (the claim counters, the claim-mode
 * words), made before the endpoint is registered. */
static int mpmc_check(const struct shmring *r)
{
	struct shmring_ctrl *c = r->ctrl;
	uint64_t p, t;

	if (mpmc_claims(r, &p, &t) < 0)
		return -EPROTO;
	for (uint32_t side = 0; side < 2; side++) {
		uint32_t w = shmring_atomic_load(&shmring__mpmc_block(c)->solo[side], SHMRING_RELAXED);

		if (w != 0 && ((w >> 2) < 2 || (w >> 2) >= r->ep_count))
			return shmring__fail(-EPROTO, "%s claim mode word is 0x%x: entry %u is outside the endpoint table (2..%u)",
					     side ? "consumer" : "producer", w, w >> 2, r->ep_count - 1);
	}
	return 0;
}

static int mpmc_attach(struct shmring *r)
{
	struct shmring_ctrl *c = r->ctrl;
	uint64_t p, t;

	/* Again: a peer may have changed them since mpmc_check. */
	if (mpmc_claims(r, &p, &t) < 0)
		return -EPROTO;
	if (r->ep) {
		struct shmring_mpmc_block *b = shmring__mpmc_block(c);
		uint32_t idx = shmring__ep_index(r, r->ep);
		uint32_t hi = shmring_atomic_load(&b->ep_hi, SHMRING_RELAXED);

		/* Release: pairs with the acquire load of ep_hi in refresh and
		 * recovery, which then scan our entry. */
		while (hi < idx + 1 &&
		       !shmring_atomic_cas_weak(&b->ep_hi, &hi, idx + 1, SHMRING_RELEASE, SHMRING_RELAXED))
			;
	}
	r->pos = t;
	r->cached = p; /* no room known yet: the first push refreshes */
	shmring_mpmc__hs(r)->pending = 0;
	shmring_mpmc__hs(r)->scanned = 0; /* no scan yet (shmring_mpmc__refresh) */
	shmring_mpmc__hs(r)->stall_pos = 0; /* no stall seen yet (shmring__mpmc_stall_check) */
	shmring_mpmc__hs(r)->stall_seen = 0;
	shmring_mpmc__hs(r)->token = UINT64_MAX;
	shmring_mpmc__hs(r)->next = 0;
	r->hwm = 0;
	/* The claim mode only where the creator asked for it, and only for a
	 * process the holder's barrier reaches: a word left naming our entry
	 * (by a holder that closed or died in it) is ours to claim by plain
	 * stores only once we are registered. */
	if (r->ep && (r->flags & SHMRING_F_SOLO) && !(r->flags & SHMRING_F_NO_SOLO) &&
	    barrier_register() == 0) {
		shmring_mpmc__hs(r)->token = SHMRING_MPMC_SOLO_WORD(shmring__ep_index(r, r->ep), SHMRING_MPMC_SOLO);
		solo_grant(r, 1);
	}
	return 0;
}

int shmring_mpmc__refresh(struct shmring *r, uint64_t t, uint64_t want)
{
	struct shmring_ctrl *c = r->ctrl;
	/* Acquire: pairs with the release store of prod.cached below, made
	 * after another producer's acquire loads of the consumers' state. */
	uint64_t shared = shmring_atomic_load(&c->prod.cached, SHMRING_ACQUIRE);

	if ((int64_t)(shared + r->capacity - r->cached) > 0) {
		r->cached = shared + r->capacity;
		if ((int64_t)(r->cached - t) >= (int64_t)want)
			return 0;
	}
	/* P0a: acquire, pairs with the claimer's release CAS or store of
	 * prod.claim (P2) that wrote p; see the sanity check below. */
	uint64_t p = shmring_atomic_load(&c->prod.claim, SHMRING_ACQUIRE);
	/* P0: acquire, pairs with the consumers' release CAS of cons.claim
	 * (C3): their announcements made before it are visible below. */
	uint64_t min = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);

	/*
	 * Sanity check, with a second read: consumers never pass the
	 * producers, and producers never run more than a lap ahead. Why
	 * this holds under the C11 model, not only on x86:
	 *  - p - min <= capacity: the claimer X that wrote p claimed below
	 *    its limit c + capacity, c a consumer position X (or the
	 *    producer whose prod.cached X took, through that store's
	 *    release and X's acquire) loaded with acquire before its CAS.
	 *    P0a synchronizes with X's CAS, so that load of c happens before
	 *    our load of cons.claim, which by coherence reads c or a later
	 *    value: min >= c (announced positions lower only the limit).
	 *    With p loaded relaxed nothing orders the two loads: a second
	 *    producer could see X's p and a cons.claim older than c.
	 *  - min <= p2: the consumer that wrote min passed positions whose
	 *    PUB (P4) or SKIP (recovery) it acquired (C1), stored after the
	 *    claim of those positions; P0 synchronizes with its CAS, so the
	 *    claims happen before our load of p2.
	 */
	uint64_t p2 = shmring_atomic_load(&c->prod.claim, SHMRING_RELAXED);

	if ((int64_t)(p - min) > (int64_t)r->capacity || (int64_t)(min - p2) > 0) {
		shmring_atomic_fetch_add(&c->prod_stats.corrupt, 1, SHMRING_RELAXED);
		return -EPROTO;
	}
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_mpmc__high_water(r, p2);
	/* A producer spinning on a full ring: if the consumers have not
	 * moved since our last scan and no announcement held us back then,
	 * a scan can find nothing new; skip it rather than pull every
	 * consumer's entry line over again (scan_claim, scan_min: the
	 * consumer claim and the limit base of the last scan). */
	if (min == shmring_mpmc__hs(r)->scan_claim && shmring_mpmc__hs(r)->scan_min == min && shmring_mpmc__hs(r)->scanned)
		return 0;
	shmring_mpmc__hs(r)->scan_claim = min;
	shmring_mpmc__hs(r)->scanned = 1;
	struct shmring_endpoint *eps = shmring__ep_table(r);
	/* Acquire: pairs with the release update in mpmc_attach. */
	uint32_t hi = shmring_atomic_load(&shmring__mpmc_block(c)->ep_hi, SHMRING_ACQUIRE);

	if (hi > r->ep_count)
		hi = r->ep_count;
	for (uint32_t i = 2; i < hi; i++) {
		struct shmring_endpoint *e = &eps[i];

		/* P0: acquire, pairs with the consumer's release stores of
		 * claim_end (C5: its reads of the slots are done) and of the
		 * announcement (C2, then claim_pos is that one or later). */
		uint64_t ce = shmring_atomic_load(&e->claim_end, SHMRING_ACQUIRE);
		/* Acquire: pairs with the release store of claim_pos (C2). */
		uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_ACQUIRE);

		if (ce == cp)
			continue;
		/* A closed entry (FREE) holds nothing, whatever it left. */
		if (shmring_atomic_load(&e->state, SHMRING_RELAXED) != SHMRING_EP_ACTIVE ||
		    shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_CONSUMER)
			continue;
		/* Announcements are consumer positions already reached:
		 * never ahead of cons.claim (a corrupt one is ignored). */
		if ((int64_t)(min - cp) > 0)
			min = cp;
	}
	shmring_mpmc__hs(r)->scan_min = min;
	r->cached = min + r->capacity;
	/* Release: pairs with the acquire load of prod.cached above, in
	 * other producers. A stale smaller value only costs a refresh. */
	if ((int64_t)(min - shared) > 0)
		shmring_atomic_store(&c->prod.cached, min, SHMRING_RELEASE);
	return 0;
}

/* Stats: both sides move their claim counters, not their pos words. */
static void mpmc_fill_positions(const struct shmring *r, uint64_t *head, uint64_t *tail)
{
	/* Acquire: pairs with the release CASes of cons.claim (C3) and
	 * prod.claim (P2). */
	*tail = shmring_atomic_load(&r->ctrl->cons.claim, SHMRING_ACQUIRE);
	*head = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);
}

const struct shmring_kind_ops shmring__mpmc_ops = {
	.type = SHMRING_MPMC,
	.name = "mpmc",
	.flags = SHMRING_F_COUNTERS | SHMRING_F_MEMFD | SHMRING_F_NO_SOLO | SHMRING_F_SOLO,
	.geometry = shmring__slot_geometry, /* as the SPSC ring (spsc.c) */
	.init = mpmc_init,
	.check = mpmc_check,
	.attach = mpmc_attach,
	.detach = mpmc_detach,
	.ep_settle = shmring__mpmc_ep_settle,
	.recover = shmring__mpmc_recover,
	.stall_check = shmring__mpmc_stall_check,
	.ready_prod = shmring_mpmc__ready_push,
	.ready_cons = shmring_mpmc__ready_pop,
	.positions = mpmc_fill_positions,
};
