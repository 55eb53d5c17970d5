/* SPDX-License-Identifier: MIT */
/* shmring-bench: comparison with the best alternative and the floors, the
 * result table, the targets, CSV and JSON output. */
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
/* comparison */

static bool is_blocking(const struct bench_case *c)
{
	return (c->s->flags & BS_BLOCK) != 0;
}

void compare(void)
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
				if ((b->s->flags & (BS_BCAST | BS_LOSSY)) != (c->s->flags & (BS_BCAST | BS_LOSSY)))
					continue; /* a broadcast against a broadcast of the same policy only */
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

/* Lossy broadcast rows: their rate is the producer's, and what the
 * readers lost of it is said here (the CSV keeps its columns). */
static void print_lossy(FILE *f)
{
	bool header = false;

	for (int i = 0; i < ncases; i++) {
		const struct bench_case *c = &cases[i];
		char sz[16];

		if (c->rtt || c->failed || !c->n || !(c->s->flags & BS_LOSSY) || !c->due)
			continue;
		if (!header) {
			fprintf(f, "\nLossy broadcast: messages its readers lost (lapped), of those published to them, "
				   "all runs;\nwhat they received was in order and counts in the rate above\n\n");
			header = true;
		}
		fmt_size(sz, sizeof(sz), c->size);
		fprintf(f, "%-22s %-4s %5s %2ux%-2u lost %6.2f%% (%llu of %llu)\n", c->s->name,
			c->procs ? "proc" : "thr", sz, c->nprod, c->ncons, 100.0 * (double)c->lost / (double)c->due,
			(unsigned long long)c->lost, (unsigned long long)c->due);
	}
}

void print_table(FILE *f)
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

	print_lossy(f);

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

/* best of a set of named subjects, 1P1C, as threads (procs 0) or
 * processes (1) (tput: highest; rtt: lowest p50) */
