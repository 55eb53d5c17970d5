/* pkg-config: libuv */
/* SPDX-License-Identifier: MIT */
/*
 * uv_loop: a shmring ring in a libuv loop. The consumer watches the ring's
 * readiness fd (<shmring/ready.h>) with a uv_poll_t, next to a uv_timer_t
 * that prints the progress; the producer is a child process that pushes
 * in bursts with pauses between them, so the loop sleeps and wakes many
 * times. Every message is checked; exits 0 when all arrived, the timer
 * ticked and the child exited cleanly.
 *
 * Run: ./uv_loop   (no arguments)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <shmring/ready.h>
#include <shmring/wait.h>

#define NMSG 200000u
#define BURST 500u     /* the producer pauses after each burst */
#define PAUSE_US 200
#define TICK_MS 50
#define GIVE_UP_TICKS 2400 /* two minutes: a stuck run fails */

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
	fprintf(stderr, "uv_loop: %s: %s (%s)\n", what, strerror(err < 0 ? -err : err), shmring_errdetail());
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

		/* Wakes the loop when its fd is armed; no system call else. */
		if ((ret = shmring_spsc_push_wait(&p, &m, NULL)) < 0)
			die("push_wait", ret);
		if (seq % BURST == BURST - 1)
			usleep(PAUSE_US);
	}
	shmring_close(&p);
	exit(0);
}

/* The consumer's state, reached from the libuv callbacks. */
static struct shmring ring;
static struct shmring_ready *rd;
static uv_poll_t poll_h;
static uv_timer_t timer_h;
static uint64_t next_seq, wakeups, ticks;
static int closing;

/* Once every message is in and the timer has ticked: close the handles,
 * which ends uv_run. */
static void maybe_finish(void)
{
	if (next_seq < NMSG || ticks == 0 || closing)
		return;
	closing = 1;
	uv_timer_stop(&timer_h);
	uv_close((uv_handle_t *)&poll_h, NULL);
	uv_close((uv_handle_t *)&timer_h, NULL);
}

/* Take everything there is, then arm the fd (or finish). */
static void serve(void)
{
	struct msg m;
	int ret;

	for (;;) {
		int took = 0;

		while (shmring_spsc_try_pop(&ring, &m) == 0) {
			if (m.seq != next_seq || m.check != checksum(m.seq)) {
				fprintf(stderr, "uv_loop: bad message: seq %llu, expected %llu\n",
					(unsigned long long)m.seq, (unsigned long long)next_seq);
				exit(1);
			}
			next_seq++;
			took = 1;
		}
		if (took)
			shmring_spsc_wake(&ring); /* the producer may wait for room */
		if (next_seq == NMSG) {
			uv_poll_stop(&poll_h); /* nothing more to wait for */
			maybe_finish();
			return;
		}
		ret = shmring_ready_arm(rd);
		if (ret == 0)
			return; /* armed: on_readable runs when there is more */
		if (ret < 0)
			die("shmring_ready_arm", ret);
	}
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	int ret;

	(void)h;
	(void)events;
	if (status < 0) {
		fprintf(stderr, "uv_loop: poll: %s\n", uv_strerror(status));
		exit(1);
	}
	wakeups++;
	/* The fd stays readable until disarmed. */
	if ((ret = shmring_ready_disarm(rd)) < 0)
		die("shmring_ready_disarm", ret);
	serve();
}

static void on_tick(uv_timer_t *h)
{
	(void)h;
	ticks++;
	printf("tick %llu: %llu of %u messages, %llu wakeups\n", (unsigned long long)ticks,
	       (unsigned long long)next_seq, NMSG, (unsigned long long)wakeups);
	if (ticks > GIVE_UP_TICKS) {
		fprintf(stderr, "uv_loop: not done after %llu ticks\n", (unsigned long long)ticks);
		exit(1);
	}
	maybe_finish();
}

int main(void)
{
	char name[64];
	struct shmring_params prm;
	uv_loop_t *loop = uv_default_loop();
	int ret, st;

	snprintf(name, sizeof(name), "/uv-loop-%d", (int)getpid());
	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct msg));
	if ((ret = shmring_create(&ring, name, &prm, SHMRING_CONSUMER)) < 0)
		die("shmring_create", ret);
	pid_t pid = fork();

	if (pid == 0)
		producer(name); /* opens the ring by name: handles do not cross fork */
	if (pid < 0)
		die("fork", -errno);

	if ((ret = shmring_ready_open(&rd, &ring, 0)) < 0)
		die("shmring_ready_open", ret);
	printf("readiness fd %d through %s\n", shmring_ready_fd(rd),
	       shmring_ready_backend(rd) == SHMRING_READY_URING ? "an io_uring futex wait" : "a helper thread");
	uv_poll_init(loop, &poll_h, shmring_ready_fd(rd));
	uv_poll_start(&poll_h, UV_READABLE, on_readable);
	uv_timer_init(loop, &timer_h);
	uv_timer_start(&timer_h, on_tick, TICK_MS, TICK_MS);

	serve(); /* take what came already, and arm */
	uv_run(loop, UV_RUN_DEFAULT);

	shmring_ready_close(rd);
	shmring_close(&ring);
	shmring_unlink(name);
	uv_loop_close(loop);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "uv_loop: the producer failed\n");
		return 1;
	}
	printf("done: %u messages checked, %llu wakeups, %llu ticks\n", NMSG, (unsigned long long)wakeups,
	       (unsigned long long)ticks);
	return 0;
}
