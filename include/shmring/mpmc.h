/* SPDX-License-Identifier: MIT */
/*
 * Multi-producer multi-consumer ring of fixed-size slots: inline fast path.
 *
 * ALGORITHM (docs/mpmc.md has the measurements behind the choices)
 *
 * Each side claims positions on its claim counter (ctrl->prod.claim,
 * ctrl->cons.claim) with one compare-and-swap, as in Vyukov's bounded
 * queue, or, on a ring created with SHMRING_F_SOLO and while one endpoint
 * has the side to itself, with a plain store (CLAIM MODE below); and each
 * slot carries a sequence word saying which position it last held and in
 * what state:
 *
 *   seq = (position << 2) | SHMRING_MPMC_PUB     message of that position
 *                         | SHMRING_MPMC_SKIP    given up: producer died
 *                         | SHMRING_MPMC_CANCEL  reserved, given back unwritten
 *
 * Unlike Vyukov's queue, consumers never write the slot. A consumer
 * announces the position it is about to claim in its endpoint entry
 * (claim_pos, claim_end) before its claim, and clears the claim when it is
 * done reading. A producer may write position t while t - capacity is
 * below both the consumer claim counter and every announced consumer
 * position; it keeps that limit in its handle and recomputes it
 * (shmring_mpmc__refresh, out of line: one read of cons.claim and of the
 * consumer entries) only when the cached limit runs out, about once a lap
 * while consumers keep up. A slot's cache line therefore moves only
 * producer -> consumer; in Vyukov's queue the consumer's "slot free"
 * store sends it back.
 *
 * Producers also announce their claims before claiming. That costs two
 * stores to a line the endpoint owns, and is what makes recovery exact:
 * shmring_recover() (src/mpmc_recover.c) finds a dead process's announced
 * positions, marks the ones it never published SKIP (a consumer passes a
 * SKIP slot and counts it in cons_stats.skipped; its bytes are never
 * delivered) and drops a dead consumer's announcement, counting what it
 * held in cons_stats.lost. Nobody has to call it: the blocking waits of
 * wait.h run it themselves at their liveness checks (every slice_ms,
 * default 100) when the consumers made no progress since the previous
 * check or every peer is dead, so a dead process stalls the ring for one
 * to two slices (SHMRING_WAIT_F_NO_RECOVER turns it off per handle). The
 * try operations never do; nothing of it is on the fast path.
 *
 * Preemption and stops: without SHMRING_F_SOLO no endpoint ever waits for
 * another of its side: a claim is one CAS, and an endpoint stopped or
 * preempted at any instruction keeps the others from claiming for no time
 * at all. A producer stopped between claim and publish holds only its own
 * slots. Other producers keep claiming past it; consumers stop at its slot
 * (FIFO order), as in Vyukov's queue, so the others can push at most
 * capacity - 1 more messages until it runs again (or dies and recovery
 * skips the slot); nobody waits on a shared tail as in DPDK's or
 * Concurrency Kit's MP rings, which is what makes those collapse when two
 * producers share a core.
 *
 * CLAIM MODE (opt-in: SHMRING_F_SOLO at create). Why: a locked
 * instruction waits for the stores before it, and the previous message's
 * slot stores are waiting for the line the consumer is reading; with both
 * claim CASes replaced by plain stores 1P1C runs several times faster
 * (docs/mpmc.md). It is not the default because taking the mode back
 * waits for the holder to leave its claim: a holder stopped (SIGSTOP, a
 * debugger, a long preemption) inside its claim stops every other
 * endpoint of its side for as long as it stays stopped; and each take-back
 * or grant runs membarrier(GLOBAL_EXPEDITED), an interrupt on every core
 * running a registered process. With the flag, each side has a mode word
 * (layout.h: shmring_mpmc_block.solo[]): 0, every claim a CAS;
 * SOLO(entry), that endpoint alone claims, with a plain store. A claim is: announce, load the word, then store (SOLO naming us)
 * or CAS (0). Any other value sends the claimer to the slow path
 * (shmring_mpmc__unsolo, src/mpmc.c), with its announcement cleared:
 *
 *   - taking back: SOLO(i) -> REVOKING(i); membarrier(2)
 *     (MEMBARRIER_CMD_GLOBAL_EXPEDITED: every CPU that runs a thread of a
 *     registered process executes a full barrier) -> FENCED(i); wait until
 *     entry i holds no announced-but-unwon claim (or its process is dead
 *     or gone); then 0, or SOLO(us) when i made no claim meanwhile (it is
 *     not running: claimers sharing a CPU) and its grant is 20 us old.
 *     The barrier is the holder's half of a Dekker handshake it never
 *     pays for: either its announcement was stored before the barrier
 *     (and we wait for it to finish), or its load of the word comes
 *     after (and it sees the change);
 *   - granting: an endpoint that made SHMRING_MPMC_SOLO_RUN claims in a
 *     row nobody came between, or attaches alone on its side, asks:
 *     0 -> GRANTING(us); membarrier; wait for every other endpoint of the
 *     side to leave a claim it may have started on seeing 0 (give up,
 *     back to 0, after about a millisecond); -> SOLO(us). At most one
 *     grant per 20 us per side (solo_ns), so endpoints truly claiming at
 *     the same time end in shared mode after one exchange, and pay at most
 *     a barrier per 20 us if they keep finding runs;
 *   - close leaves the word (it is in the control page, which a peer may
 *     have cut off, and the kernel has no guarded compare-and-swap):
 *     freeing the entry ends the mode, the next claimer takes it back
 *     from the entry that cannot claim (one barrier, no wait); a waiter
 *     that finds its holder inside a claim for more than about a
 *     millisecond returns -EAGAIN.
 *
 * Each side costs one extra load (the word, a read-mostly line) per
 * claim in either mode. The spin model tests/spin/solo.pml checks the
 * handshake with store buffers (x86-TSO): no position claimed twice;
 * without the barrier, or either wait, or with SOLO handed on directly,
 * it finds a double claim. Every process that may hold the mode
 * registers (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) before it claims
 * by plain stores; where that is refused (seccomp, valgrind) it never
 * holds the mode. Without SHMRING_F_SOLO (SHMRING_F_NO_SOLO names that
 * default; both together are -EINVAL) the word is never granted.
 *
 * WHY THIS AND NOT ANOTHER. Concurrency Kit's and DPDK's MP/MC rings make
 * every producer wait for the ones that claimed before it to publish a
 * shared tail, which is what collapses when two producers share a core;
 * here nobody waits on a shared tail. Against Vyukov's queue (per-slot
 * sequences) the trade is: two stores to the endpoint's own line per
 * operation (the announcement, which recovery needs anyway: without it a
 * dead producer's claim cannot be told from a live, preempted one), in
 * exchange for the consumer never writing a slot line; and the claim mode
 * takes the locked instruction off both sides while one endpoint claims
 * at a time. FAA tickets (SCQ, folly's turn queue) were not tried: a
 * try_push must not take a ticket it may not be able to use, recovery
 * would have to skip abandoned tickets, and a fetch-and-add is as locked
 * as a CAS.
 *
 * ORDERING (P producer, C consumer, R recovery, S claim mode):
 *   P1 release stores of claim_pos/claim_end (announce), then P2 CAS or
 *   store of prod.claim (release): R's acquire load of prod.claim sees P1.
 *   P3 payload stores; P4 release store of seq = PUB: pairs with C1.
 *   P5 release store claim_end = claim_pos (no claim): pairs with R's
 *   acquire load of claim_end (seeing it means seeing P4).
 *   C1 acquire load of seq; C2 store of claim_pos, C3 CAS or store of
 *   cons.claim (release): pairs with P0. C4 payload reads; C5 release
 *   store claim_end = claim_pos (no claim): pairs with P0.
 *   P0 (refresh) acquire loads of cons.claim and of consumers' claims:
 *   a consumer's reads of a slot happen before a producer overwrites it.
 *   P0a (refresh) acquire load of prod.claim before P0: pairs with P2, so
 *   the consumer position the claim was made against happens before
 *   P0's load, and "prod.claim - cons.claim <= capacity" holds under
 *   C11 (src/mpmc.c states the argument). Every other test of a
 *   difference against the capacity loads the counter that must be the
 *   newer one second, after an acquire of the other. The claim paths
 *   need no acquire: they test no such difference; a CAS succeeds only
 *   on the counter's current value, and the limit it is checked
 *   against comes from P0 and P0a (relaxed failure order, relaxed
 *   reloads).
 *   S1 compiler-only fence between the announcement and S2, the acquire
 *   load of the mode word; S3 membarrier(2) between changing the word and
 *   reading the holder's entry (src/mpmc.c); S4 release CAS handing the
 *   word on, after an acquire load of the holder's confirm (release
 *   store of claim_end = claim_pos + n): the holder's counter store
 *   happens before the next claimer's CAS or store.
 *
 * Endpoint claim encoding (layout.h): claim_pos = first position, and
 * claim_end = claim_pos - n while the claim of n positions is announced
 * but not yet won, claim_pos + n once won, claim_pos when the endpoint
 * holds nothing (both SHMRING_NO_CLAIM after registration). Readers load
 * claim_end, then claim_pos.
 *
 * Handles: each thread or process uses its own (shmring_open, shmring_dup):
 * claims are recorded per endpoint, and recovery tells processes apart by
 * pid. A handle used by a child after fork() still names the parent in the
 * endpoint table: the child must dup its own. Handle fields used here:
 * r->cached (producer's write limit), r->pos (position of an outstanding
 * reserve or peek), r->hwm (the run of uncontended claims), and the
 * kind's own state in r->ext (struct shmring_mpmc__hstate below).
 *
 * Test hook: define SHMRING_FAULT_HOOK(point) before including this header
 * to call code at the labelled points below (the test's own inlined copy;
 * the library's copies never have it).
 */
