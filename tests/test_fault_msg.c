/* SPDX-License-Identifier: MIT */
/*
 * Message rings under faults, across processes: a peek batch that covers
 * an exactly full ring; padding (aborted reservations, reservations a
 * close left open, records of killed producers) with no message after
 * it; producers killed at random while others push and abort; the
 * producers' high-water mark; and what a producer or a consumer holds
 * when it closes.
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <shmring/wait.h>

#include "msg_common.h"

static const uint32_t types[] = { SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };

/* A ring attached as neither side (children dup the roles they play),
 * plus the consumer handle. */
static void ring_open(struct shmring *r, struct shmring *c, uint32_t type, uint64_t cap,
		      uint32_t max, uint64_t init_pos, uint32_t endpoints)
{
	struct shmring_params prm;

	shmring_params_init(&prm, type, cap, max);
	prm.init_pos = init_pos;
	prm.flags = SHMRING_F_COUNTERS;
	prm.max_endpoints = endpoints;
	cr_assert_eq(shmring_create_anon(r, &prm, SHMRING_ROLE_NONE), 0, "create: %s",
		     shmring_errdetail());
	cr_assert_eq(shmring_dup(c, r, SHMRING_CONSUMER), 0, "consumer: %s", shmring_errdetail());
}

static uint64_t stat_of(SHMRING_ATOMIC(uint64_t) *v)
{
	return shmring_atomic_load(v, SHMRING_RELAXED);
}

/* A deadline `ms` milliseconds from now. */
static struct timespec after_ms(uint64_t ms)
{
	struct timespec ts;

	shmring_deadline_after(&ts, ms * 1000000ull);
	return ts;
}

/*
 * Child producer: fill the ring exactly (24-byte messages, stream 7 from
 * seq, then empty ones until nothing fits); exits with the number of
 * 24-byte messages.
 */
static int child_fill(struct shmring *r, uint64_t seq)
{
	struct shmring q;
	unsigned char buf[24];
	int n24 = 0, ret;

	if (shmring_dup(&q, r, SHMRING_PRODUCER))
		return 200;
	for (;;) {
		t_fill(buf, 24, 7, seq + (uint64_t)n24);
		ret = shmring_msg_push(&q, buf, 24);
		if (ret == -EAGAIN)
			break;
		if (ret)
			return 201;
		n24++;
	}
	while ((ret = shmring_msg_push(&q, buf, 0)) == 0)
		;
	if (ret != -EAGAIN)
		return 202;
	shmring_close(&q);
	return n24;
}

/*
 * A peek batch that covers an exactly full ring, then one peek more: the
 * next record not yet released is the first of the batch, one lap back;
 * it is not "the next record". -EAGAIN (peek_wait: -ETIMEDOUT), nothing
 * counted as corrupt. Both ring types, positions seeded at 0 and just
 * below 2^64, three laps each so the batch starts at different offsets.
 */
Test(fault_msg, peek_batch_covers_full_ring, .timeout = 60)
{
	const uint64_t seeds[] = { 0, (uint64_t)0 - 200 };

	for (unsigned ti = 0; ti < 2; ti++)
		for (unsigned si = 0; si < 2; si++) {
			struct shmring r, c;
			uint32_t type = types[ti];
			uint64_t full = type == SHMRING_MSG_SPSC ? 248 : 256;

			ring_open(&r, &c, type, 256, 64, seeds[si], 0);
			for (uint64_t lap = 0; lap < 3; lap++) {
				uint64_t seq = lap * 100;
				const void *m;
				int st, n24, n;
				pid_t pid = t_fork();

				if (pid == 0)
					_exit(child_fill(&r, seq));
				cr_assert_eq(waitpid(pid, &st, 0), pid);
				cr_assert(WIFEXITED(st) && WEXITSTATUS(st) < 200, "filler status 0x%x", st);
				n24 = WEXITSTATUS(st);
				cr_assert_eq(shmring_msg_used(&c), full, "type %u seed %u lap %llu: used %llu",
					     type, si, (unsigned long long)lap,
					     (unsigned long long)shmring_msg_used(&c));
				for (int i = 0; i < n24; i++) {
					cr_assert_eq(shmring_msg_peek(&c, &m), 24);
					cr_assert(t_check(m, 24, 7, seq + (uint64_t)i));
				}
				while ((n = shmring_msg_peek(&c, &m)) == 0)
					;
				cr_assert_eq(n, -EAGAIN, "type %u seed %u lap %llu: peek after a batch of "
					     "the whole ring gave %d", type, si, (unsigned long long)lap, n);
				cr_assert_eq(shmring_msg_peek(&c, &m), -EAGAIN);
				struct timespec dl = after_ms(2);

				n = shmring_msg_peek_wait(&c, &m, &dl);
				cr_assert_eq(n, -ETIMEDOUT, "type %u: peek_wait after a full batch gave %d",
					     type, n);
				cr_assert_eq(stat_of(&c.ctrl->cons_stats.corrupt), 0, "type %u: counted "
					     "as corrupt", type);
				shmring_msg_release(&c);
				cr_assert_eq(shmring_msg_used(&c), 0);
				cr_assert_eq(shmring_msg_peek(&c, &m), -EAGAIN);
			}
			cr_assert_eq(shmring_close(&c), 0);
			cr_assert_eq(shmring_close(&r), 0);
		}
}

