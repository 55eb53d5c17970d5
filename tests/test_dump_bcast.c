/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump on broadcast rings: each reader's position, lag, loss and
 * evictions; a reader killed while it gates the producer is shown dead,
 * then evicted (counted) once the producer needs its slot, and --check
 * still passes (a dead reader holds nothing); corrupted reader entries and
 * slot sequence words fail --check naming the invariant.
 */
#include <signal.h>

#include "dump_common.h"

#define SLOT 16

static void make(const char *name, uint64_t cap, struct shmring *p, struct shmring *a, struct shmring *b)
{
	struct shmring_params prm;

	shmring_params_init(&prm, SHMRING_BROADCAST, cap, SLOT);
	prm.max_endpoints = 8;
	cr_assert_eq(shmring_create(p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(a, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(b, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
}

static void push(struct shmring *p, uint64_t from, uint64_t n)
{
	unsigned char m[SLOT];

	for (uint64_t k = from; k < from + n; k++) {
		memset(m, (int)(k & 0xff), SLOT);
		cr_assert_eq(shmring_bcast_try_push(p, m), 0, "push %llu", (unsigned long long)k);
	}
}

static void read_n(struct shmring *r, uint64_t n)
{
	unsigned char m[SLOT];

	for (uint64_t k = 0; k < n; k++)
		cr_assert_eq(shmring_bcast_try_read(r, m), 0);
}

Test(dump_bcast, readers_positions_and_lag)
{
	const char *name = t_name("dump-bcast");
	struct shmring p, a, b;

	make(name, 8, &p, &a, &b);
	push(&p, 0, 6);
	read_n(&a, 2);

	struct t_run t = t_dump("--check", "--json", "--messages", "10", name, NULL);

	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "d['type'], d['fill'], d['check']['ok']", "broadcast 6 True");
	t_json_eq(t.out, "[(r['position'], r['lag'], r['lost'], r['evicted']) for r in d['broadcast']['readers']]",
		  "[(2, 4, 0, False), (0, 6, 0, False)]");
	t_json_eq(t.out, "d['broadcast']['policy'], d['broadcast']['members'], d['broadcast']['evictions']",
		  "lossless 2 0");
	t_json_eq(t.out, "len(d['messages'])", "6");
	t_run_free(&t);
	t = t_dump(name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	cr_assert(strstr(t.out, "broadcast: lossless"), "%s", t.out);
	t_run_free(&t);
	shmring_close(&a);
	shmring_close(&b);
	shmring_close(&p);
	shmring_unlink(name);
}

Test(dump_bcast, dead_reader_evicted)
{
	const char *name = t_name("dump-bcast-dead");
	struct shmring p, a, b;
	unsigned char m[SLOT] = { 0 };
	pid_t kid;
	int fds[2];
	char c;

	make(name, 8, &p, &a, &b);
	cr_assert_eq(pipe(fds), 0);
	kid = t_fork();
	if (kid == 0) {
		struct shmring r;

		if (shmring_open(&r, name, SHMRING_CONSUMER, NULL) != 0 || write(fds[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_eq(read(fds[0], &c, 1), 1);
	push(&p, 0, 8);
	read_n(&a, 8);
	read_n(&b, 8);
	cr_assert_eq(kill(kid, SIGKILL), 0);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);

	/* Dead, still a member: --check passes (it holds nothing), the
	 * report says so. */
	struct t_run t = t_dump("--check", "--json", name, NULL);

	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "[(r['alive'], r['position'], r['evicted']) for r in d['broadcast']['readers']]",
		  "[(True, 8, False), (True, 8, False), (False, 0, False)]");
	t_run_free(&t);
	/* The producer needs its slot: evicted, counted. */
	cr_assert_eq(shmring_bcast_try_push(&p, m), 0, "the dead reader is evicted");
	t = t_dump("--check", "--json", name, NULL);
	cr_assert_eq(t.rc, 0, "%s%s", t.out, t.err);
	t_json_eq(t.out, "d['broadcast']['evictions'], d['broadcast']['members']", "1 2");
	t_json_eq(t.out, "[(r['alive'], r['evictions'], r['evicted']) for r in d['broadcast']['readers']][2]",
		  "(False, 1, True)");
	t_run_free(&t);
	close(fds[0]);
	close(fds[1]);
	shmring_close(&a);
	shmring_close(&b);
	shmring_close(&p);
	shmring_unlink(name);
}

Test(dump_bcast, corrupt_state_fails_check)
{
	for (int i = 0; i < 4; i++) {
		const char *name = t_name("dump-bcast-bad");
		struct shmring p, a, b;
		size_t len;

		make(name, 8, &p, &a, &b);
		push(&p, 0, 4);

		unsigned char *m = t_map_rw(name, &len);
		const struct shmring_hdr *h = (const struct shmring_hdr *)(const void *)m;
		struct shmring_endpoint *eps = (struct shmring_endpoint *)(void *)(m + SHMRING_EP_OFF);
		uint64_t *seq2 = (uint64_t *)(void *)(m + h->data_off + 2 * h->slot_stride);
		const char *want;

		switch (i) {
		case 0: /* acknowledged more evictions than counted */
			eps[2].taken = 3;
			want = "evictions-acknowledged";
			break;
		case 1: /* a reader past the producer */
			eps[3].claim_pos = 100;
			want = "reader-positions";
			break;
		case 2: /* published slot 2 holds another slot's position */
			*seq2 = 2 * 3 + 2;
			want = "slot-sequence";
			break;
		default: /* published slot 2 holds an older lap of itself */
			*seq2 = 2 * (2 - 8) + 2;
			want = "slot-sequence";
			break;
		}
		struct t_run t = t_dump("--check", name, NULL);

		cr_assert_eq(t.rc, 1, "case %d: %s%s", i, t.out, t.err);
		cr_assert(strstr(t.out, want) || strstr(t.err, want), "case %d: %s%s", i, t.out, t.err);
		t_run_free(&t);
		munmap(m, len);
		shmring_close(&a);
		shmring_close(&b);
		shmring_close(&p);
		shmring_unlink(name);
	}
}
