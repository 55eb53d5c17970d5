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

static const char *prog = "shmring-dump";

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
		"                       (TYPE spsc, mpmc, msg-spsc, msg-mpsc; CAPACITY and\n"
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
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

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

static int open_exit(int err)
{
	return err == -ETIMEDOUT || err == -EAGAIN ? DUMP_EXIT_NOTREADY : DUMP_EXIT_OPEN;
}

static void report_open_error(const struct opts *o, const char *name, int err, const char *why)
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

/* ---- one ring ------------------------------------------------------ */

struct msg_out {
	const struct opts *o;
	FILE *f;
	uint64_t n;
};

static int msg_text(const struct dump_ring *d, const struct dump_msg *m, void *arg)
{
	struct msg_out *mo = arg;

	(void)d;
	fprintf(mo->f, "  position %" PRIu64 ", %u bytes%s%s\n", m->pos, m->len,
		m->consumed ? ", consumed" : "", m->torn ? ": overwritten while read" : "");
	if (!m->torn)
		hexdump(mo->f, m->data, m->len, "    ");
	mo->n++;
	return 0;
}

static int msg_json(const struct dump_ring *d, const struct dump_msg *m, void *arg)
{
	struct msg_out *mo = arg;
	FILE *f = mo->f;

	(void)d;
	fprintf(f, "%s\n  {\"pos\": %" PRIu64 ", \"len\": %u, \"type\": %u, \"consumed\": %s, \"torn\": %s",
		mo->n ? "," : "", m->pos, m->len, m->rec_type, m->consumed ? "true" : "false",
		m->torn ? "true" : "false");
	if (!m->torn) {
		fputs(", \"hex\": \"", f);
		for (uint32_t i = 0; i < m->len; i++)
			fprintf(f, "%02x", m->data[i]);
		fputs("\", \"text\": ", f);
		json_strn(f, m->data, m->len);
	}
	fputc('}', f);
	mo->n++;
	return 0;
}

static int msg_raw(const struct dump_ring *d, const struct dump_msg *m, void *arg)
{
	struct msg_out *mo = arg;

	(void)d;
	if (m->torn)
		return 0;
	if (fwrite(m->data, 1, m->len, mo->f) != m->len)
		return -EIO;
	mo->n++;
	return 0;
}

static void print_check_text(const struct dump_ring *d)
{
	for (uint32_t i = 0; i < d->n_problems; i++) {
		const struct dump_problem *p = &d->problems[i];

		text_name(stdout, d->name);
		printf(": %s %s: %s\n", p->warning ? "warning" : "FAILED", p->invariant, p->detail);
	}
	if (d->n_failed == 0) {
		text_name(stdout, d->name);
		printf(": ok (%s)\n", d->kind ? d->kind->invariants : "header-immutable, endpoint-table");
	}
}

static void print_check_json(FILE *f, const struct dump_ring *d)
{
	fprintf(f, ",\n \"check\": {\"ok\": %s, \"failed\": %u, \"problems\": [",
		d->n_failed ? "false" : "true", d->n_failed);
	for (uint32_t i = 0; i < d->n_problems; i++) {
		const struct dump_problem *p = &d->problems[i];

		fprintf(f, "%s\n  {\"invariant\": ", i ? "," : "");
		json_str(f, p->invariant);
		fprintf(f, ", \"warning\": %s, \"detail\": ", p->warning ? "true" : "false");
		json_str(f, p->detail);
		fputc('}', f);
	}
	fputs("]}", f);
}

static int report_one(const struct opts *o, struct dump_ring *d)
{
	struct msg_out mo = { .o = o, .f = stdout };
	bool want_msgs = o->have_messages || o->have_tail;
	uint64_t n = o->have_messages ? o->messages : o->tail;
	int64_t got = 0;

	dump_snapshot(d);
	dump_check(d);
	/* Placement costs a topology load: only for the full report, and
	 * not before reading messages (they would be older by then). */
	if (!want_msgs && (!o->check || o->json))
		dump_placement(d);
	if (o->raw) {
		got = d->kind ? d->kind->messages(d, o->have_tail, n, msg_raw, &mo) : 0;
		fflush(stdout);
		return got < 0 ? DUMP_EXIT_OPEN : DUMP_EXIT_OK;
	}
	if (o->json) {
		fputs("{", stdout);
		dump_print_json(stdout, d);
		print_check_json(stdout, d);
		if (want_msgs) {
			fprintf(stdout, ",\n \"%s\": [", o->have_tail ? "tail" : "messages");
			if (d->kind)
				got = d->kind->messages(d, o->have_tail, n, msg_json, &mo);
			fputs("]", stdout);
		}
		fputs("}\n", stdout);
	} else if (o->check && !want_msgs) {
		print_check_text(d);
	} else {
		if (want_msgs) {
			/* the messages, after one line about the ring */
			text_name(stdout, d->name);
			printf(": %s, fill %" PRIu64 " / %" PRIu64 " %s, head %" PRIu64 ", tail %" PRIu64 "\n",
			       dump_type_name(d->type), d->fill, d->r.capacity,
			       d->kind ? d->kind->unit : "", d->head, d->tail);
		} else {
			dump_print_text(stdout, d);
		}
		if (d->n_problems) {
			printf("problems:\n");
			for (uint32_t i = 0; i < d->n_problems; i++)
				printf("  %s %s: %s\n", d->problems[i].warning ? "warning" : "FAILED",
				       d->problems[i].invariant, d->problems[i].detail);
		}
		if (want_msgs) {
			if (o->have_tail)
				printf("last %" PRIu64 " written:\n", n);
			else
				printf("next %" PRIu64 " unconsumed:\n", n);
			if (d->kind)
				got = d->kind->messages(d, o->have_tail, n, msg_text, &mo);
			if (mo.n == 0)
				printf("  (none)\n");
		}
	}
	if (got < 0)
		fprintf(stderr, "%s: reading messages: %s\n", prog, strerror((int)-got));
	return o->check && d->n_failed ? DUMP_EXIT_CHECK : DUMP_EXIT_OK;
}

