/* SPDX-License-Identifier: MIT */
/*
 * Statistics of a ring (include/shmring/stats.h): a read-only copy of the
 * counters, positions and endpoint table a ring keeps in shared memory.
 *
 * Nothing here stores into the mapping or makes a futex call, so it works
 * through an observer's read-only handle and never disturbs the ring. The
 * struct is built on the stack and copied out only once complete, so a
 * refused call writes nothing to the caller's.
 */
#include <errno.h>
#include <string.h>

#include <shmring/stats.h>

#include "endpoint.h"

#define STATS_SIZE_MAX 65536u
#define PAIR_TRIES 64 /* reads of (tail, head) before the fill is an estimate */

SHMRING_STATIC_ASSERT(sizeof(struct shmring_ring_stats) % 8 == 0, "ring stats size");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_ep_stats) % 8 == 0, "ep stats size");

/*
 * A handle attached in this process, of any role: its key carries this
 * process's fork generation (shmring.h). 0 or -EBADF with detail.
 */
static int handle_check(const struct shmring *r)
{
	if (!r->key || !r->map || !r->ctrl || !r->shared)
		return shmring__fail(-EBADF, "handle is closed, or was never attached");
	if ((r->key & ~(uint64_t)0xffff) != shmring__fork_gen)
		return shmring__fail(-EBADF, "handle was inherited across fork(): take one of this "
				     "process's own with shmring_dup()");
	return 0;
}

/* The caller's size field: at least the first version, at most
 * STATS_SIZE_MAX, in 8-byte words. 0 or -EINVAL with detail. */
static int size_check(uint32_t size, uint32_t v1, const char *what)
{
	if (size < v1 || size > STATS_SIZE_MAX || size % 8)
		return shmring__fail(-EINVAL, "%s size is %u: set it to sizeof(struct %s) (%u .. %u, "
				     "a multiple of 8)", what, size, what, v1, STATS_SIZE_MAX);
	return 0;
}

/* Copy what fits of ours (len bytes) into the caller's `size` bytes, zero
 * the rest, and say in the copy's first word how much was filled. */
static void copy_out(void *out, uint32_t size, const void *ours, uint32_t len)
{
	uint32_t n = size < len ? size : len;

	memcpy(out, ours, n);
	if (size > n)
		memset((unsigned char *)out + n, 0, size - n);
	memcpy(out, &n, sizeof(n));
}

#define LD(x) shmring_atomic_load(&(x), SHMRING_RELAXED)

static void side_read(struct shmring_ring_side *o, const struct shmring_side *s,
		      const struct shmring_wait *w, const struct shmring_stats *st)
{
	o->pos = LD(s->pos);
	o->claim = LD(s->claim);
	o->gone = LD(s->gone);
	o->waiters = LD(w->waiters);
	o->blocked = LD(st->blocked);
	o->high_water = LD(st->high_water);
	o->sleeps = LD(st->sleeps);
	o->wakes = LD(st->wakes);
	o->wakes_empty = LD(st->wakes_empty);
	o->futex_calls = LD(st->futex_calls);
	o->skipped = LD(st->skipped);
	o->lost = LD(st->lost);
	o->corrupt = LD(st->corrupt);
	o->solo_grants = LD(st->solo_grants);
	o->solo_revokes = LD(st->solo_revokes);
}

/*
 * Head and tail as a pair that existed at one moment: the tail read
 * before and after the head agree (it only grows, so an unchanged value
 * did not move in between). A ring moving too fast for that in
 * PAIR_TRIES reads gets the last pair, marked inconsistent.
 */
static bool fill_read(const struct shmring *r, const struct shmring_kind_ops *ops,
		      struct shmring_ring_stats *st)
{
	uint64_t h = 0, t = 0, h2, t2;
	bool consistent = false;

	for (int i = 0; i < PAIR_TRIES && !consistent; i++) {
		ops->positions(r, &h, &t);
		ops->positions(r, &h2, &t2);
		consistent = t == t2;
	}
	st->head = h;
	st->tail = t;
	/* A consumer may run past a published head it has not seen stored
	 * yet (SPSC: the slots' own sequence words publish them), and a
	 * moving or corrupt ring can show any pair: keep fill in range. */
	if ((int64_t)(h - t) < 0)
		st->fill = 0;
	else
		st->fill = h - t > r->capacity ? r->capacity : h - t;
	return consistent;
}

