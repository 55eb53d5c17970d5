/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump --listen: a minimal HTTP/1.1 server for metrics scrapes.
 *
 * One connection at a time, one request per connection (Connection:
 * close): read the request head (at most 8 KiB, within 5 s), answer GET
 * /metrics with a freshly rendered body, anything else with 404 or 405.
 * It listens on loopback unless given another address: the metrics name
 * every ring and process on the machine, and nothing here authenticates.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"

#define REQ_MAX 8192
#define REQ_TIMEOUT_MS 5000

static volatile sig_atomic_t http_stop;

static void on_stop(int sig)
{
	(void)sig;
	http_stop = 1;
}

/* "[ADDR:]PORT", "[V6]:PORT": host (default 127.0.0.1) and port. */
static int split_addr(const char *a, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(a, ':');
	const char *p = colon ? colon + 1 : a;
	size_t n = strlen(p);

	if (!n || strspn(p, "0123456789") != n || n > 5 || n >= plen || atoi(p) > 65535)
		return -EINVAL;
	memcpy(port, p, n + 1);
	if (!colon) {
		snprintf(host, hlen, "127.0.0.1");
		return 0;
	}
	n = (size_t)(colon - a);
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, a, n);
	host[n] = '\0';
	return 0;
}

static int listen_on(const char *addr, char *why, size_t why_len)
{
	char host[256], port[8];
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, err = 0, on = 1;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(why, why_len, "'%s' is not [ADDR:]PORT", addr);
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, why_len, "%s: %s", host, gai_strerror(err));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, why_len, "listening on %s port %s: %s", host, port, strerror(err));
		return -err;
	}
	return fd;
}

/* "listening on http://ADDR:PORT/metrics", with the port the kernel chose. */
static void say_where(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	bool v6;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	v6 = ss.ss_family == AF_INET6;
	fprintf(stderr, "shmring-dump: listening on http://%s%s%s:%s/metrics\n", v6 ? "[" : "", host,
		v6 ? "]" : "", serv);
	fflush(stderr);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
		    bool head_only)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, type, len);

	send_all(fd, head, (size_t)n);
	if (!head_only)
		send_all(fd, body, len);
}

/* The request head, NUL-terminated; -1 if it did not come in time. */
static int read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = REQ_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);

		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return 0; /* a head this long: answer what the request line asks */
}

static void serve_one(int fd, http_render_fn render, void *arg)
{
	char req[REQ_MAX];
	char method[16], target[256];
	char *body = NULL;
	size_t len = 0;

	if (read_head(fd, req, sizeof(req)) < 0)
		return;
	if (sscanf(req, "%15s %255s", method, target) != 2) {
		respond(fd, "400 Bad Request", "text/plain", "bad request\n", 12, false);
		return;
	}
	bool head = !strcmp(method, "HEAD");

	if (strcmp(method, "GET") && !head) {
		respond(fd, "405 Method Not Allowed", "text/plain", "GET /metrics\n", 13, false);
		return;
	}
	char *q = strchr(target, '?');

	if (q)
		*q = '\0';
	if (strcmp(target, "/metrics")) {
		respond(fd, "404 Not Found", "text/plain", "metrics are at /metrics\n", 24, head);
		return;
	}
	FILE *f = open_memstream(&body, &len);

	if (!f) {
		respond(fd, "500 Internal Server Error", "text/plain", "no memory\n", 10, head);
		return;
	}
	render(f, arg);
	fclose(f);
	respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
	free(body);
}

int dump_http_serve(const char *addr, uint64_t count, http_render_fn render, void *arg, char *why,
		    size_t why_len)
{
	struct sigaction sa;
	int lfd = listen_on(addr, why, why_len);

	if (lfd < 0)
		return lfd;
	/* No SA_RESTART: a stop signal ends the accept below. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	say_where(lfd);
	for (uint64_t served = 0; !http_stop && (!count || served < count);) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				struct timespec ts = { 0, 10000000 }; /* until a descriptor frees */

				nanosleep(&ts, NULL);
				continue;
			}
			snprintf(why, why_len, "accept: %s", strerror(errno));
			close(lfd);
			return -errno;
		}
		serve_one(c, render, arg);
		shutdown(c, SHUT_WR);
		close(c);
		served++;
	}
	close(lfd);
	return 0;
}
