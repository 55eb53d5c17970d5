/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring semantics in one thread: empty, full, exact capacity, wrap,
 * burst and bulk edge cases, zero copy, every capacity from 1 to 2^16, and
 * positions seeded near 2^32 and 2^64 (shmring_params.init_pos).
 */
#include <string.h>

#include "common.h"

/* A producer and a consumer on one anonymous ring (shared mapping). */
static void pair_open(struct shmring *p, struct shmring *c, uint64_t cap, uint32_t slot,
		      uint64_t init_pos, uint32_t flags)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_SPSC, cap, slot);
	prm.init_pos = init_pos;
	prm.flags = flags;
	cr_assert_eq(shmring_create_anon(p, &prm, SHMRING_PRODUCER), 0, "create cap %llu slot %u: %s",
		     (unsigned long long)cap, slot, shmring_errdetail());
	cr_assert_eq(shmring_dup(c, p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
}

static void pair_close(struct shmring *p, struct shmring *c)
{
	cr_assert_eq(shmring_close(c), 0);
	cr_assert_eq(shmring_close(p), 0);
}

/* Push value v (8-byte slots). */
static int push(struct shmring *p, uint64_t v)
{
	return shmring_spsc_try_push(p, &v);
}

static void pop_expect(struct shmring *c, uint64_t want)
{
	uint64_t v = ~want;

	cr_assert_eq(shmring_spsc_try_pop(c, &v), 0, "pop of %llu failed", (unsigned long long)want);
	cr_assert_eq(v, want, "popped %llu, expected %llu", (unsigned long long)v,
		     (unsigned long long)want);
}

Test(spsc_semantics, empty)
{
	struct shmring p, c;
	uint64_t v[4], pos;

	pair_open(&p, &c, 8, 8, 0, 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, v), -EAGAIN);
	cr_assert_eq(shmring_spsc_pop_burst(&c, v, 4), 0);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, v, 1), -EAGAIN);
	cr_assert_eq(shmring_spsc_peek(&c, 1, &pos), 0);
	cr_assert_eq(shmring_spsc_peek(&c, 4, &pos), 0);
	cr_assert_eq(shmring_spsc_count(&c), 0);
	/* Still empty after a push and a pop. */
	cr_assert_eq(push(&p, 7), 0);
	pop_expect(&c, 7);
	cr_assert_eq(shmring_spsc_try_pop(&c, v), -EAGAIN);
	cr_assert_eq(shmring_spsc_pop_burst(&c, v, 4), 0);
	pair_close(&p, &c);
}

Test(spsc_semantics, full_and_exact_capacity)
{
	struct shmring p, c;
	uint64_t v[4] = { 0 }, pos;

	pair_open(&p, &c, 16, 8, 0, 0);
	for (uint64_t i = 0; i < 16; i++)
		cr_assert_eq(push(&p, i), 0, "push %llu of 16", (unsigned long long)i);
	cr_assert_eq(push(&p, 99), -EAGAIN);
	cr_assert_eq(shmring_spsc_push_burst(&p, v, 4), 0);
	cr_assert_eq(shmring_spsc_push_bulk(&p, v, 1), -EAGAIN);
	cr_assert_eq(shmring_spsc_reserve(&p, 1, &pos), 0);
	cr_assert_eq(shmring_spsc_count(&p), 16);
	/* One freed slot is usable again, and only one. */
	pop_expect(&c, 0);
	cr_assert_eq(push(&p, 16), 0);
	cr_assert_eq(push(&p, 17), -EAGAIN);
	for (uint64_t i = 1; i <= 16; i++)
		pop_expect(&c, i);
	cr_assert_eq(shmring_spsc_try_pop(&c, v), -EAGAIN);
	pair_close(&p, &c);
}

Test(spsc_semantics, wrap_many_laps)
{
	struct shmring p, c;
	uint64_t next_in = 0, next_out = 0;

	pair_open(&p, &c, 4, 8, 0, 0);
	/* Uneven fill levels, so that every slot is used at every phase. */
	for (int lap = 0; lap < 200; lap++) {
		int fill = 1 + lap % 4, drain = 1 + (lap * 7) % 4;

		for (int i = 0; i < fill; i++)
			if (push(&p, next_in) == 0)
				next_in++;
		for (int i = 0; i < drain && next_out < next_in; i++)
			pop_expect(&c, next_out++);
	}
	while (next_out < next_in)
		pop_expect(&c, next_out++);
	cr_assert_gt(next_in, 400);
	pair_close(&p, &c);
}