static void endpoints_count(const struct shmring *r, struct shmring_ring_stats *st)
{
	const struct shmring_endpoint *eps = shmring__ep_table(r);

	for (uint32_t i = 0; i < r->ep_count; i++) {
		const struct shmring_endpoint *e = &eps[i];
		/* Acquire: pairs with the release store of state when the entry
		 * was filled in (endpoint.c), so role, pid and start time are the
		 * owner's. */
		uint32_t state = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);
		struct shmring_ring_side *side;
		int32_t pid;
		uint64_t start;

		if (state == SHMRING_EP_FREE)
			continue;
		st->endpoints++;
		if (SHMRING_EP_STATE(state) == SHMRING_EP_BUSY) {
			/* Being filled in: its holder is named by the state word. */
			pid = SHMRING_EP_BUSY_PID(state);
			start = 0;
		} else {
			pid = LD(e->pid);
			start = LD(e->start_time);
		}
		uint32_t role = LD(e->role);

		if (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER)
			continue;
		side = role == SHMRING_PRODUCER ? &st->prod : &st->cons;
		if (pid > 0 && shmring__pid_alive(pid, start))
			side->live++;
		else
			side->dead++;
	}
}

int shmring_stats(const struct shmring *r, struct shmring_ring_stats *out)
{
	const struct shmring_kind_ops *ops;
	struct shmring_ring_stats st;
	const struct shmring_ctrl *c;
	int ret;

	shmring__clear_detail();
	if (!r || !out)
		return shmring__fail(-EINVAL, "%s is NULL", r ? "stats" : "handle");
	if ((ret = size_check(out->size, SHMRING_RING_STATS_SIZE_V1, "shmring_ring_stats")) < 0 ||
	    (ret = handle_check(r)) < 0)
		return ret;
	ops = shmring__kind_ops(r->type);
	if (!ops || !ops->positions)
		return shmring__fail(-EBADF, "handle has no ring type this library knows (%u)", r->type);
	c = r->ctrl;
	memset(&st, 0, sizeof(st));
	st.valid = SHMRING_STATS_BASE;
	if (r->flags & SHMRING_F_COUNTERS)
		st.valid |= SHMRING_STATS_COUNTERS;
	st.type = r->type;
	st.flags = r->flags;
	st.capacity = r->capacity;
	st.slot_size = r->slot_size;
	st.slot_stride = r->type == SHMRING_SPSC || r->type == SHMRING_MPMC || r->type == SHMRING_BROADCAST
			     ? r->stride
			     : 0;
	st.total_size = r->map_size;
	/* The handle's validated header copy (region.c), never the shared one. */
	st.init_pos = shmring__hdr_copy(r)->init_pos;
	st.ep_count = r->ep_count;
	if (fill_read(r, ops, &st))
		st.valid |= SHMRING_STATS_CONSISTENT;
	side_read(&st.prod, &c->prod, &c->prod_wait, &c->prod_stats);
	side_read(&st.cons, &c->cons, &c->cons_wait, &c->cons_stats);
	endpoints_count(r, &st);
	copy_out(out, out->size, &st, sizeof(st));
	return 0;
}

int shmring_endpoint_stats(const struct shmring *r, uint32_t index, struct shmring_ep_stats *out)
{
	const struct shmring_endpoint *e;
	struct shmring_ep_stats st;
	uint32_t state;
	int ret;

	shmring__clear_detail();
	if (!r || !out)
		return shmring__fail(-EINVAL, "%s is NULL", r ? "stats" : "handle");
	if ((ret = size_check(out->size, SHMRING_EP_STATS_SIZE_V1, "shmring_ep_stats")) < 0 ||
	    (ret = handle_check(r)) < 0)
		return ret;
	if (index >= r->ep_count)
		return shmring__fail(-EINVAL, "endpoint index %u: the table has %u entries", index,
				     r->ep_count);
	e = &shmring__ep_table(r)[index];
	/* Acquire: pairs with the release store of state in ep_fill (endpoint.c). */
	state = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);
	if (state == SHMRING_EP_FREE)
		return shmring__fail(-ENOENT, "endpoint entry %u is free", index);
	memset(&st, 0, sizeof(st));
	st.valid = SHMRING_STATS_BASE | (r->flags & SHMRING_F_COUNTERS ? SHMRING_STATS_COUNTERS : 0);
	st.index = index;
	st.role = LD(e->role);
	st.tid = LD(e->tid);
	st.attach_ns = LD(e->attach_ns);
	st.claim_pos = LD(e->claim_pos);
	st.claim_end = LD(e->claim_end);
	st.ops = LD(e->ops);
	st.taken = LD(e->taken);
	if (SHMRING_EP_STATE(state) == SHMRING_EP_BUSY) {
		st.state = SHMRING_EP_BUSY;
		st.pid = SHMRING_EP_BUSY_PID(state);
	} else {
		st.state = state;
		st.pid = LD(e->pid);
		st.start_time = LD(e->start_time);
	}
	st.alive = st.pid > 0 && shmring__pid_alive(st.pid, st.start_time);
	copy_out(out, out->size, &st, sizeof(st));
	return 0;
}
