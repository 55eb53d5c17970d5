/* SPDX-License-Identifier: MIT */
/*
 * spsc_hello: a tour of the SPSC ring between two processes.
 *
 * The parent creates a named ring and is its producer; a fork()ed child
 * opens the same ring by name as the consumer. The producer sends 4096
 * quotes in four ways (one at a time, bursts, all-or-nothing bulks, and
 * zero copy), the consumer takes them in four ways of its own and checks
 * that every quote arrives once, in order, intact. Then both close and
 * the parent removes the name.
 *
 * The try_* calls never block: -EAGAIN means full (push) or empty (pop),
 * and this example simply yields and tries again. examples/wait_blocking.c
 * shows the blocking calls that sleep instead.
 *
 * Build against the installed library:
 *   cc -std=c11 spsc_hello.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h> /* lifecycle and errors; brings spsc.h, the fast path */

/* What travels through the ring: one fixed-size slot per quote. */
struct quote {
	uint64_t seq;  /* 0, 1, 2, ... in the order the producer sent them */
	int64_t price; /* in hundredths; derived from seq so the consumer can check it */
	char symbol[16];
};

#define PHASE 1024       /* quotes sent (and taken) in each of the four ways */
#define TOTAL (4 * PHASE)

/* Every function returns 0 or a count, or a negative errno; the detail
 * says which argument or field was wrong. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "spsc_hello: %s: %s (%s)\n", what, shmring_strerror(err),
		shmring_errdetail());
	return 1;
}

static void quote_fill(struct quote *q, uint64_t seq)
{
	memset(q, 0, sizeof(*q));
	q->seq = seq;
	q->price = 10000 + (int64_t)(seq % 500);
	snprintf(q->symbol, sizeof(q->symbol), "SYM%u", (unsigned)(seq % 7));
}

/* The consumer's check: quote number `seq` is the one quote_fill made. */
static int quote_ok(const struct quote *q, uint64_t seq)
{
	struct quote want;

	quote_fill(&want, seq);
	return q->seq == want.seq && q->price == want.price &&
	       strcmp(q->symbol, want.symbol) == 0;
}

/* ---- the producer: the parent process ---- */

