/* SPDX-License-Identifier: MIT */
/*
 * Message rings (SHMRING_MSG_SPSC, SHMRING_MSG_MPSC): geometry,
 * initialisation, attach, and recovery of records left by dead producers.
 * The fast path and the record format are in include/shmring/msg.h.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <shmring/wait.h>

#include "endpoint.h"

static uint64_t rec_max(uint32_t slot_size)
{
	return shmring_msg__rec_size(slot_size);
}

/*
 * capacity is the data area in bytes. Any reservation must fit into an
 * empty ring whatever the offset, padding included: capacity >= 2 x the
 * largest record.
 */
static int msg_geometry(struct shmring_hdr *h)
{
	if (h->capacity < SHMRING_MSG_CAP_MIN)
		return shmring__fail(-EINVAL, "message ring capacity %llu is below %u bytes",
				     (unsigned long long)h->capacity, SHMRING_MSG_CAP_MIN);
	if (rec_max(h->slot_size) > h->capacity / 2)
		return shmring__fail(-EINVAL,
				     "largest message %u needs a capacity of at least %llu bytes, not %llu",
				     h->slot_size, (unsigned long long)rec_max(h->slot_size) * 2,
				     (unsigned long long)h->capacity);
	h->slot_stride = SHMRING_MSG_HDR; /* record alignment */
	h->data_size = h->capacity;
	return 0;
}

static void msg_init(const struct shmring_hdr *h, struct shmring_ctrl *c, unsigned char *data)
{
	uint64_t p0 = h->init_pos & ~(uint64_t)7u;

	(void)data; /* a new object reads zero: every header "not written" */
	shmring_atomic_store(&c->prod.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->prod.claim, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->prod.cached, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.claim, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.cached, p0, SHMRING_RELAXED);
}

static int bad_positions(const char *what, uint64_t a, uint64_t b, uint64_t cap)
{
	return shmring__fail(-EPROTO, "%s positions are inconsistent: %llu and %llu, capacity %llu",
			     what, (unsigned long long)a, (unsigned long long)b,
			     (unsigned long long)cap);
}

/*
 * SPSC: the producer stores prod.pos after the header that publishes a
 * record (P3 after P2 in msg.h), so a producer that died between the two
 * leaves prod.pos one record (and its padding) short of what the consumer
 * may already have read. Follow the published headers from there to the
 * real head: the first header word that reads 0. A chain that does not
 * add up stops the walk; the position check after it decides.
 */
static uint64_t spsc_head(const struct shmring *r, uint64_t h)
{
	for (uint64_t walked = 0; walked < r->capacity;) {
		/* Acquire: pairs with the producer's release store of the header (P2). */
		uint64_t w = shmring_atomic_load(shmring_msg__hdr(r, h), SHMRING_ACQUIRE);
		uint64_t rec = shmring_msg__rec_of(r, h, w);

		if (rec == 0)
			break;
		h += rec;
		walked += rec;
	}
	return h;
}

/*
 * Read and check the positions: *t the consumer's, *h the producers'
 * (MPSC: the claim; SPSC: prod.pos, followed over the published headers
 * past records published before a producer died), *z the MPSC consumer's
 * release mark. Reads only. They are read so that on a healthy ring
 * h - t <= capacity holds under C11 (M5 in msg.h): the head first, with
 * acquire, then cons.pos. The one race left is a consumer that released
 * past the head read (t ahead of h): read both again. A pair that is
 * inconsistent twice in a row with the same values, or that keeps
 * changing for 1000 tries, is corruption. Returns 0 or -EPROTO.
 */
