/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench: throughput and round-trip latency of the shmring rings,
 * side by side with the alternatives and with the floors, in one run.
 *
 * Every subject is an adapter (bench/adapter_*.c) run through the same
 * loops (bench.h). Each figure is measured `reps` times; the runs of
 * different subjects are interleaved (round-robin over the cases in each
 * repetition) so that drift of the machine hits all of them alike, and the
 * median is reported with the min and max.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/topo.h>

#include "bench.h"
#include "bench_config.h"

extern const struct bench_subjects bench_subjects_shmring;
extern const struct bench_subjects bench_subjects_msg;
extern const struct bench_subjects bench_subjects_ipc;
extern const struct bench_subjects bench_subjects_floor;
extern const struct bench_subjects bench_subjects_lockfree;
#if BENCH_HAVE_DPDK
extern const struct bench_subjects bench_subjects_dpdk;
#endif

static const struct bench_subjects *all_lists[] = {
	&bench_subjects_shmring,
	&bench_subjects_msg,
	&bench_subjects_lockfree,
#if BENCH_HAVE_DPDK
	&bench_subjects_dpdk,
#endif
	&bench_subjects_ipc,
	&bench_subjects_floor,
};

#define MAX_REPS 101
#define MAX_SIZES 16
#define MAX_CASES 1024

/* ------------------------------------------------------------------ */
/* options */

struct opts {
	int reps;
	double duration_ms, warmup_ms;
	uint64_t count; /* fixed count, no calibration (0: calibrate) */
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	uint64_t capacity;
	uint32_t burst;
	const char *filter;
	const char *csv, *json;
	int cpu[2];
	bool all_procs, quick, list, quiet, no_table;
};

static struct opts O = {
	.reps = 5,
	.duration_ms = 100,
	.warmup_ms = 30,
	.sizes = { 8, 64, 1024, 4096, 65536, 1048576 },
	.nsizes = 6,
	.capacity = 1024,
	.cpu = { -1, -1 },
};

/* ------------------------------------------------------------------ */
/* cases and results */

struct lat {
	double p[5]; /* p50, p90, p99, p99.9, max */
};

static const char *const lat_names[5] = { "p50", "p90", "p99", "p99.9", "max" };
static const double lat_q[4] = { 0.50, 0.90, 0.99, 0.999 };

struct bench_case {
	const struct bench_subject *s;
	uint32_t size, burst, nprod, ncons, procs, rtt;
	uint64_t capacity;
	uint64_t count;
	char label[96];
	int n;                 /* repetitions measured */
	double rate[MAX_REPS]; /* tput: messages/s */
	struct lat lat[MAX_REPS];
	uint64_t samples;
	uint64_t preempt;      /* involuntary context switches, all runs */
	int preempted_runs;    /* runs in which an endpoint was preempted */
	bool failed;
	char err[200];
	/* summary */
	double med, lo, hi;       /* tput: msg/s; rtt: p50 ns */
	struct lat lmed, llo, lhi; /* rtt */
	const struct bench_case *best, *floor;
};

static struct bench_case cases[MAX_CASES];
static int ncases;
static struct bench_run *run_shm;
static double load_start = NAN, load_end = NAN;
static char machine[256] = "topology unknown";

/* ------------------------------------------------------------------ */
/* helpers shared with the adapters */

void bench_fail(struct bench_run *run, const char *what, int err)
{
	if (atomic_fetch_add(&run->errors, 1) == 0)
		snprintf(run->errmsg, sizeof(run->errmsg), "%s: %s", what, strerror(err < 0 ? -err : err));
	/* Wake everybody: a peer waiting for our messages would spin forever. */
	atomic_store(&run->t_end, bench_now());
}

void *bench_alloc_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_free_shared(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static _Thread_local void *ep_bufs[4];
static _Thread_local int ep_nbufs;

void *bench_msgbuf(struct bench_run *run, size_t n)
{
	(void)run;
	if (ep_nbufs == 4)
		return NULL;
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);

	if (p)
		ep_bufs[ep_nbufs++] = p;
	return p;
}

static void ep_bufs_free(void)
{
	while (ep_nbufs > 0)
		free(ep_bufs[--ep_nbufs]);
}

void bench_producer_done(struct bench_run *run, uint64_t sum, uint64_t n)
{
	atomic_fetch_add(&run->sum_sent, sum);
	atomic_fetch_add(&run->nsent, n);
}

void bench_consumer_done(struct bench_run *run, uint64_t sum, uint64_t n)
{
	uint64_t now = bench_now(), prev = atomic_load(&run->t_end);

	atomic_fetch_add(&run->sum_recv, sum);
	atomic_fetch_add(&run->nrecv, n);
	while (prev < now && !atomic_compare_exchange_weak(&run->t_end, &prev, now))
		;
}

/* ------------------------------------------------------------------ */
/* endpoints */

struct ep_arg {
	struct bench_run *run;
	int role; /* BR_PROD / BR_CONS; rtt: BR_PROD = client */
	uint32_t id;
	int cpu;
};

static void pin(int cpu)
{
	if (cpu >= 0)
		shmring_bind_thread_cpu(cpu);
}

static void ep_main(struct ep_arg *a)
{
	struct bench_run *run = a->run;
	const struct bench_subject *s = run->s;
	void *ep[2] = { calloc(1, s->ep_size ? s->ep_size : 1), calloc(1, s->ep_size ? s->ep_size : 1) };
	int opened = 0, r = 0;
	unsigned spins = 0;

	pin(a->cpu);
	if (!ep[0] || !ep[1]) {
		bench_fail(run, "endpoint", -ENOMEM);
		goto out;
	}
	if (run->rtt) {
		/* client: ring 0 out, ring 1 back; server: the reverse */
		int r0 = a->role == BR_PROD ? BR_PROD : BR_CONS, r1 = a->role == BR_PROD ? BR_CONS : BR_PROD;

		if ((r = s->ep_open(run, ep[0], 0, r0)) == 0) {
			opened = 1;
			if ((r = s->ep_open(run, ep[1], 1, r1)) == 0)
				opened = 2;
		}
	} else if ((r = s->ep_open(run, ep[0], 0, a->role)) == 0) {
		opened = 1;
	}
	if (r < 0)
		bench_fail(run, "attach", r);
	atomic_fetch_add(&run->ready, 1);
	while (!atomic_load_explicit(&run->go, memory_order_acquire))
		bench_relax(&spins);
	if (r == 0 && !atomic_load(&run->errors)) {
		struct rusage ru0, ru1;

		getrusage(RUSAGE_THREAD, &ru0);
		if (!run->rtt && a->role == BR_PROD)
			s->producer(run, ep[0], a->id);
		else if (!run->rtt)
			s->consumer(run, ep[0], a->id);
		else if (a->role == BR_PROD)
			s->client(run, ep[0], ep[1]);
		else
			s->server(run, ep[0], ep[1]);
		getrusage(RUSAGE_THREAD, &ru1);
		atomic_fetch_add(&run->preempt, (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw));
	}
	ep_bufs_free();
	for (int i = opened - 1; i >= 0; i--)
		if (s->ep_close)
			s->ep_close(run, ep[i]);
out:
	free(ep[0]);
	free(ep[1]);
}