/* ---- --watch -------------------------------------------------------- */

static double rate(uint64_t a, uint64_t b, double secs)
{
	return secs > 0 ? (double)(b - a) / secs : 0.0;
}

static void print_rates(const struct dump_ring *prev, const struct dump_ring *d, double secs)
{
	uint64_t wp = prev->prod.st.wakes + prev->cons.st.wakes, wn = d->prod.st.wakes + d->cons.st.wakes;
	uint64_t sp = prev->prod.st.sleeps + prev->cons.st.sleeps, sn = d->prod.st.sleeps + d->cons.st.sleeps;
	double in = rate(prev->avail_end, d->avail_end, secs);
	double out = rate(prev->tail, d->tail, secs);
	double unit = d->type == SHMRING_SPSC || d->type == SHMRING_MPMC ? (double)d->r.slot_size : 1.0;

	printf("rates over the last %.2f s:\n", secs);
	if (d->type == SHMRING_SPSC || d->type == SHMRING_MPMC)
		printf("  in  %14.0f msg/s %14.0f B/s\n  out %14.0f msg/s %14.0f B/s\n", in, in * unit,
		       out, out * unit);
	else
		printf("  in  %14.0f B/s\n  out %14.0f B/s\n", in, out);
	printf("  wakeups %10.0f /s   sleeps %10.0f /s   full hits %10.0f /s   empty hits %10.0f /s\n",
	       rate(wp, wn, secs), rate(sp, sn, secs),
	       rate(prev->prod.st.blocked, d->prod.st.blocked, secs),
	       rate(prev->cons.st.blocked, d->cons.st.blocked, secs));
}

