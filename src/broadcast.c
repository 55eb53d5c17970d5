/* SPDX-License-Identifier: MIT */
/*
 * Broadcast ring: the kind's geometry, initialisation and attach, the
 * producer's scan of the readers (and their eviction), a lapped reader's
 * resynchronisation, joins, recovery and the blocking calls. The fast
 * path and the ordering argument (P*, R*, S*, J* labels) are in
 * include/shmring/broadcast.h.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <shmring/wait.h>

#include "endpoint.h"

/* The producer checks the liveness of the readers that gate it at most
 * this often from its try operations (a wait checks at each slice). */
#define LIVE_CHECK_NS 1000000ull

static struct shmring_bcast_block *bcast_block(struct shmring_ctrl *c)
{
	return (struct shmring_bcast_block *)(void *)c->kind_blocks;
}

static struct shmring_bcast_evict *bcast_evict(struct shmring_ctrl *c)
{
	return (struct shmring_bcast_evict *)(void *)(c->kind_blocks + SHMRING_BLOCK);
}

static bool lossy(const struct shmring *r)
{
	return (r->flags & SHMRING_F_LOSSY) != 0;
}

/* Sequence words start as if the lap before init_pos were being written
 * (odd, below 2p + 2): empty for every reader, intact for none. */
static void bcast_init(const struct shmring_hdr *h, struct shmring_ctrl *c, unsigned char *data)
{
	uint64_t p0 = h->init_pos;

	for (uint64_t i = 0; i < h->capacity; i++) {
		uint64_t p = p0 + i;
		SHMRING_ATOMIC(uint64_t) *seq =
			(SHMRING_ATOMIC(uint64_t) *)(void *)(data + (p & (h->capacity - 1)) * h->slot_stride);

		shmring_atomic_store(seq, 2 * (p - h->capacity) + 1, SHMRING_RELAXED);
	}
	shmring_atomic_store(&c->prod.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&bcast_block(c)->limit, p0, SHMRING_RELAXED);
}

static void bcast_setup(struct shmring_ctrl *c, const struct shmring_params *p)
{
	shmring_atomic_store(&bcast_block(c)->evict_ns, p->evict_ns, SHMRING_RELAXED);
}

/* The producer's position, past the slots a dead producer published
 * (P4) without its position store (P5). */
static uint64_t prod_position(const struct shmring *r)
{
	/* Acquire: pairs with the release stores of the previous producer. */
	uint64_t h0 = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE), h = h0;

	while (h - h0 < r->capacity &&
	       shmring_atomic_load(shmring__slot_seq(r, h), SHMRING_ACQUIRE) == shmring_bcast__full(h))
		h++;
	return h;
}

/*
 * The oldest position from `from` on whose slot holds its message now,
 * with the producer at P (nothing at or past P is written yet): the
 * slots below P - capacity are overwritten or being overwritten.
 */
static uint64_t oldest_intact(const struct shmring *r, uint64_t from, uint64_t P)
{
	uint64_t c = P - r->capacity;

	if ((int64_t)(c - from) < 0)
		c = from;
	for (; (int64_t)(P - c) > 0; c++)
		/* Acquire: pairs with P4; a later read checks the slot again. */
		if (shmring_atomic_load(shmring__slot_seq(r, c), SHMRING_ACQUIRE) == shmring_bcast__full(c))
			break;
	return c;
}

/*
 * J1..J3 (broadcast.h): the reader joins the gating set at position c
 * (its claim_pos, and for an evicted reader its acknowledgement of the
 * eviction count ev), then reads the producer's position again: the
 * value returned, P', bounds what scans that missed the join let the
 * producer write (positions below P' + capacity).
 */
static uint64_t join_at(struct shmring *r, uint64_t c, uint64_t ev)
{
	struct shmring_endpoint *e = r->ep;

	/* J1: release, pairs with the producer's acquire loads (S2): who
	 * sees the acknowledgement sees the position stored before it. */
	shmring_atomic_store(&e->claim_pos, c, SHMRING_RELEASE);
	shmring_bcast__hs(r)->ack = ev;
	shmring_atomic_store(&e->taken, ev, SHMRING_RELEASE);
	/* J2: pairs with the producer's fence S1 (Dekker). */
	shmring__wait_fence();
	/* J3 */
	return shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
}