Test(spsc_semantics, burst_and_bulk_edges)
{
	struct shmring p, c;
	uint64_t in[32], out[32];

	for (uint64_t i = 0; i < 32; i++)
		in[i] = 1000 + i;
	pair_open(&p, &c, 8, 8, 0, 0);
	/* n = 0 is a no-op everywhere. */
	cr_assert_eq(shmring_spsc_push_burst(&p, in, 0), 0);
	cr_assert_eq(shmring_spsc_push_bulk(&p, in, 0), 0);
	cr_assert_eq(shmring_spsc_pop_burst(&c, out, 0), 0);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, out, 0), 0);
	cr_assert_eq(shmring_spsc_count(&p), 0);
	/* n > free: burst takes what fits, bulk takes nothing. */
	cr_assert_eq(shmring_spsc_push_burst(&p, in, 5), 5);
	cr_assert_eq(shmring_spsc_push_bulk(&p, in + 5, 4), -EAGAIN);
	cr_assert_eq(shmring_spsc_count(&p), 5);
	cr_assert_eq(shmring_spsc_push_burst(&p, in + 5, 10), 3);
	cr_assert_eq(shmring_spsc_push_burst(&p, in + 8, 10), 0);
	/* n > capacity can never succeed in bulk: -EINVAL, not -EAGAIN. */
	cr_assert_eq(shmring_spsc_push_bulk(&p, in, 9), -EINVAL);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, out, 9), -EINVAL);
	/* Bulk pop of more than there is takes nothing. */
	cr_assert_eq(shmring_spsc_pop_bulk(&c, out, 3), 3);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, out + 3, 6), -EAGAIN);
	cr_assert_eq(shmring_spsc_pop_burst(&c, out + 3, 32), 5);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(out[i], in[i]);
	/* Bulk that fits exactly, across the wrap. */
	cr_assert_eq(shmring_spsc_push_bulk(&p, in + 8, 8), 8);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, out, 8), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(out[i], in[8 + i]);
	/* Burst pop stops at what is there, mixing with single pops. */
	cr_assert_eq(shmring_spsc_push_burst(&p, in, 3), 3);
	pop_expect(&c, in[0]);
	cr_assert_eq(shmring_spsc_pop_burst(&c, out, 8), 2);
	cr_assert_eq(out[0], in[1]);
	cr_assert_eq(out[1], in[2]);
	cr_assert_eq(shmring_spsc_try_pop(&c, out), -EAGAIN);
	pair_close(&p, &c);
}

Test(spsc_semantics, zero_copy)
{
	struct shmring p, c;
	uint64_t pos, cpos, v;

	pair_open(&p, &c, 8, 8, 0, 0);
	cr_assert_eq(shmring_spsc_reserve(&p, 5, &pos), 5);
	for (uint64_t i = 0; i < 5; i++) {
		v = 500 + i;
		memcpy(shmring_slot(&p, pos + i), &v, 8);
	}
	/* Nothing is visible before the commit. */
	cr_assert_eq(shmring_spsc_peek(&c, 1, &cpos), 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, &v), -EAGAIN);
	shmring_spsc_commit(&p, 3);
	cr_assert_eq(shmring_spsc_count(&c), 3);
	/* The two uncommitted slots are still ours: reserve again from there. */
	cr_assert_eq(shmring_spsc_reserve(&p, 8, &pos), 5);
	cr_assert_eq(pos, 3);
	shmring_spsc_commit(&p, 2);
	/* Consumer: peek, read in place, release part of it. */
	cr_assert_eq(shmring_spsc_peek(&c, 8, &cpos), 5);
	cr_assert_eq(cpos, 0);
	for (uint64_t i = 0; i < 5; i++) {
		memcpy(&v, shmring_slot(&c, cpos + i), 8);
		cr_assert_eq(v, 500 + i);
	}
	shmring_spsc_release(&c, 2);
	/* Released slots are free for the producer; peeked ones are not. */
	cr_assert_eq(shmring_spsc_reserve(&p, 8, &pos), 5);
	cr_assert_eq(pos, 5);
	/* peek of one after a partial release sees the next message. */
	cr_assert_eq(shmring_spsc_peek(&c, 1, &cpos), 1);
	cr_assert_eq(cpos, 2);
	memcpy(&v, shmring_slot(&c, cpos), 8);
	cr_assert_eq(v, 502);
	shmring_spsc_release(&c, 1);
	pop_expect(&c, 503);
	pop_expect(&c, 504);
	cr_assert_eq(shmring_spsc_peek(&c, 1, &cpos), 0);
	pair_close(&p, &c);
}

