/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump on message rings: messages of every size from 0 up,
 * wrapped with a padding record, shown in order without being consumed;
 * corrupted record headers and positions fail --check naming the
 * invariant; an MPSC producer killed between reserve and commit holds an
 * uncommitted record: the readable run stops there, --check fails naming
 * dead-endpoint-claim.
 */
#include <signal.h>
#include <shmring/msg.h>

#include "dump_common.h"

static void make(const char *name, uint32_t type, uint64_t cap, uint32_t max, struct shmring *p,
		 struct shmring *c)
{
	struct shmring_params prm;

	shmring_params_init(&prm, type, cap, max);
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
}

/* Message k: k bytes of 'a' + k % 26. */
static void push(struct shmring *p, uint32_t k)
{
	char b[64];

	memset(b, 'a' + (int)(k % 26), sizeof(b));
	cr_assert_eq(shmring_msg_push(p, b, k), 0, "push %u", k);
}

static void pop(struct shmring *c, uint32_t k)
{
	char b[64];

	cr_assert_eq(shmring_msg_pop(c, b, sizeof(b)), (int)k);
	for (uint32_t i = 0; i < k; i++)
		cr_assert_eq(b[i], 'a' + (int)(k % 26));
}

Test(dump_msg, spsc_sizes_and_wrap)
{
	const char *name = t_name("dump-msg");
	struct shmring p, c;

	make(name, SHMRING_MSG_SPSC, 256, 40, &p, &c);
	for (uint32_t k = 0; k < 6; k++)
		push(&p, k * 8); /* 0, 8, .. 40: records of 8..48 bytes, 168 in all */
	for (uint32_t k = 0; k < 4; k++)
		pop(&c, k * 8);
	push(&p, 33); /* 48 bytes at 168 */
	push(&p, 1);  /* 16 bytes at 216 */
	push(&p, 33); /* 48 bytes do not fit in the last 24: padding, then offset 0 */

	struct t_run t = t_dump("--check", "--json", "--messages", "10", name, NULL);

	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "d['type'], d['unit'], d['capacity'], d['check']['ok']", "msg-spsc bytes 256 True");
	t_json_eq(t.out, "[(m['len'], ''.join(sorted(set(m['text'])))) for m in d['messages']]",
		  "[(32, 'g'), (40, 'o'), (33, 'h'), (1, 'b'), (33, 'h')]");
	t_json_eq(t.out, "d['records']['messages'], d['records']['padding'], d['records']['payload_bytes']",
		  "5 1 139");
	t_json_eq(t.out, "d['positions']['head'], d['positions']['tail'], d['fill']", "304 80 224");
	t_run_free(&t);

	t = t_dump("--tail", "2", "--json", name, NULL);
	cr_assert_eq(t.rc, 0);
	t_json_eq(t.out, "[m['len'] for m in d['tail']]", "[1, 33]");
	t_run_free(&t);

	t = t_dump(name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "msg-spsc, 256 bytes of records, largest message 40 B"), "%s", t.out);
	cr_assert(strstr(t.out, "records from the tail: 5 messages (139 payload bytes), 1 padding"), "%s",
		  t.out);
	t_run_free(&t);

	/* the dump consumed nothing */
	pop(&c, 32);
	pop(&c, 40);
	pop(&c, 33);
	pop(&c, 1);
	pop(&c, 33);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}

Test(dump_msg, corrupt_records)
{
	static const char *const want[] = { "record-chain", "record-chain", "record-chain",
					    "positions-aligned", "fill-capacity" };

	for (int i = 0; i < 5; i++) {
		const char *name = t_name("dump-msg-bad");
		struct shmring p, c;
		size_t len;

		make(name, SHMRING_MSG_SPSC, 256, 40, &p, &c);
		push(&p, 8);
		push(&p, 16);
		push(&p, 3);
		unsigned char *m = t_map_rw(name, &len);
		const struct shmring_hdr *h = (const struct shmring_hdr *)(const void *)m;
		struct shmring_ctrl *ctl = (struct shmring_ctrl *)(void *)(m + SHMRING_CTRL_OFF);
		uint64_t *rec1 = (uint64_t *)(void *)(m + h->data_off + 16); /* second record */

		switch (i) {
		case 0: *rec1 = shmring_msg__word(16, SHMRING_MSG_T_DATA, 999 * 8); break; /* wrong tag */
		case 1: *rec1 = shmring_msg__word(200, SHMRING_MSG_T_DATA, 16); break;     /* too long */
		case 2: *rec1 = shmring_msg__word(16, 7, 16); break;                        /* bad type */
		case 3: ctl->prod.pos = 61; break;
		case 4: ctl->prod.pos = 1024; break;
		}
		struct t_run t = t_dump("--check", name, NULL);

		cr_assert_eq(t.rc, 1, "case %d: %s", i, t.out);
		cr_assert(strstr(t.out, want[i]), "case %d: %s", i, t.out);
		t_run_free(&t);
		t = t_dump("--json", "--messages", "5", name, NULL);
		cr_assert_eq(t.rc, 0, "case %d", i);
		char *ok = t_json(t.out, "len(d['messages'])");

		cr_assert(ok, "case %d: %s", i, t.out);
		free(ok);
		t_run_free(&t);
		munmap(m, len);
		shmring_close(&c);
		shmring_close(&p);
		shmring_unlink(name);
	}
}

Test(dump_msg, mpsc_dead_producer_after_reserve, .timeout = 60)
{
	const char *name = t_name("dump-msg-mpsc");
	struct shmring p, c;

	make(name, SHMRING_MSG_MPSC, 512, 40, &p, &c);
	push(&p, 5);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring v;
		void *buf;

		if (shmring_open(&v, name, SHMRING_PRODUCER, NULL) || shmring_msg_reserve(&v, 24, &buf))
			_exit(1);
		memset(buf, 'X', 12); /* half written */
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "status 0x%x", st);
	push(&p, 7); /* committed behind the dead reservation */

	struct t_run t = t_dump("--check", "--json", "--messages", "5", name, NULL);

	cr_assert_eq(t.rc, 1, "%s", t.out);
	t_json_eq(t.out, "[p['invariant'] for p in d['check']['problems'] if not p['warning']]",
		  "['dead-endpoint-claim']");
	t_json_eq(t.out, "d['records']['messages'], d['records']['uncommitted'], [m['len'] for m in d['messages']]",
		  "2 1 [5]");
	t_run_free(&t);

	t = t_dump(name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "msg-mpsc") && strstr(t.out, "1 uncommitted"), "%s", t.out);
	t_run_free(&t);

	/* message ring recovery runs in the consumer: --recover says so */
	t = t_dump("--recover", name, NULL);
	cr_assert_eq(t.rc, 1, "%s", t.out);
	cr_assert(strstr(t.err, "consumer"), "%s", t.err);
	t_run_free(&t);

	cr_assert_eq(shmring_recover(&c), 1);
	t = t_dump("--check", "--json", "--messages", "5", name, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.out);
	t_json_eq(t.out, "[m['len'] for m in d['messages']]", "[5, 7]");
	t_run_free(&t);
	pop(&c, 5);
	pop(&c, 7);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}