static int msg_positions(const struct shmring *r, uint64_t *tp, uint64_t *hp, uint64_t *zp)
{
	bool mp = r->type == SHMRING_MSG_MPSC;
	uint64_t h = 0, t = 0, z;

	for (int i = 0; i < 1000; i++) {
		uint64_t h0 = h, t0 = t;

		/* M5, acquire: pairs with the CAS that wrote the claim (M1),
		 * or with the producer's release store of prod.pos (P3); the
		 * consumer position that producer checked happens before our
		 * load of cons.pos. SPSC: the walk acquires each header (P2),
		 * published after its producer's check. */
		h = shmring_atomic_load(mp ? &r->ctrl->prod.claim : &r->ctrl->prod.pos, SHMRING_ACQUIRE);
		if (!mp && !(h & 7u))
			h = spsc_head(r, h);
		/* Acquire: pairs with the consumer's release store (C2). */
		t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
		if (h - t <= r->capacity && !((h | t) & 7u))
			goto consistent;
		if (i > 0 && h == h0 && t == t0)
			break;
	}
	return bad_positions("producer/consumer", h, t, r->capacity);
consistent:
	*hp = h;
	*tp = t;
	*zp = z = shmring_atomic_load(&r->ctrl->cons.claim, SHMRING_RELAXED);
	/* A consumer that died while zeroing what it had released leaves
	 * its release mark ahead of cons.pos; the next consumer finishes. */
	if (mp && r->role == SHMRING_CONSUMER && z != t && (z - t > h - t || (z & 7u)))
		return bad_positions("consumer release", t, z, r->capacity);
	return 0;
}

static int msg_check(const struct shmring *r)
{
	/* A private copy of the handle: the record walk needs the largest
	 * record size, which attach sets only later. */
	struct shmring c = *r;
	uint64_t t, h, z;

	shmring_msg__hs(&c)->rmax = rec_max(r->slot_size);
	return msg_positions(&c, &t, &h, &z);
}

static int msg_attach(struct shmring *r)
{
	bool mp = r->type == SHMRING_MSG_MPSC;
	uint64_t t, h, z;
	int ret;

	/* Only a producer may reserve: anything else reads "open" (-EINVAL). */
	shmring_msg__hs(r)->res = r->role == SHMRING_PRODUCER && (!mp || r->ep) ? SHMRING_NO_CLAIM : 1;
	shmring_msg__hs(r)->rmax = rec_max(r->slot_size);
	/* Again: a peer may have changed them since msg_check. */
	ret = msg_positions(r, &t, &h, &z);
	if (ret < 0)
		return ret;
	if (r->role == SHMRING_PRODUCER) {
		r->pos = mp ? 0 : h;
		r->cached = t;
		r->hwm = shmring_atomic_load(&r->ctrl->prod_stats.high_water, SHMRING_RELAXED);
	} else if (r->role == SHMRING_CONSUMER) {
		if (mp) {
			/* A consumer that died while zeroing what it had
			 * released: finish it, then publish. No consumer runs
			 * now: a previous one that closed stored cons.claim
			 * before its entry was freed (release fence) and taken
			 * by us (acquire), so t, z and h are in order
			 * (msg_positions checked them). */
			if (z != t) {
				shmring_msg__zero(r, t, z);
				t = z;
				/* C2: pairs with the producers' acquire load of cons.pos. */
				shmring_atomic_store(&r->ctrl->cons.pos, t, SHMRING_RELEASE);
			}
		}
		r->pos = t;
		shmring_msg__hs(r)->cur = t;
		r->cached = t;
	}
	return 0;
}

/*
 * A producer closing with a reservation open. SPSC: nothing of it was
 * published; dropping it is local. MPSC: the record must become padding,
 * but close may not store into the ring: a peer that shrinks a named
 * object makes any plain store past its new end raise SIGBUS, at any
 * moment up to the store (an fstat before it does not close the window),
 * and the kernel stores only 32-bit words for us, while a header is 64
 * bits. So close leaves the record as a killed producer does: it stores
 * pid 0 into its endpoint entry through the kernel and keeps the entry
 * ACTIVE, claim and all, so that nobody takes it over; the consumer's
 * recovery (msg_mpsc_recover: after SHMRING_MSG_STALL_CHECK polls, or
 * within a millisecond of waiting) turns the record into padding, counts
 * it in cons_stats.skipped, and frees the entry. Where the entry itself
 * was cut off, the store fails and close reports -EIO as for any entry.
 */
