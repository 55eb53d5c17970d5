/* SPDX-License-Identifier: MIT */
/* The two sides of the lost-wakeup stress (processes and threads). */
#ifndef SHMRING_TESTS_WAIT_STRESS_H
#define SHMRING_TESTS_WAIT_STRESS_H

#include "wait_common.h"

#define CI_HANDOFFS 200000ull

struct stress {
	const char *name;
	uint64_t n;
	int storm;
	uint32_t mode;
	uint32_t flags;
};

/* xorshift: cheap per-side randomness for the delays. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mostly no delay, sometimes a short spin, rarely a sleep of a few us:
 * the other side finds the ring empty (full) and parks. */
static inline void delay(uint64_t *s)
{
	uint64_t x = rnd(s) & 1023;

	if (x < 700)
		return;
	if (x < 1000) {
		for (uint64_t i = 0, k = x & 255; i < k; i++)
			shmring_cpu_relax();
		return;
	}
	usleep((useconds_t)(x & 15));
}

static inline int produce(struct shmring *p, const struct stress *s)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	struct t_msg m;

	for (uint64_t i = 0; i < s->n; i++) {
		t_msg_make(&m, 1, i);
		int ret = shmring_spsc_push_wait(p, &m, NULL);

		if (ret) {
			fprintf(stderr, "push_wait %llu: %s\n", (unsigned long long)i, shmring_strerror(ret));
			return 1;
		}
		delay(&seed);
	}
	return 0;
}

static inline int consume(struct shmring *c, const struct stress *s)
{
	uint64_t seed = 0xda942042e4dd58b5ull ^ (uint64_t)getpid();
	struct t_msg m;

	for (uint64_t i = 0; i < s->n; i++) {
		int ret = shmring_spsc_pop_wait(c, &m, NULL);

		if (ret) {
			fprintf(stderr, "pop_wait %llu: %s\n", (unsigned long long)i, shmring_strerror(ret));
			return 1;
		}
		if (m.producer != 1 || m.seq != i || !t_msg_ok(&m)) {
			fprintf(stderr, "message %llu: producer %llu seq %llu check %s\n",
				(unsigned long long)i, (unsigned long long)m.producer,
				(unsigned long long)m.seq, t_msg_ok(&m) ? "ok" : "BAD");
			return 1;
		}
		delay(&seed);
	}
	/* Nothing extra: the ring is empty at the end. */
	return shmring_spsc_try_pop(c, &m) == -EAGAIN ? 0 : 1;
}

#endif