/* Child producer: `n` reservations of `len` bytes, each aborted. */
static int child_abort(struct shmring *r, int n, uint32_t len)
{
	struct shmring q;
	void *w;

	if (shmring_dup(&q, r, SHMRING_PRODUCER))
		return 1;
	for (int i = 0; i < n; i++) {
		if (shmring_msg_reserve(&q, len, &w))
			return 2;
		memset(w, 0xab, len);
		if (shmring_msg_abort(&q))
			return 3;
	}
	return shmring_close(&q) ? 4 : 0;
}

/* Child producer: one message of `len` bytes (stream 9, seq), through
 * push_wait with a deadline (status 10: -ETIMEDOUT). */
static int child_push_wait(struct shmring *r, uint32_t len, uint64_t seq, uint64_t ms)
{
	struct shmring q;
	unsigned char buf[2048];
	struct timespec dl = after_ms(ms);
	int ret;

	if (shmring_dup(&q, r, SHMRING_PRODUCER))
		return 1;
	t_fill(buf, len, 9, seq);
	ret = shmring_msg_push_wait(&q, buf, len, &dl);
	if (ret == -ETIMEDOUT)
		return 10;
	if (ret)
		return 2;
	return shmring_close(&q) ? 3 : 0;
}

/*
 * Aborted reservations leave padding with no message after it: peek
 * passes it and, holding nothing, frees it at once; a producer then has
 * the whole ring.
 */
Test(fault_msg, aborted_padding_freed_by_peek, .timeout = 30)
{
	struct shmring r, c;
	const void *m;
	unsigned char buf[2048];
	pid_t pid;

	ring_open(&r, &c, SHMRING_MSG_MPSC, 4096, 2040, 0, 0);
	pid = t_fork();
	if (pid == 0)
		_exit(child_abort(&r, 3, 1000)); /* 3 x 1008 = 3024 bytes of padding */
	t_wait_ok(pid, "aborting producer");
	cr_assert_eq(shmring_msg_used(&c), 3024);
	cr_assert_eq(shmring_msg_peek(&c, &m), -EAGAIN);
	cr_assert_eq(shmring_msg_used(&c), 0, "padding passed while holding nothing is freed");
	pid = t_fork();
	if (pid == 0)
		_exit(child_push_wait(&r, 2040, 1, 10000));
	t_wait_ok(pid, "producer of 2040 bytes");
	cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), 2040);
	cr_assert(t_check(buf, 2040, 9, 1));
	/* Padding behind a held message is freed with it, not before. */
	pid = t_fork();
	if (pid == 0)
		_exit(child_push_wait(&r, 100, 2, 10000) || child_abort(&r, 1, 500));
	t_wait_ok(pid, "producer of a message and an abort");
	cr_assert_eq(shmring_msg_peek(&c, &m), 100);
	cr_assert_eq(shmring_msg_peek(&c, &m), -EAGAIN);
	cr_assert_eq(shmring_msg_used(&c), 112 + 512, "the message is held: nothing freed");
	cr_assert(t_check(m, 100, 9, 2));
	shmring_msg_release(&c);
	cr_assert_eq(shmring_msg_used(&c), 0);
	cr_assert_eq(stat_of(&c.ctrl->cons_stats.corrupt), 0);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&r), 0);
}

