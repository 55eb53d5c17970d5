/* SPDX-License-Identifier: MIT */
/*
 * Message ring subjects (include/shmring/msg.h): variable-length records
 * in a byte ring, one producer (MSG_SPSC) or many (MSG_MPSC).
 *
 *   shmring-msg       push/pop: copy in, copy out (what a pipe does)
 *   shmring-msg-zc    reserve/commit and peek/release: the producer writes
 *                     the message in place, the consumer reads it in place
 *                     and copies it out (the harness needs the bytes)
 *   shmring-msg-mpsc  push/pop on the multi-producer ring
 *
 * The ring is sized in bytes from the harness's slot capacity (capacity x
 * message size, a power of two, at least two of the largest records).
 */
#include <stdlib.h>

#include <shmring/shmring.h>
#include <shmring/msg.h>

#include "bench.h"

struct msg_ep {
	struct shmring r; /* first: bench_sr_ep_open */
};

_Static_assert(offsetof(struct msg_ep, r) == 0, "bench_sr_ep_open takes the endpoint as its ring");

static uint64_t msg_bytes(const struct bench_run *run)
{
	uint64_t want = run->capacity * run->size, cap = 64;
	uint64_t min = 2 * shmring_msg__rec_size(run->size);

	while (cap * 2 <= want)
		cap *= 2;
	while (cap < min)
		cap *= 2;
	return cap;
}

static int msg_setup_spsc(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_MSG_SPSC, msg_bytes(run), 0);
}

static int msg_setup_mpsc(struct bench_run *run)
{
	return bench_sr_setup(run, SHMRING_MSG_MPSC, msg_bytes(run), 0);
}

/* copy in, copy out */
static inline int msg_send(struct msg_ep *ep, const void *m, uint32_t size)
{
	int r = shmring_msg_push(&ep->r, m, size);

	return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
}

static inline int msg_recv(struct msg_ep *ep, void *m, uint32_t size)
{
	int r = shmring_msg_pop(&ep->r, m, size);

	return r >= 0 ? (r == (int)size ? 1 : -EBADMSG) : r == -EAGAIN ? 0 : r;
}

BENCH_LOOPS(msg, struct msg_ep, msg_send, msg_recv)

/* in place: reserve/commit, peek/release */
static inline int msg_zc_send(struct msg_ep *ep, const void *m, uint32_t size)
{
	void *w;
	int r = shmring_msg_reserve(&ep->r, size, &w);

	if (r < 0)
		return r == -EAGAIN ? 0 : r;
	memcpy(w, m, size);
	shmring_msg_commit(&ep->r);
	return 1;
}

static inline int msg_zc_recv(struct msg_ep *ep, void *m, uint32_t size)
{
	const void *p;
	int r = shmring_msg_peek(&ep->r, &p);

	if (r < 0)
		return r == -EAGAIN ? 0 : r;
	if (r != (int)size)
		return -EBADMSG;
	memcpy(m, p, size);
	shmring_msg_release(&ep->r);
	return 1;
}

BENCH_LOOPS(msg_zc, struct msg_ep, msg_zc_send, msg_zc_recv)

static const struct bench_subject subjects[] = {
	{
		.name = "shmring-msg",
		.group = "shmring",
		.desc = "message ring (one producer), push/pop: copy in, copy out",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = SHMRING_SLOT_MAX,
		.setup = msg_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct msg_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = msg_producer,
		.consumer = msg_consumer,
		.client = msg_client,
		.server = msg_server,
	},
	{
		.name = "shmring-msg-zc",
		.group = "shmring",
		.desc = "message ring (one producer), reserve/commit, peek/release",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = SHMRING_SLOT_MAX,
		.setup = msg_setup_spsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct msg_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = msg_zc_producer,
		.consumer = msg_zc_consumer,
		.client = msg_zc_client,
		.server = msg_zc_server,
	},
	{
		.name = "shmring-msg-mpsc",
		.group = "shmring",
		.desc = "message ring (many producers), push/pop",
		.flags = BS_TPUT | BS_SIZES | BS_MPSC,
		.max_size = SHMRING_SLOT_MAX,
		.setup = msg_setup_mpsc,
		.teardown = bench_sr_teardown,
		.ep_size = sizeof(struct msg_ep),
		.ep_open = bench_sr_ep_open,
		.ep_close = bench_sr_ep_close,
		.producer = msg_producer,
		.consumer = msg_consumer,
	},
};

const struct bench_subjects bench_subjects_msg = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
