/* SPDX-License-Identifier: MIT */
/*
 * An outside program's loops over the fast paths of each kind, compiled
 * at -O2 against the public headers by check_inline.py, which fails if a
 * loop below calls a fast-path function instead of inlining it. Only
 * compiled and disassembled, never run.
 */
#include <shmring/shmring.h>
#include <shmring/typed.h>
#include <shmring/wait.h>

#define LOOP __attribute__((noinline, used))

LOOP int64_t loop_spsc_push(struct shmring *r, const uint64_t *v, uint64_t n)
{
	int64_t done = 0;
	uint64_t pos;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_spsc_try_push(r, &v[i]) == 0)
			done++;
		done += shmring_spsc_push_burst(r, v, 4);
		done += shmring_spsc_push_bulk(r, v, 4);
		if (shmring_spsc_reserve(r, 1, &pos) == 1) {
			memcpy(shmring_slot(r, pos), &v[i], sizeof(v[i]));
			shmring_spsc_commit(r, 1);
		}
	}
	return done;
}

LOOP int64_t loop_spsc_pop(struct shmring *r, uint64_t *v, uint64_t n)
{
	int64_t done = 0;
	uint64_t pos;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_spsc_try_pop(r, &v[i]) == 0)
			done++;
		done += shmring_spsc_pop_burst(r, v, 4);
		done += shmring_spsc_pop_bulk(r, v, 4);
		if (shmring_spsc_peek(r, 1, &pos) == 1) {
			memcpy(&v[i], shmring_slot(r, pos), sizeof(v[i]));
			shmring_spsc_release(r, 1);
		}
	}
	return done;
}

/* Typed rings (typed.h): named shmring_ here so that the check looks
 * for calls to them too. */
struct tick16 {
	uint64_t seq, v;
};
SHMRING_SPSC_TYPED(shmring_tick16, struct tick16);

LOOP int64_t loop_typed_push(struct shmring *r, const struct tick16 *v, uint64_t n)
{
	int64_t done = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_tick16_try_push(r, &v[i]) == 0)
			done++;
		done += shmring_tick16_push_burst(r, v, 4);
	}
	return done;
}

LOOP int64_t loop_typed_pop(struct shmring *r, struct tick16 *v, uint64_t n)
{
	int64_t done = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_tick16_try_pop(r, &v[i]) == 0)
			done++;
		done += shmring_tick16_pop_burst(r, v, 4);
	}
	return done;
}

LOOP int64_t loop_mpmc_push(struct shmring *r, const uint64_t *v, uint64_t n)
{
	int64_t done = 0;
	uint64_t pos;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_mpmc_try_push(r, &v[i]) == 0)
			done++;
		done += shmring_mpmc_push_burst(r, v, 4);
		done += shmring_mpmc_push_bulk(r, v, 4);
		if (shmring_mpmc_reserve(r, 1, &pos) == 1) {
			memcpy(shmring_slot(r, pos), &v[i], sizeof(v[i]));
			shmring_mpmc_commit(r, 1);
		}
	}
	return done;
}

LOOP int64_t loop_mpmc_pop(struct shmring *r, uint64_t *v, uint64_t n)
{
	int64_t done = 0;
	uint64_t pos;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_mpmc_try_pop(r, &v[i]) == 0)
			done++;
		done += shmring_mpmc_pop_burst(r, v, 4);
		done += shmring_mpmc_pop_bulk(r, v, 4);
		if (shmring_mpmc_peek(r, 1, &pos) == 1) {
			memcpy(&v[i], shmring_slot(r, pos), sizeof(v[i]));
			shmring_mpmc_release(r);
		}
	}
	return done;
}

LOOP int64_t loop_msg_push(struct shmring *r, const char *m, uint32_t len, uint64_t n)
{
	int64_t done = 0;
	void *buf;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_msg_push(r, m, len) == 0)
			done++;
		if (shmring_msg_reserve(r, len, &buf) == 0) {
			memcpy(buf, m, len);
			shmring_msg_commit(r);
		}
	}
	return done;
}

LOOP int64_t loop_msg_pop(struct shmring *r, char *m, uint32_t cap, uint64_t n)
{
	int64_t done = 0;
	const void *buf;

	for (uint64_t i = 0; i < n; i++) {
		if (shmring_msg_pop(r, m, cap) >= 0)
			done++;
		int len = shmring_msg_peek(r, &buf);

		if (len >= 0) {
			memcpy(m, buf, (size_t)len < cap ? (size_t)len : cap);
			shmring_msg_release(r);
		}
	}
	return done;
}

LOOP int loop_wake(struct shmring *r, uint64_t n)
{
	int woken = 0;

	for (uint64_t i = 0; i < n; i++) {
		shmring_wake_pushed(r, 1, i);
		woken += shmring_wake(r, SHMRING_PRODUCER);
		woken += shmring_spsc_wake(r);
		woken += shmring_mpmc_wake(r);
	}
	return woken;
}
