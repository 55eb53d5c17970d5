/* SPDX-License-Identifier: MIT */
/*
 * SIGKILL chaos: every 10-100 ms a supervisor SIGKILLs a random
 * participant of a multi-process ring and starts a new one in its place.
 *
 * Producers stamp each message {producer, seq, checksum}. Exactly-once is
 * checked on the consumer side:
 *  - SPSC: the restarted producer resumes after the last message it
 *    published (read back from the ring: a message is committed once its
 *    slot is published), the restarted consumer at the shared tail. The
 *    consumer expects seq = last + 1; a repeat is a duplicate, a gap is
 *    allowed only on a restarted consumer's first message and only of
 *    one message: the one its killed predecessor had taken (the
 *    documented loss, counted).
 *  - MPMC (2 producers, 2 consumers, shmring_recover after every kill):
 *    every delivery sets a bit per (producer, seq); a second delivery is
 *    a duplicate. A producer records the seq it is about to commit before
 *    the commit, so a producer killed in between may or may not have
 *    committed it (recovery skips an unpublished claim): that seq is
 *    "uncertain". At the end every seq below each producer's final count
 *    must have arrived, except uncertain ones and at most one per consumer
 *    kill (what a killed consumer held); both are counted.
 *  - Message ring (MSG_MPSC: 2 producers, 1 consumer): messages of random
 *    length (32..256 bytes) written in place between reserve and commit,
 *    every byte derived from {producer, seq, len}. The consumer pops
 *    (copy, then release) and checks: length, every byte, per-producer
 *    order (seq above the last one seen), no duplicate (a bit per seq). A
 *    producer records the seq it reserves before reserving, so a producer
 *    killed between reserve and commit leaves that seq "uncertain": its
 *    record is turned into padding by the consumer's shmring_recover()
 *    (it runs it every 20 ms while idle, and on its own after a stall) or
 *    was committed; a killed consumer loses at most the one message it
 *    popped but had not logged. Both are counted; nothing else may miss.
 * Every message's checksum is verified (nothing torn), and the supervisor
 * fails the run if no message moves for SHMRING_CHAOS_STALL_S seconds
 * (default 10) while it is not killing: the ring never stays wedged.
 *
 * SHMRING_CHAOS_SECONDS sets each run's length (default 20; a soak: 3600);
 * the message ring's run takes SHMRING_CHAOS_MSG_SECONDS if set, else
 * SHMRING_CHAOS_SECONDS, else 10.
 */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <shmring/mpmc.h>
#include <shmring/msg.h>
#include <shmring/wait.h>

#include "common.h"

#define NONE UINT64_MAX
#define SEQ_MASK ((1ull << 48) - 1)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *s = getenv(name);

	return s && *s ? (unsigned)strtoul(s, NULL, 10) : dflt;
}

static void *shared_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	memset(p, 0, n);
	return p;
}

/* Attach, retrying while the dead predecessor's entry is being taken over. */
static int attach_retry(struct shmring *r, int fd, uint32_t role)
{
	uint64_t end = now_ns() + 5000000000ull;
	int ret;

	do {
		ret = shmring_open_fd(r, fd, role, NULL);
		if (ret != -EBUSY)
			return ret;
		usleep(1000);
	} while (now_ns() < end);
	return ret;
}

/* ---------------------------------------------------------------- SPSC */

struct spsc_chk {
	atomic_int stop;
	atomic_uint_fast64_t final;     /* producer: seq after its last message, at clean exit */
	/* consumer: next expected seq (low 48 bits) and messages lost so far
	 * (high 16 bits) in one word, so that a kill between two bookkeeping
	 * stores cannot skew the count; delivered = next - lost */
	atomic_uint_fast64_t state;
	atomic_uint_fast64_t progress;  /* now_ns() of the last delivery */
	atomic_uint_fast64_t producer_resumes;
};

static void timeout_in(struct timespec *ts, uint64_t ns)
{
	shmring_deadline_after(ts, ns);
}

