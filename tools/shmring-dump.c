/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: inspect shmring objects in /dev/shm without disturbing them.
 *
 *   shmring-dump                 list every ring
 *   shmring-dump NAME            full report of one ring (or of the ring set NAME)
 *   --set NAME                   a ring set: its members and their rings
 *   --messages N / --tail N      the next N unconsumed / last N written
 *   --watch [SECONDS]            refresh in place with rates (--json: one line a ring)
 *   --prom, --listen [ADDR:]PORT metrics in the Prometheus text format
 *   --json, --check, --recover   see --help and docs/shmring-dump.1
 *
 * The tool maps rings read-only (the library's observer open), never
 * waits on a ring, and makes no futex call; --recover is the only mode
 * that writes, through shmring_recover().
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "dump_cli.h"

const char *prog = "shmring-dump";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] [NAME...]\n"
		"Inspect shmring rings in " SHM_DIR " without disturbing them: the tool maps\n"
		"them read-only, never waits on them and never wakes a sleeper.\n"
		"\n"
		"With no NAME, list every ring: name, type, capacity, fill, endpoints,\n"
		"owner, mode, creator and state; ring sets' membership tables as type\n"
		"\"set\". Objects that are not shmring rings are skipped; one that cannot\n"
		"be read is listed with the reason.\n"
		"With NAME (\"/ring\" or \"ring\"), print the header, positions, fill and\n"
		"high-water mark, sleepers, endpoints and their claims, and counters.\n"
		"A NAME that is no ring but a ring set's is shown as with --set.\n"
		"\n"
		"Options:\n"
		"  -m, --messages N     the next N unconsumed messages (hex and text),\n"
		"                       without consuming them\n"
		"  -t, --tail N         the last N messages written (still in the ring)\n"
		"  -r, --raw            with --messages/--tail: write the payloads\n"
		"                       alone to standard output\n"
		"  -w, --watch [SECS]   refresh every SECS seconds (default 1) with rates;\n"
		"                       several NAMEs, or --all; with --json one JSON\n"
		"                       object per ring and refresh, one a line\n"
		"  -n, --count N        with --watch: stop after N refreshes; with --listen:\n"
		"                       after N requests\n"
		"  -j, --json           one JSON document instead of text\n"
		"  -P, --prom           metrics in the Prometheus text format (0.0.4), once,\n"
		"                       to standard output: of the NAMEs (rings or sets),\n"
		"                       or of every ring and ring set when none is given\n"
		"  -l, --listen [ADDR:]PORT\n"
		"                       serve the same at http://ADDR:PORT/metrics, a\n"
		"                       fresh read-only snapshot per scrape; ADDR is\n"
		"                       127.0.0.1 unless given ([::1] for IPv6), PORT 0\n"
		"                       takes a free port; the address goes to stderr\n"
		"  -a, --all            every ring (with --prom, --listen: and set) in\n"
		"                       " SHM_DIR ", read afresh each time\n"
		"  -S, --size TYPE CAPACITY [SLOT [ENDPOINTS]]\n"
		"                       plan a ring: the bytes shmring_create would make\n"
		"                       (TYPE spsc, mpmc, msg-spsc, msg-mpsc, broadcast;\n"
		"                       CAPACITY and\n"
		"                       SLOT as numbers, with K, M, G (x1024) or as 2^N;\n"
		"                       ENDPOINTS: a multi-mode ring's endpoint table) and\n"
		"                       whether " SHM_DIR " has room; creates nothing\n"
		"  -c, --check          verify the invariants; name every one that fails\n"
		"  -s, --set            NAME is a ring set (\"orders\", \"orders.set\"): show\n"
		"                       its consumer, counters, pending announcements and\n"
		"                       every member with its ring (with --json, --check)\n"
		"      --recover        run shmring_recover(): release what dead endpoints\n"
		"                       hold (the only mode that writes to the ring)\n"
		"  -h, --help           this text\n"
		"  -V, --version        the version\n"
		"\n"
		"Exit status:\n"
		"  0  success (with --check: every invariant holds)\n"
		"  1  --check found a failed invariant (or --recover failed)\n"
		"  2  usage error\n"
		"  3  the object is missing, unreadable, not a shmring ring, or invalid\n"
		"     (for a set: its membership table is missing or corrupt)\n"
		"  4  the ring is not ready: its creator is still initialising it, or\n"
		"     died before it finished (a set: its membership changed during\n"
		"     every read; try again)\n",
		prog);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int parse_secs(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || !(*out > 0.0) || *out > 86400.0 ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_RECOVER = 256 };
	static const struct option lopts[] = {
		{ "prom", no_argument, NULL, 'P' },
		{ "listen", required_argument, NULL, 'l' },
		{ "all", no_argument, NULL, 'a' },
		{ "size", no_argument, NULL, 'S' },
		{ "messages", required_argument, NULL, 'm' },
		{ "tail", required_argument, NULL, 't' },
		{ "raw", no_argument, NULL, 'r' },
		{ "watch", optional_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'c' },
		{ "set", no_argument, NULL, 's' },
		{ "recover", no_argument, NULL, OPT_RECOVER },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->interval = 1.0;
	while ((c = getopt_long(argc, argv, "m:t:rw::n:jcshVPl:aS", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_u64(optarg, &o->messages) < 0)
				goto bad_num;
			o->have_messages = true;
			break;
		case 't':
			if (parse_u64(optarg, &o->tail) < 0)
				goto bad_num;
			o->have_tail = true;
			break;
		case 'r': o->raw = true; break;
		case 'w':
			o->watch = true;
			if (optarg) {
				if (parse_secs(optarg, &o->interval) < 0)
					goto bad_num;
			} else if (optind < argc && parse_secs(argv[optind], &o->interval) == 0) {
				optind++; /* "--watch 0.5": the optional value as its own word */
			}
			break;
		case 'n':
			if (parse_u64(optarg, &o->count) < 0 || o->count == 0)
				goto bad_num;
			break;
		case 'j': o->json = true; break;
		case 'c': o->check = true; break;
		case 's': o->set = true; break;
		case 'P': o->prom = true; break;
		case 'l': o->listen = optarg; break;
		case 'a': o->all = true; break;
		case 'S': o->size = true; break;
		case OPT_RECOVER: o->recover = true; break;
		case 'h': usage(stdout); exit(DUMP_EXIT_OK);
		case 'V':
			printf("%s %d.%d.%d\n", prog, SHMRING_VERSION_MAJOR, SHMRING_VERSION_MINOR,
			       SHMRING_VERSION_PATCH);
			exit(DUMP_EXIT_OK);
		default:
			goto bad;
		}
	}
	bool metrics = o->prom || o->listen;

	o->names = argv + optind;
	o->n_names = argc - optind;
	o->name = o->n_names ? o->names[0] : NULL;
	if (o->size) {
		if (o->n_names < 2 || o->n_names > 4) {
			fprintf(stderr, "%s: --size takes TYPE CAPACITY [SLOT [ENDPOINTS]]\n", prog);
			goto bad;
		}
		if (metrics || o->all || o->check || o->recover || o->raw || o->have_messages ||
		    o->have_tail || o->set || o->watch || o->count) {
			fprintf(stderr, "%s: --size combines only with --json\n", prog);
			goto bad;
		}
		return 0;
	}
	if (o->n_names > 1 && !metrics && !o->watch) {
		fprintf(stderr, "%s: one NAME at most ('%s' is extra; several go with --prom, --listen "
			"and --watch)\n", prog, o->names[1]);
		goto bad;
	}
	if (o->all && (o->name || (!metrics && !o->watch))) {
		fprintf(stderr, "%s: --all goes with --prom, --listen or --watch, and no NAME\n", prog);
		goto bad;
	}
	if (metrics && (o->json || o->check || o->recover || o->raw || o->have_messages ||
			o->have_tail || o->set || o->watch)) {
		fprintf(stderr, "%s: --prom and --listen combine only with NAMEs, --all and --count\n", prog);
		goto bad;
	}
	if (!o->name && !o->all && !metrics &&
	    (o->have_messages || o->have_tail || o->raw || o->recover || o->watch)) {
		fprintf(stderr, "%s: --messages, --tail, --raw and --recover need a NAME; --watch a NAME or --all\n", prog);
		goto bad;
	}
	if (o->raw && !o->have_messages && !o->have_tail) {
		fprintf(stderr, "%s: --raw goes with --messages or --tail\n", prog);
		goto bad;
	}
	if (o->raw && o->json) {
		fprintf(stderr, "%s: --raw and --json do not combine\n", prog);
		goto bad;
	}
	if (o->have_messages && o->have_tail) {
		fprintf(stderr, "%s: --messages and --tail do not combine\n", prog);
		goto bad;
	}
	if (o->recover && (o->check || o->raw || o->have_messages || o->have_tail)) {
		fprintf(stderr, "%s: --recover combines only with --json\n", prog);
		goto bad;
	}
	if (o->watch && (o->check || o->recover || o->raw || o->have_messages || o->have_tail)) {
		fprintf(stderr, "%s: --watch combines with no other mode but --json\n", prog);
		goto bad;
	}
	if (o->set && !o->name) {
		fprintf(stderr, "%s: --set needs a NAME\n", prog);
		goto bad;
	}
	if (o->set && (o->have_messages || o->have_tail || o->raw || o->recover || o->watch)) {
		fprintf(stderr, "%s: --set combines only with --json and --check\n", prog);
		goto bad;
	}
	if (o->count && !o->watch && !o->listen) {
		fprintf(stderr, "%s: --count goes with --watch or --listen\n", prog);
		goto bad;
	}
	return 0;
bad_num:
	fprintf(stderr, "%s: invalid number '%s'\n", prog, optarg ? optarg : "");
bad:
	fprintf(stderr, "Try '%s --help'.\n", prog);
	return -1;
}