static int watch(const struct opts *o, struct dump_ring *d)
{
	struct dump_ring prev;
	bool tty = isatty(STDOUT_FILENO);
	struct timespec ts;

	dump_snapshot(d);
	for (uint64_t i = 0; !o->count || i < o->count; i++) {
		prev = *d;
		prev.eps = NULL; /* only the positions and counters are kept */
		ts.tv_sec = (time_t)o->interval;
		ts.tv_nsec = (long)((o->interval - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		dump_snapshot(d);
		dump_check(d);
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (i)
			fputs("\n", stdout);
		printf("shmring-dump --watch: refresh %" PRIu64 " every %.2f s\n", i + 1, o->interval);
		print_rates(&prev, d, (double)(d->snap_ns - prev.snap_ns) / 1e9);
		dump_print_text(stdout, d);
		for (uint32_t k = 0; k < d->n_problems; k++)
			printf("  %s %s: %s\n", d->problems[k].warning ? "warning" : "FAILED",
			       d->problems[k].invariant, d->problems[k].detail);
		fflush(stdout);
	}
	return DUMP_EXIT_OK;
}

/* ---- --recover ------------------------------------------------------ */

/*
 * The one mode that writes: attach read-write as neither producer nor
 * consumer (no endpoint entry) and let the library release what dead
 * endpoints hold. The owner check stays the library's (this user's rings
 * only); any mode is accepted, as a ring shared with a group has 0660.
 */
static int recover(const struct opts *o)
{
	struct shmring_open_opts oo;
	struct shmring r;
	int ret;

	memset(&oo, 0, sizeof(oo));
	oo.mode = 0777;
	oo.timeout_ms = 1;
	ret = shmring_open(&r, o->name, SHMRING_ROLE_NONE, &oo);
	if (ret < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s: %s", shmring_strerror(ret), shmring_errdetail());
		report_open_error(o, o->name, ret, why);
		return open_exit(ret);
	}
	ret = shmring_recover(&r);
	if (o->json) {
		printf("{\"name\": ");
		json_str(stdout, o->name);
		if (ret >= 0) {
			printf(", \"recovered\": %d}\n", ret);
		} else {
			printf(", \"errno\": %d, \"error\": ", -ret);
			json_str(stdout, shmring_errdetail()[0] ? shmring_errdetail() : shmring_strerror(ret));
			printf("}\n");
		}
	} else if (ret >= 0) {
		text_name(stdout, o->name);
		printf(": recovered %d dead endpoint%s\n", ret, ret == 1 ? "" : "s");
	}
	if (ret < 0) {
		fprintf(stderr, "%s: ", prog);
		text_name(stderr, o->name);
		fprintf(stderr, ": recover: %s%s%s\n", shmring_strerror(ret),
			shmring_errdetail()[0] ? ": " : "", shmring_errdetail());
	}
	shmring_close(&r);
	return ret < 0 ? DUMP_EXIT_CHECK : DUMP_EXIT_OK;
}

/* ---- a ring set ------------------------------------------------------ */

static void print_set_check_text(const struct dump_set *s)
{
	uint32_t failed = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct dump_set_member *m = &s->m[i];

		if (!m->ring.read || (!m->ring.failed && !m->ring.note[0]))
			continue;
		failed++;
		text_name(stdout, s->name);
		printf(": member %u ", m->id);
		text_name(stdout, m->name);
		printf(": FAILED %s\n", m->ring.note[0] ? m->ring.note : m->ring.status);
	}
	if (s->ctl_ring.read && s->ctl_ring.failed) {
		failed++;
		text_name(stdout, s->name);
		printf(": control ring: %s\n", s->ctl_ring.status);
	}
	if (!s->consumer_alive) {
		text_name(stdout, s->name);
		printf(": warning stale: its consumer (pid %d) is dead\n", (int)s->hdr.consumer_pid);
	}
	if (!failed) {
		text_name(stdout, s->name);
		printf(": ok (membership-table, %u member ring%s, control ring)\n", s->n,
		       s->n == 1 ? "" : "s");
	}
}

static int report_set(const struct opts *o, struct dump_set *s)
{
	char why[512];
	int ret = dump_set_snapshot(s, why, sizeof(why));
	uint32_t failed;

	if (ret < 0) {
		report_open_error(o, s->name, ret == -EAGAIN ? -ETIMEDOUT : ret, why);
		return ret == -EAGAIN ? DUMP_EXIT_NOTREADY : DUMP_EXIT_OPEN;
	}
	dump_set_rings(s);
	failed = dump_set_check(s);
	if (o->json) {
		fputs("{", stdout);
		dump_set_print_json(stdout, s);
		printf(",\n \"check\": {\"ok\": %s, \"failed\": %u}}\n", failed ? "false" : "true",
		       failed);
	} else if (o->check) {
		print_set_check_text(s);
	} else {
		dump_set_print_text(stdout, s);
	}
	return o->check && failed ? DUMP_EXIT_CHECK : DUMP_EXIT_OK;
}

/* Static: it changes between sigsetjmp and a possible siglongjmp. */
static struct dump_set *cur_set;

/* The set report; err/ring_why: the ring open's failure when NAME was
 * tried as a ring first (reported instead if NAME is no set either). */
static int run_set(const struct opts *o, int ring_err, const char *ring_why)
{
	char why[512];
	int ret;

	cur_set = calloc(1, sizeof(*cur_set));
	if (!cur_set)
		return DUMP_EXIT_OPEN;
	ret = dump_set_open(cur_set, o->name, why, sizeof(why));
	if (ret < 0) {
		if (ring_err && (ret == -ENOENT || ret == -EINVAL || ret == -ENOMSG))
			report_open_error(o, o->name, ring_err, ring_why);
		else
			report_open_error(o, cur_set->table[0] ? cur_set->table : o->name, ret, why);
		free(cur_set);
		return open_exit(ring_err && (ret == -ENOENT || ret == -EINVAL || ret == -ENOMSG) ? ring_err
												 : ret);
	}
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		fflush(stdout);
		fprintf(stderr, "%s: %s: the object shrank while it was read (SIGBUS)\n", prog,
			cur_set->table);
		ret = DUMP_EXIT_OPEN;
	} else {
		bus_armed = 1;
		ret = report_set(o, cur_set);
		bus_armed = 0;
	}
	dump_set_close(cur_set);
	free(cur_set);
	return ret;
}

static int run_one(const struct opts *o)
{
	struct dump_ring *d = calloc(1, sizeof(*d));
	char why[512];
	int ret;

	if (!d)
		return DUMP_EXIT_OPEN;
	if (o->recover) {
		free(d);
		return recover(o);
	}
	if (o->set) {
		free(d);
		return run_set(o, 0, NULL);
	}
	ret = dump_open(d, o->name, why, sizeof(why));
	if ((ret == -ENOENT || ret == -ENOMSG) && !o->have_messages && !o->have_tail && !o->watch) {
		/* No ring by that name: maybe a set's. */
		free(d);
		return run_set(o, ret, why);
	}
	if (ret < 0) {
		report_open_error(o, d->name[0] ? d->name : o->name, ret, why);
		free(d);
		return open_exit(ret);
	}
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		fflush(stdout);
		fprintf(stderr, "%s: %s: the object shrank while it was read (SIGBUS)\n", prog, d->name);
		dump_close(d);
		free(d);
		return DUMP_EXIT_OPEN;
	}
	bus_armed = 1;
	ret = o->watch ? watch(o, d) : report_one(o, d);
	bus_armed = 0;
	dump_close(d);
	free(d);
	return ret;
}

/* ---- the list ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Spaces after a name to fill the NAME column (at least one). */
static int pad(const char *name)
{
	int w = 0;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		w += *p >= 0x21 && *p < 0x7f && *p != '\\' ? 1 : 4;
	return w < 32 ? 33 - w : 1;
}