static void spsc_producer(int fd, struct spsc_chk *k)
{
	struct shmring p;
	struct t_msg m;
	uint64_t seq = 0;

	int at = attach_retry(&p, fd, SHMRING_PRODUCER);

	if (at < 0) {
		fprintf(stderr, "spsc producer: attach: %d: %s\n", at, shmring_errdetail());
		_exit(20);
	}
	/* Resume after the last published message, read back from its slot. */
	if (p.pos != 0) {
		memcpy(&m, shmring_slot(&p, p.pos - 1), sizeof(m));
		if (!t_msg_ok(&m))
			_exit(21);
		seq = m.seq + 1;
		atomic_fetch_add(&k->producer_resumes, 1);
	}
	while (!atomic_load(&k->stop)) {
		struct timespec dl;

		t_msg_make(&m, 1, seq);
		timeout_in(&dl, 100000000ull);
		int ret = shmring_spsc_push_wait(&p, &m, &dl);

		if (ret == 0)
			seq++;
		else if (ret != -ETIMEDOUT && ret != -EPIPE)
			_exit(22);
	}
	atomic_store(&k->final, seq);
	_exit(0);
}

static void spsc_consumer(int fd, struct spsc_chk *k)
{
	struct shmring c;
	int first = 1;

	if (attach_retry(&c, fd, SHMRING_CONSUMER) < 0)
		_exit(30);
	for (;;) {
		struct timespec dl;
		struct t_msg m;

		timeout_in(&dl, 100000000ull);
		int ret = shmring_spsc_pop_wait(&c, &m, &dl);

		if (ret == -ETIMEDOUT || ret == -EPIPE) {
			uint64_t f = atomic_load(&k->final);

			if (f != NONE && (atomic_load(&k->state) & SEQ_MASK) == f)
				_exit(0);
			continue;
		}
		if (ret < 0)
			_exit(31);
		if (!t_msg_ok(&m) || m.producer != 1)
			_exit(32); /* torn */
		uint64_t st = atomic_load(&k->state);
		uint64_t n = st & SEQ_MASK, lost = st >> 48;

		if (m.seq < n)
			_exit(33); /* duplicate */
		if (m.seq > n) {
			/* Only the first message after a restart may skip, and
			 * only the one message the killed consumer took. */
			if (!first || m.seq - n > 1 || lost == 0xffff)
				_exit(34);
			lost += m.seq - n;
		}
		first = 0;
		atomic_store(&k->state, lost << 48 | (m.seq + 1));
		atomic_store(&k->progress, now_ns());
	}
}

static const char *status_text(int st, char *buf, size_t n)
{
	if (WIFEXITED(st))
		snprintf(buf, n, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, n, "status 0x%x", st);
	return buf;
}

/* Kill and restart participants for `secs` seconds. spawn(i) starts
 * participant i; after every kill `after_kill` (if set) runs in the
 * supervisor. Returns the kills per participant in kills[]. */
struct chaos {
	unsigned n;
	pid_t pid[8];
	uint64_t kills[8];
	pid_t (*spawn)(unsigned i, void *arg);
	void (*after_kill)(unsigned i, void *arg);
	void *arg;
	atomic_uint_fast64_t *progress;
	uint64_t max_stall_ns;
};

/* Participants alive now, for the .fini hook: a failed assertion in the
 * supervisor must not leave them running. */
static pid_t *chaos_pids;
static unsigned chaos_n;

static void chaos_fini(void)
{
	for (unsigned i = 0; chaos_pids && i < chaos_n; i++) {
		if (chaos_pids[i] > 0) {
			kill(chaos_pids[i], SIGKILL);
			waitpid(chaos_pids[i], NULL, 0);
		}
	}
}

