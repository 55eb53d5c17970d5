/* SPDX-License-Identifier: MIT */
/*
 * MPMC slot ring: geometry, initialisation, attach, and the producers'
 * limit refresh (the fast path is inline in include/shmring/mpmc.h; the
 * algorithm and its ordering are described there).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

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

static int mpmc_attach(struct shmring *r)
{
	struct shmring_ctrl *c = r->ctrl;
	/* Acquire: pairs with the release CASes of the claim counters. */
	uint64_t p = shmring_atomic_load(&c->prod.claim, SHMRING_ACQUIRE);
	uint64_t t = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);

	if (p - t > r->capacity && t - p > r->capacity)
		return shmring__fail(-EPROTO, "positions are inconsistent: producer claim %llu, consumer claim %llu, capacity %llu",
				     (unsigned long long)p, (unsigned long long)t,
				     (unsigned long long)r->capacity);
	if (r->ep) {
		struct shmring_mpmc_block *b = shmring__mpmc_block(c);
		uint32_t idx = (uint32_t)(r->ep - (struct shmring_endpoint *)(void *)((unsigned char *)r->map + SHMRING_EP_OFF));
		uint32_t hi = shmring_atomic_load(&b->ep_hi, SHMRING_RELAXED);

		/* Release: pairs with the acquire load of ep_hi in refresh and
		 * recovery, which then scan our entry. */
		while (hi < idx + 1 &&
		       !shmring_atomic_cas_weak(&b->ep_hi, &hi, idx + 1, SHMRING_RELEASE, SHMRING_RELAXED))
			;
	}
	r->pos = t;
	r->cached = p; /* no room known yet: the first push refreshes */
	r->ext[0] = 0;
	r->ext[3] = 0; /* no scan yet (shmring_mpmc_refresh) */
	r->ext[4] = 0; /* no stall seen yet (shmring__mpmc_stall_check) */
	r->ext[5] = 0;
	return 0;
}

int shmring_mpmc_refresh(struct shmring *r, uint64_t t, uint64_t want)
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
	uint64_t p = shmring_atomic_load(&c->prod.claim, SHMRING_RELAXED);
	/* P0: acquire, pairs with the consumers' release CAS of cons.claim
	 * (C3): their announcements made before it are visible below. */
	uint64_t min = shmring_atomic_load(&c->cons.claim, SHMRING_ACQUIRE);

	/* Sanity check, with a second read: consumers never pass
	 * the producers, and producers never run more than a lap ahead (p
	 * was read first; every claim was made against an older cons.claim). */
	uint64_t p2 = shmring_atomic_load(&c->prod.claim, SHMRING_RELAXED);

	if ((int64_t)(p - min) > (int64_t)r->capacity || (int64_t)(min - p2) > 0) {
		shmring_atomic_fetch_add(&c->prod_stats.corrupt, 1, SHMRING_RELAXED);
		return -EPROTO;
	}
	/* A producer spinning on a full ring: if the consumers have not
	 * moved since our last scan and no announcement held us back then,
	 * a scan can find nothing new; skip it rather than pull every
	 * consumer's entry line over again (ext[1], ext[2]: the consumer
	 * claim and the limit base of the last scan). */
	if (min == r->ext[1] && r->ext[2] == min && r->ext[3])
		return 0;
	r->ext[1] = min;
	r->ext[3] = 1;
	struct shmring_endpoint *eps = (struct shmring_endpoint *)(void *)((unsigned char *)r->map + SHMRING_EP_OFF);
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
	r->ext[2] = min;
	r->cached = min + r->capacity;
	/* Release: pairs with the acquire load of prod.cached above, in
	 * other producers. A stale smaller value only costs a refresh. */
	if ((int64_t)(min - shared) > 0)
		shmring_atomic_store(&c->prod.cached, min, SHMRING_RELEASE);
	return 0;
}

const struct shmring_kind_ops shmring__mpmc_ops = {
	.type = SHMRING_MPMC,
	.name = "mpmc",
	.geometry = shmring__slot_geometry, /* as the SPSC ring (spsc.c) */
	.init = mpmc_init,
	.attach = mpmc_attach,
};