#ifndef SHMRING_MPMC_H
#define SHMRING_MPMC_H

#include <errno.h>
#include <string.h>

#include <shmring/shmring.h>
#include <shmring/spsc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fault points (tests only). */
#define SHMRING_FAULT_PROD_CLAIMED 1        /* producer: slots claimed, nothing written */
#define SHMRING_FAULT_PROD_MID_COPY 2       /* producer: half of the payload written */
#define SHMRING_FAULT_PROD_BEFORE_PUBLISH 3 /* producer: payload written, not published */
#define SHMRING_FAULT_CONS_CLAIMED 4        /* consumer: slots claimed, nothing read */
#define SHMRING_FAULT_CONS_MID_COPY 5       /* consumer: half of the payload read */
#define SHMRING_FAULT_CONS_BEFORE_RELEASE 6 /* consumer: payload read, claim not cleared */
#define SHMRING_FAULT_CLAIM_MODE_READ 7     /* either: claim announced, mode word read, counter
					     * not yet written (store or CAS) */
#define SHMRING_FAULT_CONS_WAKING 8         /* consumer, pop_wait (wait.h): message taken, claim
					     * dropped, producers not yet woken */

#ifdef SHMRING_FAULT_HOOK
#define SHMRING_MPMC_FAULT(point) SHMRING_FAULT_HOOK(point)
#else
#define SHMRING_MPMC_FAULT(point) ((void)0)
#endif