/* Consumer child: pop_wait `n` messages of stream 9 from seq, each
 * checked; status 0 when all arrived. */
static int child_pop(struct shmring *r, int n, uint32_t len, uint64_t seq)
{
	struct shmring q;
	unsigned char buf[2048];

	if (shmring_dup(&q, r, SHMRING_CONSUMER))
		return 1;
	for (int i = 0; i < n; i++) {
		int k = shmring_msg_pop_wait(&q, buf, sizeof(buf), NULL);

		if (k != (int)len)
			return 2;
		if (!t_check(buf, len, 9, seq + (uint64_t)i))
			return 3;
	}
	return shmring_close(&q) ? 4 : 0;
}

/*
 * The deadlock: a 4 KiB ring holding 3024 bytes of nothing but padding,
 * the consumer waiting for a message (pop_wait, in another process), a
 * producer in push_wait for 2040 bytes. Whichever side gets there first,
 * the push must go through: the consumer frees the padding it passes and
 * wakes the producer, and a producer about to sleep for room wakes a
 * consumer that has not looked yet. Twice: once with the consumer waiting
 * before the aborts, once after.
 */
Test(fault_msg, push_wait_behind_padding_only, .timeout = 60)
{
	for (int order = 0; order < 2; order++) {
		struct shmring r, c;
		pid_t cons, pid;

		ring_open(&r, &c, SHMRING_MSG_MPSC, 4096, 2040, 0, 0);
		cr_assert_eq(shmring_close(&c), 0);
		if (order == 0) {
			pid = t_fork();
			if (pid == 0)
				_exit(child_abort(&r, 3, 1000));
			t_wait_ok(pid, "aborting producer");
		}
		cons = t_fork();
		if (cons == 0)
			_exit(child_pop(&r, 1, 2040, 5));
		if (order == 1) {
			struct timespec ts = { 0, 20 * 1000000 };

			nanosleep(&ts, NULL); /* let the consumer fall asleep (either way is fine) */
			pid = t_fork();
			if (pid == 0)
				_exit(child_abort(&r, 3, 1000));
			t_wait_ok(pid, "aborting producer");
		}
		pid = t_fork();
		if (pid == 0)
			_exit(child_push_wait(&r, 2040, 5, 20000));
		int st;

		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 10, "order %d: push_wait of 2040 bytes "
			  "behind 3024 bytes of padding timed out", order);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status 0x%x", st);
		t_wait_ok(cons, "consumer");
		cr_assert_eq(shmring_close(&r), 0);
	}
}

/*
 * A producer killed with a reservation open, the last record claimed:
 * the consumer's wait recovers it into padding and frees it (nothing
 * follows), counted; a producer that needs the room gets it.
 */
