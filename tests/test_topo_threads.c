/* SPDX-License-Identifier: MIT */
/*
 * The process topology is loaded once, lazily, by whichever thread asks
 * first: threads racing on the first use all get the same topology and
 * consistent answers (run under ThreadSanitizer in suite 'tsan').
 * A plain program: exit status 0 is a pass.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmring/shmring.h>
#include <shmring/topo.h>

#define THREADS 4

static pthread_barrier_t start;
static struct shmring ring;

struct result {
	struct shmring_topo *t;
	int cpus, a, b, level, node;
	char desc[256];
};

static void *worker(void *arg)
{
	struct result *res = arg;
	struct shmring_placement pl;

	pthread_barrier_wait(&start);
	if (shmring_topo_get(&res->t) != 0)
		return (void *)1;
	res->cpus = shmring_topo_cpu_count(NULL);
	res->level = shmring_topo_pick_pair(NULL, 0, &res->a, &res->b);
	if (shmring_topo_describe(NULL, res->desc, sizeof(res->desc)) < 0)
		return (void *)2;
	if (shmring_placement_query(&ring, &pl) != 0)
		return (void *)3;
	res->node = pl.node;
	return NULL;
}

int main(void)
{
	pthread_t th[THREADS];
	struct result res[THREADS];
	struct shmring_params p;
	int ret;

	if (!shmring_topo_available()) {
		printf("built without hwloc: nothing to check\n");
		return 0;
	}
	shmring_params_init(&p, SHMRING_SPSC, 1024, 8);
	ret = shmring_create_anon(&ring, &p, SHMRING_PRODUCER);
	if (ret < 0) {
		fprintf(stderr, "create: %s\n", shmring_errdetail());
		return 1;
	}
	memset(res, 0, sizeof(res));
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, &res[i]);
	for (int i = 0; i < THREADS; i++) {
		void *rv;

		pthread_join(th[i], &rv);
		if (rv) {
			fprintf(stderr, "thread %d failed at step %ld: %s\n", i, (long)(intptr_t)rv,
				shmring_errdetail());
			return 1;
		}
	}
	for (int i = 1; i < THREADS; i++) {
		if (res[i].t != res[0].t || res[i].cpus != res[0].cpus || res[i].a != res[0].a ||
		    res[i].b != res[0].b || res[i].level != res[0].level ||
		    res[i].node != res[0].node || strcmp(res[i].desc, res[0].desc)) {
			fprintf(stderr, "thread %d disagrees with thread 0\n", i);
			return 1;
		}
	}
	if (res[0].cpus < 1 || res[0].node < 0) {
		fprintf(stderr, "implausible: %d CPUs, node %d\n", res[0].cpus, res[0].node);
		return 1;
	}
	printf("%d threads agree: %s\n", THREADS, res[0].desc);
	shmring_close(&ring);
	return 0;
}
