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
#include "harness.h"

const struct bench_subjects *all_lists[] = {
	&bench_subjects_shmring,
	&bench_subjects_msg,
	&bench_subjects_lockfree,
#if BENCH_HAVE_DPDK
	&bench_subjects_dpdk,
#endif
#if BENCH_HAVE_BOOST
	&bench_subjects_boost,
#endif
	&bench_subjects_ipc,
	&bench_subjects_floor,
};

/* ------------------------------------------------------------------ */
/* options */

struct opts O = {
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

const char *const lat_names[5] = { "p50", "p90", "p99", "p99.9", "max" };
const double lat_q[4] = { 0.50, 0.90, 0.99, 0.999 };

struct bench_case cases[MAX_CASES];
int ncases;
struct bench_run *run_shm;
double load_start = NAN, load_end = NAN;
char machine[256] = "topology unknown";

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