struct list_state {
	const struct opts *o;
	unsigned rings, unreadable, failed, sets;
	FILE *sets_json; /* --json: the "sets" array, written after the rings */
	char *sets_buf;
	size_t sets_len;
};

static void list_row(struct list_state *ls, struct dump_ring *d)
{
	const struct opts *o = ls->o;
	uint32_t live_p = 0, live_c = 0, dead = 0;
	char geom[64], eps[48], status[96], owner[32];

	for (uint32_t i = 0; i < d->n_eps; i++) {
		if (!d->eps[i].alive)
			dead++;
		else if (d->eps[i].role == SHMRING_PRODUCER)
			live_p++;
		else if (d->eps[i].role == SHMRING_CONSUMER)
			live_c++;
	}
	if (d->type == SHMRING_SPSC || d->type == SHMRING_MPMC)
		snprintf(geom, sizeof(geom), "%" PRIu64 "x%uB", d->r.capacity, d->r.slot_size);
	else
		snprintf(geom, sizeof(geom), "%" PRIu64 "B", d->r.capacity);
	snprintf(eps, sizeof(eps), "%up/%uc%s", live_p, live_c, dead ? "+dead" : "");
	snprintf(owner, sizeof(owner), "%u", (unsigned)d->st.st_uid);
	if (d->n_failed) {
		const struct dump_problem *p = d->problems;

		while (p->warning)
			p++;
		snprintf(status, sizeof(status), "FAILED %s", p->invariant);
		ls->failed++;
	} else if (d->n_problems) {
		snprintf(status, sizeof(status), "warning %s", d->problems[0].invariant);
	} else {
		snprintf(status, sizeof(status), "ok");
	}
	if (o->json) {
		printf("%s\n  {\"name\": ", ls->rings + ls->unreadable ? "," : "");
		json_str(stdout, d->name);
		printf(", \"type\": \"%s\", \"capacity\": %" PRIu64 ", \"slot_size\": %u, \"fill\": %" PRIu64
		       ", \"producers\": %u, \"consumers\": %u, \"dead_endpoints\": %u, \"uid\": %u"
		       ", \"mode\": \"%04o\", \"creator_pid\": %d, \"creator_alive\": %s, \"ready\": true"
		       ", \"ok\": %s, \"status\": ",
		       dump_type_name(d->type), d->r.capacity, d->r.slot_size, d->fill, live_p, live_c,
		       dead, (unsigned)d->st.st_uid, (unsigned)(d->st.st_mode & 07777),
		       (int)d->hdr.creator_pid, d->creator_alive ? "true" : "false",
		       d->n_failed ? "false" : "true");
		json_str(stdout, status);
		printf("}");
	} else {
		text_name(stdout, d->name);
		printf("%*s%-9s %-14s %-10" PRIu64 " %-11s %-6s %04o %8d %-5s %s\n", pad(d->name), "",
		       dump_type_name(d->type), geom,
		       d->fill, eps, owner, (unsigned)(d->st.st_mode & 07777), (int)d->hdr.creator_pid,
		       d->creator_alive ? "alive" : "dead", status);
	}
	ls->rings++;
}

static void list_unreadable(struct list_state *ls, const char *name, int err, const char *why,
			    const struct stat *st)
{
	if (ls->o->json) {
		printf("%s\n  {\"name\": ", ls->rings + ls->unreadable ? "," : "");
		json_str(stdout, name);
		printf(", \"ready\": %s, \"errno\": %d, \"reason\": ", err == -ETIMEDOUT ? "false" : "true",
		       -err);
		json_str(stdout, why);
		printf("}");
	} else {
		text_name(stdout, name);
		printf("%*s%-9s %-14s %-10s %-11s ", pad(name), "", "-", "-", "-", "-");
		if (st->st_nlink)
			printf("%-6u %04o %8s %-5s ", (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777),
			       "-", "");
		else
			printf("%-6s %-4s %8s %-5s ", "-", "-", "-", "");
		printf("%s: %s\n", err == -ETIMEDOUT ? "initialising" : "unreadable", why);
	}
	ls->unreadable++;
	/* Past the magic check the object is a ring; one the library
	 * refuses (or that never became ready) fails --check. */
	if (ls->o->check && err != -EACCES && err != -EPERM && err != -ELOOP)
		ls->failed++;
}

