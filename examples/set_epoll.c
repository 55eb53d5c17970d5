/* SPDX-License-Identifier: MIT */
/* pkg-config: liburcu-memb */
/*
 * set_epoll: a ring set's consumer in an epoll loop.
 *
 * A consumer that already sleeps in epoll_wait (sockets, timers) waits on
 * a whole ring set there through one file descriptor:
 * shmring_set_ready_open() gives the set a readiness object, the same one
 * ready.h gives a single ring. The loop drains the set with
 * shmring_set_poll(), arms the object, and goes back to epoll_wait; when
 * the fd turns readable it disarms and polls again.
 *
 * The parent creates the set and puts its readiness fd and a timerfd (a
 * 10 s limit for the whole run) into one epoll set; three child processes
 * each create their own SPSC ring, join the set by name, push 5000
 * readings and leave. The parent checks that every reading of every
 * producer arrived once and in order, and that the producers' rings left
 * the set.
 *
 * Build against the installed library:
 *   cc -std=c11 set_epoll.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/ready.h> /* the readiness object: fd, arm, disarm */
#include <shmring/set.h>   /* ring sets; brings shmring.h */
#include <shmring/wait.h>  /* the producers' blocking push */

#define PRODUCERS 3
#define READINGS 5000 /* per producer */
#define LIMIT_S 10    /* the timerfd ends a run that takes longer */

struct reading {
	uint32_t sensor; /* which producer */
	uint32_t value;
	uint64_t seq;    /* 0, 1, 2, ... per producer */
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "set_epoll: %s: %s (%s)\n", what, shmring_strerror(err), shmring_errdetail());
	return 1;
}

/* A producer process: its own small ring, announced to the set by name. */
static int produce(const char *set, uint32_t id)
{
	char name[96];
	snprintf(name, sizeof(name), "%s-ring%u", set, (unsigned)id);

	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_SPSC, 16, sizeof(struct reading));
	struct shmring ring;
	int ret = shmring_create(&ring, name, &prm, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_create", ret);
	struct shmring_set_link link;
	ret = shmring_set_join(&link, set, &ring, name, id);
	if (ret < 0)
		return fail("shmring_set_join", ret);

	/* The blocking push wakes the consumer's fd when it is armed, and
	 * makes no system call while the consumer is busy. */
	for (uint64_t seq = 0; seq < READINGS; seq++) {
		struct reading r = { .sensor = id, .value = (uint32_t)(seq * 7 + id), .seq = seq };
		ret = shmring_spsc_push_wait(&ring, &r, NULL);
		if (ret < 0)
			return fail("shmring_spsc_push_wait", ret);
	}
	/* Once the consumer took everything, leave; the consumer removes the
	 * ring (its producer has gone and it is empty). */
	struct timespec ms = { .tv_nsec = 1000000 };
	while (shmring_spsc_count(&ring) != 0)
		nanosleep(&ms, NULL);
	shmring_set_leave(&link, &ring);
	shmring_close(&ring);
	shmring_unlink(name);
	return 0;
}

struct tally {
	uint64_t next[PRODUCERS];
	uint64_t total;
	int bad;
};

static int on_reading(void *arg, const struct shmring_set_msg *m)
{
	struct tally *t = arg;
	struct reading r;

	if (m->tag >= PRODUCERS || m->len != sizeof(r)) {
		t->bad = 1;
		return 1;
	}
	memcpy(&r, m->data, sizeof(r));
	if (r.sensor != m->tag || r.seq != t->next[m->tag] || r.value != r.seq * 7 + r.sensor)
		t->bad = 1;
	t->next[m->tag] = r.seq + 1;
	t->total++;
	return 0;
}

/* Drain the set, then arm its fd: returns 0 armed (back to epoll_wait),
 * or < 0 an error. */
static int drain_and_arm(struct shmring_set *set, struct shmring_ready *rd, struct tally *t)
{
	for (;;) {
		int ret = shmring_set_poll(set, 32, on_reading, t);
		if (ret < 0)
			return ret;
		if (ret > 0)
			continue;
		ret = shmring_ready_arm(rd);
		if (ret <= 0)
			return ret; /* 0: armed */
		/* 1: something came while arming: poll again */
	}
}

int main(void)
{
	char set_name[64];
	snprintf(set_name, sizeof(set_name), "/shmring-setepoll-%d", (int)getpid());

	struct shmring_set *set;
	int ret = shmring_set_create(&set, set_name, 0);
	if (ret < 0)
		return fail("shmring_set_create", ret);
	struct shmring_ready *rd;
	ret = shmring_set_ready_open(&rd, set, 0);
	if (ret < 0)
		return fail("shmring_set_ready_open", ret);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec limit = { .it_value = { .tv_sec = LIMIT_S } };
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = shmring_ready_fd(rd) };
	if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &limit, NULL) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		return fail("epoll/timerfd", -errno);
	ev.data.fd = tfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0)
		return fail("epoll_ctl", -errno);

	pid_t pids[PRODUCERS];
	int started = 0;
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0)
			_exit(produce(set_name, i));
		pids[started++] = pid;
	}

	struct tally t;
	memset(&t, 0, sizeof(t));
	struct shmring_set_stats st = { 0 };
	int timed_out = 0;
	ret = drain_and_arm(set, rd, &t);
	/* Until every reading came and every producer's ring left the set. */
	while (ret == 0 && started == PRODUCERS && !t.bad && !timed_out &&
	       (t.total < (uint64_t)PRODUCERS * READINGS || st.members > 0 || st.joins < PRODUCERS)) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);
		if (n < 0 && errno == EINTR)
			continue; /* the io_uring backend can end a wait with EINTR */
		if (n < 0) {
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			if (got[i].data.fd == tfd)
				timed_out = 1;
		shmring_ready_disarm(rd);
		ret = drain_and_arm(set, rd, &t);
		shmring_set_stats(set, &st);
	}
	if (ret < 0)
		fail("the set's loop", ret);

	int bad = ret < 0 || timed_out || t.bad || t.total != (uint64_t)PRODUCERS * READINGS;
	for (int i = 0; i < started; i++) {
		int status;

		if (bad)
			kill(pids[i], SIGTERM);
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	}
	printf("set_epoll: %llu readings from %d producers, %llu sleeps, backend %s%s: %s\n",
	       (unsigned long long)t.total, PRODUCERS, (unsigned long long)st.sleeps,
	       shmring_ready_backend(rd) == SHMRING_READY_URING ? "io_uring" : "thread",
	       timed_out ? ", timed out" : "", bad ? "FAILED" : "all in order");
	shmring_ready_close(rd); /* before the set */
	shmring_set_destroy(set);
	close(tfd);
	close(ep);
	return bad;
}
