/* SPDX-License-Identifier: MIT */
/*
 * MPMC with threads, each with its own handle: a plain program (exit
 * status 0 is a pass) so that it also runs under ThreadSanitizer, where
 * Criterion's runner cannot start.
 *
 *  1. 4 producers x 4 consumers, every message checked (mpmc_stress.h).
 *  2. Owner-stamp variant: reserve/commit and peek/release, each claimed
 *     slot stamped by its claimer and checked after a yield.
 *  3. Oversubscribed: 8 producers + 8 consumers pinned to 2 CPUs with
 *     random yields, and a watchdog thread that fails the run if the
 *     message count stops moving for a long time (stall detection only,
 *     no timing assertion).
 * Positions start just below 2^64, so every run crosses the wrap.
 */
/* Ask for the claim mode after 8 uncontended claims, not 1024: the mode
 * moves between endpoints far more often than in use (mpmc.h). */
#define SHMRING_MPMC_SOLO_RUN 8u

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mpmc_stress.h"

struct targ {
	struct ms_shared *s;
	struct shmring *ring;
	uint64_t id;
	int producer;
	int pin;
};

static void *worker(void *p)
{
	struct targ *a = p;
	struct shmring h;

	if (a->pin) {
		cpu_set_t set, mine;

		/* The first two CPUs this process may use. */
		CPU_ZERO(&set);
		if (sched_getaffinity(0, sizeof(mine), &mine) == 0) {
			int n = 0;

			for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
				if (CPU_ISSET(c, &mine)) {
					CPU_SET(c, &set);
					n++;
				}
			pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		}
	}
	if (shmring_dup(&h, a->ring, a->producer ? SHMRING_PRODUCER : SHMRING_CONSUMER) < 0) {
		ms_fail(a->s, "dup", a->id, 0);
		return NULL;
	}
	if (a->producer)
		ms_produce(a->s, &h, a->ring, a->id);
	else
		ms_consume(a->s, &h, a->ring, a->id);
	shmring_close(&h);
	return NULL;
}

struct watch {
	struct ms_shared *s;
	_Atomic int done;
	unsigned stall_s;
};

static void *watchdog(void *p)
{
	struct watch *w = p;
	uint64_t last = UINT64_MAX;
	unsigned still = 0;

	while (!atomic_load(&w->done)) {
		sleep(1);
		uint64_t now = atomic_load(&w->s->progress);

		still = now == last ? still + 1 : 0;
		last = now;
		if (still >= w->stall_s) {
			ms_fail(w->s, "no progress (seconds, messages)", still, now);
			return NULL;
		}
	}
	return NULL;
}

static int run(const char *what, int np, int nc, uint64_t per, uint64_t cap, uint32_t yield_mask,
	       int stamp, int pin, uint32_t churn)
{
	struct shmring ring;
	struct shmring_params prm;
	struct ms_shared *s = calloc(1, ms_size((uint32_t)np, per));
	pthread_t th[64], wd;
	struct targ ta[64];
	struct watch w = { .s = s, .stall_s = 60 };
	int ret;

	s->per = per;
	s->producers = (uint32_t)np;
	s->yield_mask = yield_mask;
	s->stamp = (uint32_t)stamp;
	s->churn = churn;
	shmring_params_init(&prm, SHMRING_MPMC, cap, sizeof(struct ms_msg));
	prm.init_pos = UINT64_MAX - per; /* crosses 2^64 early on */
	/* The claim mode (opt-in) where endpoints come and go. */
	prm.flags = SHMRING_F_COUNTERS | (churn ? SHMRING_F_SOLO : 0);
	if (shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE) < 0) {
		fprintf(stderr, "%s: create: %s\n", what, shmring_errdetail());
		return -1;
	}
	pthread_create(&wd, NULL, watchdog, &w);
	for (int i = 0; i < np + nc; i++) {
		ta[i] = (struct targ){ s, &ring, (uint64_t)(i < np ? i : i - np), i < np, pin };
		pthread_create(&th[i], NULL, worker, &ta[i]);
	}
	for (int i = 0; i < np + nc; i++)
		pthread_join(th[i], NULL);
	atomic_store(&w.done, 1);
	pthread_join(wd, NULL);
	ret = ms_check(s);
	printf("%s: %dP%dC, %llu messages, capacity %llu, claim mode granted %llu/%llu and taken back %llu/%llu times (producers/consumers): %s%s\n",
	       what, np, nc, (unsigned long long)(per * (uint64_t)np), (unsigned long long)cap,
	       (unsigned long long)ring.ctrl->prod_stats.solo_grants,
	       (unsigned long long)ring.ctrl->cons_stats.solo_grants,
	       (unsigned long long)ring.ctrl->prod_stats.solo_revokes,
	       (unsigned long long)ring.ctrl->cons_stats.solo_revokes, ret ? "FAILED: " : "ok",
	       ret ? s->why : "");
	shmring_close(&ring);
	free(s);
	return ret;
}

int main(void)
{
	const char *e = getenv("SHMRING_STRESS_SCALE");
	uint64_t k = e ? strtoull(e, NULL, 10) : 1;
	int bad = 0;

	if (!k)
		k = 1;
	bad |= run("threads", 4, 4, k * 50000, 64, 0, 0, 0, 0);
	bad |= run("threads, small ring", 4, 4, k * 20000, 8, 63, 0, 0, 0);
	bad |= run("owner stamps", 4, 4, k * 20000, 16, 7, 1, 0, 0);
	bad |= run("oversubscribed on 2 CPUs", 8, 8, k * 10000, 32, 15, 0, 1, 0);
	bad |= run("endpoints leaving, coming back and pausing", 3, 3, k * 20000, 64, 0, 0, 1, 256);
	return bad ? 1 : 0;
}
