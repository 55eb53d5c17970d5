/* SPDX-License-Identifier: MIT */
/*
 * Replay driver for the fuzz targets in builds without libFuzzer: runs
 * LLVMFuzzerTestOneInput on every file named, or every file in every
 * directory named. Exit 0 when all ran (a bad input aborts).
 *
 * "-g" also generates the seed rings in process and runs each of them
 * with deterministic damage: truncated and extended, every header byte
 * flipped, control-block words and slot sequence words overwritten.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "seeds.h"
#include "replay_file.h"

static unsigned generated;

static void run_damaged(const char *name, const uint8_t *data, size_t size, void *arg)
{
	uint8_t *buf = malloc(size + 4096);
	static const size_t cuts[] = { 0, 1, 383, 4095, 4096, 6143, 8191 };

	(void)name;
	(void)arg;
	if (!buf)
		abort();
	memcpy(buf, data, size);
	LLVMFuzzerTestOneInput(buf, size);
	generated++;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] < size) {
			LLVMFuzzerTestOneInput(buf, cuts[i]);
			generated++;
		}
	}
	LLVMFuzzerTestOneInput(buf, size - 1);
	memset(buf + size, 0, 4096);
	LLVMFuzzerTestOneInput(buf, size + 4096);
	generated += 2;
	/* Every byte of the header, flipped. */
	for (size_t off = 0; off < 384 && off < size; off++) {
		buf[off] ^= 0xff;
		LLVMFuzzerTestOneInput(buf, size);
		buf[off] ^= 0xff;
		generated++;
	}
	/* Control-block, endpoint and data words: garbage, near-wrap values. */
	static const uint64_t vals[] = { 0, 1, 0x8000000000000000ull, UINT64_MAX, 0x0123456789abcdefull };
	for (size_t off = 4096; off + 8 <= size && off < 4096 + 2048 + 256 + 256; off += 8) {
		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			uint64_t old;

			memcpy(&old, buf + off, 8);
			memcpy(buf + off, &vals[v], 8);
			LLVMFuzzerTestOneInput(buf, size);
			memcpy(buf + off, &old, 8);
			generated++;
		}
	}
	/* The first slots' sequence words and lengths. */
	uint64_t data_off = 0;

	if (size >= 80)
		memcpy(&data_off, buf + 72, 8);
	for (size_t off = data_off; data_off && off + 8 <= size && off < data_off + 512; off += 8) {
		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			uint64_t old;

			memcpy(&old, buf + off, 8);
			memcpy(buf + off, &vals[v], 8);
			LLVMFuzzerTestOneInput(buf, size);
			memcpy(buf + off, &old, 8);
			generated++;
		}
	}
	free(buf);
}

int main(int argc, char **argv)
{
	unsigned files = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (!strcmp(argv[i], "-g")) {
			int n = fuzz_seeds(run_damaged, NULL);

			if (n <= 0) {
				fprintf(stderr, "no seed rings could be built\n");
				return 1;
			}
			printf("%d seed rings, %u damaged variants\n", n, generated);
			files += (unsigned)n;
			continue;
		}

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (run_file(path) < 0) {
				closedir(d);
				return 1;
			}
			files++;
		}
		closedir(d);
	}
	printf("replayed %u inputs\n", files);
	return files ? 0 : 1;
}