static int produce(struct shmring *prod)
{
	struct quote batch[32];
	uint64_t seq = 0;
	int64_t k;

	/* 1. One at a time: copy a quote into the next slot; -EAGAIN: full. */
	while (seq < PHASE) {
		struct quote q;
		quote_fill(&q, seq);
		int ret = shmring_spsc_try_push(prod, &q);
		if (ret == 0)
			seq++;
		else if (ret == -EAGAIN)
			sched_yield(); /* the consumer has not caught up: try again */
		else
			return fail("shmring_spsc_try_push", ret);
	}

	/* 2. Burst: push as many of 32 as fit, with one publication. */
	while (seq < 2 * PHASE) {
		for (int i = 0; i < 32; i++)
			quote_fill(&batch[i], seq + (uint64_t)i);
		k = shmring_spsc_push_burst(prod, batch, 32);
		if (k < 0)
			return fail("shmring_spsc_push_burst", (int)k);
		if (k == 0)
			sched_yield();
		seq += (uint64_t)k; /* the ones that did not fit go again */
	}

	/* 3. Bulk: all 16 or none (-EAGAIN), never part of them. */
	while (seq < 3 * PHASE) {
		for (int i = 0; i < 16; i++)
			quote_fill(&batch[i], seq + (uint64_t)i);
		k = shmring_spsc_push_bulk(prod, batch, 16);
		if (k == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (k < 0)
			return fail("shmring_spsc_push_bulk", (int)k);
		seq += 16;
	}

	/* 4. Zero copy: reserve slots, write the quotes in place, commit.
	 * Nothing is visible to the consumer before the commit. */
	while (seq < TOTAL) {
		uint64_t pos;

		k = shmring_spsc_reserve(prod, TOTAL - seq < 64 ? TOTAL - seq : 64, &pos);
		if (k < 0)
			return fail("shmring_spsc_reserve", (int)k);
		for (int64_t i = 0; i < k; i++)
			quote_fill(shmring_slot(prod, pos + (uint64_t)i), seq + (uint64_t)i);
		shmring_spsc_commit(prod, (uint64_t)k);
		if (k == 0)
			sched_yield();
		seq += (uint64_t)k;
	}
	return 0;
}

/* ---- the consumer: the child process ---- */

static int consume(const char *name)
{
	struct quote batch[32];
	uint64_t seq = 0;
	int64_t k;

	alarm(30); /* a timer is not inherited over fork(): set our own */

	/* A handle belongs to the process that opened it: the producer
	 * handle this child inherited from fork() is refused (-EBADF), so
	 * the child opens the ring itself. NULL options: any ring type,
	 * mode 0600 at most, wait up to 1 s for a creator still at work. */
	struct shmring cons;
	int ret = shmring_open(&cons, name, SHMRING_CONSUMER, NULL);
	if (ret < 0)
		return fail("shmring_open", ret);

	/* 1. One at a time: copy the oldest quote out; -EAGAIN: empty. */
	while (seq < PHASE) {
		struct quote q;
		ret = shmring_spsc_try_pop(&cons, &q);
		if (ret == 0 && quote_ok(&q, seq))
			seq++;
		else if (ret == -EAGAIN)
			sched_yield();
		else
			return fail("shmring_spsc_try_pop", ret < 0 ? ret : -EPROTO);
	}

	/* 2. Burst: take up to 32 of what is there. */
	while (seq < 2 * PHASE) {
		k = shmring_spsc_pop_burst(&cons, batch, 2 * PHASE - seq < 32 ? 2 * PHASE - seq : 32);
		if (k < 0)
			return fail("shmring_spsc_pop_burst", (int)k);
		if (k == 0)
			sched_yield();
		for (int64_t i = 0; i < k; i++, seq++)
			if (!quote_ok(&batch[i], seq))
				return fail("quote check", -EPROTO);
	}

	/* 3. Bulk: exactly 16, or -EAGAIN while fewer are there. */
	while (seq < 3 * PHASE) {
		k = shmring_spsc_pop_bulk(&cons, batch, 16);
		if (k == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (k < 0)
			return fail("shmring_spsc_pop_bulk", (int)k);
		for (int64_t i = 0; i < k; i++, seq++)
			if (!quote_ok(&batch[i], seq))
				return fail("quote check", -EPROTO);
	}

	/* 4. Zero copy: peek at up to 64 quotes, read them in place, then
	 * release the slots to the producer. */
	while (seq < TOTAL) {
		uint64_t pos;

		k = shmring_spsc_peek(&cons, 64, &pos);
		if (k < 0)
			return fail("shmring_spsc_peek", (int)k);
		if (k == 0)
			sched_yield();
		for (int64_t i = 0; i < k; i++, seq++)
			if (!quote_ok(shmring_slot(&cons, pos + (uint64_t)i), seq))
				return fail("quote check", -EPROTO);
		shmring_spsc_release(&cons, (uint64_t)k);
	}

	printf("consumer: %u quotes, in order and intact\n", (unsigned)seq);
	fflush(stdout); /* the child leaves with _exit(), which does not flush */
	shmring_close(&cons);
	return 0;
}

int main(void)
{
	/* Names live in /dev/shm, shared by every process of the machine:
	 * make this one unique. */
	char name[64];
	snprintf(name, sizeof(name), "/shmring-hello-%d", (int)getpid());

	/* Try calls never wait: if the other process dies, the survivor
	 * would spin on -EAGAIN forever. Give the whole run 30 s. */
	alarm(30);

	/* Create a ring of 1024 slots, each one struct quote, and attach to
	 * it as the producer. The name appears only once the ring is whole. */
	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct quote));
	struct shmring prod;
	int ret = shmring_create(&prod, name, &prm, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_create", ret);

	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		shmring_close(&prod);
		shmring_unlink(name);
		return 1;
	}
	if (child == 0)
		_exit(consume(name));

	int bad = produce(&prod);
	if (bad)
		kill(child, SIGTERM); /* it would wait for quotes that never come */
	int status = 0;
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bad = 1;

	/* Close the handle, then remove the name: processes still attached
	 * keep the ring until they close it too. */
	shmring_close(&prod);
	shmring_unlink(name);
	printf("producer: %u quotes sent; %s\n", (unsigned)TOTAL, bad ? "FAILED" : "ok");
	return bad;
}
