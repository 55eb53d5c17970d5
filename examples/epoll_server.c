/* SPDX-License-Identifier: MIT */
/*
 * epoll_server: one thread, one epoll loop, serving at once
 *
 *   - 64 shmring rings, each waited on through its readiness fd
 *     (<shmring/ready.h>); their producers are 4 child processes;
 *   - a TCP socket listening on 127.0.0.1 (a port the kernel picks): a
 *     child connects, sends a line and gets it back in capitals;
 *   - a timerfd that ticks every 100 ms and prints the progress.
 *
 * Every message is checked (ring, sequence number, checksum). The program
 * exits 0 once every ring has delivered all its messages, the TCP
 * exchange is done, the timer has ticked and every child exited cleanly.
 *
 * The ring protocol of the loop, per ring (ready.h has the details):
 *   take what there is (try_pop until -EAGAIN);
 *   shmring_ready_arm():  1 = more came meanwhile, take again;
 *                         0 = armed: the fd turns readable when data comes;
 *   on readable:          shmring_ready_disarm(), then take again.
 * The producers push with shmring_spsc_push_wait(), which wakes an armed
 * fd; they make no system call while nobody is armed.
 *
 * Rings gathered in a ring set (set.h) can share one fd instead of one
 * each: shmring_set_ready_open(), in examples/set_epoll.c.
 *
 * Run: ./epoll_server   (no arguments)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/ready.h>
#include <shmring/wait.h>

#define NRINGS 64
#define NPRODUCERS 4             /* each feeds NRINGS / NPRODUCERS rings */
#define NMSG 20000u              /* messages per ring */
#define TICK_MS 100
#define GIVE_UP_TICKS (120 * 1000 / TICK_MS) /* a stuck run fails, after 2 minutes */

/* epoll tags: 0 .. NRINGS-1 are rings */
#define TAG_LISTEN 1000u
#define TAG_CONN 1001u
#define TAG_TIMER 1002u

struct msg {
	uint32_t ring;
	uint32_t pad;
	uint64_t seq;
	uint64_t check;
};

static uint64_t checksum(uint32_t ring, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull ^ ring;

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "epoll_server: %s: %s (%s)\n", what, strerror(err < 0 ? -err : err), shmring_errdetail());
	exit(1);
}

/* ---- the producers (child processes) ---- */

static void producer(char names[][64], int first, int count)
{
	struct shmring p[NRINGS];
	int ret;

	for (int k = 0; k < count; k++)
		if ((ret = shmring_open(&p[k], names[first + k], SHMRING_PRODUCER, NULL)) < 0)
			die("shmring_open (producer)", ret);
	for (uint64_t seq = 0; seq < NMSG; seq++) {
		for (int k = 0; k < count; k++) {
			uint32_t ring = (uint32_t)(first + k);
			struct msg m = { .ring = ring, .seq = seq, .check = checksum(ring, seq) };

			/* Waits while the ring is full; wakes the server if it armed. */
			if ((ret = shmring_spsc_push_wait(&p[k], &m, NULL)) < 0)
				die("push_wait", ret);
		}
		if (seq % 2000 == 1999)
			usleep(25000); /* a pause now and then: the server goes to sleep */
	}
	for (int k = 0; k < count; k++)
		shmring_close(&p[k]);
	exit(0);
}

/* ---- the TCP client (a child process) ---- */

static void tcp_client(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	char line[64], reply[64];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect", -errno);
	snprintf(line, sizeof(line), "hello from process %d\n", (int)getpid());
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		die("write", -errno);
	while (got < strlen(line)) {
		ssize_t k = read(fd, reply + got, sizeof(reply) - got);

		if (k <= 0)
			die("read", k < 0 ? -errno : -EPIPE);
		got += (size_t)k;
	}
	for (size_t i = 0; i < got; i++)
		if (reply[i] != toupper((unsigned char)line[i]))
			die("the reply is not the line in capitals", -EPROTO);
	close(fd);
	exit(0);
}