static void *ep_thread(void *p)
{
	ep_main(p);
	return NULL;
}

static pid_t children[2 * BENCH_MAX_EP];
static int nchildren;
static volatile sig_atomic_t watchdog_label_ok;
static char watchdog_label[128];

static void on_alarm(int sig)
{
	static const char msg[] = "\nshmring-bench: a run did not finish in time, giving up: ";

	(void)sig;
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0 || (watchdog_label_ok &&
	    write(2, watchdog_label, strlen(watchdog_label)) < 0) || write(2, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

/*
 * One run of one case with `count` messages (or round trips).
 * Returns elapsed ns (> 0), or -errno with c->err filled.
 */
static int64_t run_once(struct bench_case *c, uint64_t count)
{
	struct bench_run *run = run_shm;
	const struct bench_subject *s = c->s;
	struct ep_arg args[2 * BENCH_MAX_EP];
	pthread_t th[2 * BENCH_MAX_EP];
	int nep = 0, r;
	int64_t ns;
	unsigned spins = 0;

	memset(run, 0, offsetof(struct bench_run, hist));
	memset(&run->hist, 0, sizeof(run->hist));
	run->hist.min = UINT64_MAX;
	run->s = s;
	run->size = c->size;
	run->burst = c->burst;
	run->nprod = c->nprod;
	run->ncons = c->ncons;
	run->procs = c->procs;
	run->rtt = c->rtt;
	run->capacity = c->capacity;
	run->count = count;
	/* Many endpoints on two cores: a preempted peer can stall each
	 * message for a time slice, so look at the clock more often. */
	run->check_mask = c->nprod > 1 || c->ncons > 1 ? 7 : 255;
	run->cpu[0] = O.cpu[0];
	run->cpu[1] = O.cpu[1];

	snprintf(watchdog_label, sizeof(watchdog_label), "%s", c->label);
	watchdog_label_ok = 1;
	alarm((unsigned)(60 + 20 * (O.duration_ms + O.warmup_ms) / 1000));

	if ((r = s->setup(run)) < 0) {
		snprintf(c->err, sizeof(c->err), "setup: %s", strerror(-r));
		alarm(0);
		return r;
	}
	if (s->flags & BS_CUSTOM) {
		pin(O.cpu[0]);
		ns = s->custom(run);
		goto done;
	}
	if (run->rtt) {
		args[nep++] = (struct ep_arg){ run, BR_PROD, 0, O.cpu[0] };
		args[nep++] = (struct ep_arg){ run, BR_CONS, 0, O.cpu[1] };
	} else {
		for (uint32_t i = 0; i < run->nprod; i++)
			args[nep++] = (struct ep_arg){ run, BR_PROD, i, O.cpu[0] };
		for (uint32_t i = 0; i < run->ncons; i++)
			args[nep++] = (struct ep_arg){ run, BR_CONS, i, O.cpu[1] };
	}
	nchildren = 0;
	for (int i = 0; i < nep; i++) {
		if (run->procs) {
			pid_t pid = fork();

			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				ep_main(&args[i]);
				_exit(0);
			}
			if (pid < 0) {
				bench_fail(run, "fork", -errno);
				atomic_fetch_add(&run->ready, 1);
			}
			children[nchildren++] = pid;
		} else if ((r = pthread_create(&th[i], NULL, ep_thread, &args[i])) != 0) {
			bench_fail(run, "pthread_create", -r);
			th[i] = 0;
			atomic_fetch_add(&run->ready, 1);
		}
	}
	while (atomic_load(&run->ready) < (uint32_t)nep)
		bench_relax(&spins);
	atomic_store(&run->t_start, bench_now());
	/* A run that goes far slower than calibrated (a preempted lock
	 * holder) ends early; its rate counts what it moved. */
	run->deadline = atomic_load(&run->t_start) +
			(uint64_t)(3e6 * (O.duration_ms > O.warmup_ms ? O.duration_ms : O.warmup_ms)) + 2000000;
	/* Release: the endpoints' acquire load of go sees t_start. */
	atomic_store_explicit(&run->go, 1, memory_order_release);
	for (int i = 0; i < nep; i++) {
		if (run->procs) {
			int st;

			if (children[i] > 0 && waitpid(children[i], &st, 0) > 0 &&
			    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
				bench_fail(run, "endpoint process died", -ECHILD);
		} else if (th[i]) {
			pthread_join(th[i], NULL);
		}
	}
	nchildren = 0;
	ns = (int64_t)(atomic_load(&run->t_end) - atomic_load(&run->t_start));
done:
	s->teardown(run);
	alarm(0);
	if (atomic_load(&run->errors)) {
		snprintf(c->err, sizeof(c->err), "%s", run->errmsg[0] ? run->errmsg : "failed");
		return -EPROTO;
	}
	if (ns < 0)
		return ns;
	if (!(s->flags & BS_CUSTOM) && !run->rtt &&
	    (atomic_load(&run->nrecv) != atomic_load(&run->nsent) ||
	     atomic_load(&run->sum_recv) != atomic_load(&run->sum_sent))) {
		snprintf(c->err, sizeof(c->err), "lost or duplicated messages: %llu of %llu received",
			 (unsigned long long)atomic_load(&run->nrecv), (unsigned long long)atomic_load(&run->nsent));
		return -EPROTO;
	}
	return ns > 0 ? ns : 1;
}

/* ------------------------------------------------------------------ */
/* statistics */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void summarize(const double *v, int n, double *med, double *lo, double *hi)
{
	double t[MAX_REPS];

	if (n <= 0) {
		*med = *lo = *hi = NAN;
		return;
	}
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	*med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	*lo = t[0];
	*hi = t[n - 1];
}

/* Value at quantile q: the midpoint of the bucket holding it (within
 * 0.8% of any value in the bucket), capped at the exact max. */
static double hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)h->count), seen = 0;

	if (!h->count)
		return NAN;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < BH_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double lo, width;

			if (i < (2u << BH_SUB_BITS)) {
				lo = i;
				width = 1;
			} else {
				unsigned e = (i >> BH_SUB_BITS) - 1;

				lo = (double)((uint64_t)(i - (e << BH_SUB_BITS)) << e);
				width = (double)(1ull << e);
			}
			double v = lo + (width - 1) / 2;

			return v > (double)h->max ? (double)h->max : v < (double)h->min ? (double)h->min : v;
		}
	}
	return (double)h->max;
}