Test(fault_msg, dead_producer_padding_freed, .timeout = 60)
{
	struct shmring r, c;
	unsigned char buf[2048];
	pid_t pid;
	int fds[2];
	char ok;

	ring_open(&r, &c, SHMRING_MSG_MPSC, 4096, 2040, 0, 0);
	cr_assert_eq(pipe(fds), 0);
	pid = t_fork();
	if (pid == 0) {
		struct shmring q;
		void *w;

		if (shmring_dup(&q, &r, SHMRING_PRODUCER) || shmring_msg_reserve(&q, 1500, &w))
			_exit(1);
		memset(w, 0x77, 1500);
		if (write(fds[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	cr_assert_eq(read(fds[0], &ok, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	struct timespec dl = after_ms(50);

	/* The only producer is dead and its entry freed by this recovery:
	 * the wait says so once (-EPIPE, docs/wait.md). */
	cr_assert_eq(shmring_msg_pop_wait(&c, buf, sizeof(buf), &dl), -EPIPE);
	cr_assert_eq(stat_of(&c.ctrl->cons_stats.skipped), 1);
	cr_assert_eq(shmring_msg_used(&c), 0, "the dead producer's padding is freed");
	pid = t_fork();
	if (pid == 0)
		_exit(child_push_wait(&r, 2040, 4, 10000));
	t_wait_ok(pid, "next producer");
	cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), 2040);
	cr_assert(t_check(buf, 2040, 9, 4));
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&r), 0);
}

/* ---- producers killed at random ----------------------------------------- */

#define KS_SLOTS 3   /* producers alive at a time */
#define KS_KILLS 200 /* producer SIGKILLs */
#define KS_FINAL 300 /* messages each of the last producers sends before it exits */
#define KS_STREAMS (KS_SLOTS + KS_KILLS + KS_SLOTS)
#define KS_MAX 1500  /* largest message */

/* Shared by the supervisor (the test), the producers and the consumer. */
struct ks_shared {
	uint64_t committed[KS_STREAMS]; /* producer: messages committed (lags by one if killed) */
	uint64_t received[KS_STREAMS];  /* consumer: messages received */
	uint64_t bad;                   /* consumer: the stream that went wrong, + 1 */
	int stop;                       /* supervisor: every message arrived, stop */
};

/* A message: struct t_msg {stream, seq, check}, then t_fill(stream, seq) bytes. */
static uint32_t ks_len(uint64_t stream, uint64_t seq)
{
	return (uint32_t)sizeof(struct t_msg) + t_len(stream, seq, KS_MAX - sizeof(struct t_msg));
}

/* Producer of `stream`: n messages (0: until killed), and an aborted
 * reservation before one in eight. Exit status 20: -ENOSPC at open (the
 * table full of dead entries); 21: a wait for room timed out (wedged). */
static int ks_producer(struct shmring *r, struct ks_shared *sh, uint64_t stream, uint64_t n)
{
	struct shmring q;
	struct timespec dl;
	int ret = shmring_dup(&q, r, SHMRING_PRODUCER);

	/* -ENOSPC is documented while every free entry is held by a dead
	 * producer whose record the consumer has not recovered yet; it
	 * must pass once the consumer catches up (bounded: 10 s). */
	for (int tries = 0; ret == -ENOSPC && tries < 10000; tries++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
		ret = shmring_dup(&q, r, SHMRING_PRODUCER);
	}
	if (ret == -ENOSPC)
		return 20;
	if (ret)
		return 22;
	for (uint64_t seq = 0; n == 0 || seq < n; seq++) {
		uint32_t len = ks_len(stream, seq);
		struct t_msg m;
		void *w;

		if (t_mix(stream * 1000003 + seq) % 8 == 0) {
			dl = after_ms(20000);
			ret = shmring_msg_reserve_wait(&q, len, &w, &dl);
			if (ret)
				return ret == -ETIMEDOUT ? 21 : 23;
			memset(w, 0xee, len);
			shmring_msg_abort(&q);
		}
		dl = after_ms(20000);
		ret = shmring_msg_reserve_wait(&q, len, &w, &dl);
		if (ret)
			return ret == -ETIMEDOUT ? 21 : 23;
		t_msg_make(&m, stream, seq);
		memcpy(w, &m, sizeof(m));
		t_fill((unsigned char *)w + sizeof(m), len - (uint32_t)sizeof(m), stream, seq);
		shmring_msg_commit(&q);
		shmring_msg_wake(&q);
		__atomic_store_n(&sh->committed[stream], seq + 1, __ATOMIC_RELAXED);
	}
	return shmring_close(&q) ? 24 : 0;
}

/* Consumer: check every message (checksum, payload, per-stream order)
 * until told to stop. */
static int ks_consumer(struct shmring *r, struct ks_shared *sh)
{
	struct shmring q;
	uint64_t polls = 0;

	if (shmring_dup(&q, r, SHMRING_CONSUMER))
		return 1;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		const void *p;
		struct timespec dl = after_ms(10);
		struct t_msg m;
		int n = shmring_msg_peek_wait(&q, &p, &dl);

		if (n == -ETIMEDOUT || ++polls % 32 == 0) {
			/* Give back the entries of producers killed outside a
			 * reservation (a record left inside one is recovered
			 * by the wait itself). */
			if (shmring_recover(&q) < 0)
				return 2;
			if (n == -ETIMEDOUT)
				continue;
		}
		/* Every producer gone, one of them dead (at the end, the last
		 * ones close while a killed one's entry is still being
		 * reaped): said once; producers may still come. */
		if (n == -EPIPE)
			continue;
		if (n < (int)sizeof(struct t_msg))
			return 3;
		memcpy(&m, p, sizeof(m));
		if (!t_msg_ok(&m) || m.producer >= KS_STREAMS || (uint32_t)n != ks_len(m.producer, m.seq) ||
		    !t_check((const unsigned char *)p + sizeof(m), (uint32_t)n - (uint32_t)sizeof(m),
			     m.producer, m.seq))
			return 4;
		if (m.seq != sh->received[m.producer]) { /* lost, duplicated or reordered */
			__atomic_store_n(&sh->bad, m.producer + 1, __ATOMIC_RELAXED);
			return 5;
		}
		__atomic_store_n(&sh->received[m.producer], m.seq + 1, __ATOMIC_RELAXED);
		shmring_msg_release(&q);
		shmring_msg_wake(&q);
	}
	return shmring_close(&q) ? 6 : 0;
}

static void ks_reap(pid_t pid, int killed, uint64_t stream)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(killed ? WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL : WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "producer of stream %llu: status 0x%x (exit 20: -ENOSPC at open, 21: a wait for "
		  "room timed out, the ring wedged)", (unsigned long long)stream, st);
}