void shmring_bcast__rejoin(struct shmring *r)
{
	/* Acquire: pairs with the evicting CAS; nothing else rides on it. */
	uint64_t ev = shmring_atomic_load(&r->ep->claim_end, SHMRING_ACQUIRE);

	if (ev == shmring_bcast__hs(r)->ack)
		return;
	/* Rejoined at its own position: what the producer overwrote of the
	 * ring meanwhile is counted lost when the reader gets there. */
	(void)join_at(r, r->pos, ev);
}

/* Join at the newest (the next published) or the oldest intact message. */
static void join(struct shmring *r, uint32_t where)
{
	struct shmring_bcast__hstate *hs = shmring_bcast__hs(r);
	/* Acquire: pairs with the evicting CAS (the evictions count). */
	uint64_t ev = shmring_atomic_load(&r->ep->claim_end, SHMRING_ACQUIRE);
	/* Acquire: pairs with the producer's release store of prod.pos (P5). */
	uint64_t P = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
	uint64_t c = where == SHMRING_BCAST_OLDEST ? oldest_intact(r, P - r->capacity, P) : P;
	uint64_t P2 = join_at(r, c, ev);

	hs->guard = P2;
	if (where == SHMRING_BCAST_NEWEST) {
		c = P2;
		/* Release, as R6: a position only moves forward. */
		shmring_atomic_store(&r->ep->claim_pos, c, SHMRING_RELEASE);
	}
	r->pos = c;
}

int shmring_bcast__lapped(struct shmring *r)
{
	struct shmring_bcast__hstate *hs = shmring_bcast__hs(r);
	uint64_t p = r->pos;
	/* Acquire: pairs with P5; the slots below it are published. */
	uint64_t P = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
	uint64_t c = oldest_intact(r, p, P);
	/* Positions below the guard were never protected for this reader
	 * (it was joining): passing over them is no loss. */
	uint64_t base = (int64_t)(hs->guard - p) > 0 ? hs->guard : p;
	uint64_t loss = (int64_t)(c - base) > 0 ? c - base : 0;

	if (c == p)
		return -EAGAIN; /* the producer's position is behind the slot: not yet */
	r->pos = c;
	/* Acquire: pairs with the evicting CAS, as in shmring_bcast__rejoin. */
	if (shmring_atomic_load(&r->ep->claim_end, SHMRING_ACQUIRE) != hs->ack)
		shmring_bcast__rejoin(r);
	else
		/* R6 */
		shmring_atomic_store(&r->ep->claim_pos, c, SHMRING_RELEASE);
	if (!loss)
		return 0;
	hs->lost += loss;
	/* Relaxed: for the dump; only this reader writes it. */
	shmring_atomic_store(&r->ep->ops, hs->lost, SHMRING_RELAXED);
	return -EOVERFLOW;
}

/* Is the ACTIVE reader entry e a member of the gating set? *cp: its position. */
static bool member(const struct shmring_endpoint *e, uint64_t *cp, uint64_t *ev)
{
	if (shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_CONSUMER)
		return false;
	*ev = shmring_atomic_load(&e->claim_end, SHMRING_RELAXED);
	/* S2, acquire: pairs with the release store of taken (J1). */
	if (shmring_atomic_load(&e->taken, SHMRING_ACQUIRE) != *ev)
		return false; /* evicted, not back yet */
	/* S2, acquire: pairs with the reader's release stores (R6, J1). */
	*cp = shmring_atomic_load(&e->claim_pos, SHMRING_ACQUIRE);
	return *cp != SHMRING_NO_CLAIM;
}

/*
 * S1..S3: the producer scans the members' positions. Returns the room
 * (limit - r->pos, 0 when full); *gate receives the slowest position.
 */
