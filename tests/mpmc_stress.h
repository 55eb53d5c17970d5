/* SPDX-License-Identifier: MIT */
/*
 * MPMC stress workers shared by the thread variants (plain program, runs
 * under ThreadSanitizer) and the process variants (Criterion). Producers
 * push {producer, seq, checksum}; consumers check each message, the FIFO
 * order of each producer's messages as this consumer sees them, and count
 * every (producer, seq) in a shared table, so the caller can require each
 * exactly once. No Criterion here: workers report through `bad`.
 */
#ifndef SHMRING_TESTS_MPMC_STRESS_H
#define SHMRING_TESTS_MPMC_STRESS_H

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmring/shmring.h>

#define MS_MAX_PRODUCERS 16

/* In shared memory (MAP_SHARED) for processes, or plain memory for threads. */
struct ms_shared {
	uint64_t per;          /* messages per producer */
	uint32_t producers;
	uint32_t yield_mask;   /* yield at random when (rand & mask) == 0; 0: never */
	uint32_t stamp;        /* owner-stamp variant: reserve/commit, peek/release */
	uint32_t churn;        /* close and reopen the handle after 1 in `churn` operations
	                        * (and pause now and then), so the claim mode moves; 0: never */
	_Atomic uint64_t popped;
	_Atomic uint64_t sum;  /* of all seqs taken */
	_Atomic uint64_t progress;
	_Atomic int bad;
	char why[160];
	/* then producers * per counters (unsigned char) */
};

static inline _Atomic unsigned char *ms_seen(struct ms_shared *s, uint64_t producer)
{
	return (_Atomic unsigned char *)(void *)((unsigned char *)(s + 1) + producer * s->per);
}

static inline size_t ms_size(uint32_t producers, uint64_t per)
{
	return sizeof(struct ms_shared) + (size_t)producers * per;
}

static inline uint64_t ms_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct ms_msg {
	uint64_t producer;
	uint64_t seq;
	uint64_t check;
	uint64_t owner; /* owner-stamp variant: who holds the slot now */
};

static inline void ms_make(struct ms_msg *m, uint64_t producer, uint64_t seq)
{
	m->producer = producer;
	m->seq = seq;
	m->check = ms_mix(producer * 0x100000001b3ull ^ seq);
	m->owner = 0;
}

static inline void ms_fail(struct ms_shared *s, const char *why, uint64_t a, uint64_t b)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&s->bad, &expected, 1))
		snprintf(s->why, sizeof(s->why), "%s (%llu, %llu)", why, (unsigned long long)a,
			 (unsigned long long)b);
}

static inline uint64_t ms_rand(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return *st >> 33;
}

static inline void ms_maybe_yield(struct ms_shared *s, uint64_t *rs)
{
	if (s->yield_mask && (ms_rand(rs) & s->yield_mask) == 0)
		sched_yield();
}

/* Churn: now and then leave the ring and come back as a new endpoint (the
 * claim mode is handed back at close, granted at attach when alone), or
 * pause, so that another endpoint finds us idle and takes the mode over. */
static inline int ms_churn(struct ms_shared *s, struct shmring *h, struct shmring *base, int role,
			   uint64_t *rs)
{
	uint64_t x;

	if (!base || !s->churn || (x = ms_rand(rs) % s->churn) > 1)
		return 0;
	if (x == 1) {
		struct timespec ts = { 0, (long)(ms_rand(rs) % 200000) };

		nanosleep(&ts, NULL);
		return 0;
	}
	shmring_close(h);
	int ret = shmring_dup(h, base, role);

	if (ret < 0)
		ms_fail(s, "reopen failed", (uint64_t)role, (uint64_t)-ret);
	return ret;
}

/* Producer `id` on its own handle h (opened on `base`, which churn reopens
 * it on; NULL: no churn). */
static inline void ms_produce(struct ms_shared *s, struct shmring *h, struct shmring *base, uint64_t id)
{
	struct ms_msg m[8];
	uint64_t rs = id * 7919 + 1;
	uint64_t tag = (id + 1) << 48;

	for (uint64_t seq = 0; seq < s->per && !atomic_load_explicit(&s->bad, memory_order_relaxed);) {
		uint64_t want = 1 + ms_rand(&rs) % 8, op = ms_rand(&rs) % 3;
		int64_t k;

		if (want > s->per - seq)
			want = s->per - seq;
		if (s->stamp) {
			uint64_t pos;

			k = shmring_mpmc_reserve(h, want, &pos);
			if (k > 0) {
				/* Stamp every slot we hold, let others run, check
				 * nobody else stamped it meanwhile. */
				for (int64_t j = 0; j < k; j++) {
					struct ms_msg *sl = (struct ms_msg *)shmring_slot(h, pos + (uint64_t)j);

					atomic_store_explicit((_Atomic uint64_t *)&sl->owner, tag | (seq + (uint64_t)j),
							      memory_order_relaxed);
				}
				ms_maybe_yield(s, &rs);
				for (int64_t j = 0; j < k; j++) {
					struct ms_msg *sl = (struct ms_msg *)shmring_slot(h, pos + (uint64_t)j);
					uint64_t o = atomic_load_explicit((_Atomic uint64_t *)&sl->owner,
									  memory_order_relaxed);

					if (o != (tag | (seq + (uint64_t)j)))
						ms_fail(s, "producer slot stamped by another owner", id, o);
					ms_make(&m[0], id, seq + (uint64_t)j);
					sl->producer = m[0].producer;
					sl->seq = m[0].seq;
					sl->check = m[0].check;
				}
				shmring_mpmc_commit(h, (uint64_t)k);
			}
		} else {
			for (uint64_t j = 0; j < want; j++)
				ms_make(&m[j], id, seq + j);
			if (op == 0)
				k = shmring_mpmc_try_push(h, &m[0]) == 0;
			else if (op == 1)
				k = shmring_mpmc_push_burst(h, m, want);
			else
				k = shmring_mpmc_push_bulk(h, m, want) == (int64_t)want ? (int64_t)want : 0;
		}
		if (k < 0) {
			ms_fail(s, "push failed", id, (uint64_t)-k);
			return;
		}
		if (k == 0) {
			sched_yield();
			continue;
		}
		seq += (uint64_t)k;
		atomic_fetch_add_explicit(&s->progress, (uint64_t)k, memory_order_relaxed);
		ms_maybe_yield(s, &rs);
		if (ms_churn(s, h, base, SHMRING_PRODUCER, &rs) < 0)
			return;
	}
}

