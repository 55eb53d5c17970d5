/* SPDX-License-Identifier: MIT */
/* Ring set tests: checking a message a set consumer takes. */
#ifndef SHMRING_TESTS_SET_COMMON_H
#define SHMRING_TESTS_SET_COMMON_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <shmring/set.h>

#include "msg.h"

/*
 * Take one message {producer, seq, checksum} whose member tag is its
 * producer: well formed, from one of `maxp` producers, and that
 * producer's next seq (next[producer], advanced). Returns 0, or -1 and
 * counts it in *bad.
 */
static inline int t_set_take(uint64_t *next, uint32_t maxp, const struct shmring_set_msg *m,
			     uint64_t *bad)
{
	struct t_msg t;

	if (m->len < sizeof(t)) {
		(*bad)++;
		return -1;
	}
	memcpy(&t, m->data, sizeof(t));
	if (!t_msg_ok(&t) || t.producer >= maxp || t.seq != next[t.producer] || m->tag != t.producer) {
		(*bad)++;
		return -1;
	}
	next[t.producer]++;
	return 0;
}

/* Wait until the consumer has attached to our ring, so its name can go. */
static inline void t_set_wait_consumer(struct shmring *r)
{
	const struct shmring_endpoint *e =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)r->map +
								 SHMRING_EP_OFF);

	while (shmring_atomic_load(&e[1].state, SHMRING_ACQUIRE) != SHMRING_EP_ACTIVE)
		usleep(200);
}

#endif
