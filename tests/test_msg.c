/* SPDX-License-Identifier: MIT */
/*
 * Message ring semantics in one process, for SHMRING_MSG_SPSC and
 * SHMRING_MSG_MPSC: sizes 0..max, -EMSGSIZE, wrap-around at every offset
 * of a small ring (positions seeded near 2^64), padding records, abort,
 * an exactly full ring, batched peek/release, gather, and corrupt records
 * and positions written into a live ring (-EPROTO, nothing consumed).
 */
#include <string.h>

#include "msg_common.h"

static const uint32_t types[] = { SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };
#define FOR_TYPES(t) for (unsigned ti_ = 0; ti_ < 2 && ((t) = types[ti_], 1); ti_++)

/* A producer and a consumer on one anonymous ring. */
static void pair_open(struct shmring *p, struct shmring *c, uint32_t type, uint64_t cap,
		      uint32_t max, uint64_t init_pos)
{
	struct shmring_params prm;

	shmring_params_init(&prm, type, cap, max);
	prm.init_pos = init_pos;
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create_anon(p, &prm, SHMRING_PRODUCER), 0, "create type %u cap %llu max %u: %s",
		     type, (unsigned long long)cap, max, shmring_errdetail());
	cr_assert_eq(shmring_dup(c, p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
}

static void pair_close(struct shmring *p, struct shmring *c)
{
	cr_assert_eq(shmring_close(c), 0);
	cr_assert_eq(shmring_close(p), 0);
}

static void push_ok(struct shmring *p, uint32_t len, uint64_t seq)
{
	unsigned char buf[4096];

	t_fill(buf, len, 1, seq);
	cr_assert_eq(shmring_msg_push(p, buf, len), 0, "push len %u seq %llu", len,
		     (unsigned long long)seq);
}

static void pop_ok(struct shmring *c, uint32_t len, uint64_t seq)
{
	unsigned char buf[4096];
	int n = shmring_msg_pop(c, buf, sizeof(buf));

	cr_assert_eq(n, (int)len, "pop seq %llu: got %d, expected length %u", (unsigned long long)seq,
		     n, len);
	cr_assert(t_check(buf, len, 1, seq), "payload of seq %llu", (unsigned long long)seq);
}

Test(msg, geometry)
{
	struct shmring r;
	struct shmring_params prm;
	uint32_t type;

	FOR_TYPES(type) {
		shmring_params_init(&prm, type, 32, 8);
		cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), -EINVAL, "capacity below 64");
		shmring_params_init(&prm, type, 1000, 8);
		cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), -EINVAL, "not a power of two");
		/* Largest record 8 + 64 = 72 > 128 / 2. */
		shmring_params_init(&prm, type, 128, 64);
		cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), -EINVAL, "max too big");
		shmring_params_init(&prm, type, 128, 56);
		cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
		cr_assert_eq(shmring_msg_max(&r), 56);
		shmring_close(&r);
		/* slot_size 0: the largest message is capacity / 4. */
		shmring_params_init(&prm, type, 4096, 0);
		cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
		cr_assert_eq(shmring_msg_max(&r), 1024);
		shmring_close(&r);
	}
	/* Slot rings have no such default. */
	shmring_params_init(&prm, SHMRING_SPSC, 64, 0);
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_PRODUCER), -EINVAL);
}

