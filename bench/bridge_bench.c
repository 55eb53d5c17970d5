/* SPDX-License-Identifier: MIT */
/*
 * shmring-bridge-bench: the bridge against plain libnats clients, on one
 * local nats-server (started here, on 127.0.0.1, unless --servers names
 * one).
 *
 *   ring -> stream   64-byte messages from a ring through the bridge,
 *                    against a libnats async JetStream publisher sending
 *                    the same messages from memory (same window)
 *   stream -> ring   the stream read back into a ring by the bridge,
 *                    against a plain pull consumer (fetch, ack each)
 *   latency          ring -> bridge -> stream -> bridge -> ring, against a
 *                    NATS core publisher/subscriber pair (which flushes each
 *                    message); p50 and p99, with the bridges' send_asap on,
 *                    and off (libnats gathers writes for up to 1 ms)
 *
 *   shmring-bridge-bench [--count N] [--runs R] [--rate MSGS_PER_S] [--servers URL]
 *                        [--order-none] [--plain-ids]
 *
 * --order-none: the bridge with order = none (no Nats-Expected-Last-Msg-Id);
 * --plain-ids: the plain publisher sets a Nats-Msg-Id too (the server's
 * duplicate check costs both sides then).
 *
 * Prints one table; each ratio is bridge / plain (above 1: the bridge
 * is faster for throughput, slower for latency).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include <shmring/bridge.h>
#include <shmring/shmring.h>
#include <shmring/wait.h>

#define MSG 64

/* Sleep until CLOCK_MONOTONIC reaches `ns` (pacing without spinning:
 * the machine's cores are for the server and the bridges). */
static void sleep_until(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void server_stop(void);

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "shmring-bridge-bench: %s: %s\n", what, detail);
	server_stop();
	exit(1);
}

static void nats_check(natsStatus s, const char *what)
{
	if (s != NATS_OK)
		die(what, natsStatus_GetText(s));
}

static char url[256];
static uint64_t count = 200000;
static int runs = 3;
static double lat_rate = 5000;
static pid_t server_pid;
static char store[256];
static int name_seq;
static uint32_t order = SHMRING_BRIDGE_ORDER_CHAIN;
static int plain_ids;    /* the plain publisher sets Nats-Msg-Id too */
static int asap;         /* the bridges write at once (send_asap) */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("free port", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void server_start(void)
{
	int port = free_port();
	char p[16];

	snprintf(store, sizeof(store), "/tmp/shmring-bridge-bench.%d", (int)getpid());
	snprintf(p, sizeof(p), "%d", port);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
	server_pid = fork();
	if (server_pid == 0) {
		int devnull = open("/dev/null", 1);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", p, "-sd", store, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		natsConnection *nc = NULL;

		usleep(100000);
		if (natsConnection_ConnectTo(&nc, url) == NATS_OK) {
			natsConnection_Destroy(nc);
			return;
		}
	}
	die("nats-server", "did not start (is it installed?)");
}

static void server_stop(void)
{
	char cmd[300];

	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, NULL, 0);
	server_pid = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
	if (system(cmd) != 0)
		fprintf(stderr, "shmring-bridge-bench: could not remove %s\n", store);
}

static void make_stream(jsCtx *js, const char *name, const char *subj)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjs[1] = { subj };

	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjs;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	nats_check(js_AddStream(&si, js, &sc, NULL, &jerr), "add stream");
	jsStreamInfo_Destroy(si);
}

/* ---- bridge in a thread ---- */

struct run {
	struct shmring_bridge *b;
	pthread_t th;
	int ret;
};

static void *bridge_thread(void *arg)
{
	struct run *r = arg;

	r->ret = shmring_bridge_run(r->b);
	return NULL;
}

static void bridge_start(struct run *r, uint32_t dir, const char *ring, const char *stream, const char *subj,
			 const char *durable)
{
	struct shmring_bridge_config c;

	shmring_bridge_config_init(&c);
	c.direction = dir;
	snprintf(c.ring, sizeof(c.ring), "%s", ring);
	snprintf(c.servers, sizeof(c.servers), "%s", url);
	snprintf(c.stream, sizeof(c.stream), "%s", stream);
	snprintf(c.subject, sizeof(c.subject), "%s", subj);
	if (durable)
		snprintf(c.durable, sizeof(c.durable), "%s", durable);
	c.order = order;
	c.send_asap = (uint32_t)asap;
	if (shmring_bridge_create(&r->b, &c) < 0)
		die("bridge", shmring_bridge_errdetail());
	pthread_create(&r->th, NULL, bridge_thread, r);
}