/* ------------------------------------------------------------------ */
/* building the case list */

static bool match_filter(const char *label)
{
	char buf[512], *save = NULL;

	if (!O.filter || !*O.filter)
		return true;
	snprintf(buf, sizeof(buf), "%s", O.filter);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strpbrk(tok, "*?[")) {
			if (fnmatch(tok, label, 0) == 0)
				return true;
		} else if (strstr(label, tok)) {
			return true;
		}
	}
	return false;
}

static uint64_t capacity_for(uint32_t size)
{
	/* slots: the requested capacity, but at most 8 MiB of slots */
	uint64_t cap = O.capacity;

	while (cap > 8 && cap * size > (8u << 20))
		cap /= 2;
	return cap;
}

static void add_case(const struct bench_subject *s, uint32_t size, uint32_t np, uint32_t nc,
		     uint32_t procs, uint32_t rtt)
{
	struct bench_case *c;
	char pc[32] = "";

	if (ncases == MAX_CASES)
		return;
	c = &cases[ncases];
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->size = size;
	c->burst = (s->flags & BS_BURST) ? (O.burst ? O.burst : s->burst) : 1;
	c->nprod = np;
	c->ncons = nc;
	c->procs = procs;
	c->rtt = rtt;
	c->capacity = capacity_for(size);
	if (np != 1 || nc != 1)
		snprintf(pc, sizeof(pc), "/%up%uc", np, nc);
	snprintf(c->label, sizeof(c->label), "%s:%s:%s:%u%s", s->name, rtt ? "rtt" : "tput",
		 procs ? "proc" : "thr", size, pc);
	if (!match_filter(c->label))
		return;
	for (int i = 0; i < ncases; i++)
		if (!strcmp(cases[i].label, c->label))
			return;
	ncases++;
}

static bool size_ok(const struct bench_subject *s, uint32_t size)
{
	return size >= (s->min_size ? s->min_size : 8) && size <= s->max_size && (size % 8) == 0 && size <= SHMRING_BENCH_SIZE_MAX;
}

static void build_cases(void)
{
	static const uint32_t multi[] = { 1, 2, 4 };

	for (size_t l = 0; l < sizeof(all_lists) / sizeof(all_lists[0]); l++) {
		for (size_t k = 0; k < all_lists[l]->n; k++) {
			const struct bench_subject *s = &all_lists[l]->v[k];
			uint32_t base = (s->flags & BS_PROCS) ? 1 : 0;
			int modes = (s->flags & (BS_PROCS | BS_THREADS)) ? 1 : O.all_procs ? 2 : 1;

			for (int m = 0; m < modes; m++) {
				uint32_t procs = m ? 1 : base;

				if (s->flags & BS_TPUT) {
					for (int i = 0; i < O.nsizes; i++) {
						uint32_t size = O.sizes[i];

						if ((size == 8 || (s->flags & BS_SIZES)) && size_ok(s, size))
							add_case(s, size, 1, 1, procs, 0);
					}
					for (size_t i = 1; i < 3; i++) {
						if (s->flags & BS_MULTI)
							add_case(s, 8, multi[i], multi[i], procs, 0);
						if (s->flags & BS_MPSC)
							add_case(s, 8, multi[i], 1, procs, 0);
					}
				}
				if ((s->flags & BS_RTT) && size_ok(s, 8))
					add_case(s, 8, 1, 1, procs, 1);
			}
		}
	}
	/* The few that also run as processes by default (threads and
	 * processes should cost the same on shared memory; this shows it). */
	if (!O.all_procs) {
		static const char *const twice[] = { "shmring-spsc", "shmring-spsc-wait", "pipe", "cacheline", NULL };

		for (size_t l = 0; l < sizeof(all_lists) / sizeof(all_lists[0]); l++)
			for (size_t k = 0; k < all_lists[l]->n; k++)
				for (int t = 0; twice[t]; t++) {
					const struct bench_subject *s = &all_lists[l]->v[k];

					if (strcmp(s->name, twice[t]) || (s->flags & (BS_THREADS | BS_PROCS)))
						continue;
					if (s->flags & BS_TPUT)
						add_case(s, 8, 1, 1, 1, 0);
					if (s->flags & BS_RTT)
						add_case(s, 8, 1, 1, 1, 1);
				}
	}
}

/* ------------------------------------------------------------------ */
/* measuring */

static bool is_tty;

static void progress(int rep, int i, const struct bench_case *c, double elapsed)
{
	if (O.quiet)
		return;
	if (is_tty) {
		fprintf(stderr, "\r\033[K[%s %d/%d] %3d/%d %.1fs %s", rep ? "rep" : "warm-up", rep ? rep : 1,
			rep ? O.reps : 1, i + 1, ncases, elapsed, c->label);
	} else if (i + 1 == ncases) {
		fprintf(stderr, "shmring-bench: %s %d/%d done, %d cases, %.1f s\n",
			rep ? "repetition" : "warm-up", rep ? rep : 1, rep ? O.reps : 1, ncases, elapsed);
	}
}

/* messages (or round trips) the last run moved: fewer than asked when it
 * hit the deadline */
static uint64_t moved(const struct bench_case *c, uint64_t count)
{
	if (c->s->flags & BS_CUSTOM)
		return count;
	uint64_t n = c->rtt ? run_shm->hist.count : atomic_load(&run_shm->nrecv);

	return n ? n : 1;
}

static void calibrate(struct bench_case *c)
{
	uint64_t count = 16, want_ns = (uint64_t)(O.warmup_ms * 1e6);
	int64_t ns = 0;

	if (O.count) {
		c->count = O.count;
		ns = run_once(c, O.count); /* warm-up run of the fixed size */
		if (ns < 0)
			c->failed = true;
		return;
	}
	for (int tries = 0; tries < 40; tries++) {
		ns = run_once(c, count);
		if (ns < 0) {
			c->failed = true;
			return;
		}
		if ((uint64_t)ns >= want_ns)
			break;
		double f = (double)want_ns * 1.2 / (double)ns;

		f = f < 2 ? 2 : f > 64 ? 64 : f;
		count = (uint64_t)((double)count * f);
	}
	double per = (double)ns / (double)moved(c, count);
	uint64_t n = (uint64_t)(O.duration_ms * 1e6 / per);

	c->count = n < 16 ? 16 : n;
}

