/* SPDX-License-Identifier: MIT */
/*
 * msg_records: variable-length messages through a message ring.
 *
 * A message ring (SHMRING_MSG_SPSC here; SHMRING_MSG_MPSC takes any
 * number of producers) carries records of 0 bytes up to a maximum set
 * at create, each one contiguous in shared memory, like datagrams on a
 * SOCK_SEQPACKET socket but with no system call and no copy unless you
 * ask for one.
 *
 * A child process sends 5000 records of 0 to 3000 bytes, alternately by
 * copy (push) and in place (reserve, write, commit). The parent takes
 * them alternately by copy (pop) and in place (peek, read, release), and
 * checks every byte. Both use the blocking forms, which sleep while the
 * ring is full or empty.
 *
 * Build against the installed library:
 *   cc -std=c11 msg_records.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h> /* brings msg.h: the message ring */
#include <shmring/wait.h>    /* shmring_deadline_after */

#define RECORDS 5000
#define MAX_LEN 4096         /* largest message the ring accepts */
#define WAIT_NS 5000000000ull /* 5 s: longest any one call may wait */

static int fail(const char *what, int err)
{
	fprintf(stderr, "msg_records: %s: %s (%s)\n", what, shmring_strerror(err),
		shmring_errdetail());
	return 1;
}

/* Record i: its length, and its bytes (the consumer computes both again). */
static uint32_t rec_len(uint32_t i)
{
	return (i * 37u) % 3001u; /* 0 .. 3000 bytes */
}

static void rec_fill(unsigned char *p, uint32_t i)
{
	for (uint32_t j = 0; j < rec_len(i); j++)
		p[j] = (unsigned char)(i * 7u + j);
}

static int rec_ok(const unsigned char *p, int len, uint32_t i)
{
	if (len < 0 || (uint32_t)len != rec_len(i))
		return 0;
	for (uint32_t j = 0; j < (uint32_t)len; j++)
		if (p[j] != (unsigned char)(i * 7u + j))
			return 0;
	return 1;
}

/* The producer: a child process. */
static int produce(const char *name)
{
	struct shmring prod;
	int ret = shmring_open(&prod, name, SHMRING_PRODUCER, NULL);
	if (ret < 0)
		return fail("shmring_open", ret);

	unsigned char buf[MAX_LEN];
	for (uint32_t i = 0; i < RECORDS; i++) {
		struct timespec deadline;
		shmring_deadline_after(&deadline, WAIT_NS);

		if (i % 2 == 0) {
			/* Copy: build the record in our buffer, push a copy.
			 * The *_wait form sleeps while the ring is full and
			 * wakes the consumer if it sleeps. */
			rec_fill(buf, i);
			ret = shmring_msg_push_wait(&prod, buf, rec_len(i), &deadline);
			if (ret < 0)
				return fail("shmring_msg_push_wait", ret);
		} else {
			/* In place: reserve room for the record in the ring,
			 * write it there, commit. The consumer sees nothing
			 * until the commit (shmring_msg_abort drops it). */
			void *w;
			ret = shmring_msg_reserve_wait(&prod, rec_len(i), &w, &deadline);
			if (ret < 0)
				return fail("shmring_msg_reserve_wait", ret);
			rec_fill(w, i);
			shmring_msg_commit(&prod);
			shmring_msg_wake(&prod); /* commit never wakes: this does */
		}
	}
	shmring_close(&prod);
	return 0;
}

int main(void)
{
	char name[64];
	snprintf(name, sizeof(name), "/shmring-msg-%d", (int)getpid());

	/* 64 KiB of records (the capacity of a message ring is in bytes),
	 * none longer than MAX_LEN. The parent is the consumer. */
	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_MSG_SPSC, 64 * 1024, MAX_LEN);
	struct shmring cons;
	int ret = shmring_create(&cons, name, &prm, SHMRING_CONSUMER);
	if (ret < 0)
		return fail("shmring_create", ret);

	pid_t child = fork();
	if (child == 0)
		_exit(produce(name));

	int bad = child < 0;
	uint64_t bytes = 0;
	unsigned char buf[MAX_LEN];
	for (uint32_t i = 0; i < RECORDS && !bad; i++) {
		struct timespec deadline;
		shmring_deadline_after(&deadline, WAIT_NS);

		if (i % 2 == 0) {
			/* Copy out: returns the length (-EMSGSIZE if buf is too
			 * small: the record stays in the ring). */
			int n = shmring_msg_pop_wait(&cons, buf, sizeof(buf), &deadline);
			if (n < 0)
				bad = fail("shmring_msg_pop_wait", n);
			else if (!rec_ok(buf, n, i))
				bad = fail("record check", -EPROTO);
			else
				bytes += (uint64_t)n;
		} else {
			/* In place: peek points at the record in the ring;
			 * release gives its space back to the producer. */
			const void *p;
			int n = shmring_msg_peek_wait(&cons, &p, &deadline);
			if (n < 0) {
				bad = fail("shmring_msg_peek_wait", n);
				break;
			}
			if (!rec_ok(p, n, i))
				bad = fail("record check", -EPROTO);
			bytes += (uint64_t)n;
			shmring_msg_release(&cons);
			shmring_msg_wake(&cons); /* a producer may sleep for room */
		}
	}

	int status;
	if (child > 0 && (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
			  WEXITSTATUS(status)))
		bad = 1;
	shmring_close(&cons);
	shmring_unlink(name);
	printf("%d records, %llu bytes: %s\n", RECORDS, (unsigned long long)bytes,
	       bad ? "FAILED" : "every byte as sent");
	return bad;
}