static int64_t scan(struct shmring *r, uint64_t *gate)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);
	struct shmring_bcast_block *b = bcast_block(r->ctrl);
	uint64_t pos = r->pos, min = pos;

	/* S1: pairs with the joiners' fence J2 (Dekker): a member whose
	 * join came before it is seen below; one after it reads a prod.pos
	 * at least `pos` (P5 was stored before this fence). */
	shmring__wait_fence();
	for (uint32_t i = 2; i < r->ep_count; i++) {
		uint64_t cp, ev;

		/* Acquire: pairs with the release store of state at registration. */
		if (shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE) != SHMRING_EP_ACTIVE ||
		    !member(&eps[i], &cp, &ev))
			continue;
		if ((int64_t)(pos - cp) < 0) {
			/* Ahead of what was published: a corrupt entry gates nothing. */
			if (r->flags & SHMRING_F_COUNTERS)
				shmring__stat_inc1(&r->ctrl->prod_stats.corrupt);
			continue;
		}
		if ((int64_t)(cp - min) < 0)
			min = cp;
	}
	r->cached = min + r->capacity;
	*gate = min;
	shmring_atomic_store(&b->limit, r->cached, SHMRING_RELAXED);
	shmring__stat_inc1(&b->scans);
	if ((r->flags & SHMRING_F_COUNTERS) && pos - min > r->hwm && pos - min <= r->capacity) {
		r->hwm = pos - min;
		shmring_atomic_store(&r->ctrl->prod_stats.high_water, r->hwm, SHMRING_RELAXED);
	}
	return (int64_t)(r->cached - pos) > 0 ? (int64_t)(r->cached - pos) : 0;
}

/* Evict the member e (eviction count ev as read): one CAS, so that two
 * evicters (the producer, a recovery) count it once. */
static int evict(struct shmring *r, struct shmring_endpoint *e, uint64_t ev)
{
	/* Release: nothing to publish but the count; the reader's acquire
	 * load of claim_end pairs with it. */
	if (!shmring_atomic_cas(&e->claim_end, &ev, ev + 1, SHMRING_ACQ_REL, SHMRING_RELAXED))
		return 0;
	shmring_atomic_fetch_add(&bcast_evict(r->ctrl)->evictions, 1, SHMRING_RELAXED);
	return 1;
}

/*
 * The producer is full, gated at position `gate`: evict the members that
 * hold it there if their process is dead (checked at most every
 * LIVE_CHECK_NS unless `force`) or if they have held it at that position
 * for evict_ns. Returns how many it evicted.
 */
static int evict_gating(struct shmring *r, uint64_t gate, bool force)
{
	struct shmring_bcast__hstate *hs = shmring_bcast__hs(r);
	struct shmring_endpoint *eps = shmring__ep_table(r);
	uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);
	int n = 0;

	if (hs->gate_pos != gate || hs->gate_ns == 0) {
		hs->gate_pos = gate;
		hs->gate_ns = now;
	}
	bool late = hs->evict_ns && now - hs->gate_ns >= hs->evict_ns;
	bool live = force || now - hs->live_ns >= LIVE_CHECK_NS;

	if (!late && !live)
		return 0;
	if (live)
		hs->live_ns = now;
	for (uint32_t i = 2; i < r->ep_count; i++) {
		uint64_t cp, ev;

		/* Acquire: pairs with the release store of state at registration. */
		if (shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE) != SHMRING_EP_ACTIVE ||
		    !member(&eps[i], &cp, &ev) || (int64_t)(r->pos - cp) < (int64_t)r->capacity)
			continue;
		if (late || !shmring__ep_alive(&eps[i]))
			n += evict(r, &eps[i], ev);
	}
	return n;
}

int64_t shmring_bcast__room(struct shmring *r)
{
	uint64_t gate;

	if (lossy(r)) {
		/* Nobody gates a lossy producer: one lap at a time. */
		r->cached = r->pos + r->capacity;
		return (int64_t)r->capacity;
	}
	int64_t k = scan(r, &gate);

	if (k > 0) {
		shmring_bcast__hs(r)->gate_ns = 0;
		return k;
	}
	if (evict_gating(r, gate, false) > 0)
		k = scan(r, &gate);
	return k;
}

/* ---- the kind ---- */

static int bcast_check(const struct shmring *r)
{
	(void)r;
	return 0; /* every position read later is checked where it is used */
}