Test(msg, sizes_and_emsgsize)
{
	struct shmring p, c;
	uint32_t type;
	unsigned char buf[512];
	void *w;
	const void *rd;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 4096, 500, 0);
		cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), -EAGAIN);
		cr_assert_eq(shmring_msg_peek(&c, &rd), -EAGAIN);
		for (uint32_t len = 0; len <= 500; len++) {
			push_ok(&p, len, len);
			pop_ok(&c, len, len);
		}
		/* Larger than the ring's maximum: at once, nothing reserved. */
		cr_assert_eq(shmring_msg_reserve(&p, 501, &w), -EMSGSIZE);
		cr_assert_eq(shmring_msg_reserve(&p, UINT32_MAX, &w), -EMSGSIZE);
		cr_assert_eq(shmring_msg_used(&p), 0);
		/* An empty message is a message. */
		cr_assert_eq(shmring_msg_push(&p, buf, 0), 0);
		cr_assert_eq(shmring_msg_peek(&c, &rd), 0);
		shmring_msg_release(&c);
		cr_assert_eq(shmring_msg_peek(&c, &rd), -EAGAIN);
		/* A buffer too small keeps the message. */
		push_ok(&p, 100, 7);
		cr_assert_eq(shmring_msg_pop(&c, buf, 99), -EMSGSIZE);
		cr_assert_eq(shmring_msg_pop(&c, buf, 0), -EMSGSIZE);
		cr_assert_eq(shmring_msg_peek(&c, &rd), 100);
		cr_assert(t_check(rd, 100, 1, 7));
		shmring_msg_release(&c);
		cr_assert_eq(shmring_msg_used(&c), 0);
		pair_close(&p, &c);
	}
}

Test(msg, reserve_commit_state)
{
	struct shmring p, c;
	uint32_t type;
	void *w, *w2 = NULL;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 1024, 100, 0);
		cr_assert_eq(shmring_msg_commit(&p), -EINVAL, "commit with nothing reserved");
		cr_assert_eq(shmring_msg_abort(&p), -EINVAL, "abort with nothing reserved");
		cr_assert_eq(shmring_msg_reserve(&p, 10, &w), 0);
		cr_assert_eq(shmring_msg_reserve(&p, 10, &w2), -EBUSY, "second open reservation");
		t_fill(w, 10, 1, 1);
		cr_assert_eq(shmring_msg_push(&p, w, 10), -EBUSY);
		cr_assert_eq(shmring_msg_commit(&p), 0);
		cr_assert_eq(shmring_msg_commit(&p), -EINVAL);
		/* Each side's calls on the other side's handle. */
		cr_assert_eq(shmring_msg_reserve(&c, 10, &w2), -EBADF);
		cr_assert_eq(shmring_msg_commit(&c), -EBADF);
		cr_assert_eq(shmring_msg_abort(&c), -EBADF);
		cr_assert_eq(shmring_msg_push(&c, w, 1), -EBADF);
		cr_assert_eq(shmring_msg_peek(&p, (const void **)&w2), -EBADF);
		cr_assert_eq(shmring_msg_pop(&p, w2, 100), -EBADF);
		shmring_msg_release(&p);
		cr_assert_eq(shmring_msg_used(&p), 24);
		pop_ok(&c, 10, 1);
		pair_close(&p, &c);
	}
}

/* Every start offset of a 256-byte ring (positions near 2^64, so the
 * counters wrap too), every length 0..56 with two messages in flight:
 * records cross the end at every offset. */
Test(msg, wrap_every_offset)
{
	struct shmring p, c;
	uint32_t type;
	uint64_t seq = 0;

	FOR_TYPES(type) {
		for (uint64_t off = 0; off < 256; off += 8) {
			pair_open(&p, &c, type, 256, 56, UINT64_MAX - 255 + off);
			for (uint32_t len = 0; len <= 56; len++) {
				/* Two messages in flight, then drain. */
				push_ok(&p, len, seq);
				push_ok(&p, 56 - len, seq + 1);
				pop_ok(&c, len, seq);
				pop_ok(&c, 56 - len, seq + 1);
				seq += 2;
			}
			cr_assert_eq(shmring_msg_used(&c), 0);
			pair_close(&p, &c);
		}
	}
}

Test(msg, padding_records)
{
	struct shmring p, c;
	uint32_t type;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 256, 100, 0);
		push_ok(&p, 100, 1); /* [0, 112) */
		push_ok(&p, 100, 2); /* [112, 224) */
		pop_ok(&c, 100, 1);
		/* 32 bytes left at the end: a 48-byte record pads them and
		 * starts at 0. */
		push_ok(&p, 40, 3);
		cr_assert_eq(shmring_msg_used(&p), 112 + 32 + 48);
		cr_assert_eq(*(uint64_t *)(void *)(p.data + 224) >> 32 & 0xff, SHMRING_MSG_T_PAD);
		pop_ok(&c, 100, 2);
		pop_ok(&c, 40, 3);
		cr_assert_eq(shmring_msg_used(&c), 0);
		cr_assert_eq(shmring_msg_pop(&c, p.data, 0), -EAGAIN);
		pair_close(&p, &c);
	}
}

