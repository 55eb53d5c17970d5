/* SPDX-License-Identifier: MIT */
/* Helpers for the fuzz targets: an input as a shared-memory object,
 * shmring-dump's reader on a ring. */
#ifndef SHMRING_FUZZ_COMMON_H
#define SHMRING_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dump.h"

/* A memfd of exactly `size` bytes holding `data`; -1 on failure. */
static inline int fuzz_object(const uint8_t *data, size_t size)
{
	int fd = memfd_create("shmring-fuzz", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return fd;
}

/* A message walk callback: reads every byte of the record, counts it in
 * *(uint64_t *)arg. */
static inline int fuzz_walk_msg(const struct dump_ring *d, const struct dump_msg *m, void *arg)
{
	volatile unsigned char sink = 0;

	(void)d;
	for (uint32_t i = 0; i < m->len; i++)
		sink ^= m->data[i];
	(void)sink;
	(*(uint64_t *)arg)++;
	return 0;
}

/* What shmring-dump does with a ring that dump_open_fd accepted: the
 * snapshot, --check's invariants, the message walk (up to `walk` records
 * each way) and both report writers (to /dev/null). */
static inline void fuzz_dump_ring(struct dump_ring *d, uint64_t walk)
{
	static FILE *null_out;
	uint64_t seen = 0;

	if (!null_out)
		null_out = fopen("/dev/null", "w");
	dump_snapshot(d);
	(void)dump_check(d);
	if (d->kind && d->kind->messages) {
		d->kind->messages(d, false, walk, fuzz_walk_msg, &seen);
		d->kind->messages(d, true, walk, fuzz_walk_msg, &seen);
	}
	if (null_out) {
		dump_print_text(null_out, d);
		dump_print_json(null_out, d);
	}
}

/*
 * shmring-dump's reader on descriptor fd, as the tool runs it: open (fd
 * stays the caller's), then fuzz_dump_ring on what it accepts. A refusal
 * must say why. Returns dump_open_fd's result, or 1 when fd < 0 or no
 * memory (nothing run); fd is closed.
 */
static inline int fuzz_dump_fd(int fd, const char *name, uint64_t walk)
{
	struct dump_ring *d = calloc(1, sizeof(*d));
	char why[256] = "";
	int ret = 1;

	if (d && fd >= 0) {
		ret = dump_open_fd(d, fd, name, why, sizeof(why));
		if (ret < 0 && why[0] == '\0') {
			fprintf(stderr, "%s: dump_open_fd returned %d with no reason\n", name, ret);
			abort();
		}
		if (ret == 0)
			fuzz_dump_ring(d, walk);
		dump_close(d);
	}
	free(d);
	if (fd >= 0)
		close(fd);
	return ret;
}

#endif
