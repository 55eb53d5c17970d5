/* pkg-config: liburing */
/* SPDX-License-Identifier: MIT */
/*
 * uring_loop: an io_uring loop that waits on a shmring ring with no file
 * descriptor at all: it sleeps on the ring's own futex word through an
 * IORING_OP_FUTEX_WAIT request (kernel 6.7 or later), armed by
 * shmring_wait_arm() (<shmring/wait.h>), with a linked timeout of
 * tok.recheck_ns so that the liveness checks keep running. A periodic
 * IORING_OP_TIMEOUT prints the progress, as other work of the loop would.
 *
 * On a kernel whose io_uring has no futex operations (the probe request
 * completes with -EINVAL or -EOPNOTSUPP), it falls back to the ring's
 * readiness fd (<shmring/ready.h>) polled with IORING_OP_POLL_ADD. It
 * prints which path it took; `uring_loop --poll` takes the fallback path
 * anyway.
 *
 * The producer is a child process pushing in bursts with pauses. Every
 * message is checked; exits 0 when all arrived, the tick has run at least
 * once and the child exited cleanly.
 *
 * Run: ./uring_loop   (no arguments)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

#include <shmring/ready.h>
#include <shmring/wait.h>

/* io_uring's futex wait (kernel 6.7); older liburing headers lack it, so
 * the request is prepared by hand: sqe->fd holds the futex2 flags,
 * addr the word, addr2 the value to sleep on, addr3 the wake mask. */
#define OP_FUTEX_WAIT 51
#define FUTEX2_SIZE_U32 0x02u
#define FUTEX2_PRIVATE 128u /* only for the probe: a word of this process */
#define FUTEX_MATCH_ANY 0xffffffffu

#define NMSG 200000u
#define BURST 500u
#define PAUSE_US 200
#define TICK_MS 50
#define GIVE_UP_TICKS 2400 /* two minutes: a stuck run fails */

/* user_data of the requests */
enum { UD_FUTEX = 1, UD_RECHECK, UD_POLL, UD_TICK, UD_PROBE };

struct msg {
	uint64_t seq;
	uint64_t check;
};

static uint64_t checksum(uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull;

	return (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "uring_loop: %s: %s (%s)\n", what, strerror(err < 0 ? -err : err), shmring_errdetail());
	exit(1);
}

static void producer(const char *name)
{
	struct shmring p;
	int ret;

	if ((ret = shmring_open(&p, name, SHMRING_PRODUCER, NULL)) < 0)
		die("shmring_open (producer)", ret);
	for (uint64_t seq = 0; seq < NMSG; seq++) {
		struct msg m = { .seq = seq, .check = checksum(seq) };

		/* Wakes the loop's futex wait when it is armed. */
		if ((ret = shmring_spsc_push_wait(&p, &m, NULL)) < 0)
			die("push_wait", ret);
		if (seq % BURST == BURST - 1)
			usleep(PAUSE_US);
	}
	shmring_close(&p);
	exit(0);
}

static struct io_uring_sqe *get_sqe(struct io_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(u);

	if (!sqe) {
		io_uring_submit(u);
		sqe = io_uring_get_sqe(u);
	}
	if (!sqe)
		die("io_uring_get_sqe", -EBUSY);
	return sqe;
}

static void prep_futex_wait(struct io_uring_sqe *sqe, const void *word, uint32_t value, uint32_t flags)
{
	io_uring_prep_rw(OP_FUTEX_WAIT, sqe, (int)flags, word, 0, 0);
	sqe->addr2 = value;
	sqe->addr3 = FUTEX_MATCH_ANY;
}

/* Does this kernel's io_uring wait on futexes? A wait on a word that does
 * not hold the value completes at once: -EAGAIN if it does. */