static int bcast_attach(struct shmring *r)
{
	struct shmring_bcast__hstate *hs = shmring_bcast__hs(r);

	memset(hs, 0, sizeof(*hs));
	if (r->role == SHMRING_PRODUCER) {
		uint64_t h = prod_position(r);

		/* Release: pairs with the readers' acquire loads of prod.pos. */
		shmring_atomic_store(&r->ctrl->prod.pos, h, SHMRING_RELEASE);
		r->pos = h;
		r->cached = h; /* the first push scans the readers */
		hs->evict_ns = shmring_atomic_load(&bcast_block(r->ctrl)->evict_ns, SHMRING_RELAXED);
		r->hwm = shmring_atomic_load(&r->ctrl->prod_stats.high_water, SHMRING_RELAXED);
	} else if (r->role == SHMRING_CONSUMER) {
		struct shmring_endpoint *e = r->ep;

		/* Not a member yet (claim_pos is SHMRING_NO_CLAIM since
		 * registration): the counts of a previous owner go. */
		shmring_atomic_store(&e->claim_end, 0, SHMRING_RELAXED);
		shmring_atomic_store(&e->taken, 0, SHMRING_RELAXED);
		shmring_atomic_store(&e->ops, 0, SHMRING_RELAXED);
		join(r, SHMRING_BCAST_NEWEST);
	}
	return 0;
}

/* A dead reader's entry holds nothing the ring needs: its messages stay
 * for the others. Registration may take it over. */
static bool bcast_ep_idle(const struct shmring *r, struct shmring_endpoint *e)
{
	(void)r;
	(void)e;
	return true;
}

/* Dead readers still in the gating set are evicted (counted), then every
 * dead entry is freed. */
static int bcast_recover(struct shmring *r)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);
	int n = 0;

	for (uint32_t i = 2; i < r->ep_count; i++) {
		uint64_t cp, ev;

		/* Acquire: pairs with the release store of state at registration. */
		if (shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE) == SHMRING_EP_ACTIVE &&
		    member(&eps[i], &cp, &ev) && !shmring__ep_alive(&eps[i]))
			n += evict(r, &eps[i], ev);
	}
	int freed = shmring__ep_reap(r);

	return freed > n ? freed : n;
}

/*
 * A reader left the table (its entry is FREE, stored through the kernel):
 * a producer asleep for room it held must look again. The kernel bumps
 * the producer block's futex word and wakes its sleepers in one call
 * (FUTEX_WAKE_OP: W4 of wait.h, done without touching the mapping, which
 * a peer may have shrunk: EFAULT then, no SIGBUS). A sleeper that armed
 * after the bump (S1 reads it, a locked RMW after the kernel's store of
 * FREE) sees the entry free at its re-check; one that armed before finds
 * the word changed or is woken.
 */
static void bcast_left(struct shmring *r)
{
	SHMRING_ATOMIC(uint32_t) *w = &r->ctrl->prod_wait.futex;

	if (r->role != SHMRING_CONSUMER || lossy(r))
		return;
	(void)syscall(SYS_futex, w, FUTEX_WAKE_OP, INT_MAX, NULL, w,
		      FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0));
}

/* A waiting producer's liveness slice: evict the dead and late readers
 * that gate it. */
static int bcast_stall_check(struct shmring *r, uint32_t side, int peers_dead)
{
	uint64_t gate;

	(void)peers_dead;
	if (side != SHMRING_PRODUCER || r->role != SHMRING_PRODUCER || lossy(r))
		return 0;
	if (scan(r, &gate) > 0)
		return 0;
	return evict_gating(r, gate, true);
}

static int bcast_ready_push(struct shmring *r, void *arg)
{
	uint64_t room = r->cached - r->pos;

	(void)arg;
	if (room && room <= r->capacity)
		return 1;
	int64_t k = shmring_bcast__room(r);

	return k < 0 ? (int)k : k > 0;
}

static int bcast_ready_read(struct shmring *r, void *arg)
{
	uint64_t p = r->pos;
	/* R1: pairs with P4. Data, or a lap to report: either way, ready. */
	uint64_t s = shmring_atomic_load(shmring__slot_seq(r, p), SHMRING_ACQUIRE);

	(void)arg;
	return (int64_t)(s - shmring_bcast__full(p)) >= 0;
}

