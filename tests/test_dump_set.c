/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump --set: a ring set seen from another process.
 *
 * A consumer process owns a set; producer processes create their rings,
 * join the set through its control ring and fill them; every message is
 * checked by the consumer (per-producer order, checksum, count). The dump
 * runs as its own process while the consumer is idle (between commands,
 * so every counter is still) and must list exactly the members, with
 * their names, tags, types and counters and their rings' state. Members
 * that leave (a producer that closes and exits, an explicit remove)
 * disappear from it. A corrupt membership table gives a clear error and
 * exit status 3, never a crash or a read outside the object.
 *
 * Processes synchronise through pipes only; nothing here is timed.
 */
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/spsc.h>
#include <shmring/wait.h>

#include "dump_common.h"
#include "set_common.h"

#define NPROD 4
#define MAXP 8

static uint64_t k_of(uint32_t i)
{
	return 50 + 17 * (uint64_t)i; /* a different count for every producer */
}

static uint32_t type_of(uint32_t i)
{
	return i % 2 ? SHMRING_MSG_SPSC : SHMRING_SPSC;
}

/* ---- the consumer process ---- */

struct checker {
	uint64_t next[MAXP];
	uint64_t total, bad;
};

static int check_msg(void *arg, const struct shmring_set_msg *m)
{
	struct checker *c = arg;

	if (t_set_take(c->next, MAXP, m, &c->bad) == 0)
		c->total++;
	return 0;
}

static void put(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(90);
}

static char get(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(91);
	return c;
}

static uint32_t members(struct shmring_set *s)
{
	struct shmring_set_stats st;

	if (shmring_set_stats(s, &st) < 0)
		_exit(92);
	return st.members;
}

/*
 * Commands: 'D' n: poll until every message of the first n producers
 * arrived and n members joined; 'L' n: poll until n members are left;
 * 'R' tag: remove the member with that tag; 'Q': destroy and exit
 * (status 0 when every message checked out).
 */
static void consumer(const char *set_name, int cmd, int ack)
{
	struct shmring_set *s;
	struct checker c;
	uint64_t want = 0;

	memset(&c, 0, sizeof(c));
	if (shmring_set_create(&s, set_name, 0) < 0)
		_exit(10);
	put(ack, 'C');
	for (;;) {
		char op = get(cmd);
		uint32_t n = op == 'Q' ? 0 : (uint32_t)get(cmd);

		switch (op) {
		case 'D':
			want = 0;
			for (uint32_t i = 0; i < n; i++)
				want += k_of(i);
			while (c.total < want || members(s) < n) {
				if (shmring_set_poll(s, 16, check_msg, &c) == 0)
					sched_yield();
			}
			break;
		case 'L':
			while (members(s) > n) {
				if (shmring_set_poll(s, 16, check_msg, &c) == 0)
					sched_yield();
			}
			break;
		case 'R': {
			int done = 0;

			for (uint32_t id = 0; id < 64 && !done; id++) {
				struct shmring_set_member_stats ms;

				if (shmring_set_member_stats(s, id, &ms) == 0 && ms.tag == n)
					done = shmring_set_remove(s, id) == 0;
			}
			if (!done)
				_exit(13);
			break;
		}
		case 'Q':
			shmring_set_destroy(s);
			_exit(c.bad || c.total != want ? 12 : 0);
		default:
			_exit(14);
		}
		put(ack, c.bad ? 'B' : 'k');
	}
}

/* ---- a producer process ---- */

static void producer(const char *set_name, const char *ring_name, uint32_t i, int cmd, int ack)
{
	struct shmring_params p;
	struct shmring r;
	struct shmring_set_link l;
	struct t_msg m;

	if (type_of(i) == SHMRING_SPSC)
		shmring_params_init(&p, SHMRING_SPSC, 256, sizeof(struct t_msg));
	else
		shmring_params_init(&p, SHMRING_MSG_SPSC, 8192, 64);
	p.flags = SHMRING_F_COUNTERS;
	if (shmring_create(&r, ring_name, &p, SHMRING_PRODUCER) < 0)
		_exit(20);
	if (shmring_set_join(&l, set_name, &r, ring_name, i) < 0)
		_exit(21);
	/* The ring holds them all: the producer never waits for room. */
	for (uint64_t k = 0; k < k_of(i); k++) {
		t_msg_make(&m, i, k);
		if ((type_of(i) == SHMRING_SPSC ? shmring_spsc_try_push(&r, &m)
						: shmring_msg_push(&r, &m, sizeof(m))) < 0)
			_exit(22);
	}
	shmring_wake(&r, SHMRING_CONSUMER);
	put(ack, 'p');
	if (get(cmd) != 'x')
		_exit(23);
	shmring_set_leave(&l, &r);
	shmring_close(&r);
	shmring_unlink(ring_name);
	_exit(0);
}