/* The sequence word of a slot holding `pos` in state `st`. */
#define SHMRING_MPMC_SEQ(pos, st) (((uint64_t)(pos) << 2) | (uint64_t)(st))

/*
 * Producer slow path: recompute how far producers may write (the cached
 * limit in r->cached) so that `want` positions from `t` fit if they can.
 * Returns 0, or -EPROTO when the ring's positions are impossible.
 * Internal, as the two below: exported only because the inline fast path
 * calls them (src/libshmring.map); not API.
 */
SHMRING_API int shmring_mpmc__refresh(struct shmring *r, uint64_t t, uint64_t want);

/*
 * Slow paths of the claim mode (SOLO above), out of line in src/mpmc.c.
 * shmring_mpmc__unsolo: the side's mode word `w` names another endpoint (or
 * us, being taken back): take it back, or help whoever is at it. Returns
 * 0 (look at the mode again), -EAGAIN (its holder is inside a claim and
 * did not finish it within about a millisecond: try again later) or
 * -EPROTO (the word names no endpoint entry).
 * shmring_mpmc__solo: we claimed SHMRING_MPMC_SOLO_RUN times in a row with
 * nobody claiming in between: become the side's solo claimer if its last
 * grant is old enough.
 */
SHMRING_API SHMRING_COLD int shmring_mpmc__unsolo(struct shmring *r, uint32_t w);
SHMRING_API SHMRING_COLD void shmring_mpmc__solo(struct shmring *r);

/* Uncontended claims in a row before asking for the mode (tests define it
 * lower, before including this header, to move the mode more often). */
#ifndef SHMRING_MPMC_SOLO_RUN
#define SHMRING_MPMC_SOLO_RUN 1024u
#endif

/*
 * An MPMC handle's own state (process-local), laid over struct shmring's
 * ext[] (shmring_mpmc__hs): one named field per slot, so that no two uses
 * can share a slot by accident.
 */
struct shmring_mpmc__hstate {
	uint64_t pending;    /* count of an outstanding reserve or peek (r->pos: its position) */
	uint64_t scan_claim; /* refresh: the consumer claim at the last scan */
	uint64_t scan_min;   /* refresh: the limit base the last scan found */
	uint64_t scanned;    /* refresh: 1 once a scan was made */
	uint64_t stall_pos;  /* the waits' stall check: the consumer claim at the last check */
	uint64_t stall_seen; /* the waits' stall check: 1 while it is a stall seen once */
	uint64_t token;      /* our SOLO word, or UINT64_MAX: never solo */
	uint64_t next;       /* the position after our last claim */
};
SHMRING_STATIC_ASSERT(sizeof(struct shmring_mpmc__hstate) <= sizeof(((struct shmring *)0)->ext),
		      "MPMC handle state fits in struct shmring's ext");

