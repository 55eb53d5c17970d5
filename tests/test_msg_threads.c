/* SPDX-License-Identifier: MIT */
/*
 * Message ring stress in threads on one mapping, so that ThreadSanitizer
 * sees every access of both sides (it cannot see across processes): one
 * producer thread (MSG_SPSC), then four (MSG_MPSC, with aborts), random
 * sizes, every byte and each producer's order checked by the consumer.
 * A plain program (Criterion's runner does not start under TSan); exit
 * status 0 only if every message arrived once, in order, intact.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/shmring.h>

#define MAX 600u
#define NPROD 4

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Message `seq` of producer `id`: 16 bytes of (id, seq), then bytes from both. */
static uint32_t make(unsigned char *b, uint64_t id, uint64_t seq)
{
	uint32_t len = 16 + (uint32_t)(mix(id * 7919 + seq) % (MAX - 15));
	uint64_t h[2] = { id, seq };

	memcpy(b, h, 16);
	for (uint32_t i = 16; i < len; i++)
		b[i] = (unsigned char)mix(id ^ (seq << 16) ^ i);
	return len;
}

struct job {
	struct shmring *base;
	uint64_t id, n;
	int failed;
};

static void *producer(void *arg)
{
	struct job *j = arg;
	struct shmring q;
	unsigned char b[MAX];

	if (shmring_dup(&q, j->base, SHMRING_PRODUCER)) {
		j->failed = 1;
		return NULL;
	}
	for (uint64_t i = 0; i < j->n; i++) {
		uint32_t len = make(b, j->id, i);
		void *w;
		int ret;

		if (i % 7 == 3) { /* an aborted attempt first */
			while ((ret = shmring_msg_reserve(&q, len, &w)) == -EAGAIN)
				sched_yield();
			if (ret) {
				j->failed = 1;
				break;
			}
			memset(w, 0xee, len);
			shmring_msg_abort(&q);
		}
		if (i % 2) {
			while ((ret = shmring_msg_push(&q, b, len)) == -EAGAIN)
				sched_yield();
		} else {
			while ((ret = shmring_msg_reserve(&q, len, &w)) == -EAGAIN)
				sched_yield();
			if (!ret) {
				memcpy(w, b, len);
				ret = shmring_msg_commit(&q);
			}
		}
		if (ret) {
			j->failed = 1;
			break;
		}
	}
	shmring_close(&q);
	return NULL;
}

static int run(uint32_t type, int nprod, uint64_t per, uint64_t init_pos)
{
	struct shmring base, c;
	struct shmring_params prm;
	struct job jobs[NPROD];
	pthread_t t[NPROD];
	uint64_t next[NPROD] = { 0 };
	unsigned char b[MAX], want[MAX];
	int bad = 0;

	shmring_params_init(&prm, type, 8192, MAX);
	prm.init_pos = init_pos;
	if (shmring_create_anon(&base, &prm, SHMRING_ROLE_NONE) ||
	    shmring_dup(&c, &base, SHMRING_CONSUMER)) {
		fprintf(stderr, "set-up: %s\n", shmring_errdetail());
		return 1;
	}
	for (int k = 0; k < nprod; k++) {
		jobs[k] = (struct job){ .base = &base, .id = (uint64_t)k, .n = per };
		pthread_create(&t[k], NULL, producer, &jobs[k]);
	}
	for (uint64_t got = 0; got < per * (uint64_t)nprod && !bad; got++) {
		const void *p = NULL;
		int n;
		uint64_t h[2];

		while ((n = (got & 1) ? shmring_msg_peek(&c, &p) : shmring_msg_pop(&c, b, MAX)) == -EAGAIN)
			sched_yield();
		if (n < 16) {
			fprintf(stderr, "message %llu: %d\n", (unsigned long long)got, n);
			bad = 1;
			break;
		}
		if (got & 1) {
			memcpy(b, p, (size_t)n);
			shmring_msg_release(&c);
		}
		memcpy(h, b, 16);
		if (h[0] >= (uint64_t)nprod || h[1] != next[h[0]] ||
		    (uint32_t)n != make(want, h[0], h[1]) || memcmp(b, want, (size_t)n)) {
			fprintf(stderr, "message %llu: producer %llu seq %llu (expected %llu), length %d\n",
				(unsigned long long)got, (unsigned long long)h[0], (unsigned long long)h[1],
				h[0] < NPROD ? (unsigned long long)next[h[0]] : 0ull, n);
			bad = 1;
			break;
		}
		next[h[0]]++;
	}
	for (int k = 0; k < nprod; k++) {
		pthread_join(t[k], NULL);
		bad |= jobs[k].failed;
	}
	if (!bad && shmring_msg_pop(&c, b, MAX) != -EAGAIN) {
		fprintf(stderr, "a message too many\n");
		bad = 1;
	}
	shmring_close(&c);
	shmring_close(&base);
	return bad;
}

int main(void)
{
	const char *s = getenv("SHMRING_STRESS_SCALE");
	uint64_t k = s ? strtoull(s, NULL, 10) : 1;
	uint64_t n = 50000 * (k ? k : 1);
	int bad = 0;

	bad |= run(SHMRING_MSG_SPSC, 1, n, 0);
	bad |= run(SHMRING_MSG_SPSC, 1, n / 4, UINT64_MAX - 20000);
	bad |= run(SHMRING_MSG_MPSC, NPROD, n / NPROD, 0);
	bad |= run(SHMRING_MSG_MPSC, NPROD, n / NPROD, UINT64_MAX - 20000);
	printf("%s\n", bad ? "FAIL" : "ok");
	return bad;
}
