/* SPDX-License-Identifier: MIT */
/*
 * msg_fuzz: a live message ring whose shared state a hostile peer
 * rewrites between the operations of its legitimate producer and consumer.
 *
 * Each input builds a valid message ring (MSG_SPSC or MSG_MPSC; capacity
 * and largest message from the first bytes), attaches a producer and a
 * consumer (handles are process-local and stay honest), then runs the rest
 * of the input as a program of operations: rewrite a shared word (control
 * positions and claims, endpoint fields, data-area words), forge a record
 * header (length, type, tag chosen by the input), and drive the ring:
 * reserve (then commit or abort), push, pushv, peek/release, pop, the
 * *_wait forms with a deadline already past, recovery, re-attaching fresh
 * handles, and shmring-dump's reader (snapshot, --check, the message walk,
 * both report writers).
 *
 * Every result must be a documented return code or valid data: a payload
 * pointer from peek or reserve must lie inside the data area with its
 * whole length, and it is copied to or from a heap buffer of exactly that
 * length (ASan bounds the other side). The mapping itself is not heap
 * memory, hence the explicit bounds checks.
 *
 * Built as a libFuzzer target with clang (-Dfuzz=enabled) and, in every
 * build, as a replay program (msg_replay.c) run as a unit test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <shmring/layout.h>
#include <shmring/msg.h>
#include <shmring/shmring.h>
#include <shmring/wait.h>

#include "dump.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void msg_fuzz_stats(FILE *f);

/* Outcome counts per operation, so a replay shows what it exercised. */
enum { O_RESERVE, O_PUSH, O_PEEK, O_POP, O_WAIT, O_RECOVER, O_ATTACH, O_DUMP, O_N };
static const char *const op_names[O_N] = { "reserve", "push", "peek", "pop", "wait", "recover",
					   "attach", "dump" };
static unsigned long outcomes[O_N][4]; /* ok, -EAGAIN/-ETIMEDOUT, -EPROTO, other error */

static void count(int op, long ret)
{
	outcomes[op][ret >= 0 ? 0 : ret == -EAGAIN || ret == -ETIMEDOUT ? 1 : ret == -EPROTO ? 2 : 3]++;
}

void msg_fuzz_stats(FILE *f)
{
	for (int i = 0; i < O_N; i++)
		fprintf(f, "  %-8s ok %lu, again/timeout %lu, eproto %lu, other %lu\n", op_names[i],
			outcomes[i][0], outcomes[i][1], outcomes[i][2], outcomes[i][3]);
}

static void fail(const char *what, long ret)
{
	fprintf(stderr, "msg_fuzz: %s returned %ld (%s): %s\n", what, ret,
		ret < 0 && ret > -4096 ? shmring_strerror((int)ret) : "-", shmring_errdetail());
	abort();
}

/* Input reader: runs out into zeros. */
struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

static uint32_t u16(struct in *in)
{
	return (uint32_t)u8(in) | (uint32_t)u8(in) << 8;
}

struct ctx {
	struct shmring r;    /* creator's handle (no role): the hostile peer writes through it */
	struct shmring p, c; /* the legitimate producer and consumer */
	int have_p, have_c;
	uint8_t *heap;       /* scratch for copies, exactly as long as each copy */
};

/* A value for a shared word: a boundary, something near a live position,
 * or raw input bytes. */
static uint64_t pick_value(struct ctx *x, struct in *in)
{
	uint64_t cap = x->r.capacity;
	uint64_t near = shmring_atomic_load(&x->r.ctrl->cons.pos, SHMRING_RELAXED);
	uint8_t sel = u8(in);

	switch (sel % 12) {
	case 0: return 0;
	case 1: return 1;
	case 2: return 7;
	case 3: return cap;
	case 4: return cap + 8;
	case 5: return cap - 8;
	case 6: return UINT64_MAX;
	case 7: return 1ull << 63;
	case 8: return near + 8 * (uint64_t)(int8_t)u8(in);
	case 9: return shmring_atomic_load(&x->r.ctrl->prod.claim, SHMRING_RELAXED) + 8 * (uint64_t)(int8_t)u8(in);
	case 10: return (uint64_t)u16(in) << 32 | u16(in);
	default: return u64(in);
	}
}

static SHMRING_ATOMIC(uint64_t) *word_at(struct ctx *x, size_t off)
{
	return (SHMRING_ATOMIC(uint64_t) *)(void *)((unsigned char *)x->r.map + (off & ~(size_t)7));
}

/* The hostile peer: rewrite one 8-byte word of the shared state. */
static void scribble(struct ctx *x, struct in *in)
{
	uint8_t where = u8(in);
	uint32_t k = u16(in);
	size_t off;

	switch (where % 4) {
	case 0: /* the producer and consumer blocks: positions, claims */
		off = SHMRING_CTRL_OFF + (k % 32) * 8;
		break;
	case 1: /* the whole control area, wait blocks and stats included */
		off = SHMRING_CTRL_OFF + (k % (SHMRING_CTRL_SIZE / 8)) * 8;
		break;
	case 2: /* endpoint entries 0..3: state/role, pid/tid, claims */
		off = SHMRING_EP_OFF + (k % 4) * SHMRING_EP_SIZE + (k / 4 % 8) * 8;
		break;
	default: /* the data area */
		off = (size_t)(x->r.data - (unsigned char *)x->r.map) + (k % (x->r.capacity / 8)) * 8;
		break;
	}
	shmring_atomic_store(word_at(x, off), pick_value(x, in), SHMRING_RELAXED);
}

