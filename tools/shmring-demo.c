/* SPDX-License-Identifier: MIT */
/*
 * shmring-demo: two processes pass messages through an SPSC ring, and the
 * same messages through a pipe in the same run for comparison.
 *
 *   shmring-demo [-n messages] [-s size[,size...]] [-p round-trips] [-c capacity]
 *
 * Throughput: a producer process sends `messages` messages of each size
 * (one shmring_spsc_try_push per message; for the pipe one write() per
 * message, the reader takes whatever is there, up to 64 KiB per read()).
 * The consumer checks every message: its sequence number must be the next
 * one and, for messages of 16 bytes or more, its checksum must match.
 * Latency: a ping-pong of `round-trips` 8-byte messages between two
 * processes over two rings (and over two pipes); p50/p99/max of the
 * round-trip time in ns.
 *
 * The rings are anonymous (shmring_create_anon); the child attaches to
 * them with shmring_dup through the descriptors it inherits, so nothing is
 * left in /dev/shm if the demo is killed.
 *
 * Both processes spin on the ring (no blocking), so the figures depend on
 * whether they share a core; pin nothing here, run it on a quiet machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/shmring.h>

#define MAX_SIZE 4096

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Message i: word 0 is i, word 1 (if there is room) its checksum. */
static void msg_make(unsigned char *m, uint32_t size, uint64_t i)
{
	memcpy(m, &i, 8);
	if (size >= 16) {
		uint64_t c = mix(i);

		memcpy(m + 8, &c, 8);
	}
}

static int msg_check(const unsigned char *m, uint32_t size, uint64_t want)
{
	uint64_t i, c;

	memcpy(&i, m, 8);
	if (i != want)
		return -1;
	if (size >= 16) {
		memcpy(&c, m + 8, 8);
		if (c != mix(i))
			return -1;
	}
	return 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "shmring-demo: %s: %s (%s)\n", what, shmring_strerror(err), shmring_errdetail());
	exit(1);
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* --- throughput ------------------------------------------------------- */

static double ring_throughput(uint32_t size, uint64_t n, uint64_t capacity)
{
	struct shmring p, c;
	struct shmring_params prm;
	unsigned char m[MAX_SIZE];
	uint64_t t0, t1;
	pid_t pid;
	int ret;

	shmring_params_init(&prm, SHMRING_SPSC, capacity, size);
	ret = shmring_create_anon(&c, &prm, SHMRING_CONSUMER);
	if (ret < 0)
		die("create", ret);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		/* Attach as the producer through the inherited descriptor. */
		ret = shmring_dup(&p, &c, SHMRING_PRODUCER);
		if (ret < 0)
			die("dup", ret);
		shmring_close(&c);
		for (uint64_t i = 0; i < n; i++) {
			msg_make(m, size, i);
			while ((ret = shmring_spsc_try_push(&p, m)) == -EAGAIN)
				shmring_cpu_relax();
			if (ret < 0)
				die("push", ret);
		}
		shmring_close(&p);
		_exit(0);
	}
	/* The clock starts at the first message, so the child's start-up
	 * does not count. */
	while ((ret = shmring_spsc_try_pop(&c, m)) == -EAGAIN)
		shmring_cpu_relax();
	t0 = now_ns();
	for (uint64_t i = 1; i < n; i++) {
		while ((ret = shmring_spsc_try_pop(&c, m)) == -EAGAIN)
			shmring_cpu_relax();
		if (ret < 0)
			die("pop", ret);
		if (msg_check(m, size, i) < 0) {
			fprintf(stderr, "shmring-demo: ring message %" PRIu64 " is wrong\n", i);
			exit(1);
		}
	}
	t1 = now_ns();
	shmring_close(&c);
	if (wait_child(pid) < 0) {
		fprintf(stderr, "shmring-demo: ring producer failed\n");
		exit(1);
	}
	return (double)(n - 1) * 1e9 / (double)(t1 - t0);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;

	while (len) {
		ssize_t k = write(fd, b, len);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += k;
		len -= (size_t)k;
	}
	return 0;
}

