/* SPDX-License-Identifier: MIT */
/*
 * Typed SPSC rings (typed.h): a forked producer and the parent consumer
 * on a named ring, single and burst, every element checked by sequence
 * and checksum; element sizes that are not a multiple of 8 and larger
 * than 64 bytes; typed and untyped ends on one ring; a ring of another
 * slot size refused at open, at check and by every operation, with
 * nothing moved.
 */
#include <sched.h>
#include <string.h>

#include <shmring/typed.h>

#include "common.h"

struct tick {
	uint64_t seq;
	uint32_t px[5];
	uint32_t sum; /* of seq and px */
};

struct odd { /* 12 bytes: not a multiple of 8 */
	uint32_t seq;
	uint8_t b[8];
};

struct big { /* 136 bytes: past the word-copy sizes */
	uint64_t seq;
	uint8_t b[120];
	uint64_t sum;
};

SHMRING_SPSC_TYPED(tick_ring, struct tick);
SHMRING_SPSC_TYPED(odd_ring, struct odd);
SHMRING_SPSC_TYPED(big_ring, struct big);

#define N_TICKS 200000u

static uint32_t tick_sum(const struct tick *t)
{
	uint32_t s = (uint32_t)t->seq * 2654435761u;

	for (int i = 0; i < 5; i++)
		s = (s ^ t->px[i]) * 16777619u;
	return s;
}

static void tick_make(struct tick *t, uint64_t seq)
{
	t->seq = seq;
	for (int i = 0; i < 5; i++)
		t->px[i] = (uint32_t)(seq * 31 + (uint64_t)i * 7919);
	t->sum = tick_sum(t);
}

/* Producer child: opens the ring by name as a typed ring and pushes
 * N_TICKS ticks, alternating single pushes and bursts of 1..17. Exits
 * with the line of the first failure. */
static void tick_producer(const char *name)
{
	struct shmring r;
	struct tick b[17];
	uint64_t seq = 1;
	int64_t k;

	if (tick_ring_open(&r, name, SHMRING_PRODUCER, NULL) != 0 || tick_ring_check(&r) != 0)
		_exit(10);
	while (seq <= N_TICKS) {
		if (seq % 3) {
			tick_make(&b[0], seq);
			int rc = tick_ring_try_push(&r, &b[0]);

			if (rc == -EAGAIN) {
				sched_yield();
				continue;
			}
			if (rc != 0)
				_exit(11);
			seq++;
		} else {
			uint64_t n = 1 + seq % 17;

			if (n > N_TICKS - seq + 1)
				n = N_TICKS - seq + 1;
			for (uint64_t i = 0; i < n; i++)
				tick_make(&b[i], seq + i);
			k = tick_ring_push_burst(&r, b, n);
			if (k < 0)
				_exit(12);
			if (k == 0)
				sched_yield();
			seq += (uint64_t)k;
		}
	}
	_exit(shmring_close(&r) == 0 ? 0 : 13);
}

/* The parent pops every tick (singles and bursts of up to 13) and checks
 * its sequence number and checksum. */
