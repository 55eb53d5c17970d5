/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump as a metrics exporter: --prom (one scrape to stdout),
 * --listen (HTTP on an ephemeral loopback port, scraped with curl while a
 * producer and a consumer process stream), --watch --json (one JSON
 * object a line), and the `gone` counters in the JSON report. Every
 * exposition goes through tests/prom_check.py, which checks the format
 * line by line and hands back the series.
 */
#include <netinet/in.h>
#include <poll.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "dump_common.h"

#define WATCHDOG_MS 20000

static const char *prom_check_path(void)
{
	const char *p = getenv("SHMRING_PROM_CHECK");

	cr_assert(p && *p, "SHMRING_PROM_CHECK (tests/prom_check.py) is not set");
	return p;
}

/* Check an exposition; returns the checker's report ("samples N", then
 * one "key<TAB>value" line per series). */
static char *prom_checked(const char *text)
{
	const char *argv[] = { "python3", prom_check_path(), NULL };
	struct t_run r = t_exec(argv, text);

	cr_assert_eq(r.rc, 0, "the exposition is not valid: %s\n%s", r.err, text);
	free(r.err);
	return r.out;
}

/* The value of the series `key` in a checker's report; -1 if absent. */
static double series(const char *checked, const char *key)
{
	size_t n = strlen(key);

	for (const char *l = checked; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, n) && l[n] == '\t')
			return strtod(l + n + 1, NULL);
	return -1;
}

/* The key of ring `name`'s series (labels in sorted order, as the checker
 * writes them); side may be NULL. */
static void key_of(char *buf, size_t len, const char *metric, const char *name, const char *type,
		   const char *side)
{
	if (side)
		snprintf(buf, len, "%s{ring=\"%s\",side=\"%s\",type=\"%s\"}", metric, name, side, type);
	else
		snprintf(buf, len, "%s{ring=\"%s\",type=\"%s\"}", metric, name, type);
}

