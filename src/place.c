/* SPDX-License-Identifier: MIT */
/*
 * Placement of a ring's memory: the request's checks (one copy for both
 * builds, so bad input gets the same error with or without hwloc), huge
 * pages, prefault, mlock, and the report of where a ring's pages are.
 * The node binding itself is the backend's: place_hwloc.c, or
 * topo_nohwloc.c in a build without hwloc (src/meson.build picks one).
 *
 * The create path (region.c) calls, in order:
 *   shmring__place_prepare  check the request, resolve the node, page size
 *   shmring__place_huge_check  after the layout is known: enough huge pages?
 *   shmring__place_bind     after mmap, before posix_fallocate touches pages
 *   shmring__place_bind_end after posix_fallocate
 *   shmring__place_map      prefault / mlock, before the ready flag
 * and open calls shmring__place_map with the header's flags (best effort).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmring/topo.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Warnings                                                             */

/* A fallback: leave the text in errdetail and say it once on stderr. */
void shmring__place_warn(uint32_t flags, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	shmring__fail(0, "placement: %s", buf);
	if (!(flags & SHMRING_PLACE_QUIET) && !getenv("SHMRING_QUIET"))
		fprintf(stderr, "shmring: warning: placement: %s\n", buf);
}

/* ------------------------------------------------------------------ */
/* Params helpers (no hwloc needed)                                     */

#define NODE_FLAGS (SHMRING_PLACE_NODE | SHMRING_PLACE_NEAR | SHMRING_PLACE_LOCAL)

int shmring_params_place_node(struct shmring_params *p, int node)
{
	if (!p)
		return shmring__fail(-EINVAL, "params is NULL");
	if (node < 0)
		return shmring__fail(-EINVAL, "NUMA node %d is negative", node);
	p->numa_node = node;
	p->place_flags = (p->place_flags & ~NODE_FLAGS) | SHMRING_PLACE_NODE;
	return 0;
}

int shmring_params_place_near(struct shmring_params *p, const int *cpus, size_t n)
{
	uint64_t set[4] = { 0, 0, 0, 0 };

	if (!p || !cpus || n == 0)
		return shmring__fail(-EINVAL, "params or CPU list is NULL or empty");
	for (size_t i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= SHMRING_PLACE_CPUS_MAX)
			return shmring__fail(-EINVAL, "CPU %d is outside 0..%d", cpus[i],
					     SHMRING_PLACE_CPUS_MAX - 1);
		set[cpus[i] / 64] |= 1ull << (cpus[i] % 64);
	}
	memcpy(p->place_cpus, set, sizeof(set));
	p->numa_node = -1;
	p->place_flags = (p->place_flags & ~NODE_FLAGS) | SHMRING_PLACE_NEAR;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Prefault and mlock (no hwloc needed)                                 */