static void record(struct bench_case *c, int64_t ns)
{
	if (c->n >= MAX_REPS)
		return;
	c->preempt += atomic_load(&run_shm->preempt);
	c->preempted_runs += atomic_load(&run_shm->preempt) > 0;
	if (c->rtt) {
		const struct bench_hist *h = &run_shm->hist;

		for (int q = 0; q < 4; q++)
			c->lat[c->n].p[q] = hist_quantile(h, lat_q[q]);
		c->lat[c->n].p[4] = (double)h->max;
		c->samples += h->count;
	} else {
		uint64_t n = moved(c, c->count);

		c->rate[c->n] = (double)n * 1e9 / (double)ns;
		c->samples += n;
	}
	c->n++;
}

static void measure(void)
{
	uint64_t t0 = bench_now();

	for (int i = 0; i < ncases; i++) {
		progress(0, i, &cases[i], (double)(bench_now() - t0) / 1e9);
		calibrate(&cases[i]);
	}
	for (int rep = 1; rep <= O.reps; rep++) {
		for (int i = 0; i < ncases; i++) {
			struct bench_case *c = &cases[i];

			progress(rep, i, c, (double)(bench_now() - t0) / 1e9);
			if (c->failed)
				continue;
			int64_t ns = run_once(c, c->count);

			if (ns < 0)
				c->failed = true;
			else
				record(c, ns);
		}
	}
	if (is_tty && !O.quiet)
		fprintf(stderr, "\r\033[Kshmring-bench: %d cases x %d repetitions in %.1f s\n", ncases,
			O.reps, (double)(bench_now() - t0) / 1e9);
}

/* ------------------------------------------------------------------ */
/* comparison */

static bool is_blocking(const struct bench_case *c)
{
	return (c->s->flags & BS_BLOCK) != 0;
}

static void compare(void)
{
	for (int i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];

		if (c->rtt) {
			double v[MAX_REPS];

			for (int q = 0; q < 5; q++) {
				for (int k = 0; k < c->n; k++)
					v[k] = c->lat[k].p[q];
				summarize(v, c->n, &c->lmed.p[q], &c->llo.p[q], &c->lhi.p[q]);
			}
			c->med = c->lmed.p[0];
			c->lo = c->llo.p[0];
			c->hi = c->lhi.p[0];
		} else {
			summarize(c->rate, c->n, &c->med, &c->lo, &c->hi);
		}
	}
	for (int i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];

		if (c->failed || !c->n || !strcmp(c->s->group, "floor"))
			continue;
		for (int j = 0; j < ncases; j++) {
			const struct bench_case *b = &cases[j];

			if (b->failed || !b->n || b->rtt != c->rtt || b->size != c->size)
				continue;
			if (!strcmp(b->s->group, "baseline")) {
				if (b->s == c->s && b != c)
					continue; /* not itself in the other mode */
				if (c->rtt ? is_blocking(b) != is_blocking(c)
					   : (b->procs != c->procs || b->nprod != c->nprod ||
					      b->ncons != c->ncons || (b->burst > 1) != (c->burst > 1)))
					continue;
				if (!c->best || (c->rtt ? b->med < c->best->med : b->med > c->best->med))
					c->best = b;
			} else if (!strcmp(b->s->group, "floor") && !(b->s->flags & BS_CUSTOM)) {
				/* rtt: cache-line floor for spinners, futex floor for
				 * sleepers, same mode preferred; tput: cross-core copy */
				if (c->rtt && is_blocking(b) != is_blocking(c))
					continue;
				if (!c->floor || (c->floor->procs != c->procs && b->procs == c->procs))
					c->floor = b;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* output */

static void fmt_rate(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else if (v >= 100e6)
		snprintf(buf, n, "%.0f", v / 1e6);
	else if (v >= 1e6)
		snprintf(buf, n, "%.1f", v / 1e6);
	else
		snprintf(buf, n, "%.3f", v / 1e6);
}

static void fmt_bytes(char *buf, size_t n, double bps)
{
	if (isnan(bps))
		snprintf(buf, n, "-");
	else if (bps >= 1e9)
		snprintf(buf, n, "%.2f GB/s", bps / 1e9);
	else
		snprintf(buf, n, "%.1f MB/s", bps / 1e6);
}

static void fmt_size(char *buf, size_t n, uint32_t size)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, n, "%uM", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, n, "%uK", size >> 10);
	else
		snprintf(buf, n, "%u", size);
}

static void fmt_ns(char *buf, size_t n, double ns)
{
	if (isnan(ns))
		snprintf(buf, n, "-");
	else if (ns >= 100e3)
		snprintf(buf, n, "%.0fu", ns / 1e3);
	else if (ns >= 10e3)
		snprintf(buf, n, "%.1fu", ns / 1e3);
	else
		snprintf(buf, n, "%.0f", ns);
}

static double ratio_best(const struct bench_case *c)
{
	if (!c->best)
		return NAN;
	return c->rtt ? c->med / c->best->med : c->med / c->best->med;
}

static double ratio_floor(const struct bench_case *c)
{
	if (!c->floor)
		return NAN;
	if (c->rtt)
		return c->med / c->floor->med;
	return c->med * c->size / (c->floor->med * c->floor->size);
}

/* the copy floor at this size, for throughput rows */
static const struct bench_case *copy_floor(const struct bench_case *c)
{
	for (int j = 0; j < ncases; j++) {
		const struct bench_case *b = &cases[j];

		if (!b->rtt && b->n && !b->failed && !strcmp(b->s->group, "floor") &&
		    !(b->s->flags & BS_CUSTOM) && b->size == c->size && b->nprod == 1)
			return b;
	}
	return NULL;
}

