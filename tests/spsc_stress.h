/* SPDX-License-Identifier: MIT */
/*
 * The SPSC stress loop, shared by the Criterion test (processes) and the
 * plain thread test (which runs under ThreadSanitizer, where Criterion's
 * runner cannot start). No Criterion here: errors are recorded in the job.
 */
#ifndef SHMRING_TESTS_SPSC_STRESS_H
#define SHMRING_TESTS_SPSC_STRESS_H

#include <errno.h>
#include <sched.h>
#include <shmring/shmring.h>

#include "msg.h"

#define BATCH 16

struct job {
	/* Written by the thread that runs the job, read after it is joined. */
	struct shmring *r;
	uint64_t n;
	uint64_t id;
	uint64_t received;
	const char *error;
	uint64_t at;
};

/* Spin a little, then let the other side run (2 cores, shared). */
static void backoff(unsigned *spins)
{
	if (++*spins < 64) {
		shmring_cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static void produce(struct job *j)
{
	struct shmring *p = j->r;
	struct t_msg m[BATCH];
	uint64_t i = 0;
	unsigned spins = 0, step = 0;

	while (i < j->n) {
		uint64_t left = j->n - i, want = 1 + step % BATCH;
		int64_t k;

		if (want > left)
			want = left;
		switch (step++ % 4) {
		case 0:
		case 1:
			t_msg_make(&m[0], j->id, i);
			k = shmring_spsc_try_push(p, &m[0]) == 0 ? 1 : 0;
			break;
		case 2:
			for (uint64_t x = 0; x < want; x++)
				t_msg_make(&m[x], j->id, i + x);
			k = shmring_spsc_push_burst(p, m, want);
			break;
		default: {
			uint64_t pos;

			k = shmring_spsc_reserve(p, want, &pos);
			for (int64_t x = 0; x < k; x++)
				t_msg_make((struct t_msg *)shmring_slot(p, pos + (uint64_t)x), j->id,
					   i + (uint64_t)x);
			if (k > 0)
				shmring_spsc_commit(p, (uint64_t)k);
		}
		}
		if (k < 0) {
			j->error = "producer got an error";
			j->at = i;
			return;
		}
		if (k == 0)
			backoff(&spins);
		i += (uint64_t)k;
	}
}

static int check(struct job *j, const struct t_msg *m)
{
	if (!t_msg_ok(m)) {
		j->error = "checksum mismatch (torn or corrupt message)";
	} else if (m->producer != j->id) {
		j->error = "wrong producer id";
	} else if (m->seq != j->received) {
		j->error = m->seq < j->received ? "duplicate or reordered message" : "lost message";
	} else {
		j->received++;
		return 0;
	}
	j->at = j->received;
	return -1;
}

static void consume(struct job *j)
{
	struct shmring *c = j->r;
	struct t_msg m[BATCH];
	unsigned spins = 0, step = 0;

	while (j->received < j->n) {
		int64_t k;

		switch (step++ % 3) {
		case 0:
			k = shmring_spsc_try_pop(c, &m[0]);
			if (k == 0 && check(j, &m[0]) < 0)
				return;
			k = k == 0 ? 1 : (k == -EAGAIN ? 0 : k);
			break;
		case 1:
			k = shmring_spsc_pop_burst(c, m, 1 + step % BATCH);
			for (int64_t x = 0; x < k; x++)
				if (check(j, &m[x]) < 0)
					return;
			break;
		default: {
			uint64_t pos;

			k = shmring_spsc_peek(c, 1 + step % BATCH, &pos);
			for (int64_t x = 0; x < k; x++)
				if (check(j, (const struct t_msg *)shmring_slot(c, pos + (uint64_t)x)) < 0)
					return;
			if (k > 0)
				shmring_spsc_release(c, (uint64_t)k);
		}
		}
		if (k < 0) {
			j->error = "consumer got an error";
			j->at = j->received;
			return;
		}
		if (k == 0)
			backoff(&spins);
	}
	/* Nothing more may come. */
	if (shmring_spsc_try_pop(c, &m[0]) != -EAGAIN) {
		j->error = "a message beyond the last one";
		j->at = j->received;
	}
}

#endif