static void chaos_run(struct chaos *c, unsigned secs, unsigned stall_s)
{
	chaos_pids = c->pid;
	chaos_n = c->n;
	uint64_t seed = t_mix(now_ns());
	uint64_t end = now_ns() + (uint64_t)secs * 1000000000ull;
	char buf[64];

	for (unsigned i = 0; i < c->n; i++)
		c->pid[i] = c->spawn(i, c->arg);
	atomic_store(c->progress, now_ns());
	while (now_ns() < end) {
		seed = t_mix(seed);
		usleep(10000 + (useconds_t)(seed % 90001));
		unsigned v = (unsigned)((seed >> 32) % c->n);
		int st;

		kill(c->pid[v], SIGKILL);
		cr_assert_eq(waitpid(c->pid[v], &st, 0), c->pid[v]);
		c->pid[v] = 0;
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
			  "participant %u ended before the kill: %s", v, status_text(st, buf, sizeof(buf)));
		c->kills[v]++;
		if (c->after_kill)
			c->after_kill(v, c->arg);
		c->pid[v] = c->spawn(v, c->arg);
		uint64_t t = now_ns(), last = atomic_load(c->progress);
		uint64_t stall = t > last ? t - last : 0;

		if (stall > c->max_stall_ns)
			c->max_stall_ns = stall;
		cr_assert_lt(stall, (uint64_t)stall_s * 1000000000ull,
			     "no message delivered for %.1f s: the ring is wedged", stall / 1e9);
	}
}

struct spsc_arg {
	int fd;
	struct spsc_chk *k;
};

static pid_t spsc_spawn(unsigned i, void *arg)
{
	struct spsc_arg *a = arg;
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (i == 0)
			spsc_producer(a->fd, a->k);
		spsc_consumer(a->fd, a->k);
	}
	return pid;
}