/*
 * A peer that shrinks the object makes our next read of the cut-off part
 * raise SIGBUS; turn that into a report instead of a crash.
 */
sigjmp_buf bus_jmp;
volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	_exit(DUMP_EXIT_OPEN);
}

static void install_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int open_exit(int err)
{
	return err == -ETIMEDOUT || err == -EAGAIN ? DUMP_EXIT_NOTREADY : DUMP_EXIT_OPEN;
}

void report_open_error(const struct opts *o, const char *name, int err, const char *why)
{
	if (o->json) {
		printf("{\"name\": ");
		json_str(stdout, name);
		printf(", \"error\": ");
		json_str(stdout, why);
		printf(", \"errno\": %d, \"ready\": %s}\n", -err,
		       err == -ETIMEDOUT || err == -EAGAIN ? "false" : "true");
	}
	fprintf(stderr, "%s: ", prog);
	text_name(stderr, name);
	fprintf(stderr, ": %s\n", why);
}

int main(int argc, char **argv)
{
	struct opts o;

	if (parse_args(argc, argv, &o) < 0)
		return DUMP_EXIT_USAGE;
	install_sigbus();
	if (o.size)
		return run_size(&o);
	if (o.prom || o.listen)
		return run_prom(&o);
	if (o.watch && (o.json || o.all || o.n_names > 1))
		return watch_many(&o);
	return o.name ? run_one(&o) : list_all(&o);
}