/*
 * Three producer processes push messages of random size (and abort one
 * reservation in eight) into a 4 KiB ring while the test SIGKILLs one at
 * random every 0-2 ms and starts another in its place, 200 times; then
 * three last producers send 300 messages each and exit. The endpoint
 * table holds 8 producers and the consumer runs shmring_recover() every
 * 32 messages and whenever it waited 10 ms for nothing, so a restart
 * gets -ENOSPC only while every free entry is held by a dead producer
 * whose record the consumer has not recovered yet (a busy machine can
 * delay the consumer): a restart retries that for up to 10 s, and never
 * getting in means the dead keep their entries (a wedged ring). No
 * restart is locked out, no wait for room wedges, and every stream arrives in order with every checksum: all of
 * its commits (a producer killed between commit and its count may have
 * one more).
 */
Test(fault_msg, producers_killed_at_random, .timeout = 300)
{
	struct shmring r, c;
	struct ks_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				    -1, 0);
	pid_t slot[KS_SLOTS], cons;
	uint64_t stream_of[KS_SLOTS], next = 0, rnd = 0x1234567;

	cr_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	ring_open(&r, &c, SHMRING_MSG_MPSC, 4096, KS_MAX, (uint64_t)0 - 100000, 10);
	cr_assert_eq(shmring_close(&c), 0);
	cons = t_fork();
	if (cons == 0)
		_exit(ks_consumer(&r, sh));
	for (int i = 0; i < KS_SLOTS; i++) {
		stream_of[i] = next++;
		slot[i] = t_fork();
		if (slot[i] == 0)
			_exit(ks_producer(&r, sh, stream_of[i], 0));
	}
	/* KS_KILLS kills, then one more per slot to start the last ones. */
	for (int k = 0; k < KS_KILLS + KS_SLOTS; k++) {
		int last = k >= KS_KILLS;
		int i = last ? k - KS_KILLS : (int)(((rnd = t_mix(rnd)) >> 32) % KS_SLOTS);
		struct timespec ts = { 0, (long)(rnd % 2000000) };

		nanosleep(&ts, NULL);
		kill(slot[i], SIGKILL);
		ks_reap(slot[i], 1, stream_of[i]);
		stream_of[i] = next++;
		slot[i] = t_fork();
		if (slot[i] == 0)
			_exit(ks_producer(&r, sh, stream_of[i], last ? KS_FINAL : 0));
	}
	for (int i = 0; i < KS_SLOTS; i++)
		ks_reap(slot[i], 0, stream_of[i]);
	/* Every final message must arrive (the test's timeout bounds this). */
	for (;;) {
		uint64_t got = 0;
		int st;

		for (int i = 0; i < KS_SLOTS; i++)
			got += __atomic_load_n(&sh->received[stream_of[i]], __ATOMIC_RELAXED);
		if (got == (uint64_t)KS_SLOTS * KS_FINAL)
			break;
		cr_assert_neq(waitpid(cons, &st, WNOHANG), cons, "consumer exited with status 0x%x "
			      "(stream %llu out of order)", st,
			      (unsigned long long)__atomic_load_n(&sh->bad, __ATOMIC_RELAXED) - 1);
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	t_wait_ok(cons, "consumer");
	for (uint64_t s = 0; s < next; s++) {
		uint64_t got = sh->received[s], sent = sh->committed[s];

		cr_assert(got == sent || got == sent + 1, "stream %llu: %llu committed, %llu received",
			  (unsigned long long)s, (unsigned long long)sent, (unsigned long long)got);
	}
	cr_assert_eq(stat_of(&r.ctrl->cons_stats.corrupt), 0);
	cr_assert_eq(shmring_close(&r), 0);
	munmap(sh, sizeof(*sh));
}

