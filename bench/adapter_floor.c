/* SPDX-License-Identifier: MIT */
/*
 * The floors: what the hardware and the kernel allow at best, measured in
 * the same run and through the same loops as the rings.
 *
 *   cacheline  ping-pong of one 8-byte word in each direction, each on its
 *              own cache line: the least a message can take between the
 *              two cores (one line transfer each way, no ring at all)
 *   futex      ping-pong of two processes that always sleep in FUTEX_WAIT
 *              and always FUTEX_WAKE the peer: the least a wakeup can take
 *   xcopy      cross-core copy: the producer memcpy()s each message into a
 *              slot with a flag, the consumer memcpy()s it out; the most
 *              bytes can move from one core to the other
 *   memcpy     one core copying the message size in its cache
 */
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/* ---- cache-line ping-pong ---- */

struct line {
	_Atomic uint64_t v;
	_Atomic uint32_t word; /* futex word */
	char pad[128 - 12];
};

struct line_state {
	struct line line[2];
};

struct line_ep {
	struct line *l;
	uint64_t seen;
	uint32_t wseen;
};

static int line_setup(struct bench_run *run)
{
	run->state = bench_alloc_shared(sizeof(struct line_state));
	return run->state ? 0 : -ENOMEM;
}

static void line_teardown(struct bench_run *run)
{
	bench_free_shared(run->state, sizeof(struct line_state));
}

static int line_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct line_state *st = run->state;
	struct line_ep *ep = vep;

	(void)role;
	ep->l = &st->line[ring];
	return 0;
}

static inline int line_send(struct line_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	/* Release: pairs with the receiver's acquire load. */
	atomic_store_explicit(&ep->l->v, bench_tag_get(m), memory_order_release);
	return 1;
}

static inline int line_recv(struct line_ep *ep, void *m, uint32_t size)
{
	/* Acquire: pairs with the sender's release store. */
	uint64_t v = atomic_load_explicit(&ep->l->v, memory_order_acquire);

	(void)size;
	if (v == ep->seen)
		return 0;
	ep->seen = v;
	bench_tag_set(m, v);
	return 1;
}

BENCH_LOOPS(line, struct line_ep, line_send, line_recv)

/* ---- raw futex ping-pong ---- */

static inline long futex(_Atomic uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)(void *)w, op, val, NULL, NULL, 0);
}

static inline int futex_send(struct line_ep *ep, const void *m, uint32_t size)
{
	(void)size;
	atomic_store_explicit(&ep->l->v, bench_tag_get(m), memory_order_relaxed);
	/* Release: pairs with the receiver's acquire load of the word, so it
	 * reads the tag stored above. */
	atomic_fetch_add_explicit(&ep->l->word, 1, memory_order_release);
	futex(&ep->l->word, FUTEX_WAKE, 1);
	return 1;
}

static inline int futex_recv(struct line_ep *ep, void *m, uint32_t size)
{
	uint32_t w;

	(void)size;
	/* Acquire: pairs with the sender's release increment. */
	while ((w = atomic_load_explicit(&ep->l->word, memory_order_acquire)) == ep->wseen)
		if (futex(&ep->l->word, FUTEX_WAIT, ep->wseen) < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	ep->wseen = w;
	bench_tag_set(m, atomic_load_explicit(&ep->l->v, memory_order_relaxed));
	return 1;
}

BENCH_LOOPS(futexpp, struct line_ep, futex_send, futex_recv)

/* ---- cross-core copy ---- */

struct xslot_hdr {
	_Atomic uint64_t full;
	char pad[56];
};

struct xcopy_state {
	unsigned char *mem;
	size_t stride, map_size;
	uint64_t n;
};

struct xcopy_ep {
	struct xcopy_state st;
	uint64_t pos;
};

static int xcopy_setup(struct bench_run *run)
{
	struct xcopy_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->stride = sizeof(struct xslot_hdr) + ((run->size + 63) & ~63u);
	st->n = run->capacity;
	st->map_size = st->stride * st->n;
	st->mem = bench_alloc_shared(st->map_size);
	if (!st->mem) {
		free(st);
		return -ENOMEM;
	}
	run->state = st;
	return 0;
}

static void xcopy_teardown(struct bench_run *run)
{
	struct xcopy_state *st = run->state;

	bench_free_shared(st->mem, st->map_size);
	free(st);
}

static int xcopy_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct xcopy_ep *ep = vep;

	(void)ring, (void)role;
	ep->st = *(struct xcopy_state *)run->state;
	return 0;
}