Test(chaos, spsc_sigkill, .timeout = 3900, .fini = chaos_fini)
{
	unsigned secs = env_uint("SHMRING_CHAOS_SECONDS", 20);
	unsigned stall_s = env_uint("SHMRING_CHAOS_STALL_S", 10);
	struct shmring r;
	struct shmring_params prm;
	struct spsc_chk *k = shared_alloc(sizeof(*k));
	struct spsc_arg a;
	static struct chaos c; /* outlives the test body for chaos_fini */
	char buf[64];
	int st;

	atomic_store(&k->final, NONE);
	shmring_params_init(&prm, SHMRING_SPSC, 64, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	a.fd = shmring_fd(&r);
	a.k = k;
	memset(&c, 0, sizeof(c));
	c.n = 2;
	c.spawn = spsc_spawn;
	c.arg = &a;
	c.progress = &k->progress;
	chaos_run(&c, secs, stall_s);

	/* Wind down: the producer stops, the consumer drains. */
	atomic_store(&k->stop, 1);
	cr_assert_eq(waitpid(c.pid[0], &st, 0), c.pid[0]);
	c.pid[0] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer: %s", status_text(st, buf, sizeof(buf)));
	cr_assert_eq(waitpid(c.pid[1], &st, 0), c.pid[1]);
	c.pid[1] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer: %s", status_text(st, buf, sizeof(buf)));

	uint64_t final = atomic_load(&k->final), cs = atomic_load(&k->state);
	uint64_t lost = cs >> 48, delivered = (cs & SEQ_MASK) - lost;

	/* Every seq below final was delivered exactly once or counted lost. */
	cr_assert_eq(cs & SEQ_MASK, final);
	cr_assert_leq(lost, c.kills[1], "more lost than consumer kills");
	printf("chaos spsc: %u s, producer killed %llu times (resumed %llu), consumer killed %llu times; "
	       "%llu committed, %llu delivered exactly once, %llu lost (held by a killed consumer), "
	       "0 torn, 0 duplicated; longest stall seen %.2f s\n",
	       secs, (unsigned long long)c.kills[0], (unsigned long long)atomic_load(&k->producer_resumes),
	       (unsigned long long)c.kills[1], (unsigned long long)final, (unsigned long long)delivered,
	       (unsigned long long)lost, c.max_stall_ns / 1e9);
	shmring_close(&r);
	munmap(k, sizeof(*k));
}

/* ---------------------------------------------------------------- MPMC */

#define MP 2
#define MC 2
#define SEQ_MAX (1ull << 26)  /* per producer; the run ends early if reached */
#define UNC_MAX 65536

struct mpmc_prod {
	atomic_uint_fast64_t next;     /* next seq to send */
	atomic_uint_fast64_t inflight; /* seq being committed, or NONE */
	atomic_uint_fast64_t final;    /* next at clean exit, or NONE */
	atomic_uint_fast64_t n_unc;
	uint64_t unc[UNC_MAX];         /* seqs whose commit a kill interrupted */
};

struct mpmc_chk {
	atomic_int stop, quit, capped;
	atomic_uint_fast64_t progress;
	atomic_uint_fast64_t delivered;
	struct mpmc_prod prod[MP];
	atomic_uint_fast64_t bits[MP][SEQ_MAX / 64];
};

/* A (re)started producer's first seq. If its predecessor died while
 * sending `inflight` (between reserve and commit, or just around them), that
 * seq may or may not arrive: it goes on the uncertain list and is never
 * sent again. _exit(full_code) when the list is full. */
static uint64_t prod_resume(struct mpmc_prod *pp, int full_code)
{
	uint64_t seq = atomic_load(&pp->next);
	uint64_t inf = atomic_load(&pp->inflight);

	if (inf != NONE) {
		uint64_t u = atomic_load(&pp->n_unc);

		if (u >= UNC_MAX)
			_exit(full_code);
		pp->unc[u] = inf;
		atomic_store(&pp->n_unc, u + 1);
		seq = inf + 1;
		atomic_store(&pp->next, seq);
		atomic_store(&pp->inflight, NONE);
	}
	return seq;
}

static void mpmc_producer(int fd, struct mpmc_chk *k, unsigned i)
{
	struct mpmc_prod *pp = &k->prod[i];
	struct shmring p;
	struct t_msg m;

	if (attach_retry(&p, fd, SHMRING_PRODUCER) < 0)
		_exit(50);
	uint64_t seq = prod_resume(pp, 51);

	while (!atomic_load(&k->stop)) {
		if (seq >= SEQ_MAX) {
			atomic_store(&k->capped, 1);
			usleep(1000);
			continue;
		}
		t_msg_make(&m, i + 1, seq);
		atomic_store(&pp->inflight, seq);
		int ret = shmring_mpmc_try_push(&p, &m);

		if (ret == 0) {
			seq++;
			atomic_store(&pp->next, seq);
			atomic_store(&pp->inflight, NONE);
		} else if (ret == -EAGAIN) {
			atomic_store(&pp->inflight, NONE);
			sched_yield();
		} else {
			_exit(52);
		}
	}
	atomic_store(&pp->final, seq);
	_exit(0);
}

static void mpmc_consumer(int fd, struct mpmc_chk *k)
{
	struct shmring c;

	if (attach_retry(&c, fd, SHMRING_CONSUMER) < 0)
		_exit(60);
	for (;;) {
		struct t_msg m;
		int ret = shmring_mpmc_try_pop(&c, &m);

		if (ret == -EAGAIN) {
			if (atomic_load(&k->quit))
				_exit(0);
			sched_yield();
			continue;
		}
		if (ret < 0)
			_exit(61);
		if (!t_msg_ok(&m) || m.producer < 1 || m.producer > MP || m.seq >= SEQ_MAX)
			_exit(62); /* torn */
		uint64_t bit = 1ull << (m.seq % 64);

		if (atomic_fetch_or(&k->bits[m.producer - 1][m.seq / 64], bit) & bit)
			_exit(63); /* duplicate */
		atomic_fetch_add(&k->delivered, 1);
		atomic_store(&k->progress, now_ns());
	}
}

struct mpmc_arg {
	int fd;
	struct shmring *sup;
	struct mpmc_chk *k;
	uint64_t recovered;
};

static pid_t mpmc_spawn(unsigned i, void *arg)
{
	struct mpmc_arg *a = arg;
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (i < MP)
			mpmc_producer(a->fd, a->k, i);
		mpmc_consumer(a->fd, a->k);
	}
	return pid;
}