/* Forge a record header somewhere in the data area. */
static void forge_header(struct ctx *x, struct in *in)
{
	uint64_t cons = shmring_atomic_load(&x->r.ctrl->cons.pos, SHMRING_RELAXED);
	uint64_t pos = cons + 8 * (uint64_t)(u8(in) % 64);
	uint32_t len = u8(in) % 4 == 0 ? (uint32_t)u64(in) : u16(in) % (x->r.slot_size + 64);
	uint8_t t = u8(in);
	uint32_t type = t % 4 == 0 ? SHMRING_MSG_T_PAD : t % 4 == 1 ? (uint32_t)(t >> 2) : SHMRING_MSG_T_DATA;
	uint64_t tagpos = u8(in) % 8 == 0 ? pos + 8 * (uint64_t)u8(in) : pos;

	shmring_atomic_store(shmring_msg__hdr(&x->r, pos), shmring_msg__word(len, type, tagpos),
			     SHMRING_RELAXED);
}

static void in_data(struct ctx *x, const struct shmring *h, const void *p, uint64_t len, const char *what)
{
	const unsigned char *b = p;

	if (b < h->data || b > h->data + h->capacity || len > (uint64_t)(h->data + h->capacity - b))
		fail(what, (long)len); /* a span outside the data area */
	(void)x;
}

static int reserve_ok(int ret)
{
	return ret == 0 || ret == -EAGAIN || ret == -EMSGSIZE || ret == -EBUSY || ret == -EPROTO;
}

static int consume_ok(int ret, int emsgsize)
{
	return ret >= 0 || ret == -EAGAIN || ret == -EPROTO || (emsgsize && ret == -EMSGSIZE);
}

static void produce(struct ctx *x, struct in *in, uint8_t op)
{
	uint32_t len = u8(in) % 8 == 0 ? (uint32_t)u16(in) : u16(in) % (x->p.slot_size + 1);
	void *buf;
	int ret;

	if (!x->have_p)
		return;
	switch (op % 4) {
	case 0: /* reserve, write in place, commit or abort */
		ret = shmring_msg_reserve(&x->p, len, &buf);
		count(O_RESERVE, ret);
		if (!reserve_ok(ret))
			fail("msg_reserve", ret);
		if (ret == 0) {
			in_data(x, &x->p, buf, len, "msg_reserve span");
			memset(x->heap, 0x3c, len);
			memcpy(buf, x->heap, len);
			ret = u8(in) & 1 ? shmring_msg_abort(&x->p) : shmring_msg_commit(&x->p);
			if (ret != 0)
				fail("msg_commit/abort", ret);
		}
		break;
	case 1:
		memset(x->heap, 0x7e, len);
		ret = shmring_msg_push(&x->p, x->heap, len);
		count(O_PUSH, ret);
		if (!reserve_ok(ret) || ret == -EBUSY)
			fail("msg_push", ret);
		break;
	case 2: {
		struct iovec iov[3];
		uint32_t a = len / 3, b = len / 3;

		iov[0].iov_base = x->heap;
		iov[0].iov_len = a;
		iov[1].iov_base = x->heap + a;
		iov[1].iov_len = b;
		iov[2].iov_base = x->heap + a + b;
		iov[2].iov_len = len - a - b;
		ret = shmring_msg_pushv(&x->p, iov, 3);
		count(O_PUSH, ret);
		if (!reserve_ok(ret) || ret == -EBUSY)
			fail("msg_pushv", ret);
		break;
	}
	default: {
		struct timespec past = { 0, 0 }; /* CLOCK_MONOTONIC 0: long past */

		memset(x->heap, 0x11, len);
		ret = shmring_msg_push_wait(&x->p, x->heap, len, &past);
		count(O_WAIT, ret);
		if (ret != 0 && ret != -ETIMEDOUT && ret != -EPIPE && ret != -EMSGSIZE && ret != -EPROTO)
			fail("msg_push_wait", ret);
		(void)shmring_msg_wake(&x->p);
		break;
	}
	}
}