static void msg_detach(struct shmring *r)
{
	if (r->role != SHMRING_PRODUCER || shmring_msg__hs(r)->res == SHMRING_NO_CLAIM ||
	    (shmring_msg__hs(r)->res & 7u))
		return;
	shmring_msg__hs(r)->res = SHMRING_NO_CLAIM;
	if (r->type != SHMRING_MSG_MPSC || !r->ep)
		return;
	SHMRING__FAULT(SHMRING_FAULT_MSG_DETACH);
	/* Release (a fence in shmring__store_zero_guarded): our writes into
	 * the record happen before recovery pads it and the consumer zeroes
	 * it; pairs with the acquire load of pid in shmring__ep_alive. */
	if (shmring__store_zero_guarded(&r->ep->pid) == 0)
		r->ep = NULL; /* left to recovery: close does not free it */
}

/*
 * MSG_MPSC: a dead producer's entry that registration may take over. Its
 * claim is what the consumer's recovery needs to turn the record it left
 * into padding: every claim (confirmed, or an intent whose CAS may have
 * won) ends after the position it covers, so one that ends at or before
 * the consumer's released position (cons.pos, which only grows, and lags
 * the consumer's read position) is needed by nobody. No claim at all
 * (committed, aborted, or never reserved) holds nothing either.
 */
static bool msg_ep_idle(const struct shmring *r, struct shmring_endpoint *e)
{
	/* Acquire: pairs with the release store of cons.pos (C2); relaxed
	 * loads of the dead owner's claim (no one writes it any more). */
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED);

	if (shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_PRODUCER)
		return false;
	return cp == SHMRING_NO_CLAIM ||
	       (int64_t)(shmring_atomic_load(&e->claim_end, SHMRING_RELAXED) - t) <= 0;
}

static int ready_room(struct shmring *r, void *arg);
static int ready_peek(struct shmring *r, void *arg);
static int msg_mpsc_recover(struct shmring *r);
/* Stats: the consumer's released position and the producer's published
 * one (SPSC) or the producers' claim (MPSC). */
static void msg_spsc_fill_positions(const struct shmring *r, uint64_t *head, uint64_t *tail)
{
	/* Acquire: pairs with the release stores of cons.pos (C2) and
	 * prod.pos (P3). */
	*tail = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	*head = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
}

static void msg_mpsc_fill_positions(const struct shmring *r, uint64_t *head, uint64_t *tail)
{
	/* Acquire: pairs with the release store of cons.pos (C2) and the
	 * producers' CAS of prod.claim (M1). */
	*tail = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	*head = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);
}

const struct shmring_kind_ops shmring__msg_spsc_ops = {
	.type = SHMRING_MSG_SPSC,
	.name = "msg-spsc",
	.flags = SHMRING_F_COUNTERS | SHMRING_F_MEMFD,
	.geometry = msg_geometry,
	.init = msg_init,
	.check = msg_check,
	.attach = msg_attach,
	.recover = shmring__ep_reap,
	.detach = msg_detach,
	.ready_prod = ready_room,
	.ready_cons = ready_peek,
	.positions = msg_spsc_fill_positions,
};

const struct shmring_kind_ops shmring__msg_mpsc_ops = {
	.type = SHMRING_MSG_MPSC,
	.name = "msg-mpsc",
	.flags = SHMRING_F_COUNTERS | SHMRING_F_MEMFD,
	.geometry = msg_geometry,
	.init = msg_init,
	.check = msg_check,
	.attach = msg_attach,
	.detach = msg_detach,
	.ep_idle = msg_ep_idle,
	.recover = msg_mpsc_recover,
	.ready_prod = ready_room,
	.ready_cons = ready_peek,
	.positions = msg_mpsc_fill_positions,
};

/* ---- recovery ---------------------------------------------------------- */

static struct shmring_endpoint *ep_at(const struct shmring *r, uint32_t i)
{
	return &shmring__ep_table(r)[i];
}

