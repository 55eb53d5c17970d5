/* SPDX-License-Identifier: MIT */
/* shmring-dump: the list of every ring and ring set in /dev/shm. */
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
	if (dump_slot_type(d->type))
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

bool ends_with(const char *s, const char *suffix)
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
int scan_shm(char ***out, size_t *count)
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

void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int list_all(const struct opts *o)
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

