/* SPDX-License-Identifier: MIT */
/*
 * Message rings under faults, across processes: a peek batch that covers
 * an exactly full ring.
 */
#include <string.h>
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
