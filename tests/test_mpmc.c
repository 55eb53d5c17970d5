/* SPDX-License-Identifier: MIT */
/* MPMC ring: API, capacities, wrap-around, bursts, zero copy, endpoints. */
#include <pthread.h>
#include <sched.h>

#include "common.h"

static void make(struct shmring *r, uint64_t cap, uint32_t slot, uint64_t init_pos)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MPMC, cap, slot);
	prm.init_pos = init_pos;
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create_anon(r, &prm, SHMRING_ROLE_NONE), 0, "create: %s",
		     shmring_errdetail());
}

static void open2(struct shmring *ring, struct shmring *p, struct shmring *c)
{
	cr_assert_eq(shmring_dup(p, ring, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(c, ring, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
}

Test(mpmc, push_pop_roles)
{
	struct shmring ring, p, c;
	uint64_t v = 7, out = 0;

	make(&ring, 8, 8, 0);
	open2(&ring, &p, &c);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &out), -EAGAIN);
	cr_assert_eq(shmring_mpmc_try_push(&c, &v), -EBADF);
	cr_assert_eq(shmring_mpmc_try_pop(&p, &out), -EBADF);
	cr_assert_eq(shmring_mpmc_try_push(&ring, &v), -EBADF);
	cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0);
	cr_assert_eq(shmring_mpmc_count(&c), 1);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &out), 0);
	cr_assert_eq(out, 7);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &out), -EAGAIN);
	cr_assert_eq(shmring_recover(&c), 0);
	cr_assert_gt(shmring_atomic_load(&c.ctrl->cons_stats.blocked, SHMRING_RELAXED), 0);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

Test(mpmc, named_open_types)
{
	struct shmring p, c, o;
	struct shmring_params prm;
	struct shmring_open_opts oo = { .type = SHMRING_MPMC, .slot_size = 24 };
	const char *name = t_name("mpmc-named");
	struct t_msg m, out;

	shmring_params_init(&prm, SHMRING_MPMC, 16, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, &oo), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&o, name, SHMRING_OBSERVER, &oo), 0, "%s", shmring_errdetail());
	t_msg_make(&m, 1, 2);
	cr_assert_eq(shmring_mpmc_try_push(&p, &m), 0);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &out), 0);
	cr_assert(t_msg_ok(&out) && out.seq == 2);
	cr_assert_eq(shmring_recover(&o), -EPERM);
	shmring_close(&o);
	oo.type = SHMRING_SPSC;
	cr_assert_eq(shmring_open(&o, name, SHMRING_CONSUMER, &oo), -EPROTO);
	shmring_close(&c);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* Fill to capacity, check full, drain; several laps; every capacity 1..64
 * and positions seeded just before 2^64 so the laps cross it. */
static void laps(uint64_t cap, uint64_t init_pos)
{
	struct shmring ring, p, c;
	uint64_t v, seq = 0, want = 0;

	make(&ring, cap, 8, init_pos);
	open2(&ring, &p, &c);
	for (int lap = 0; lap < 5; lap++) {
		for (uint64_t i = 0; i < cap; i++) {
			v = seq++;
			cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0, "cap %llu lap %d i %llu",
				     (unsigned long long)cap, lap, (unsigned long long)i);
		}
		v = 999;
		cr_assert_eq(shmring_mpmc_try_push(&p, &v), -EAGAIN, "cap %llu full", (unsigned long long)cap);
		cr_assert_eq(shmring_mpmc_count(&p), cap);
		/* Half out, half in again, then everything out. */
		for (uint64_t i = 0; i < (cap + 1) / 2; i++) {
			cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
			cr_assert_eq(v, want++);
		}
		for (uint64_t i = 0; i < (cap + 1) / 2; i++) {
			v = seq++;
			cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0);
		}
		for (uint64_t i = 0; i < cap; i++) {
			cr_assert_eq(shmring_mpmc_try_pop(&c, &v), 0);
			cr_assert_eq(v, want++, "cap %llu got %llu", (unsigned long long)cap,
				     (unsigned long long)v);
		}
		cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	}
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

Test(mpmc, capacities_1_to_64)
{
	for (uint64_t cap = 1; cap <= 64; cap <<= 1)
		laps(cap, 0);
}