/* ---- the test's side ---- */

struct world {
	char set[96];
	char ring[NPROD][96];
	pid_t cons, prod[NPROD];
	int cmd[2], ack[2];                   /* consumer */
	int pcmd[NPROD][2], pack[NPROD][2];   /* producers */
	bool prod_gone[NPROD];
};

static void ask(struct world *w, char op, uint32_t n)
{
	char rsp;

	put(w->cmd[1], op);
	if (op != 'Q')
		put(w->cmd[1], (char)n);
	if (read(w->ack[0], &rsp, 1) != 1) {
		int st = 0;

		waitpid(w->cons, &st, 0);
		cr_assert_fail("the consumer died (status 0x%x)", st);
	}
	cr_assert_eq(rsp, 'k', "the consumer found a bad message");
}

static void world_start(struct world *w)
{
	char rsp;

	memset(w, 0, sizeof(*w));
	snprintf(w->set, sizeof(w->set), "%s", t_name("dset") + 1); /* no '/': both forms work */
	cr_assert(pipe(w->cmd) == 0 && pipe(w->ack) == 0);
	w->cons = fork();
	cr_assert(w->cons >= 0);
	if (w->cons == 0)
		consumer(w->set, w->cmd[0], w->ack[1]);
	close(w->ack[1]); /* a consumer that dies gives end of file, not a hang */
	cr_assert_eq(read(w->ack[0], &rsp, 1), 1, "the consumer could not create the set");
	for (uint32_t i = 0; i < NPROD; i++) {
		snprintf(w->ring[i], sizeof(w->ring[i]), "%s", t_name("dset-ring"));
		cr_assert(pipe(w->pcmd[i]) == 0 && pipe(w->pack[i]) == 0);
		w->prod[i] = fork();
		cr_assert(w->prod[i] >= 0);
		if (w->prod[i] == 0)
			producer(w->set, w->ring[i], i, w->pcmd[i][0], w->pack[i][1]);
		close(w->pack[i][1]);
		cr_assert_eq(read(w->pack[i][0], &rsp, 1), 1, "producer %u failed", i);
	}
	/* Everything delivered and checked; the consumer now idles. */
	ask(w, 'D', NPROD);
}

static void producer_exit(struct world *w, uint32_t i)
{
	put(w->pcmd[i][1], 'x');
	t_wait_ok(w->prod[i], "producer");
	w->prod_gone[i] = true;
}

static void world_stop(struct world *w)
{
	for (uint32_t i = 0; i < NPROD; i++)
		if (!w->prod_gone[i])
			producer_exit(w, i);
	put(w->cmd[1], 'Q');
	t_wait_ok(w->cons, "consumer (every message checked)");
}

/* "tag:messages:name:type:joined:ring producers:written:fill:attached" per
 * member, by tag, as the dump's JSON says. */
#define MEMBERS_EXPR                                                                              \
	"';'.join('%d:%d:%s:%s:%s:%d:%d:%d:%s' % (m['tag'], m['messages'], m['name'], m['type'], "  \
	"m['joined'], m['ring']['producers'], m['ring']['written'], m['ring']['fill'], "            \
	"m['ring']['set_consumer_attached']) for m in sorted(d['members'], key=lambda m: m['tag']))"

static void expect_members(const struct world *w, const char *json, const bool *present)
{
	char want[2048] = "";
	size_t off = 0;

	for (uint32_t i = 0; i < NPROD; i++) {
		if (!present[i])
			continue;
		off += (size_t)snprintf(want + off, sizeof(want) - off, "%s%u:%llu:%s:%s:True:1:%llu:0:True",
					off ? ";" : "", i, (unsigned long long)k_of(i), w->ring[i],
					type_of(i) == SHMRING_SPSC ? "spsc" : "msg-spsc",
					(unsigned long long)(type_of(i) == SHMRING_SPSC
								     ? k_of(i)
								     : k_of(i) * (8 + ((sizeof(struct t_msg) + 7) & ~7ul))));
	}
	t_json_eq(json, MEMBERS_EXPR, want);
}