Test(msg, abort)
{
	struct shmring p, c;
	uint32_t type;
	void *w;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 256, 100, 0);
		cr_assert_eq(shmring_msg_reserve(&p, 50, &w), 0);
		memset(w, 0xee, 50);
		cr_assert_eq(shmring_msg_abort(&p), 0);
		push_ok(&p, 20, 1);  /* [0, 32) */
		push_ok(&p, 100, 2); /* [32, 144) */
		cr_assert_eq(shmring_msg_reserve(&p, 100, &w), -EAGAIN, "type %u", type);
		cr_assert_eq(shmring_msg_abort(&p), -EINVAL, "nothing reserved");
		pop_ok(&c, 20, 1);
		pop_ok(&c, 100, 2);
		push_ok(&p, 40, 3); /* [144, 192) */
		/* An abort across the end of the ring: 64 bytes of padding,
		 * then the record at 0. */
		cr_assert_eq(shmring_msg_reserve(&p, 100, &w), 0);
		cr_assert_eq((unsigned char *)w, p.data + 8);
		memset(w, 0xee, 100);
		cr_assert_eq(shmring_msg_abort(&p), 0);
		push_ok(&p, 30, 4);
		pop_ok(&c, 40, 3);
		pop_ok(&c, 30, 4);
		cr_assert_eq(shmring_msg_pop(&c, p.data, 0), -EAGAIN);
		pair_close(&p, &c);
	}
}

Test(msg, exactly_full)
{
	struct shmring p, c;
	uint32_t type;
	void *w;

	FOR_TYPES(type) {
		/*
		 * Fill with 24-byte messages (32 bytes each), then with empty
		 * ones (8 bytes each) until nothing fits: MPSC records then
		 * fill all 256 bytes; SPSC records 248 (the header word after
		 * the last record is kept clear, msg.h). Popping one 32-byte
		 * record makes room for exactly four empty ones.
		 */
		uint64_t full = type == SHMRING_MSG_SPSC ? 248 : 256;

		pair_open(&p, &c, type, 256, 64, 0);
		for (uint64_t round = 0; round < 3; round++) {
			uint64_t seq = round * 100, n24 = 0, n0 = 0;

			for (;;) {
				unsigned char buf[24];

				t_fill(buf, 24, 1, seq + n24);
				int r = shmring_msg_push(&p, buf, 24);

				if (r == -EAGAIN)
					break;
				cr_assert_eq(r, 0);
				n24++;
			}
			while (shmring_msg_push(&p, &p, 0) == 0)
				n0++;
			cr_assert_eq(shmring_msg_used(&p), full, "type %u round %llu: used %llu", type,
				     (unsigned long long)round, (unsigned long long)shmring_msg_used(&p));
			cr_assert_eq(shmring_msg_reserve(&p, 0, &w), -EAGAIN, "full ring, round %llu",
				     (unsigned long long)round);
			cr_assert_geq(n24, 6);
			pop_ok(&c, 24, seq);
			for (int k = 0; k < 4; k++)
				cr_assert_eq(shmring_msg_push(&p, &p, 0), 0, "room for 4, round %llu",
					     (unsigned long long)round);
			cr_assert_eq(shmring_msg_push(&p, &p, 0), -EAGAIN);
			for (uint64_t i = 1; i < n24; i++)
				pop_ok(&c, 24, seq + i);
			for (uint64_t i = 0; i < n0 + 4; i++)
				cr_assert_eq(shmring_msg_pop(&c, &c, 0), 0);
			cr_assert_eq(shmring_msg_pop(&c, &c, 0), -EAGAIN);
		}
		if (type == SHMRING_MSG_SPSC)
			cr_assert_eq(shmring_atomic_load(&p.ctrl->prod_stats.high_water, SHMRING_RELAXED), 248);
		cr_assert_gt(shmring_atomic_load(&p.ctrl->prod_stats.blocked, SHMRING_RELAXED), 0);
		pair_close(&p, &c);
	}
}