/* The MPMC state of handle r (an address inside *r: no load). */
static inline struct shmring_mpmc__hstate *shmring_mpmc__hs(struct shmring *r)
{
	return (struct shmring_mpmc__hstate *)(void *)r->ext;
}

SHMRING_INLINE void shmring_mpmc__announce(struct shmring_endpoint *e, uint64_t pos, uint64_t n)
{
	/* P1: release, pairs with recovery's acquire loads of the entry: an
	 * announcement seen there comes after our earlier publications. */
	shmring_atomic_store(&e->claim_pos, pos, SHMRING_RELEASE);
	shmring_atomic_store(&e->claim_end, pos - n, SHMRING_RELEASE);
}

SHMRING_INLINE void shmring_mpmc__confirm(struct shmring_endpoint *e, uint64_t pos, uint64_t n)
{
	/* Release: pairs with the acquire load of claim_end by whoever
	 * waits for us to leave a claim (src/mpmc.c, mid_claim): our store
	 * or CAS of the claim counter comes first. */
	shmring_atomic_store(&e->claim_end, pos + n, SHMRING_RELEASE);
}

/* Drop the endpoint's claim: claim_end = claim_pos means none. (Any
 * position, UINT64_MAX included, can be claimed, so no claim_pos value
 * can stand for "none".) */
SHMRING_INLINE void shmring_mpmc__clear(struct shmring_endpoint *e)
{
	/* P5/C5: release, pairs with the acquire loads of claim_end in
	 * shmring_mpmc__refresh and recovery: our slot accesses come first. */
	shmring_atomic_store(&e->claim_end, shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED),
			     SHMRING_RELEASE);
}

/*
 * Win the announced claim of [*t, *t + k) on the side's counter: a plain
 * store while the side's mode word names us, a CAS while it is 0.
 * Returns 1 when won; 0 when lost (*t reloaded: announce again); or,
 * with the announcement cleared, a negative errno of shmring_mpmc__unsolo.
 */
SHMRING_INLINE int shmring_mpmc__win(struct shmring *r, SHMRING_ATOMIC(uint64_t) *claim,
				           uint64_t *t, uint64_t k)
{
	struct shmring_mpmc_block *b = (struct shmring_mpmc_block *)(void *)r->ctrl->kind_blocks;
	uint32_t w;
	int ret;

	/* S1: compiler-only. Our announcement is stored before this load in
	 * program order; the CPU may still reorder them, and the barrier of
	 * whoever changes the mode word (S3) is what orders them. */
	shmring_signal_fence();
	/* S2: acquire, pairs with the release CAS that handed the mode back
	 * (S4): the solo claimer's stores of the counter come before ours. */
	w = shmring_atomic_load(&b->solo[r->role - 1], SHMRING_ACQUIRE);
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CLAIM_MODE_READ);
	if (shmring_likely(w == shmring_mpmc__hs(r)->token)) {
		/* P2/C3 (solo): nobody else writes the counter while the
		 * word names us. Release as the CAS below. */
		shmring_atomic_store(claim, *t + k, SHMRING_RELEASE);
		return 1;
	}
	if (shmring_likely(w == 0)) {
		uint64_t want = *t;

		/* P2/C3: release, pairs with recovery's acquire load of
		 * prod.claim and the producers' of cons.claim (P0): they
		 * then see our announcement. */
		if (!shmring_atomic_cas_weak(claim, t, want + k, SHMRING_RELEASE, SHMRING_RELAXED)) {
			r->hwm = 0;
			return 0;
		}
		/* Claims in a row that nobody came between: ask for the
		 * mode after a run of them (out of line, rare). */
		if (want != shmring_mpmc__hs(r)->next)
			r->hwm = 0;
		else if (shmring_unlikely(++r->hwm >= SHMRING_MPMC_SOLO_RUN) &&
			 shmring_mpmc__hs(r)->token != UINT64_MAX)
			shmring_mpmc__solo(r);
		shmring_mpmc__hs(r)->next = want + k;
		return 1;
	}
	shmring_mpmc__clear(r->ep);
	ret = shmring_mpmc__unsolo(r, w);
	*t = shmring_atomic_load(claim, SHMRING_RELAXED);
	return ret < 0 ? ret : 0;
}