static double pipe_throughput(uint32_t size, uint64_t n)
{
	static unsigned char buf[65536 + MAX_SIZE];
	unsigned char m[MAX_SIZE];
	size_t have = 0;
	uint64_t i = 0, t0 = 0, t1;
	int fds[2];
	pid_t pid;

	if (pipe(fds) < 0) {
		perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		for (uint64_t k = 0; k < n; k++) {
			msg_make(m, size, k);
			if (write_all(fds[1], m, size) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	while (i < n) {
		ssize_t k = read(fds[0], buf + have, 65536);

		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			fprintf(stderr, "shmring-demo: pipe ended after %" PRIu64 " messages\n", i);
			exit(1);
		}
		if (!t0)
			t0 = now_ns();
		have += (size_t)k;
		size_t off = 0;

		for (; have - off >= size; off += size, i++) {
			if (msg_check(buf + off, size, i) < 0) {
				fprintf(stderr, "shmring-demo: pipe message %" PRIu64 " is wrong\n", i);
				exit(1);
			}
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	t1 = now_ns();
	close(fds[0]);
	if (wait_child(pid) < 0) {
		fprintf(stderr, "shmring-demo: pipe writer failed\n");
		exit(1);
	}
	return (double)n * 1e9 / (double)(t1 - t0);
}

/* --- latency ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report_rtt(const char *what, uint64_t *rtt, uint64_t n)
{
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	printf("  %-7s round trip  p50 %7" PRIu64 " ns   p99 %7" PRIu64 " ns   max %9" PRIu64 " ns\n",
	       what, rtt[n / 2], rtt[n * 99 / 100], rtt[n - 1]);
}

static void ring_pingpong(uint64_t n, uint64_t *rtt)
{
	struct shmring tx, rx, ctx, crx;
	struct shmring_params prm;
	pid_t pid;
	int ret;

	shmring_params_init(&prm, SHMRING_SPSC, 64, 8);
	if ((ret = shmring_create_anon(&tx, &prm, SHMRING_PRODUCER)) < 0 ||
	    (ret = shmring_create_anon(&rx, &prm, SHMRING_CONSUMER)) < 0)
		die("create", ret);
	pid = fork();
	if (pid == 0) {
		uint64_t v;

		if ((ret = shmring_dup(&crx, &tx, SHMRING_CONSUMER)) < 0 ||
		    (ret = shmring_dup(&ctx, &rx, SHMRING_PRODUCER)) < 0)
			die("dup", ret);
		for (uint64_t i = 0; i < n + 1; i++) {
			while (shmring_spsc_try_pop(&crx, &v) == -EAGAIN)
				shmring_cpu_relax();
			while (shmring_spsc_try_push(&ctx, &v) == -EAGAIN)
				shmring_cpu_relax();
		}
		_exit(0);
	}
	/* Round 0 warms up (and waits for the child to attach). */
	for (uint64_t i = 0; i < n + 1; i++) {
		uint64_t v = i, back, t0 = now_ns();

		while (shmring_spsc_try_push(&tx, &v) == -EAGAIN)
			shmring_cpu_relax();
		while (shmring_spsc_try_pop(&rx, &back) == -EAGAIN)
			shmring_cpu_relax();
		if (back != i) {
			fprintf(stderr, "shmring-demo: ping-pong got %" PRIu64 ", sent %" PRIu64 "\n", back, i);
			exit(1);
		}
		if (i)
			rtt[i - 1] = now_ns() - t0;
	}
	shmring_close(&tx);
	shmring_close(&rx);
	if (wait_child(pid) < 0)
		exit(1);
}

static void pipe_pingpong(uint64_t n, uint64_t *rtt)
{
	int a[2], b[2];
	pid_t pid;

	if (pipe(a) < 0 || pipe(b) < 0) {
		perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid == 0) {
		uint64_t v;

		for (uint64_t i = 0; i < n + 1; i++) {
			if (read(a[0], &v, 8) != 8 || write(b[1], &v, 8) != 8)
				_exit(1);
		}
		_exit(0);
	}
	for (uint64_t i = 0; i < n + 1; i++) {
		uint64_t v = i, back, t0 = now_ns();

		if (write(a[1], &v, 8) != 8 || read(b[0], &back, 8) != 8 || back != i) {
			fprintf(stderr, "shmring-demo: pipe ping-pong failed\n");
			exit(1);
		}
		if (i)
			rtt[i - 1] = now_ns() - t0;
	}
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	if (wait_child(pid) < 0)
		exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: shmring-demo [-n messages] [-s size[,size...]] [-p round-trips] [-c capacity]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000, rounds = 100000, capacity = 4096;
	uint32_t sizes[16] = { 8, 64 };
	int nsizes = 2, opt;

	while ((opt = getopt(argc, argv, "n:s:p:c:h")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'p': rounds = strtoull(optarg, NULL, 0); break;
		case 'c': capacity = strtoull(optarg, NULL, 0); break;
		case 's': {
			char *s = optarg, *end;

			nsizes = 0;
			while (*s && nsizes < 16) {
				unsigned long v = strtoul(s, &end, 0);

				if (end == s || v < 8 || v > MAX_SIZE || v % 8)
					usage();
				sizes[nsizes++] = (uint32_t)v;
				s = *end == ',' ? end + 1 : end;
			}
			break;
		}
		default: usage();
		}
	}
	if (n < 2)
		usage();

	printf("shmring-demo: %" PRIu64 " messages producer -> consumer, two processes, capacity %" PRIu64 " slots\n",
	       n, capacity);
	for (int k = 0; k < nsizes; k++) {
		double ring = ring_throughput(sizes[k], n, capacity);
		double pipe = pipe_throughput(sizes[k], n);

		printf("  %4u B  shmring %8.2f Mmsg/s (%7.1f MB/s)   pipe %6.2f Mmsg/s (%7.1f MB/s)   x%.1f\n",
		       sizes[k], ring / 1e6, ring * sizes[k] / 1e6, pipe / 1e6, pipe * sizes[k] / 1e6,
		       ring / pipe);
	}
	if (rounds) {
		uint64_t *rtt = malloc(rounds * sizeof(*rtt));

		if (!rtt)
			return 1;
		printf("ping-pong: %" PRIu64 " round trips of 8 B between two processes\n", rounds);
		ring_pingpong(rounds, rtt);
		report_rtt("shmring", rtt, rounds);
		pipe_pingpong(rounds, rtt);
		report_rtt("pipe", rtt, rounds);
		free(rtt);
	}
	printf("every message checked: sequence (and checksum from 16 B up)\n");
	return 0;
}
