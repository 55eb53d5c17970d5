/* SPDX-License-Identifier: MIT */
/*
 * Placement's node binding through hwloc: the node of a NODE, NEAR or
 * LOCAL request (after place.c checked the request), the memory binding
 * around the pre-allocation, and where a ring's pages actually are.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <shmring/topo.h>

#include "internal.h"
#include "topo_hwloc.h"

#define SAMPLE_MAX 1024u

/* ------------------------------------------------------------------ */
/* Placement at create                                                  */

/* The node of a checked request (place.c): a NODE, NEAR or LOCAL flag is set. */
int shmring__place_node(struct shmring__place *pl, const struct shmring_params *p)
{
	uint32_t f = p->place_flags;
	struct shmring_topo *t;
	int ret;

	ret = shmring_topo_get(&t);
	if (ret < 0) {
		if (ret == -EINVAL || !(f & SHMRING_PLACE_FALLBACK))
			return shmring__fail(ret, "placement: %s", shmring_errdetail());
		shmring__place_warn(f, "%s; pages stay where the kernel puts them", shmring_errdetail());
		pl->outcome |= SHMRING_PLACE_FELL_BACK;
		pl->req_node = (f & SHMRING_PLACE_NODE) ? p->numa_node : -1;
		return 0;
	}
	if (f & SHMRING_PLACE_NODE) {
		if (!shmring__topo_node_obj(t->topo, p->numa_node))
			return shmring__fail(-EINVAL, "placement: NUMA node %d does not exist (%d node(s))",
					     p->numa_node, shmring_topo_node_count(t));
		pl->node = pl->req_node = p->numa_node;
	} else if (f & SHMRING_PLACE_NEAR) {
		int cpus[SHMRING_PLACE_CPUS_MAX];
		size_t n = 0;

		for (int c = 0; c < SHMRING_PLACE_CPUS_MAX; c++)
			if (p->place_cpus[c / 64] & (1ull << (c % 64)))
				cpus[n++] = c;
		ret = shmring_topo_node_of_cpus(t, cpus, n);
		if (ret < 0)
			return ret;
		pl->node = pl->req_node = ret;
	} else {
		int cpu = sched_getcpu();

		if (cpu < 0 || (ret = shmring_topo_cpu_node(t, cpu)) < 0) {
			if (!(f & SHMRING_PLACE_FALLBACK))
				return shmring__fail(-ENOTSUP, "placement: the creator's node is unknown (CPU %d)",
						     cpu);
			shmring__place_warn(f, "the creator's node is unknown (CPU %d)", cpu);
			pl->outcome |= SHMRING_PLACE_FELL_BACK;
			return 0;
		}
		pl->node = pl->req_node = ret;
	}
	return 0;
}

/*
 * Thread memory policy around the pre-allocation of a hugetlb object:
 * hugetlbfs allocates fallocate()d pages by the file's policy or else the
 * task's, not by the mapping's (mbind), so the creator's thread policy is
 * set for the duration and restored exactly (raw syscalls keep mode flags).
 */
#define SAVED_NODES 4096
struct saved_policy {
	int mode;
	unsigned long mask[SAVED_NODES / (8 * sizeof(unsigned long))];
};