static void consume(struct ctx *x, struct in *in, uint8_t op)
{
	const void *p;
	int ret;

	if (!x->have_c)
		return;
	switch (op % 4) {
	case 0: { /* a batch of peeks, then one release */
		unsigned n = 1 + u8(in) % 4;

		for (unsigned i = 0; i < n; i++) {
			ret = shmring_msg_peek(&x->c, &p);
			count(O_PEEK, ret);
			if (!consume_ok(ret, 0))
				fail("msg_peek", ret);
			if (ret < 0)
				break;
			in_data(x, &x->c, p, (uint64_t)ret, "msg_peek span");
			memcpy(x->heap, p, (size_t)ret);
		}
		shmring_msg_release(&x->c);
		break;
	}
	case 1: {
		uint32_t cap = u8(in) % 4 == 0 ? u8(in) : x->c.slot_size;

		ret = shmring_msg_pop(&x->c, x->heap, cap);
		count(O_POP, ret);
		if (!consume_ok(ret, 1) || ret > (int)cap)
			fail("msg_pop", ret);
		break;
	}
	case 2: {
		struct timespec past = { 0, 0 };

		ret = shmring_msg_pop_wait(&x->c, x->heap, x->c.slot_size, &past);
		count(O_WAIT, ret);
		if (!(ret >= 0 || ret == -ETIMEDOUT || ret == -EPIPE || ret == -EPROTO))
			fail("msg_pop_wait", ret);
		(void)shmring_msg_wake(&x->c);
		break;
	}
	default:
		ret = shmring_recover(&x->c);
		count(O_RECOVER, ret);
		if (ret < 0 && ret != -EPROTO && ret != -EBUSY)
			fail("recover", ret);
		(void)shmring_msg_used(&x->c);
		break;
	}
}

/* Fresh handles on the hostile state: attach validates it. */
static void reattach(struct ctx *x, struct in *in)
{
	struct shmring_open_opts o;
	int ret;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = 1;
	o.mode = 0777;
	if (u8(in) & 1) {
		if (x->have_c && shmring_close(&x->c) != 0)
			fail("close consumer", -1);
		x->have_c = 0;
		ret = shmring_open_fd(&x->c, shmring_fd(&x->r), SHMRING_CONSUMER, &o);
		count(O_ATTACH, ret);
		if (ret == 0)
			x->have_c = 1;
		else if (ret != -EPROTO && ret != -EBUSY)
			fail("open consumer", ret);
	} else {
		if (x->have_p && shmring_close(&x->p) != 0)
			fail("close producer", -1);
		x->have_p = 0;
		ret = shmring_open_fd(&x->p, shmring_fd(&x->r), SHMRING_PRODUCER, &o);
		count(O_ATTACH, ret);
		if (ret == 0)
			x->have_p = 1;
		else if (ret != -EPROTO && ret != -EBUSY && ret != -ENOSPC)
			fail("open producer", ret);
	}
}

/* shmring-dump's reader on the same object, as the tool runs it. */
static void dump(struct ctx *x)
{
	int ret = fuzz_dump_fd(dup(shmring_fd(&x->r)), "/msg-fuzz", 16);

	if (ret <= 0)
		count(O_DUMP, ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct shmring_params prm;
	struct ctx *x = calloc(1, sizeof(*x));
	uint8_t cfg = u8(&in);
	int ret;

	if (!x)
		return 0;
	shmring_params_init(&prm, cfg & 1 ? SHMRING_MSG_MPSC : SHMRING_MSG_SPSC, 64ull << ((cfg >> 1) % 7),
			     8u + 8u * (uint32_t)((cfg >> 4) % 4));
	prm.max_endpoints = 4;
	/* The largest message: up to capacity / 2 - 8 (geometry's bound). */
	if (prm.slot_size > prm.capacity / 2 - 8)
		prm.slot_size = (uint32_t)(prm.capacity / 2 - 8);
	ret = shmring_create_anon(&x->r, &prm, SHMRING_ROLE_NONE);
	if (ret == -ENOMEM || ret == -EMFILE || ret == -ENFILE || ret == -ENOSPC)
		goto out; /* the machine, not the library */
	if (ret < 0)
		fail("create_anon", ret);
	x->heap = malloc(65536 + 16);
	if (!x->heap)
		goto close_r;
	if (shmring_open_fd(&x->p, shmring_fd(&x->r), SHMRING_PRODUCER, NULL) == 0)
		x->have_p = 1;
	if (shmring_open_fd(&x->c, shmring_fd(&x->r), SHMRING_CONSUMER, NULL) == 0)
		x->have_c = 1;
	if (!x->have_p || !x->have_c)
		fail("attach to a new ring", -1);
	/* Some honest traffic first, so positions and records are live. */
	for (unsigned i = 0; i < (cfg >> 6) * 3u; i++) {
		memset(x->heap, (int)i, 8);
		(void)shmring_msg_push(&x->p, x->heap, 8 + i % 8);
	}
	for (unsigned steps = 0; in.n && steps < 256; steps++) {
		uint8_t op = u8(&in);

		switch (op % 8) {
		case 0:
		case 1:
			scribble(x, &in);
			break;
		case 2:
			forge_header(x, &in);
			break;
		case 3:
		case 4:
			produce(x, &in, op >> 3);
			break;
		case 5:
		case 6:
			consume(x, &in, op >> 3);
			break;
		default:
			if (op & 8)
				dump(x);
			else
				reattach(x, &in);
			break;
		}
	}
	dump(x);
	if (x->have_p && shmring_close(&x->p) != 0)
		fail("close producer", -1);
	if (x->have_c && shmring_close(&x->c) != 0)
		fail("close consumer", -1);
	free(x->heap);
close_r:
	if (shmring_close(&x->r) != 0)
		fail("close", -1);
out:
	free(x);
	return 0;
}
