/* SPDX-License-Identifier: MIT */
/*
 * SPSC throughput with the producer and consumer threads pinned on the CPU
 * pair shmring_topo_pick_pair() chooses, against the same run unpinned.
 * Rounds alternate the order (unpinned first in even rounds) so drift in
 * machine load does not favour one side; medians are reported.
 *
 *   shmring-topo-pin [-n messages] [-r rounds] [-s slot_size] [-c capacity]
 *                    [-b burst] [-N node]
 *
 * Every message carries its sequence number and the consumer checks it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <shmring/topo.h>

struct run {
	struct shmring prod, cons;
	uint64_t n;
	uint32_t burst, slot;
	int cpu_prod, cpu_cons; /* -1: not pinned */
	int bad;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *producer(void *arg)
{
	struct run *x = arg;
	unsigned char *buf = calloc(x->burst, x->slot);

	if (!buf)
		return NULL;
	if (x->cpu_prod >= 0 && shmring_bind_thread_cpu(x->cpu_prod) < 0)
		x->bad = 1;
	for (uint64_t i = 0; i < x->n;) {
		uint64_t k = x->n - i < x->burst ? x->n - i : x->burst;

		for (uint64_t j = 0; j < k; j++)
			memcpy(buf + j * x->slot, &(uint64_t){ i + j }, sizeof(uint64_t));
		int64_t got = k == 1 ? (shmring_spsc_try_push(&x->prod, buf) == 0)
				     : shmring_spsc_push_burst(&x->prod, buf, k);

		if (got > 0)
			i += (uint64_t)got;
		else
			shmring_cpu_relax();
	}
	free(buf);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *x = arg;
	unsigned char *buf = calloc(x->burst, x->slot);

	if (!buf)
		return NULL;
	if (x->cpu_cons >= 0 && shmring_bind_thread_cpu(x->cpu_cons) < 0)
		x->bad = 1;
	for (uint64_t i = 0; i < x->n;) {
		int64_t got = x->burst == 1 ? (shmring_spsc_try_pop(&x->cons, buf) == 0)
					    : shmring_spsc_pop_burst(&x->cons, buf, x->burst);

		if (got <= 0) {
			shmring_cpu_relax();
			continue;
		}
		for (int64_t j = 0; j < got; j++) {
			uint64_t v;

			memcpy(&v, buf + (size_t)j * x->slot, sizeof(v));
			if (v != i + (uint64_t)j)
				x->bad = 1;
		}
		i += (uint64_t)got;
	}
	free(buf);
	return NULL;
}

/* One run; returns messages per second, or a negative value on failure. */
static double run_once(const struct shmring_params *p, uint64_t n, uint32_t burst, int ca, int cb)
{
	struct run x;
	pthread_t tp, tc;
	int ret;

	memset(&x, 0, sizeof(x));
	x.n = n;
	x.burst = burst;
	x.slot = p->slot_size;
	x.cpu_prod = ca;
	x.cpu_cons = cb;
	ret = shmring_create_anon(&x.prod, p, SHMRING_PRODUCER);
	if (ret < 0) {
		fprintf(stderr, "create: %s (%s)\n", shmring_strerror(ret), shmring_errdetail());
		return -1;
	}
	ret = shmring_dup(&x.cons, &x.prod, SHMRING_CONSUMER);
	if (ret < 0) {
		fprintf(stderr, "dup: %s (%s)\n", shmring_strerror(ret), shmring_errdetail());
		shmring_close(&x.prod);
		return -1;
	}
	uint64_t t0 = now_ns();

	pthread_create(&tc, NULL, consumer, &x);
	pthread_create(&tp, NULL, producer, &x);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	uint64_t t1 = now_ns();

	shmring_close(&x.cons);
	shmring_close(&x.prod);
	if (x.bad) {
		fprintf(stderr, "run failed: a message out of order, or binding refused\n");
		return -1;
	}
	return (double)n * 1e9 / (double)(t1 - t0);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000, cap = 4096;
	uint32_t slot = 8, burst = 1;
	int rounds = 5, node = -1, opt, a, b, level;
	char desc[256];

	while ((opt = getopt(argc, argv, "n:r:s:c:b:N:h")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 's': slot = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'c': cap = strtoull(optarg, NULL, 0); break;
		case 'b': burst = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'N': node = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n messages] [-r rounds] [-s slot_size] [-c capacity] [-b burst] [-N node]\n",
				argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || rounds > 1000 || slot < 8 || burst < 1 || burst > 4096 || n == 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	level = shmring_topo_pick_pair(NULL, SHMRING_PAIR_AFFINITY, &a, &b);
	if (level < 0) {
		fprintf(stderr, "no CPU pair: %s (%s)\n", shmring_strerror(level), shmring_errdetail());
		return 1;
	}
	if (shmring_topo_describe(NULL, desc, sizeof(desc)) < 0)
		snprintf(desc, sizeof(desc), "?");
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, cap, slot);
	if (node >= 0)
		shmring_params_place_node(&p, node);
	printf("topology: %s\n", desc);
	printf("pair: producer CPU %d, consumer CPU %d, shared cache: %s%d\n", a, b,
	       level ? "L" : "none ", level);
	printf("ring: SPSC, %" PRIu64 " slots of %u bytes, burst %u, %" PRIu64 " messages per run, %d rounds\n",
	       cap, slot, burst, n, rounds);

	double *pin = calloc((size_t)rounds, sizeof(double));
	double *free_ = calloc((size_t)rounds, sizeof(double));

	if (!pin || !free_)
		return 1;
	for (int i = 0; i < rounds; i++) {
		for (int k = 0; k < 2; k++) {
			bool pinned = (i % 2 == 0) == (k == 1);
			double r = run_once(&p, n, burst, pinned ? a : -1, pinned ? b : -1);

			if (r < 0)
				return 1;
			(pinned ? pin : free_)[i] = r;
			printf("round %d %-8s %10.2f Mmsg/s\n", i, pinned ? "pinned" : "unpinned", r / 1e6);
			fflush(stdout);
		}
	}
	double mp = median(pin, rounds), mu = median(free_, rounds);

	printf("median pinned   %10.2f Mmsg/s\n", mp / 1e6);
	printf("median unpinned %10.2f Mmsg/s\n", mu / 1e6);
	printf("pinned/unpinned %10.2f\n", mp / mu);
	free(pin);
	free(free_);
	return 0;
}