/*
 * SPSC: a producer that dies between publishing a record (its header) and
 * storing prod.pos leaves prod.pos behind what the consumer may already
 * have read. The next producer follows the published headers to the real
 * head: nothing is overwritten, delivered twice or refused.
 */
Test(msg, spsc_takeover_after_lagging_head)
{
	struct shmring p, c, o;

	for (uint32_t pad = 0; pad < 2; pad++) {
		pair_open(&p, &c, SHMRING_MSG_SPSC, 256, 100, 0);
		push_ok(&p, 100, 0); /* [0, 112) */
		pop_ok(&c, 100, 0);
		if (pad) {
			push_ok(&p, 100, 1); /* [112, 224) */
			pop_ok(&c, 100, 1);
		}
		uint64_t before = shmring_atomic_load(&p.ctrl->prod.pos, SHMRING_RELAXED);

		/* [224, 256) padding + [256, 368), or [112, 224) */
		push_ok(&p, pad ? 100 : 60, 2);
		/* The store of prod.pos that never happened. */
		shmring_atomic_store(&p.ctrl->prod.pos, before, SHMRING_RELAXED);
		pop_ok(&c, pad ? 100 : 60, 2);
		cr_assert_eq(shmring_close(&p), 0);
		cr_assert_eq(shmring_dup(&o, &c, SHMRING_ROLE_NONE), 0, "observer: %s", shmring_errdetail());
		cr_assert_eq(shmring_close(&o), 0);
		cr_assert_eq(shmring_dup(&p, &c, SHMRING_PRODUCER), 0, "new producer: %s", shmring_errdetail());
		push_ok(&p, 50, 3);
		pop_ok(&c, 50, 3);
		cr_assert_eq(shmring_msg_pop(&c, &c, 0), -EAGAIN);
		pair_close(&p, &c);
	}
}

Test(msg, batched_peek_release)
{
	struct shmring p, c;
	uint32_t type;
	const void *rd[7];
	void *w;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 512, 100, 0);
		for (uint64_t i = 0; i < 7; i++)
			push_ok(&p, 56, i); /* 64 bytes each */
		for (uint64_t i = 0; i < 7; i++) {
			cr_assert_eq(shmring_msg_peek(&c, &rd[i]), 56);
			cr_assert(t_check(rd[i], 56, 1, i));
		}
		cr_assert_eq(shmring_msg_peek(&c, &rd[0]), -EAGAIN);
		/* Nothing released yet: 64 bytes free. */
		cr_assert_eq(shmring_msg_reserve(&p, 100, &w), -EAGAIN);
		for (uint64_t i = 0; i < 7; i++)
			cr_assert(t_check(rd[i], 56, 1, i), "still intact before release");
		shmring_msg_release(&c);
		cr_assert_eq(shmring_msg_used(&p), 0);
		cr_assert_eq(shmring_msg_reserve(&p, 100, &w), 0);
		cr_assert_eq(shmring_msg_commit(&p), 0);
		/* pop releases what was peeked before it too. */
		push_ok(&p, 10, 9);
		cr_assert_eq(shmring_msg_peek(&c, &rd[0]), 100);
		pop_ok(&c, 10, 9);
		cr_assert_eq(shmring_msg_used(&c), 0);
		pair_close(&p, &c);
	}
}

Test(msg, pushv_gather)
{
	struct shmring p, c;
	uint32_t type;
	unsigned char src[300], out[300];
	struct iovec iov[4];

	t_fill(src, 300, 5, 5);
	FOR_TYPES(type) {
		pair_open(&p, &c, type, 2048, 300, 0);
		iov[0] = (struct iovec){ src, 7 };
		iov[1] = (struct iovec){ src + 7, 0 };
		iov[2] = (struct iovec){ src + 7, 200 };
		iov[3] = (struct iovec){ src + 207, 93 };
		cr_assert_eq(shmring_msg_pushv(&p, iov, 4), 0);
		cr_assert_eq(shmring_msg_pushv(&p, iov, 0), 0, "no buffers: an empty message");
		iov[3].iov_len = 94;
		cr_assert_eq(shmring_msg_pushv(&p, iov, 4), -EMSGSIZE);
		cr_assert_eq(shmring_msg_pop(&c, out, sizeof(out)), 300);
		cr_assert_eq(memcmp(out, src, 300), 0);
		cr_assert_eq(shmring_msg_pop(&c, out, sizeof(out)), 0);
		cr_assert_eq(shmring_msg_pop(&c, out, sizeof(out)), -EAGAIN);
		pair_close(&p, &c);
	}
}

