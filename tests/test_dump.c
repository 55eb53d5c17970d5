/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump, run as a real process against rings made here: empty,
 * full, wrapped (positions seeded near 2^64), with dead endpoints, with
 * corrupted positions and sequence words, truncated, with a corrupted or
 * half-written header, and objects that are not rings. Checks the text
 * output, the JSON (parsed by python3's json module) and the exit codes.
 */
#include "dump_common.h"

#define SLOT 24

struct ring {
	struct shmring p, c;
	char name[96];
};

/* A ring with a producer and a consumer attached. */
static void ring_make(struct ring *r, const char *tag, uint64_t cap, uint64_t init_pos)
{
	struct shmring_params prm;

	snprintf(r->name, sizeof(r->name), "%s", t_name(tag));
	shmring_params_init(&prm, SHMRING_SPSC, cap, SLOT);
	prm.flags = SHMRING_F_COUNTERS;
	prm.init_pos = init_pos;
	cr_assert_eq(shmring_create(&r->p, r->name, &prm, SHMRING_PRODUCER), 0, "%s",
		     shmring_errdetail());
	cr_assert_eq(shmring_open(&r->c, r->name, SHMRING_CONSUMER, NULL), 0, "%s",
		     shmring_errdetail());
}

static void ring_done(struct ring *r)
{
	shmring_close(&r->c);
	shmring_close(&r->p);
	shmring_unlink(r->name);
}

/* Payload of message k: "msg <k>" padded with zeros. */
static void payload(unsigned char buf[SLOT], uint64_t k)
{
	memset(buf, 0, SLOT);
	snprintf((char *)buf, SLOT, "msg %llu", (unsigned long long)k);
}

static void push_n(struct ring *r, uint64_t from, uint64_t n)
{
	unsigned char buf[SLOT];

	for (uint64_t k = from; k < from + n; k++) {
		payload(buf, k);
		cr_assert_eq(shmring_spsc_try_push(&r->p, buf), 0, "push %llu", (unsigned long long)k);
	}
}

static void pop_n(struct ring *r, uint64_t from, uint64_t n)
{
	unsigned char buf[SLOT], want[SLOT];

	for (uint64_t k = from; k < from + n; k++) {
		cr_assert_eq(shmring_spsc_try_pop(&r->c, buf), 0);
		payload(want, k);
		cr_assert(!memcmp(buf, want, SLOT));
	}
}

static struct shmring_ctrl *ctrl_of(unsigned char *map)
{
	return (struct shmring_ctrl *)(void *)(map + SHMRING_CTRL_OFF);
}

Test(dump, empty_ring)
{
	struct ring r;

	ring_make(&r, "dump-empty", 16, 0);
	struct t_run t = t_dump(r.name, NULL);

	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	cr_assert(strstr(t.out, "spsc, 16 slots x 24 B"), "%s", t.out);
	cr_assert(strstr(t.out, "fill 0 / 16 slots (0.0%)"), "%s", t.out);
	cr_assert(strstr(t.out, "endpoints: 2 registered (1 producer, 1 consumer)"), "%s", t.out);
	cr_assert(!strstr(t.out, "problems:"), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--check", r.name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	cr_assert(strstr(t.out, ": ok ("), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--json", "--messages", "4", r.name, NULL);
	cr_assert_eq(t.rc, 0);
	t_json_eq(t.out, "d['type'], d['capacity'], d['slot_size'], d['fill']", "spsc 16 24 0");
	t_json_eq(t.out, "d['positions']['head'], d['positions']['tail']", "0 0");
	t_json_eq(t.out, "len(d['messages']), d['check']['ok']", "0 True");
	/* python3's parent is this test process, which attached both */
	t_json_eq(t.out, "[(e['role'], e['alive'], e['pid'] == __import__('os').getppid()) for e in d['endpoints']]",
		  "[('producer', True, True), ('consumer', True, True)]");
	t_run_free(&t);

	t = t_dump("--messages", "3", r.name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "next 3 unconsumed:\n  (none)"), "%s", t.out);
	t_run_free(&t);
	ring_done(&r);
}

Test(dump, full_ring)
{
	struct ring r;
	unsigned char buf[SLOT];

	ring_make(&r, "dump-full", 8, 0);
	push_n(&r, 0, 8);
	cr_assert_eq(shmring_spsc_try_push(&r.p, buf), -EAGAIN);

	struct t_run t = t_dump(r.name, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert(strstr(t.out, "fill 8 / 8 slots (100.0%), high-water 8"), "%s", t.out);
	cr_assert(strstr(t.out, "full/empty hits        1 "), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--json", "--check", "--messages", "100", r.name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "d['fill'], d['high_water'], d['counters']['producer']['blocked']", "8 8 1");
	t_json_eq(t.out, "[m['pos'] for m in d['messages']]", "[0, 1, 2, 3, 4, 5, 6, 7]");
	t_json_eq(t.out, "bytes.fromhex(d['messages'][7]['hex']).rstrip(b'\\0').decode()", "msg 7");
	t_json_eq(t.out, "d['messages'][3]['text'].rstrip('\\0')", "msg 3");
	t_run_free(&t);

	/* --raw: the payloads alone, byte for byte */
	t = t_dump("--raw", "--messages", "3", r.name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert_eq(t.out_len, 3 * SLOT);
	for (int k = 0; k < 3; k++) {
		payload(buf, (uint64_t)k);
		cr_assert(!memcmp(t.out + k * SLOT, buf, SLOT), "raw message %d", k);
	}
	t_run_free(&t);
	ring_done(&r);
}

/* Positions seeded 5 below 2^64: the dump's arithmetic wraps with them. */
Test(dump, wrapped_ring)
{
	struct ring r;
	const uint64_t p0 = UINT64_MAX - 4;
	char want[64];

	ring_make(&r, "dump-wrap", 8, p0);
	push_n(&r, 0, 8);
	pop_n(&r, 0, 6);
	push_n(&r, 8, 5); /* 7 in the ring: messages 6..12, positions p0+6..p0+12 */

	struct t_run t = t_dump("--json", "--check", "--messages", "3", r.name, NULL);

	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	snprintf(want, sizeof(want), "%llu %llu 7", (unsigned long long)(p0 + 13),
		 (unsigned long long)(p0 + 6));
	t_json_eq(t.out, "d['positions']['head'], d['positions']['tail'], d['fill']", want);
	t_json_eq(t.out, "[m['text'].rstrip('\\0') for m in d['messages']]", "['msg 6', 'msg 7', 'msg 8']");
	t_json_eq(t.out, "d['check']['ok'], d['check']['problems']", "True []");
	t_run_free(&t);

	/* --tail: the last 10 written, of which 3 are consumed (msg 3..5)
	 * and the 3 before them already overwritten (one lap at most). */
	t = t_dump("--json", "--tail", "10", r.name, NULL);
	cr_assert_eq(t.rc, 0);
	t_json_eq(t.out, "[(m['text'].rstrip('\\0'), m['consumed']) for m in d['tail']][:4]",
		  "[('msg 5', True), ('msg 6', False), ('msg 7', False), ('msg 8', False)]");
	t_json_eq(t.out, "len(d['tail']), d['tail'][-1]['text'].rstrip('\\0')", "8 msg 12");
	t_run_free(&t);

	t = t_dump("--tail", "2", r.name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "|msg 11"), "%s", t.out);
	cr_assert(strstr(t.out, "|msg 12"), "%s", t.out);
	t_run_free(&t);
	ring_done(&r);
}

Test(dump, list_skips_foreign_and_reports_unreadable)
{
	struct ring r, bad;
	char junk[96], out[256];
	size_t len;

	ring_make(&r, "dump-list", 8, 0);
	push_n(&r, 0, 3);
	ring_make(&bad, "dump-listbad", 8, 0);
	unsigned char *m = t_map_rw(bad.name, &len);

	((struct shmring_hdr *)(void *)m)->capacity = 12; /* not a power of two */
	munmap(m, len);

	snprintf(junk, sizeof(junk), "%s", t_name("dump-junk"));
	int fd = shm_open(junk, O_RDWR | O_CREAT | O_EXCL, 0600);

	cr_assert(fd >= 0);
	cr_assert(write(fd, "this is not a ring, just some text\n", 35) == 35);
	close(fd);

	struct t_run t = t_dump(NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert(strncmp(t.out, "NAME ", 5) == 0, "%s", t.out);
	const char *row = strstr(t.out, r.name);

	cr_assert(row, "%s", t.out);
	cr_assert(strstr(row, "spsc"), "%s", row);
	cr_assert(strstr(row, "8x24B"), "%s", row);
	cr_assert(strstr(row, "1p/1c"), "%s", row);
	row = strstr(t.out, bad.name);
	cr_assert(row, "%s", t.out);
	cr_assert(strstr(row, "unreadable:") && strstr(row, "capacity"), "%s", row);
	cr_assert(!strstr(t.out, junk), "a foreign object was listed:\n%s", t.out);
	cr_assert(!strstr(t.err, junk), "a foreign object was reported:\n%s", t.err);
	t_run_free(&t);

	t = t_dump("--json", NULL);
	cr_assert_eq(t.rc, 0);
	snprintf(out, sizeof(out), "[(x['type'], x['capacity'], x['fill'], x['producers']) for x in d['rings'] if x['name'] == '%s']", r.name);
	t_json_eq(t.out, out, "[('spsc', 8, 3, 1)]");
	snprintf(out, sizeof(out), "[('capacity' in x['reason'], x['errno']) for x in d['rings'] if x['name'] == '%s']", bad.name);
	t_json_eq(t.out, out, "[(True, 71)]"); /* EPROTO */
	snprintf(out, sizeof(out), "[x for x in d['rings'] if x['name'] == '%s']", junk);
	t_json_eq(t.out, out, "[]");
	t_run_free(&t);

	/* --check over the list fails because of the bad ring */
	t = t_dump("--check", NULL);
	cr_assert_eq(t.rc, 1, "%s", t.out);
	t_run_free(&t);

	/* By name, the foreign object is refused with exit 3 */
	t = t_dump(junk, NULL);
	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "not a shmring object"), "%s", t.err);
	t_run_free(&t);

	shm_unlink(junk);
	ring_done(&bad);
	ring_done(&r);
}

Test(dump, missing_and_usage)
{
	struct t_run t = t_dump("/shmring-test-dump-no-such-ring", NULL);

	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "No such file"), "%s", t.err);
	t_run_free(&t);

	t = t_dump("--json", "/shmring-test-dump-no-such-ring", NULL);
	cr_assert_eq(t.rc, 3);
	t_json_eq(t.out, "d['errno'], d['ready']", "2 True");
	t_run_free(&t);

	const char *bad[][4] = {
		{ "--bogus", NULL },
		{ "--messages", "x", "/r", NULL },
		{ "--raw", "/r", NULL },
		{ "--raw", "--json", "--messages", "1" },
		{ "--messages", "1", NULL },
		{ "a", "b", NULL },
		{ "--watch", "--check", "/r", NULL },
		{ "--count", "2", "/r", NULL },
		{ "a/b", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = t_dump(bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		cr_assert_eq(t.rc, i == 8 ? 3 : 2, "case %zu: rc %d: %s", i, t.rc, t.err);
		t_run_free(&t);
	}

	t = t_dump("--help", NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "Exit status:"), "%s", t.out);
	t_run_free(&t);
}

/* An object cut short: the library's validation refuses it; exit 3. */
Test(dump, truncated)
{
	struct ring r;

	ring_make(&r, "dump-trunc", 64, 0);
	push_n(&r, 0, 5);
	int fd = shm_open(r.name, O_RDWR, 0);
	struct stat st0;

	cr_assert(fd >= 0 && fstat(fd, &st0) == 0);
	cr_assert(ftruncate(fd, 8192) == 0);

	struct t_run t = t_dump(r.name, NULL);

	cr_assert_eq(t.rc, 3, "rc %d: %s", t.rc, t.out);
	cr_assert(strstr(t.err, "total_size"), "%s", t.err);
	t_run_free(&t);

	cr_assert(ftruncate(fd, 100) == 0);
	t = t_dump("--json", r.name, NULL);
	cr_assert_eq(t.rc, 3);
	t_json_eq(t.out, "d['errno'], 'header' in d['error']", "71 True");
	t_run_free(&t);
	cr_assert(ftruncate(fd, st0.st_size) == 0); /* back to the size our handles map */
	close(fd);
	ring_done(&r);
}

Test(dump, corrupt_header_fields)
{
	static const struct {
		size_t off;
		uint64_t val;
		unsigned width;
		const char *want;
		int rc;
	} cases[] = {
		{ 0, 0x1122334455667788ull, 8, "not a shmring object", 3 },
		{ 8, 7, 4, "abi_version is 7", 3 },
		{ 16, 9, 2, "no such ring type", 3 },
		{ 24, 0, 4, "slot_size", 3 },
		{ 32, 1ull << 50, 8, "capacity", 3 },
		{ 40, 1ull << 40, 8, "total_size", 3 },
		{ 72, 4096, 8, "data_off", 3 },
		{ 256, 0, 4, "not ready", 4 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ring r;
		size_t len;

		ring_make(&r, "dump-hdr", 8, 0);
		unsigned char *m = t_map_rw(r.name, &len);
		unsigned char *before = t_object_bytes(r.name, &len);

		memcpy(before + cases[i].off, &cases[i].val, cases[i].width);
		memcpy(m + cases[i].off, &cases[i].val, cases[i].width);

		struct t_run t = t_dump(r.name, NULL);

		cr_assert_eq(t.rc, cases[i].rc, "case %zu: rc %d: %s", i, t.rc, t.err);
		cr_assert(strstr(t.err, cases[i].want), "case %zu: %s", i, t.err);
		t_run_free(&t);
		t = t_dump("--json", r.name, NULL);
		cr_assert_eq(t.rc, cases[i].rc);
		char *ok = t_json(t.out, "d['error']");

		cr_assert(ok, "case %zu: invalid JSON: %s", i, t.out);
		free(ok);
		t_run_free(&t);

		/* the dump changed nothing */
		size_t len2;
		unsigned char *after = t_object_bytes(r.name, &len2);

		cr_assert(len2 == len && !memcmp(before, after, len), "case %zu: object changed", i);
		free(before);
		free(after);
		munmap(m, len);
		ring_done(&r);
	}
}

/* Not ready: the creator died before it set ready: a stale object. */
Test(dump, stale_creator)
{
	struct ring r;
	size_t len;

	ring_make(&r, "dump-stale", 8, 0);
	unsigned char *m = t_map_rw(r.name, &len);
	struct shmring_hdr *h = (struct shmring_hdr *)(void *)m;
	pid_t pid = t_fork();

	if (pid == 0)
		_exit(0);
	t_wait_ok(pid, "child");
	h->creator_pid = pid; /* a pid that just died */
	__atomic_store_n((uint32_t *)(void *)&h->ready, 0, __ATOMIC_RELEASE);

	struct t_run t = t_dump(r.name, NULL);

	cr_assert_eq(t.rc, 4, "%s", t.err);
	cr_assert(strstr(t.err, "dead: a stale object"), "%s", t.err);
	t_run_free(&t);

	t = t_dump("--json", NULL);
	char q[256];

	snprintf(q, sizeof(q), "[x['ready'] for x in d['rings'] if x['name'] == '%s']", r.name);
	t_json_eq(t.out, q, "[False]");
	t_run_free(&t);
	munmap(m, len);
	ring_done(&r);
}

/* Peer-corrupted positions and sequence words: reported, exit 1 with
 * --check, the report itself still printed (exit 0). */
Test(dump, corrupt_positions)
{
	static const struct {
		const char *what;
		const char *invariant;
	} cases[] = {
		{ "head past capacity", "fill-capacity" },
		{ "tail ahead of head", "positions-ordered" },
		{ "sequence of another slot", "slot-sequence" },
		{ "unpublished slot below head", "slot-sequence" },
		{ "cache ahead of tail", "cached-positions" },
		{ "high-water past capacity", "high-water" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ring r;
		size_t len;

		ring_make(&r, "dump-pos", 8, 0);
		push_n(&r, 0, 6);
		pop_n(&r, 0, 2);
		unsigned char *m = t_map_rw(r.name, &len);
		struct shmring_ctrl *c = ctrl_of(m);
		unsigned char *data = m + ((struct shmring_hdr *)(void *)m)->data_off;
		uint32_t stride = ((struct shmring_hdr *)(void *)m)->slot_stride;

		switch (i) {
		case 0: c->prod.pos = 2 + 8 + 3; break;
		case 1: c->cons.pos = 6 + 2; break; /* positions 6, 7 never published */
		case 2: *(uint64_t *)(void *)(data + 3 * stride) = 5 + 1; break;
		case 3: *(uint64_t *)(void *)(data + 4 * stride) = (uint64_t)(4 + 1 - 8); break;
		case 4: c->prod.cached = 5; break;
		case 5: c->prod_stats.high_water = 9; break;
		}

		struct t_run t = t_dump(r.name, NULL);

		cr_assert_eq(t.rc, 0, "case %zu: %s", i, t.err);
		cr_assert(strstr(t.out, "problems:") && strstr(t.out, cases[i].invariant), "case %zu:\n%s",
			  i, t.out);
		t_run_free(&t);

		t = t_dump("--check", r.name, NULL);
		cr_assert_eq(t.rc, 1, "case %zu (%s): %s", i, cases[i].what, t.out);
		cr_assert(strstr(t.out, "FAILED") && strstr(t.out, cases[i].invariant), "case %zu: %s", i,
			  t.out);
		t_run_free(&t);

		t = t_dump("--check", "--json", "--messages", "8", r.name, NULL);
		cr_assert_eq(t.rc, 1);
		char want[128];

		snprintf(want, sizeof(want), "False %s", cases[i].invariant);
		t_json_eq(t.out, "d['check']['ok'], [p['invariant'] for p in d['check']['problems'] if not p['warning']][0]",
			  want);
		t_run_free(&t);
		munmap(m, len);
		ring_done(&r);
	}
}

/* Endpoints whose process died: a warning; one holding a claim fails. */
Test(dump, dead_endpoint)
{
	struct ring r;
	struct shmring_params prm;
	size_t len;

	snprintf(r.name, sizeof(r.name), "%s", t_name("dump-dead"));
	shmring_params_init(&prm, SHMRING_SPSC, 8, SLOT);
	cr_assert_eq(shmring_create(&r.p, r.name, &prm, SHMRING_PRODUCER), 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring c;

		_exit(shmring_open(&c, r.name, SHMRING_CONSUMER, NULL) == 0 ? 0 : 1);
	}
	t_wait_ok(pid, "consumer");

	struct t_run t = t_dump(r.name, NULL);
	char pidtxt[32];

	snprintf(pidtxt, sizeof(pidtxt), "%-8d", (int)pid);
	cr_assert_eq(t.rc, 0);
	const char *row = strstr(t.out, "  1     consumer");

	cr_assert(row && strstr(row, pidtxt) && strstr(row, " NO "), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--check", r.name, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.out);
	cr_assert(strstr(t.out, "warning dead-endpoint"), "%s", t.out);
	t_run_free(&t);

	/* The dead consumer now holds positions 0..1 (as an MPMC endpoint
	 * that died between claim and release would). */
	unsigned char *m = t_map_rw(r.name, &len);
	struct shmring_endpoint *e = (struct shmring_endpoint *)(void *)(m + SHMRING_EP_OFF) + 1;

	e->claim_pos = 0;
	e->claim_end = 2;
	t = t_dump("--check", "--json", r.name, NULL);
	cr_assert_eq(t.rc, 1, "%s", t.out);
	t_json_eq(t.out, "[p['invariant'] for p in d['check']['problems'] if not p['warning']]",
		  "['dead-endpoint-claim']");
	t_json_eq(t.out, "[(e['role'], e['alive'], e['claim_pos'], e['claim_end']) for e in d['endpoints']]",
		  "[('producer', True, None, None), ('consumer', False, 0, 2)]");
	t_run_free(&t);
	munmap(m, len);
	shmring_close(&r.p);
	shmring_unlink(r.name);
}

/*
 * A hostile peer shrinks and regrows the object while dumps run: each dump
 * is refused at validation, reads a zeroed region, or catches SIGBUS and
 * says so; it never dies of a signal, and only documented codes come back.
 */
Test(dump, shrink_while_reading, .timeout = 120)
{
	struct ring r;
	struct stat st;
	static const char *const modes[][5] = {
		{ NULL }, { "--check", NULL }, { "--json", "--messages", "64", NULL },
		{ "--tail", "64", NULL }, { "--check", "--json", NULL },
	};
	unsigned by_rc[5] = { 0 }, bus = 0;

	ring_make(&r, "dump-shrink", 1024, 0);
	push_n(&r, 0, 1000);
	int fd = shm_open(r.name, O_RDWR, 0);

	cr_assert(fd >= 0 && fstat(fd, &st) == 0);
	pid_t pid = t_fork();

	if (pid == 0) {
		for (;;) {
			if (ftruncate(fd, 4096) < 0)
				_exit(1);
			usleep(50);
			if (ftruncate(fd, st.st_size) < 0)
				_exit(1);
			usleep(200);
		}
	}
	for (int i = 0; i < 60; i++) {
		const char *const *m = modes[i % 5];
		struct t_run t = t_dump(m[0] ? m[0] : r.name, m[0] && m[1] ? m[1] : m[0] ? r.name : NULL,
					m[1] && m[2] ? m[2] : m[1] ? r.name : NULL,
					m[2] && m[3] ? m[3] : m[2] ? r.name : NULL, NULL);

		cr_assert(t.rc <= 4, "mode %d: exit status %d (a signal?): %s", i % 5, t.rc, t.err);
		cr_assert(t.rc == 0 || t.rc == 1 || t.err[0], "mode %d: exit %d with no message", i % 5, t.rc);
		by_rc[t.rc]++;
		bus += strstr(t.err, "SIGBUS") != NULL;
		t_run_free(&t);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert(ftruncate(fd, st.st_size) == 0); /* our handles may touch it again */
	close(fd);
	ring_done(&r);
	cr_log_info("exit codes 0..4: %u %u %u %u %u; SIGBUS caught %u times", by_rc[0], by_rc[1],
		    by_rc[2], by_rc[3], by_rc[4], bus);
}