/* ---- high-water -------------------------------------------------------- */

/*
 * MSG_MPSC with counters: two producer processes fill the ring until
 * nothing fits; the producers' high-water mark is the fill they saw,
 * here the whole fill of the ring, and it stays after the consumer
 * drains the ring.
 */
Test(fault_msg, mpsc_high_water, .timeout = 30)
{
	struct shmring r, c;
	unsigned char buf[256];
	uint64_t used, hw;
	pid_t pid[2];

	ring_open(&r, &c, SHMRING_MSG_MPSC, 4096, 200, 0, 0);
	for (int k = 0; k < 2; k++) {
		pid[k] = t_fork();
		if (pid[k] == 0) {
			struct shmring q;
			int ret;

			if (shmring_dup(&q, &r, SHMRING_PRODUCER))
				_exit(1);
			for (uint64_t i = 0; (ret = shmring_msg_push(&q, buf, 100 + 50 * (uint32_t)k)) == 0; i++)
				;
			_exit(ret == -EAGAIN ? 0 : 2);
		}
	}
	for (int k = 0; k < 2; k++)
		t_wait_ok(pid[k], "producer");
	used = shmring_msg_used(&c);
	hw = stat_of(&r.ctrl->prod_stats.high_water);
	cr_assert_geq(used, 4096 - 168, "filled: %llu", (unsigned long long)used);
	cr_assert_eq(hw, used, "high-water %llu, fill %llu", (unsigned long long)hw, (unsigned long long)used);
	while (shmring_msg_pop(&c, buf, sizeof(buf)) >= 0)
		;
	cr_assert_eq(shmring_msg_used(&c), 0);
	/* A later, smaller fill leaves the mark. */
	pid[0] = t_fork();
	if (pid[0] == 0) {
		struct shmring q;

		if (shmring_dup(&q, &r, SHMRING_PRODUCER))
			_exit(1);
		for (int i = 0; i < 20; i++)
			if (shmring_msg_push(&q, buf, 100))
				_exit(2);
		_exit(0);
	}
	t_wait_ok(pid[0], "producer");
	cr_assert_eq(stat_of(&r.ctrl->prod_stats.high_water), hw);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_close(&r), 0);
}

/* ---- what a closing producer or consumer holds -------------------------- */

/*
 * A producer closes with a reservation open (MPSC): the record is settled
 * as if its producer had died: the consumer turns it into padding,
 * counts it (cons_stats.skipped) and frees it although no message
 * follows; the next producer gets the whole ring. SPSC: nothing of the
 * reservation was published, the next producer reuses the space.
 */
