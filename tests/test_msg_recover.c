/* SPDX-License-Identifier: MIT */
/*
 * MPSC message ring: producers killed between reserve and commit.
 *
 * A child producer follows the reserve/commit protocol of msg.h step by
 * step and SIGKILLs itself at a labelled point; then a live producer
 * pushes, and the consumer must receive every committed message (the
 * child's too, when it committed before dying), nothing torn, and never
 * stay stuck: recovery needs no timeout, only the dead pid.
 */
#include <string.h>

#include "msg_common.h"

enum point {
	AT_INTENT,    /* intent recorded, before the CAS: nothing claimed */
	AT_CLAIMED,   /* CAS done, claim not yet confirmed */
	AT_CONFIRMED, /* confirmed, payload half written, no header */
	AT_PAD,       /* record crosses the end: padding committed, record not */
	AT_COMMITTED, /* committed, claim not yet cleared */
	AT_COUNT
};

static const char *point_name[] = { "intent", "claimed", "confirmed", "pad", "committed" };

#define CHILD_STREAM 77
#define PARENT_STREAM 1

/* The child: one reservation by hand, then SIGKILL at `pt`. */
static void child_die_at(int fd, enum point pt, uint32_t len, uint64_t seq)
{
	struct shmring r;

	if (shmring_open_fd(&r, fd, SHMRING_PRODUCER, NULL))
		_exit(10);
	struct shmring_endpoint *ep = r.ep;
	uint64_t rec = shmring_msg__rec_size(len);
	uint64_t c = shmring_atomic_load(&r.ctrl->prod.claim, SHMRING_RELAXED);
	uint64_t pad = shmring_msg__pad(&r, c, rec);
	uint64_t at = c + pad;
	unsigned char *payload = r.data + ((at + SHMRING_MSG_HDR) & r.mask);

	shmring_atomic_store(&ep->claim_end, c + pad + rec, SHMRING_RELAXED);
	shmring_atomic_store(&ep->claim_pos, c | 1u, SHMRING_RELAXED);
	if (pt == AT_INTENT)
		raise(SIGKILL);
	if (!shmring_atomic_cas(&r.ctrl->prod.claim, &c, c + pad + rec, SHMRING_ACQ_REL,
				SHMRING_RELAXED))
		_exit(11);
	if (pt == AT_CLAIMED)
		raise(SIGKILL);
	shmring_atomic_store(&ep->claim_pos, c, SHMRING_RELAXED);
	memset(payload, 0xa5, len / 2);
	if (pt == AT_CONFIRMED)
		raise(SIGKILL);
	if (pad)
		shmring_atomic_store(shmring_msg__hdr(&r, c),
				     shmring_msg__word((uint32_t)(pad - 8), SHMRING_MSG_T_PAD, c),
				     SHMRING_RELEASE);
	if (pt == AT_PAD)
		raise(SIGKILL);
	t_fill(payload, len, CHILD_STREAM, seq);
	shmring_atomic_store(shmring_msg__hdr(&r, at), shmring_msg__word(len, SHMRING_MSG_T_DATA, at),
			     SHMRING_RELEASE);
	raise(SIGKILL);
	_exit(12);
}

static void kill_child(int fd, enum point pt, uint32_t len, uint64_t seq)
{
	int st;
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		child_die_at(fd, pt, len, seq);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child at %s: status 0x%x",
		  point_name[pt], st);
}

/*
 * Drain: expect `parent` messages of PARENT_STREAM from seq `pseq` on,
 * and one CHILD_STREAM message `cseq` if `child` is set (in claim order:
 * first). With `explicit_recover`, call shmring_recover when stuck;
 * otherwise rely on the consumer's own stall check.
 */
static void drain(struct shmring *c, uint64_t pseq, unsigned parent, int child, uint64_t cseq,
		  uint32_t len, int explicit_recover, int *recovered)
{
	unsigned char buf[1024];
	unsigned got = 0;
	long polls = 0;

	while (got < parent + (child ? 1u : 0u)) {
		int n = shmring_msg_pop(c, buf, sizeof(buf));

		if (n == -EAGAIN) {
			cr_assert_lt(++polls, 1000000, "consumer stuck after %u messages", got);
			if (explicit_recover) {
				int k = shmring_recover(c);

				cr_assert_geq(k, 0, "recover: %d %s", k, shmring_errdetail());
				*recovered += k;
			}
			continue;
		}
		cr_assert_eq(n, (int)len, "message %u: %d", got, n);
		if (child && got == 0) {
			cr_assert(t_check(buf, len, CHILD_STREAM, cseq), "the dead child's committed message");
		} else {
			uint64_t s = pseq + got - (child ? 1u : 0u);

			cr_assert(t_check(buf, len, PARENT_STREAM, s), "parent message %llu torn or out of order",
				  (unsigned long long)s);
		}
		got++;
	}
	cr_assert_eq(shmring_msg_pop(c, buf, sizeof(buf)), -EAGAIN, "nothing more");
}