/* ---- the server ---- */

struct ring_state {
	struct shmring c;
	struct shmring_ready *rd;
	uint64_t next; /* the sequence number expected next */
	int done;
};

struct server {
	int ep;
	struct ring_state ring[NRINGS];
	int rings_done;
	uint64_t taken, wakeups;
	int listen_fd, conn_fd, tcp_done;
	char conn_buf[128];
	size_t conn_len;
};

static void add_fd(struct server *s, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl", -errno);
}

/* Take everything ring i holds, then arm its fd (or finish the ring). */
static void ring_serve(struct server *s, int i)
{
	struct ring_state *r = &s->ring[i];
	struct msg m;
	int ret;

	for (;;) {
		int took = 0;

		while (shmring_spsc_try_pop(&r->c, &m) == 0) {
			if (m.ring != (uint32_t)i || m.seq != r->next || m.check != checksum(m.ring, m.seq)) {
				fprintf(stderr, "epoll_server: ring %d: bad message (ring %u, seq %llu, expected %llu)\n",
					i, m.ring, (unsigned long long)m.seq, (unsigned long long)r->next);
				exit(1);
			}
			r->next++;
			took++;
		}
		s->taken += (uint64_t)took;
		if (took)
			shmring_spsc_wake(&r->c); /* the producer may be waiting for room */
		if (r->next == NMSG) {
			/* All delivered: stop watching this ring. */
			epoll_ctl(s->ep, EPOLL_CTL_DEL, shmring_ready_fd(r->rd), NULL);
			shmring_ready_close(r->rd);
			r->done = 1;
			s->rings_done++;
			return;
		}
		ret = shmring_ready_arm(r->rd);
		if (ret == 0)
			return; /* armed: epoll says when there is more */
		if (ret < 0)
			die("shmring_ready_arm", ret); /* -EPIPE: the producer died early */
		/* ret == 1: a message came while arming; take it. */
	}
}

/* A connection's bytes: once the line is complete, answer it and close. */
static void conn_serve(struct server *s)
{
	ssize_t k = read(s->conn_fd, s->conn_buf + s->conn_len, sizeof(s->conn_buf) - s->conn_len);

	if (k < 0 && errno == EAGAIN)
		return;
	if (k <= 0)
		die("read (connection)", k < 0 ? -errno : -EPIPE);
	s->conn_len += (size_t)k;
	if (!memchr(s->conn_buf, '\n', s->conn_len)) {
		if (s->conn_len == sizeof(s->conn_buf))
			die("line too long", -EMSGSIZE);
		return;
	}
	for (size_t i = 0; i < s->conn_len; i++)
		s->conn_buf[i] = (char)toupper((unsigned char)s->conn_buf[i]);
	if (write(s->conn_fd, s->conn_buf, s->conn_len) != (ssize_t)s->conn_len)
		die("write (connection)", -errno);
	printf("tcp: answered a line of %zu bytes\n", s->conn_len);
	close(s->conn_fd); /* also leaves the epoll set */
	s->conn_fd = -1;
	s->tcp_done = 1;
}

static uint16_t tcp_listen(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->listen_fd, 4) < 0 || getsockname(s->listen_fd, (struct sockaddr *)&a, &len) < 0)
		die("listening socket", -errno);
	add_fd(s, s->listen_fd, TAG_LISTEN);
	return ntohs(a.sin_port);
}

