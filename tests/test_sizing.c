/* SPDX-License-Identifier: MIT */
/*
 * shmring_params_size: the size create makes, for every kind and several
 * geometries (checked against fstat of the created object), bad params
 * refused; and the detail of a create that finds no room in /dev/shm.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include "common.h"
#include <criterion/new/assert.h>
#include "../src/internal.h"

static void size_matches(uint32_t type, uint64_t capacity, uint32_t slot, uint32_t max_eps)
{
	const char *name = t_name("size");
	struct shmring_params p;
	struct shmring r;
	struct stat sb;
	int64_t want;

	shmring_params_init(&p, type, capacity, slot);
	p.max_endpoints = max_eps;
	want = shmring_params_size(&p);
	cr_assert(want > 0, "type %u, %llu x %u: %s", type, (unsigned long long)capacity, slot,
		  shmring_errdetail());
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_ROLE_NONE), 0), "%s", shmring_errdetail());
	cr_assert(fstat(shmring_fd(&r), &sb) == 0);
	cr_assert(eq(i64, want, (int64_t)sb.st_size), "type %u, %llu x %u, %u endpoints", type,
		  (unsigned long long)capacity, slot, max_eps);
	cr_assert(eq(u64, (uint64_t)want, (uint64_t)r.map_size));
	shmring_close(&r);
	shmring_unlink(name);
	/* The anonymous ring of the same params is the same size. */
	cr_assert(eq(int, shmring_create_anon(&r, &p, SHMRING_ROLE_NONE), 0));
	cr_assert(fstat(shmring_fd(&r), &sb) == 0);
	cr_assert(eq(i64, want, (int64_t)sb.st_size));
	shmring_close(&r);
}

Test(sizing, matches_create, .timeout = 60)
{
	static const uint32_t slots[] = { 1, 8, 24, 56, 57, 64, 100, 1000 };
	static const uint64_t caps[] = { 1, 2, 64, 4096, 1u << 14 };

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		for (size_t j = 0; j < sizeof(caps) / sizeof(caps[0]); j++) {
			size_matches(SHMRING_SPSC, caps[j], slots[i], 0);
			size_matches(SHMRING_MPMC, caps[j], slots[i], 0);
		}
	}
	size_matches(SHMRING_MPMC, 1024, 64, 1);
	size_matches(SHMRING_MPMC, 1024, 64, 200);
	size_matches(SHMRING_MPMC, 1024, 64, 4000);
	static const uint64_t mcaps[] = { 64, 4096, 1u << 16, 1u << 20 };

	for (size_t j = 0; j < sizeof(mcaps) / sizeof(mcaps[0]); j++) {
		size_matches(SHMRING_MSG_SPSC, mcaps[j], 0, 0);
		size_matches(SHMRING_MSG_MPSC, mcaps[j], 0, 0);
		size_matches(SHMRING_MSG_SPSC, mcaps[j], 16, 0);
		size_matches(SHMRING_MSG_MPSC, mcaps[j], 16, 300);
	}
}

/* The table in docs/sizing.md, computed: 2^19 slots of 64 B. */
Test(sizing, large_without_creating, .timeout = 10)
{
	struct shmring_params p;
	long page = sysconf(_SC_PAGESIZE);

	shmring_params_init(&p, SHMRING_SPSC, 1u << 19, 64);
	/* header page, control blocks and 2 endpoint entries (6400 bytes)
	 * rounded to a page, then 2^19 slots of 72 B (8-byte sequence word
	 * + 64, packed: SPSC); MPMC rounds the slot to 128 B. */
	uint64_t head = (6400 + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;

	cr_assert(eq(i64, shmring_params_size(&p), (int64_t)(head + (1ull << 19) * 72)));
	shmring_params_init(&p, SHMRING_MPMC, 1u << 19, 64);
	cr_assert(shmring_params_size(&p) > (int64_t)((1ull << 19) * 128));
	cr_assert(shmring_params_size(&p) < (int64_t)((1ull << 19) * 128 + 64 * page));
	shmring_params_init(&p, SHMRING_MSG_MPSC, 1ull << 30, 0);
	int64_t n = shmring_params_size(&p);

	cr_assert(n > (int64_t)(1ull << 30) && n < (int64_t)(1ull << 30) + 64 * page, "%lld", (long long)n);
}

Test(sizing, bad_params, .timeout = 10)
{
	struct shmring_params p;

	cr_assert(eq(i64, shmring_params_size(NULL), -EINVAL));
	cr_assert(shmring_errdetail()[0] != 0);
	shmring_params_init(&p, SHMRING_SPSC, 100, 8);
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL));
	cr_assert(strstr(shmring_errdetail(), "power of two") != NULL, "%s", shmring_errdetail());
	shmring_params_init(&p, SHMRING_SPSC, 64, 0);
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL), "slot size 0");
	shmring_params_init(&p, SHMRING_SPSC, 64, SHMRING_SLOT_MAX + 1);
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL));
	shmring_params_init(&p, 99, 64, 8);
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL));
	shmring_params_init(&p, SHMRING_SPSC, 64, 8);
	p.flags = SHMRING_F_SOLO;
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL), "SOLO is for MPMC rings");
	p.flags = 0x100;
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL));
	p.flags = 0;
	p.place_flags = 0x80000000u;
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL));
	shmring_params_init(&p, SHMRING_MPMC, 64, 8);
	p.max_endpoints = SHMRING_EP_MAX;
	cr_assert(eq(i64, shmring_params_size(&p), -EINVAL), "table larger than an opener accepts");
}