Test(mpmc, positions_near_2_64)
{
	for (uint64_t cap = 1; cap <= 64; cap <<= 1) {
		laps(cap, UINT64_MAX - 2 * cap);
		laps(cap, UINT64_MAX);
		laps(cap, (1ull << 62) - cap); /* the sequence word keeps 62 bits */
		laps(cap, (1ull << 63) - 1);
	}
}

Test(mpmc, burst_edges)
{
	struct shmring ring, p, c;
	uint64_t in[40], out[40];

	make(&ring, 16, 8, UINT64_MAX - 20);
	open2(&ring, &p, &c);
	for (uint64_t i = 0; i < 40; i++)
		in[i] = 1000 + i;
	cr_assert_eq(shmring_mpmc_push_burst(&p, in, 0), 0);
	cr_assert_eq(shmring_mpmc_push_bulk(&p, in, 17), -EINVAL);
	cr_assert_eq(shmring_mpmc_pop_bulk(&c, out, 17), -EINVAL);
	cr_assert_eq(shmring_mpmc_pop_burst(&c, out, 4), 0);
	cr_assert_eq(shmring_mpmc_pop_bulk(&c, out, 1), -EAGAIN);
	/* Burst larger than the room: as many as fit. */
	cr_assert_eq(shmring_mpmc_push_burst(&p, in, 10), 10);
	cr_assert_eq(shmring_mpmc_push_burst(&p, in + 10, 30), 6);
	cr_assert_eq(shmring_mpmc_push_burst(&p, in, 1), 0);
	cr_assert_eq(shmring_mpmc_push_bulk(&p, in, 1), -EAGAIN);
	/* Bulk pop: all or nothing. */
	cr_assert_eq(shmring_mpmc_pop_bulk(&c, out, 16), 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(out[i], 1000 + (uint64_t)i);
	cr_assert_eq(shmring_mpmc_push_bulk(&p, in, 16), 16);
	cr_assert_eq(shmring_mpmc_pop_burst(&c, out, 5), 5);
	cr_assert_eq(shmring_mpmc_push_bulk(&p, in, 6), -EAGAIN, "5 free, 6 wanted");
	cr_assert_eq(shmring_mpmc_push_bulk(&p, in + 20, 5), 5);
	cr_assert_eq(shmring_mpmc_pop_bulk(&c, out, 17), -EINVAL);
	cr_assert_eq(shmring_mpmc_pop_burst(&c, out + 5, 40), 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(out[i], 1000 + (uint64_t)i);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(out[16 + i], 1020 + (uint64_t)i);
	cr_assert_eq(shmring_mpmc_pop_burst(&c, out, 40), 0);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

Test(mpmc, reserve_commit_peek_release)
{
	struct shmring ring, p, c;
	uint64_t pos = 0, pos2 = 0, v;

	make(&ring, 8, 16, 0);
	open2(&ring, &p, &c);
	cr_assert_eq(shmring_mpmc_reserve(&p, 5, &pos), 5);
	cr_assert_eq(shmring_mpmc_reserve(&p, 1, &pos2), -EBUSY);
	for (uint64_t i = 0; i < 5; i++)
		memcpy(shmring_slot(&p, pos + i), &(uint64_t){ 50 + i }, 8);
	cr_assert_eq(shmring_mpmc_peek(&c, 8, &pos2), 0, "nothing visible before commit");
	cr_assert_eq(shmring_mpmc_commit(&p, 6), -EINVAL);
	/* Publish 3, give the last 2 back: consumers pass them silently. */
	cr_assert_eq(shmring_mpmc_commit(&p, 3), 0);
	uint64_t v2[2] = { 99, 0 };
	cr_assert_eq(shmring_mpmc_try_push(&p, v2), 0);
	cr_assert_eq(shmring_mpmc_peek(&c, 8, &pos2), 3, "contiguous messages only");
	cr_assert_eq(shmring_mpmc_peek(&c, 1, &pos2), -EBUSY);
	for (uint64_t i = 0; i < 3; i++) {
		memcpy(&v, shmring_slot(&c, pos2 + i), 8);
		cr_assert_eq(v, 50 + i);
	}
	cr_assert_eq(shmring_mpmc_release(&c), 0);
	cr_assert_eq(shmring_mpmc_try_pop(&c, v2), 0, "passes the 2 given back");
	cr_assert_eq(v2[0], 99);
	cr_assert_eq(shmring_mpmc_try_pop(&c, v2), -EAGAIN);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_stats.skipped, SHMRING_RELAXED), 0,
		     "given back is not skipped");
	/* The ring keeps full capacity afterwards. */
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(shmring_mpmc_try_push(&p, v2), 0);
	cr_assert_eq(shmring_mpmc_try_push(&p, v2), -EAGAIN);
	/* A peek keeps producers out of its slot a lap later. */
	cr_assert_eq(shmring_mpmc_peek(&c, 1, &pos2), 1);
	cr_assert_eq(shmring_mpmc_try_push(&p, v2), -EAGAIN);
	cr_assert_eq(shmring_mpmc_release(&c), 0);
	cr_assert_eq(shmring_mpmc_try_push(&p, v2), 0);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

static void claim_blocks(uint64_t init_pos)
{
	struct shmring ring, p, c1, c2;
	uint64_t pos, v;

	make(&ring, 4, 8, init_pos);
	open2(&ring, &p, &c1);
	cr_assert_eq(shmring_dup(&c2, &ring, SHMRING_CONSUMER), 0);
	for (v = 0; v < 4; v++)
		cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0);
	cr_assert_eq(shmring_mpmc_peek(&c1, 1, &pos), 1); /* holds position 0 */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_mpmc_try_pop(&c2, &v), 0);
	cr_assert_eq(v, 3);
	cr_assert_eq(shmring_mpmc_try_push(&p, &v), -EAGAIN, "slot 0 still read by c1");
	/* Closing the holder drops its claim. */
	shmring_close(&c1);
	cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0);
	shmring_close(&p);
	shmring_close(&c2);
	shmring_close(&ring);
}

