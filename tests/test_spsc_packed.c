/* SPDX-License-Identifier: MIT */
/*
 * SPSC slots above 64 bytes are packed (stride 8 + round_up(slot_size, 8),
 * layout.h), so a slot may cross a cache line and share one with its
 * neighbours. Across two processes, for sizes that land on every offset
 * within a line: every message arrives once, in order, every byte of it
 * intact (single and burst operations, positions wrapping the ring many
 * times), and the stride is what the layout says.
 */
#include <string.h>

#include <shmring/spsc.h>
#include <shmring/wait.h>

#include "common.h"

#define MAXSZ 200
#define BURST 7

/* Byte i of message `seq`: a function of both, so a torn, stale or
 * shifted slot shows. The first 8 bytes are the sequence itself. */
static void fill(unsigned char *m, uint32_t size, uint64_t seq)
{
	uint64_t x = t_mix(seq);

	memcpy(m, &seq, 8);
	for (uint32_t i = 8; i < size; i++)
		m[i] = (unsigned char)(x >> (8 * (i % 8))) ^ (unsigned char)i;
}

static int check(const unsigned char *m, uint32_t size, uint64_t seq)
{
	unsigned char want[MAXSZ];

	fill(want, size, seq);
	return memcmp(m, want, size) == 0;
}

static int produce(const char *name, uint32_t size, uint64_t n)
{
	struct shmring p;
	unsigned char buf[BURST * MAXSZ];
	uint64_t i = 0;
	struct timespec dl;

	if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) < 0)
		return 2;
	while (i < n) {
		uint64_t k = 1 + i % BURST;

		if (k > n - i)
			k = n - i;
		int64_t put;

		for (uint64_t j = 0; j < k; j++)
			fill(buf + j * size, size, i + j);
		shmring_deadline_after(&dl, 60ull * 1000000000);
		if (k == 1)
			put = shmring_spsc_push_wait(&p, buf, &dl) == 0 ? 1 : -1;
		else
			put = shmring_spsc_push_burst_wait(&p, buf, k, &dl); /* 1..k */
		if (put <= 0)
			return 3;
		i += (uint64_t)put;
	}
	shmring_close(&p);
	return 0;
}

static void run(uint32_t size, uint64_t cap, uint64_t n)
{
	struct shmring_params prm;
	struct shmring c;
	unsigned char buf[BURST * MAXSZ];
	char name[96];
	uint64_t i = 0;
	struct timespec dl;
	pid_t pid;

	snprintf(name, sizeof(name), "%s", t_name("packed"));
	shmring_params_init(&prm, SHMRING_SPSC, cap, size);
	prm.init_pos = (1ull << 32) - n / 3; /* positions cross 2^32 on the way */
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(c.stride, 8 + ((size + 7u) & ~7u), "slot %u: stride %u", size, c.stride);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(produce(name, size, n));
	while (i < n) {
		uint64_t k = 1 + (i / 3) % BURST;
		int64_t got;

		if (k > n - i)
			k = n - i;
		shmring_deadline_after(&dl, 60ull * 1000000000);
		if (k == 1) {
			got = shmring_spsc_pop_wait(&c, buf, &dl) == 0 ? 1 : -1;
		} else {
			got = shmring_spsc_pop_burst_wait(&c, buf, k, &dl);
		}
		if (got <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_assert_fail("slot %u: pop at message %llu returned %lld", size, (unsigned long long)i,
				 (long long)got);
		}
		for (int64_t j = 0; j < got; j++) {
			if (!check(buf + (size_t)j * size, size, i + (uint64_t)j)) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				cr_assert_fail("slot %u: message %llu is not what was sent", size,
					 (unsigned long long)(i + (uint64_t)j));
			}
		}
		i += (uint64_t)got;
	}
	t_wait_ok(pid, "producer");
	cr_assert_eq(shmring_spsc_try_pop(&c, buf), -EAGAIN, "slot %u: a message too many", size);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* 64 (stride 72), then strides that start slots at every multiple of 8
 * within a line, and one slot wider than two lines. */
Test(spsc_packed, processes, .timeout = 300)
{
	static const uint32_t sizes[] = { 64, 72, 80, 88, 96, 100, 112, 120, 200 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		run(sizes[s], s % 2 ? 64 : 8, t_scale(200000));
}

/* An MPMC ring keeps whole lines per slot: its producers write
 * neighbouring slots at once. */
Test(spsc_packed, mpmc_rounds)
{
	struct shmring_params prm;
	struct shmring c;
	char name[96];

	snprintf(name, sizeof(name), "%s", t_name("packed-mpmc"));
	shmring_params_init(&prm, SHMRING_MPMC, 64, 64);
	cr_assert_eq(shmring_create(&c, name, &prm, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(c.stride, 128);
	shmring_close(&c);
	cr_assert_eq(shmring_unlink(name), 0);
}