static void bridge_finish(struct run *r, const char *ring)
{
	char side[300];

	shmring_bridge_stop(r->b);
	pthread_join(r->th, NULL);
	if (r->ret < 0)
		die("bridge", shmring_bridge_errdetail());
	shmring_bridge_destroy(r->b);
	snprintf(side, sizeof(side), "%s%s", ring, SHMRING_BRIDGE_SUFFIX);
	shm_unlink(side);
}

/* ---- ring producer / consumer threads ---- */

struct peer {
	const char *ring;
	uint64_t n;
	double rate;      /* producer: messages a second, 0: as fast as it goes */
	uint64_t *lat;    /* consumer: latencies (ns), or NULL */
	pthread_t th;
	struct shmring r;
	atomic_uint_fast64_t done;
};

static void *producer(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[MSG] = { 0 };
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < p->n; i++) {
		uint64_t ts;
		int ret;

		if (p->rate > 0)
			sleep_until(t0 + (uint64_t)((double)i * 1e9 / p->rate));
		ts = now_ns();
		memcpy(buf, &i, 8);
		memcpy(buf + 8, &ts, 8);
		do
			ret = shmring_msg_push_wait(&p->r, buf, MSG, NULL);
		while (ret == -EPIPE && usleep(1000) == 0);
		if (ret < 0)
			die("push", shmring_strerror(ret));
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[MSG];

	while (atomic_load(&p->done) < p->n) {
		int n = shmring_msg_pop_wait(&p->r, buf, sizeof(buf), NULL);

		if (n == -EPIPE) {
			usleep(1000);
			continue;
		}
		if (n < 0)
			die("pop", shmring_strerror(n));
		if (p->lat) {
			uint64_t ts, i;

			memcpy(&i, buf, 8);
			memcpy(&ts, buf + 8, 8);
			if (i < p->n)
				p->lat[i] = now_ns() - ts;
		}
		atomic_fetch_add(&p->done, 1);
	}
	return NULL;
}

static void ring_make(struct peer *p, const char *name, uint32_t role)
{
	struct shmring_params prm;
	int ret;

	shmring_params_init(&prm, SHMRING_MSG_SPSC, 1u << 20, 256);
	shmring_unlink(name);
	ret = shmring_create(&p->r, name, &prm, role);
	if (ret < 0)
		die("create ring", shmring_errdetail());
	p->ring = name;
}

/* ---- measurements ---- */

static void ring_name(char *out, size_t cap, const char *what)
{
	snprintf(out, cap, "/bridge_bench_%d_%s_%d", (int)getpid(), what, ++name_seq);
}

/* ring -> stream through the bridge: messages a second. */
static double bench_bridge_pub(jsCtx *js, const char *stream, const char *subj)
{
	struct peer p = { .n = count };
	struct shmring_bridge_shared st;
	struct run r;
	char ring[64];
	uint64_t t0, t1;

	ring_name(ring, sizeof(ring), "pub");
	make_stream(js, stream, subj);
	ring_make(&p, ring, SHMRING_PRODUCER);
	pthread_create(&p.th, NULL, producer, &p);
	t0 = now_ns();
	bridge_start(&r, SHMRING_BRIDGE_TO_STREAM, ring, stream, subj, NULL);
	do {
		usleep(1000);
		shmring_bridge_state(r.b, &st);
	} while (st.acked < count);
	t1 = now_ns();
	pthread_join(p.th, NULL);
	bridge_finish(&r, ring);
	shmring_close(&p.r);
	shmring_unlink(ring);
	return (double)count / ((double)(t1 - t0) / 1e9);
}

/* The same messages from memory, libnats async publish, same window. */
static double bench_plain_pub(jsCtx *js, const char *stream, const char *subj)
{
	unsigned char buf[MSG] = { 0 };
	jsPubOptions po;
	uint64_t t0, t1;

	make_stream(js, stream, subj);
	jsPubOptions_Init(&po);
	po.MaxWait = 10000;
	t0 = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		uint64_t ts = now_ns();

		char id[64];
		jsPubOptions o;

		memcpy(buf, &i, 8);
		memcpy(buf + 8, &ts, 8);
		jsPubOptions_Init(&o);
		if (plain_ids) {
			snprintf(id, sizeof(id), "plain:%s:%" PRIu64, stream, i);
			o.MsgId = id;
		}
		nats_check(js_PublishAsync(js, subj, buf, MSG, &o), "publish async");
	}
	nats_check(js_PublishAsyncComplete(js, &po), "publish complete");
	t1 = now_ns();
	return (double)count / ((double)(t1 - t0) / 1e9);
}

