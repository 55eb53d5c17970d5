/* SPDX-License-Identifier: MIT */
/* Write the seed corpus for the fuzz targets into a directory. */
#include <stdio.h>
#include <sys/stat.h>

#include "seeds.h"

static void write_seed(const char *name, const uint8_t *data, size_t size, void *arg)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", (const char *)arg, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	mkdir(argv[1], 0755);
	int n = fuzz_seeds(write_seed, argv[1]);

	printf("%d seeds in %s\n", n, argv[1]);
	return n > 0 ? 0 : 1;
}
