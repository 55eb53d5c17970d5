/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump's command line: the options, and what its files share:
 * shmring-dump.c (options, main), dump_report.c (one ring, a set,
 * --recover), dump_list.c (the list), dump_metrics.c (--prom, --listen),
 * dump_watch.c (--watch of several rings or with --json), dump_size.c
 * (--size).
 */
#ifndef SHMRING_TOOLS_DUMP_CLI_H
#define SHMRING_TOOLS_DUMP_CLI_H

#include <setjmp.h>
#include <signal.h>

#include "dump.h"

#define SHM_DIR "/dev/shm"

struct opts {
	const char *name;   /* the first NAME */
	char **names;       /* every NAME (--prom, --listen, --watch take several) */
	int n_names;
	uint64_t messages, tail;
	bool have_messages, have_tail, raw, json, check, recover, watch, set, prom, all, size;
	const char *listen; /* --listen [ADDR:]PORT */
	double interval;
	uint64_t count; /* --watch refreshes, --listen requests; 0: until interrupted */
};

/* shmring-dump.c */
extern const char *prog;
extern sigjmp_buf bus_jmp;
extern volatile sig_atomic_t bus_armed;

int open_exit(int err);
void report_open_error(const struct opts *o, const char *name, int err, const char *why);

/* dump_report.c */
void print_check_json(FILE *f, const struct dump_ring *d);
double rate(uint64_t a, uint64_t b, double secs);
void print_rates(const struct dump_ring *prev, const struct dump_ring *d, double secs);
int run_one(const struct opts *o);

/* dump_list.c */
bool ends_with(const char *s, const char *suffix);
int scan_shm(char ***out, size_t *count);
void names_free(char **names, size_t n);
int list_all(const struct opts *o);

/* dump_metrics.c */
int run_prom(const struct opts *o);

/* dump_watch.c */
int watch_many(const struct opts *o);

/* dump_size.c */
int run_size(const struct opts *o);

#endif /* SHMRING_TOOLS_DUMP_CLI_H */