/* stream -> ring through the bridge: messages a second. */
static double bench_bridge_fetch(const char *stream, const char *subj)
{
	struct peer p = { .n = count };
	struct run r;
	char ring[64], durable[32];
	uint64_t t0, t1;

	ring_name(ring, sizeof(ring), "fetch");
	snprintf(durable, sizeof(durable), "bench%d", ++name_seq);
	ring_make(&p, ring, SHMRING_CONSUMER);
	pthread_create(&p.th, NULL, consumer, &p);
	t0 = now_ns();
	bridge_start(&r, SHMRING_BRIDGE_FROM_STREAM, ring, stream, subj, durable);
	pthread_join(p.th, NULL);
	t1 = now_ns();
	bridge_finish(&r, ring);
	shmring_close(&p.r);
	shmring_unlink(ring);
	return (double)count / ((double)(t1 - t0) / 1e9);
}

/* A plain pull consumer: fetch 256 at a time, ack each. */
static double bench_plain_fetch(jsCtx *js, const char *stream, const char *subj)
{
	natsSubscription *sub = NULL;
	jsErrCode jerr = 0;
	jsSubOptions so;
	uint64_t got = 0, t0, t1;
	char durable[32];

	snprintf(durable, sizeof(durable), "plain%d", ++name_seq);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	t0 = now_ns();
	nats_check(js_PullSubscribe(&sub, js, subj, durable, NULL, &so, &jerr), "pull subscribe");
	while (got < count) {
		natsMsgList list = { 0 };
		natsStatus s = natsSubscription_Fetch(&list, sub, 256, 1000, &jerr);

		if (s != NATS_OK && s != NATS_TIMEOUT)
			die("fetch", natsStatus_GetText(s));
		for (int i = 0; i < list.Count; i++)
			natsMsg_Ack(list.Msgs[i], NULL);
		got += (uint64_t)list.Count;
		natsMsgList_Destroy(&list);
	}
	t1 = now_ns();
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	return (double)count / ((double)(t1 - t0) / 1e9);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void percentiles(uint64_t *v, uint64_t n, double *p50, double *p99)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	*p50 = (double)v[n / 2] / 1000.0;
	*p99 = (double)v[n * 99 / 100] / 1000.0;
}

/* ring -> bridge -> stream -> bridge -> ring, at a steady rate. */
static void bench_bridge_latency(jsCtx *js, uint64_t n, double *p50, double *p99)
{
	struct peer src = { .n = n, .rate = lat_rate }, dst = { .n = n };
	struct run a, b;
	char r1[64], r2[64], stream[32], subj[32];

	ring_name(r1, sizeof(r1), "lsrc");
	ring_name(r2, sizeof(r2), "ldst");
	snprintf(stream, sizeof(stream), "LAT%d", ++name_seq);
	snprintf(subj, sizeof(subj), "lat.%d", name_seq);
	make_stream(js, stream, subj);
	dst.lat = calloc(n, sizeof(uint64_t));
	ring_make(&src, r1, SHMRING_PRODUCER);
	ring_make(&dst, r2, SHMRING_CONSUMER);
	bridge_start(&b, SHMRING_BRIDGE_FROM_STREAM, r2, stream, subj, "lat");
	bridge_start(&a, SHMRING_BRIDGE_TO_STREAM, r1, stream, subj, NULL);
	usleep(300000);
	pthread_create(&dst.th, NULL, consumer, &dst);
	pthread_create(&src.th, NULL, producer, &src);
	pthread_join(src.th, NULL);
	pthread_join(dst.th, NULL);
	bridge_finish(&a, r1);
	bridge_finish(&b, r2);
	/* The first 10% warm the path up. */
	percentiles(dst.lat + n / 10, n - n / 10, p50, p99);
	free(dst.lat);
	shmring_close(&src.r);
	shmring_close(&dst.r);
	shmring_unlink(r1);
	shmring_unlink(r2);
}

struct core_sub {
	uint64_t *lat, n;
	atomic_uint_fast64_t got;
};

static void on_core(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct core_sub *c = closure;
	uint64_t i, ts;

	(void)nc;
	(void)sub;
	memcpy(&i, natsMsg_GetData(m), 8);
	memcpy(&ts, natsMsg_GetData(m) + 8, 8);
	if (i < c->n)
		c->lat[i] = now_ns() - ts;
	atomic_fetch_add(&c->got, 1);
	natsMsg_Destroy(m);
}

