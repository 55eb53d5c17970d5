/* SPDX-License-Identifier: MIT */
/* Test messages and sizes, without Criterion (plain test programs use it too). */
#ifndef SHMRING_TESTS_MSG_H
#define SHMRING_TESTS_MSG_H

#include <stdint.h>
#include <stdlib.h>

/* Stress sizes scale with SHMRING_STRESS_SCALE (meson -Dstress_scale). */
static inline uint64_t t_scale(uint64_t n)
{
	const char *s = getenv("SHMRING_STRESS_SCALE");
	uint64_t k = s ? strtoull(s, NULL, 10) : 1;

	return n * (k ? k : 1);
}

/* splitmix64: the checksum stamped into every test message. */
static inline uint64_t t_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A test message: who sent it, its per-producer sequence, a checksum. */
struct t_msg {
	uint64_t producer;
	uint64_t seq;
	uint64_t check;
};

static inline void t_msg_make(struct t_msg *m, uint64_t producer, uint64_t seq)
{
	m->producer = producer;
	m->seq = seq;
	m->check = t_mix(producer * 0x100000001b3ull ^ seq);
}

static inline int t_msg_ok(const struct t_msg *m)
{
	return m->check == t_mix(m->producer * 0x100000001b3ull ^ m->seq);
}

#endif