/*
 * Turn [from, to) into padding: one record per side of the ring's end.
 * The part after the first header is written first, so the consumer never
 * follows a header to a span that is not yet padding.
 */
static void pad_span(struct shmring *r, uint64_t from, uint64_t to)
{
	uint64_t off = from & r->mask, n = to - from;

	if (off + n > r->capacity) {
		uint64_t first = r->capacity - off;

		shmring_atomic_store(shmring_msg__hdr(r, from + first),
				     shmring_msg__word((uint32_t)(n - first - SHMRING_MSG_HDR),
						      SHMRING_MSG_T_PAD, from + first),
				     SHMRING_RELAXED);
		n = first;
	}
	/* Release: pairs with the consumer's acquire load of the header (M3). */
	shmring_atomic_store(shmring_msg__hdr(r, from),
			     shmring_msg__word((uint32_t)(n - SHMRING_MSG_HDR), SHMRING_MSG_T_PAD, from),
			     SHMRING_RELEASE);
}

/* Does the entry hold a claim that ends after the read position cur? */
static bool ep_needed(const struct shmring_endpoint *e, uint64_t cur)
{
	return shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED) != SHMRING_NO_CLAIM &&
	       (int64_t)(shmring_atomic_load(&e->claim_end, SHMRING_RELAXED) - cur) > 0;
}

/* A dead producer's entry the consumer r still needs (shmring__ep_free_dead):
 * a claim that ends after its read position. */
static bool ep_needed_at_cur(const struct shmring *r, const struct shmring_endpoint *e)
{
	return ep_needed(e, shmring_msg__hs_const(r)->cur);
}

/*
 * Consumer of an MPSC message ring: walk the records from the read
 * position to the claim. A header that reads 0 belongs to the producer
 * whose endpoint entry holds a claim covering it (confirmed: claim_pos <=
 * t < claim_end; unconfirmed intent: claim_pos == t | 1). A live owner is
 * still writing: its confirmed claim is stepped over, an unconfirmed one
 * ends the walk. A dead owner's record becomes padding. Afterwards dead
 * producers that hold nothing the consumer still needs give their entry
 * back. Returns the number of dead producers recovered (entries freed),
 * or -EPERM (not the consumer's handle), -EPROTO (inconsistent positions).
 * (Single-producer message rings: a dead producer never published a
 * partial record and its successor takes its entry over; their recovery,
 * shmring__ep_reap, only frees dead entries.)
 */