/* Payload bytes survive for odd slot sizes, and slots do not overlap. */
Test(spsc_semantics, slot_sizes)
{
	static const uint32_t sizes[] = { 1, 3, 7, 8, 9, 15, 16, 24, 56, 57, 64, 100, 1000, 4096 };
	unsigned char in[4096], out[4096];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct shmring p, c;
		uint32_t sz = sizes[k];

		pair_open(&p, &c, 8, sz, 0, 0);
		cr_assert_eq(p.slot_size, sz);
		cr_assert_geq(p.stride, sz + SHMRING_SLOT_HDR);
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 8; i++) {
				memset(in, 0x10 * round + i + 1, sz);
				cr_assert_eq(shmring_spsc_try_push(&p, in), 0);
			}
			for (int i = 0; i < 8; i++) {
				memset(out, 0xee, sizeof(out));
				memset(in, 0x10 * round + i + 1, sz);
				cr_assert_eq(shmring_spsc_try_pop(&c, out), 0);
				cr_assert_eq(memcmp(in, out, sz), 0, "slot size %u, message %d", sz, i);
				if (sz < sizeof(out))
					cr_assert_eq(out[sz], 0xee, "pop wrote past slot_size %u", sz);
			}
		}
		pair_close(&p, &c);
	}
}

/*
 * Exercise one ring from position init_pos: fill to exactly capacity,
 * overfill, drain, then several laps mixing single, burst and zero-copy
 * operations. Every value is checked in order.
 */
static void run_ring(uint64_t cap, uint64_t init_pos)
{
	struct shmring p, c;
	uint64_t in = 0, out = 0, buf[64], pos;

	pair_open(&p, &c, cap, 8, init_pos, 0);
	cr_assert_eq(p.pos, init_pos);
	cr_assert_eq(c.pos, init_pos);
	for (uint64_t i = 0; i < cap; i++)
		cr_assert_eq(push(&p, in++), 0, "cap %llu init %llx: push %llu", (unsigned long long)cap,
			     (unsigned long long)init_pos, (unsigned long long)i);
	cr_assert_eq(push(&p, in), -EAGAIN, "cap %llu init %llx: push past capacity",
		     (unsigned long long)cap, (unsigned long long)init_pos);
	cr_assert_eq(shmring_spsc_count(&c), cap);
	while (out < in)
		pop_expect(&c, out++);
	cr_assert_eq(shmring_spsc_try_pop(&c, buf), -EAGAIN);

	/* Three more laps in mixed steps. */
	uint64_t goal = in + 3 * cap + 5;

	for (unsigned step = 0; out < goal; step++) {
		uint64_t want = 1 + step % (cap < 64 ? cap : 64);

		switch (step % 3) {
		case 0: {
			for (uint64_t i = 0; i < want; i++)
				buf[i] = in + i;
			int64_t k = shmring_spsc_push_burst(&p, buf, want);

			cr_assert_geq(k, 0);
			in += (uint64_t)k;
			break;
		}
		case 1: {
			int64_t k = shmring_spsc_reserve(&p, want, &pos);

			cr_assert_geq(k, 0);
			for (int64_t i = 0; i < k; i++) {
				uint64_t v = in + (uint64_t)i;

				memcpy(shmring_slot(&p, pos + (uint64_t)i), &v, 8);
			}
			shmring_spsc_commit(&p, (uint64_t)k);
			in += (uint64_t)k;
			break;
		}
		default:
			if (push(&p, in) == 0)
				in++;
		}
		switch (step % 4) {
		case 0: {
			int64_t k = shmring_spsc_pop_burst(&c, buf, want);

			cr_assert_geq(k, 0);
			for (int64_t i = 0; i < k; i++)
				cr_assert_eq(buf[i], out++, "cap %llu init %llx", (unsigned long long)cap,
					     (unsigned long long)init_pos);
			break;
		}
		case 1: {
			int64_t k = shmring_spsc_peek(&c, want, &pos);

			cr_assert_geq(k, 0);
			for (int64_t i = 0; i < k; i++) {
				uint64_t v;

				memcpy(&v, shmring_slot(&c, pos + (uint64_t)i), 8);
				cr_assert_eq(v, out++);
			}
			shmring_spsc_release(&c, (uint64_t)k);
			break;
		}
		default:
			if (out < in)
				pop_expect(&c, out++);
		}
	}
	while (out < in)
		pop_expect(&c, out++);
	cr_assert_eq(p.pos - init_pos, in, "producer position");
	cr_assert_eq(c.pos - init_pos, out, "consumer position");
	pair_close(&p, &c);
}