/* The text of the detail itself. */
Test(sizing, nospace_text, .timeout = 10)
{
	char buf[256];
	int n = shmring__nospace_text(buf, sizeof(buf), "pre-allocating", ENOSPC, 128ull << 20,
				      "/dev/shm", 64ull << 20, 3ull << 19);

	cr_assert(n > 0 && (size_t)n < sizeof(buf), "%d: the detail fits", n);
	cr_assert(strstr(buf, "pre-allocating 134217728 bytes") != NULL, "%s", buf);
	cr_assert(strstr(buf, strerror(ENOSPC)) != NULL, "%s", buf);
	cr_assert(strstr(buf, "/dev/shm is 64.0 MiB, 1.5 MiB free") != NULL, "%s", buf);
	cr_assert(strstr(buf, "needs 128.0 MiB") != NULL, "%s", buf);
	cr_assert(strstr(buf, "--shm-size") != NULL, "%s", buf);
	n = shmring__nospace_text(buf, sizeof(buf), "ftruncate to", ENOSPC, 4096, "shared memory (memfd)",
				  0, 0);
	cr_assert(strstr(buf, "no size limit") != NULL, "%s", buf);
	cr_assert(strstr(buf, "needs 4.0 KiB") != NULL, "%s", buf);
	/* The longest name and sizes still fit the 256-byte detail. */
	n = shmring__nospace_text(buf, sizeof(buf), "pre-allocating", ENOSPC, UINT64_MAX, "/dev/shm",
				  UINT64_MAX, UINT64_MAX);
	cr_assert(n > 0 && (size_t)n < sizeof(buf), "%d bytes: %s", n, buf);
}

/*
 * A ring larger than /dev/shm itself: tmpfs refuses such a pre-allocation
 * at once (it checks the length against the file system's size before it
 * allocates a page), so this fills nothing. Skipped where /dev/shm has no
 * size limit (then the kernel would allocate until memory ran out), or
 * that is not a tmpfs.
 */
Test(sizing, nospace_detail, .timeout = 30)
{
	const char *name = t_name("nospace");
	struct statvfs vfs;
	struct shmring_params p;
	struct shmring r;
	char path[128];

	struct statfs fsb;

	cr_assert(statvfs("/dev/shm", &vfs) == 0 && statfs("/dev/shm", &fsb) == 0);
	if (fsb.f_type != TMPFS_MAGIC) {
		cr_skip_test("/dev/shm is not a tmpfs: its pre-allocation may not refuse at once");
		return;
	}
	if (vfs.f_blocks == 0) {
		cr_skip_test("/dev/shm has no size limit");
		return;
	}
	uint64_t fs = (uint64_t)vfs.f_blocks * vfs.f_frsize, cap = 1;

	while (cap * 64 <= fs)
		cap <<= 1;
	shmring_params_init(&p, SHMRING_SPSC, cap, 56); /* 64-byte stride */
	int64_t need = shmring_params_size(&p);
	char want[64];

	cr_assert(need > (int64_t)fs);
	snprintf(want, sizeof(want), "%lld bytes", (long long)need);
	cr_assert(eq(int, shmring_create(&r, name, &p, SHMRING_PRODUCER), -ENOSPC), "%s",
		  shmring_errdetail());
	const char *d = shmring_errdetail();

	cr_assert(strstr(d, "/dev/shm is ") != NULL, "%s", d);
	cr_assert(strstr(d, " free") != NULL, "%s", d);
	cr_assert(strstr(d, want) != NULL, "%s (want %s)", d, want);
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	cr_assert(access(path, F_OK) != 0, "a failed create leaves no name");
}