static int msg_mpsc_recover(struct shmring *r)
{
	uint64_t t, c;
	int reaped = 0;

	if (r->role != SHMRING_CONSUMER || !r->ep)
		return shmring__fail(-EPERM, "message ring recovery runs in the consumer's handle");
	t = shmring_msg__hs(r)->cur;
	/* Acquire: pairs with the producers' CAS (M1): their intents in the
	 * endpoint table are visible for every claim below c. */
	c = shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE);
	if (c - t > r->capacity || (c & 7u))
		return bad_positions("claim/read", c, t, r->capacity);

	while (t != c) {
		/* Acquire: pairs with the header's release store (M2). */
		uint64_t w = shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE);

		if (w) {
			uint64_t rec = shmring_msg__rec_of(r, t, w);

			if (rec == 0 || c - (t + rec) > r->capacity)
				break; /* corrupt: peek reports it */
			t += rec;
			continue;
		}
		struct shmring_endpoint *dead = NULL, *guess = NULL;
		uint64_t end = 0, guess_end = 0;
		bool live = false, disagree = false;

		for (uint32_t i = 2; i < r->ep_count && !live; i++) {
			struct shmring_endpoint *e = ep_at(r, i);
			uint64_t cp = shmring_atomic_load(&e->claim_pos, SHMRING_RELAXED);
			uint64_t ce = shmring_atomic_load(&e->claim_end, SHMRING_RELAXED);
			bool confirmed = !(cp & 1u);

			if (cp == SHMRING_NO_CLAIM ||
			    (confirmed ? !(cp <= t && t < ce) : (cp & ~(uint64_t)1u) != t))
				continue;
			if (shmring__ep_alive(e)) {
				/* Still writing: step over a confirmed claim,
				 * wait for an unconfirmed one to settle. */
				live = true;
				end = confirmed ? ce : t;
			} else if (confirmed) {
				dead = e;
				end = ce;
			} else if (!guess) {
				guess = e;
				guess_end = ce;
			} else if (ce != guess_end) {
				disagree = true;
			}
		}
		if (!live && !dead && guess && !disagree) {
			/* Only dead intents name t: the owner is among them. */
			dead = guess;
			end = guess_end;
		}
		/* Stop at: no owner (the table was overwritten), dead intents
		 * that disagree, a live intent not yet settled, or a span
		 * that does not add up. */
		if ((!live && !dead) || end == t || end - t > c - t ||
		    end - t > 2 * shmring_msg__hs(r)->rmax || ((end - t) & 7u))
			break;
		if (live) {
			t = end;
			continue;
		}
		/* The owner is dead, so nothing more will be written; look once
		 * more for a commit it made before it died. */
		if (shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE) != 0)
			continue;
		pad_span(r, t, end);
		shmring_atomic_store(&dead->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
		if (r->flags & SHMRING_F_COUNTERS)
			shmring_atomic_fetch_add(&r->ctrl->cons_stats.skipped, 1, SHMRING_RELAXED);
		t = end;
	}

	/* Dead producers whose claim is gone, or behind the read position (an
	 * intent whose CAS failed), hold nothing: free their entries. */
	for (uint32_t i = 2; i < r->ep_count; i++) {
		struct shmring_endpoint *e = ep_at(r, i);
		/* Acquire: pairs with the release store of state at registration. */
		uint32_t st = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

		if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY) {
			/* left BUSY by a killed registrant or reaper? */
			reaped += shmring__ep_free_dead(r, e, st, NULL);
			continue;
		}
		if (st != SHMRING_EP_ACTIVE ||
		    shmring_atomic_load(&e->role, SHMRING_RELAXED) != SHMRING_PRODUCER)
			continue;
		reaped += shmring__ep_free_dead(r, e, st, ep_needed_at_cur);
	}
	return reaped;
}

/* ---- blocking operations ---------------------------------------------- */

/* Producer ready: a reservation of *len bytes would fit now. */
static int ready_reserve(struct shmring *r, void *arg)
{
	uint64_t rec = shmring_msg__rec_size(*(const uint32_t *)arg);
	bool mp = r->type == SHMRING_MSG_MPSC;
	/* Acquire: pairs with the consumer's release store of cons.pos (C2). */
	uint64_t t = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	/* Relaxed: only an estimate; reserve decides (and checks, M5). */
	uint64_t h = mp ? shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_RELAXED) : r->pos;
	/* SPSC: also the header word after the record (P1 of msg.h). */
	uint64_t need = shmring_msg__pad(r, h, rec) + rec + (mp ? 0 : SHMRING_MSG_HDR);

	if (h - t > r->capacity)
		return mp ? 1 : -EPROTO; /* MPSC: claim and cons.pos out of step; let reserve decide */
	return h + need - t <= r->capacity;
}

/* Producer ready, for an outside waiter (shmring_wait_arm): the largest
 * message would fit. */
static int ready_room(struct shmring *r, void *arg)
{
	uint32_t len = r->slot_size;

	(void)arg;
	return ready_reserve(r, &len);
}