/* Also when the held position is UINT64_MAX (no value of claim_pos can
 * mean "no claim"). */
Test(mpmc, consumer_claim_blocks_producers_a_lap_later)
{
	claim_blocks(0);
	claim_blocks(UINT64_MAX);
	claim_blocks(UINT64_MAX - 1);
}

Test(mpmc, endpoint_table)
{
	struct shmring ring, h[6];
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MPMC, 8, 8);
	prm.max_endpoints = 4;
	cr_assert_eq(shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(shmring_dup(&h[i], &ring, i & 1 ? SHMRING_CONSUMER : SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&h[4], &ring, SHMRING_PRODUCER), -ENOSPC);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(shmring_atomic_load(&h[i].ep->state, SHMRING_RELAXED), SHMRING_EP_ACTIVE);
		cr_assert_eq(shmring_atomic_load(&h[i].ep->pid, SHMRING_RELAXED), getpid());
	}
	shmring_close(&h[1]);
	cr_assert_eq(shmring_dup(&h[4], &ring, SHMRING_CONSUMER), 0, "a closed entry is reused");
	for (int i = 0; i < 5; i++)
		if (i != 1)
			shmring_close(&h[i]);
	shmring_close(&ring);
}

Test(mpmc, corrupt_positions)
{
	struct shmring ring, p, c;
	uint64_t v = 1;

	make(&ring, 8, 8, 0);
	open2(&ring, &p, &c);
	/* A peer writes an impossible producer claim: an error, no access
	 * outside the ring. */
	shmring_atomic_store(&ring.ctrl->prod.claim, 1000, SHMRING_RELAXED);
	cr_assert_eq(shmring_mpmc_try_push(&p, &v), -EPROTO);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	shmring_atomic_store(&ring.ctrl->prod.claim, 0, SHMRING_RELAXED);
	shmring_atomic_store(&ring.ctrl->cons.claim, UINT64_MAX / 3, SHMRING_RELAXED);
	cr_assert_eq(shmring_mpmc_try_pop(&c, &v), -EAGAIN);
	/* The limit already known stays usable; the next refresh sees it. */
	int ret = 0;
	for (int i = 0; i < 9 && ret == 0; i++)
		ret = shmring_mpmc_try_push(&p, &v);
	cr_assert_eq(ret, -EPROTO);
	cr_assert_gt(shmring_atomic_load(&ring.ctrl->prod_stats.corrupt, SHMRING_RELAXED), 0);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
}

