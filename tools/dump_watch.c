/* SPDX-License-Identifier: MIT */
/* shmring-dump: --watch of several rings, or with --json (one line a ring). */
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

int watch_many(const struct opts *o)
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