static int probe_futex(struct io_uring *u)
{
	static uint32_t word;
	struct io_uring_cqe *cqe;
	int ret;

	struct io_uring_sqe *sqe = get_sqe(u);

	prep_futex_wait(sqe, &word, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
	io_uring_sqe_set_data64(sqe, UD_PROBE);
	if ((ret = io_uring_submit_and_wait(u, 1)) < 0)
		die("io_uring_submit_and_wait", ret);
	if ((ret = io_uring_wait_cqe(u, &cqe)) < 0)
		die("io_uring_wait_cqe", ret);
	ret = cqe->res;
	io_uring_cqe_seen(u, cqe);
	if (ret == -EAGAIN)
		return 1;
	if (ret == -EINVAL || ret == -EOPNOTSUPP)
		return 0;
	die("futex probe", ret);
	return 0;
}

/* The loop's state. */
static struct shmring ring;
static uint64_t next_seq, wakeups, ticks;

/* Take everything there is; 1 when the last message came. */
static int take(void)
{
	struct msg m;
	int took = 0;

	while (shmring_spsc_try_pop(&ring, &m) == 0) {
		if (m.seq != next_seq || m.check != checksum(m.seq)) {
			fprintf(stderr, "uring_loop: bad message: seq %llu, expected %llu\n", (unsigned long long)m.seq,
				(unsigned long long)next_seq);
			exit(1);
		}
		next_seq++;
		took = 1;
	}
	if (took)
		shmring_spsc_wake(&ring); /* the producer may wait for room */
	return next_seq == NMSG;
}

static void submit_tick(struct io_uring *u, struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data64(sqe, UD_TICK);
}

static void on_tick(void)
{
	ticks++;
	printf("tick %llu: %llu of %u messages, %llu wakeups\n", (unsigned long long)ticks,
	       (unsigned long long)next_seq, NMSG, (unsigned long long)wakeups);
	if (ticks > GIVE_UP_TICKS) {
		fprintf(stderr, "uring_loop: not done after %llu ticks\n", (unsigned long long)ticks);
		exit(1);
	}
}

/*
 * The futex path: arm, then one FUTEX_WAIT request on the word the token
 * names, linked to a timeout of tok.recheck_ns; disarm when it completes
 * (woken: 0; the word moved before it slept: -EAGAIN; the recheck time
 * came: -ECANCELED), take, arm again.
 */
static void loop_futex(struct io_uring *u)
{
	struct __kernel_timespec tick = { .tv_nsec = TICK_MS * 1000000L }, recheck;
	struct shmring_wait_token tok;
	int waiting = 0, done = 0, ret, tick_pending = 1;

	submit_tick(u, &tick);
	for (;;) {
		if (!waiting && !done && take())
			done = 1;
		if (done && ticks > 0)
			break;
		if (!waiting && !done) {
			ret = shmring_wait_arm(&ring, &tok);
			if (ret == 1)
				continue; /* a message came while arming */
			if (ret < 0)
				die("shmring_wait_arm", ret); /* -EPIPE: the producer died early */
			struct io_uring_sqe *sqe = get_sqe(u);

			prep_futex_wait(sqe, tok.word, tok.value, FUTEX2_SIZE_U32); /* shared: never private */
			io_uring_sqe_set_data64(sqe, UD_FUTEX);
			if (tok.recheck_ns != UINT64_MAX) {
				recheck.tv_sec = (long long)(tok.recheck_ns / 1000000000u);
				recheck.tv_nsec = (long long)(tok.recheck_ns % 1000000000u);
				sqe->flags |= IOSQE_IO_LINK;
				sqe = get_sqe(u);
				io_uring_prep_link_timeout(sqe, &recheck, 0);
				io_uring_sqe_set_data64(sqe, UD_RECHECK);
			}
			waiting = 1;
		}
		if (!tick_pending) {
			submit_tick(u, &tick);
			tick_pending = 1;
		}
		if ((ret = io_uring_submit_and_wait(u, 1)) < 0 && ret != -EINTR)
			die("io_uring_submit_and_wait", ret);

		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		io_uring_for_each_cqe(u, head, cqe) {
			seen++;
			switch (cqe->user_data) {
			case UD_FUTEX:
				if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -ECANCELED)
					die("futex wait", cqe->res);
				waiting = 0;
				wakeups++;
				shmring_wait_disarm(&ring);
				break;
			case UD_TICK:
				tick_pending = 0;
				on_tick();
				break;
			default: /* UD_RECHECK: the linked timeout's own completion */
				break;
			}
		}
		io_uring_cq_advance(u, seen);
	}
}