static void print_table(FILE *f)
{
	char a[32], b[32], d[32], e[64], g[32], sz[16];

	fprintf(f, "\nThroughput, one way (median of %d runs, [min-max]); 'vs best' = this / best "
		   "baseline of the same shape;\n'vs copy' = bytes/s / cross-core copy floor of the same size\n\n",
		O.reps);
	fprintf(f, "%-22s %-4s %5s %5s %5s %9s %-19s %11s  %-22s %7s\n", "subject", "mode", "size", "PxC",
		"burst", "Mmsg/s", "[min - max]", "bytes/s", "vs best baseline", "vs copy");
	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];

		if (c->rtt)
			continue;
		fmt_size(sz, sizeof(sz), c->size);
		snprintf(g, sizeof(g), "%ux%u", c->nprod, c->ncons);
		if (c->failed || !c->n) {
			fprintf(f, "%-22s %-4s %5s %5s %5u  FAILED: %s\n", c->s->name, c->procs ? "proc" : "thr", sz,
				g, c->burst, c->err);
			continue;
		}
		fmt_rate(a, sizeof(a), c->med);
		fmt_rate(b, sizeof(b), c->lo);
		fmt_rate(d, sizeof(d), c->hi);
		char mm[80];

		snprintf(mm, sizeof(mm), "[%s - %s]", b, d);
		fmt_bytes(b, sizeof(b), c->med * c->size);
		if (c->best == c)
			snprintf(e, sizeof(e), "(best)");
		else if (c->best)
			snprintf(e, sizeof(e), "%.2fx %s", ratio_best(c), c->best->s->name);
		else
			snprintf(e, sizeof(e), "-");
		const struct bench_case *fl = copy_floor(c);

		if (fl && fl != c)
			snprintf(d, sizeof(d), "%.3f", c->med * c->size / (fl->med * fl->size));
		else
			snprintf(d, sizeof(d), "-");
		fprintf(f, "%-22s %-4s %5s %5s %5u %9s %-19s %11s  %-22s %7s\n", c->s->name,
			c->procs ? "proc" : "thr", sz, g, c->burst, a, mm, b, e, d);
	}

	fprintf(f, "\nRound trip over two rings, ns (median of %d runs; p50 [min-max]); 'vs floor' = p50 / "
		   "cache-line floor\n(spinning) or futex floor (blocking)\n\n", O.reps);
	fprintf(f, "%-22s %-4s %-5s %7s %-15s %7s %7s %7s %7s  %-22s %8s\n", "subject", "mode", "wait", "p50",
		"[min - max]", "p90", "p99", "p99.9", "max", "vs best baseline", "vs floor");
	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];
		char p[5][16], mm[80];

		if (!c->rtt)
			continue;
		if (c->failed || !c->n) {
			fprintf(f, "%-22s %-4s %-5s FAILED: %s\n", c->s->name, c->procs ? "proc" : "thr",
				is_blocking(c) ? "block" : "spin", c->err);
			continue;
		}
		for (int q = 0; q < 5; q++)
			fmt_ns(p[q], sizeof(p[q]), c->lmed.p[q]);
		fmt_ns(a, sizeof(a), c->llo.p[0]);
		fmt_ns(b, sizeof(b), c->lhi.p[0]);
		snprintf(mm, sizeof(mm), "[%s - %s]", a, b);
		if (c->best == c)
			snprintf(e, sizeof(e), "(best)");
		else if (c->best)
			snprintf(e, sizeof(e), "%.2fx %s", ratio_best(c), c->best->s->name);
		else
			snprintf(e, sizeof(e), "-");
		if (c->floor && c->floor != c)
			snprintf(d, sizeof(d), "%.2fx", ratio_floor(c));
		else
			snprintf(d, sizeof(d), "-");
		fprintf(f, "%-22s %-4s %-5s %7s %-15s %7s %7s %7s %7s  %-22s %8s\n", c->s->name,
			c->procs ? "proc" : "thr", is_blocking(c) ? "block" : "spin", p[0], mm, p[1], p[2], p[3],
			p[4], e, d);
	}
}

static const struct bench_case *find_case(const char *name, int rtt, uint32_t size, uint32_t np,
					  uint32_t nc, int procs)
{
	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];

		if (!strcmp(c->s->name, name) && c->rtt == (uint32_t)rtt && c->size == size && c->nprod == np &&
		    c->ncons == nc && (procs < 0 || c->procs == (uint32_t)procs) && c->n && !c->failed)
			return c;
	}
	return NULL;
}

/* best of a set of named subjects (tput: highest; rtt: lowest p50) */
static const struct bench_case *best_of(const char *const *names, int rtt, uint32_t size)
{
	const struct bench_case *best = NULL;

	for (int i = 0; names[i]; i++) {
		const struct bench_case *c = find_case(names[i], rtt, size, 1, 1, 0);

		if (c && (!best || (rtt ? c->med < best->med : c->med > best->med)))
			best = c;
	}
	return best;
}

static void target_line(FILE *f, const char *what, const char *measured, double ratio, double want,
			bool higher)
{
	bool ok = higher ? ratio >= want : ratio <= want;

	fprintf(f, "  %-44s %-42s %s %.2f (target %s %.2f)\n", what, measured, isnan(ratio) ? "n/a " :
		ok ? "MET " : "MISSED", ratio, higher ? ">=" : "<=", want);
}

/* How quiet the machine was: a figure taken while other work ran on the
 * two cores is a figure of that machine, not of the ring. */
static void print_noise(FILE *f)
{
	int runs = 0, hit = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];

		if (c->nprod + c->ncons > 2 || (c->s->flags & BS_CUSTOM))
			continue; /* more endpoints than the two cores: preempted by design */
		runs += c->n;
		hit += c->preempted_runs;
	}
	fprintf(f, "\nMachine: %s; cores %d and %d; load average %.2f at start, %.2f at end (%ld CPUs online)\n",
		machine, O.cpu[0], O.cpu[1], load_start, load_end, cpus);
	fprintf(f, "Endpoints were preempted (involuntary context switch) in %d of %d two-endpoint runs%s\n", hit,
		runs, hit * 10 > runs ? ": the machine was busy, expect wide min-max ranges" : "");
}