static inline int ms_take(struct ms_shared *s, const struct ms_msg *m, uint64_t *last)
{
	if (m->producer >= s->producers || m->seq >= s->per ||
	    m->check != ms_mix(m->producer * 0x100000001b3ull ^ m->seq)) {
		ms_fail(s, "corrupt message", m->producer, m->seq);
		return -1;
	}
	if (last[m->producer] != UINT64_MAX && m->seq <= last[m->producer]) {
		ms_fail(s, "producer order broken", m->seq, last[m->producer]);
		return -1;
	}
	last[m->producer] = m->seq;
	if (atomic_fetch_add_explicit(&ms_seen(s, m->producer)[m->seq], 1, memory_order_relaxed) != 0) {
		ms_fail(s, "message taken twice", m->producer, m->seq);
		return -1;
	}
	atomic_fetch_add_explicit(&s->sum, m->seq, memory_order_relaxed);
	return 0;
}

/* Consumer `id` on its own handle h, until every message is taken. */
static inline void ms_consume(struct ms_shared *s, struct shmring *h, struct shmring *base, uint64_t id)
{
	struct ms_msg m[8];
	uint64_t last[MS_MAX_PRODUCERS];
	uint64_t rs = id * 104729 + 3;
	uint64_t total = s->per * s->producers;
	uint64_t tag = (id + 1) << 56;

	for (int i = 0; i < MS_MAX_PRODUCERS; i++)
		last[i] = UINT64_MAX;
	while (atomic_load_explicit(&s->popped, memory_order_relaxed) < total &&
	       !atomic_load_explicit(&s->bad, memory_order_relaxed)) {
		uint64_t want = 1 + ms_rand(&rs) % 8, op = ms_rand(&rs) % 3;
		int64_t k;

		if (s->stamp) {
			uint64_t pos;

			k = shmring_mpmc_peek(h, want, &pos);
			for (int64_t j = 0; j < k; j++) {
				struct ms_msg *sl = (struct ms_msg *)shmring_slot(h, pos + (uint64_t)j);

				memcpy(&m[j], sl, sizeof(m[j]));
				atomic_store_explicit((_Atomic uint64_t *)&sl->owner, tag | m[j].seq,
						      memory_order_relaxed);
			}
			if (k > 0) {
				ms_maybe_yield(s, &rs);
				for (int64_t j = 0; j < k; j++) {
					struct ms_msg *sl = (struct ms_msg *)shmring_slot(h, pos + (uint64_t)j);
					uint64_t o = atomic_load_explicit((_Atomic uint64_t *)&sl->owner,
									  memory_order_relaxed);

					if (o != (tag | m[j].seq))
						ms_fail(s, "consumer slot stamped by another owner", id, o);
				}
				shmring_mpmc_release(h);
			}
		} else if (op == 0) {
			k = shmring_mpmc_try_pop(h, &m[0]) == 0;
		} else if (op == 1) {
			k = shmring_mpmc_pop_burst(h, m, want);
		} else {
			k = shmring_mpmc_pop_bulk(h, m, want);
			if (k == -EAGAIN)
				k = 0;
		}
		if (k < 0) {
			ms_fail(s, "pop failed", id, (uint64_t)-k);
			return;
		}
		if (k == 0) {
			sched_yield();
			continue;
		}
		for (int64_t j = 0; j < k; j++)
			if (ms_take(s, &m[j], last) < 0)
				return;
		atomic_fetch_add_explicit(&s->popped, (uint64_t)k, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->progress, (uint64_t)k, memory_order_relaxed);
		ms_maybe_yield(s, &rs);
		if (ms_churn(s, h, base, SHMRING_CONSUMER, &rs) < 0)
			return;
	}
}

/* After the workers: every message exactly once, and the sum. Returns 0
 * or -1 with s->why filled in. */
static inline int ms_check(struct ms_shared *s)
{
	if (atomic_load(&s->bad))
		return -1;
	for (uint64_t p = 0; p < s->producers; p++)
		for (uint64_t i = 0; i < s->per; i++)
			if (atomic_load_explicit(&ms_seen(s, p)[i], memory_order_relaxed) != 1) {
				ms_fail(s, "message not taken exactly once", p, i);
				return -1;
			}
	if (atomic_load(&s->sum) != s->producers * (s->per * (s->per - 1) / 2)) {
		ms_fail(s, "sum of seqs", atomic_load(&s->sum), s->producers * (s->per * (s->per - 1) / 2));
		return -1;
	}
	return 0;
}

#endif
