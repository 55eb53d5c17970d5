/* SPDX-License-Identifier: MIT */
/*
 * The thread variant of the lost-wakeup stress as a plain program, for
 * ThreadSanitizer: Criterion's runner cannot start under TSan ("Could not
 * initialize inheritable arena", Snaipe/Criterion#274), so suite 'tsan'
 * runs this instead of test_wait_threads. Same protocol: a producer and
 * a consumer thread, a 4-slot ring, random delays, sleep-at-once (light
 * and fence wakers) and spin-then-sleep, every message checked.
 * Exit status 0 on success.
 */
#include <pthread.h>
#include <shmring/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct msg {
	uint64_t seq, check;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 31);
}

static void delay(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	uint64_t x = *s & 1023;

	if (x >= 1000)
		usleep((useconds_t)(x & 15));
	else if (x >= 700)
		for (uint64_t i = 0; i < (x & 255); i++)
			shmring_cpu_relax();
}

struct side {
	struct shmring r;
	uint64_t n;
	int ret;
};

static void *consumer(void *a)
{
	struct side *c = (struct side *)a;
	uint64_t seed = 0xda942042e4dd58b5ull;
	struct msg m;

	for (uint64_t i = 0; i < c->n; i++) {
		if (shmring_spsc_pop_wait(&c->r, &m, NULL) || m.seq != i || m.check != mix(i)) {
			fprintf(stderr, "consumer: message %llu wrong\n", (unsigned long long)i);
			c->ret = 1;
			return NULL;
		}
		delay(&seed);
	}
	c->ret = shmring_spsc_try_pop(&c->r, &m) == -EAGAIN ? 0 : 1;
	return NULL;
}

static int run(uint32_t mode, uint32_t flags, uint64_t n)
{
	struct shmring_params prm;
	struct shmring_wait_policy pol = { .mode = mode, .flags = flags };
	struct shmring p;
	struct side c = { .n = n, .ret = -1 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	pthread_t th;
	int ret = 0;

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct msg));
	if (shmring_create_anon(&p, &prm, SHMRING_PRODUCER) || shmring_dup(&c.r, &p, SHMRING_CONSUMER))
		return 1;
	shmring_wait_policy_set(&p, &pol);
	shmring_wait_policy_set(&c.r, &pol);
	if (pthread_create(&th, NULL, consumer, &c))
		return 1;
	for (uint64_t i = 0; i < n && !ret; i++) {
		struct msg m = { i, mix(i) };

		ret = shmring_spsc_push_wait(&p, &m, NULL) ? 1 : 0;
		delay(&seed);
	}
	pthread_join(th, NULL);
	printf("mode %u flags %u: %llu messages, consumer slept %llu times\n", mode, flags,
	       (unsigned long long)n,
	       (unsigned long long)shmring_atomic_load(&p.ctrl->cons_stats.sleeps, SHMRING_RELAXED));
	shmring_close(&c.r);
	shmring_close(&p);
	return ret || c.ret;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
	const char *scale = getenv("SHMRING_STRESS_SCALE");

	if (scale && strtoull(scale, NULL, 10) > 1)
		n *= strtoull(scale, NULL, 10);
	if (run(SHMRING_WAIT_SLEEP, SHMRING_WAIT_F_LIGHT, n) || run(SHMRING_WAIT_SLEEP, 0, n) ||
	    run(SHMRING_WAIT_SPIN_SLEEP, 0, n))
		return 1;
	return 0;
}
