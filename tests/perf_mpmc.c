/* SPDX-License-Identifier: MIT */
/*
 * Development measurement of the MPMC ring next to the Vyukov reference
 * (bench/ref_vyukov.h), run side by side in one process: threads, 16-byte
 * payload. Not a test (no assertion on speed); the benchmark proper lives
 * in bench/.
 *
 *   perf_mpmc [messages] [capacity] [rounds]
 *   PERF_SOLO=1 perf_mpmc ...   one thread, push then pop: fast-path cost
 *   PERF_CAS=1 perf_mpmc ...    the ring without SHMRING_F_SOLO (every claim a
 *                               CAS); by default it is created with the claim mode
 *
 * Prints Mmsg/s per configuration and round, then the median.
 */

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmring/shmring.h>

#include "../bench/ref_vyukov.h"

struct msg {
	uint64_t a, b;
};

enum impl { SHM, SHM_BURST, VYK };
static const char *impl_name[] = { "shmring", "shmring-burst32", "vyukov" };

struct cfg {
	enum impl impl;
	int np, nc;
	uint64_t per_prod;
	struct shmring *ring;
	struct ref_vyukov *vq;
	_Atomic uint64_t popped;
	_Atomic int go;
};

struct targ {
	struct cfg *c;
	int id;
	int prod;
};

