/* SPDX-License-Identifier: MIT */
/*
 * Blocking ping-pong between two processes: round-trip latency p50/p99 of
 *
 *   futex     raw futex handoff on two words in shared memory (the floor)
 *   pipe      one byte each way over two pipes
 *   sleep     two SPSC rings, push_wait/pop_wait, policy sleep-at-once
 *             (its wakers fence, its sleepers skip membarrier)
 *   sleep-light  the same with SHMRING_WAIT_F_LIGHT: wakers rely on the
 *             sleeper's membarrier
 *   spin-sleep   the same, default policy (bounded adaptive spin, then sleep)
 *   spin      the same, spin only (no system call; needs two free CPUs)
 *
 * The peer answers at once, so spin-then-sleep should catch the answer
 * while spinning. Usage:
 *   pingpong_wait [-n ROUNDS] [-w WARMUP] [-c CPU_A,CPU_B] [MODE...]
 * Prints one line per mode: p50, p90, p99, mean in microseconds, and the
 * sleeps and futex calls the ring counters saw.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/wait.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cpu_a = -1, cpu_b = -1;

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("sched_setaffinity");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *mode, uint64_t *lat, uint64_t n, const char *extra)
{
	double sum = 0;

	qsort(lat, n, sizeof(*lat), cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)lat[i];
	printf("%-12s p50 %8.2f  p90 %8.2f  p99 %8.2f  mean %8.2f us  %s\n", mode,
	       lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, lat[n * 99 / 100] / 1e3, sum / n / 1e3, extra);
	fflush(stdout);
}

/* ---- raw futex ---- */

static long futex(SHMRING_ATOMIC(uint32_t) *w, int op, uint32_t val)
{
	return syscall(SYS_futex, (void *)w, op, val, NULL, NULL, 0);
}

/* Word semantics: 0 idle, 1 posted, 2 posted-to-a-sleeper is not needed:
 * the floor always wakes (one FUTEX_WAKE per message) and always sleeps
 * when the word is not posted yet. */
static void fx_post(SHMRING_ATOMIC(uint32_t) *w)
{
	/* Release: pairs with the acquire exchange in fx_take. */
	shmring_atomic_store(w, 1, SHMRING_RELEASE);
	futex(w, FUTEX_WAKE, 1);
}

static void fx_take(SHMRING_ATOMIC(uint32_t) *w)
{
	/* Acquire: pairs with the release store in fx_post. */
	while (shmring_atomic_exchange(w, 0, SHMRING_ACQUIRE) != 1)
		futex(w, FUTEX_WAIT, 0);
}

