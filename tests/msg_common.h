/* SPDX-License-Identifier: MIT */
/* Helpers for the message-ring tests. */
#ifndef SHMRING_TESTS_MSG_COMMON_H
#define SHMRING_TESTS_MSG_COMMON_H

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common.h"

/* Fill buf with n bytes derived from (stream, seq). */
static inline void t_fill(void *buf, uint32_t n, uint64_t stream, uint64_t seq)
{
	unsigned char *p = (unsigned char *)buf;
	uint64_t x = t_mix(stream * 0x9e3779b97f4a7c15ull ^ seq);
	uint32_t i = 0;

	for (; i + 8 <= n; i += 8) {
		x = t_mix(x);
		memcpy(p + i, &x, 8);
	}
	x = t_mix(x);
	for (; i < n; i++)
		p[i] = (unsigned char)(x >> (8 * (i & 7)));
}

/* 1 if buf holds exactly what t_fill(stream, seq) writes. */
static inline int t_check(const void *buf, uint32_t n, uint64_t stream, uint64_t seq)
{
	const unsigned char *p = (const unsigned char *)buf;
	uint64_t x = t_mix(stream * 0x9e3779b97f4a7c15ull ^ seq);
	uint32_t i = 0;

	for (; i + 8 <= n; i += 8) {
		x = t_mix(x);
		if (memcmp(p + i, &x, 8))
			return 0;
	}
	x = t_mix(x);
	for (; i < n; i++)
		if (p[i] != (unsigned char)(x >> (8 * (i & 7))))
			return 0;
	return 1;
}

/* Message length for message `seq` of a stream: 0..max, every size seen. */
static inline uint32_t t_len(uint64_t stream, uint64_t seq, uint32_t max)
{
	return (uint32_t)(t_mix(stream ^ (seq * 0x2545f4914f6cdd1dull)) % ((uint64_t)max + 1));
}

static inline void t_msg_ring(struct shmring *p, struct shmring *c, const char *name,
			      uint32_t type, uint64_t cap, uint32_t max, uint64_t init_pos)
{
	struct shmring_params prm;

	shmring_params_init(&prm, type, cap, max);
	prm.init_pos = init_pos;
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(p, name, &prm, SHMRING_PRODUCER), 0, "create: %s",
		     shmring_errdetail());
	cr_assert_eq(shmring_open(c, name, SHMRING_CONSUMER, NULL), 0, "open: %s",
		     shmring_errdetail());
}

static inline void t_msg_done(struct shmring *p, struct shmring *c, const char *name)
{
	shmring_close(c);
	shmring_close(p);
	shmring_unlink(name);
}

#endif