static void mpmc_recover(struct mpmc_arg *a)
{
	int ret;

	do {
		ret = shmring_recover(a->sup);
		if (ret == -EBUSY)
			usleep(1000);
	} while (ret == -EBUSY);
	cr_assert_geq(ret, 0, "shmring_recover: %s (%s)", shmring_strerror(ret), shmring_errdetail());
	a->recovered += (uint64_t)ret;
}

static void mpmc_after_kill(unsigned i, void *arg)
{
	(void)i;
	mpmc_recover(arg);
}

static int unc_has(const struct mpmc_prod *pp, uint64_t seq)
{
	uint64_t n = atomic_load(&pp->n_unc);

	for (uint64_t i = 0; i < n; i++)
		if (pp->unc[i] == seq)
			return 1;
	return 0;
}

/* What the delivery bits say of producers' sequence numbers, summed. */
struct bit_tally {
	uint64_t committed;   /* commits the producer finished, or that were delivered */
	uint64_t missing;     /* finished commits not delivered */
	uint64_t unc_missing; /* interrupted commits not delivered */
	uint64_t unc_total;   /* interrupted commits */
	uint64_t delivered;   /* from the bits: a kill may fall between a bit and the counter */
};

/* Producer i (pp, its delivery bits): every seq below its final one is
 * tallied; none at or above it was delivered. */
static void tally_producer(unsigned i, const struct mpmc_prod *pp, const atomic_uint_fast64_t *bits,
			   struct bit_tally *t)
{
	uint64_t final = atomic_load(&pp->final);

	cr_assert_neq(final, NONE);
	t->unc_total += atomic_load(&pp->n_unc);
	for (uint64_t s = 0; s < final; s++) {
		int got = (atomic_load(&bits[s / 64]) >> (s % 64)) & 1;

		t->delivered += (uint64_t)got;
		if (unc_has(pp, s)) {
			t->unc_missing += !got;
			t->committed += got;
		} else {
			t->committed++;
			t->missing += !got;
		}
	}
	for (uint64_t s = final; s < ((final + 63) & ~63ull) && s < SEQ_MAX; s++)
		cr_assert(!((atomic_load(&bits[s / 64]) >> (s % 64)) & 1),
			  "producer %u: seq %llu delivered but never sent", i, (unsigned long long)s);
}

