/* SPDX-License-Identifier: MIT */
/*
 * Boost.Lockfree's spsc_queue as a baseline: the SPSC queue a C++ user
 * takes off the shelf (libboost-dev, header-only). One element at a time
 * (push/pop of one T) and bursts (push(const T *, n) / pop(T *, n)).
 *
 * With a compile-time capacity (boost::lockfree::capacity<N>) the queue
 * keeps its indices and its array inside the object, no pointer and no
 * allocator, so it is placement-new'd into a shared mapping and runs
 * between processes as well as threads. Elements are structs of 8, 16,
 * ..., 64 bytes (one template instance each, the loops picked once per
 * run); the first 8 bytes carry the harness's tag like any message.
 *
 * The timed loops are bench.h's, instantiated here in C++ with the
 * queue's calls inlined, as every C adapter does with its own.
 */
#include <cerrno>
#include <cstdlib>
#include <new>

#include <boost/lockfree/spsc_queue.hpp>

#include "bench.h"

/* The run's counters are shared with the C harness, and the queue's
 * indices with another process: both must be plain lock-free words. */
static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t) && std::atomic<uint64_t>::is_always_lock_free,
	      "std::atomic<uint64_t> is not C's _Atomic uint64_t");
static_assert(std::atomic<size_t>::is_always_lock_free, "the queue's indices must be lock-free");

namespace {

/* The queue's slots: fixed at compile time (the harness's default
 * capacity); a run asking for another capacity gets -EINVAL. */
constexpr uint64_t boost_capacity = 1024;

/* A message of N bytes (8, 16, ..., 64), one element of the queue. */
template <uint32_t N>
struct elem {
	unsigned char b[N];
};

template <uint32_t N>
using queue = boost::lockfree::spsc_queue<elem<N>, boost::lockfree::capacity<boost_capacity>>;

struct boost_state {
	void *q[2];
	size_t size;
	int n;
};

struct boost_ep {
	void *q;
};

template <uint32_t N>
void boost_teardown_n(struct boost_state *st)
{
	while (st->n > 0) {
		void *q = st->q[--st->n];

		static_cast<queue<N> *>(q)->~queue<N>();
		bench_free_shared(q, st->size);
	}
}

template <uint32_t N>
int boost_setup_n(struct bench_run *run, struct boost_state *st)
{
	/* whole 128-byte blocks, so the queue shares no line with anything */
	st->size = (sizeof(queue<N>) + 127) / 128 * 128;
	for (; st->n < (run->rtt ? 2 : 1); st->n++) {
		void *mem = bench_alloc_shared(st->size);

		if (!mem) {
			boost_teardown_n<N>(st);
			return -ENOMEM;
		}
		st->q[st->n] = new (mem) queue<N>();
	}
	return 0;
}

#define BQ_TEARDOWN(N, A, B)                                                                  \
	case N:                                                                                \
		boost_teardown_n<N>(st);                                                       \
		break;
#define BQ_SETUP(N, A, B)                                                                     \
	case N:                                                                                \
		r = boost_setup_n<N>(run, st);                                                 \
		break;

void boost_teardown(struct bench_run *run)
{
	struct boost_state *st = static_cast<struct boost_state *>(run->state);

	switch (run->size) {
		BENCH_SIZES_8_64(BQ_TEARDOWN, _, _)
	}
	free(st);
}

int boost_setup(struct bench_run *run)
{
	struct boost_state *st;
	int r = -EINVAL;

	if (run->capacity != boost_capacity)
		return -EINVAL;
	st = static_cast<struct boost_state *>(calloc(1, sizeof(*st)));
	if (!st)
		return -ENOMEM;
	switch (run->size) {
		BENCH_SIZES_8_64(BQ_SETUP, _, _)
	}
	if (r < 0)
		free(st);
	else
		run->state = st;
	return r;
}

int boost_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	(void)role;
	static_cast<struct boost_ep *>(vep)->q = static_cast<struct boost_state *>(run->state)->q[ring];
	return 0;
}

template <uint32_t N>
inline int boost_send(struct boost_ep *ep, const void *m, uint32_t)
{
	return static_cast<queue<N> *>(ep->q)->push(*static_cast<const elem<N> *>(m));
}

template <uint32_t N>
inline int boost_recv(struct boost_ep *ep, void *m, uint32_t)
{
	return static_cast<queue<N> *>(ep->q)->pop(*static_cast<elem<N> *>(m));
}

template <uint32_t N>
inline int64_t boost_send_burst(struct boost_ep *ep, const void *m, uint32_t, uint64_t n)
{
	return (int64_t) static_cast<queue<N> *>(ep->q)->push(static_cast<const elem<N> *>(m), n);
}

template <uint32_t N>
inline int64_t boost_recv_burst(struct boost_ep *ep, void *m, uint32_t, uint64_t n)
{
	return (int64_t) static_cast<queue<N> *>(ep->q)->pop(static_cast<elem<N> *>(m), n);
}

#define BQ_LOOPS(N, A, B)                                                                     \
	BENCH_LOOPS(bq##N, struct boost_ep, boost_send<N>, boost_recv<N>)                      \
	BENCH_BURST_LOOPS(bqb##N, struct boost_ep, boost_send_burst<N>, boost_recv_burst<N>)
BENCH_SIZES_8_64(BQ_LOOPS, _, _)
BENCH_SIZED_LOOPS(bq)
BENCH_SIZED_BURST_LOOPS(bqb)

const struct bench_subject subjects[] = {
	{
		.name = "boost-spsc",
		.group = "baseline",
		.desc = "Boost.Lockfree spsc_queue, compile-time capacity, push/pop of one element",
		.flags = BS_TPUT | BS_RTT | BS_SIZES,
		.max_size = 64,
		.setup = boost_setup,
		.teardown = boost_teardown,
		.ep_size = sizeof(struct boost_ep),
		.ep_open = boost_ep_open,
		.producer = bq_producer,
		.consumer = bq_consumer,
		.client = bq_client,
		.server = bq_server,
	},
	{
		.name = "boost-spsc-burst",
		.group = "baseline",
		.desc = "Boost.Lockfree spsc_queue, push/pop of a run of elements",
		.flags = BS_TPUT | BS_SIZES | BS_BURST,
		.max_size = 64,
		.burst = 32,
		.setup = boost_setup,
		.teardown = boost_teardown,
		.ep_size = sizeof(struct boost_ep),
		.ep_open = boost_ep_open,
		.producer = bqb_producer,
		.consumer = bqb_consumer,
	},
};

} // namespace

extern "C" const struct bench_subjects bench_subjects_boost = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
