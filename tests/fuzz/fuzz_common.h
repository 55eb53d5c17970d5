/* SPDX-License-Identifier: MIT */
/* Helpers for the fuzz targets: an input as a shared-memory object. */
#ifndef SHMRING_FUZZ_COMMON_H
#define SHMRING_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

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

#endif