/* Static: it changes between sigsetjmp and a possible siglongjmp. */
static struct list_state ls;

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* A ring set's membership table, as one row (type "set"). */
static void list_set(const char *path)
{
	struct dump_set *s = calloc(1, sizeof(*s));
	char why[512], status[96], geom[48];
	int ret;

	if (!s)
		return;
	if (!ends_with(path, ".set")) {
		free(s);
		return;
	}
	ret = dump_set_open(s, path, why, sizeof(why));
	if (ret == -ENOMSG || ret == -ENOENT || ret == -EINVAL) {
		free(s);
		return; /* not a set's table: skipped like any other object */
	}
	if (ret == 0)
		ret = dump_set_snapshot(s, why, sizeof(why));
	if (ret < 0) {
		snprintf(status, sizeof(status), "%s",
			 ret == -EAGAIN ? "changing" : ret == -ETIMEDOUT ? "initialising" : "FAILED membership-table");
		if (ls.o->check && ret != -EAGAIN && ret != -ETIMEDOUT && ret != -EACCES)
			ls.failed++;
	} else if (!s->consumer_alive) {
		snprintf(status, sizeof(status), "warning stale");
	} else {
		snprintf(status, sizeof(status), "ok");
	}
	snprintf(geom, sizeof(geom), "%u entries", s->capacity);
	if (ls.o->json && ls.sets_json) {
		FILE *f = ls.sets_json;

		fprintf(f, "%s\n  {\"name\": ", ls.sets ? "," : "");
		json_str(f, s->table);
		fputs(", \"set\": ", f);
		json_str(f, s->name);
		fprintf(f, ", \"members\": %u, \"unlisted\": %u, \"uid\": %u, \"mode\": \"%04o\""
			   ", \"consumer_pid\": %d, \"consumer_alive\": %s, \"ok\": %s, \"status\": ",
			s->count, s->unlisted, (unsigned)s->st.st_uid, (unsigned)(s->st.st_mode & 07777),
			(int)s->hdr.consumer_pid, s->consumer_alive ? "true" : "false",
			ret < 0 && ret != -EAGAIN ? "false" : "true");
		json_str(f, ret < 0 ? why : status);
		fputc('}', f);
	} else if (!ls.o->json) {
		text_name(stdout, s->table);
		printf("%*s%-9s %-14s %-10u %-11s %-6u %04o %8d %-5s %s%s%s\n", pad(s->table), "", "set",
		       geom, s->count, "-", (unsigned)s->st.st_uid, (unsigned)(s->st.st_mode & 07777),
		       (int)s->hdr.consumer_pid, s->consumer_alive ? "alive" : "dead", status,
		       ret < 0 ? ": " : "", ret < 0 ? why : "");
	}
	ls.sets++;
	dump_set_close(s);
	free(s);
}

static void list_entry(const char *dname)
{
	struct dump_ring *d = calloc(1, sizeof(*d));
	char why[512], path[SHMRING_NAME_MAX + 2];
	int ret;

	if (!d)
		return;
	if (strlen(dname) + 1 >= SHMRING_NAME_MAX) {
		free(d);
		return; /* longer than any ring name: not ours */
	}
	snprintf(path, sizeof(path), "/%s", dname);
	ret = dump_open(d, path, why, sizeof(why));
	if (ret == -ENOMSG) {
		if (sigsetjmp(bus_jmp, 1)) {
			bus_armed = 0;
		} else {
			bus_armed = 1;
			list_set(path);
			bus_armed = 0;
		}
	} else if (ret == -EAGAIN || ret == -EINVAL || ret == -ENOENT) {
		/* not a ring, empty, or gone since readdir: skip quietly */
	} else if (ret < 0) {
		struct stat st;
		char full[sizeof(SHM_DIR) + SHMRING_NAME_MAX + 2];

		snprintf(full, sizeof(full), SHM_DIR "/%s", dname);
		if (lstat(full, &st) < 0)
			memset(&st, 0, sizeof(st));
		list_unreadable(&ls, path, ret, why, &st);
	} else if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		list_unreadable(&ls, path, -EIO, "the object shrank while it was read (SIGBUS)", &d->st);
	} else {
		bus_armed = 1;
		dump_snapshot(d);
		dump_check(d);
		list_row(&ls, d);
		bus_armed = 0;
	}
	dump_close(d);
	free(d);
}

/* The names in /dev/shm, sorted (each and the array malloc'd); -1 if the
 * directory cannot be read (errno says why). */
static int scan_shm(char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir = opendir(SHM_DIR);

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int list_all(const struct opts *o)
{
	char **names = NULL;
	size_t n = 0;

	if (scan_shm(&names, &n) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, SHM_DIR, strerror(errno));
		return DUMP_EXIT_OPEN;
	}
	ls.o = o;
	if (o->json)
		ls.sets_json = open_memstream(&ls.sets_buf, &ls.sets_len);

	if (o->json)
		printf("{\"directory\": \"" SHM_DIR "\", \"rings\": [");
	else
		printf("%-32s %-9s %-14s %-10s %-11s %-6s %-4s %-14s %s\n", "NAME", "TYPE", "CAPACITY",
		       "FILL", "ENDPOINTS", "OWNER", "MODE", "CREATOR", "STATE");
	for (size_t i = 0; i < n; i++) {
		list_entry(names[i]);
		free(names[i]);
	}
	free(names);
	if (o->json) {
		if (ls.sets_json)
			fclose(ls.sets_json);
		printf("], \"sets\": [%s], \"count\": %u, \"set_count\": %u, \"unreadable\": %u"
		       ", \"failed\": %u}\n",
		       ls.sets_buf ? ls.sets_buf : "", ls.rings, ls.sets, ls.unreadable, ls.failed);
		free(ls.sets_buf);
	}
	return o->check && ls.failed ? DUMP_EXIT_CHECK : DUMP_EXIT_OK;
}

/* ---- --prom, --listen -------------------------------------------- */

/* Copy what the library reports of an open ring into the scrape. The
 * jump buffer lives in this frame while the guarded reads run. */