static void *worker(void *p)
{
	struct targ *a = p;
	struct cfg *c = a->c;
	struct shmring h;
	uint64_t total = c->per_prod * (uint64_t)c->np;
	struct msg buf[32];

	if (c->impl != VYK &&
	    shmring_dup(&h, c->ring, a->prod ? SHMRING_PRODUCER : SHMRING_CONSUMER) < 0) {
		fprintf(stderr, "dup: %s\n", shmring_errdetail());
		exit(1);
	}
	while (!atomic_load(&c->go))
		;
	if (a->prod) {
		uint64_t i = 0;

		while (i < c->per_prod) {
			if (c->impl == SHM_BURST) {
				uint64_t n = c->per_prod - i < 32 ? c->per_prod - i : 32;

				for (uint64_t j = 0; j < n; j++)
					buf[j] = (struct msg){ (uint64_t)a->id, i + j };
				int64_t k = shmring_mpmc_push_burst(&h, buf, n);

				if (k > 0)
					i += (uint64_t)k;
				else
					sched_yield();
				continue;
			}
			struct msg m = { (uint64_t)a->id, i };
			int r = c->impl == SHM ? shmring_mpmc_try_push(&h, &m) : ref_vyukov_push(c->vq, &m);

			if (r == 0)
				i++;
			else
				sched_yield();
		}
	} else {
		for (;;) {
			if (atomic_load_explicit(&c->popped, memory_order_relaxed) >= total)
				break;
			if (c->impl == SHM_BURST) {
				int64_t k = shmring_mpmc_pop_burst(&h, buf, 32);

				if (k > 0)
					atomic_fetch_add_explicit(&c->popped, (uint64_t)k, memory_order_relaxed);
				else
					sched_yield();
				continue;
			}
			struct msg m;
			int r = c->impl == SHM ? shmring_mpmc_try_pop(&h, &m) : ref_vyukov_pop(c->vq, &m);

			if (r == 0)
				atomic_fetch_add_explicit(&c->popped, 1, memory_order_relaxed);
			else
				sched_yield();
		}
	}
	if (c->impl != VYK)
		shmring_close(&h);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a loaded machine the solo figures count
 * only the time the thread ran. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double run(enum impl impl, int np, int nc, uint64_t per_prod, uint64_t cap)
{
	struct cfg c = { .impl = impl, .np = np, .nc = nc, .per_prod = per_prod };
	struct shmring ring;
	struct shmring_params prm;
	pthread_t th[64];
	struct targ ta[64];
	void *vmem = NULL;

	if (impl == VYK) {
		vmem = aligned_alloc(128, (ref_vyukov_size(cap, sizeof(struct msg)) + 127) & ~(size_t)127);
		c.vq = vmem;
		ref_vyukov_init(c.vq, cap, sizeof(struct msg));
	} else {
		shmring_params_init(&prm, SHMRING_MPMC, cap, sizeof(struct msg));
		prm.flags = getenv("PERF_CAS") ? 0 : SHMRING_F_SOLO;
		if (shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE) < 0) {
			fprintf(stderr, "create: %s\n", shmring_errdetail());
			exit(1);
		}
		c.ring = &ring;
	}
	int n = 0;

	for (int i = 0; i < np; i++, n++) {
		ta[n] = (struct targ){ &c, i, 1 };
		pthread_create(&th[n], NULL, worker, &ta[n]);
	}
	for (int i = 0; i < nc; i++, n++) {
		ta[n] = (struct targ){ &c, i, 0 };
		pthread_create(&th[n], NULL, worker, &ta[n]);
	}
	struct timespec ts = { 0, 20000000 };

	nanosleep(&ts, NULL);
	double t0 = now();

	atomic_store(&c.go, 1);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	double dt = now() - t0;

	if (impl == VYK)
		free(vmem);
	else
		shmring_close(&ring);
	return (double)(per_prod * (uint64_t)np) / dt / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One thread, push then pop, over and over: the instruction cost of the
 * fast path with no other party (min of `rounds`, ns per push+pop). */
static void solo(uint64_t n, uint64_t cap, int rounds)
{
	struct shmring ring, p, c;
	struct shmring_params prm;
	struct ref_vyukov *vq = aligned_alloc(128, (ref_vyukov_size(cap, sizeof(struct msg)) + 127) & ~(size_t)127);
	struct msg m = { 1, 2 }, b[32];
	double best[3] = { 1e9, 1e9, 1e9 };

	shmring_params_init(&prm, SHMRING_MPMC, cap, sizeof(struct msg));
	prm.flags = getenv("PERF_CAS") ? 0 : SHMRING_F_SOLO;
	if (shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE) < 0 ||
	    shmring_dup(&p, &ring, SHMRING_PRODUCER) < 0 || shmring_dup(&c, &ring, SHMRING_CONSUMER) < 0)
		exit(1);
	ref_vyukov_init(vq, cap, sizeof(struct msg));
	memset(b, 0, sizeof(b));
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_now();

		for (uint64_t i = 0; i < n; i++) {
			m.b = i;
			if (shmring_mpmc_try_push(&p, &m) || shmring_mpmc_try_pop(&c, &m))
				exit(2);
		}
		double t1 = cpu_now();

		for (uint64_t i = 0; i < n; i++) {
			m.b = i;
			if (ref_vyukov_push(vq, &m) || ref_vyukov_pop(vq, &m))
				exit(3);
		}
		double t2 = cpu_now();

		for (uint64_t i = 0; i < n / 32; i++) {
			if (shmring_mpmc_push_burst(&p, b, 32) != 32 || shmring_mpmc_pop_burst(&c, b, 32) != 32)
				exit(4);
		}
		double t3 = cpu_now();

		if ((t1 - t0) / n * 1e9 < best[0])
			best[0] = (t1 - t0) / n * 1e9;
		if ((t2 - t1) / n * 1e9 < best[1])
			best[1] = (t2 - t1) / n * 1e9;
		if ((t3 - t2) / (n / 32 * 32) * 1e9 < best[2])
			best[2] = (t3 - t2) / (n / 32 * 32) * 1e9;
	}
	printf("solo push+pop, one thread, CPU ns per message (min of %d): shmring %.1f, vyukov %.1f, shmring burst32 %.1f\n",
	       rounds, best[0], best[1], best[2]);
	shmring_close(&p);
	shmring_close(&c);
	shmring_close(&ring);
	free(vq);
}

int main(int argc, char **argv)
{
	uint64_t per = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	uint64_t cap = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	static const int shapes[][2] = { { 1, 1 }, { 2, 2 }, { 4, 4 } };
	double res[3][3][16];

	if (rounds > 16)
		rounds = 16;
	if (getenv("PERF_SOLO")) {
		solo(per, cap, rounds);
		return 0;
	}
	for (int r = 0; r < rounds; r++)
		for (int s = 0; s < 3; s++)
			for (int i = 0; i < 3; i++) {
				int np = shapes[s][0], nc = shapes[s][1];

				res[s][i][r] = run((enum impl)i, np, nc, per / (uint64_t)np, cap);
			}
	for (int s = 0; s < 3; s++)
		for (int i = 0; i < 3; i++) {
			qsort(res[s][i], (size_t)rounds, sizeof(double), cmp);
			printf("%dP%dC %-16s median %7.2f Mmsg/s  (min %.2f max %.2f)\n", shapes[s][0],
			       shapes[s][1], impl_name[i], res[s][i][rounds / 2], res[s][i][0],
			       res[s][i][rounds - 1]);
		}
	return 0;
}
