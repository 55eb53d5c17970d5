/* SPDX-License-Identifier: MIT */
/* shmring-bench: statistics, the list of cases, calibration and the
 * interleaved measurement. */
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
#include "harness.h"

/* ------------------------------------------------------------------ */
/* statistics */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void summarize(const double *v, int n, double *med, double *lo, double *hi)
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

static bool size_wanted(uint32_t size)
{
	for (int i = 0; i < O.nsizes; i++)
		if (O.sizes[i] == size)
			return true;
	return false;
}

/*
 * Broadcast subjects (BS_BCAST): one producer to 1, 2 and 4 readers,
 * readers as processes. Asked for by a filter: every size of the run up
 * to 64 B, threads as well, and the round trip. The default suite runs
 * only what the targets compare (print_targets), as processes.
 */
static void add_bcast_cases(const struct bench_subject *s)
{
	static const struct {
		const char *name;
		uint32_t size, readers;
	} targets[] = {
		{ "shmring-bcast", 8, 1 },	{ "shmring-bcast", 8, 2 },	{ "shmring-bcast", 8, 4 },
		{ "shmring-bcast", 64, 1 },	{ "shmring-bcast", 64, 2 },	{ "shmring-bcast", 64, 4 },
		{ "shmring-bcast-lossy", 8, 4 }, { "spsc-fanout", 8, 4 },	{ "spsc-fanout", 64, 4 },
	};

	if (O.filter && *O.filter) {
		for (int m = 0; m < 2; m++) {
			uint32_t procs = m == 0; /* processes first */

			for (int i = 0; i < O.nsizes; i++)
				for (uint32_t k = 1; k <= 4; k *= 2)
					if (O.sizes[i] <= 64 && size_ok(s, O.sizes[i]))
						add_case(s, O.sizes[i], 1, k, procs, 0);
			if (s->flags & BS_RTT)
				add_case(s, 8, 1, 1, procs, 1);
		}
		return;
	}
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++)
		if (!strcmp(s->name, targets[t].name) && size_wanted(targets[t].size) && size_ok(s, targets[t].size))
			add_case(s, targets[t].size, 1, targets[t].readers, 1, 0);
	if ((s->flags & BS_RTT) && !strcmp(s->name, "shmring-bcast"))
		add_case(s, 8, 1, 1, 1, 1);
}

void build_cases(void)
{
	static const uint32_t multi[] = { 1, 2, 4 };

	for (size_t l = 0; l < sizeof(all_lists) / sizeof(all_lists[0]); l++) {
		for (size_t k = 0; k < all_lists[l]->n; k++) {
			const struct bench_subject *s = &all_lists[l]->v[k];
			uint32_t base = (s->flags & BS_PROCS) ? 1 : 0;
			int modes = (s->flags & (BS_PROCS | BS_THREADS)) ? 1 : O.all_procs ? 2 : 1;

			if (s->flags & BS_BCAST) {
				add_bcast_cases(s);
				continue;
			}

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
							for (int z = 0; z < O.nsizes; z++)
								if (O.sizes[z] <= 64 && size_ok(s, O.sizes[z]))
									add_case(s, O.sizes[z], multi[i], 1, procs, 0);
					}
				}
				if ((s->flags & BS_RTT) && size_ok(s, 8))
					add_case(s, 8, 1, 1, procs, 1);
			}
		}
	}
	/* The few that also run as processes by default (threads and
	 * processes should cost the same on shared memory; this shows it):
	 * throughput up to `max` bytes (the sizes of this run that the
	 * subject takes), and the round trip where asked. The SPSC
	 * rings and their peers run 8 and 64 B both ways, for the targets. */
	if (!O.all_procs) {
		static const struct {
			const char *name;
			uint32_t max;
			bool rtt;
		} twice[] = {
			{ "shmring-spsc", 64, true },
			{ "shmring-spsc-burst", 64, false },
			{ "shmring-spsc-wait", 8, true },
			{ "pipe", 8, true },
			{ "cacheline", 8, true },
			{ "boost-spsc", 64, false },
			{ "boost-spsc-burst", 64, false },
			{ "lamport-cached", 64, false },
			{ "lamport-cached-burst", 64, false },
		};

		for (size_t l = 0; l < sizeof(all_lists) / sizeof(all_lists[0]); l++)
			for (size_t k = 0; k < all_lists[l]->n; k++)
				for (size_t t = 0; t < sizeof(twice) / sizeof(twice[0]); t++) {
					const struct bench_subject *s = &all_lists[l]->v[k];

					if (strcmp(s->name, twice[t].name) || (s->flags & (BS_THREADS | BS_PROCS)))
						continue;
					if (s->flags & BS_TPUT)
						for (int i = 0; i < O.nsizes; i++) {
							uint32_t size = O.sizes[i];

							if (size <= twice[t].max && (size == 8 || (s->flags & BS_SIZES)) &&
							    size_ok(s, size))
								add_case(s, size, 1, 1, 1, 0);
						}
					if ((s->flags & BS_RTT) && twice[t].rtt)
						add_case(s, 8, 1, 1, 1, 1);
				}
	}
}

/* ------------------------------------------------------------------ */
/* measuring */

bool is_tty;

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
	/* BS_BCAST: the producer's messages (each reached every consumer) */
	uint64_t n = c->rtt ? run_shm->hist.count
		     : (c->s->flags & BS_BCAST) ? atomic_load(&run_shm->nsent) : atomic_load(&run_shm->nrecv);

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
		if (c->s->flags & BS_LOSSY) {
			c->lost += atomic_load(&run_shm->nlost);
			c->due += n * c->ncons;
		}
	}
	c->n++;
}

void measure(void)
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