int shmring__place_bind(struct shmring__place *pl, void *map, size_t len, uint32_t flags)
{
	struct shmring_topo *t;
	hwloc_bitmap_t ns;
	int pol = HWLOC_MEMBIND_BIND;
	int hf = HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_NOCPUBIND |
		 (flags & SHMRING_PLACE_PREFERRED ? 0 : HWLOC_MEMBIND_STRICT);
	int err = 0;
	const char *what = "";

	if (pl->node < 0 || shmring_topo_get(&t) < 0)
		return 0; /* nothing to bind, or prepare already fell back */
	ns = hwloc_bitmap_alloc();
	if (!ns)
		return shmring__fail(-ENOMEM, "nodeset");
	hwloc_bitmap_only(ns, (unsigned)pl->node);
	if (!t->this_system) {
		err = ENOSYS;
		what = "the topology is not this machine's";
	} else if (hwloc_set_area_membind(t->topo, map, len, ns, (hwloc_membind_policy_t)pol, hf) < 0) {
		err = errno;
		what = "hwloc_set_area_membind";
	} else if (pl->hugetlb) {
		struct saved_policy *sp = calloc(1, sizeof(*sp));

		if (!sp) {
			hwloc_bitmap_free(ns);
			return shmring__fail(-ENOMEM, "saved policy");
		}
		if (syscall(SYS_get_mempolicy, &sp->mode, sp->mask, (unsigned long)SAVED_NODES, NULL,
			    0UL) < 0) {
			err = errno;
			what = "get_mempolicy";
			free(sp);
		} else if (hwloc_set_membind(t->topo, ns, (hwloc_membind_policy_t)pol,
					     hf | HWLOC_MEMBIND_THREAD) < 0) {
			err = errno;
			what = "hwloc_set_membind (thread)";
			free(sp);
		} else {
			pl->saved = sp;
		}
	}
	hwloc_bitmap_free(ns);
	if (!err)
		return 0;
	int code = err == ENOSYS || err == EXDEV || err == EOPNOTSUPP ? -ENOTSUP : -err;

	if (!(flags & SHMRING_PLACE_FALLBACK))
		return shmring__fail(code, "placement: binding to NUMA node %d: %s: %s", pl->node,
				     what, strerror(err));
	shmring__place_warn(flags, "binding to NUMA node %d failed (%s: %s); pages stay where the kernel puts them",
		   pl->node, what, strerror(err));
	pl->outcome |= SHMRING_PLACE_FELL_BACK;
	return 0;
}

void shmring__place_bind_end(struct shmring__place *pl)
{
	struct saved_policy *sp = pl->saved;

	if (!sp)
		return;
	syscall(SYS_set_mempolicy, sp->mode, sp->mask, (unsigned long)SAVED_NODES);
	free(sp);
	pl->saved = NULL;
}

/* ------------------------------------------------------------------ */
/* Where the pages are                                                  */

static int locate(hwloc_topology_t topo, const unsigned char *map, uint64_t pages, uint64_t ps,
		  struct shmring_placement *out)
{
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	int maxnode = hwloc_bitmap_last(hwloc_topology_get_topology_nodeset(topo));
	uint64_t *count;

	if (!set)
		return shmring__fail(-ENOMEM, "nodeset");
	if (maxnode < 0)
		maxnode = 0;
	count = calloc((size_t)maxnode + 1, sizeof(*count));
	if (!count) {
		hwloc_bitmap_free(set);
		return shmring__fail(-ENOMEM, "node counters");
	}
	out->sampled = pages < SAMPLE_MAX ? pages : SAMPLE_MAX;
	for (uint64_t i = 0; i < out->sampled; i++) {
		const unsigned char *a = map + (i * pages / out->sampled) * ps;

		/* Map the page into this process (read-only) so the kernel
		 * can say where it is; never write, and never read either: a
		 * page a peer truncated away must not raise SIGBUS here (the
		 * madvise fails with EFAULT instead). Before Linux 5.14 there is
		 * no MADV_POPULATE_READ and only pages this process already
		 * maps are located. */
#ifdef MADV_POPULATE_READ
		if (madvise((void *)(uintptr_t)a, ps, MADV_POPULATE_READ) < 0 && errno != EINVAL)
			continue;
#endif
		hwloc_bitmap_zero(set);
		if (hwloc_get_area_memlocation(topo, a, ps, set, HWLOC_MEMBIND_BYNODESET) < 0) {
			int err = errno;

			free(count);
			hwloc_bitmap_free(set);
			return shmring__fail(err == ENOSYS ? -ENOTSUP : -err,
					     "hwloc_get_area_memlocation: %s", strerror(err));
		}
		int nd = hwloc_bitmap_first(set);

		if (nd < 0)
			continue;
		out->located++;
		if (nd <= maxnode)
			count[nd]++;
		if (nd < 64)
			out->node_mask |= 1ull << nd;
	}
	for (int nd = 0; nd <= maxnode; nd++) {
		if (!count[nd])
			continue;
		out->node_count++;
		if (count[nd] > out->on_node) {
			out->on_node = count[nd];
			out->node = nd;
		}
	}
	free(count);
	hwloc_bitmap_free(set);
	return 0;
}

int shmring__place_locate(const void *map, struct shmring_placement *out)
{
	struct shmring_topo *t;
	int ret = shmring_topo_get(&t);

	if (ret < 0)
		return ret;
	if (!t->this_system)
		return shmring__fail(-ENOTSUP, "page location: the topology is not this machine's");
	return locate(t->topo, (const unsigned char *)map, out->pages, out->os_page_size, out);
}