static void print_targets(FILE *f)
{
	static const char *const single_peers[] = { "ck-spsc", "dpdk-spsc", "urcu-wfcq", "vyukov", NULL };
	static const char *const burst_peers[] = { "dpdk-spsc-burst", NULL };
	const struct bench_case *a, *b;
	char m[96];

	fprintf(f, "\nTargets (medians of this run)\n");
	if ((a = find_case("shmring-spsc", 0, 8, 1, 1, 0)) && (b = best_of(single_peers, 0, 8))) {
		snprintf(m, sizeof(m), "%.1f vs %s %.1f Mmsg/s", a->med / 1e6, b->s->name, b->med / 1e6);
		target_line(f, "SPSC 8 B vs best single-op peer", m, a->med / b->med, 1.5, true);
	}
	if ((a = find_case("shmring-spsc-burst", 0, 8, 1, 1, 0)) && (b = best_of(burst_peers, 0, 8))) {
		snprintf(m, sizeof(m), "%.1f vs %s %.1f Mmsg/s", a->med / 1e6, b->s->name, b->med / 1e6);
		target_line(f, "SPSC burst vs DPDK SP/SC burst", m, a->med / b->med, 1.3, true);
	}
	if ((a = find_case("shmring-spsc", 1, 8, 1, 1, 0)) && (b = find_case("cacheline", 1, 8, 1, 1, 0))) {
		snprintf(m, sizeof(m), "p50 %.0f vs floor %.0f ns", a->med, b->med);
		target_line(f, "round trip p50 vs cache-line floor", m, a->med / b->med, 1.3, false);
	}
	/* MPMC: the default ring (every claim a CAS) and the claim mode
	 * (SHMRING_F_SOLO), each against its own 1P1C and Vyukov's queue.
	 * The claim mode is what takes 1P1C past Vyukov's queue; with CAS
	 * claims the ring is held to doing no worse than it. */
	static const struct {
		const char *subject, *label;
		double vs_ref;
	} mpmc_rows[] = { { "shmring-mpmc", "MPMC", 1.0 }, { "shmring-mpmc-solo", "MPMC solo", 1.2 } };
	for (size_t i = 0; i < sizeof(mpmc_rows) / sizeof(mpmc_rows[0]); i++) {
		const char *s = mpmc_rows[i].subject;
		char what[64];

		for (uint32_t k = 2; k <= 4; k *= 2) {
			if ((a = find_case(s, 0, 8, k, k, 0)) && (b = find_case(s, 0, 8, 1, 1, 0))) {
				snprintf(what, sizeof(what), "%s %uP%uC vs own 1P1C", mpmc_rows[i].label, k, k);
				snprintf(m, sizeof(m), "%uP%uC %.2f vs 1P1C %.2f Mmsg/s", k, k, a->med / 1e6,
					 b->med / 1e6);
				target_line(f, what, m, a->med / b->med, 0.8, true);
			}
		}
		if ((a = find_case(s, 0, 8, 1, 1, 0)) && (b = find_case("vyukov", 0, 8, 1, 1, 0))) {
			snprintf(what, sizeof(what), "%s 1P1C vs per-slot-seq%s reference", mpmc_rows[i].label,
				 i ? "." : "uence");
			snprintf(m, sizeof(m), "%.1f vs vyukov %.1f Mmsg/s", a->med / 1e6, b->med / 1e6);
			target_line(f, what, m, a->med / b->med, mpmc_rows[i].vs_ref, true);
		}
	}
	for (uint32_t k = 1; k <= 4; k *= 2) {
		if ((a = find_case("shmring-mpmc-burst", 0, 8, k, k, 0)) &&
		    (b = find_case("dpdk-mpmc-burst", 0, 8, k, k, 0))) {
			char what[64];

			snprintf(what, sizeof(what), "MPMC burst %u vs DPDK MP/MC burst, %uP%uC", a->burst, k, k);
			snprintf(m, sizeof(m), "%.1f vs %.1f Mmsg/s", a->med / 1e6, b->med / 1e6);
			target_line(f, what, m, a->med / b->med, 1.0, true);
		}
	}
	if ((a = find_case("shmring-msg", 0, 64, 1, 1, 0)) && (b = find_case("pipe", 0, 64, 1, 1, 0))) {
		snprintf(m, sizeof(m), "%.2f vs pipe %.2f Mmsg/s", a->med / 1e6, b->med / 1e6);
		target_line(f, "64 B message ring vs pipe", m, a->med / b->med, 20, true);
	}
	if ((a = find_case("shmring-msg", 0, 65536, 1, 1, 0)) && (b = find_case("xcopy", 0, 65536, 1, 1, 0))) {
		snprintf(m, sizeof(m), "%.2f vs xcopy %.2f GB/s", a->med * 65536 / 1e9, b->med * 65536 / 1e9);
		target_line(f, "64 KiB message ring vs cross-core copy", m, a->med / b->med, 0.7, true);
	}
	if ((a = find_case("shmring-spsc-wait", 1, 8, 1, 1, 1)) && (b = find_case("futex", 1, 8, 1, 1, 1))) {
		snprintf(m, sizeof(m), "p50 %.0f vs futex floor %.0f ns", a->med, b->med);
		target_line(f, "blocking round trip vs futex floor", m, a->med / b->med, 1.1, false);
	}
}

/*
 * The message ring next to what a user would otherwise carry delimited
 * messages through, and the cross-core copy ceiling, at each size of this
 * run: messages/s and bytes/s, and the ring's multiple of each.
 */
static void print_msg_sizes(FILE *f)
{
	static const char *const peers[] = { "pipe", "unix-stream", "xcopy" };
	bool header = false;

	for (int i = 0; i < O.nsizes; i++) {
		uint32_t size = O.sizes[i];
		const struct bench_case *m = find_case("shmring-msg", 0, size, 1, 1, 0);
		char sz[16], r[32], b[32];

		if (!m)
			continue;
		if (!header) {
			fprintf(f, "\nMessage ring (one producer, push/pop) vs pipe, UNIX stream socket and cross-core "
				   "copy, same run\n\n%5s  %-26s", "size", "shmring-msg");
			for (size_t k = 0; k < sizeof(peers) / sizeof(peers[0]); k++)
				fprintf(f, "  %-34s", peers[k]);
			fprintf(f, "\n");
			header = true;
		}
		fmt_size(sz, sizeof(sz), size);
		fmt_rate(r, sizeof(r), m->med);
		fmt_bytes(b, sizeof(b), m->med * size);
		fprintf(f, "%5s  %7s Mmsg/s %11s", sz, r, b);
		for (size_t k = 0; k < sizeof(peers) / sizeof(peers[0]); k++) {
			const struct bench_case *c = find_case(peers[k], 0, size, 1, 1, 0);
			char x[24];

			if (!c) {
				fprintf(f, "  %-34s", "-");
				continue;
			}
			fmt_rate(r, sizeof(r), c->med);
			fmt_bytes(b, sizeof(b), c->med * size);
			snprintf(x, sizeof(x), "(%.2fx)", m->med / c->med);
			fprintf(f, "  %7s Mmsg/s %11s %-9s", r, b, x);
		}
		fprintf(f, "\n");
	}
	if (header)
		fprintf(f, "(x) = message ring / that subject\n");
}

static FILE *open_out(const char *path)
{
	if (!strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "w");

	if (!f)
		fprintf(stderr, "shmring-bench: %s: %s\n", path, strerror(errno));
	return f;
}

static void close_out(FILE *f)
{
	if (f && f != stdout)
		fclose(f);
}