Test(spsc_semantics, every_capacity_1_to_65536)
{
	for (uint64_t cap = 1; cap <= 65536; cap <<= 1)
		run_ring(cap, 0);
}

/* Positions that cross 2^32 and 2^64 (where uint64 wraps to 0). */
Test(spsc_semantics, positions_near_2_32_and_2_64)
{
	static const uint64_t cap[] = { 1, 2, 4, 8, 64, 1024 };

	for (size_t k = 0; k < sizeof(cap) / sizeof(cap[0]); k++) {
		run_ring(cap[k], (1ull << 32) - 1);
		run_ring(cap[k], (1ull << 32) - cap[k] - 3);
		run_ring(cap[k], UINT64_MAX);
		run_ring(cap[k], UINT64_MAX - cap[k]);
		run_ring(cap[k], UINT64_MAX - 2 * cap[k] - 1);
		run_ring(cap[k], (1ull << 63) - 1);
	}
}

/*
 * A producer that dies between publishing a slot and storing its head
 * leaves prod.pos behind a tail the consumer has already moved past. A new
 * producer, an observer and a consumer still attach, and nothing is
 * delivered twice.
 */
Test(spsc_semantics, takeover_after_lagging_head)
{
	struct shmring p, c, o;
	uint64_t v = 0;

	pair_open(&p, &c, 8, 8, 0, 0);
	for (uint64_t i = 0; i < 3; i++)
		cr_assert_eq(push(&p, i), 0);
	uint64_t before = shmring_atomic_load(&p.ctrl->prod.pos, SHMRING_RELAXED);

	cr_assert_eq(push(&p, 3), 0);
	/* The store of the head that never happened. */
	shmring_atomic_store(&p.ctrl->prod.pos, before, SHMRING_RELAXED);
	for (uint64_t i = 0; i < 4; i++) {
		cr_assert_eq(shmring_spsc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_dup(&o, &c, SHMRING_ROLE_NONE), 0, "observer: %s", shmring_errdetail());
	cr_assert_eq(shmring_close(&o), 0);
	cr_assert_eq(shmring_dup(&p, &c, SHMRING_PRODUCER), 0, "new producer: %s", shmring_errdetail());
	cr_assert_eq(push(&p, 4), 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, &v), 0);
	cr_assert_eq(v, 4);
	cr_assert_eq(shmring_spsc_try_pop(&c, &v), -EAGAIN);
	shmring_close(&c);
	shmring_close(&p);
}

