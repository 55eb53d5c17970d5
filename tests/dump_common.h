/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the shmring-dump tests: run the real binary (its path comes
 * from meson in SHMRING_DUMP) with stdout and stderr captured, ask a real
 * JSON parser (python3) about its output, and poke at objects directly.
 */
#ifndef SHMRING_TESTS_DUMP_COMMON_H
#define SHMRING_TESTS_DUMP_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

struct t_run {
	int rc; /* exit status, or 128 + signal */
	char *out, *err;
	size_t out_len;
};

static inline char *t_slurp(int fd, size_t *len)
{
	struct stat st;
	char *buf;

	cr_assert(fstat(fd, &st) == 0);
	buf = (char *)malloc((size_t)st.st_size + 1);
	cr_assert(buf);
	cr_assert(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	buf[st.st_size] = '\0';
	if (len)
		*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

/* Run `prog` with argv (NULL-terminated, argv[0] included); stdin from
 * `in` (NULL: /dev/null). */
static inline struct t_run t_exec(const char *const *argv, const char *in)
{
	int fo = memfd_create("out", MFD_CLOEXEC), fe = memfd_create("err", MFD_CLOEXEC);
	int fi = memfd_create("in", MFD_CLOEXEC);
	struct t_run r;
	int st;

	cr_assert(fo >= 0 && fe >= 0 && fi >= 0);
	if (in)
		cr_assert(write(fi, in, strlen(in)) == (ssize_t)strlen(in));
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		lseek(fi, 0, SEEK_SET);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fi);
	cr_assert(waitpid(pid, &st, 0) == pid);
	r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = t_slurp(fo, &r.out_len);
	r.err = t_slurp(fe, NULL);
	return r;
}

static inline void t_run_free(struct t_run *r)
{
	free(r->out);
	free(r->err);
}

static inline const char *t_dump_path(void)
{
	const char *p = getenv("SHMRING_DUMP");

	cr_assert(p && *p, "SHMRING_DUMP (the shmring-dump binary) is not set");
	return p;
}

/* shmring-dump with up to 8 arguments, NULL-terminated. */
static inline struct t_run t_dump(const char *a0, ...)
{
	const char *argv[10];
	va_list ap;
	int n = 0;

	argv[n++] = t_dump_path();
	va_start(ap, a0);
	for (const char *a = a0; a && n < 9; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return t_exec(argv, NULL);
}

/*
 * Evaluate a Python expression over the parsed document `d` and return
 * what it prints (malloc'd, trailing newline removed); NULL when the
 * document is not valid JSON (the parser's exit status is non-zero).
 */
static inline char *t_json(const char *json, const char *expr)
{
	char prog[1024];
	struct t_run r;

	snprintf(prog, sizeof(prog), "import json,sys\nd=json.load(sys.stdin)\nprint(%s)", expr);
	const char *argv[] = { "python3", "-c", prog, NULL };

	r = t_exec(argv, json);
	if (r.rc != 0) {
		fprintf(stderr, "json check failed (%s): %s\n", expr, r.err);
		t_run_free(&r);
		return NULL;
	}
	size_t n = strlen(r.out);

	if (n && r.out[n - 1] == '\n')
		r.out[n - 1] = '\0';
	free(r.err);
	return r.out;
}

/* Assert that t_json(json, expr) prints `want`. */
#define t_json_eq(json, expr, want)                                                                \
	do {                                                                                       \
		char *got_ = t_json((json), (expr));                                                \
		cr_assert(got_, "not valid JSON or no %s:\n%s", (expr), (json));                   \
		cr_assert_str_eq(got_, (want), "%s: got %s, want %s", (expr), got_, (want));           \
		free(got_);                                                                        \
	} while (0)

/* The whole object, read through the file (not a mapping). */
static inline unsigned char *t_object_bytes(const char *name, size_t *len)
{
	int fd = shm_open(name, O_RDONLY, 0);

	cr_assert(fd >= 0, "shm_open %s: %s", name, strerror(errno));
	return (unsigned char *)t_slurp(fd, len);
}

/* A writable mapping of the whole object, as a hostile peer would have. */
static inline unsigned char *t_map_rw(const char *name, size_t *len)
{
	int fd = shm_open(name, O_RDWR, 0);
	struct stat st;

	cr_assert(fd >= 0);
	cr_assert(fstat(fd, &st) == 0);
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	cr_assert(p != MAP_FAILED);
	close(fd);
	*len = (size_t)st.st_size;
	return (unsigned char *)p;
}

#endif