/* Stats: the producer's position, and the slowest member's (the
 * producer's own when there is none). */
static void bcast_positions(const struct shmring *r, uint64_t *head, uint64_t *tail)
{
	const struct shmring_endpoint *eps = shmring__ep_table(r);
	bool any = false;
	uint64_t min = 0;

	for (uint32_t i = 2; i < r->ep_count; i++) {
		uint64_t cp, ev;

		/* Acquire: pairs with the release store of state at registration. */
		if (shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE) != SHMRING_EP_ACTIVE ||
		    !member(&eps[i], &cp, &ev))
			continue;
		if (!any || (int64_t)(cp - min) < 0)
			min = cp;
		any = true;
	}
	/* Acquire: pairs with P5. */
	*head = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
	*tail = any && (int64_t)(*head - min) >= 0 ? min : *head;
}

const struct shmring_kind_ops shmring__bcast_ops = {
	.type = SHMRING_BROADCAST,
	.name = "broadcast",
	.flags = SHMRING_F_COUNTERS | SHMRING_F_MEMFD | SHMRING_F_LOSSY,
	.geometry = shmring__slot_geometry,
	.init = bcast_init,
	.setup = bcast_setup,
	.check = bcast_check,
	.attach = bcast_attach,
	.ep_idle = bcast_ep_idle,
	.recover = bcast_recover,
	.stall_check = bcast_stall_check,
	.ready_prod = bcast_ready_push,
	.ready_cons = bcast_ready_read,
	.positions = bcast_positions,
	/* No detach: close frees the entry (through the kernel), and a
	 * freed entry is no member; then `left` wakes the producer. */
	.left = bcast_left,
};

/* ---- the calls ---- */

int shmring_bcast_push_wait(struct shmring *r, const void *elem, const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_bcast_try_push(r, elem);

		if (shmring_likely(ret == 0)) {
			shmring_wake_pushed(r, 1, 0);
			return 0;
		}
		if (ret != -EAGAIN)
			return ret;
		if (r->wait.pending) {
			r->wait.pending = 0;
			shmring_wake(r, SHMRING_CONSUMER);
		}
		ret = shmring_wait_until(r, SHMRING_PRODUCER, bcast_ready_push, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

int64_t shmring_bcast_read_burst_wait(struct shmring *r, void *elems, uint64_t n,
				      const struct timespec *deadline)
{
	if (n == 0)
		return shmring_bcast_read_burst(r, elems, 0);
	for (;;) {
		int64_t k = shmring_bcast_read_burst(r, elems, n);

		if (shmring_likely(k > 0)) {
			if (!lossy(r))
				shmring_wake(r, SHMRING_PRODUCER);
			return k;
		}
		if (k < 0)
			return k;
		int ret = shmring_wait_until(r, SHMRING_CONSUMER, bcast_ready_read, NULL, deadline);

		if (ret < 0)
			return ret;
	}
}

int shmring_bcast_read_wait(struct shmring *r, void *elem, const struct timespec *deadline)
{
	int64_t k = shmring_bcast_read_burst_wait(r, elem, 1, deadline);

	return k < 0 ? (int)k : 0;
}

int shmring_bcast_wake(struct shmring *r)
{
	if (!SHMRING_KEY_PC(r, SHMRING_KEY_BCAST))
		return -EBADF;
	if (r->role == SHMRING_PRODUCER) {
		r->wait.pending = 0;
		return shmring_wake(r, SHMRING_CONSUMER);
	}
	return shmring_wake(r, SHMRING_PRODUCER);
}

int shmring_bcast_seek(struct shmring *r, uint32_t where)
{
	if (!SHMRING_KEY_IS(r, SHMRING_KEY_BCAST, SHMRING_CONSUMER))
		return -EBADF;
	if (where != SHMRING_BCAST_NEWEST && where != SHMRING_BCAST_OLDEST)
		return -EINVAL;
	join(r, where);
	if (!lossy(r))
		shmring_wake(r, SHMRING_PRODUCER); /* a forward move may free room */
	return 0;
}
