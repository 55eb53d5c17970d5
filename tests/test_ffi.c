/* SPDX-License-Identifier: MIT */
/*
 * Every public inline function (SHMRING_INLINE, SHMRING_FORCE_INLINE) of
 * every public header is also an exported symbol of libshmring.so
 * (src/ffi.c), so bindings and dlsym users can call the fast path
 * (functions that exist only in some configurations, inside an #if, are
 * not required; internal ones, named with the `__` marker, are not
 * exported: tests/check_symbols.py holds that line). The test reads the
 * headers for the names (comments stripped), dlopen()s the shared library
 * the build made, finds each one with dlsym, and drives a ring through the
 * symbols, mixed with the inline
 * versions on the same ring.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <string.h>

#include "common.h"

#ifndef SHMRING_LIB_PATH
#error "SHMRING_LIB_PATH: the shared library's path (tests/meson.build)"
#endif

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	long n;

	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);

	cr_assert_not_null(s);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Blank out comments, keeping the length. */
static void strip_comments(char *s)
{
	for (char *p = s; *p; p++) {
		if (p[0] == '/' && p[1] == '*') {
			char *e = strstr(p + 2, "*/");
			char *end = e ? e + 2 : p + strlen(p);

			memset(p, ' ', (size_t)(end - p));
			p = end - 1;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				*p++ = ' ';
			if (!*p)
				break;
		}
	}
}

/* Depth of preprocessor conditionals at offset `at` (the include guard
 * counts as one). */
static int cond_depth(const char *s, const char *at)
{
	int depth = 0;

	for (const char *line = s; line && line < at; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '#')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncmp(p, "if", 2))
			depth++;
		else if (!strncmp(p, "endif", 5))
			depth--;
	}
	return depth;
}

/*
 * The function names declared SHMRING_INLINE or SHMRING_FORCE_INLINE in
 * one header, outside any conditional other than the include guard (a
 * function that exists only in some configurations, such as a sanitizer
 * build, is not required).
 */
static int inline_names(const char *path, char names[][96], int max)
{
	char *s = slurp(path);
	int n = 0;

	strip_comments(s);
	for (char *p = s; (p = strstr(p, "INLINE")) != NULL; p += 6) {
		/* SHMRING_INLINE or SHMRING_FORCE_INLINE, as a whole word. */
		char *m = p - (p - s >= 6 && strncmp(p - 6, "FORCE_", 6) == 0 ? 6 : 0);

		if (m - s < 8 || strncmp(m - 8, "SHMRING_", 8) != 0 ||
		    isalnum((unsigned char)p[6]) || p[6] == '_')
			continue;
		/* Skip the macro's own definition or tests of it. */
		char *line = p;

		while (line > s && line[-1] != '\n')
			line--;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || cond_depth(s, p) > 1)
			continue;
		/* The name: the first lowercase shmring_ identifier followed by
		 * '(' before the body or the end of the declaration. */
		char *stop = p + strcspn(p, "{;");
		char *q = p + 6;
		char *found = NULL;

		while ((q = strstr(q, "shmring_")) != NULL && q < stop) {
			char *e = q;

			while (isalnum((unsigned char)*e) || *e == '_')
				e++;
			char *f = e;

			while (isspace((unsigned char)*f))
				f++;
			if (*f == '(' && (q == s || !(isalnum((unsigned char)q[-1]) || q[-1] == '_'))) {
				found = q;
				cr_assert_lt(n, max);
				cr_assert_lt((size_t)(e - q), sizeof(names[0]));
				memcpy(names[n], q, (size_t)(e - q));
				names[n][e - q] = '\0';
				n++;
				break;
			}
			q = e;
		}
		cr_assert_not_null(found, "%s: SHMRING_INLINE without a function name near '%.60s'", path, p);
	}
	free(s);
	return n;
}