static const struct bench_case *best_of(const char *const *names, int rtt, uint32_t size, int procs)
{
	const struct bench_case *best = NULL;

	for (int i = 0; names[i]; i++) {
		const struct bench_case *c = find_case(names[i], rtt, size, 1, 1, procs);

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
void print_noise(FILE *f)
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

void print_targets(FILE *f)
{
	/* the SPSC queues a user would otherwise pick, one message per call
	 * (dpdk-spsc-elem: DPDK's SP/SC ring from 16 B) */
	static const char *const single_peers[] = { "ck-spsc",	  "dpdk-spsc",	    "dpdk-spsc-elem", "urcu-wfcq",
						    "vyukov",	  "boost-spsc",	    "lamport-cached", NULL };
	static const char *const burst_peers[] = { "dpdk-spsc-burst", NULL };
	const struct bench_case *a, *b;
	char m[96];

	fprintf(f, "\nTargets (medians of this run)\n");
	/* single op at 8 and 64 B, threads then processes (the first line
	 * keeps its name: 8 B, threads) */
	for (int procs = 0; procs <= 1; procs++) {
		for (uint32_t size = 8; size <= 64; size *= 8) {
			char what[64];

			if (!(a = find_case("shmring-spsc", 0, size, 1, 1, procs)) ||
			    !(b = best_of(single_peers, 0, size, procs)))
				continue;
			snprintf(what, sizeof(what), "SPSC %u B%s vs best single-op peer", size,
				 procs ? " processes" : "");
			snprintf(m, sizeof(m), "%.1f vs %s %.1f Mmsg/s", a->med / 1e6, b->s->name, b->med / 1e6);
			target_line(f, what, m, a->med / b->med, 1.5, true);
		}
	}
	for (uint32_t size = 8; size <= 64; size *= 8) {
		if ((a = find_case("shmring-spsc-burst", 0, size, 1, 1, 0)) && (b = best_of(burst_peers, 0, size, 0))) {
			char what[64];

			if (size == 8) /* the line's name from before the 64 B line */
				snprintf(what, sizeof(what), "SPSC burst vs DPDK SP/SC burst");
			else
				snprintf(what, sizeof(what), "SPSC burst %u B vs DPDK SP/SC burst", size);
			snprintf(m, sizeof(m), "%.1f vs %s %.1f Mmsg/s", a->med / 1e6, b->s->name, b->med / 1e6);
			target_line(f, what, m, a->med / b->med, 1.3, true);
		}
	}
	/* Cache lines a 64-byte message moves, from the stride of the
	 * rings the library makes (SPSC packs slots above 64 bytes): in a
	 * stream, stride / 64 lines are written per message, and read. */
	{
		struct shmring_params prm;
		struct shmring r;

		shmring_params_init(&prm, SHMRING_SPSC, 1024, 64);
		if (shmring_create_anon(&r, &prm, SHMRING_PRODUCER) == 0) {
			snprintf(m, sizeof(m), "stride %u B: %.3f lines a message", r.stride, r.stride / 64.0);
			target_line(f, "SPSC 64 B: cache lines moved per message", m, r.stride / 64.0, 1.0, false);
			shmring_close(&r);
		}
	}
	/* The message ring with many producers against the one-producer
	 * ring, 1, 2 and 4 producers, 8 and 64 B. */
	for (uint32_t size = 8; size <= 64; size *= 8) {
		if (!(b = find_case("shmring-msg", 0, size, 1, 1, 0)))
			continue;
		for (uint32_t k = 1; k <= 4; k *= 2) {
			char what[64];

			if (!(a = find_case("shmring-msg-mpsc", 0, size, k, 1, 0)))
				continue;
			snprintf(what, sizeof(what), "MSG_MPSC %u B, %u producer%s vs MSG_SPSC", size, k,
				 k > 1 ? "s" : "");
			snprintf(m, sizeof(m), "%.1f vs %.1f Mmsg/s", a->med / 1e6, b->med / 1e6);
			target_line(f, what, m, a->med / b->med, k == 1 ? 0.7 : 0.5, true);
		}
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
	/* Broadcast (lossless, readers as processes; the rate is the
	 * producer's, every reader receiving every message): more readers
	 * cost the producer little, one reader costs about what SPSC does,
	 * and one ring beats a ring per reader. */
	for (uint32_t size = 8; size <= 64; size *= 8) {
		const struct bench_case *one = find_case("shmring-bcast", 0, size, 1, 1, 1);
		const struct bench_case *four = find_case("shmring-bcast", 0, size, 1, 4, 1);
		char what[64];

		if (four && one) {
			snprintf(what, sizeof(what), "broadcast %u B, 4 readers vs 1 reader", size);
			snprintf(m, sizeof(m), "%.2f vs %.2f Mmsg/s", four->med / 1e6, one->med / 1e6);
			target_line(f, what, m, four->med / one->med, 0.8, true);
		}
		if (one && (b = find_case("shmring-spsc", 0, size, 1, 1, 1))) {
			snprintf(what, sizeof(what), "broadcast %u B, 1 reader vs SPSC processes", size);
			snprintf(m, sizeof(m), "%.2f vs %.2f Mmsg/s", one->med / 1e6, b->med / 1e6);
			target_line(f, what, m, one->med / b->med, 0.9, true);
		}
		if (four && (b = find_case("spsc-fanout", 0, size, 1, 4, 1))) {
			snprintf(what, sizeof(what), "broadcast %u B, 4 readers vs SPSC fan-out", size);
			snprintf(m, sizeof(m), "%.2f vs %.2f Mmsg/s", four->med / 1e6, b->med / 1e6);
			target_line(f, what, m, four->med / b->med, 2.0, true);
		}
	}
	if ((a = find_case("shmring-bcast", 1, 8, 1, 1, 1)) && (b = find_case("shmring-spsc", 1, 8, 1, 1, 1))) {
		snprintf(m, sizeof(m), "p50 %.0f vs SPSC %.0f ns", a->med, b->med);
		target_line(f, "broadcast round trip p50 vs SPSC, processes", m, a->med / b->med, 1.2, false);
	}
}

/*
 * The message ring next to what a user would otherwise carry delimited
 * messages through, and the cross-core copy ceiling, at each size of this
 * run: messages/s and bytes/s, and the ring's multiple of each.
 */
void print_msg_sizes(FILE *f)
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

FILE *open_out(const char *path)
{
	if (!strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "w");

	if (!f)
		fprintf(stderr, "shmring-bench: %s: %s\n", path, strerror(errno));
	return f;
}

void close_out(FILE *f)
{
	if (f && f != stdout)
		fclose(f);
}

/* CSV: one line per figure (metric); values in base units (msg/s, B/s, ns) */
void write_csv(FILE *f)
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

void write_json(FILE *f)
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
			if (c->s->flags & BS_LOSSY)
				fprintf(f, "\"lost\": %llu, \"due\": %llu, ", (unsigned long long)c->lost,
					(unsigned long long)c->due);
		}
		json_num(f, "vs_best", ratio_best(c), true);
		fprintf(f, "\"best\": \"%s\", ", c->best ? c->best->s->name : "");
		json_num(f, "vs_floor", ratio_floor(c), true);
		fprintf(f, "\"samples\": %llu, \"preempt\": %llu}%s\n", (unsigned long long)c->samples,
			(unsigned long long)c->preempt, i + 1 < ncases ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
}