Test(dump_set, members_and_counters, .timeout = 120)
{
	struct world w;
	bool present[NPROD] = { true, true, true, true };
	uint64_t sum = 0;
	char want[512];

	world_start(&w);
	for (uint32_t i = 0; i < NPROD; i++)
		sum += k_of(i);

	struct t_run t = t_dump("--set", w.set, "--json", NULL);

	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	expect_members(&w, t.out, present);
	snprintf(want, sizeof(want), "%u %llu %u 0 True", NPROD, (unsigned long long)sum, NPROD);
	t_json_eq(t.out, "'%d %d %d %d %s' % (d['count'], d['counters']['messages'], "
			 "d['counters']['joins'], d['counters']['leaves'], d['consumer_alive'])",
		  want);
	snprintf(want, sizeof(want), "/%s /%s.set /%s.ctl %d", w.set, w.set, w.set, (int)w.cons);
	t_json_eq(t.out, "'%s %s %s %d' % (d['set'], d['table'], d['control'], d['consumer_pid'])", want);
	/* Every announcement consumed; every producer still holds its link. */
	snprintf(want, sizeof(want), "0 %u True", NPROD);
	t_json_eq(t.out, "'%d %d %s' % (d['control_ring']['pending_records'], "
			 "d['control_ring']['producers'], d['check']['ok'])",
		  want);
	t_run_free(&t);

	/* The text report, found from the bare set name. */
	t = t_dump(w.set, NULL);
	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	cr_assert(strstr(t.out, "set /"), "%s", t.out);
	for (uint32_t i = 0; i < NPROD; i++) {
		char line[160];

		cr_assert(strstr(t.out, w.ring[i]), "member %s missing:\n%s", w.ring[i], t.out);
		snprintf(line, sizeof(line), "delivered %llu messages", (unsigned long long)k_of(i));
		cr_assert(strstr(t.out, line), "no '%s':\n%s", line, t.out);
	}
	cr_assert(strstr(t.out, "0 announcements pending"), "%s", t.out);
	t_run_free(&t);

	/* --check: every member ring is sound. */
	t = t_dump("--set", "--check", w.set, NULL);
	cr_assert_eq(t.rc, 0, "rc %d: %s%s", t.rc, t.out, t.err);
	cr_assert(strstr(t.out, ": ok ("), "%s", t.out);
	t_run_free(&t);

	/* The list shows the table as a set with its member count. */
	t = t_dump("--json", NULL);
	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	char expr[256];

	snprintf(expr, sizeof(expr), "[s['members'] for s in d['sets'] if s['set'] == '/%s']", w.set);
	snprintf(want, sizeof(want), "[%u]", NPROD);
	t_json_eq(t.out, expr, want);
	t_run_free(&t);

	world_stop(&w);
}