int main(void)
{
	static struct server srv;
	struct server *s = &srv;
	static char names[NRINGS][64];
	struct shmring_params prm;
	pid_t kids[NPRODUCERS + 1];
	int nkids = 0, ret, ticks = 0;

	signal(SIGPIPE, SIG_IGN);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		die("epoll_create1", -errno);
	s->conn_fd = -1;

	/* 1. The rings: this process is the consumer of each. */
	shmring_params_init(&prm, SHMRING_SPSC, 256, sizeof(struct msg));
	for (int i = 0; i < NRINGS; i++) {
		snprintf(names[i], sizeof(names[i]), "/epoll-server-%d-%d", (int)getpid(), i);
		if ((ret = shmring_create(&s->ring[i].c, names[i], &prm, SHMRING_CONSUMER)) < 0)
			die("shmring_create", ret);
	}

	/* 2. The children. Each opens what it uses by name (a ring handle
	 * is not inherited across fork). */
	uint16_t port = tcp_listen(s);

	for (int p = 0; p < NPRODUCERS; p++)
		if ((kids[nkids++] = fork()) == 0)
			producer(names, p * (NRINGS / NPRODUCERS), NRINGS / NPRODUCERS);
	if ((kids[nkids++] = fork()) == 0)
		tcp_client(port);

	/* 3. A readiness fd per ring, all in one epoll set, with the timer. */
	for (int i = 0; i < NRINGS; i++) {
		if ((ret = shmring_ready_open(&s->ring[i].rd, &s->ring[i].c, 0)) < 0)
			die("shmring_ready_open", ret);
		add_fd(s, shmring_ready_fd(s->ring[i].rd), (uint32_t)i);
	}
	printf("%d rings, readiness through %s; tcp on 127.0.0.1:%u\n", NRINGS,
	       shmring_ready_backend(s->ring[0].rd) == SHMRING_READY_URING ? "io_uring futex waits" : "helper threads",
	       port);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L }, .it_value = { 0, TICK_MS * 1000000L } };

	if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
		die("timerfd", -errno);
	add_fd(s, tfd, TAG_TIMER);

	/* 4. The loop. Serve every ring once (which arms it), then whatever
	 * epoll reports. */
	for (int i = 0; i < NRINGS; i++)
		ring_serve(s, i);
	while (s->rings_done < NRINGS || !s->tcp_done || ticks == 0) {
		struct epoll_event ev[32];
		int n = epoll_wait(s->ep, ev, 32, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait", -errno);
		for (int e = 0; e < n; e++) {
			uint32_t tag = ev[e].data.u32;

			if (tag < NRINGS) {
				struct ring_state *r = &s->ring[tag];

				if (r->done)
					continue; /* closed earlier in this batch */
				s->wakeups++;
				if ((ret = shmring_ready_disarm(r->rd)) < 0)
					die("shmring_ready_disarm", ret);
				ring_serve(s, (int)tag);
			} else if (tag == TAG_LISTEN) {
				s->conn_fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (s->conn_fd >= 0)
					add_fd(s, s->conn_fd, TAG_CONN);
			} else if (tag == TAG_CONN) {
				conn_serve(s);
			} else if (tag == TAG_TIMER) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) == sizeof(x))
					ticks += (int)x;
				printf("tick %d: %llu of %llu messages, %d rings done\n", ticks,
				       (unsigned long long)s->taken, (unsigned long long)NRINGS * NMSG, s->rings_done);
				if (ticks > GIVE_UP_TICKS) {
					fprintf(stderr, "epoll_server: not done after %d ticks\n", ticks);
					for (int k = 0; k < nkids; k++)
						kill(kids[k], SIGKILL);
					return 1;
				}
			}
		}
	}

	/* 5. Everything arrived: the children must have exited cleanly. */
	int bad = 0;

	for (int k = 0; k < nkids; k++) {
		int st;

		if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	for (int i = 0; i < NRINGS; i++) {
		shmring_close(&s->ring[i].c);
		shmring_unlink(names[i]);
	}
	close(tfd);
	close(s->listen_fd);
	close(s->ep);
	if (bad) {
		fprintf(stderr, "epoll_server: a child failed\n");
		return 1;
	}
	printf("done: %llu messages through %d rings checked, %llu wakeups from epoll, tcp answered, %d ticks\n",
	       (unsigned long long)s->taken, NRINGS, (unsigned long long)s->wakeups, ticks);
	return 0;
}