/* Consumer ready: a record (or the end of a dead producer's) is there. */
static int ready_peek(struct shmring *r, void *arg)
{
	uint64_t t = shmring_msg__hs(r)->cur;

	(void)arg;
	if (t - r->pos >= r->capacity)
		return 0; /* a whole ring peeked: only our release makes room */
	if (r->type != SHMRING_MSG_MPSC)
		/* C1 of msg.h: pairs with the producer's release store of the
		 * header (P2); anything but 0 is a record, or corrupt (peek
		 * tells). */
		return shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE) != 0;
	/* M3: pairs with the producer's release store of the header (M2). */
	if (shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE) != 0)
		return 1;
	/* Acquire: pairs with the producers' CAS (M1). */
	if (shmring_atomic_load(&r->ctrl->prod.claim, SHMRING_ACQUIRE) == t)
		return 0;
	/* Claimed, not committed: is its producer dead? At most once a ms. */
	uint64_t now = shmring__now_ns(CLOCK_MONOTONIC);

	if (now - shmring_msg__hs(r)->rchk < 1000000u)
		return 0;
	shmring_msg__hs(r)->rchk = now;
	int k = msg_mpsc_recover(r);

	/* M3: pairs with the producer's release store of the header (M2). */
	return k < 0 ? k : shmring_atomic_load(shmring_msg__hdr(r, t), SHMRING_ACQUIRE) != 0;
}

int shmring_msg_wake(struct shmring *r)
{
	if (!SHMRING_KEY_PC(r, SHMRING_KEY_MSG))
		return -EBADF;
	if (r->role == SHMRING_PRODUCER) {
		r->wait.pending = 0;
		return shmring_wake(r, SHMRING_CONSUMER);
	}
	return shmring_wake(r, SHMRING_PRODUCER);
}

int shmring_msg_reserve_wait(struct shmring *r, uint32_t len, void **buf,
			     const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_msg_reserve(r, len, buf);

		if (ret != -EAGAIN)
			return ret;
		/* A consumer must not sleep on wakes we batched, nor (MPSC) in
		 * front of padding it has not seen yet (aborts, a reservation
		 * a close left): it frees padding only when it looks. No
		 * system call unless it sleeps. */
		if (r->wait.pending || r->type == SHMRING_MSG_MPSC) {
			r->wait.pending = 0;
			shmring_wake(r, SHMRING_CONSUMER);
		}
		ret = shmring_wait_until(r, SHMRING_PRODUCER, ready_reserve, &len, deadline);
		if (ret < 0)
			return ret;
	}
}

int shmring_msg_push_wait(struct shmring *r, const void *buf, uint32_t len,
			  const struct timespec *deadline)
{
	void *dst;
	int ret = shmring_msg_reserve_wait(r, len, &dst, deadline);

	if (ret < 0)
		return ret;
	if (len)
		memcpy(dst, buf, len);
	shmring_msg__finish(r, SHMRING_MSG_T_DATA); /* reserve checked the key */
	shmring_wake_pushed(r, 1, 0);
	return 0;
}

int shmring_msg_pushv_wait(struct shmring *r, const struct iovec *iov, unsigned n,
			   const struct timespec *deadline)
{
	uint64_t total = 0;
	unsigned char *dst;
	void *p;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		total += iov[i].iov_len;
		if (total > r->slot_size)
			return -EMSGSIZE;
	}
	ret = shmring_msg_reserve_wait(r, (uint32_t)total, &p, deadline);
	if (ret < 0)
		return ret;
	dst = (unsigned char *)p;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	shmring_msg__finish(r, SHMRING_MSG_T_DATA); /* reserve checked the key */
	shmring_wake_pushed(r, 1, 0);
	return 0;
}

int shmring_msg_peek_wait(struct shmring *r, const void **buf, const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_msg_peek(r, buf);

		if (ret != -EAGAIN)
			return ret;
		ret = shmring_wait_until(r, SHMRING_CONSUMER, ready_peek, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}

int shmring_msg_pop_wait(struct shmring *r, void *buf, uint32_t cap,
			 const struct timespec *deadline)
{
	for (;;) {
		int ret = shmring_msg_pop(r, buf, cap);

		if (ret >= 0) {
			shmring_wake(r, SHMRING_PRODUCER);
			return ret;
		}
		if (ret != -EAGAIN)
			return ret;
		ret = shmring_wait_until(r, SHMRING_CONSUMER, ready_peek, NULL, deadline);
		if (ret < 0)
			return ret;
	}
}
