/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump on MPMC rings: empty, full, wrapped; a producer SIGKILLed
 * after claiming a slot (through mpmc.h's fault hook): the dump shows the
 * dead endpoint and its claim, --check fails naming dead-endpoint-claim,
 * --recover releases it (exit 0), and --check passes afterwards; a
 * consumer killed holding messages likewise; corrupted claim counters.
 */
#include <signal.h>

static void t_fault_hook(int point);
#define SHMRING_FAULT_HOOK(point) t_fault_hook(point)

#include "dump_common.h"

#define SLOT 16

static int fault_point;

static void t_fault_hook(int point)
{
	if (point == fault_point) {
		kill(getpid(), SIGKILL);
		for (;;)
			pause();
	}
}

static void make(const char *name, uint64_t cap, uint64_t init_pos, struct shmring *p,
		 struct shmring *c)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_MPMC, cap, SLOT);
	prm.flags = SHMRING_F_COUNTERS | SHMRING_F_SOLO; /* the dump shows the claim mode */
	prm.max_endpoints = 8;
	prm.init_pos = init_pos;
	cr_assert_eq(shmring_create(p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
}

static void msg(unsigned char b[SLOT], uint64_t k)
{
	memset(b, 0, SLOT);
	snprintf((char *)b, SLOT, "m%llu", (unsigned long long)k);
}

static void push(struct shmring *p, uint64_t from, uint64_t n)
{
	unsigned char b[SLOT];

	for (uint64_t k = from; k < from + n; k++) {
		msg(b, k);
		cr_assert_eq(shmring_mpmc_try_push(p, b), 0);
	}
}

static void pop(struct shmring *c, uint64_t from, uint64_t n)
{
	unsigned char b[SLOT], w[SLOT];

	for (uint64_t k = from; k < from + n; k++) {
		cr_assert_eq(shmring_mpmc_try_pop(c, b), 0);
		msg(w, k);
		cr_assert(!memcmp(b, w, SLOT), "message %llu", (unsigned long long)k);
	}
}

Test(dump_mpmc, empty_full_wrapped)
{
	const char *name = t_name("dump-mpmc");
	const uint64_t p0 = UINT64_MAX - 2;
	struct shmring p, c;
	char want[128];

	make(name, 8, p0, &p, &c);
	struct t_run t = t_dump("--check", "--json", name, NULL);

	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "d['type'], d['fill'], d['mpmc']['in_flight'], d['check']['ok']", "mpmc 0 0 True");
	t_run_free(&t);

	push(&p, 0, 8);
	t = t_dump(name, NULL);
	cr_assert_eq(t.rc, 0);
	cr_assert(strstr(t.out, "mpmc, 8 slots x 16 B"), "%s", t.out);
	cr_assert(strstr(t.out, "fill 8 / 8 slots (100.0%)"), "%s", t.out);
	cr_assert(strstr(t.out, "readable run from the consumer claim: 8 messages"), "%s", t.out);
	/* Each side's lone endpoint holds the claim mode (mpmc.h). */
	char mode[160];

	snprintf(mode, sizeof(mode),
		 "claim mode: producers solo entry %u, consumers solo entry %u; granted 1/1, taken back 0/0",
		 (unsigned)(p.ep - (struct shmring_endpoint *)(void *)((unsigned char *)p.map + SHMRING_EP_OFF)),
		 (unsigned)(c.ep - (struct shmring_endpoint *)(void *)((unsigned char *)c.map + SHMRING_EP_OFF)));
	cr_assert(strstr(t.out, mode), "want \"%s\" in\n%s", mode, t.out);
	t_run_free(&t);

	pop(&c, 0, 5);
	push(&p, 8, 4); /* positions wrap past 2^64 */
	t = t_dump("--check", "--json", "--messages", "3", name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	snprintf(want, sizeof(want), "%llu %llu 7", (unsigned long long)(p0 + 12),
		 (unsigned long long)(p0 + 5));
	t_json_eq(t.out, "d['positions']['head'], d['positions']['tail'], d['fill']", want);
	t_json_eq(t.out, "[m['text'].rstrip('\\0') for m in d['messages']]", "['m5', 'm6', 'm7']");
	t_json_eq(t.out, "d['check']['ok']", "True");
	t_run_free(&t);

	t = t_dump("--tail", "2", "--json", name, NULL);
	cr_assert_eq(t.rc, 0);
	t_json_eq(t.out, "[m['text'].rstrip('\\0') for m in d['tail']]", "['m10', 'm11']");
	t_run_free(&t);

	t = t_dump("--check", NULL);
	t_run_free(&t);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}

/* A producer killed between claim and publish holds a slot. */
Test(dump_mpmc, dead_producer_holding_a_slot, .timeout = 60)
{
	const char *name = t_name("dump-mpmc-dead");
	struct shmring p, c;
	unsigned char b[SLOT];
	size_t len;

	make(name, 8, 0, &p, &c);
	push(&p, 0, 2);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring v;

		if (shmring_open(&v, name, SHMRING_PRODUCER, NULL))
			_exit(1);
		fault_point = SHMRING_FAULT_PROD_CLAIMED;
		msg(b, 2);
		shmring_mpmc_try_push(&v, b);
		_exit(2);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", st);
	push(&p, 3, 2); /* behind the dead claim */

	unsigned char *before = t_object_bytes(name, &len);
	struct t_run t = t_dump(name, NULL);

	cr_assert_eq(t.rc, 0, "%s", t.err);
	cr_assert(strstr(t.out, "1 position in flight"), "%s", t.out);
	cr_assert(strstr(t.out, "readable run from the consumer claim: 2 messages"), "%s", t.out);
	cr_assert(strstr(t.out, " NO ") && strstr(t.out, "2..3"), "%s", t.out);
	cr_assert(strstr(t.out, "FAILED dead-endpoint-claim"), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--check", name, NULL);
	cr_assert_eq(t.rc, 1, "%s", t.out);
	cr_assert(strstr(t.out, "FAILED dead-endpoint-claim") && strstr(t.out, "run --recover"), "%s",
		  t.out);
	t_run_free(&t);

	t = t_dump("--check", "--json", "--messages", "10", name, NULL);
	cr_assert_eq(t.rc, 1);
	t_json_eq(t.out, "[p['invariant'] for p in d['check']['problems'] if not p['warning']]",
		  "['dead-endpoint-claim']");
	t_json_eq(t.out, "[(e['role'], e['alive'], e['claim_pos'], e['claim_end']) for e in d['endpoints'] if not e['alive']]",
		  "[('producer', False, 2, 3)]");
	/* consumers stop at the slot in flight: only m0, m1 are readable */
	t_json_eq(t.out, "[m['text'].rstrip('\\0') for m in d['messages']], d['mpmc']['in_flight']",
		  "['m0', 'm1'] 1");
	t_run_free(&t);

	/* None of that changed a byte. */
	size_t len2;
	unsigned char *after = t_object_bytes(name, &len2);

	cr_assert(len == len2 && !memcmp(before, after, len), "the dump changed the ring");
	free(before);
	free(after);

	/* --recover: the only writing mode */
	t = t_dump("--recover", name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	cr_assert(strstr(t.out, "recovered 1 dead endpoint"), "%s", t.out);
	t_run_free(&t);

	t = t_dump("--check", "--json", "--messages", "10", name, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.out);
	t_json_eq(t.out, "[m['text'].rstrip('\\0') for m in d['messages']], d['mpmc']['passed']",
		  "['m0', 'm1', 'm3', 'm4'] 1");
	t_json_eq(t.out, "d['counters']['producer']['skipped']", "1");
	t_run_free(&t);

	t = t_dump("--recover", "--json", name, NULL);
	cr_assert_eq(t.rc, 0);
	t_json_eq(t.out, "d['recovered']", "0");
	t_run_free(&t);

	/* the ring goes on: m2 skipped, never delivered */
	pop(&c, 0, 2);
	pop(&c, 3, 2);
	cr_assert_eq(shmring_mpmc_try_pop(&c, b), -EAGAIN);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}

/* A consumer killed holding messages: its claim blocks producers a lap on. */
Test(dump_mpmc, dead_consumer_holding_messages, .timeout = 60)
{
	const char *name = t_name("dump-mpmc-cdead");
	struct shmring p, c;
	unsigned char b[SLOT];

	make(name, 4, 0, &p, &c);
	push(&p, 0, 3);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring v;

		if (shmring_open(&v, name, SHMRING_CONSUMER, NULL))
			_exit(1);
		fault_point = SHMRING_FAULT_CONS_BEFORE_RELEASE;
		shmring_mpmc_try_pop(&v, b);
		_exit(2);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "status 0x%x", st);

	struct t_run t = t_dump("--check", "--json", name, NULL);

	cr_assert_eq(t.rc, 1, "%s", t.out);
	t_json_eq(t.out, "[(e['role'], e['claim_pos'], e['claim_end']) for e in d['endpoints'] if not e['alive']]",
		  "[('consumer', 0, 1)]");
	t_json_eq(t.out, "d['positions']['tail'], d['fill']", "1 2");
	t_run_free(&t);

	t = t_dump("--recover", name, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.err);
	t_run_free(&t);
	t = t_dump("--check", "--json", name, NULL);
	cr_assert_eq(t.rc, 0, "%s", t.out);
	t_json_eq(t.out, "d['counters']['consumer']['lost']", "1");
	t_run_free(&t);
	pop(&c, 1, 2);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}

Test(dump_mpmc, corrupt_claims)
{
	for (int i = 0; i < 6; i++) {
		const char *name = t_name("dump-mpmc-bad");
		static const char *const want[] = { "fill-capacity", "positions-ordered", "slot-sequence",
						    "in-flight-owner",
						    "FAILED claim-mode: the producers' claim mode word 0x5 names entry 1",
						    "FAILED claim-mode: the consumers' claim mode is solo entry 2, a producer" };
		struct shmring p, c;
		size_t len;

		make(name, 8, 0, &p, &c);
		push(&p, 0, 4);
		pop(&c, 0, 1);
		unsigned char *m = t_map_rw(name, &len);
		struct shmring_ctrl *ctl = (struct shmring_ctrl *)(void *)(m + SHMRING_CTRL_OFF);
		const struct shmring_hdr *h = (const struct shmring_hdr *)(const void *)m;
		uint64_t *seq2 = (uint64_t *)(void *)(m + h->data_off + 2 * h->slot_stride);

		switch (i) {
		case 0: ctl->prod.claim = 20; break;
		case 1: ctl->cons.claim = 6; break;
		case 2: *seq2 = SHMRING_MPMC_SEQ(2 + 3, SHMRING_MPMC_PUB); break; /* another slot's position */
		case 3: *seq2 = SHMRING_MPMC_SEQ(2 - 8, SHMRING_MPMC_PUB); break; /* unpublished, no owner */
		case 4: ((struct shmring_mpmc_block *)(void *)ctl->kind_blocks)->solo[0] = 5; break;
		case 5:
			((struct shmring_mpmc_block *)(void *)ctl->kind_blocks)->solo[1] =
				SHMRING_MPMC_SOLO_WORD(2, SHMRING_MPMC_SOLO);
			break;
		}
		struct t_run t = t_dump("--check", name, NULL);

		cr_assert_eq(t.rc, 1, "case %d: %s", i, t.out);
		cr_assert(strstr(t.out, want[i]), "case %d: %s", i, t.out);
		t_run_free(&t);
		munmap(m, len);
		shmring_close(&c);
		shmring_close(&p);
		shmring_unlink(name);
	}
}

/* A producer process that pushed and exited without closing: its entry is
 * dead but holds no claim (claim_end == claim_pos), so --check warns of a
 * dead endpoint and does not fail, also while the ring flows on. */
Test(dump_mpmc, dead_endpoint_without_claim, .timeout = 60)
{
	const char *name = t_name("dump-mpmc-idle-dead");
	struct shmring p, c;

	make(name, 8, 0, &p, &c);
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring v;
		unsigned char b[SLOT];

		if (shmring_open(&v, name, SHMRING_PRODUCER, NULL))
			_exit(1);
		for (uint64_t k = 0; k < 3; k++) {
			msg(b, k);
			if (shmring_mpmc_try_push(&v, b))
				_exit(2);
		}
		_exit(0); /* no close: the entry stays, its process dead */
	}
	t_wait_ok(pid, "producer");
	for (int round = 0; round < 3; round++) {
		struct t_run t = t_dump("--check", name, NULL);

		cr_assert_eq(t.rc, 0, "round %d:\n%s", round, t.out);
		cr_assert(strstr(t.out, "dead-endpoint"), "%s", t.out);
		cr_assert(!strstr(t.out, "FAILED"), "%s", t.out);
		t_run_free(&t);
		pop(&c, (uint64_t)round * 3, 3);
		push(&p, (uint64_t)round * 3 + 3, 3);
	}
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(name);
}