Test(dump_set, members_that_leave_disappear, .timeout = 120)
{
	struct world w;
	bool present[NPROD] = { true, true, true, true };
	char want[64];

	world_start(&w);

	/* Producer 1 closes its ring and exits: drained, then removed. */
	producer_exit(&w, 1);
	ask(&w, 'L', NPROD - 1);
	present[1] = false;
	struct t_run t = t_dump("--set", w.set, "--json", NULL);

	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	expect_members(&w, t.out, present);
	snprintf(want, sizeof(want), "%u %u 1", NPROD - 1, NPROD);
	t_json_eq(t.out, "'%d %d %d' % (d['count'], d['counters']['joins'], d['counters']['leaves'])",
		  want);
	t_run_free(&t);

	/* The consumer removes member with tag 2 itself. */
	ask(&w, 'R', 2);
	present[2] = false;
	t = t_dump("--set", w.set, "--json", NULL);
	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	expect_members(&w, t.out, present);
	snprintf(want, sizeof(want), "%u 2", NPROD - 2);
	t_json_eq(t.out, "'%d %d' % (d['count'], d['counters']['leaves'])", want);
	t_run_free(&t);

	/* The text report no longer names them. */
	t = t_dump("--set", w.set, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(!strstr(t.out, w.ring[1]) && !strstr(t.out, w.ring[2]), "%s", t.out);
	cr_assert(strstr(t.out, w.ring[0]) && strstr(t.out, w.ring[3]), "%s", t.out);
	t_run_free(&t);

	world_stop(&w);

	/* The set is gone with its table. */
	t = t_dump("--set", w.set, NULL);
	cr_assert_eq(t.rc, 3, "rc %d", t.rc);
	cr_assert(strstr(t.err, "no ring set"), "%s", t.err);
	t_run_free(&t);
}

/* ---- in one process: members added by the consumer, corrupt tables ---- */

struct local {
	struct shmring_set *s;
	char set[96], table[112];
	char ring[2][96];
	struct shmring prod[2];
	struct shmring anon_prod;
};

static void local_make(struct local *l)
{
	struct shmring_params p;
	struct shmring c;

	memset(l, 0, sizeof(*l));
	snprintf(l->set, sizeof(l->set), "%s", t_name("dset-local"));
	snprintf(l->table, sizeof(l->table), "%s.set", l->set);
	cr_assert_eq(shmring_set_create(&l->s, l->set, 0), 0, "%s", shmring_errdetail());
	shmring_params_init(&p, SHMRING_SPSC, 16, sizeof(struct t_msg));
	for (int i = 0; i < 2; i++) {
		snprintf(l->ring[i], sizeof(l->ring[i]), "%s", t_name("dset-local-ring"));
		cr_assert_eq(shmring_create(&l->prod[i], l->ring[i], &p, SHMRING_PRODUCER), 0);
	}
	/* One by name, one by handle (its name comes from the descriptor). */
	cr_assert_eq(shmring_set_add_name(l->s, l->ring[0], 100), 0);
	cr_assert_eq(shmring_open(&c, l->ring[1], SHMRING_CONSUMER, NULL), 0);
	cr_assert_eq(shmring_set_add(l->s, &c, 101), 1);
	/* And an anonymous ring: no name to show. */
	cr_assert_eq(shmring_create_anon(&l->anon_prod, &p, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_open_fd(&c, shmring_fd(&l->anon_prod), SHMRING_CONSUMER, NULL), 0);
	cr_assert_eq(shmring_set_add(l->s, &c, 102), 2);
}

static void local_done(struct local *l)
{
	shmring_set_destroy(l->s);
	for (int i = 0; i < 2; i++) {
		shmring_close(&l->prod[i]);
		shmring_unlink(l->ring[i]);
	}
	shmring_close(&l->anon_prod);
}

Test(dump_set, added_by_the_consumer, .timeout = 60)
{
	struct local l;
	char want[512];

	local_make(&l);
	struct t_run t = t_dump("--set", l.table, "--json", NULL);

	cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
	snprintf(want, sizeof(want), "100:%s:False;101:%s:False;102:None:False", l.ring[0], l.ring[1]);
	t_json_eq(t.out,
		  "';'.join('%d:%s:%s' % (m['tag'], m['name'], m['joined']) for m in "
		  "sorted(d['members'], key=lambda m: m['tag']))",
		  want);
	t_json_eq(t.out, "d['members'][2]['ring']", "None");
	t_json_eq(t.out, "d['pending']", "[]");
	t_run_free(&t);

	/* Announcements the consumer has not polled yet: a join, and a
	 * record it would drop. They are shown, not consumed. */
	struct shmring_set_link link;
	struct shmring ctl;
	struct shmring_set_ctl_rec bad;
	char ctl_name[128];

	cr_assert_eq(shmring_set_join(&link, l.set, &l.prod[1], "/not-a-member", 55), 0);
	snprintf(ctl_name, sizeof(ctl_name), "%s.ctl", l.set);
	cr_assert_eq(shmring_open(&ctl, ctl_name, SHMRING_PRODUCER, NULL), 0);
	memset(&bad, 0, sizeof(bad));
	bad.op = 99;
	bad.len = 3;
	memcpy(bad.name, "/xy", 3);
	cr_assert_eq(shmring_msg_push(&ctl, &bad, sizeof(bad)), 0);
	/* The dump reads them and changes nothing: the table and the
	 * control ring are byte-identical afterwards (twice, so nothing was
	 * consumed either). */
	size_t tab_len, ctl_len, len2;
	unsigned char *tab_before = t_object_bytes(l.table, &tab_len);
	unsigned char *ctl_before = t_object_bytes(ctl_name, &ctl_len);

	for (int round = 0; round < 2; round++) {
		t = t_dump("--set", l.set, "--json", NULL);
		cr_assert_eq(t.rc, 0, "rc %d: %s", t.rc, t.err);
		t_json_eq(t.out, "'%s %d %s %d' % (d['pending'][0]['name'], d['pending'][0]['tag'], "
				 "d['pending'][1]['valid'], d['control_ring']['pending_records'])",
			  "/not-a-member 55 False 2");
		t_run_free(&t);
	}
	t = t_dump("--set", l.set, NULL);
	cr_assert(strstr(t.out, "join /not-a-member, tag 55"), "%s", t.out);
	cr_assert(strstr(t.out, "unknown operation"), "%s", t.out);
	t_run_free(&t);
	t = t_dump(NULL);
	t_run_free(&t);
	unsigned char *tab_after = t_object_bytes(l.table, &len2);

	cr_assert(len2 == tab_len && !memcmp(tab_before, tab_after, tab_len), "the table changed");
	free(tab_after);
	unsigned char *ctl_after = t_object_bytes(ctl_name, &len2);

	cr_assert(len2 == ctl_len && !memcmp(ctl_before, ctl_after, ctl_len), "the control ring changed");
	free(ctl_after);
	free(tab_before);
	free(ctl_before);
	shmring_close(&ctl);
	shmring_set_leave(&link, &l.prod[1]);

	/* A member's name unlinked and taken by another ring: the dump says
	 * the ring under the name is not the member, and --check fails. */
	struct shmring_params p;
	struct shmring other;

	shmring_params_init(&p, SHMRING_SPSC, 16, sizeof(struct t_msg));
	cr_assert_eq(shmring_unlink(l.ring[0]), 0);
	cr_assert_eq(shmring_create(&other, l.ring[0], &p, SHMRING_PRODUCER), 0);
	t = t_dump("--set", "--check", l.set, NULL);
	cr_assert_eq(t.rc, 1, "rc %d: %s", t.rc, t.out);
	cr_assert(strstr(t.out, "reused"), "%s", t.out);
	t_run_free(&t);
	shmring_close(&other);
	local_done(&l);
}

/* Each corruption: an offset in the table, a 32- or 64-bit value, and
 * what the error must say. */
struct corruption {
	size_t off;
	uint64_t val;
	int wide;
	const char *says;
};

#define ENT(i, field) (SHMRING_SET_ENTRIES_OFF + (i) * SHMRING_SET_ENTRY_SIZE + \
		       offsetof(struct shmring_set_entry, field))
#define MEMB(field) (offsetof(struct shmring_set_table, memb) + offsetof(struct shmring_set_memb, field))
#define HDR(field) offsetof(struct shmring_set_hdr, field)

static const struct corruption corruptions[] = {
	{ MEMB(count), 5000, 0, "count 5000 exceeds hi 3" },
	{ MEMB(count), 2, 0, "count says 2 members, 3 entries are in use" },
	{ MEMB(hi), 1000000, 0, "hi 1000000 exceeds the capacity 1024" },
	{ MEMB(hi), 2, 0, "count 3 exceeds hi 2" },
	{ ENT(1, state), 7, 0, "entry 1 has state 7" },
	{ ENT(0, name_len), 5000, 0, "entry 0 has a name of 5000 bytes" },
	{ ENT(0, name), 0x4141414141414141ull, 1, "entry 0's name is not a shared-memory name" },
	{ ENT(2, type), 99, 0, "entry 2 has ring type 99" },
	{ ENT(1, flags), 0x80, 0, "entry 1 has flags 0x80" },
	{ ENT(2, id), 0, 0, "both hold member 0" },
	{ HDR(capacity), 0xffffffffull, 0, "capacity 4294967295" },
	{ HDR(entry_size), 8, 0, "entries at 4096, 8 bytes each" },
	{ HDR(total_size), 1ull << 40, 1, "total_size 1099511627776" },
	{ HDR(abi_version), 9, 0, "abi_version 9" },
};

Test(dump_set, corrupt_table_gives_a_clear_error, .timeout = 120)
{
	struct local l;
	size_t len;

	local_make(&l);
	unsigned char *map = t_map_rw(l.table, &len);

	for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		const struct corruption *c = &corruptions[i];
		uint64_t old = 0;

		cr_assert(c->off + 8 <= len);
		memcpy(&old, map + c->off, c->wide ? 8 : 4);
		memcpy(map + c->off, &c->val, c->wide ? 8 : 4);
		struct t_run t = t_dump("--set", l.set, NULL);

		cr_assert_eq(t.rc, 3, "corruption %zu: rc %d\n%s%s", i, t.rc, t.out, t.err);
		cr_assert(strstr(t.err, c->says), "corruption %zu: want '%s' in: %s", i, c->says, t.err);
		t_run_free(&t);
		t = t_dump("--set", l.set, "--json", NULL);
		cr_assert_eq(t.rc, 3);
		t_json_eq(t.out, "d['error'] != ''", "True");
		t_run_free(&t);
		/* The list marks it and goes on. */
		t = t_dump("--check", NULL);
		cr_assert_eq(t.rc, 1, "corruption %zu: list --check rc %d", i, t.rc);
		const char *row = strstr(t.out, l.table);

		cr_assert(row, "corruption %zu: the table is not listed:\n%s", i, t.out);
		const char *eol = strchr(row, '\n');
		const char *failed = strstr(row, "FAILED membership-table");

		cr_assert(failed && (!eol || failed < eol), "corruption %zu: row not marked:\n%s", i, t.out);
		t_run_free(&t);
		memcpy(map + c->off, &old, c->wide ? 8 : 4);
	}
	/* Restored: sound again. */
	struct t_run t = t_dump("--set", l.set, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	t_run_free(&t);

	/* Not a table at all, and a membership always changing. */
	uint64_t magic;

	memcpy(&magic, map, 8);
	memset(map, 'x', 8);
	t = t_dump("--set", l.set, NULL);
	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "not a ring-set membership table"), "%s", t.err);
	t_run_free(&t);
	memcpy(map, &magic, 8);

	uint64_t gen;

	memcpy(&gen, map + MEMB(gen), 8);
	uint64_t odd = gen | 1;

	memcpy(map + MEMB(gen), &odd, 8);
	t = t_dump("--set", l.set, NULL);
	cr_assert_eq(t.rc, 4, "rc %d: %s", t.rc, t.err);
	cr_assert(strstr(t.err, "changed during every one of"), "%s", t.err);
	t_run_free(&t);
	memcpy(map + MEMB(gen), &gen, 8);

	/* Cut short: the object no longer holds what its header says. */
	int fd = shm_open(l.table, O_RDWR, 0);

	cr_assert(fd >= 0);
	cr_assert(ftruncate(fd, 8192) == 0);
	close(fd);
	t = t_dump("--set", l.set, NULL);
	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "the object is 8192 bytes"), "%s", t.err);
	t_run_free(&t);
	munmap(map, len);
	local_done(&l);
}