static void run_point(enum point pt, int explicit_recover, int rounds)
{
	struct shmring p, c;
	struct shmring_params prm;
	uint64_t pseq = 0;
	int recovered = 0, expect_recovered = 0;

	shmring_params_init(&prm, SHMRING_MSG_MPSC, 1024, 200);
	prm.max_endpoints = 4; /* dead entries must be given back */
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	for (int i = 0; i < rounds; i++) {
		uint32_t len = 24 + (uint32_t)(t_mix((uint64_t)i) % 150);

		/* Move the claim so that the child's record crosses the end
		 * when the point needs it, else to a varying offset. */
		uint64_t used = shmring_atomic_load(&p.ctrl->prod.claim, SHMRING_RELAXED) & 1023;
		uint64_t rec = shmring_msg__rec_size(len);
		uint64_t target = pt == AT_PAD ? 1024 - rec + 8 * (1 + (uint64_t)i % 4)
					       : (t_mix((uint64_t)i + 99) % 128) * 8;

		while (used != target) {
			uint64_t gap = (target - used) & 1023;
			uint64_t step = gap > 208 ? 208 : gap;
			const void *rd;
			void *w;

			if (step > 1024 - used)
				step = 1024 - used;

			if (step < 8)
				break;
			/* A filler message (or, for the last few bytes,
			 * an aborted one: padding). */
			cr_assert_eq(shmring_msg_reserve(&p, (uint32_t)(step - 8), &w), 0);
			cr_assert_eq(shmring_msg_abort(&p), 0);
			used = (used + step) & 1023;
			cr_assert_eq(shmring_msg_peek(&c, &rd), -EAGAIN);
			shmring_msg_release(&c);
		}
		kill_child(shmring_fd(&p), pt, len, (uint64_t)i);
		if (pt == AT_CLAIMED || pt == AT_CONFIRMED || pt == AT_PAD)
			expect_recovered++;
		for (int k = 0; k < 3; k++) {
			unsigned char buf[256];

			t_fill(buf, len, PARENT_STREAM, pseq + (uint64_t)k);
			cr_assert_eq(shmring_msg_push(&p, buf, len), 0, "round %d push %d", i, k);
		}
		drain(&c, pseq, 3, pt == AT_COMMITTED, (uint64_t)i, len, explicit_recover, &recovered);
		pseq += 3;
		/* As a supervisor would: give back what dead producers hold. */
		int k = shmring_recover(&c);

		cr_assert_geq(k, 0);
		recovered += k;
	}
	if (explicit_recover)
		cr_assert_eq(recovered, rounds, "dead producers recovered at %s", point_name[pt]);
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_stats.skipped, SHMRING_RELAXED),
		     (uint64_t)expect_recovered);
	shmring_close(&c);
	shmring_close(&p);
}

Test(msg_recover, killed_at_intent, .timeout = 60) { run_point(AT_INTENT, 1, 30); }
Test(msg_recover, killed_after_claim, .timeout = 60) { run_point(AT_CLAIMED, 1, 30); }
Test(msg_recover, killed_mid_copy, .timeout = 60) { run_point(AT_CONFIRMED, 1, 30); }
Test(msg_recover, killed_after_wrap_pad, .timeout = 60) { run_point(AT_PAD, 1, 30); }
Test(msg_recover, killed_after_commit, .timeout = 60) { run_point(AT_COMMITTED, 1, 30); }
/* No explicit call: the consumer's stall check finds the dead producer. */
Test(msg_recover, automatic, .timeout = 60) { run_point(AT_CONFIRMED, 0, 10); }

/* A real producer process, killed by another process after reserve while
 * it sleeps; a second producer keeps pushing behind it. */
