/* SPDX-License-Identifier: MIT */
/* shmring-dump: --prom and --listen, the metrics of rings and sets in the
 * Prometheus text format. */
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

int run_prom(const struct opts *o)
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