/* CSV: one line per figure (metric); values in base units (msg/s, B/s, ns) */
static void write_csv(FILE *f)
{
	fprintf(f, "test,subject,group,mode,wait,size,prod,cons,burst,metric,unit,median,min,max,reps,samples,"
		   "vs_best,best,vs_floor,floor,preempt\n");
	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];
		const char *head[] = { c->rtt ? "rtt" : "tput", c->s->name, c->s->group, c->procs ? "proc" : "thr",
				       is_blocking(c) ? "block" : "spin" };
		double rb = ratio_best(c), rf = ratio_floor(c);
		const struct bench_case *fl = c->rtt ? c->floor : copy_floor(c);

		if (!c->rtt && fl && fl->med > 0)
			rf = c->med * c->size / (fl->med * fl->size);
		for (int q = 0; q < (c->rtt ? 5 : 2); q++) {
			double med, lo, hi;
			const char *metric, *unit;

			if (c->rtt) {
				med = c->lmed.p[q], lo = c->llo.p[q], hi = c->lhi.p[q];
				metric = lat_names[q];
				unit = "ns";
			} else {
				double k = q ? c->size : 1;

				med = c->med * k, lo = c->lo * k, hi = c->hi * k;
				metric = q ? "bytes" : "msgs";
				unit = q ? "B/s" : "msg/s";
			}
			fprintf(f, "%s,%s,%s,%s,%s,%u,%u,%u,%u,%s,%s,", head[0], head[1], head[2], head[3], head[4],
				c->size, c->nprod, c->ncons, c->burst, metric, unit);
			if (c->failed || !c->n)
				fprintf(f, "nan,nan,nan,0,0,nan,,nan,,0\n");
			else
				fprintf(f, "%.6g,%.6g,%.6g,%d,%llu,%.4g,%s,%.4g,%s,%llu\n", med, lo, hi, c->n,
					(unsigned long long)c->samples, rb, c->best ? c->best->s->name : "", rf,
					fl ? fl->s->name : "", (unsigned long long)c->preempt);
		}
	}
}

static void json_num(FILE *f, const char *k, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "\"%s\": null%s", k, comma ? ", " : "");
	else
		fprintf(f, "\"%s\": %.6g%s", k, v, comma ? ", " : "");
}

static void write_json(FILE *f)
{
	fprintf(f, "{\n  \"tool\": \"shmring-bench\",\n  \"machine\": \"");
	for (const char *p = machine; *p; p++)
		fputc(*p == '"' || *p == '\\' ? '\'' : *p, f);
	fprintf(f, "\",\n  \"loadavg\": [%.2f, %.2f],\n  \"reps\": %d,\n  \"duration_ms\": %g,\n  \"cpus\": [%d, %d],\n"
		   "  \"results\": [\n", isnan(load_start) ? 0 : load_start, isnan(load_end) ? 0 : load_end, O.reps,
		O.duration_ms, O.cpu[0], O.cpu[1]);
	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];

		fprintf(f, "    {\"test\": \"%s\", \"subject\": \"%s\", \"group\": \"%s\", \"mode\": \"%s\", "
			   "\"wait\": \"%s\", \"size\": %u, \"prod\": %u, \"cons\": %u, \"burst\": %u, \"reps\": %d, ",
			c->rtt ? "rtt" : "tput", c->s->name, c->s->group, c->procs ? "proc" : "thr",
			is_blocking(c) ? "block" : "spin", c->size, c->nprod, c->ncons, c->burst, c->n);
		if (c->failed || !c->n) {
			fprintf(f, "\"error\": \"");
			for (const char *p = c->err; *p; p++)
				fputc(*p == '"' || *p == '\\' ? '\'' : *p, f);
			fprintf(f, "\"}%s\n", i + 1 < ncases ? "," : "");
			continue;
		}
		if (c->rtt) {
			fprintf(f, "\"unit\": \"ns\", ");
			for (int q = 0; q < 5; q++) {
				fprintf(f, "\"%s\": {", lat_names[q]);
				json_num(f, "median", c->lmed.p[q], true);
				json_num(f, "min", c->llo.p[q], true);
				json_num(f, "max", c->lhi.p[q], false);
				fprintf(f, "}, ");
			}
		} else {
			fprintf(f, "\"msgs_per_s\": {");
			json_num(f, "median", c->med, true);
			json_num(f, "min", c->lo, true);
			json_num(f, "max", c->hi, false);
			fprintf(f, "}, \"bytes_per_s\": {");
			json_num(f, "median", c->med * c->size, true);
			json_num(f, "min", c->lo * c->size, true);
			json_num(f, "max", c->hi * c->size, false);
			fprintf(f, "}, ");
		}
		json_num(f, "vs_best", ratio_best(c), true);
		fprintf(f, "\"best\": \"%s\", ", c->best ? c->best->s->name : "");
		json_num(f, "vs_floor", ratio_floor(c), true);
		fprintf(f, "\"samples\": %llu, \"preempt\": %llu}%s\n", (unsigned long long)c->samples,
			(unsigned long long)c->preempt, i + 1 < ncases ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
}

/* ------------------------------------------------------------------ */
/* main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmring-bench [options]\n"
		"Throughput and round-trip latency of shmring rings next to pipes, sockets,\n"
		"message queues and other lock-free rings, and next to the hardware floors.\n\n"
		"  -f, --filter PATS     run only cases whose label matches one of the comma-separated\n"
		"                        patterns (substring, or glob with * ? [); labels look like\n"
		"                        shmring-spsc:tput:thr:8, pipe:rtt:proc:8, ck-mpmc:tput:thr:8/2p2c\n"
		"  -s, --sizes LIST      message sizes in bytes, comma-separated, K/M suffixes\n"
		"                        (default 8,64,1K,4K,64K,1M)\n"
		"  -d, --duration MS     time per measured run (default 100)\n"
		"  -w, --warmup MS       warm-up and calibration time per case (default 30)\n"
		"  -r, --reps N          repetitions of each figure (default 5)\n"
		"  -n, --count N         fixed messages (or round trips) per run, no calibration\n"
		"  -c, --capacity N      ring capacity in slots (default 1024; at most 8 MiB of slots)\n"
		"  -b, --burst N         burst size for the burst subjects (default 32)\n"
		"      --cpus A,B        the two cores (default: the first two this process may use)\n"
		"      --procs           run every process-capable subject as processes too\n"
		"      --csv FILE        write results as CSV ('-' for stdout)\n"
		"      --json FILE       write results as JSON ('-' for stdout)\n"
		"      --no-table        do not print the table\n"
		"  -q, --quick           tiny run for tests: 2 reps, 2 ms, sizes 8 and 64\n"
		"      --quiet           no progress line\n"
		"  -l, --list            list the subjects and exit\n"
		"  -h, --help\n");
}

static uint64_t parse_size(const char *s, bool *ok)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s) {
		*ok = false;
		return 0;
	}
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end)
		*ok = false;
	return v;
}

/* The core pair: the placement API's choice (the pair sharing the nearest
 * cache, within our affinity), else the first two CPUs we may use. */
static void default_cpus(void)
{
	struct shmring_topo *t = NULL;
	cpu_set_t set;
	int n = 0;

	if (shmring_topo_get(&t) == 0) {
		shmring_topo_describe(t, machine, sizeof(machine));
		if (O.cpu[0] < 0 && shmring_topo_pick_pair(t, SHMRING_PAIR_AFFINITY, &O.cpu[0], &O.cpu[1]) >= 0)
			return;
	}
	if (O.cpu[0] >= 0 && O.cpu[1] >= 0)
		return;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			O.cpu[n++] = i;
	if (n < 2)
		O.cpu[1] = O.cpu[0];
}

