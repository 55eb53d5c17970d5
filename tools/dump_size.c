/* SPDX-License-Identifier: MIT */
/* shmring-dump: --size, the bytes a ring of a given geometry takes. */
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

/* ---- --size --------------------------------------------------------- */

/* "4096", "512K", "1M", "2^19": a count; -1 if it is none. */
static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (end[0] == '^' && v == 2) {
		unsigned long long e = strtoull(end + 1, &end, 10);

		if (*end || e > 62)
			return -1;
		*out = 1ull << e;
		return 0;
	}
	int shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void human(char *buf, size_t len, uint64_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

int run_size(const struct opts *o)
{
	static const uint32_t types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC,
					  SHMRING_BROADCAST };
	struct shmring_params p;
	struct statvfs vfs;
	uint64_t cap, slot = 0, eps = 0;
	uint32_t type = 0;
	char h1[32], h2[32], h3[32];
	int64_t size;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(o->names[0], dump_type_name(types[i])))
			type = types[i];
	if (!type) {
		fprintf(stderr, "%s: --size: TYPE '%s' is none of spsc, mpmc, msg-spsc, msg-mpsc, broadcast\n", prog,
			o->names[0]);
		return DUMP_EXIT_USAGE;
	}
	if (parse_count(o->names[1], &cap) < 0 || (o->n_names > 2 && parse_count(o->names[2], &slot) < 0) ||
	    (o->n_names > 3 && parse_count(o->names[3], &eps) < 0) || slot > UINT32_MAX ||
	    eps > UINT32_MAX) {
		fprintf(stderr, "%s: --size: CAPACITY, SLOT and ENDPOINTS are counts (4096, 512K, 2^19)\n",
			prog);
		return DUMP_EXIT_USAGE;
	}
	if (!slot && dump_slot_type(type)) {
		fprintf(stderr, "%s: --size: a slot ring needs its SLOT size\n", prog);
		return DUMP_EXIT_USAGE;
	}
	shmring_params_init(&p, type, cap, (uint32_t)slot);
	p.max_endpoints = (uint32_t)eps;
	size = shmring_params_size(&p);
	if (size < 0) {
		fprintf(stderr, "%s: --size: %s: %s\n", prog, shmring_strerror((int)size), shmring_errdetail());
		return DUMP_EXIT_USAGE;
	}
	bool have_fs = statvfs(SHM_DIR, &vfs) == 0 && vfs.f_blocks;
	uint64_t fs = have_fs ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0;
	uint64_t fr = have_fs ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;

	if (o->json) {
		printf("{\"type\": \"%s\", \"capacity\": %" PRIu64 ", \"slot_size\": %" PRIu64
		       ", \"max_endpoints\": %" PRIu64 ", \"bytes\": %lld, \"shm_size\": %" PRIu64
		       ", \"shm_free\": %" PRIu64 ", \"fits\": %s}\n",
		       dump_type_name(type), cap, slot, eps, (long long)size, fs, fr,
		       !have_fs ? "null" : (uint64_t)size <= fr ? "true" : "false");
		return DUMP_EXIT_OK;
	}
	human(h1, sizeof(h1), (uint64_t)size);
	if (dump_slot_type(type))
		printf("%s ring of %" PRIu64 " slots x %" PRIu64 " B: %lld bytes (%s), %.1f B a slot\n",
		       dump_type_name(type), cap, slot, (long long)size, h1, (double)size / (double)cap);
	else
		printf("%s ring of %" PRIu64 " bytes of records%s: %lld bytes (%s)\n", dump_type_name(type),
		       cap, slot ? "" : " (largest message capacity / 4)", (long long)size, h1);
	if (!have_fs) {
		printf(SHM_DIR ": no size limit of its own (bounded by memory)\n");
	} else {
		human(h2, sizeof(h2), fs);
		human(h3, sizeof(h3), fr);
		printf(SHM_DIR ": %s, %s free: %s\n", h2, h3,
		       (uint64_t)size <= fr ? "it fits"
					    : "it does NOT fit (docs/sizing.md: --shm-size, emptyDir)");
	}
	return DUMP_EXIT_OK;
}

