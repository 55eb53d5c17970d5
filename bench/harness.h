/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench's harness: the options, the cases and what its files
 * share: shmring-bench.c (options, the subject lists, main), bench_run.c
 * (helpers for the adapters, endpoints as threads or processes, one run),
 * bench_cases.c (statistics, the case list, calibration and measurement),
 * bench_report.c (comparison, the tables, targets, CSV and JSON).
 */
#ifndef SHMRING_BENCH_HARNESS_H
#define SHMRING_BENCH_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
#if BENCH_HAVE_BOOST
extern const struct bench_subjects bench_subjects_boost;
#endif

#define MAX_REPS 101
#define MAX_SIZES 16
#define MAX_CASES 1024

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

struct lat {
	double p[5]; /* p50, p90, p99, p99.9, max */
};

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
	uint64_t lost, due;    /* BS_LOSSY: messages the consumers lost, of those due to them, all runs */
	bool failed;
	char err[200];
	/* summary */
	double med, lo, hi;       /* tput: msg/s; rtt: p50 ns */
	struct lat lmed, llo, lhi; /* rtt */
	const struct bench_case *best, *floor;
};

/* shmring-bench.c */
/* The subject lists: five, and DPDK's and Boost's when they are built (the
 * definition's initializer must agree: the compiler checks the two array
 * types). */
#define BENCH_N_LISTS (5 + BENCH_HAVE_DPDK + BENCH_HAVE_BOOST)
extern const struct bench_subjects *all_lists[BENCH_N_LISTS];
extern struct opts O;
extern const char *const lat_names[5];
extern const double lat_q[4];
extern struct bench_case cases[MAX_CASES];
extern int ncases;
extern struct bench_run *run_shm;
extern double load_start, load_end;
extern char machine[256];

/* bench_run.c */
void on_alarm(int sig);
int64_t run_once(struct bench_case *c, uint64_t count);

/* bench_cases.c */
extern bool is_tty;

void summarize(const double *v, int n, double *med, double *lo, double *hi);
void build_cases(void);
void measure(void);

/* bench_report.c */
void compare(void);
void print_table(FILE *f);
void print_noise(FILE *f);
void print_targets(FILE *f);
void print_msg_sizes(FILE *f);
FILE *open_out(const char *path);
void close_out(FILE *f);
void write_csv(FILE *f);
void write_json(FILE *f);

#endif /* SHMRING_BENCH_HARNESS_H */
