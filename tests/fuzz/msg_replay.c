/* SPDX-License-Identifier: MIT */
/*
 * Replay driver for msg_fuzz in builds without libFuzzer: runs every file
 * named (or every file in every directory named), then a fixed series of
 * pseudo-random programs (-n COUNT, default 2000; the same in every run).
 * Exit 0 when all ran (a bad result aborts).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replay_file.h"

void msg_fuzz_stats(FILE *f);

static int run_path(const char *path, unsigned *files)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*files)++;
		return run_file(path);
	}
	DIR *d = opendir(path);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (run_path(p, files) < 0)
			ret = -1;
	}
	closedir(d);
	return ret;
}

static uint64_t next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int main(int argc, char **argv)
{
	unsigned count = 2000, files = 0;
	uint64_t s = 0x6d73675f66757a7aull;
	uint8_t buf[1024];
	int ret = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (run_path(argv[i], &files) < 0)
			ret = 1;
	}
	for (unsigned k = 0; k < count; k++) {
		size_t n = (size_t)(next(&s) % sizeof(buf));

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)next(&s);
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("msg_fuzz replay: %u files, %u generated programs; outcomes:\n", files, count);
	msg_fuzz_stats(stdout);
	return ret;
}