static void run_futex(uint64_t rounds, uint64_t warm, uint64_t *lat)
{
	SHMRING_ATOMIC(uint32_t) *w = (SHMRING_ATOMIC(uint32_t) *)mmap(NULL, 4096, PROT_READ | PROT_WRITE,
							   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SHMRING_ATOMIC(uint32_t) *ping = w, *pong = w + 32;
	pid_t pid;

	shmring_atomic_store(ping, 0, SHMRING_RELAXED);
	shmring_atomic_store(pong, 0, SHMRING_RELAXED);
	pid = fork();
	if (pid == 0) {
		pin(cpu_b);
		for (uint64_t i = 0; i < rounds + warm; i++) {
			fx_take(ping);
			fx_post(pong);
		}
		_exit(0);
	}
	pin(cpu_a);
	for (uint64_t i = 0; i < rounds + warm; i++) {
		uint64_t t0 = now_ns();

		fx_post(ping);
		fx_take(pong);
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	munmap((void *)w, 4096);
	report("futex", lat, rounds, "(floor: one wake and one wait per message)");
}

/* ---- pipe ---- */

static void run_pipe(uint64_t rounds, uint64_t warm, uint64_t *lat)
{
	int ab[2], ba[2];
	char c = 'x';
	pid_t pid;

	if (pipe(ab) || pipe(ba)) {
		perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid == 0) {
		pin(cpu_b);
		for (uint64_t i = 0; i < rounds + warm; i++) {
			if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	pin(cpu_a);
	for (uint64_t i = 0; i < rounds + warm; i++) {
		uint64_t t0 = now_ns();

		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) {
			perror("pipe ping-pong");
			exit(1);
		}
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	report("pipe", lat, rounds, "");
}

/* ---- shmring ---- */

static void ring_pair(struct shmring *r, const char *name, uint32_t role)
{
	struct shmring_params prm;
	int ret;

	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	ret = shmring_create(r, name, &prm, role);
	if (ret) {
		fprintf(stderr, "create %s: %s (%s)\n", name, shmring_strerror(ret), shmring_errdetail());
		exit(1);
	}
}

static void run_ring(const char *label, uint32_t mode, uint32_t flags, uint64_t rounds, uint64_t warm,
		     uint64_t *lat)
{
	char nping[64], npong[64], extra[160];
	struct shmring ping_p, pong_c, ping_c, pong_p;
	struct shmring_wait_policy pol = { .mode = mode, .flags = flags };
	uint64_t v = 0;
	pid_t pid;

	snprintf(nping, sizeof(nping), "/pingpong-wait-%d-a", (int)getpid());
	snprintf(npong, sizeof(npong), "/pingpong-wait-%d-b", (int)getpid());
	ring_pair(&ping_p, nping, SHMRING_PRODUCER);
	ring_pair(&pong_c, npong, SHMRING_CONSUMER);
	shmring_wait_policy_set(&ping_p, &pol);
	shmring_wait_policy_set(&pong_c, &pol);
	pid = fork();
	if (pid == 0) {
		pin(cpu_b);
		if (shmring_open(&ping_c, nping, SHMRING_CONSUMER, NULL) ||
		    shmring_open(&pong_p, npong, SHMRING_PRODUCER, NULL))
			_exit(1);
		shmring_wait_policy_set(&ping_c, &pol);
		shmring_wait_policy_set(&pong_p, &pol);
		for (uint64_t i = 0; i < rounds + warm; i++) {
			if (shmring_spsc_pop_wait(&ping_c, &v, NULL) || shmring_spsc_push_wait(&pong_p, &v, NULL))
				_exit(2);
		}
		shmring_close(&ping_c);
		shmring_close(&pong_p);
		_exit(0);
	}
	pin(cpu_a);
	for (uint64_t i = 0; i < rounds + warm; i++) {
		uint64_t t0 = now_ns();

		v = i;
		if (shmring_spsc_push_wait(&ping_p, &v, NULL) || shmring_spsc_pop_wait(&pong_c, &v, NULL) ||
		    v != i) {
			fprintf(stderr, "%s: round %llu failed\n", label, (unsigned long long)i);
			exit(1);
		}
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	/* The counters cover warm-up rounds too. */
	{
		struct shmring_ctrl *x = ping_p.ctrl, *y = pong_c.ctrl;
		double per = (double)(rounds + warm);
		uint64_t sleeps = shmring_atomic_load(&x->cons_stats.sleeps, SHMRING_RELAXED) +
				  shmring_atomic_load(&y->cons_stats.sleeps, SHMRING_RELAXED);
		uint64_t calls = shmring_atomic_load(&x->prod_stats.futex_calls, SHMRING_RELAXED) +
				 shmring_atomic_load(&x->cons_stats.futex_calls, SHMRING_RELAXED) +
				 shmring_atomic_load(&y->prod_stats.futex_calls, SHMRING_RELAXED) +
				 shmring_atomic_load(&y->cons_stats.futex_calls, SHMRING_RELAXED);

		snprintf(extra, sizeof(extra), "(per round: %.2f sleeps, %.2f futex calls)",
			 (double)sleeps / per, (double)calls / per);
	}
	shmring_close(&ping_p);
	shmring_close(&pong_c);
	shmring_unlink(nping);
	shmring_unlink(npong);
	report(label, lat, rounds, extra);
}

int main(int argc, char **argv)
{
	uint64_t rounds = 20000, warm = 2000;
	const char *all[] = { "futex", "pipe", "sleep", "sleep-light", "spin-sleep", NULL };
	int opt;

	while ((opt = getopt(argc, argv, "n:w:c:h")) != -1) {
		switch (opt) {
		case 'n':
			rounds = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			warm = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2) {
				fprintf(stderr, "-c wants CPU_A,CPU_B\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: %s [-n ROUNDS] [-w WARMUP] [-c CPU_A,CPU_B] "
					"[futex|pipe|sleep|sleep-light|spin-sleep|spin...]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 100)
		rounds = 100;
	uint64_t *lat = (uint64_t *)calloc(rounds, sizeof(*lat));

	if (!lat)
		return 1;
	printf("round trip between two processes, %llu rounds (+%llu warm-up), membarrier %s\n",
	       (unsigned long long)rounds, (unsigned long long)warm,
	       shmring_wait_light() ? "registered" : "unavailable (fences)");
	const char **modes = optind < argc ? (const char **)(argv + optind) : all;

	for (int i = 0; modes[i]; i++) {
		const char *m = modes[i];

		if (!strcmp(m, "futex"))
			run_futex(rounds, warm, lat);
		else if (!strcmp(m, "pipe"))
			run_pipe(rounds, warm, lat);
		else if (!strcmp(m, "sleep"))
			run_ring("sleep", SHMRING_WAIT_SLEEP, 0, rounds, warm, lat);
		else if (!strcmp(m, "sleep-light"))
			run_ring("sleep-light", SHMRING_WAIT_SLEEP, SHMRING_WAIT_F_LIGHT, rounds, warm, lat);
		else if (!strcmp(m, "spin-sleep"))
			run_ring("spin-sleep", SHMRING_WAIT_SPIN_SLEEP, 0, rounds, warm, lat);
		else if (!strcmp(m, "spin"))
			run_ring("spin", SHMRING_WAIT_SPIN, 0, rounds, warm, lat);
		else {
			fprintf(stderr, "unknown mode '%s'\n", m);
			return 2;
		}
	}
	free(lat);
	return 0;
}