Test(fault_msg, close_with_reservation_open, .timeout = 60)
{
	for (unsigned ti = 0; ti < 2; ti++) {
		struct shmring r, c;
		uint32_t type = types[ti];
		unsigned char buf[2048];
		const void *m;
		pid_t pid;
		int n = -EAGAIN;

		ring_open(&r, &c, type, 4096, 2040, 0, 0);
		pid = t_fork();
		if (pid == 0) {
			struct shmring q;
			void *w;

			if (shmring_dup(&q, &r, SHMRING_PRODUCER) || shmring_msg_reserve(&q, 2000, &w))
				_exit(1);
			memset(w, 0xcd, 2000);
			_exit(shmring_close(&q) ? 2 : 0);
		}
		t_wait_ok(pid, "producer closing with a reservation open");
		/* Bounded: the consumer looks for a dead owner after
		 * SHMRING_MSG_STALL_CHECK polls of one uncommitted record. */
		for (int tries = 0; tries < 100000 && n == -EAGAIN; tries++) {
			n = shmring_msg_peek(&c, &m);
			if (n == -EAGAIN && shmring_msg_used(&c) == 0)
				break;
		}
		cr_assert_eq(n, -EAGAIN, "type %u: %d", type, n);
		cr_assert_eq(shmring_msg_used(&c), 0, "type %u: the abandoned record is freed", type);
		cr_assert_eq(stat_of(&c.ctrl->cons_stats.skipped), type == SHMRING_MSG_MPSC ? 1 : 0,
			     "type %u: counted", type);
		pid = t_fork();
		if (pid == 0)
			_exit(child_push_wait(&r, 2040, 3, 10000));
		t_wait_ok(pid, "next producer");
		cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), 2040);
		cr_assert(t_check(buf, 2040, 9, 3));
		cr_assert_eq(stat_of(&c.ctrl->cons_stats.corrupt), 0);
		cr_assert_eq(shmring_close(&c), 0);
		cr_assert_eq(shmring_close(&r), 0);
	}
}

/*
 * A consumer closes with a peek open (messages peeked, not released): it
 * consumed nothing, so the next consumer gets those messages again, in
 * order; nothing is lost, duplicated past them or counted as lost. Both
 * ring types, with padding in front of the batch.
 */
Test(fault_msg, consumer_close_with_peek_open, .timeout = 30)
{
	for (unsigned ti = 0; ti < 2; ti++) {
		struct shmring r, c, p;
		uint32_t type = types[ti];
		unsigned char buf[256];
		pid_t pid;

		ring_open(&r, &c, type, 1024, 200, 0, 0);
		cr_assert_eq(shmring_dup(&p, &r, SHMRING_PRODUCER), 0);
		/* Four records first, so the batch below wraps: [640, 960),
		 * padding [960, 1024), then the rest from offset 0. */
		for (uint64_t i = 0; i < 4; i++) {
			t_fill(buf, 150, 8, i);
			cr_assert_eq(shmring_msg_push(&p, buf, 150), 0);
			cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), 150);
		}
		cr_assert_eq(shmring_close(&c), 0);
		for (uint64_t i = 0; i < 5; i++) {
			t_fill(buf, 150, 9, i);
			cr_assert_eq(shmring_msg_push(&p, buf, 150), 0);
		}
		pid = t_fork();
		if (pid == 0) {
			struct shmring q;
			const void *m;

			if (shmring_dup(&q, &r, SHMRING_CONSUMER))
				_exit(1);
			if (shmring_msg_pop(&q, buf, sizeof(buf)) != 150 || !t_check(buf, 150, 9, 0))
				_exit(2);
			for (uint64_t i = 1; i < 4; i++)
				if (shmring_msg_peek(&q, &m) != 150 || !t_check(m, 150, 9, i))
					_exit(3);
			_exit(shmring_close(&q) ? 4 : 0);
		}
		t_wait_ok(pid, "consumer closing with a peek open");
		cr_assert_eq(shmring_dup(&c, &r, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
		for (uint64_t i = 1; i < 5; i++) {
			cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), 150, "type %u message %llu", type,
				     (unsigned long long)i);
			cr_assert(t_check(buf, 150, 9, i));
		}
		cr_assert_eq(shmring_msg_pop(&c, buf, sizeof(buf)), -EAGAIN);
		cr_assert_eq(stat_of(&r.ctrl->cons_stats.lost), 0);
		cr_assert_eq(shmring_close(&p), 0);
		cr_assert_eq(shmring_close(&c), 0);
		cr_assert_eq(shmring_close(&r), 0);
	}
}
