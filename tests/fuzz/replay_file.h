/* SPDX-License-Identifier: MIT */
/* Shared by the replay drivers (replay_main.c, msg_replay.c): one input
 * file fed to LLVMFuzzerTestOneInput. */
#ifndef SHMRING_FUZZ_REPLAY_FILE_H
#define SHMRING_FUZZ_REPLAY_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file at `path` and runs it once: 0, or -1 (said on
 * stderr) when it cannot be opened or read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f || fstat(fileno(f), &st) < 0) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "%s: read failed\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
	free(buf);
	return 0;
}

#endif