static void collect_ring(struct prom_scrape *sc, struct dump_ring *d)
{
	struct prom_ring *pr = prom_add_ring(sc);
	int ret;

	if (!pr)
		return;
	snprintf(pr->name, sizeof(pr->name), "%s", d->name);
	pr->type = d->type;
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		pr->err = -EIO; /* the object shrank while it was read */
		return;
	}
	bus_armed = 1;
	pr->st.size = sizeof(pr->st);
	ret = shmring_stats(&d->r, &pr->st);
	if (ret < 0) {
		pr->err = ret;
	} else if ((pr->eps = calloc(pr->st.ep_count, sizeof(*pr->eps)))) {
		for (uint32_t i = 0; i < pr->st.ep_count; i++) {
			pr->eps[pr->n_eps].size = sizeof(pr->eps[0]);
			if (shmring_endpoint_stats(&d->r, i, &pr->eps[pr->n_eps]) == 0)
				pr->n_eps++;
		}
	}
	bus_armed = 0;
}

/* A set's table, by the set's name or its table's. 0, or the open's error. */
static int collect_set(struct prom_scrape *sc, const char *name)
{
	struct dump_set *s = calloc(1, sizeof(*s));
	struct prom_set *ps;
	char why[512];
	int ret;

	if (!s)
		return -ENOMEM;
	ret = dump_set_open(s, name, why, sizeof(why));
	if (ret < 0) {
		free(s);
		return ret;
	}
	ps = prom_add_set(sc);
	if (ps) {
		snprintf(ps->name, sizeof(ps->name), "%s", s->name);
		if (sigsetjmp(bus_jmp, 1)) {
			bus_armed = 0;
			ps->err = -EIO;
		} else {
			bus_armed = 1;
			ps->err = dump_set_snapshot(s, why, sizeof(why));
			bus_armed = 0;
		}
		ps->members = s->count;
		ps->unlisted = s->unlisted;
		ps->consumer_alive = s->consumer_alive;
		ps->polls = s->polls;
		ps->messages = s->messages;
		ps->sleeps = s->sleeps;
		ps->wakeups = s->wakeups;
		ps->joins = s->joins;
		ps->leaves = s->leaves;
	}
	dump_set_close(s);
	free(s);
	return 0;
}

/* One object of /dev/shm, or one NAME (explicit: a missing or foreign
 * object is reported as unreadable instead of skipped). Returns 0, or
 * the error when an explicit NAME is neither a ring nor a set. */
static int collect_one(struct prom_scrape *sc, const char *name, bool explicit)
{
	struct dump_ring *d = calloc(1, sizeof(*d));
	char why[512];
	int ret;

	if (!d)
		return -ENOMEM;
	ret = dump_open(d, name, why, sizeof(why));
	if (ret == 0) {
		collect_ring(sc, d);
	} else if (ret == -ENOMSG || (explicit && ret == -ENOENT)) {
		/* Not a ring: a set's table ("x.set", or the set "x")? */
		if ((explicit || ends_with(name, ".set")) && collect_set(sc, name) == 0)
			ret = 0;
	} else if (!explicit && (ret == -EAGAIN || ret == -EINVAL || ret == -ENOENT)) {
		ret = 0; /* not a ring, empty, or gone since readdir */
	}
	if (ret < 0 && (explicit || ret != -ENOMSG)) {
		struct prom_ring *pr = prom_add_ring(sc);

		if (pr) {
			snprintf(pr->name, sizeof(pr->name), "%s", d->name[0] ? d->name : name);
			pr->err = ret;
		}
	} else if (ret == -ENOMSG) {
		ret = 0; /* another program's object */
	}
	dump_close(d);
	free(d);
	return explicit ? ret : 0;
}

/* A scrape of the NAMEs, or of everything; the count of explicit NAMEs
 * that could not be read. */
static int collect(struct prom_scrape *sc, const struct opts *o)
{
	char **names = NULL, path[SHMRING_NAME_MAX + 2];
	size_t n = 0;
	int bad = 0;

	if (o->n_names) {
		for (int i = 0; i < o->n_names; i++)
			bad += collect_one(sc, o->names[i], true) < 0;
		return bad;
	}
	if (scan_shm(&names, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) + 1 < SHMRING_NAME_MAX) {
			snprintf(path, sizeof(path), "/%s", names[i]);
			collect_one(sc, path, false);
		}
	}
	names_free(names, n);
	return 0;
}

static int prom_render(FILE *f, void *arg)
{
	struct prom_scrape sc;
	int bad;

	memset(&sc, 0, sizeof(sc));
	bad = collect(&sc, arg);
	prom_write(f, &sc);
	prom_free(&sc);
	return bad;
}

static int run_prom(const struct opts *o)
{
	char why[512];
	int ret;

	if (!o->listen) {
		ret = prom_render(stdout, (void *)o);
		fflush(stdout);
		return ret ? DUMP_EXIT_OPEN : DUMP_EXIT_OK;
	}
	ret = dump_http_serve(o->listen, o->count, prom_render, (void *)o, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, "%s: --listen: %s\n", prog, why);
		return ret == -EINVAL ? DUMP_EXIT_USAGE : DUMP_EXIT_OPEN;
	}
	return DUMP_EXIT_OK;
}