static int prefault(void *map, size_t len, bool write)
{
	long ps = sysconf(_SC_PAGESIZE);

#ifdef MADV_POPULATE_WRITE
	if (madvise(map, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
#endif
	/* Kernels before 5.14: read one byte of every page. */
	for (size_t off = 0; off < len; off += (size_t)ps)
		(void)__atomic_load_n((const unsigned char *)map + off, __ATOMIC_RELAXED);
	(void)write;
	return 0;
}

int shmring__place_map(void *map, size_t len, uint32_t flags, bool creating, bool writable)
{
	int ret;

	if (flags & SHMRING_PLACE_PREFAULT) {
		ret = prefault(map, len, writable);
		if (ret < 0) {
			if (creating && !(flags & SHMRING_PLACE_FALLBACK))
				return shmring__fail(ret, "placement: prefault of %zu bytes: %s", len,
						     strerror(-ret));
			shmring__place_warn(flags, "prefault of %zu bytes failed (%s); pages fault in on use",
				   len, strerror(-ret));
		}
	}
	if (flags & SHMRING_PLACE_MLOCK) {
		if (mlock(map, len) < 0) {
			int err = errno;
			struct rlimit rl = { 0, 0 };

			getrlimit(RLIMIT_MEMLOCK, &rl);
			if (creating && !(flags & SHMRING_PLACE_FALLBACK))
				return shmring__fail(err == EPERM || err == EAGAIN ? -ENOMEM : -err,
						     "placement: mlock of %zu bytes: %s (RLIMIT_MEMLOCK %llu bytes)",
						     len, strerror(err), (unsigned long long)rl.rlim_cur);
			shmring__place_warn(flags, "mlock of %zu bytes failed: %s (RLIMIT_MEMLOCK %llu bytes); not locked",
				   len, strerror(err), (unsigned long long)rl.rlim_cur);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Huge pages                                                           */

/* Default huge page size in bytes from /proc/meminfo, 0 if none. */
static uint64_t huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024u;
}

uint64_t shmring__huge_page_size(void)
{
	return huge_page_size();
}

static long long read_ll(const char *path)
{
	FILE *f = fopen(path, "re");
	long long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int shmring__place_huge_check(struct shmring__place *pl, uint64_t total_size, uint32_t flags)
{
	char path[128];
	long long total, freep, resv;
	uint64_t need;

	if (!pl->hugetlb)
		return 0;
	need = (total_size + pl->page_size - 1) / pl->page_size;
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/",
		 (unsigned long long)(pl->page_size / 1024));
	size_t base = strlen(path);

	snprintf(path + base, sizeof(path) - base, "nr_hugepages");
	total = read_ll(path);
	snprintf(path + base, sizeof(path) - base, "free_hugepages");
	freep = read_ll(path);
	snprintf(path + base, sizeof(path) - base, "resv_hugepages");
	resv = read_ll(path);
	if (freep < 0)
		return 0; /* cannot tell: memfd/mmap/fallocate will say */
	long long avail = freep - (resv > 0 ? resv : 0);

	if (avail >= 0 && (uint64_t)avail >= need)
		return 0;
	if (!(flags & SHMRING_PLACE_FALLBACK))
		return shmring__fail(-ENOMEM,
				     "placement: the ring needs %llu huge pages of %llu kB, %lld are free (vm.nr_hugepages is %lld)",
				     (unsigned long long)need, (unsigned long long)(pl->page_size / 1024),
				     avail < 0 ? 0 : avail, total);
	shmring__place_warn(flags, "%llu huge pages of %llu kB needed, %lld free (vm.nr_hugepages is %lld); using normal pages",
		   (unsigned long long)need, (unsigned long long)(pl->page_size / 1024),
		   avail < 0 ? 0 : avail, total);
	pl->hugetlb = false;
	pl->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	pl->outcome |= SHMRING_PLACE_FELL_BACK;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Placement at create                                                  */

/*
 * The request's checks come first and are the same in both builds: a
 * request that is wrong in itself is -EINVAL whether or not this build
 * can bind memory, and nothing (no warning, no fallback) happens before
 * them. What the machine can do is checked after: huge pages here, the
 * node by the backend (shmring__place_node).
 */
int shmring__place_prepare(struct shmring__place *pl, const struct shmring_params *p, bool anon)
{
	uint32_t f = p->place_flags;
	unsigned nsel = !!(f & SHMRING_PLACE_NODE) + !!(f & SHMRING_PLACE_NEAR) +
			!!(f & SHMRING_PLACE_LOCAL);
	bool near_empty = true;

	memset(pl, 0, sizeof(*pl));
	pl->node = pl->req_node = -1;
	pl->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	if (f & ~SHMRING_PLACE_ALL)
		return shmring__fail(-EINVAL, "place_flags 0x%x hold unknown bits 0x%x", f,
				     f & ~SHMRING_PLACE_ALL);
	if (nsel > 1)
		return shmring__fail(-EINVAL, "place_flags 0x%x: at most one of NODE, NEAR and LOCAL", f);
	if ((f & SHMRING_PLACE_NODE) && p->numa_node < 0)
		return shmring__fail(-EINVAL, "placement: NUMA node %d is negative", p->numa_node);
	for (size_t i = 0; i < sizeof(p->place_cpus) / sizeof(p->place_cpus[0]); i++)
		if (p->place_cpus[i])
			near_empty = false;
	if ((f & SHMRING_PLACE_NEAR) && near_empty)
		return shmring__fail(-EINVAL, "placement: NEAR with an empty place_cpus");
	if (f & SHMRING_PLACE_HUGE) {
		uint64_t hps = huge_page_size();

		if (!anon || !hps) {
			if (!(f & SHMRING_PLACE_FALLBACK))
				return shmring__fail(-ENOTSUP, "placement: %s",
						     !anon ? "huge pages need an anonymous ring (shmring_create_anon)"
							   : "this system has no huge page support");
			shmring__place_warn(f, "%s; using normal pages",
					    !anon ? "huge pages need an anonymous ring" : "no huge page support");
			pl->outcome |= SHMRING_PLACE_FELL_BACK;
		} else {
			pl->hugetlb = true;
			pl->page_size = hps;
		}
	}
	if (!nsel)
		return 0;
	return shmring__place_node(pl, p);
}

/* ------------------------------------------------------------------ */
/* Where the pages are                                                  */

int shmring_placement_query(const struct shmring *r, struct shmring_placement *out)
{
	struct stat st;

	if (!r || !r->map || !r->hdr || !out)
		return shmring__fail(-EINVAL, "handle or output is NULL, or the handle is closed");
	memset(out, 0, sizeof(*out));
	out->node = -1;
	/* The header is immutable once ready; these are reported, never used. */
	out->req_node = r->hdr->place_node;
	out->req_flags = r->hdr->place_flags;
	memcpy(out->req_cpus, r->hdr->place_cpus, sizeof(out->req_cpus));
	out->page_size = r->hdr->page_size;
	if (fstat(r->fd, &st) < 0)
		return shmring__fail(-errno, "fstat: %s", strerror(errno));
	out->os_page_size = st.st_blksize > 0 ? (uint64_t)st.st_blksize : (uint64_t)sysconf(_SC_PAGESIZE);
	if (!shmring__is_pow2(out->os_page_size))
		out->os_page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	out->pages = r->map_size / out->os_page_size;
	return shmring__place_locate(r->map, out);
}