Test(typed, across_processes, .timeout = 60)
{
	const char *name = t_name("typed");
	struct shmring r;
	struct tick b[13];
	uint64_t want = 1, xsum = 0, wsum = 0;
	pid_t pid;

	cr_assert_eq(tick_ring_create(&r, name, 256, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(r.slot_size, sizeof(struct tick));
	pid = t_fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		tick_producer(name);
	while (want <= N_TICKS) {
		int64_t k;

		if (want % 2) {
			int rc = tick_ring_try_pop(&r, &b[0]);

			cr_assert(rc == 0 || rc == -EAGAIN, "pop: %d", rc);
			k = rc == 0;
		} else {
			k = tick_ring_pop_burst(&r, b, 13);
			cr_assert_geq(k, 0);
		}
		if (k == 0)
			sched_yield();
		for (int64_t i = 0; i < k; i++, want++) {
			cr_assert_eq(b[i].seq, want, "tick %llu where %llu was due",
				     (unsigned long long)b[i].seq, (unsigned long long)want);
			cr_assert_eq(b[i].sum, tick_sum(&b[i]), "checksum of tick %llu", (unsigned long long)want);
			xsum += b[i].px[4];
			wsum += (uint32_t)(want * 31 + 4 * 7919);
		}
	}
	cr_assert_eq(xsum, wsum);
	t_wait_ok(pid, "producer");
	cr_assert_eq(tick_ring_try_pop(&r, &b[0]), -EAGAIN, "nothing after the last tick");
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* Sizes the word copy does not take (12 and 136 bytes), typed on one end
 * and untyped (slot_size copies) on the other, both ways round. */
Test(typed, odd_and_big_sizes_with_untyped_ends)
{
	struct shmring p, c;
	struct odd o = { 0 }, oo;
	struct big g, gg;

	cr_assert_eq(odd_ring_create_anon(&p, 8, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0);
	cr_assert_eq(c.slot_size, 12);
	for (uint32_t i = 0; i < 20; i++) {
		o.seq = i;
		memset(o.b, (int)(i + 1), sizeof(o.b));
		if (i % 2)
			cr_assert_eq(odd_ring_try_push(&p, &o), 0);
		else
			cr_assert_eq(shmring_spsc_try_push(&p, &o), 0);
		memset(&oo, 0xee, sizeof(oo));
		if (i % 3)
			cr_assert_eq(odd_ring_try_pop(&c, &oo), 0);
		else
			cr_assert_eq(shmring_spsc_try_pop(&c, &oo), 0);
		cr_assert_eq(memcmp(&o, &oo, sizeof(o)), 0, "element %u", i);
	}
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&p), 0);

	cr_assert_eq(big_ring_create_anon(&p, 4, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0);
	for (uint64_t i = 0; i < 10; i++) {
		g.seq = i;
		memset(g.b, (int)(0x40 + i), sizeof(g.b));
		g.sum = ~i;
		cr_assert_eq(big_ring_push_burst(&p, &g, 1), 1);
		memset(&gg, 0, sizeof(gg));
		cr_assert_eq(i % 2 ? big_ring_pop_burst(&c, &gg, 4) : shmring_spsc_pop_burst(&c, &gg, 4), 1);
		cr_assert_eq(memcmp(&g, &gg, sizeof(g)), 0, "element %llu", (unsigned long long)i);
	}
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&p), 0);
}

/* A ring of 16-byte slots is not a ring of 32-byte ticks: refused, with
 * both sizes in the detail, and nothing pushed or popped. */
Test(typed, wrong_size_refused)
{
	const char *name = t_name("typed-wrong");
	struct shmring_params prm;
	struct shmring p, c, o;
	struct tick t;
	uint8_t raw[16] = { 7 };

	tick_make(&t, 1);
	shmring_params_init(&prm, SHMRING_SPSC, 8, 16);
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0);

	cr_assert_eq(tick_ring_check(&p), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "slot_size of the ring is 16") &&
		  strstr(shmring_errdetail(), "is 32 bytes"), "detail: %s", shmring_errdetail());
	cr_assert_eq(tick_ring_check(&c), -EINVAL);

	cr_assert_eq(tick_ring_try_push(&p, &t), -EINVAL);
	cr_assert_eq(tick_ring_push_burst(&p, &t, 1), -EINVAL);
	cr_assert_eq(shmring_spsc_count(&p), 0, "nothing pushed");
	cr_assert_eq(shmring_spsc_try_push(&p, raw), 0);
	cr_assert_eq(tick_ring_try_pop(&c, &t), -EINVAL);
	cr_assert_eq(tick_ring_pop_burst(&c, &t, 1), -EINVAL);
	cr_assert_eq(t.seq, 1, "the element is untouched");
	cr_assert_eq(shmring_spsc_count(&c), 1, "nothing popped");

	/* By name: refused before anything is attached. */
	cr_assert_eq(tick_ring_open(&o, name, SHMRING_OBSERVER, NULL), -EPROTO);
	cr_assert(strstr(shmring_errdetail(), "slot_size is 16, expected 32"), "detail: %s",
		  shmring_errdetail());

	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* Not an SPSC ring, or no ring: refused by the check; a typed operation
 * on a closed handle or in the wrong role: -EBADF, as the untyped ones. */
Test(typed, wrong_kind_and_handles)
{
	struct shmring_params prm;
	struct shmring m, p;
	struct tick t;

	tick_make(&t, 1);
	shmring_params_init(&prm, SHMRING_MPMC, 8, sizeof(struct tick));
	cr_assert_eq(shmring_create_anon(&m, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(tick_ring_check(&m), -EINVAL);
	cr_assert(strstr(shmring_errdetail(), "ring type is 2"), "detail: %s", shmring_errdetail());
	cr_assert_eq(tick_ring_try_push(&m, &t), -EBADF);
	cr_assert_eq(shmring_close(&m), 0);
	cr_assert_eq(tick_ring_check(&m), -EINVAL);
	cr_assert_eq(tick_ring_check(NULL), -EINVAL);

	cr_assert_eq(tick_ring_create_anon(&p, 8, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(tick_ring_check(&p), 0);
	cr_assert_eq(tick_ring_try_pop(&p, &t), -EBADF, "a producer does not pop");
	cr_assert_eq(tick_ring_pop_burst(&p, &t, 1), -EBADF);
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(tick_ring_try_push(&p, &t), -EBADF, "closed");
	cr_assert_eq(tick_ring_push_burst(&p, &t, 1), -EBADF);
}