Test(chaos, mpmc_sigkill, .timeout = 3900, .fini = chaos_fini)
{
	unsigned secs = env_uint("SHMRING_CHAOS_SECONDS", 20);
	unsigned stall_s = env_uint("SHMRING_CHAOS_STALL_S", 10);
	struct shmring r;
	struct shmring_params prm;
	struct mpmc_chk *k = shared_alloc(sizeof(*k));
	struct mpmc_arg a;
	static struct chaos c; /* outlives the test body for chaos_fini */
	char buf[64];
	int st;

	for (unsigned i = 0; i < MP; i++) {
		atomic_store(&k->prod[i].inflight, NONE);
		atomic_store(&k->prod[i].final, NONE);
	}
	shmring_params_init(&prm, SHMRING_MPMC, 64, sizeof(struct t_msg));
	prm.max_endpoints = 8;
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	a.fd = shmring_fd(&r);
	a.sup = &r;
	a.k = k;
	a.recovered = 0;
	memset(&c, 0, sizeof(c));
	c.n = MP + MC;
	c.spawn = mpmc_spawn;
	c.after_kill = mpmc_after_kill;
	c.arg = &a;
	c.progress = &k->progress;
	chaos_run(&c, secs, stall_s);

	/* Wind down: producers stop; consumers drain until nothing moves. */
	atomic_store(&k->stop, 1);
	for (unsigned i = 0; i < MP; i++) {
		cr_assert_eq(waitpid(c.pid[i], &st, 0), c.pid[i]);
		c.pid[i] = 0;
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %u: %s", i,
			  status_text(st, buf, sizeof(buf)));
	}
	mpmc_recover(&a);
	for (uint64_t last = NONE, d; (d = atomic_load(&k->delivered)) != last || shmring_mpmc_count(&r);) {
		last = d;
		usleep(200000);
	}
	atomic_store(&k->quit, 1);
	for (unsigned i = MP; i < MP + MC; i++) {
		cr_assert_eq(waitpid(c.pid[i], &st, 0), c.pid[i]);
		c.pid[i] = 0;
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer %u: %s", i,
			  status_text(st, buf, sizeof(buf)));
	}

	struct bit_tally t = { 0 };
	uint64_t cons_kills = 0, prod_kills = 0;

	for (unsigned i = 0; i < MP; i++) {
		tally_producer(i, &k->prod[i], k->bits[i], &t);
		prod_kills += c.kills[i];
	}
	for (unsigned i = MP; i < MP + MC; i++)
		cons_kills += c.kills[i];
	cr_assert_eq(t.delivered, t.committed - t.missing);
	cr_assert_leq(t.missing, cons_kills, "%llu committed messages missing, only %llu consumer kills",
		      (unsigned long long)t.missing, (unsigned long long)cons_kills);
	cr_assert_leq(t.unc_total, prod_kills);
	printf("chaos mpmc: %u s%s, producers killed %llu times, consumers killed %llu times, "
	       "%llu endpoints recovered; %llu committed, %llu delivered exactly once, "
	       "%llu lost (held by a killed consumer), %llu of %llu interrupted commits not delivered "
	       "(skipped: %llu, ring's lost count: %llu), 0 torn, 0 duplicated; longest stall seen %.2f s\n",
	       secs, atomic_load(&k->capped) ? " (capped)" : "", (unsigned long long)prod_kills,
	       (unsigned long long)cons_kills, (unsigned long long)a.recovered,
	       (unsigned long long)t.committed, (unsigned long long)t.delivered, (unsigned long long)t.missing,
	       (unsigned long long)t.unc_missing, (unsigned long long)t.unc_total,
	       (unsigned long long)atomic_load(&r.ctrl->cons_stats.skipped),
	       (unsigned long long)atomic_load(&r.ctrl->cons_stats.lost), c.max_stall_ns / 1e9);
	shmring_close(&r);
	munmap(k, sizeof(*k));
}

/* -------------------------------------------------------- message ring */

#define QP 2            /* producers; one consumer */
#define QMIN 32u        /* smallest message: the head below */
#define QMAX 256u       /* largest message (the ring's slot_size) */

struct q_head {
	uint64_t producer, seq, len, check;
};

struct msg_chk {
	atomic_int stop, quit, capped;
	atomic_uint_fast64_t progress;
	atomic_uint_fast64_t recover_calls, recovered;
	atomic_uint_fast64_t last[QP]; /* highest seq delivered per producer, or NONE */
	struct mpmc_prod prod[QP];
	atomic_uint_fast64_t bits[QP][SEQ_MAX / 64];
};

static uint64_t q_check(uint64_t producer, uint64_t seq, uint64_t len)
{
	return t_mix(producer * 0x100000001b3ull ^ seq ^ len << 48);
}

static uint8_t q_byte(uint64_t check, uint32_t j)
{
	return (uint8_t)(t_mix(check + j / 8) >> (j % 8 * 8));
}

static void q_fill(unsigned char *buf, uint64_t producer, uint64_t seq, uint32_t len)
{
	struct q_head h = { producer, seq, len, q_check(producer, seq, len) };

	memcpy(buf, &h, sizeof(h));
	for (uint32_t j = sizeof(h); j < len; j++)
		buf[j] = q_byte(h.check, j);
}

/* 0 if intact, else the consumer's exit code. */
static int q_verify(const unsigned char *buf, int n, struct q_head *h)
{
	if (n < (int)sizeof(*h) || n > (int)QMAX)
		return 72;
	memcpy(h, buf, sizeof(*h));
	if (h->len != (uint64_t)n || h->producer < 1 || h->producer > QP || h->seq >= SEQ_MAX ||
	    h->check != q_check(h->producer, h->seq, h->len))
		return 73;
	for (uint32_t j = sizeof(*h); j < (uint32_t)n; j++)
		if (buf[j] != q_byte(h->check, j))
			return 74;
	return 0;
}