/* Handles of different processes agree (named ring, open by type). */
Test(msg, open_named, .timeout = 20)
{
	struct shmring p, c;
	const char *name = t_name("msg-open");
	struct shmring_open_opts o = { 0 };
	pid_t pid;

	t_msg_ring(&p, &c, name, SHMRING_MSG_SPSC, 4096, 1000, 0);
	shmring_close(&c);
	o.type = SHMRING_MSG_MPSC;
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, &o), -EPROTO, "type mismatch");
	pid = t_fork();
	if (pid == 0) {
		struct shmring cc;
		unsigned char buf[1000];

		if (shmring_open(&cc, name, SHMRING_CONSUMER, NULL))
			_exit(1);
		for (uint64_t i = 0; i < 1000; i++) {
			int n;

			while ((n = shmring_msg_pop(&cc, buf, sizeof(buf))) == -EAGAIN)
				;
			if (n != (int)t_len(3, i, 1000) || !t_check(buf, (uint32_t)n, 3, i))
				_exit(2);
		}
		_exit(0);
	}
	for (uint64_t i = 0; i < 1000; i++) {
		unsigned char buf[1000];
		uint32_t len = t_len(3, i, 1000);

		t_fill(buf, len, 3, i);
		while (shmring_msg_push(&p, buf, len) == -EAGAIN)
			;
	}
	t_wait_ok(pid, "consumer");
	shmring_close(&p);
	shmring_unlink(name);
}

/* ---- corrupt records and positions ---------------------------------------- */

static SHMRING_ATOMIC(uint64_t) *hdr_at(struct shmring *r, uint64_t pos)
{
	return shmring_msg__hdr(r, pos);
}

/* Every kind of bad header at the consumer's read position gives -EPROTO
 * and consumes nothing; the good header put back reads fine. */