/* ---- --watch of several rings, or with --json --------------------- */

struct watch_ring {
	struct dump_ring prev; /* the last snapshot: positions and counters (eps NULL) */
	bool seen;             /* in the last pass */
};

struct watch_state {
	const struct opts *o;
	struct watch_ring *w;
	size_t n, cap;
	uint64_t refresh;
};

static struct watch_ring *watch_find(struct watch_state *ws, const char *name, bool add)
{
	for (size_t i = 0; i < ws->n; i++)
		if (!strcmp(ws->w[i].prev.name, name))
			return &ws->w[i];
	if (!add)
		return NULL;
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 8;
		struct watch_ring *n = realloc(ws->w, cap * sizeof(*n));

		if (!n)
			return NULL;
		ws->w = n;
		ws->cap = cap;
	}
	struct watch_ring *w = &ws->w[ws->n++];

	memset(w, 0, sizeof(*w));
	snprintf(w->prev.name, sizeof(w->prev.name), "%s", name);
	return w;
}

static void json_rates(FILE *f, const struct dump_ring *prev, const struct dump_ring *d, double secs)
{
	fprintf(f, ", \"interval_s\": %.3f, \"rates\": {\"unit\": \"%s\", \"in_per_s\": %.1f"
		   ", \"out_per_s\": %.1f, \"wakes_per_s\": %.1f, \"sleeps_per_s\": %.1f"
		   ", \"full_per_s\": %.1f, \"empty_per_s\": %.1f}",
		secs, d->kind ? d->kind->unit : "", rate(prev->avail_end, d->avail_end, secs),
		rate(prev->tail, d->tail, secs),
		rate(prev->prod.st.wakes + prev->cons.st.wakes, d->prod.st.wakes + d->cons.st.wakes, secs),
		rate(prev->prod.st.sleeps + prev->cons.st.sleeps, d->prod.st.sleeps + d->cons.st.sleeps, secs),
		rate(prev->prod.st.blocked, d->prod.st.blocked, secs),
		rate(prev->cons.st.blocked, d->cons.st.blocked, secs));
}

/* One JSON object on one line: the report's newlines are whitespace
 * between members (strings escape theirs), so they become spaces. */
static void json_line(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		putchar(buf[i] == '\n' ? ' ' : buf[i]);
	putchar('\n');
}

static void watch_error(struct watch_state *ws, const char *name, int err, const char *why)
{
	if (ws->o->json) {
		printf("{\"refresh\": %" PRIu64 ", \"time_ns\": %" PRIu64 ", \"name\": ", ws->refresh,
		       dump_now_ns(CLOCK_REALTIME));
		json_str(stdout, name);
		printf(", \"errno\": %d, \"error\": ", -err);
		json_str(stdout, why);
		printf("}\n");
	} else {
		text_name(stdout, name);
		printf(": %s\n", why);
	}
}

/* Snapshot one ring and, when print, report it against its last pass. */
static void watch_ring_pass(struct watch_state *ws, const char *name, bool explicit, bool print)
{
	struct dump_ring *d = calloc(1, sizeof(*d));
	struct watch_ring *w;
	char why[512];
	int ret;

	if (!d)
		return;
	ret = dump_open(d, name, why, sizeof(why));
	if (ret < 0) {
		if (print && explicit)
			watch_error(ws, d->name[0] ? d->name : name, ret, why);
		free(d);
		return;
	}
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		if (print)
			watch_error(ws, d->name, -EIO, "the object shrank while it was read (SIGBUS)");
		dump_close(d);
		free(d);
		return;
	}
	bus_armed = 1;
	dump_snapshot(d);
	dump_check(d);
	w = watch_find(ws, d->name, true);
	if (print && ws->o->json) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		if (f) {
			fprintf(f, "{\"refresh\": %" PRIu64 ", \"time_ns\": %" PRIu64, ws->refresh,
				dump_now_ns(CLOCK_REALTIME));
			if (w && w->seen)
				json_rates(f, &w->prev, d, (double)(d->snap_ns - w->prev.snap_ns) / 1e9);
			else
				fputs(", \"rates\": null", f);
			fputs(", ", f);
			dump_print_json(f, d);
			print_check_json(f, d);
			fputc('}', f);
			fclose(f);
			json_line(buf, len);
			free(buf);
		}
	} else if (print) {
		if (w && w->seen)
			print_rates(&w->prev, d, (double)(d->snap_ns - w->prev.snap_ns) / 1e9);
		dump_print_text(stdout, d);
		for (uint32_t k = 0; k < d->n_problems; k++)
			printf("  %s %s: %s\n", d->problems[k].warning ? "warning" : "FAILED",
			       d->problems[k].invariant, d->problems[k].detail);
		fputc('\n', stdout);
	}
	bus_armed = 0;
	if (w) {
		struct dump_ep *eps = d->eps;

		d->eps = NULL; /* only the positions and counters are kept */
		w->prev = *d;
		w->prev.open = false;
		w->seen = true;
		d->eps = eps;
	}
	dump_close(d);
	free(d);
}

