/* SPDX-License-Identifier: MIT */
/* SPSC slot ring: geometry, initialisation and attach (the fast path is
 * inline in include/shmring/spsc.h). */
#include <errno.h>
#include <string.h>

#include <shmring/wait.h>

#include "endpoint.h"

/* A slot is the sequence word plus the payload. Small slots round up to a
 * power of two so that none straddles a cache line; larger ones to 64.
 * Shared by the slot rings (SPSC and MPMC). */
int shmring__slot_geometry(struct shmring_hdr *h)
{
	uint32_t s = SHMRING_SLOT_HDR + ((h->slot_size + 7u) & ~7u);
	uint32_t stride = 16;

	if (s <= 64) {
		while (stride < s)
			stride <<= 1;
	} else if (h->prod_mode == SHMRING_MODE_SINGLE) {
		/* Packed: a message moves s / 64 cache lines (a 64-byte one
		 * 1.125), not the s rounded to whole lines it would take
		 * alone. One producer writes the slots, in order, and the
		 * readers (SPSC's consumer, broadcast readers) write none, so
		 * a line two slots share is never written by two parties. */
		stride = s;
	} else {
		/* MPMC: neighbouring slots are written by different producers
		 * (and consumers) at the same time; whole lines keep them apart. */
		stride = (s + 63u) & ~63u;
	}
	h->slot_stride = stride;
	h->data_size = h->capacity * stride; /* both bounded: no overflow */
	return 0;
}

/* Sequence words start as if the lap before init_pos had been consumed:
 * the slot of position p holds p + 1 - capacity, never p + 1. */
static void spsc_init(const struct shmring_hdr *h, struct shmring_ctrl *c, unsigned char *data)
{
	uint64_t p0 = h->init_pos;

	for (uint64_t i = 0; i < h->capacity; i++) {
		uint64_t p = p0 + i;
		SHMRING_ATOMIC(uint64_t) *seq =
			(SHMRING_ATOMIC(uint64_t) *)(void *)(data + (p & (h->capacity - 1)) * h->slot_stride);

		shmring_atomic_store(seq, p + 1 - h->capacity, SHMRING_RELAXED);
	}
	shmring_atomic_store(&c->prod.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->prod.cached, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.pos, p0, SHMRING_RELAXED);
	shmring_atomic_store(&c->cons.cached, p0, SHMRING_RELAXED);
}

/* Read and check the positions: *t the consumer's, *h the producer's. */
static int spsc_positions(const struct shmring *r, uint64_t *t, uint64_t *hp)
{
	/* Acquire: pairs with the release stores of the previous owners. */
	uint64_t t0 = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	uint64_t h0 = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE), h = h0;

	*t = t0;
	/* A producer that died between publishing a slot's sequence word and
	 * its head left slots the consumer may already have taken (its tail
	 * can then be past the head): follow the published slots first.
	 * Acquire: pairs with the producer's release store of seq. */
	while (h - h0 < r->capacity && shmring_atomic_load(shmring__slot_seq(r, h), SHMRING_ACQUIRE) == h + 1)
		h++;
	if (h - *t > r->capacity)
		return shmring__fail(-EPROTO, "positions are inconsistent: head %llu, tail %llu, capacity %llu",
				     (unsigned long long)h, (unsigned long long)*t,
				     (unsigned long long)r->capacity);
	*hp = h;
	return 0;
}

static int spsc_check(const struct shmring *r)
{
	uint64_t t, h;

	return spsc_positions(r, &t, &h);
}

static int spsc_attach(struct shmring *r)
{
	uint64_t t, h;
	/* Again: a peer may have moved them since spsc_check. */
	int ret = spsc_positions(r, &t, &h);

	if (ret < 0)
		return ret;
	if (r->role == SHMRING_PRODUCER) {
		/* Release: pairs with the consumer's acquire load of head. */
		shmring_atomic_store(&r->ctrl->prod.pos, h, SHMRING_RELEASE);
		r->pos = h;
		r->cached = t;
		r->hwm = shmring_atomic_load(&r->ctrl->prod_stats.high_water, SHMRING_RELAXED);
	} else {
		r->pos = t;
		r->cached = t;
	}
	return 0;
}

/* Stats: the published head and tail. */
static void spsc_fill_positions(const struct shmring *r, uint64_t *head, uint64_t *tail)
{
	/* Acquire: pairs with the release stores of tail (C2) and head (P3). */
	*tail = shmring_atomic_load(&r->ctrl->cons.pos, SHMRING_ACQUIRE);
	*head = shmring_atomic_load(&r->ctrl->prod.pos, SHMRING_ACQUIRE);
}

const struct shmring_kind_ops shmring__spsc_ops = {
	.type = SHMRING_SPSC,
	.name = "spsc",
	.flags = SHMRING_F_COUNTERS | SHMRING_F_MEMFD,
	.geometry = shmring__slot_geometry,
	.init = spsc_init,
	.check = spsc_check,
	.attach = spsc_attach,
	.ready_prod = shmring_spsc__ready_push,
	.ready_cons = shmring_spsc__ready_pop,
	.positions = spsc_fill_positions,
	/* A new SPSC endpoint takes a dead one's entry over and resumes
	 * from the slots; recovery only frees the entries. */
	.recover = shmring__ep_reap,
};

/* Typed rings (typed.h) call this at attach: their copies are compiled for
 * sizeof the element type, so a ring of another slot size is refused here
 * with the two sizes, rather than only by the -EINVAL of each operation. */
int shmring_spsc_check_size(const struct shmring *r, uint32_t elem_size)
{
	shmring__clear_detail();
	if (!r || !r->map)
		return shmring__fail(-EINVAL, "handle is %s", r ? "closed" : "NULL");
	if (r->type != SHMRING_SPSC)
		return shmring__fail(-EINVAL, "ring type is %u, expected %u (SHMRING_SPSC)", r->type,
				     SHMRING_SPSC);
	if (r->slot_size != elem_size)
		return shmring__fail(-EINVAL, "slot_size of the ring is %u, the element type is %u bytes",
				     r->slot_size, elem_size);
	return 0;
}