Test(msg, corrupt_records)
{
	struct shmring p, c;
	uint32_t type;
	const void *rd;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 1024, 200, 0);
		push_ok(&p, 8, 1);    /* [0, 16) */
		push_ok(&p, 100, 2);  /* [16, 128) */
		uint64_t good = shmring_atomic_load(hdr_at(&c, 0), SHMRING_RELAXED);
		uint64_t bad[] = {
			shmring_msg__word(201, SHMRING_MSG_T_DATA, 0),    /* longer than max */
			shmring_msg__word(4000, SHMRING_MSG_T_PAD, 0),    /* padding past the ring */
			shmring_msg__word(UINT32_MAX, SHMRING_MSG_T_DATA, 0),
			shmring_msg__word(8, 7, 0),                      /* no such type */
			shmring_msg__word(8, SHMRING_MSG_T_DATA, 8),     /* tag of another position */
			shmring_msg__word(200, SHMRING_MSG_T_DATA, 0),   /* SPSC: chain runs past the producer */
			shmring_msg__word(0, 0, 0) | (1ull << 40),        /* type 0 */
		};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (i == 5 && type == SHMRING_MSG_SPSC)
				continue; /* see below */
			if (i == 5) /* MPSC: ends past the claim (see below) */
				bad[i] = shmring_msg__word(200, SHMRING_MSG_T_PAD, 0);
			shmring_atomic_store(hdr_at(&p, 0), bad[i], SHMRING_RELAXED);
			cr_assert_eq(shmring_msg_peek(&c, &rd), -EPROTO, "type %u bad header %u", type, i);
			cr_assert_eq(shmring_msg_pop(&c, p.data, 0), -EPROTO);
			cr_assert_eq(shmring_msg_used(&c), 128, "type %u bad header %u: used %llu", type, i,
				     (unsigned long long)shmring_msg_used(&c));
		}
		shmring_atomic_store(hdr_at(&p, 0), good, SHMRING_RELAXED);
		pop_ok(&c, 8, 1);
		good = shmring_atomic_load(hdr_at(&c, 16), SHMRING_RELAXED);
		if (type == SHMRING_MSG_SPSC) {
			/* The SPSC consumer does not read the producer's position
			 * (msg.h): a well-formed header whose length runs past the
			 * records written is delivered, and stays inside the ring. */
			shmring_atomic_store(hdr_at(&p, 16), shmring_msg__word(200, SHMRING_MSG_T_DATA, 16),
					     SHMRING_RELAXED);
			cr_assert_eq(shmring_msg_peek(&c, &rd), 200);
			cr_assert_eq((const unsigned char *)rd, c.data + 24);
			pair_close(&p, &c);
			continue;
		}
		/* Second record claims to end past the producers' claim. As
		 * padding, which is skipped unseen, it is refused at once. */
		shmring_atomic_store(hdr_at(&p, 16), shmring_msg__word(200, SHMRING_MSG_T_PAD, 16),
				     SHMRING_RELAXED);
		cr_assert_eq(shmring_msg_peek(&c, &rd), -EPROTO, "type %u: record past the head", type);
		shmring_atomic_store(hdr_at(&p, 16), good, SHMRING_RELAXED);
		pop_ok(&c, 100, 2);
		cr_assert_gt(shmring_atomic_load(&c.ctrl->cons_stats.corrupt, SHMRING_RELAXED), 0);
		/* As a message it is delivered, inside the ring, as SPSC does
		 * (msg.h, M6); the consumer's next read of the claim, within
		 * SHMRING_MSG_CLAIM_POLL polls, finds its position past it. */
		push_ok(&p, 8, 3); /* [128, 144) */
		shmring_atomic_store(hdr_at(&p, 128), shmring_msg__word(200, SHMRING_MSG_T_DATA, 128),
				     SHMRING_RELAXED);
		cr_assert_eq(shmring_msg_peek(&c, &rd), 200);
		cr_assert_eq((const unsigned char *)rd, c.data + 136);
		cr_assert_eq(shmring_msg_release(&c), 0);
		uint64_t corrupt = shmring_atomic_load(&c.ctrl->cons_stats.corrupt, SHMRING_RELAXED);
		int ret = -EAGAIN;
		for (unsigned i = 0; i < SHMRING_MSG_CLAIM_POLL && ret == -EAGAIN; i++)
			ret = shmring_msg_peek(&c, &rd);
		cr_assert_eq(ret, -EPROTO, "type %u: position past the claim: %d", type, ret);
		cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_stats.corrupt, SHMRING_RELAXED), corrupt + 1);
		cr_assert_eq(shmring_msg_peek(&c, &rd), -EPROTO, "the next poll reads the claim again");
		pair_close(&p, &c);
	}
}

/* Positions written by a hostile peer: both sides refuse, nothing is read
 * or written out of bounds, and the right values put back work again. */