/* The fallback: the readiness fd, polled by the same loop. */
static void loop_poll(struct io_uring *u)
{
	struct __kernel_timespec tick = { .tv_nsec = TICK_MS * 1000000L };
	struct shmring_ready *rd;
	int waiting = 0, done = 0, ret, tick_pending = 1;

	if ((ret = shmring_ready_open(&rd, &ring, 0)) < 0)
		die("shmring_ready_open", ret);
	printf("readiness fd through %s\n",
	       shmring_ready_backend(rd) == SHMRING_READY_URING ? "an io_uring of its own" : "a helper thread");
	submit_tick(u, &tick);
	for (;;) {
		if (!waiting && !done && take())
			done = 1;
		if (done && ticks > 0)
			break;
		if (!waiting && !done) {
			ret = shmring_ready_arm(rd);
			if (ret == 1)
				continue;
			if (ret < 0)
				die("shmring_ready_arm", ret);
			struct io_uring_sqe *sqe = get_sqe(u);

			io_uring_prep_poll_add(sqe, shmring_ready_fd(rd), POLLIN);
			io_uring_sqe_set_data64(sqe, UD_POLL);
			waiting = 1;
		}
		if (!tick_pending) {
			submit_tick(u, &tick);
			tick_pending = 1;
		}
		if ((ret = io_uring_submit_and_wait(u, 1)) < 0 && ret != -EINTR)
			die("io_uring_submit_and_wait", ret);

		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		io_uring_for_each_cqe(u, head, cqe) {
			seen++;
			if (cqe->user_data == UD_POLL) {
				if (cqe->res < 0)
					die("poll", cqe->res);
				waiting = 0;
				wakeups++;
				if ((ret = shmring_ready_disarm(rd)) < 0)
					die("shmring_ready_disarm", ret);
			} else if (cqe->user_data == UD_TICK) {
				tick_pending = 0;
				on_tick();
			}
		}
		io_uring_cq_advance(u, seen);
	}
	shmring_ready_close(rd);
}

int main(int argc, char **argv)
{
	char name[64];
	struct shmring_params prm;
	struct io_uring u;
	int ret, st, force_poll = argc > 1 && !strcmp(argv[1], "--poll");

	if (argc > 1 && !force_poll) {
		fprintf(stderr, "usage: uring_loop [--poll]\n");
		return 2;
	}
	snprintf(name, sizeof(name), "/uring-loop-%d", (int)getpid());
	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct msg));
	if ((ret = shmring_create(&ring, name, &prm, SHMRING_CONSUMER)) < 0)
		die("shmring_create", ret);
	pid_t pid = fork();

	if (pid == 0)
		producer(name); /* opens the ring by name: handles do not cross fork */
	if (pid < 0)
		die("fork", -errno);
	if ((ret = io_uring_queue_init(16, &u, 0)) < 0)
		die("io_uring_queue_init", ret);

	if (!force_poll && probe_futex(&u)) {
		printf("path: IORING_OP_FUTEX_WAIT on the ring's futex word (no fd)\n");
		loop_futex(&u);
	} else {
		printf("path: readiness fd through IORING_OP_POLL_ADD (%s)\n",
		       force_poll ? "asked for" : "this kernel's io_uring has no futex wait");
		loop_poll(&u);
	}

	io_uring_queue_exit(&u); /* cancels the pending tick */
	shmring_close(&ring);
	shmring_unlink(name);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "uring_loop: the producer failed\n");
		return 1;
	}
	printf("done: %u messages checked, %llu wakeups, %llu ticks\n", NMSG, (unsigned long long)wakeups,
	       (unsigned long long)ticks);
	return 0;
}
