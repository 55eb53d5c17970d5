/* SPDX-License-Identifier: MIT */
/*
 * Ring set under threads, for ThreadSanitizer (a plain program: Criterion's
 * runner does not start under TSan). Three consumer threads poll and wait
 * on one set while producer threads stream into their own SPSC rings and
 * another thread keeps adding and removing members. Every message is
 * checked: per-producer order, checksum, count. Exit status 0 is a pass.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmring/set.h>
#include <shmring/wait.h>

#define TP 4
#define TC 3

struct tmsg {
	uint64_t producer, seq, check;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct ctx {
	struct shmring_set *s;
	struct shmring prod[TP];
	uint64_t per;
	uint64_t next[TP]; /* serialised by the member's busy flag */
	SHMRING_ATOMIC(uint64_t) total;
	SHMRING_ATOMIC(uint64_t) bad;
	SHMRING_ATOMIC(uint64_t) churned;
	SHMRING_ATOMIC(int) done;
};

struct parg {
	struct ctx *t;
	int id;
};

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); exit(1); } while (0)

static int check(void *arg, const struct shmring_set_msg *m)
{
	struct ctx *t = arg;
	struct tmsg x;

	memcpy(&x, m->data, sizeof(x));
	if (x.producer >= TP || x.check != mix(x.producer * 1000003u ^ x.seq) ||
	    x.seq != t->next[x.producer] || m->tag != x.producer)
		shmring_atomic_fetch_add(&t->bad, 1, SHMRING_RELAXED);
	else
		t->next[x.producer]++;
	shmring_atomic_fetch_add(&t->total, 1, SHMRING_RELAXED);
	return 0;
}

static void *producer(void *arg)
{
	struct parg *a = arg;
	struct tmsg m;

	for (uint64_t q = 0; q < a->t->per; q++) {
		m.producer = (uint64_t)a->id;
		m.seq = q;
		m.check = mix(m.producer * 1000003u ^ q);
		if (shmring_spsc_push_wait(&a->t->prod[a->id], &m, NULL) < 0)
			FAIL("push_wait failed\n");
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct ctx *t = arg;

	while (!shmring_atomic_load(&t->done, SHMRING_ACQUIRE)) {
		struct timespec dl;

		if (shmring_set_poll(t->s, 16, check, t) > 0)
			continue;
		shmring_deadline_after(&dl, 2 * 1000000ull);
		shmring_set_wait(t->s, &dl);
	}
	return NULL;
}

static void *churn(void *arg)
{
	struct ctx *t = arg;
	struct shmring_params p;

	shmring_params_init(&p, SHMRING_SPSC, 64, sizeof(struct tmsg));
	while (!shmring_atomic_load(&t->done, SHMRING_ACQUIRE)) {
		struct shmring pr, co;
		int id;

		if (shmring_create_anon(&pr, &p, SHMRING_PRODUCER) < 0 ||
		    shmring_dup(&co, &pr, SHMRING_CONSUMER) < 0)
			FAIL("churn: create\n");
		id = shmring_set_add(t->s, &co, 99);
		if (id < 0 || shmring_set_remove(t->s, (uint32_t)id) < 0)
			FAIL("churn: add/remove\n");
		shmring_close(&pr);
		shmring_atomic_fetch_add(&t->churned, 1, SHMRING_RELAXED);
	}
	return NULL;
}

int main(void)
{
	struct ctx *t = calloc(1, sizeof(*t));
	struct shmring_params p;
	pthread_t pt[TP], ct[TC], ch;
	struct parg pa[TP];
	const char *sc = getenv("SHMRING_STRESS_SCALE");

	t->per = 20000 * (sc && atoi(sc) > 0 ? (uint64_t)atoi(sc) : 1);
	shmring_params_init(&p, SHMRING_SPSC, 64, sizeof(struct tmsg));
	if (shmring_set_create(&t->s, NULL, 0) < 0)
		FAIL("set_create: %s\n", shmring_errdetail());
	for (int i = 0; i < TP; i++) {
		struct shmring co;

		if (shmring_create_anon(&t->prod[i], &p, SHMRING_PRODUCER) < 0 ||
		    shmring_dup(&co, &t->prod[i], SHMRING_CONSUMER) < 0 ||
		    shmring_set_add(t->s, &co, (uint64_t)i) < 0)
			FAIL("setup\n");
		shmring_set_link_producer(t->s, &t->prod[i]);
		pa[i] = (struct parg){ t, i };
	}
	for (int i = 0; i < TC; i++)
		pthread_create(&ct[i], NULL, consumer, t);
	pthread_create(&ch, NULL, churn, t);
	for (int i = 0; i < TP; i++)
		pthread_create(&pt[i], NULL, producer, &pa[i]);
	for (int i = 0; i < TP; i++)
		pthread_join(pt[i], NULL);
	while (shmring_atomic_load(&t->total, SHMRING_RELAXED) < t->per * TP &&
	       !shmring_atomic_load(&t->bad, SHMRING_RELAXED))
		usleep(1000);
	shmring_atomic_store(&t->done, 1, SHMRING_RELEASE);
	for (int i = 0; i < TC; i++)
		pthread_join(ct[i], NULL);
	pthread_join(ch, NULL);
	uint64_t bad = shmring_atomic_load(&t->bad, SHMRING_RELAXED);
	uint64_t total = shmring_atomic_load(&t->total, SHMRING_RELAXED);

	printf("set_threads: %llu messages from %d producers, %d consumer threads, %llu member add/remove cycles, %llu bad\n",
	       (unsigned long long)total, TP, TC,
	       (unsigned long long)shmring_atomic_load(&t->churned, SHMRING_RELAXED),
	       (unsigned long long)bad);
	if (bad || total != t->per * TP)
		return 1;
	for (int i = 0; i < TP; i++)
		if (t->next[i] != t->per)
			return 1;
	shmring_set_destroy(t->s);
	for (int i = 0; i < TP; i++)
		shmring_close(&t->prod[i]);
	free(t);
	return 0;
}
