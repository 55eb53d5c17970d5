/* SPDX-License-Identifier: MIT */
/*
 * broadcast: one producer, three reader processes, every reader sees
 * every message (<shmring/broadcast.h>, docs/broadcast.md).
 *
 *   - a lossless ring: the producer waits for the slowest reader, so each
 *     reader gets all NMSG messages in order; one of them joins late, at
 *     the oldest message still in the ring, and reads from there on;
 *   - a lossy ring: the producer never waits; a reader that sleeps lets
 *     itself be lapped, learns it from -EOVERFLOW with the exact count
 *     lost, and checks that the count is the gap to the next message.
 *
 * Every message carries its sequence number and a checksum. The program
 * exits 0 when every reader has checked everything and exited cleanly.
 *
 * Run: ./broadcast   (no arguments)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/wait.h>

#define NMSG 50000u
#define READERS 3

struct tick {
	uint64_t seq;
	uint64_t price;
	uint64_t check; /* seq ^ price ^ constant */
};

static void tick_make(struct tick *t, uint64_t seq)
{
	t->seq = seq;
	t->price = seq * 7919u;
	t->check = t->seq ^ t->price ^ 0x5eedull;
}

static int tick_ok(const struct tick *t)
{
	return t->check == (t->seq ^ t->price ^ 0x5eedull) && t->price == t->seq * 7919u;
}

/* A reader of the lossless ring: all messages from where it starts. */
static int lossless_reader(const char *name, int late, int ready_fd)
{
	struct shmring r;
	struct tick t;
	struct timespec dl;
	uint64_t next = UINT64_MAX;

	if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) != 0) {
		fprintf(stderr, "open %s: %s\n", name, shmring_errdetail());
		return 1;
	}
	if (late && shmring_bcast_seek(&r, SHMRING_BCAST_OLDEST) != 0)
		return 1;
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	shmring_deadline_after(&dl, 60ull * 1000000000ull);
	while (next != NMSG) {
		int ret = shmring_bcast_read_wait(&r, &t, &dl);

		if (ret != 0) {
			fprintf(stderr, "reader: %s\n", shmring_strerror(ret));
			return 1;
		}
		if (!tick_ok(&t) || (next != UINT64_MAX && t.seq != next)) {
			fprintf(stderr, "reader: message %llu out of order or damaged\n",
				(unsigned long long)t.seq);
			return 1;
		}
		next = t.seq + 1;
	}
	if (shmring_bcast_lost(&r) != 0)
		return 1;
	return shmring_close(&r) == 0 ? 0 : 1;
}

/* A reader of the lossy ring that dozes off now and then. */
static int lossy_reader(const char *name, int ready_fd)
{
	struct shmring r;
	struct tick t;
	struct timespec dl;
	uint64_t next = 0, lost = 0, laps = 0, n = 0;

	if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) != 0 || write(ready_fd, "r", 1) != 1)
		return 1;
	shmring_deadline_after(&dl, 60ull * 1000000000ull);
	while (next != NMSG) {
		int ret = shmring_bcast_read_wait(&r, &t, &dl);

		if (ret == -EOVERFLOW) {
			laps++;
			continue; /* the next message read shows the gap */
		}
		if (ret != 0 || !tick_ok(&t))
			return 1;
		uint64_t now = (uint64_t)shmring_bcast_lost(&r);

		if (t.seq != next + (now - lost)) {
			fprintf(stderr, "lossy reader: %llu lost, but the gap is %llu\n",
				(unsigned long long)(now - lost), (unsigned long long)(t.seq - next));
			return 1;
		}
		lost = now;
		next = t.seq + 1;
		if (++n % 2000 == 0)
			usleep(5000);
	}
	printf("lossy reader: lapped %llu times, %llu of %u messages lost, every loss counted\n",
	       (unsigned long long)laps, (unsigned long long)lost, NMSG);
	fflush(stdout); /* the child leaves through _exit */
	return shmring_close(&r) == 0 ? 0 : 1;
}

static int wait_children(pid_t *kids, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	return bad;
}

/* Push from..to-1; with pace, pause 100 us every 32 (a steady feed). */
static int push_all(struct shmring *p, uint64_t from, uint64_t to, int pace)
{
	struct timespec dl;
	struct tick t;

	shmring_deadline_after(&dl, 60ull * 1000000000ull);
	for (uint64_t i = from; i < to; i++) {
		tick_make(&t, i);
		if (shmring_bcast_push_wait(p, &t, &dl) != 0)
			return 1;
		if (pace && i % 32 == 31)
			usleep(100);
	}
	return 0;
}

int main(void)
{
	char lossless[64], lossy[64];
	struct shmring_params prm;
	struct shmring p, q;
	pid_t kids[READERS + 1];
	int fds[2], bad = 0;
	char c;

	snprintf(lossless, sizeof(lossless), "/shmring-example-bcast-%d", (int)getpid());
	snprintf(lossy, sizeof(lossy), "/shmring-example-bcast-lossy-%d", (int)getpid());
	if (pipe(fds) != 0)
		return 1;

	/* Lossless: two readers from the start, one late at the oldest. */
	shmring_params_init(&prm, SHMRING_BROADCAST, 256, sizeof(struct tick));
	prm.max_endpoints = 8;
	prm.evict_ns = 5ull * 1000000000ull; /* a reader stopped 5 s is evicted */
	if (shmring_create(&p, lossless, &prm, SHMRING_PRODUCER) != 0) {
		fprintf(stderr, "create: %s\n", shmring_errdetail());
		return 1;
	}
	for (int i = 0; i < READERS; i++) {
		if (i == READERS - 1) {
			for (int k = 0; k < i; k++)
				if (read(fds[0], &c, 1) != 1)
					return 1;
			if (push_all(&p, 0, NMSG / 2, 0) != 0)
				return 1;
		}
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(lossless_reader(lossless, i == READERS - 1, fds[1]));
	}
	if (read(fds[0], &c, 1) != 1 || push_all(&p, NMSG / 2, NMSG, 0) != 0)
		return 1;
	bad |= wait_children(kids, READERS);
	shmring_close(&p);
	shmring_unlink(lossless);
	printf("lossless: %d readers, %u messages each (one from the middle on): %s\n", READERS, NMSG,
	       bad ? "FAILED" : "ok");
	fflush(stdout); /* before the next fork */

	/* Lossy: the producer never waits for the dozing reader. */
	shmring_params_init(&prm, SHMRING_BROADCAST, 64, sizeof(struct tick));
	prm.flags = SHMRING_F_LOSSY;
	if (shmring_create(&q, lossy, &prm, SHMRING_PRODUCER) != 0)
		return 1;
	kids[READERS] = fork();
	if (kids[READERS] == 0)
		_exit(lossy_reader(lossy, fds[1]));
	if (read(fds[0], &c, 1) != 1 || push_all(&q, 0, NMSG, 1) != 0)
		return 1;
	bad |= wait_children(&kids[READERS], 1);
	shmring_close(&q);
	shmring_unlink(lossy);
	printf("broadcast: %s\n", bad ? "FAILED" : "ok");
	return bad;
}
