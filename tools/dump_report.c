/* SPDX-License-Identifier: MIT */
/* shmring-dump: the report of one ring (text, JSON, messages, --check),
 * --watch of one ring, --recover, and the report of a ring set. */
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

#include "dump_cli.h"

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

void print_check_json(FILE *f, const struct dump_ring *d)
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

double rate(uint64_t a, uint64_t b, double secs)
{
	return secs > 0 ? (double)(b - a) / secs : 0.0;
}

void print_rates(const struct dump_ring *prev, const struct dump_ring *d, double secs)
{
	uint64_t wp = prev->prod.st.wakes + prev->cons.st.wakes, wn = d->prod.st.wakes + d->cons.st.wakes;
	uint64_t sp = prev->prod.st.sleeps + prev->cons.st.sleeps, sn = d->prod.st.sleeps + d->cons.st.sleeps;
	double in = rate(prev->avail_end, d->avail_end, secs);
	double out = rate(prev->tail, d->tail, secs);
	double unit = dump_slot_type(d->type) ? (double)d->r.slot_size : 1.0;

	printf("rates over the last %.2f s:\n", secs);
	if (dump_slot_type(d->type))
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

int run_one(const struct opts *o)
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