SHMRING_INLINE void shmring_mpmc__count(struct shmring *r, SHMRING_ATOMIC(uint64_t) *c)
{
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_atomic_fetch_add(c, 1, SHMRING_RELAXED);
}

/*
 * Counters on: raise prod_stats.high_water to the slots in use up to
 * position `end` (claimed by producers) if that is more. Called at a
 * refresh and when a producer has used the last slot it knew free (the
 * moment the ring may be full), never per message; a racy maximum (two
 * producers may store out of order, as SPSC's): a gauge, not a count.
 */
SHMRING_INLINE void shmring_mpmc__high_water(struct shmring *r, uint64_t end)
{
	SHMRING_ATOMIC(uint64_t) *hw = &r->ctrl->prod_stats.high_water;
	/* Relaxed: an estimate; nothing is read through it. */
	uint64_t used = end - shmring_atomic_load(&r->ctrl->cons.claim, SHMRING_RELAXED);

	if (used <= r->capacity && used > shmring_atomic_load(hw, SHMRING_RELAXED))
		shmring_atomic_store(hw, used, SHMRING_RELAXED);
}

/*
 * Producer: claim up to n positions (exactly n when `all`). Returns the
 * count claimed with *pos the first, 0 when full, or -EPROTO.
 */
SHMRING_INLINE int64_t shmring_mpmc__claim_prod(struct shmring *r, uint64_t n, int all,
						      uint64_t *pos)
{
	SHMRING_ATOMIC(uint64_t) *claim = &r->ctrl->prod.claim;
	uint64_t t = shmring_atomic_load(claim, SHMRING_RELAXED);
	int announced = 0;

	for (;;) {
		int64_t room = (int64_t)(r->cached - t);

		if (shmring_unlikely(room < (int64_t)n)) {
			int ret = shmring_mpmc__refresh(r, t, n);

			room = (int64_t)(r->cached - t);
			if (ret < 0 || room <= 0 || (all && room < (int64_t)n)) {
				if (announced)
					shmring_mpmc__clear(r->ep);
				if (ret < 0)
					return ret;
				shmring_mpmc__count(r, &r->ctrl->prod_stats.blocked);
				return 0;
			}
		}
		uint64_t k = (uint64_t)room < n ? (uint64_t)room : n;

		shmring_mpmc__announce(r->ep, t, k);
		announced = 1;
		int won = shmring_mpmc__win(r, claim, &t, k);

		if (shmring_likely(won > 0)) {
			shmring_mpmc__confirm(r->ep, t, k);
			if (shmring_unlikely(r->flags & SHMRING_F_COUNTERS) && t + k == r->cached)
				shmring_mpmc__high_water(r, t + k);
			*pos = t;
			return (int64_t)k;
		}
		if (won < 0)
			return won == -EAGAIN ? 0 : won;
	}
}

/* Producer: mark n claimed slots from t in state st, then drop the claim. */
SHMRING_INLINE void shmring_mpmc__publish(struct shmring *r, uint64_t t, uint64_t n, unsigned st)
{
	for (uint64_t i = 0; i < n; i++)
		/* P4: pairs with the consumer's acquire load of seq (C1). */
		shmring_atomic_store(shmring__slot_seq(r, t + i), SHMRING_MPMC_SEQ(t + i, st),
				     SHMRING_RELEASE);
	shmring_mpmc__clear(r->ep);
	if (r->flags & SHMRING_F_COUNTERS)
		shmring__stat_inc1(&r->ep->ops);
}

SHMRING_INLINE void shmring_mpmc__copy_in(const struct shmring *r, uint64_t t, const void *src)
{
#ifdef SHMRING_FAULT_HOOK
	uint32_t half = r->slot_size / 2;

	memcpy(shmring_slot(r, t), src, half);
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_MID_COPY);
	memcpy((unsigned char *)shmring_slot(r, t) + half, (const unsigned char *)src + half,
	       r->slot_size - half);
#else
	shmring__slot_copy(shmring_slot(r, t), src, r->slot_size);
#endif
}

SHMRING_INLINE void shmring_mpmc__copy_out(const struct shmring *r, uint64_t t, void *dst)
{
#ifdef SHMRING_FAULT_HOOK
	uint32_t half = r->slot_size / 2;

	memcpy(dst, shmring_slot(r, t), half);
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_MID_COPY);
	memcpy((unsigned char *)dst + half, (const unsigned char *)shmring_slot(r, t) + half,
	       r->slot_size - half);
#else
	shmring__slot_copy(dst, shmring_slot(r, t), r->slot_size);
#endif
}