Test(ffi, every_inline_is_exported)
{
	static const char *headers[] = { SHMRING_PUBLIC_HEADERS };
	static char names[512][96];
	void *lib = dlopen(SHMRING_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
	int total = 0;

	cr_assert_not_null(lib, "dlopen %s: %s", SHMRING_LIB_PATH, dlerror());
	for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
		char path[1024];

		snprintf(path, sizeof(path), "%s/%s", SHMRING_INCLUDE_DIR, headers[h]);
		int n = inline_names(path, names + total, 512 - total);

		for (int i = total; i < total + n; i++) {
			if (strstr(names[i], "__"))
				continue; /* internal: not ABI */

			void *sym = dlsym(lib, names[i]);
			Dl_info info;

			cr_assert_not_null(sym, "%s (%s) is not exported by libshmring.so", names[i],
					   headers[h]);
			cr_assert(dladdr(sym, &info) && strstr(info.dli_fname, "libshmring.so"),
				  "%s resolves outside libshmring.so", names[i]);
		}
		total += n;
	}
	/* The SPSC fast path alone has more than a dozen. */
	cr_assert_gt(total, 12, "only %d inline functions found", total);
	dlclose(lib);
}

Test(ffi, ring_through_symbols)
{
	void *lib = dlopen(SHMRING_LIB_PATH, RTLD_NOW | RTLD_LOCAL);

	cr_assert_not_null(lib, "%s", dlerror());
	int (*create_anon)(struct shmring *, const struct shmring_params *, uint32_t);
	int (*dup)(struct shmring *, const struct shmring *, uint32_t);
	int (*close_)(struct shmring *);
	void (*params_init)(struct shmring_params *, uint32_t, uint64_t, uint32_t);
	int (*try_push)(struct shmring *, const void *);
	int (*try_pop)(struct shmring *, void *);
	int64_t (*push_burst)(struct shmring *, const void *, uint64_t);
	int64_t (*pop_burst)(struct shmring *, void *, uint64_t);

	*(void **)&create_anon = dlsym(lib, "shmring_create_anon");
	*(void **)&dup = dlsym(lib, "shmring_dup");
	*(void **)&close_ = dlsym(lib, "shmring_close");
	*(void **)&params_init = dlsym(lib, "shmring_params_init");
	*(void **)&try_push = dlsym(lib, "shmring_spsc_try_push");
	*(void **)&try_pop = dlsym(lib, "shmring_spsc_try_pop");
	*(void **)&push_burst = dlsym(lib, "shmring_spsc_push_burst");
	*(void **)&pop_burst = dlsym(lib, "shmring_spsc_pop_burst");
	cr_assert(create_anon && dup && close_ && params_init && try_push && try_pop && push_burst &&
		  pop_burst);

	struct shmring p, c;
	struct shmring_params prm;
	uint64_t v, in[4] = { 10, 11, 12, 13 }, out[4] = { 0 };

	params_init(&prm, SHMRING_SPSC, 4, 8);
	cr_assert_eq(create_anon(&p, &prm, SHMRING_PRODUCER), 0);
	cr_assert_eq(dup(&c, &p, SHMRING_CONSUMER), 0);
	cr_assert_eq(try_pop(&c, &v), -EAGAIN);
	/* Symbol pushes, inline pops, and the other way round. */
	for (uint64_t i = 0; i < 4; i++) {
		v = i;
		cr_assert_eq(try_push(&p, &v), 0);
	}
	v = 4;
	cr_assert_eq(try_push(&p, &v), -EAGAIN);
	for (uint64_t i = 0; i < 4; i++) {
		cr_assert_eq(shmring_spsc_try_pop(&c, &v), 0);
		cr_assert_eq(v, i);
	}
	cr_assert_eq(shmring_spsc_push_burst(&p, in, 4), 4);
	cr_assert_eq(pop_burst(&c, out, 4), 4);
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
	cr_assert_eq(push_burst(&p, in, 3), 3);
	cr_assert_eq(try_pop(&c, &v), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(shmring_spsc_pop_burst(&c, out, 4), 2);
	cr_assert_eq(out[0], 11);
	cr_assert_eq(out[1], 12);
	cr_assert_eq(close_(&c), 0);
	cr_assert_eq(close_(&p), 0);
	dlclose(lib);
}