Test(dump_set, usage_and_missing, .timeout = 60)
{
	struct t_run t = t_dump("--set", NULL);

	cr_assert_eq(t.rc, 2);
	t_run_free(&t);
	t = t_dump("--set", "--tail", "3", "x", NULL);
	cr_assert_eq(t.rc, 2);
	t_run_free(&t);
	t = t_dump("--set", t_name("no-such-set"), NULL);
	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "no ring set"), "%s", t.err);
	t_run_free(&t);
	/* Neither a ring nor a set: the ring's error. */
	t = t_dump(t_name("no-such-thing"), NULL);
	cr_assert_eq(t.rc, 3);
	cr_assert(strstr(t.err, "No such file"), "%s", t.err);
	t_run_free(&t);
}

/* The table's name: a leftover table of a set that is gone is replaced,
 * any other object under the name makes the set's creation fail and
 * leaves nothing behind. */
Test(dump_set, table_name_taken, .timeout = 60)
{
	struct shmring_set *s;
	char set[96], table[112], ctl[112];
	struct shmring_set_table left;
	int fd;

	snprintf(set, sizeof(set), "%s", t_name("dset-taken"));
	snprintf(table, sizeof(table), "%s.set", set);
	snprintf(ctl, sizeof(ctl), "%s.ctl", set);

	/* A foreign object. */
	fd = shm_open(table, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "not a table", 11) == 11);
	cr_assert_eq(shmring_set_create(&s, set, 0), -EEXIST);
	cr_assert_eq(shm_open(ctl, O_RDONLY, 0), -1, "the control ring was left behind");
	cr_assert_eq(errno, ENOENT);

	/* A table left by a set whose process is gone: only its magic counts. */
	memset(&left, 0, sizeof(left));
	left.hdr.magic = SHMRING_SET_MAGIC;
	cr_assert(ftruncate(fd, 0) == 0);
	cr_assert(pwrite(fd, &left, sizeof(left), 0) == (ssize_t)sizeof(left));
	close(fd);
	cr_assert_eq(shmring_set_create(&s, set, 0), 0, "%s", shmring_errdetail());
	struct t_run t = t_dump("--set", set, "--json", NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	snprintf(ctl, sizeof(ctl), "%d 0", (int)getpid());
	t_json_eq(t.out, "'%d %d' % (d['consumer_pid'], d['count'])", ctl);
	t_run_free(&t);
	shmring_set_destroy(s);
	cr_assert_eq(shm_open(table, O_RDONLY, 0), -1, "the table outlived its set");
}