/* Attach, retrying while a dead predecessor's entry is not yet free
 * (-EBUSY: the single consumer's; -ENOSPC: producer entries until the
 * consumer's recovery frees the dead ones). */
static int q_attach(struct shmring *r, int fd, uint32_t role)
{
	uint64_t end = now_ns() + 5000000000ull;
	int ret;

	do {
		ret = shmring_open_fd(r, fd, role, NULL);
		if (ret != -EBUSY && ret != -ENOSPC)
			return ret;
		usleep(1000);
	} while (now_ns() < end);
	return ret;
}

static void msg_producer(int fd, struct msg_chk *k, unsigned i)
{
	struct mpmc_prod *pp = &k->prod[i];
	struct shmring p;

	if (q_attach(&p, fd, SHMRING_PRODUCER) < 0)
		_exit(80);
	uint64_t seq = prod_resume(pp, 81);
	uint64_t rng = t_mix(now_ns() ^ (uint64_t)getpid() << 32);

	while (!atomic_load(&k->stop)) {
		if (seq >= SEQ_MAX) {
			atomic_store(&k->capped, 1);
			usleep(1000);
			continue;
		}
		rng = t_mix(rng);
		uint32_t len = QMIN + (uint32_t)(rng % (QMAX - QMIN + 1));
		void *buf;

		atomic_store(&pp->inflight, seq);
		int ret = shmring_msg_reserve(&p, len, &buf);

		if (ret == 0) {
			q_fill(buf, i + 1, seq, len);
			if (shmring_msg_commit(&p) != 0)
				_exit(82);
			seq++;
			atomic_store(&pp->next, seq);
			atomic_store(&pp->inflight, NONE);
		} else if (ret == -EAGAIN) {
			atomic_store(&pp->inflight, NONE);
			sched_yield();
		} else {
			_exit(83);
		}
	}
	atomic_store(&pp->final, seq);
	_exit(0);
}

static void msg_consumer(int fd, struct msg_chk *k)
{
	struct shmring c;
	unsigned char buf[QMAX];
	uint64_t last_rec = now_ns();

	if (q_attach(&c, fd, SHMRING_CONSUMER) < 0)
		_exit(70);
	for (;;) {
		int n = shmring_msg_pop(&c, buf, sizeof(buf));

		if (n == -EAGAIN) {
			uint64_t t = now_ns();

			if (t - last_rec > 20000000ull) {
				/* Free dead producers' entries; turn their
				 * uncommitted records into padding. */
				int ret = shmring_recover(&c);

				if (ret < 0)
					_exit(71);
				atomic_fetch_add(&k->recover_calls, 1);
				atomic_fetch_add(&k->recovered, (uint64_t)ret);
				last_rec = t;
			} else if (atomic_load(&k->quit)) {
				_exit(0);
			}
			sched_yield();
			continue;
		}
		if (n < 0)
			_exit(75);
		struct q_head h;
		int bad = q_verify(buf, n, &h);

		if (bad)
			_exit(bad); /* torn */
		unsigned p = (unsigned)h.producer - 1;
		uint64_t bit = 1ull << (h.seq % 64);
		uint64_t last = atomic_load(&k->last[p]);

		if (last != NONE && h.seq <= last)
			_exit(76); /* out of order or repeated */
		if (atomic_fetch_or(&k->bits[p][h.seq / 64], bit) & bit)
			_exit(77); /* duplicate */
		atomic_store(&k->last[p], h.seq);
		atomic_store(&k->progress, now_ns());
	}
}

struct msg_arg {
	int fd;
	struct msg_chk *k;
};

static pid_t msg_spawn(unsigned i, void *arg)
{
	struct msg_arg *a = arg;
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (i < QP)
			msg_producer(a->fd, a->k, i);
		msg_consumer(a->fd, a->k);
	}
	return pid;
}