/* Threads: 4 producers x 4 consumers, each its own handle; small enough
 * for ThreadSanitizer. */
#define TP 4
#define TC 4
struct tshared {
	struct shmring *ring;
	uint64_t per;
	_Atomic uint64_t popped;
	_Atomic uint64_t sum;
	_Atomic unsigned char *seen[TP];
	_Atomic int bad;
};

struct targ {
	struct tshared *s;
	int id;
};

static void *tprod(void *p)
{
	struct targ *a = p;
	struct shmring h;
	struct t_msg m[8];

	if (shmring_dup(&h, a->s->ring, SHMRING_PRODUCER) < 0) {
		atomic_store(&a->s->bad, 1);
		return NULL;
	}
	for (uint64_t i = 0; i < a->s->per;) {
		if (i % 3 == 0 && a->s->per - i >= 8) {
			for (int j = 0; j < 8; j++)
				t_msg_make(&m[j], (uint64_t)a->id, i + (uint64_t)j);
			int64_t k = shmring_mpmc_push_burst(&h, m, 8);

			if (k > 0)
				i += (uint64_t)k;
			else
				sched_yield();
			continue;
		}
		t_msg_make(&m[0], (uint64_t)a->id, i);
		if (shmring_mpmc_try_push(&h, &m[0]) == 0)
			i++;
		else
			sched_yield();
	}
	shmring_close(&h);
	return NULL;
}

static void *tcons(void *p)
{
	struct targ *a = p;
	struct tshared *s = a->s;
	struct shmring h;
	struct t_msg m[8];
	uint64_t last[TP];
	uint64_t total = s->per * TP;

	for (int i = 0; i < TP; i++)
		last[i] = UINT64_MAX;
	if (shmring_dup(&h, s->ring, SHMRING_CONSUMER) < 0) {
		atomic_store(&s->bad, 1);
		return NULL;
	}
	while (atomic_load(&s->popped) < total && !atomic_load(&s->bad)) {
		int64_t k = shmring_mpmc_pop_burst(&h, m, (uint64_t)(a->id % 2 ? 1 : 8));

		if (k <= 0) {
			sched_yield();
			continue;
		}
		for (int64_t j = 0; j < k; j++) {
			if (!t_msg_ok(&m[j]) || m[j].producer >= TP || m[j].seq >= s->per ||
			    (last[m[j].producer] != UINT64_MAX && m[j].seq <= last[m[j].producer]) ||
			    atomic_fetch_add(&s->seen[m[j].producer][m[j].seq], 1) != 0) {
				atomic_store(&s->bad, 1);
				break;
			}
			last[m[j].producer] = m[j].seq;
			atomic_fetch_add(&s->sum, m[j].seq);
		}
		atomic_fetch_add(&s->popped, (uint64_t)k);
	}
	shmring_close(&h);
	return NULL;
}

Test(mpmc, threads_4p4c, .timeout = 120)
{
	struct shmring ring;
	struct tshared s = { .ring = &ring, .per = t_scale(100000) };
	pthread_t th[TP + TC];
	struct targ ta[TP + TC];

	make(&ring, 64, sizeof(struct t_msg), UINT64_MAX - 1000);
	for (int i = 0; i < TP; i++)
		s.seen[i] = calloc(s.per, 1);
	for (int i = 0; i < TP + TC; i++) {
		ta[i] = (struct targ){ &s, i < TP ? i : i - TP };
		pthread_create(&th[i], NULL, i < TP ? tprod : tcons, &ta[i]);
	}
	for (int i = 0; i < TP + TC; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&s.bad), 0, "a message was corrupt, duplicated or out of order");
	cr_assert_eq(atomic_load(&s.popped), s.per * TP);
	cr_assert_eq(atomic_load(&s.sum), TP * (s.per * (s.per - 1) / 2));
	for (int i = 0; i < TP; i++) {
		for (uint64_t j = 0; j < s.per; j++)
			cr_assert_eq(s.seen[i][j], 1, "producer %d seq %llu", i, (unsigned long long)j);
		free((void *)s.seen[i]);
	}
	shmring_close(&ring);
}