static void watch_pass(struct watch_state *ws, bool print)
{
	char **names = NULL, path[SHMRING_NAME_MAX + 2];
	size_t n = 0;

	if (ws->o->n_names) {
		for (int i = 0; i < ws->o->n_names; i++)
			watch_ring_pass(ws, ws->o->names[i], true, print);
		return;
	}
	if (scan_shm(&names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) + 1 >= SHMRING_NAME_MAX)
			continue;
		snprintf(path, sizeof(path), "/%s", names[i]);
		watch_ring_pass(ws, path, false, print);
	}
	names_free(names, n);
}

static int watch_many(const struct opts *o)
{
	struct watch_state ws = { .o = o };
	bool tty = isatty(STDOUT_FILENO) && !o->json;
	struct timespec ts;

	watch_pass(&ws, false);
	for (uint64_t i = 0; !o->count || i < o->count; i++) {
		ts.tv_sec = (time_t)o->interval;
		ts.tv_nsec = (long)((o->interval - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ws.refresh = i + 1;
		if (tty)
			fputs("\033[H\033[2J", stdout);
		if (!o->json)
			printf("shmring-dump --watch: refresh %" PRIu64 " every %.2f s\n\n", i + 1, o->interval);
		watch_pass(&ws, true);
		fflush(stdout);
	}
	free(ws.w);
	return DUMP_EXIT_OK;
}

/* ---- --size --------------------------------------------------------- */

/* "4096", "512K", "1M", "2^19": a count; -1 if it is none. */
static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (end[0] == '^' && v == 2) {
		unsigned long long e = strtoull(end + 1, &end, 10);

		if (*end || e > 62)
			return -1;
		*out = 1ull << e;
		return 0;
	}
	int shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void human(char *buf, size_t len, uint64_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static int run_size(const struct opts *o)
{
	static const uint32_t types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };
	struct shmring_params p;
	struct statvfs vfs;
	uint64_t cap, slot = 0, eps = 0;
	uint32_t type = 0;
	char h1[32], h2[32], h3[32];
	int64_t size;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(o->names[0], dump_type_name(types[i])))
			type = types[i];
	if (!type) {
		fprintf(stderr, "%s: --size: TYPE '%s' is none of spsc, mpmc, msg-spsc, msg-mpsc\n", prog,
			o->names[0]);
		return DUMP_EXIT_USAGE;
	}
	if (parse_count(o->names[1], &cap) < 0 || (o->n_names > 2 && parse_count(o->names[2], &slot) < 0) ||
	    (o->n_names > 3 && parse_count(o->names[3], &eps) < 0) || slot > UINT32_MAX ||
	    eps > UINT32_MAX) {
		fprintf(stderr, "%s: --size: CAPACITY, SLOT and ENDPOINTS are counts (4096, 512K, 2^19)\n",
			prog);
		return DUMP_EXIT_USAGE;
	}
	if (!slot && (type == SHMRING_SPSC || type == SHMRING_MPMC)) {
		fprintf(stderr, "%s: --size: a slot ring needs its SLOT size\n", prog);
		return DUMP_EXIT_USAGE;
	}
	shmring_params_init(&p, type, cap, (uint32_t)slot);
	p.max_endpoints = (uint32_t)eps;
	size = shmring_params_size(&p);
	if (size < 0) {
		fprintf(stderr, "%s: --size: %s: %s\n", prog, shmring_strerror((int)size), shmring_errdetail());
		return DUMP_EXIT_USAGE;
	}
	bool have_fs = statvfs(SHM_DIR, &vfs) == 0 && vfs.f_blocks;
	uint64_t fs = have_fs ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0;
	uint64_t fr = have_fs ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;

	if (o->json) {
		printf("{\"type\": \"%s\", \"capacity\": %" PRIu64 ", \"slot_size\": %" PRIu64
		       ", \"max_endpoints\": %" PRIu64 ", \"bytes\": %lld, \"shm_size\": %" PRIu64
		       ", \"shm_free\": %" PRIu64 ", \"fits\": %s}\n",
		       dump_type_name(type), cap, slot, eps, (long long)size, fs, fr,
		       !have_fs ? "null" : (uint64_t)size <= fr ? "true" : "false");
		return DUMP_EXIT_OK;
	}
	human(h1, sizeof(h1), (uint64_t)size);
	if (type == SHMRING_SPSC || type == SHMRING_MPMC)
		printf("%s ring of %" PRIu64 " slots x %" PRIu64 " B: %lld bytes (%s), %.1f B a slot\n",
		       dump_type_name(type), cap, slot, (long long)size, h1, (double)size / (double)cap);
	else
		printf("%s ring of %" PRIu64 " bytes of records%s: %lld bytes (%s)\n", dump_type_name(type),
		       cap, slot ? "" : " (largest message capacity / 4)", (long long)size, h1);
	if (!have_fs) {
		printf(SHM_DIR ": no size limit of its own (bounded by memory)\n");
	} else {
		human(h2, sizeof(h2), fs);
		human(h3, sizeof(h3), fr);
		printf(SHM_DIR ": %s, %s free: %s\n", h2, h3,
		       (uint64_t)size <= fr ? "it fits"
					    : "it does NOT fit (docs/sizing.md: --shm-size, emptyDir)");
	}
	return DUMP_EXIT_OK;
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