/*
 * Consumer: claim a run of ready slots from the consumer position holding
 * up to n messages (exactly n when `all`; with `contig`, the messages are
 * consecutive slots). Slots given up by recovery or cancelled by their
 * producer inside the run are claimed and passed over. Returns the number
 * of messages m, with the run [*pos, *pos + *slots); 0 when empty.
 */
SHMRING_INLINE int64_t shmring_mpmc__claim_cons(struct shmring *r, uint64_t n, int all,
						      int contig, uint64_t *pos, uint64_t *slots)
{
	SHMRING_ATOMIC(uint64_t) *claim = &r->ctrl->cons.claim;
	uint64_t h = shmring_atomic_load(claim, SHMRING_RELAXED);
	int announced = 0;

	for (;;) {
		uint64_t k = 0, m = 0, skipped = 0;

		while (m < n && k < r->capacity) {
			/* C1: pairs with the producer's release store of seq
			 * (P4): its payload stores are visible after this. */
			uint64_t s = shmring_atomic_load(shmring__slot_seq(r, h + k), SHMRING_ACQUIRE);
			uint64_t base = SHMRING_MPMC_SEQ(h + k, 0);

			if (shmring_likely(s == (base | SHMRING_MPMC_PUB))) {
				m++;
			} else if (s == (base | SHMRING_MPMC_SKIP) || s == (base | SHMRING_MPMC_CANCEL)) {
				if (contig && m)
					break;
				skipped += s == (base | SHMRING_MPMC_SKIP);
			} else {
				break;
			}
			k++;
		}
		if (shmring_unlikely(m < n && (all || m == 0))) {
			/* Empty for this request, unless there are slots to pass
			 * over first (bulk requests leave them to the others). */
			if (all || k == 0) {
				if (announced)
					shmring_mpmc__clear(r->ep);
				shmring_mpmc__count(r, &r->ctrl->cons_stats.blocked);
				return 0;
			}
		}
		shmring_mpmc__announce(r->ep, h, k);
		announced = 1;
		int won = shmring_mpmc__win(r, claim, &h, k);

		if (shmring_unlikely(won < 0))
			return won == -EAGAIN ? 0 : won;
		if (shmring_likely(won > 0)) {
			shmring_mpmc__confirm(r->ep, h, k);
			if (skipped)
				shmring_atomic_fetch_add(&r->ctrl->cons_stats.skipped, skipped,
							 SHMRING_RELAXED);
			if (m == 0) {
				/* Only slots to pass over: drop them, go on. */
				shmring_mpmc__clear(r->ep);
				h += k;
				announced = 0;
				continue;
			}
			*pos = h;
			*slots = k;
			return (int64_t)m;
		}
	}
}

/*
 * Consumer: copy the m messages of the claimed run [t, t + k) out. With
 * `held` (the blocking pops of wait.h, which still have producers to wake
 * before they return), the entry's `taken` says m messages are ours until
 * the caller clears it: recovery counts them lost if we die in between.
 */
SHMRING_INLINE void shmring_mpmc__take(struct shmring *r, uint64_t t, uint64_t k, uint64_t m,
				             void *elems, int held)
{
	unsigned char *dst = (unsigned char *)elems;

	if (shmring_likely(m == k)) {
		for (uint64_t i = 0; i < k; i++)
			shmring_mpmc__copy_out(r, t + i, dst + (size_t)i * r->slot_size);
	} else {
		m = 0;
		for (uint64_t i = 0; i < k; i++) {
			/* Relaxed: C1 already acquired this value; the claim
			 * keeps it. */
			if (shmring_atomic_load(shmring__slot_seq(r, t + i), SHMRING_RELAXED) ==
			    SHMRING_MPMC_SEQ(t + i, SHMRING_MPMC_PUB)) {
				shmring_mpmc__copy_out(r, t + i, dst + (size_t)m * r->slot_size);
				m++;
			}
		}
	}
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_BEFORE_RELEASE);
	if (held)
		/* Relaxed: the release store of the clear (C5) orders it
		 * before the claim is seen dropped (recovery's acquire). */
		shmring_atomic_store(&r->ep->taken, m, SHMRING_RELAXED);
	shmring_mpmc__clear(r->ep);
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_atomic_store(&r->ep->ops,
				     shmring_atomic_load(&r->ep->ops, SHMRING_RELAXED) + m,
				     SHMRING_RELAXED);
}

/*
 * Copy one slot_size element in. The handle must be a producer.
 * Returns 0, -EAGAIN (full), -EBADF (not a producer handle) or -EPROTO
 * (the ring's positions are impossible).
 */