/* A NATS core publisher and subscriber (two connections), same rate. */
static void bench_core_latency(uint64_t n, double *p50, double *p99)
{
	natsConnection *pc = NULL, *sc = NULL;
	natsSubscription *sub = NULL;
	struct core_sub c = { .n = n };
	unsigned char buf[MSG] = { 0 };
	uint64_t t0;

	c.lat = calloc(n, sizeof(uint64_t));
	nats_check(natsConnection_ConnectTo(&sc, url), "connect");
	nats_check(natsConnection_ConnectTo(&pc, url), "connect");
	nats_check(natsConnection_Subscribe(&sub, sc, "core.lat", on_core, &c), "subscribe");
	natsConnection_Flush(sc);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t ts;

		sleep_until(t0 + (uint64_t)((double)i * 1e9 / lat_rate));
		ts = now_ns();
		memcpy(buf, &i, 8);
		memcpy(buf + 8, &ts, 8);
		nats_check(natsConnection_Publish(pc, "core.lat", buf, MSG), "publish");
		natsConnection_Flush(pc);
	}
	while (atomic_load(&c.got) < n)
		usleep(1000);
	percentiles(c.lat + n / 10, n - n / 10, p50, p99);
	free(c.lat);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(pc);
	natsConnection_Destroy(sc);
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	double bp[16], pp[16], bf[16], pf[16], b50, b99, c50, c99, g50, g99;
	uint64_t lat_n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			lat_rate = atof(argv[++i]);
		else if (!strcmp(argv[i], "--order-none"))
			order = SHMRING_BRIDGE_ORDER_NONE;
		else if (!strcmp(argv[i], "--plain-ids"))
			plain_ids = 1;
		else if (!strcmp(argv[i], "--servers") && i + 1 < argc)
			snprintf(url, sizeof(url), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: shmring-bridge-bench [--count N] [--runs R] [--rate MSGS_PER_S] "
				"[--servers URL] [--order-none] [--plain-ids]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 16 || count < 1000)
		die("arguments", "--runs 1..16, --count >= 1000");
	if (!url[0])
		server_start();
	nats_check(natsConnection_ConnectTo(&nc, url), "connect");
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4096; /* the bridge's default window */
	jo.PublishAsync.StallWait = 30000;
	nats_check(natsConnection_JetStream(&js, nc, &jo), "JetStream");

	for (int i = 0; i < runs; i++) {
		char s1[32], s2[32], j1[32], j2[32];

		snprintf(s1, sizeof(s1), "BR%d", i);
		snprintf(j1, sizeof(j1), "br.%d", i);
		snprintf(s2, sizeof(s2), "PL%d", i);
		snprintf(j2, sizeof(j2), "pl.%d", i);
		/* Alternate which goes first, so neither always gets a fresh server. */
		if (i % 2) {
			pp[i] = bench_plain_pub(js, s2, j2);
			bp[i] = bench_bridge_pub(js, s1, j1);
		} else {
			bp[i] = bench_bridge_pub(js, s1, j1);
			pp[i] = bench_plain_pub(js, s2, j2);
		}
		/* Each reads the stream the bridge filled. */
		if (i % 2) {
			pf[i] = bench_plain_fetch(js, s1, j1);
			bf[i] = bench_bridge_fetch(s1, j1);
		} else {
			bf[i] = bench_bridge_fetch(s1, j1);
			pf[i] = bench_plain_fetch(js, s1, j1);
		}
		fprintf(stderr, "run %d: ring->stream %.0f vs %.0f, stream->ring %.0f vs %.0f msg/s\n", i + 1, bp[i],
			pp[i], bf[i], pf[i]);
	}
	lat_n = (uint64_t)(lat_rate * 4);
	bench_bridge_latency(js, lat_n, &g50, &g99);
	asap = 1;
	bench_bridge_latency(js, lat_n, &b50, &b99);
	bench_core_latency(lat_n, &c50, &c99);

	double mbp = median(bp, runs), mpp = median(pp, runs), mbf = median(bf, runs), mpf = median(pf, runs);

	printf("shmring-bridge-bench: %" PRIu64 " messages of %d bytes, median of %d runs; latency: %" PRIu64
	       " messages at %.0f/s, one local nats-server %s\n\n", count, MSG, runs, lat_n, lat_rate, url);
	printf("%-38s %14s %14s %8s\n", "measure", "bridge", "plain libnats", "ratio");
	printf("%-38s %14.0f %14.0f %8.2f\n", "ring -> stream (msg/s)", mbp, mpp, mbp / mpp);
	printf("%-38s %14.0f %14.0f %8.2f\n", "stream -> ring (msg/s)", mbf, mpf, mbf / mpf);
	printf("%-38s %14.1f %14.1f %8.2f\n", "latency p50, ring->ring vs core (us)", b50, c50, b50 / c50);
	printf("%-38s %14.1f %14.1f %8.2f\n", "latency p99, ring->ring vs core (us)", b99, c99, b99 / c99);
	printf("%-38s %14.1f %14.1f %8.2f\n", "  same, send_asap off: p50 (us)", g50, c50, g50 / c50);
	printf("%-38s %14.1f %14.1f %8.2f\n", "  same, send_asap off: p99 (us)", g99, c99, g99 / c99);

	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	server_stop();
	return 0;
}