Test(msg_recover, sigkill_real_producer, .timeout = 60)
{
	struct shmring p, c;
	struct shmring_params prm;
	int fds[2];
	char ok;
	pid_t pid;
	unsigned char buf[100];
	int k, total = 0;

	shmring_params_init(&prm, SHMRING_MSG_MPSC, 4096, 100);
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0);
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0);
	t_fill(buf, 100, PARENT_STREAM, 0);
	cr_assert_eq(shmring_msg_push(&p, buf, 100), 0);
	cr_assert_eq(pipe(fds), 0);
	pid = t_fork();
	if (pid == 0) {
		struct shmring q;
		void *w;

		if (shmring_dup(&q, &p, SHMRING_PRODUCER) || shmring_msg_reserve(&q, 100, &w))
			_exit(1);
		memset(w, 0x5a, 50);
		if (write(fds[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	cr_assert_eq(read(fds[0], &ok, 1), 1);
	for (int i = 1; i <= 5; i++) {
		t_fill(buf, 100, PARENT_STREAM, (uint64_t)i);
		cr_assert_eq(shmring_msg_push(&p, buf, 100), 0);
	}
	/* The first message arrives; the dead one's record blocks the rest
	 * while its producer lives. */
	cr_assert_eq(shmring_msg_pop(&c, buf, 100), 100);
	cr_assert(t_check(buf, 100, PARENT_STREAM, 0));
	cr_assert_eq(shmring_msg_pop(&c, buf, 100), -EAGAIN);
	cr_assert_eq(shmring_recover(&c), 0, "the owner is alive: nothing to do");
	cr_assert_eq(shmring_recover(&p), -EPERM, "recovery runs in the consumer");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	k = shmring_recover(&c);
	cr_assert_eq(k, 1, "one record given up, got %d", k);
	for (int i = 1; i <= 5; i++) {
		cr_assert_eq(shmring_msg_pop(&c, buf, 100), 100);
		cr_assert(t_check(buf, 100, PARENT_STREAM, (uint64_t)i), "message %d", i);
		total++;
	}
	cr_assert_eq(total, 5);
	cr_assert_eq(shmring_msg_pop(&c, buf, 100), -EAGAIN);
	shmring_close(&c);
	shmring_close(&p);
}

/* A consumer killed while zeroing what it released: its successor
 * finishes, and the producers see the space. */
Test(msg_recover, consumer_dies_mid_release, .timeout = 30)
{
	struct shmring p, c;
	struct shmring_params prm;
	unsigned char buf[64];

	shmring_params_init(&prm, SHMRING_MSG_MPSC, 1024, 100);
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0);
	for (int i = 0; i < 4; i++) {
		t_fill(buf, 56, PARENT_STREAM, (uint64_t)i);
		cr_assert_eq(shmring_msg_push(&p, buf, 56), 0);
	}
	pid_t pid = t_fork();

	if (pid == 0) {
		struct shmring q;
		const void *rd;

		if (shmring_dup(&q, &p, SHMRING_CONSUMER))
			_exit(1);
		for (int i = 0; i < 2; i++)
			if (shmring_msg_peek(&q, &rd) != 56)
				_exit(2);
		/* What release does, cut short after half the zeroing. */
		shmring_atomic_store(&q.ctrl->cons.claim, shmring_msg__hs(&q)->cur, SHMRING_RELAXED);
		memset(q.data, 0, 64);
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_atomic_load(&c.ctrl->cons.pos, SHMRING_RELAXED), 128);
	for (int i = 2; i < 4; i++) {
		cr_assert_eq(shmring_msg_pop(&c, buf, 64), 56);
		cr_assert(t_check(buf, 56, PARENT_STREAM, (uint64_t)i));
	}
	for (int i = 0; i < 1024 / 8; i++)
		cr_assert_eq(((uint64_t *)(void *)c.data)[i], 0, "word %d zeroed", i);
	shmring_close(&c);
	shmring_close(&p);
}

/*
 * A producer handle closed with a reservation open: close leaves the
 * record as a killed producer would, its endpoint entry kept (pid 0) so
 * that the next producer cannot take it and recovery can still name the
 * owner; the consumer pads the record and goes on (MPSC). SPSC: nothing
 * was published. Both ring types.
 */
Test(msg_recover, close_with_reservation_open, .timeout = 30)
{
	uint32_t types[] = { SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };

	for (int k = 0; k < 2; k++) {
		struct shmring c, p, q;
		struct shmring_params prm;
		unsigned char buf[64];
		void *w;
		int n = -EAGAIN;

		shmring_params_init(&prm, types[k], 1024, 100);
		cr_assert_eq(shmring_create_anon(&c, &prm, SHMRING_CONSUMER), 0);
		cr_assert_eq(shmring_dup(&p, &c, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
		t_fill(buf, 40, PARENT_STREAM, 0);
		cr_assert_eq(shmring_msg_push(&p, buf, 40), 0);
		cr_assert_eq(shmring_msg_reserve(&p, 60, &w), 0);
		memset(w, 0xa5, 60);
		cr_assert_eq(shmring_close(&p), 0);
		/* The next producer (MPSC: in another endpoint entry). */
		cr_assert_eq(shmring_dup(&q, &c, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
		t_fill(buf, 50, PARENT_STREAM, 1);
		cr_assert_eq(shmring_msg_push(&q, buf, 50), 0);
		cr_assert_eq(shmring_msg_pop(&c, buf, 64), 40);
		cr_assert(t_check(buf, 40, PARENT_STREAM, 0));
		/* Bounded: recovery runs after SHMRING_MSG_STALL_CHECK polls. */
		for (int tries = 0; tries < 100000 && n == -EAGAIN; tries++)
			n = shmring_msg_pop(&c, buf, 64);
		cr_assert_eq(n, 50, "type %u: the next producer's message, got %d", types[k], n);
		cr_assert(t_check(buf, 50, PARENT_STREAM, 1));
		cr_assert_eq(shmring_msg_pop(&c, buf, 64), -EAGAIN);
		shmring_close(&q);
		shmring_close(&c);
	}
}