SHMRING_FORCE_INLINE int shmring_mpmc_try_push(struct shmring *r, const void *elem)
{
	uint64_t t;
	int64_t k;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_PRODUCER))
		return -EBADF;
	k = shmring_mpmc__claim_prod(r, 1, 1, &t);
	if (shmring_unlikely(k <= 0))
		return k == 0 ? -EAGAIN : (int)k;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_CLAIMED);
	shmring_mpmc__copy_in(r, t, elem);
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_BEFORE_PUBLISH);
	shmring_mpmc__publish(r, t, 1, SHMRING_MPMC_PUB);
	return 0;
}

/*
 * Copy the oldest available element out. The handle must be a consumer.
 * Returns 0, -EAGAIN (empty), -EBADF (not a consumer handle) or -EPROTO
 * (the consumers' claim mode word names no endpoint).
 */
SHMRING_INLINE int shmring_mpmc__pop1(struct shmring *r, void *elem, int held)
{
	uint64_t h, k;
	int64_t m;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_CONSUMER))
		return -EBADF;
	m = shmring_mpmc__claim_cons(r, 1, 0, 0, &h, &k);
	if (shmring_unlikely(m <= 0))
		return m == 0 ? -EAGAIN : (int)m;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_CLAIMED);
	shmring_mpmc__take(r, h, k, 1, elem, held);
	return 0;
}

SHMRING_FORCE_INLINE int shmring_mpmc_try_pop(struct shmring *r, void *elem)
{
	return shmring_mpmc__pop1(r, elem, 0);
}

SHMRING_INLINE int64_t shmring_mpmc__push_n(struct shmring *r, const void *elems, uint64_t n,
					          int all)
{
	const unsigned char *src = (const unsigned char *)elems;
	uint64_t t;
	int64_t k;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_PRODUCER))
		return -EBADF;
	if (shmring_unlikely(n == 0 || (all && n > r->capacity)))
		return n == 0 ? 0 : -EINVAL;
	k = shmring_mpmc__claim_prod(r, n, all, &t);
	if (shmring_unlikely(k <= 0))
		return k == 0 && all ? -EAGAIN : k;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_CLAIMED);
	for (int64_t i = 0; i < k; i++)
		shmring_mpmc__copy_in(r, t + (uint64_t)i, src + (size_t)i * r->slot_size);
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_BEFORE_PUBLISH);
	shmring_mpmc__publish(r, t, (uint64_t)k, SHMRING_MPMC_PUB);
	return k;
}

/*
 * Copy up to n elements (contiguous, slot_size bytes each) in with one
 * claim. Returns the count pushed (0 when full), -EBADF or -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_push_burst(struct shmring *r, const void *elems, uint64_t n)
{
	return shmring_mpmc__push_n(r, elems, n, 0);
}

/*
 * All or nothing: push n elements, or none. Returns n, -EAGAIN (not
 * enough room), -EINVAL (n larger than the capacity), -EBADF or -EPROTO.
 */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_push_bulk(struct shmring *r, const void *elems, uint64_t n)
{
	return shmring_mpmc__push_n(r, elems, n, 1);
}

SHMRING_INLINE int64_t shmring_mpmc__pop_n(struct shmring *r, void *elems, uint64_t n, int all,
					         int held)
{
	uint64_t h, k;
	int64_t m;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_CONSUMER))
		return -EBADF;
	if (shmring_unlikely(n == 0 || (all && n > r->capacity)))
		return n == 0 ? 0 : -EINVAL;
	m = shmring_mpmc__claim_cons(r, n, all, 0, &h, &k);
	if (m <= 0)
		return m == 0 && all ? -EAGAIN : m;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_CLAIMED);
	shmring_mpmc__take(r, h, k, (uint64_t)m, elems, held);
	return m;
}

/* Copy up to n elements out. Returns the count (0 when empty), -EBADF or
 * -EPROTO. */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_pop_burst(struct shmring *r, void *elems, uint64_t n)
{
	return shmring_mpmc__pop_n(r, elems, n, 0, 0);
}

/*
 * All or nothing: pop n elements, or none. Returns n, -EAGAIN (fewer
 * available), -EINVAL (n larger than the capacity), -EBADF or -EPROTO
 * (the consumers' claim mode word names no endpoint).
 */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_pop_bulk(struct shmring *r, void *elems, uint64_t n)
{
	return shmring_mpmc__pop_n(r, elems, n, 1, 0);
}

