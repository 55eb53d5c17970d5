/* SPDX-License-Identifier: MIT */
/*
 * A build without hwloc (src/meson.build compiles this file instead of
 * topo_hwloc.c and place_hwloc.c): every topology query says so with
 * -ENOTSUP, and a placement request for a node (already checked by
 * place.c) fails, or with FALLBACK leaves the pages where the kernel
 * puts them.
 */
#include <errno.h>

#include <shmring/topo.h>

#include "internal.h"

#define NO_HWLOC(what) shmring__fail(-ENOTSUP, "%s: shmring was built without hwloc", what)

struct shmring_topo {
	int unused;
};

int shmring_topo_available(void)
{
	return 0;
}

int shmring_topo_get(struct shmring_topo **out)
{
	(void)out;
	return NO_HWLOC("topology");
}

int shmring_topo_load_synthetic(struct shmring_topo **out, const char *desc)
{
	(void)out, (void)desc;
	return NO_HWLOC("topology");
}

int shmring_topo_load_xml(struct shmring_topo **out, const char *path)
{
	(void)out, (void)path;
	return NO_HWLOC("topology");
}

void shmring_topo_free(struct shmring_topo *t)
{
	(void)t;
}

int shmring_topo_cache_line(const struct shmring_topo *t)
{
	(void)t;
	return NO_HWLOC("cache line size");
}

int shmring_topo_cpu_count(const struct shmring_topo *t)
{
	(void)t;
	return NO_HWLOC("CPU count");
}

int shmring_topo_node_count(const struct shmring_topo *t)
{
	(void)t;
	return NO_HWLOC("node count");
}

int shmring_topo_cpus(const struct shmring_topo *t, int *cpus, size_t n)
{
	(void)t, (void)cpus, (void)n;
	return NO_HWLOC("CPU list");
}

int shmring_topo_node_cpus(const struct shmring_topo *t, int node, int *cpus, size_t n)
{
	(void)t, (void)node, (void)cpus, (void)n;
	return NO_HWLOC("node CPU list");
}

int shmring_topo_nodes(const struct shmring_topo *t, int *nodes, size_t n)
{
	(void)t, (void)nodes, (void)n;
	return NO_HWLOC("node list");
}

int shmring_topo_node_memory(const struct shmring_topo *t, int node, uint64_t *bytes)
{
	(void)t, (void)node, (void)bytes;
	return NO_HWLOC("node memory");
}

int shmring_topo_cpu_node(const struct shmring_topo *t, int cpu)
{
	(void)t, (void)cpu;
	return NO_HWLOC("CPU node");
}

int shmring_topo_node_of_cpus(const struct shmring_topo *t, const int *cpus, size_t n)
{
	(void)t, (void)cpus, (void)n;
	return NO_HWLOC("node of CPUs");
}

int shmring_topo_shared_cache(const struct shmring_topo *t, int cpu_a, int cpu_b)
{
	(void)t, (void)cpu_a, (void)cpu_b;
	return NO_HWLOC("shared cache");
}

int shmring_topo_smt_siblings(const struct shmring_topo *t, int cpu_a, int cpu_b)
{
	(void)t, (void)cpu_a, (void)cpu_b;
	return NO_HWLOC("SMT siblings");
}

int shmring_topo_pick_pair(struct shmring_topo *t, unsigned flags, int *cpu_a, int *cpu_b)
{
	(void)t, (void)flags, (void)cpu_a, (void)cpu_b;
	return NO_HWLOC("CPU pair");
}

int shmring_topo_describe(const struct shmring_topo *t, char *buf, size_t len)
{
	(void)t, (void)buf, (void)len;
	return NO_HWLOC("topology");
}

/* The node of a checked request (place.c): a NODE, NEAR or LOCAL flag is set. */
int shmring__place_node(struct shmring__place *pl, const struct shmring_params *p)
{
	uint32_t f = p->place_flags;

	if (!(f & SHMRING_PLACE_FALLBACK))
		return NO_HWLOC("placement: NUMA binding");
	shmring__place_warn(f, "NUMA binding needs hwloc, which this build lacks; pages stay where the kernel puts them");
	pl->outcome |= SHMRING_PLACE_FELL_BACK;
	pl->req_node = (f & SHMRING_PLACE_NODE) ? p->numa_node : -1;
	return 0;
}

int shmring__place_bind(struct shmring__place *pl, void *map, size_t len, uint32_t flags)
{
	(void)pl, (void)map, (void)len, (void)flags;
	return 0;
}

void shmring__place_bind_end(struct shmring__place *pl)
{
	(void)pl;
}

int shmring__place_locate(const void *map, struct shmring_placement *out)
{
	(void)map, (void)out;
	return NO_HWLOC("page location");
}