Test(msg, corrupt_positions)
{
	struct shmring p, c;
	uint32_t type;
	const void *rd;
	void *w;

	FOR_TYPES(type) {
		SHMRING_ATOMIC(uint64_t) *head;
		uint64_t vals[] = { 5000, UINT64_MAX - 1023, 1ull << 63, 3 };

		pair_open(&p, &c, type, 1024, 200, 0);
		head = type == SHMRING_MSG_MPSC ? &p.ctrl->prod.claim : &p.ctrl->prod.pos;
		for (unsigned i = 0; i < 4; i++) {
			struct shmring o;

			/* Consumer's view of the producer. SPSC: the consumer
			 * reads the header words, not the position (nothing is
			 * published); a new handle refuses the pair. */
			shmring_atomic_store(head, vals[i], SHMRING_RELAXED);
			cr_assert_eq(shmring_msg_peek(&c, &rd), type == SHMRING_MSG_MPSC ? -EPROTO : -EAGAIN,
				     "type %u head %llu", type, (unsigned long long)vals[i]);
			cr_assert_eq(shmring_dup(&o, &c, SHMRING_ROLE_NONE), -EPROTO);
			shmring_atomic_store(head, 0, SHMRING_RELAXED);
		}
		/* Producer's view of the consumer: fill the ring so that the
		 * next reserve must read the consumer's position. */
		for (uint64_t i = 0; i < 4; i++)
			push_ok(&p, 200, i); /* 4 x 208 of 1024 */
		for (unsigned i = 0; i < 4; i++) {
			shmring_atomic_store(&p.ctrl->cons.pos, vals[i], SHMRING_RELAXED);
			cr_assert_eq(shmring_msg_reserve(&p, 200, &w), -EPROTO, "type %u tail %llu", type,
				     (unsigned long long)vals[i]);
			shmring_atomic_store(&p.ctrl->cons.pos, 0, SHMRING_RELAXED);
		}
		cr_assert_eq(shmring_msg_reserve(&p, 200, &w), -EAGAIN);
		for (uint64_t i = 0; i < 4; i++)
			pop_ok(&c, 200, i);
		push_ok(&p, 8, 1);
		pop_ok(&c, 8, 1);
		if (type == SHMRING_MSG_MPSC) {
			/* A claim that is not 8-byte aligned. */
			uint64_t cl = shmring_atomic_load(&p.ctrl->prod.claim, SHMRING_RELAXED);

			shmring_atomic_store(&p.ctrl->prod.claim, cl + 4, SHMRING_RELAXED);
			cr_assert_eq(shmring_msg_reserve(&p, 8, &w), -EPROTO);
			cr_assert_eq(shmring_msg_peek(&c, &rd), -EPROTO);
			shmring_atomic_store(&p.ctrl->prod.claim, cl, SHMRING_RELAXED);
			push_ok(&p, 8, 2);
			pop_ok(&c, 8, 2);
		}
		pair_close(&p, &c);
	}
}

/* A peer scribbles random words over the whole data area and the
 * positions while the consumer reads: only 0/-EAGAIN/-EPROTO and lengths
 * within bounds come back (ASan checks the reads). */
Test(msg, random_scribble)
{
	struct shmring p, c;
	uint32_t type;
	uint64_t x = 12345;

	FOR_TYPES(type) {
		pair_open(&p, &c, type, 256, 64, 0);
		for (int round = 0; round < 20000; round++) {
			const void *rd = NULL;
			void *w = NULL;
			x = t_mix(x);
			uint64_t *words = (uint64_t *)(void *)p.data;

			words[x % 32] = (round & 1) ? t_mix(x) : (t_mix(x) & 0xffffff00000001ffull);
			if (round % 97 == 0)
				shmring_atomic_store(&c.ctrl->prod.pos, t_mix(x + 1) % 512, SHMRING_RELAXED);
			if (round % 89 == 0)
				shmring_atomic_store(&c.ctrl->prod.claim, t_mix(x + 2) % 512, SHMRING_RELAXED);
			int n = shmring_msg_peek(&c, &rd);

			cr_assert(n == -EAGAIN || n == -EPROTO || (n >= 0 && n <= 64), "peek gave %d", n);
			if (n >= 0) {
				cr_assert((const unsigned char *)rd >= c.data &&
					  (const unsigned char *)rd + n <= c.data + 256);
				volatile unsigned char sink = 0;
				for (int i = 0; i < n; i++)
					sink ^= ((const unsigned char *)rd)[i];
				(void)sink;
			}
			if (round % 5 == 0)
				shmring_msg_release(&c);
			int r = shmring_msg_reserve(&p, (uint32_t)(x % 65), &w);

			cr_assert(r == 0 || r == -EAGAIN || r == -EPROTO, "reserve gave %d", r);
			if (r == 0) {
				cr_assert((unsigned char *)w >= p.data && (unsigned char *)w + x % 65 <= p.data + 256);
				shmring_msg_commit(&p);
			}
		}
		pair_close(&p, &c);
	}
}
