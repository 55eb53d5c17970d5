/* SPDX-License-Identifier: MIT */
/*
 * SPSC stress in two threads on one mapping, so that ThreadSanitizer sees
 * both sides of every access (it cannot see across processes). A plain
 * program rather than a Criterion test: Criterion's runner does not start
 * under ThreadSanitizer. Exit status 0 only if every message arrived once,
 * in order, intact.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "spsc_stress.h"

static void *producer_thread(void *arg)
{
	produce((struct job *)arg);
	return NULL;
}

static int run(uint64_t cap, uint64_t n, uint64_t init_pos)
{
	struct shmring p, c;
	struct shmring_params prm;
	pthread_t t;
	int ret;

	shmring_params_init(&prm, SHMRING_SPSC, cap, sizeof(struct t_msg));
	prm.flags = SHMRING_F_COUNTERS;
	prm.init_pos = init_pos;
	if ((ret = shmring_create_anon(&p, &prm, SHMRING_PRODUCER)) < 0 ||
	    (ret = shmring_dup(&c, &p, SHMRING_CONSUMER)) < 0) {
		fprintf(stderr, "set-up: %s (%s)\n", shmring_strerror(ret), shmring_errdetail());
		return 1;
	}
	if (c.map != p.map) {
		fprintf(stderr, "the handles do not share one mapping\n");
		return 1;
	}
	struct job pj = { .r = &p, .n = n, .id = 5 }, cj = { .r = &c, .n = n, .id = 5 };

	if (pthread_create(&t, NULL, producer_thread, &pj) != 0)
		return 1;
	consume(&cj);
	if (cj.error) {
		/* Let the producer finish: take the rest unchecked. */
		struct t_msg m;

		while (c.pos - init_pos < n)
			if (shmring_spsc_try_pop(&c, &m) == -EAGAIN)
				sched_yield();
	}
	pthread_join(t, NULL);
	printf("capacity %llu, %llu messages from position %llx: ", (unsigned long long)cap,
	       (unsigned long long)n, (unsigned long long)init_pos);
	if (pj.error || cj.error || cj.received != n) {
		printf("FAILED: %s at message %llu\n", pj.error ? pj.error : cj.error,
		       (unsigned long long)(pj.error ? pj.at : cj.at));
		return 1;
	}
	printf("ok\n");
	shmring_close(&c);
	shmring_close(&p);
	return 0;
}

int main(void)
{
	uint64_t n = t_scale(1000000);
	int bad = 0;

	bad |= run(1024, n, 0);
	/* Small rings across the 2^64 wrap, where full and empty alternate. */
	bad |= run(1, n / 20, UINT64_MAX - n / 40);
	bad |= run(4, n / 10, UINT64_MAX - n / 20);
	bad |= run(64, n / 10, (1ull << 32) - n / 20);
	return bad;
}
