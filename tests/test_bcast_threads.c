/* SPDX-License-Identifier: MIT */
/*
 * Broadcast ring with threads (a plain program, so that it also runs
 * under ThreadSanitizer, where Criterion does not start): one producer,
 * three readers with their own handles. Lossless: every reader gets every
 * message once, in order. Lossy: every message read is intact, and each
 * loss reported is exactly the gap to the next message read.
 * Exit 0 on success.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmring/shmring.h>
#include <shmring/wait.h>

#define READERS 3
#define WORDS 7

struct tmsg {
	uint64_t seq;
	uint64_t w[WORDS];
};

struct reader {
	struct shmring r;
	uint64_t n;  /* messages to expect (the last is n - 1) */
	int lossy;
	int err;     /* 0, or what went wrong */
	uint64_t got, lost;
};

static SHMRING_ATOMIC(int) started;

static int intact(const struct tmsg *m)
{
	for (int i = 0; i < WORDS; i++)
		if (m->w[i] != m->seq * WORDS + (uint64_t)i)
			return 0;
	return 1;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct timespec dl;
	struct tmsg m;
	uint64_t next = 0;

	shmring_atomic_fetch_add(&started, 1, SHMRING_RELEASE);
	shmring_deadline_after(&dl, 60ull * 1000000000ull);
	while (next < rd->n) {
		int ret = shmring_bcast_read_wait(&rd->r, &m, &dl);

		if (ret == -EOVERFLOW && rd->lossy)
			continue; /* the next message read shows the gap */
		if (ret != 0) {
			rd->err = 2;
			return NULL;
		}
		uint64_t now = (uint64_t)shmring_bcast_lost(&rd->r);

		/* Every loss reported is exactly the gap to this message. */
		if (m.seq != next + (now - rd->lost) || !intact(&m)) {
			rd->err = 3;
			return NULL;
		}
		rd->lost = now;
		next = m.seq + 1;
		rd->got++;
	}
	if ((uint64_t)shmring_bcast_lost(&rd->r) != rd->lost)
		rd->err = 4;
	return NULL;
}

static int run(int lossy, uint64_t n)
{
	struct shmring p;
	struct shmring_params prm;
	struct reader rd[READERS];
	pthread_t th[READERS];
	struct timespec dl;
	int bad = 0;

	shmring_params_init(&prm, SHMRING_BROADCAST, 64, sizeof(struct tmsg));
	prm.flags = lossy ? SHMRING_F_LOSSY : 0;
	if (shmring_create_anon(&p, &prm, SHMRING_PRODUCER) != 0) {
		fprintf(stderr, "create: %s\n", shmring_errdetail());
		return 1;
	}
	shmring_atomic_store(&started, 0, SHMRING_RELAXED);
	for (int i = 0; i < READERS; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].n = n;
		rd[i].lossy = lossy;
		if (shmring_dup(&rd[i].r, &p, SHMRING_CONSUMER) != 0) {
			fprintf(stderr, "dup: %s\n", shmring_errdetail());
			return 1;
		}
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	while (shmring_atomic_load(&started, SHMRING_ACQUIRE) < READERS)
		;
	shmring_deadline_after(&dl, 60ull * 1000000000ull);
	for (uint64_t i = 0; i < n; i++) {
		struct tmsg m;

		m.seq = i;
		for (int j = 0; j < WORDS; j++)
			m.w[j] = i * WORDS + (uint64_t)j;
		if (shmring_bcast_push_wait(&p, &m, &dl) != 0) {
			fprintf(stderr, "push %llu failed\n", (unsigned long long)i);
			return 1;
		}
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		if (rd[i].err || (!lossy && (rd[i].got != n || rd[i].lost))) {
			fprintf(stderr, "%s reader %d: error %d, %llu read, %llu lost\n",
				lossy ? "lossy" : "lossless", i, rd[i].err, (unsigned long long)rd[i].got,
				(unsigned long long)rd[i].lost);
			bad = 1;
		}
		shmring_close(&rd[i].r);
	}
	shmring_close(&p);
	return bad;
}

int main(void)
{
	int bad = run(0, 20000);

	bad |= run(1, 20000);
	if (!bad)
		printf("broadcast threads: lossless and lossy ok\n");
	return bad;
}