/*
 * Zero copy, producer: claim up to n consecutive slots to write in place.
 * *pos receives the first position; slot i is shmring_slot(r, *pos + i).
 * Returns the count (0 when full), -EBUSY (a reservation is outstanding),
 * -EBADF or -EPROTO. Claimed slots are ours until shmring_mpmc_commit:
 * consumers wait at them, so commit soon.
 */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_reserve(struct shmring *r, uint64_t n, uint64_t *pos)
{
	int64_t k;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_PRODUCER))
		return -EBADF;
	if (shmring_unlikely(shmring_mpmc__hs(r)->pending != 0))
		return -EBUSY;
	if (n == 0)
		return 0;
	k = shmring_mpmc__claim_prod(r, n, 0, pos);
	if (k > 0) {
		r->pos = *pos;
		shmring_mpmc__hs(r)->pending = (uint64_t)k;
	}
	return k;
}

/*
 * Publish the first n reserved slots; the rest of the reservation is
 * given back (consumers pass over it, nothing is delivered). Returns 0,
 * -EINVAL when n exceeds the reservation (nothing is published), or
 * -EBADF (not a producer handle).
 */
SHMRING_FORCE_INLINE int shmring_mpmc_commit(struct shmring *r, uint64_t n)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_PRODUCER))
		return -EBADF;

	uint64_t k = shmring_mpmc__hs(r)->pending;

	if (shmring_unlikely(n > k))
		return -EINVAL;
	if (k == 0)
		return 0;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_PROD_BEFORE_PUBLISH);
	for (uint64_t i = 0; i < k; i++)
		/* P4: pairs with the consumer's acquire load of seq (C1). */
		shmring_atomic_store(shmring__slot_seq(r, r->pos + i),
				     SHMRING_MPMC_SEQ(r->pos + i, i < n ? SHMRING_MPMC_PUB : SHMRING_MPMC_CANCEL),
				     SHMRING_RELEASE);
	shmring_mpmc__clear(r->ep);
	shmring_mpmc__hs(r)->pending = 0;
	if (r->flags & SHMRING_F_COUNTERS)
		shmring_atomic_store(&r->ep->ops,
				     shmring_atomic_load(&r->ep->ops, SHMRING_RELAXED) + n,
				     SHMRING_RELAXED);
	return 0;
}

/*
 * Zero copy, consumer: claim up to n consecutive messages to read in place
 * from *pos on (slot i is shmring_slot(r, *pos + i)). Returns the count
 * (0 when empty), -EBUSY (a peek is outstanding), -EBADF or -EPROTO (the
 * consumers' claim mode word names no endpoint). Producers
 * cannot reuse the slots (nor, after a lap, any slot) until
 * shmring_mpmc_release: release soon.
 */
SHMRING_FORCE_INLINE int64_t shmring_mpmc_peek(struct shmring *r, uint64_t n, uint64_t *pos)
{
	uint64_t h, k;
	int64_t m;

	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_CONSUMER))
		return -EBADF;
	if (shmring_unlikely(shmring_mpmc__hs(r)->pending != 0))
		return -EBUSY;
	if (n == 0)
		return 0;
	m = shmring_mpmc__claim_cons(r, n, 0, 1, &h, &k);
	if (m > 0) {
		/* The run may start with slots to pass over; the messages
		 * are its last m slots. */
		*pos = h + (k - (uint64_t)m);
		r->pos = h;
		shmring_mpmc__hs(r)->pending = k;
	}
	return m;
}

/* Give back everything the last peek claimed. Returns 0 (also when none),
 * or -EBADF (not a consumer handle). */
SHMRING_FORCE_INLINE int shmring_mpmc_release(struct shmring *r)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_MPMC, SHMRING_CONSUMER))
		return -EBADF;
	if (shmring_mpmc__hs(r)->pending == 0)
		return 0;
	SHMRING_MPMC_FAULT(SHMRING_FAULT_CONS_BEFORE_RELEASE);
	shmring_mpmc__clear(r->ep);
	shmring_mpmc__hs(r)->pending = 0;
	return 0;
}

/* Claimed but not yet taken positions (an estimate while others run);
 * 0 for a handle that is not this process's handle of an MPMC ring. */
SHMRING_FORCE_INLINE uint64_t shmring_mpmc_count(const struct shmring *r)
{
	if (!SHMRING_KEY_ANY(r, SHMRING_KEY_MPMC))
		return 0;
	/* Acquire: pairs with the claimer's release CAS or store (P2), as
	 * P0a in shmring_mpmc__refresh: the cons.claim loaded next is at
	 * least the one that claim was made against, so h - t never
	 * exceeds the capacity; consumers that moved on in between make it
	 * wrap (read as empty). */
	uint64_t h = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.claim, SHMRING_RELAXED);
	uint64_t n = h - t;

	return n > r->capacity ? 0 : n;
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_MPMC_H */