static int count_one(void *arg, const struct shmring_set_msg *m)
{
	(*(uint32_t *)arg) = m->member;
	return 0;
}

/* More members than the table holds: the first SHMRING_SET_CAPACITY are
 * listed, the others counted as unlisted (and still served, with their
 * counters in process memory). */
Test(dump_set, table_full, .timeout = 240)
{
	const uint32_t n = SHMRING_SET_CAPACITY + 2;
	struct shmring_set *s;
	struct shmring_params p;
	struct shmring prod;
	struct rlimit rl;
	char set[96], want[64];
	uint32_t from = UINT32_MAX;

	/* one descriptor per member ring */
	cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < n + 64)
			cr_skip_test("needs %u descriptors, the hard limit is %llu", n + 64,
				     (unsigned long long)rl.rlim_max);
	}
	snprintf(set, sizeof(set), "%s", t_name("dset-full"));
	cr_assert_eq(shmring_set_create(&s, set, 0), 0);
	shmring_params_init(&p, SHMRING_SPSC, 2, 8);
	for (uint32_t i = 0; i < n; i++) {
		struct shmring c;

		cr_assert_eq(shmring_create_anon(&c, &p, SHMRING_CONSUMER), 0, "ring %u: %s", i,
			     shmring_errdetail());
		if (i == n - 1)
			cr_assert_eq(shmring_dup(&prod, &c, SHMRING_PRODUCER), 0);
		cr_assert_eq(shmring_set_add(s, &c, i), (int)i);
	}
	struct t_run t = t_dump("--set", set, "--json", NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	snprintf(want, sizeof(want), "%u 2 %u %u", SHMRING_SET_CAPACITY, SHMRING_SET_CAPACITY,
		 SHMRING_SET_CAPACITY - 1);
	t_json_eq(t.out, "'%d %d %d %d' % (d['count'], d['unlisted'], len(d['members']), "
			 "max(m['id'] for m in d['members']))",
		  want);
	t_run_free(&t);

	/* An unlisted member is served and counted. */
	uint64_t msg = 42;
	struct shmring_set_member_stats ms;

	cr_assert_eq(shmring_spsc_try_push(&prod, &msg), 0);
	cr_assert_eq(shmring_set_poll(s, 4, count_one, &from), 1);
	cr_assert_eq(from, n - 1);
	cr_assert_eq(shmring_set_member_stats(s, n - 1, &ms), 0);
	cr_assert_eq(ms.messages, 1);

	/* Removing a listed and an unlisted member. */
	cr_assert_eq(shmring_set_remove(s, 5), 0);
	cr_assert_eq(shmring_set_remove(s, n - 2), 0);
	t = t_dump("--set", set, "--json", NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	snprintf(want, sizeof(want), "%u 1 2 False", SHMRING_SET_CAPACITY - 1);
	t_json_eq(t.out, "'%d %d %d %s' % (d['count'], d['unlisted'], d['counters']['leaves'], "
			 "any(m['id'] == 5 for m in d['members']))",
		  want);
	snprintf(want, sizeof(want), "%u", n);
	t_json_eq(t.out, "d['counters']['joins']", want);
	t_run_free(&t);
	shmring_close(&prod);
	shmring_set_destroy(s);
}