static inline int xcopy_send(struct xcopy_ep *ep, const void *m, uint32_t size)
{
	unsigned char *s = ep->st.mem + (ep->pos & (ep->st.n - 1)) * ep->st.stride;
	struct xslot_hdr *h = (struct xslot_hdr *)(void *)s;

	/* Acquire: pairs with the consumer's release store of full = 0. */
	if (atomic_load_explicit(&h->full, memory_order_acquire))
		return 0;
	memcpy(s + sizeof(*h), m, size);
	/* Release: pairs with the consumer's acquire load of full. */
	atomic_store_explicit(&h->full, 1, memory_order_release);
	ep->pos++;
	return 1;
}

static inline int xcopy_recv(struct xcopy_ep *ep, void *m, uint32_t size)
{
	unsigned char *s = ep->st.mem + (ep->pos & (ep->st.n - 1)) * ep->st.stride;
	struct xslot_hdr *h = (struct xslot_hdr *)(void *)s;

	/* Acquire: pairs with the producer's release store of full = 1. */
	if (!atomic_load_explicit(&h->full, memory_order_acquire))
		return 0;
	memcpy(m, s + sizeof(*h), size);
	/* Release: pairs with the producer's acquire load of full. */
	atomic_store_explicit(&h->full, 0, memory_order_release);
	ep->pos++;
	return 1;
}

BENCH_LOOPS(xcopy, struct xcopy_ep, xcopy_send, xcopy_recv)

/* ---- memcpy on one core ---- */

static int memcpy_setup(struct bench_run *run)
{
	run->state = aligned_alloc(64, ((size_t)run->size * 2 + 63) & ~(size_t)63);
	if (!run->state)
		return -ENOMEM;
	memset(run->state, 1, (size_t)run->size * 2);
	return 0;
}

static void memcpy_teardown(struct bench_run *run)
{
	free(run->state);
}

static int64_t memcpy_run(struct bench_run *run)
{
	unsigned char *src = run->state, *dst = src + run->size;
	uint64_t t0 = bench_now();

	for (uint64_t i = 0; i < run->count; i++) {
		memcpy(dst, src, run->size);
		/* keep the copy: the compiler must assume dst is read */
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	return (int64_t)(bench_now() - t0);
}

static const struct bench_subject subjects[] = {
	{
		.name = "cacheline",
		.group = "floor",
		.desc = "one cache line each way, no ring: least a message can take",
		.flags = BS_RTT,
		.max_size = 8,
		.setup = line_setup,
		.teardown = line_teardown,
		.ep_size = sizeof(struct line_ep),
		.ep_open = line_ep_open,
		.producer = line_producer,
		.consumer = line_consumer,
		.client = line_client,
		.server = line_server,
	},
	{
		.name = "futex",
		.group = "floor",
		.desc = "raw FUTEX_WAIT/FUTEX_WAKE ping-pong of two processes: least a wakeup can take",
		.flags = BS_RTT | BS_BLOCK | BS_PROCS,
		.max_size = 8,
		.setup = line_setup,
		.teardown = line_teardown,
		.ep_size = sizeof(struct line_ep),
		.ep_open = line_ep_open,
		.producer = futexpp_producer,
		.consumer = futexpp_consumer,
		.client = futexpp_client,
		.server = futexpp_server,
	},
	{
		.name = "xcopy",
		.group = "floor",
		.desc = "cross-core copy: memcpy into a flagged slot, memcpy out on the other core",
		.flags = BS_TPUT | BS_SIZES,
		.max_size = 1u << 20,
		.setup = xcopy_setup,
		.teardown = xcopy_teardown,
		.ep_size = sizeof(struct xcopy_ep),
		.ep_open = xcopy_ep_open,
		.producer = xcopy_producer,
		.consumer = xcopy_consumer,
		.client = xcopy_client,
		.server = xcopy_server,
	},
	{
		.name = "memcpy",
		.group = "floor",
		.desc = "memcpy of one message on one core (cache-resident)",
		.flags = BS_TPUT | BS_SIZES | BS_CUSTOM,
		.max_size = 1u << 20,
		.setup = memcpy_setup,
		.teardown = memcpy_teardown,
		.custom = memcpy_run,
	},
};

const struct bench_subjects bench_subjects_floor = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
