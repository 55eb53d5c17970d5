/* SPDX-License-Identifier: MIT */
/*
 * The topology handle of an hwloc build, shared by the queries
 * (topo_hwloc.c) and the node binding of placement (place_hwloc.c).
 */
#ifndef SHMRING_TOPO_HWLOC_H
#define SHMRING_TOPO_HWLOC_H

#include <stdbool.h>

#include <hwloc.h>

#include "internal.h"

struct shmring_topo {
	hwloc_topology_t topo;
	bool process; /* the cached process topology: never freed */
	bool this_system;
};

/* The NUMA node object numbered node (OS index), NULL if none. */
SHMRING_HIDDEN hwloc_obj_t shmring__topo_node_obj(hwloc_topology_t topo, int node);

#endif