/* A position written by a corrupt peer gives -EPROTO, never a bad access. */
Test(spsc_semantics, corrupt_positions)
{
	struct shmring p, c;
	uint64_t v[4] = { 1, 2, 3, 4 };

	pair_open(&p, &c, 8, 8, 0, SHMRING_F_COUNTERS);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(push(&p, (uint64_t)i), 0);
	/* Consumer tail far ahead of the producer: the producer refuses. */
	shmring_atomic_store(&p.ctrl->cons.pos, 1000000, SHMRING_RELAXED);
	cr_assert_eq(push(&p, 9), -EPROTO);
	cr_assert_eq(shmring_spsc_push_burst(&p, v, 4), -EPROTO);
	cr_assert_eq(shmring_spsc_push_bulk(&p, v, 4), -EPROTO);
	cr_assert_eq(shmring_spsc_count(&p), 0, "count of an impossible state");
	cr_assert_geq(shmring_atomic_load(&p.ctrl->prod_stats.corrupt, SHMRING_RELAXED), 1);
	shmring_atomic_store(&p.ctrl->cons.pos, 0, SHMRING_RELAXED);
	/* Producer head far from the consumer: burst and bulk refuse. */
	shmring_atomic_store(&p.ctrl->prod.pos, 0x8000000000000000ull, SHMRING_RELAXED);
	c.cached = c.pos; /* make the consumer re-read the head */
	cr_assert_eq(shmring_spsc_pop_burst(&c, v, 4), -EPROTO);
	cr_assert_eq(shmring_spsc_pop_bulk(&c, v, 2), -EPROTO);
	cr_assert_geq(shmring_atomic_load(&c.ctrl->cons_stats.corrupt, SHMRING_RELAXED), 1);
	/* A fresh attach refuses the inconsistent pair too. */
	struct shmring o;

	cr_assert_eq(shmring_dup(&o, &p, SHMRING_ROLE_NONE), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "positions"), "%s", shmring_errdetail());
	pair_close(&p, &c);
}

Test(spsc_semantics, counters)
{
	struct shmring p, c;
	uint64_t v[8] = { 0 };

	pair_open(&p, &c, 8, 8, 0, SHMRING_F_COUNTERS);
	struct shmring_stats *ps = &p.ctrl->prod_stats, *cs = &p.ctrl->cons_stats;

	cr_assert_eq(shmring_spsc_try_pop(&c, v), -EAGAIN);
	cr_assert_eq(shmring_spsc_pop_burst(&c, v, 4), 0);
	cr_assert_eq(shmring_atomic_load(&cs->blocked, SHMRING_RELAXED), 2);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(push(&p, (uint64_t)i), 0);
	pop_expect(&c, 0);
	for (int i = 5; i < 9; i++)
		cr_assert_eq(push(&p, (uint64_t)i), 0);
	/* Full: 8 in use. */
	cr_assert_eq(push(&p, 9), -EAGAIN);
	cr_assert_eq(shmring_spsc_push_burst(&p, v, 2), 0);
	cr_assert_eq(shmring_atomic_load(&ps->blocked, SHMRING_RELAXED), 2);
	cr_assert_eq(shmring_atomic_load(&ps->high_water, SHMRING_RELAXED), 8);
	for (int i = 1; i < 9; i++)
		pop_expect(&c, (uint64_t)i);
	/* The high-water mark stays; n = 0 calls count nothing. */
	cr_assert_eq(push(&p, 9), 0);
	cr_assert_eq(shmring_spsc_push_burst(&p, v, 0), 0);
	cr_assert_eq(shmring_atomic_load(&ps->high_water, SHMRING_RELAXED), 8);
	cr_assert_eq(shmring_atomic_load(&ps->blocked, SHMRING_RELAXED), 2);
	cr_assert_eq(shmring_atomic_load(&cs->blocked, SHMRING_RELAXED), 2);
	/* A producer that takes over continues from the stored high-water mark. */
	cr_assert_eq(shmring_close(&p), 0);
	struct shmring p2;

	cr_assert_eq(shmring_dup(&p2, &c, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(p2.hwm, 8);
	pair_close(&p2, &c);
}

Test(spsc_semantics, counters_off_cost_nothing)
{
	struct shmring p, c;
	uint64_t v;

	pair_open(&p, &c, 4, 8, 0, 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, &v), -EAGAIN);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(push(&p, (uint64_t)i), 0);
	cr_assert_eq(push(&p, 4), -EAGAIN);
	const unsigned char *blk = (const unsigned char *)&p.ctrl->prod_stats;

	for (size_t i = 0; i < 2 * sizeof(struct shmring_stats); i++)
		cr_assert_eq(blk[i], 0, "counter byte %zu written without SHMRING_F_COUNTERS", i);
	pair_close(&p, &c);
}