static void list_subjects(void)
{
	for (size_t l = 0; l < sizeof(all_lists) / sizeof(all_lists[0]); l++)
		for (size_t k = 0; k < all_lists[l]->n; k++) {
			const struct bench_subject *s = &all_lists[l]->v[k];

			printf("%-22s %-8s %s%s%s%s%s  %s\n", s->name, s->group, s->flags & BS_TPUT ? "tput " : "",
			       s->flags & BS_RTT ? "rtt " : "", s->flags & BS_MULTI ? "mpmc " : "",
			       s->flags & BS_BLOCK ? "blocking " : "", s->flags & BS_THREADS ? "threads-only" :
			       s->flags & BS_PROCS ? "processes-only" : "", s->desc);
		}
}

int main(int argc, char **argv)
{
	enum { OPT_CSV = 256, OPT_JSON, OPT_CPUS, OPT_PROCS, OPT_QUIET, OPT_NOTABLE };
	static const struct option lo[] = {
		{ "filter", required_argument, 0, 'f' },   { "sizes", required_argument, 0, 's' },
		{ "duration", required_argument, 0, 'd' }, { "warmup", required_argument, 0, 'w' },
		{ "reps", required_argument, 0, 'r' },     { "count", required_argument, 0, 'n' },
		{ "capacity", required_argument, 0, 'c' }, { "burst", required_argument, 0, 'b' },
		{ "cpus", required_argument, 0, OPT_CPUS }, { "procs", no_argument, 0, OPT_PROCS },
		{ "csv", required_argument, 0, OPT_CSV },  { "json", required_argument, 0, OPT_JSON },
		{ "quick", no_argument, 0, 'q' },          { "quiet", no_argument, 0, OPT_QUIET },
		{ "no-table", no_argument, 0, OPT_NOTABLE }, { "list", no_argument, 0, 'l' },
		{ "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 },
	};
	bool sizes_given = false, reps_given = false, dur_given = false, warm_given = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "f:s:d:w:r:n:c:b:qlh", lo, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'f':
			O.filter = optarg;
			break;
		case 's': {
			char buf[256], *save = NULL;

			snprintf(buf, sizeof(buf), "%s", optarg);
			O.nsizes = 0;
			for (char *t = strtok_r(buf, ",", &save); t && O.nsizes < MAX_SIZES;
			     t = strtok_r(NULL, ",", &save)) {
				uint64_t v = parse_size(t, &ok);

				if (!ok || v < 8 || v > SHMRING_BENCH_SIZE_MAX || v % 8) {
					fprintf(stderr, "shmring-bench: bad size '%s' (8..%u, a multiple of 8)\n",
						t, SHMRING_BENCH_SIZE_MAX);
					return 2;
				}
				O.sizes[O.nsizes++] = (uint32_t)v;
			}
			sizes_given = true;
			break;
		}
		case 'd':
			O.duration_ms = atof(optarg);
			dur_given = true;
			ok = O.duration_ms > 0;
			break;
		case 'w':
			O.warmup_ms = atof(optarg);
			warm_given = true;
			ok = O.warmup_ms > 0;
			break;
		case 'r':
			O.reps = atoi(optarg);
			reps_given = true;
			ok = O.reps >= 1 && O.reps <= MAX_REPS;
			break;
		case 'n':
			O.count = parse_size(optarg, &ok);
			ok = ok && O.count > 0;
			break;
		case 'c':
			O.capacity = parse_size(optarg, &ok);
			ok = ok && O.capacity >= 2 && !(O.capacity & (O.capacity - 1));
			break;
		case 'b':
			O.burst = (uint32_t)atoi(optarg);
			ok = O.burst >= 1 && O.burst <= BENCH_MAX_BURST;
			break;
		case OPT_CPUS:
			ok = sscanf(optarg, "%d,%d", &O.cpu[0], &O.cpu[1]) == 2 && O.cpu[0] >= 0 && O.cpu[1] >= 0;
			break;
		case OPT_PROCS:
			O.all_procs = true;
			break;
		case OPT_CSV:
			O.csv = optarg;
			break;
		case OPT_JSON:
			O.json = optarg;
			break;
		case 'q':
			O.quick = true;
			break;
		case OPT_QUIET:
			O.quiet = true;
			break;
		case OPT_NOTABLE:
			O.no_table = true;
			break;
		case 'l':
			O.list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "shmring-bench: bad value '%s' for -%c\n", optarg, opt < 256 ? opt : '-');
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (O.list) {
		list_subjects();
		return 0;
	}
	if (O.quick) {
		if (!reps_given)
			O.reps = 2;
		if (!dur_given)
			O.duration_ms = 2;
		if (!warm_given)
			O.warmup_ms = 1;
		if (!sizes_given) {
			O.sizes[0] = 8, O.sizes[1] = 64;
			O.nsizes = 2;
		}
	}
	default_cpus();
	is_tty = isatty(2);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);

	run_shm = bench_alloc_shared(sizeof(*run_shm));
	if (!run_shm) {
		fprintf(stderr, "shmring-bench: no memory\n");
		return 1;
	}
	build_cases();
	if (!ncases) {
		fprintf(stderr, "shmring-bench: no case matches the filter\n");
		return 2;
	}
	if (!O.quiet)
		fprintf(stderr, "shmring-bench: %d cases, %d repetitions of %g ms, cores %d and %d (%s)\n",
			ncases, O.reps, O.duration_ms, O.cpu[0], O.cpu[1], machine);
	double la[1];

	if (getloadavg(la, 1) == 1)
		load_start = la[0];
	measure();
	if (getloadavg(la, 1) == 1)
		load_end = la[0];
	compare();

	bool stdout_used = false;
	int failed = 0;

	for (int i = 0; i < ncases; i++)
		failed += cases[i].failed;
	if (O.csv) {
		FILE *f = open_out(O.csv);

		if (!f)
			return 1;
		write_csv(f);
		stdout_used |= f == stdout;
		close_out(f);
	}
	if (O.json) {
		FILE *f = open_out(O.json);

		if (!f)
			return 1;
		write_json(f);
		stdout_used |= f == stdout;
		close_out(f);
	}
	if (!O.no_table) {
		FILE *f = stdout_used ? stderr : stdout;

		print_table(f);
		print_msg_sizes(f);
		print_noise(f);
		print_targets(f);
	}
	if (failed)
		fprintf(stderr, "shmring-bench: %d case(s) failed (see FAILED rows)\n", failed);
	return failed ? 1 : 0;
}