Test(chaos, msg_mpsc_sigkill, .timeout = 3900, .fini = chaos_fini)
{
	unsigned secs = env_uint("SHMRING_CHAOS_MSG_SECONDS", env_uint("SHMRING_CHAOS_SECONDS", 10));
	unsigned stall_s = env_uint("SHMRING_CHAOS_STALL_S", 10);
	struct shmring r;
	struct shmring_params prm;
	struct msg_chk *k = shared_alloc(sizeof(*k));
	struct msg_arg a;
	static struct chaos c; /* outlives the test body for chaos_fini */
	char buf[64];
	int st;

	for (unsigned i = 0; i < QP; i++) {
		atomic_store(&k->prod[i].inflight, NONE);
		atomic_store(&k->prod[i].final, NONE);
		atomic_store(&k->last[i], NONE);
	}
	shmring_params_init(&prm, SHMRING_MSG_MPSC, 4096, QMAX);
	prm.max_endpoints = 16;
	cr_assert_eq(shmring_create_anon(&r, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	a.fd = shmring_fd(&r);
	a.k = k;
	memset(&c, 0, sizeof(c));
	c.n = QP + 1;
	c.spawn = msg_spawn;
	c.arg = &a;
	c.progress = &k->progress;
	chaos_run(&c, secs, stall_s);

	/* Wind down: producers stop; the consumer drains (recovering what
	 * dead producers left reserved) until the ring is empty. */
	atomic_store(&k->stop, 1);
	for (unsigned i = 0; i < QP; i++) {
		cr_assert_eq(waitpid(c.pid[i], &st, 0), c.pid[i]);
		c.pid[i] = 0;
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %u: %s", i,
			  status_text(st, buf, sizeof(buf)));
	}
	uint64_t drain_end = now_ns() + (uint64_t)stall_s * 1000000000ull;

	while (shmring_atomic_load(&r.ctrl->cons.pos, SHMRING_ACQUIRE) !=
	       shmring_atomic_load(&r.ctrl->prod.claim, SHMRING_ACQUIRE)) {
		cr_assert_lt(now_ns(), drain_end, "the consumer did not drain the ring");
		usleep(10000);
	}
	atomic_store(&k->quit, 1);
	cr_assert_eq(waitpid(c.pid[QP], &st, 0), c.pid[QP]);
	c.pid[QP] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer: %s", status_text(st, buf, sizeof(buf)));

	struct bit_tally t = { 0 };
	uint64_t prod_kills = 0;

	for (unsigned i = 0; i < QP; i++) {
		tally_producer(i, &k->prod[i], k->bits[i], &t);
		prod_kills += c.kills[i];
	}
	cr_assert_eq(t.delivered, t.committed - t.missing);
	cr_assert_leq(t.missing, c.kills[QP], "%llu committed messages missing, only %llu consumer kills",
		      (unsigned long long)t.missing, (unsigned long long)c.kills[QP]);
	cr_assert_leq(t.unc_total, prod_kills);
	printf("chaos msg_mpsc: %u s%s, producers killed %llu times, consumer killed %llu times, "
	       "%llu recover calls (%llu entries freed); %llu committed, %llu delivered exactly once, "
	       "%llu lost (popped by a killed consumer), %llu of %llu interrupted reservations not delivered "
	       "(the killed producers' documented loss), 0 torn, 0 duplicated, per-producer order kept; "
	       "longest stall seen %.2f s\n",
	       secs, atomic_load(&k->capped) ? " (capped)" : "", (unsigned long long)prod_kills,
	       (unsigned long long)c.kills[QP], (unsigned long long)atomic_load(&k->recover_calls),
	       (unsigned long long)atomic_load(&k->recovered), (unsigned long long)t.committed,
	       (unsigned long long)t.delivered, (unsigned long long)t.missing, (unsigned long long)t.unc_missing,
	       (unsigned long long)t.unc_total, c.max_stall_ns / 1e9);
	shmring_close(&r);
	munmap(k, sizeof(*k));
}
