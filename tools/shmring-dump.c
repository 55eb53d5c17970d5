/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: inspect shmring objects in /dev/shm without disturbing them.
 *
 *   shmring-dump                 list every ring
 *   shmring-dump NAME            full report of one ring (or of the ring set NAME)
 *   --set NAME                   a ring set: its members and their rings
 *   --messages N / --tail N      the next N unconsumed / last N written
 *   --watch [SECONDS]            refresh in place with rates
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
#include <time.h>
#include <unistd.h>

#include "dump.h"

#define SHM_DIR "/dev/shm"

struct opts {
	const char *name;
	uint64_t messages, tail;
	bool have_messages, have_tail, raw, json, check, recover, watch, set;
	double interval;
	uint64_t count; /* --watch refreshes; 0: until interrupted */
};

static const char *prog = "shmring-dump";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] [NAME]\n"
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
		"  -w, --watch [SECS]   refresh every SECS seconds (default 1) with rates\n"
		"  -n, --count N        with --watch: stop after N refreshes\n"
		"  -j, --json           one JSON document instead of text\n"
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
	while ((c = getopt_long(argc, argv, "m:t:rw::n:jcshV", lopts, NULL)) != -1) {
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
	if (optind < argc)
		o->name = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "%s: one NAME at most ('%s' is extra)\n", prog, argv[optind]);
		goto bad;
	}
	if (!o->name && (o->have_messages || o->have_tail || o->raw || o->recover || o->watch)) {
		fprintf(stderr, "%s: --messages, --tail, --raw, --watch and --recover need a NAME\n", prog);
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
	if (o->watch && (o->json || o->check || o->recover || o->raw || o->have_messages || o->have_tail)) {
		fprintf(stderr, "%s: --watch combines with no other mode\n", prog);
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
	if (o->count && !o->watch) {
		fprintf(stderr, "%s: --count goes with --watch\n", prog);
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

static int list_all(const struct opts *o)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir = opendir(SHM_DIR);

	if (!dir) {
		fprintf(stderr, "%s: %s: %s\n", prog, SHM_DIR, strerror(errno));
		return DUMP_EXIT_OPEN;
	}
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
	qsort(names, n, sizeof(*names), cmp_str);
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

int main(int argc, char **argv)
{
	struct opts o;

	if (parse_args(argc, argv, &o) < 0)
		return DUMP_EXIT_USAGE;
	install_sigbus();
	return o.name ? run_one(&o) : list_all(&o);
}
