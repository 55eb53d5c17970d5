/* SPDX-License-Identifier: MIT */
/* Ring set tests: checking a message a set consumer takes. */
#ifndef SHMRING_TESTS_SET_COMMON_H
#define SHMRING_TESTS_SET_COMMON_H

#include <stdint.h>
#include <string.h>

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

#endif