static void make_ring(struct shmring *r, const char *name, uint32_t type, uint32_t flags)
{
	struct shmring_params p;

	shmring_params_init(&p, type, type == SHMRING_SPSC || type == SHMRING_MPMC ? 64 : 4096,
			    type == SHMRING_SPSC || type == SHMRING_MPMC ? 16 : 0);
	p.flags = flags;
	cr_assert_eq(shmring_create(r, name, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

Test(dump_metrics, prom_once, .timeout = 60)
{
	char n1[96], n2[96], key[512];
	struct shmring a, b, prod;
	uint64_t v[2] = { 1, 2 }; /* one 16-byte slot */

	snprintf(n1, sizeof(n1), "%s", t_name("prom-a"));
	snprintf(n2, sizeof(n2), "%s", t_name("prom-b"));
	make_ring(&a, n1, SHMRING_SPSC, SHMRING_F_COUNTERS);
	make_ring(&b, n2, SHMRING_MSG_MPSC, 0);
	cr_assert_eq(shmring_open(&prod, n1, SHMRING_PRODUCER, NULL), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(shmring_spsc_try_push(&prod, v), 0);

	struct t_run t = t_dump("--prom", n1, n2, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	char *c = prom_checked(t.out);

	key_of(key, sizeof(key), "shmring_fill", n1, "spsc", NULL);
	cr_assert_eq(series(c, key), 5.0, "%s", t.out);
	key_of(key, sizeof(key), "shmring_written_total", n1, "spsc", NULL);
	cr_assert_eq(series(c, key), 5.0);
	key_of(key, sizeof(key), "shmring_capacity", n2, "msg-mpsc", NULL);
	cr_assert_eq(series(c, key), 4096.0);
	key_of(key, sizeof(key), "shmring_endpoints_live", n1, "spsc", "producer");
	cr_assert_eq(series(c, key), 1.0);
	key_of(key, sizeof(key), "shmring_counters_enabled", n2, "msg-mpsc", NULL);
	cr_assert_eq(series(c, key), 0.0);
	/* Counters a ring does not keep are left out, not shown as 0. */
	key_of(key, sizeof(key), "shmring_blocked_total", n2, "msg-mpsc", "producer");
	cr_assert_eq(series(c, key), -1.0);
	key_of(key, sizeof(key), "shmring_blocked_total", n1, "spsc", "producer");
	cr_assert_eq(series(c, key), 0.0);
	free(c);
	t_run_free(&t);

	/* A name that is no ring: listed unreadable, exit 3. */
	char missing[128];

	snprintf(missing, sizeof(missing), "%s-missing", n1);
	t = t_dump("--prom", n1, missing, NULL);
	cr_assert_eq(t.rc, 3, "%s", t.err);
	c = prom_checked(t.out);
	snprintf(key, sizeof(key), "shmring_readable{errno=\"2\",ring=\"%s\",type=\"unknown\"}", missing);
	cr_assert_eq(series(c, key), 0.0, "%s", t.out);
	free(c);
	t_run_free(&t);

	shmring_close(&prod);
	shmring_close(&a);
	shmring_close(&b);
	shmring_unlink(n1);
	shmring_unlink(n2);
}

/* Every ring in /dev/shm, ours among them, and one that cannot be read. */
Test(dump_metrics, prom_all, .timeout = 60)
{
	char n1[96], empty[96], key[512];
	struct shmring a;

	snprintf(n1, sizeof(n1), "%s", t_name("prom-all"));
	snprintf(empty, sizeof(empty), "%s", t_name("prom-empty"));
	make_ring(&a, n1, SHMRING_MPMC, SHMRING_F_COUNTERS);
	int fd = shm_open(empty, O_CREAT | O_EXCL | O_RDWR, 0600);

	cr_assert(fd >= 0);
	close(fd);

	struct t_run t = t_dump("--prom", NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	char *c = prom_checked(t.out);

	key_of(key, sizeof(key), "shmring_capacity", n1, "mpmc", NULL);
	cr_assert_eq(series(c, key), 64.0);
	snprintf(key, sizeof(key), "shmring_readable{errno=\"%d\",ring=\"%s\",type=\"unknown\"}",
		 ETIMEDOUT, empty);
	cr_assert_eq(series(c, key), 0.0, "an empty object is not ready:\n%s", t.out);
	free(c);
	t_run_free(&t);
	/* --all says the same. */
	t = t_dump("--prom", "--all", NULL);
	cr_assert_eq(t.rc, 0);
	free(prom_checked(t.out));
	t_run_free(&t);
	shm_unlink(empty);
	shmring_close(&a);
	shmring_unlink(n1);
}

/* A name with bytes the format must escape comes back unchanged. */
Test(dump_metrics, label_escaping, .timeout = 30)
{
	char name[128], key[512];
	struct shmring a;

	snprintf(name, sizeof(name), "%s-q\"b\\s", t_name("prom-esc"));
	make_ring(&a, name, SHMRING_SPSC, 0);
	struct t_run t = t_dump("--prom", name, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	char *c = prom_checked(t.out);

	/* The checker gives label values unescaped: the name as it is. */
	snprintf(key, sizeof(key), "shmring_capacity{ring=\"%s\",type=\"spsc\"}", name);
	cr_assert_eq(series(c, key), 64.0, "%s\n%s", key, t.out);
	free(c);
	t_run_free(&t);
	shmring_close(&a);
	shmring_unlink(name);
}

/* ---- --listen, scraped while processes stream ---- */

struct flow {
	_Atomic uint32_t stop;
};

static pid_t start_flow(const char *name, uint32_t role, struct flow *fl)
{
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid)
		return pid;
	struct shmring r;
	uint64_t v[2] = { 0, 0 }; /* one 16-byte slot */
	struct timespec pause = { 0, 200000 };

	if (shmring_open(&r, name, role, NULL) < 0)
		_exit(1);
	while (!atomic_load(&fl->stop)) {
		int ret = role == SHMRING_PRODUCER ? shmring_spsc_try_push(&r, v) : shmring_spsc_try_pop(&r, v);

		if (ret == -EAGAIN)
			nanosleep(&pause, NULL); /* leave the CPUs to the scrapes */
		else if (ret < 0)
			_exit(2);
		else if (role == SHMRING_PRODUCER)
			v[0]++;
	}
	_exit(shmring_close(&r) == 0 ? 0 : 3);
}

struct server {
	pid_t pid;
	int err; /* its standard error */
	int port;
};

/* shmring-dump --listen 127.0.0.1:0 NAME: the port from its first line. */
static struct server start_server(const char *name)
{
	struct server s;
	int pe[2];
	char line[256];
	size_t n = 0;

	cr_assert(pipe(pe) == 0);
	s.pid = t_fork();
	cr_assert(s.pid >= 0);
	if (s.pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(pe[1], 2);
		execl(t_dump_path(), t_dump_path(), "--listen", "127.0.0.1:0", name, (char *)NULL);
		_exit(127);
	}
	close(pe[1]);
	s.err = pe[0];
	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = s.err, .events = POLLIN };

		cr_assert_eq(poll(&p, 1, WATCHDOG_MS), 1, "the server did not say where it listens");
		cr_assert_eq(read(s.err, line + n, 1), 1, "the server ended before listening");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	const char *p = strstr(line, "http://127.0.0.1:");

	cr_assert(p, "%s", line);
	s.port = atoi(p + strlen("http://127.0.0.1:"));
	cr_assert(s.port > 0, "%s", line);
	return s;
}

/* A request through a plain socket; the whole response. */
static char *http_raw(int port, const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	cr_assert(fd >= 0 && buf);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		cr_assert_eq(poll(&p, 1, WATCHDOG_MS), 1, "no response");
		if (n + 1 == cap)
			cr_assert((buf = realloc(buf, cap *= 2)));
		ssize_t k = read(fd, buf + n, cap - 1 - n);

		cr_assert(k >= 0);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* GET /metrics with curl (the real client a scraper resembles); the body. */
static char *scrape(int port)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	const char *argv[] = { "curl", "-sS", "--fail", "--max-time", "20", url, NULL };
	struct t_run r = t_exec(argv, NULL);

	if (r.rc == 127) {
		/* No curl here: the same request by hand, body after the head. */
		t_run_free(&r);
		char *all = http_raw(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
		char *body = strstr(all, "\r\n\r\n");

		cr_assert(body && !strncmp(all, "HTTP/1.1 200", 12), "%s", all);
		body = strdup(body + 4);
		free(all);
		return body;
	}
	cr_assert_eq(r.rc, 0, "curl: %s", r.err);
	free(r.err);
	return r.out;
}

Test(dump_metrics, listen_live, .timeout = 120)
{
	char name[96], key[512];
	struct shmring own;
	struct flow *fl = mmap(NULL, sizeof(*fl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert(fl != MAP_FAILED);
	snprintf(name, sizeof(name), "%s", t_name("listen"));
	make_ring(&own, name, SHMRING_SPSC, SHMRING_F_COUNTERS);
	pid_t prod = start_flow(name, SHMRING_PRODUCER, fl);
	pid_t cons = start_flow(name, SHMRING_CONSUMER, fl);
	struct server s = start_server(name);
	double written[3];

	key_of(key, sizeof(key), "shmring_written_total", name, "spsc", NULL);
	for (int i = 0; i < 3; i++) {
		char *body = scrape(s.port);
		char *c = prom_checked(body);
		char k2[512];

		written[i] = series(c, key);
		cr_assert(written[i] >= 0, "%s", body);
		if (i)
			cr_assert(written[i] >= written[i - 1], "a counter went back: %f then %f",
				  written[i - 1], written[i]);
		key_of(k2, sizeof(k2), "shmring_endpoints_live", name, "spsc", "producer");
		cr_assert_eq(series(c, k2), 1.0);
		key_of(k2, sizeof(k2), "shmring_fill", name, "spsc", NULL);
		cr_assert(series(c, k2) >= 0 && series(c, k2) <= 64);
		free(c);
		free(body);
	}
	/* Only GET (and HEAD) of /metrics. */
	char *r = http_raw(s.port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");

	cr_assert(!strncmp(r, "HTTP/1.1 404", 12), "%s", r);
	free(r);
	r = http_raw(s.port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	cr_assert(!strncmp(r, "HTTP/1.1 405", 12), "%s", r);
	free(r);
	r = http_raw(s.port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	cr_assert(!strncmp(r, "HTTP/1.1 200", 12) && strstr(r, "version=0.0.4"), "%s", r);
	cr_assert(!strstr(r, "# HELP"), "HEAD has no body: %s", r);
	free(r);

	/* SIGTERM ends it cleanly. */
	int st;

	kill(s.pid, SIGTERM);
	cr_assert_eq(waitpid(s.pid, &st, 0), s.pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	close(s.err);
	atomic_store(&fl->stop, 1);
	t_wait_ok(prod, "producer");
	t_wait_ok(cons, "consumer");
	shmring_close(&own);
	shmring_unlink(name);
	munmap(fl, sizeof(*fl));
}

Test(dump_metrics, listen_bad_address, .timeout = 30)
{
	struct t_run t = t_dump("--listen", "127.0.0.1:99999", NULL);

	cr_assert_eq(t.rc, 2, "%s", t.err);
	t_run_free(&t);
	t = t_dump("--listen", "no.such.host.invalid:0", NULL);
	cr_assert_eq(t.rc, 2, "%s", t.err);
	t_run_free(&t);
	t = t_dump("--prom", "--json", NULL);
	cr_assert_eq(t.rc, 2);
	t_run_free(&t);
	t = t_dump("--prom", "--count", "2", NULL);
	cr_assert_eq(t.rc, 2);
	t_run_free(&t);
	t = t_dump("--all", "/x", "--prom", NULL);
	cr_assert_eq(t.rc, 2);
	t_run_free(&t);
}

/* ---- --watch --json ---- */

/* Each line must parse as a JSON object; returns how many lines name
 * `name` and satisfy the Python expression `expr` over the line's `d`
 * (NULL: any); -1 if a line is not JSON or `expr` fails on one. One
 * interpreter for all lines. */
static int json_lines(const char *out, const char *name, const char *expr)
{
	char prog[1024];
	struct t_run r;
	int hits;

	snprintf(prog, sizeof(prog),
		 "import json,sys\nn=0\nfor l in sys.stdin:\n"
		 "  d=json.loads(l)\n"
		 "  assert isinstance(d, dict), l\n"
		 "  if d.get('name')==sys.argv[1]:\n"
		 "    assert %s, l\n"
		 "    n+=1\n"
		 "print(n)\n", expr ? expr : "True");
	const char *argv[] = { "python3", "-c", prog, name, NULL };

	r = t_exec(argv, out);
	if (r.rc != 0) {
		fprintf(stderr, "%s\n", r.err);
		t_run_free(&r);
		return -1;
	}
	hits = atoi(r.out);
	t_run_free(&r);
	return hits;
}

Test(dump_metrics, watch_json, .timeout = 60)
{
	char n1[96], n2[96];
	struct shmring a, b, prod;
	uint64_t v[2] = { 1, 2 }; /* one 16-byte slot */

	snprintf(n1, sizeof(n1), "%s", t_name("wj-a"));
	snprintf(n2, sizeof(n2), "%s", t_name("wj-b"));
	make_ring(&a, n1, SHMRING_SPSC, SHMRING_F_COUNTERS);
	make_ring(&b, n2, SHMRING_MPMC, 0);
	cr_assert_eq(shmring_open(&prod, n1, SHMRING_PRODUCER, NULL), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(shmring_spsc_try_push(&prod, v), 0);

	struct t_run t = t_dump("--watch", "0.05", "--count", "2", "--json", n1, n2, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(json_lines(t.out, n1, "d['fill'] == 3 and d['rates']['unit'] == 'slots' and "
					   "d['gone'] == {'producers': 0, 'consumers': 0} and d['check']['ok']"),
		     2, "%s", t.out);
	cr_assert_eq(json_lines(t.out, n2, "d['refresh'] in (1, 2) and d['type'] == 'mpmc'"), 2);
	t_run_free(&t);

	/* Every ring: ours is there, each line is JSON. */
	t = t_dump("--watch", "0.05", "--count", "1", "--json", "--all", NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert_eq(json_lines(t.out, n2, NULL), 1, "%s", t.out);
	t_run_free(&t);

	/* Text, two rings. */
	t = t_dump("--watch", "0.05", "--count", "1", n1, n2, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert(strstr(t.out, n1) && strstr(t.out, n2) && strstr(t.out, "rates over"), "%s", t.out);
	t_run_free(&t);

	shmring_close(&prod);
	shmring_close(&a);
	shmring_close(&b);
	shmring_unlink(n1);
	shmring_unlink(n2);
}

/* A producer that died and whose entry recovery freed, with no producer
 * left: the JSON report's gone counter says so. */
Test(dump_metrics, json_gone, .timeout = 60)
{
	char name[96];
	struct shmring own;

	snprintf(name, sizeof(name), "%s", t_name("gone"));
	make_ring(&own, name, SHMRING_MPMC, 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring r;

		if (shmring_open(&r, name, SHMRING_PRODUCER, NULL) < 0)
			_exit(1);
		raise(SIGKILL);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(shmring_recover(&own), 1, "%s", shmring_errdetail());
	struct t_run t = t_dump("--json", name, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	t_json_eq(t.out, "d['gone']['producers'], d['gone']['consumers']", "1 0");
	t_run_free(&t);
	/* And the metric. */
	char key[512];

	t = t_dump("--prom", name, NULL);
	char *c = prom_checked(t.out);

	key_of(key, sizeof(key), "shmring_gone_total", name, "mpmc", "producer");
	cr_assert_eq(series(c, key), 1.0, "%s", t.out);
	free(c);
	t_run_free(&t);
	shmring_close(&own);
	shmring_unlink(name);
}

/* ---- --size: planning, checked against a ring really created ---- */

static void size_case(const char *type_name, uint32_t type, const char *cap_arg, uint64_t cap,
		      const char *slot_arg, uint32_t slot)
{
	struct shmring_params p;
	struct shmring r;
	struct stat st;
	char want[64];

	shmring_params_init(&p, type, cap, slot);
	cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(fstat(shmring_fd(&r), &st), 0);
	struct t_run t = t_dump("--size", "--json", type_name, cap_arg, slot_arg, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	snprintf(want, sizeof(want), "%lld", (long long)st.st_size);
	t_json_eq(t.out, "d['bytes']", want);
	t_json_eq(t.out, "d['fits'] in (True, False, None)", "True");
	t_run_free(&t);
	shmring_close(&r);
}

Test(dump_size, plan, .timeout = 60)
{
	size_case("spsc", SHMRING_SPSC, "2^12", 4096, "64", 64);
	size_case("mpmc", SHMRING_MPMC, "1K", 1024, "24", 24);
	size_case("msg-spsc", SHMRING_MSG_SPSC, "64K", 65536, NULL, 0);
	size_case("msg-mpsc", SHMRING_MSG_MPSC, "4096", 4096, "100", 100);

	struct t_run t = t_dump("--size", "spsc", "2^19", "64", NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert(strstr(t.out, "524288 slots x 64 B") && strstr(t.out, "/dev/shm"), "%s", t.out);
	t_run_free(&t);
	const char *bad[][5] = {
		{ "--size", "spsc", "100", "8", NULL },     /* not a power of two */
		{ "--size", "ring", "64", "8", NULL },      /* no such type */
		{ "--size", "spsc", "64", NULL },           /* a slot ring needs SLOT */
		{ "--size", "spsc", "64", "x", NULL },
		{ "--size", "spsc", NULL },
		{ "--size", "--prom", "spsc", "64", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = t_dump(bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		cr_assert_eq(t.rc, 2, "case %zu: rc %d: %s", i, t.rc, t.err);
		t_run_free(&t);
	}
	t = t_dump("--size", "spsc", "100", "8", NULL);
	cr_assert(strstr(t.err, "power of two"), "the library's detail: %s", t.err);
	t_run_free(&t);
}
