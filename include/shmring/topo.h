/* SPDX-License-Identifier: MIT */
/*
 * shmring placement: where a ring's pages live and where its endpoints run.
 *
 * Three parts:
 *
 * 1. Placement requests at create time, in struct shmring_params
 *    (place_flags, numa_node, place_cpus): bind the ring's pages to a NUMA
 *    node before they are first touched, use huge pages, prefault, mlock.
 *    The request is recorded in the ring's header (place_node, place_flags,
 *    place_cpus, page_size) so that every opener and the dump tool see it.
 *
 * 2. shmring_placement_query(): what was requested, and on which NUMA
 *    nodes the ring's pages actually are.
 *
 * 3. A topology (struct shmring_topo, opaque) read through hwloc, with
 *    helpers to pick a producer/consumer pair of CPUs that share the nearest
 *    cache and to bind the calling thread to a CPU.
 *
 * All CPU numbers are the operating system's (as sched_setaffinity(2) and
 * /proc/cpuinfo use them) and all node numbers are the kernel's NUMA node
 * numbers (/sys/devices/system/node/nodeN).
 *
 * hwloc is an optional dependency. A library built without it
 * (shmring_topo_available() returns 0) answers every topology and memory
 * placement call with -ENOTSUP and a detail saying so; placement requests at
 * create fail with -ENOTSUP unless SHMRING_PLACE_FALLBACK is set. Thread
 * binding (shmring_bind_thread_*), huge pages, prefault and mlock do not
 * need hwloc.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure; shmring_errdetail() says what was wrong.
 */
#ifndef SHMRING_TOPO_H
#define SHMRING_TOPO_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shmring_params.place_flags. At most one of NODE, NEAR and LOCAL.
 * With none of them the kernel's default applies: the creator allocates
 * the pages (posix_fallocate at create) under its own memory policy, which
 * by default is its local node. Zeroed params request nothing, and
 * numa_node and place_cpus are only read with the flag that names them.
 */
#define SHMRING_PLACE_NODE 0x01u      /* bind to params.numa_node */
#define SHMRING_PLACE_NEAR 0x02u      /* bind to the node of the CPUs in params.place_cpus */
#define SHMRING_PLACE_LOCAL 0x04u     /* bind to the node the creator runs on at create */
#define SHMRING_PLACE_PREFERRED 0x08u /* prefer the node, use others when it is full (default: strict) */
#define SHMRING_PLACE_HUGE 0x10u      /* huge pages (default huge page size; anonymous rings) */
#define SHMRING_PLACE_PREFAULT 0x20u  /* map every page at create and at every attach */
#define SHMRING_PLACE_MLOCK 0x40u     /* mlock the mapping at create and at every attach */
#define SHMRING_PLACE_FALLBACK 0x80u  /* what cannot be done is skipped with a warning, not an error */
#define SHMRING_PLACE_QUIET 0x100u    /* no warning on stderr when falling back */
#define SHMRING_PLACE_ALL 0x1ffu
/* Header only (never a request): some requested placement was not done
 * and the ring fell back (SHMRING_PLACE_FALLBACK). */
#define SHMRING_PLACE_FELL_BACK 0x80000000u

/* CPUs that shmring_params.place_cpus and the header can name. */
#define SHMRING_PLACE_CPUS_MAX 256

/*
 * Placement helpers for params (no hwloc needed to fill them in; create
 * checks them):
 * shmring_params_place_node: SHMRING_PLACE_NODE on `node` (node < 0: -EINVAL).
 * shmring_params_place_near: SHMRING_PLACE_NEAR on the `n` CPUs in `cpus`;
 *   create binds to the node holding most of them (ties: the lowest node).
 *   -EINVAL for n == 0, a negative CPU or one >= SHMRING_PLACE_CPUS_MAX.
 * Both clear the other node-choosing flags and keep the remaining ones.
 */
SHMRING_API int shmring_params_place_node(struct shmring_params *p, int node);
SHMRING_API int shmring_params_place_near(struct shmring_params *p, const int *cpus, size_t n);

/*
 * Errors of shmring_create / shmring_create_anon from a placement request:
 * -EINVAL   unknown flag, several of NODE/NEAR/LOCAL, a node that does not
 *           exist, NEAR with no CPU of the topology in the set.
 * -ENOTSUP  library built without hwloc, memory binding not supported by the
 *           system, huge pages requested on a named ring (only anonymous rings
 *           take huge pages: memfd with MFD_HUGETLB), or no huge page support.
 * -ENOMEM   not enough free huge pages (vm.nr_hugepages), or mlock refused
 *           (RLIMIT_MEMLOCK); the detail says how many were needed.
 * -ENOSPC   a strict binding and the node has no room for the pages.
 * With SHMRING_PLACE_FALLBACK the ENOTSUP and ENOMEM cases (and a failed
 * binding) create the ring anyway on normal pages with the default policy,
 * print one warning on stderr (unless SHMRING_PLACE_QUIET or the environment
 * variable SHMRING_QUIET is set), leave the warning in shmring_errdetail(),
 * and record SHMRING_PLACE_FELL_BACK in the header. -EINVAL is never
 * relaxed by the fallback.
 *
 * Openers prefault and mlock when the header asks for it; there a failure
 * is a warning only and never fails the open.
 */

/* What shmring_placement_query reports. */
struct shmring_placement {
	/* from the header (as the creator recorded it) */
	int32_t req_node;      /* node asked for (resolved for NEAR and LOCAL), -1 none */
	uint32_t req_flags;    /* SHMRING_PLACE_*, SHMRING_PLACE_FELL_BACK included */
	uint64_t req_cpus[4];  /* NEAR: the CPU set (bit n: CPU n) */
	uint64_t page_size;    /* page size the layout was made for */
	/* from the system */
	uint64_t os_page_size; /* page size of the object as the kernel reports it */
	uint64_t pages;        /* pages of that size in the mapping */
	uint64_t sampled;      /* pages asked about (all, or an even sample of 1024) */
	uint64_t located;      /* sampled pages whose node the kernel reported */
	int32_t node;          /* node holding most located pages, -1 if none located */
	uint32_t node_count;   /* distinct nodes holding located pages */
	uint64_t on_node;      /* located pages on `node` */
	uint64_t node_mask;    /* bit n: some located page is on node n (n < 64) */
	uint64_t reserved[4];
};

/*
 * Fill *out for the ring `r` is attached to. The actual location is read
 * with hwloc_get_area_memlocation after mapping the sampled pages into this
 * process read-only (MADV_POPULATE_READ; it never writes to the ring, so the
 * dump tool may call it on an observer handle). Returns 0, -EINVAL (NULL or
 * closed handle), or -ENOTSUP (built without hwloc: the header part of *out
 * is still filled in, node is -1).
 */
SHMRING_API int shmring_placement_query(const struct shmring *r, struct shmring_placement *out);

/* 1 if the library was built with hwloc, else 0. */
SHMRING_API int shmring_topo_available(void);

/* A machine's topology: CPUs, caches, NUMA nodes. */
struct shmring_topo;

/*
 * This process's topology, read once (thread-safe, on first use) and kept.
 * The environment variables SHMRING_TOPO_SYNTHETIC (an hwloc synthetic
 * description) or SHMRING_TOPO_XML (an lstopo XML file) replace the real
 * machine, for tests (hwloc's own HWLOC_SYNTHETIC and HWLOC_XMLFILE do
 * too); memory binding is then not supported (-ENOTSUP).
 * Do not shmring_topo_free() it. Returns 0, -ENOTSUP (no hwloc), or the
 * error of loading it (detail says which).
 */
SHMRING_API int shmring_topo_get(struct shmring_topo **out);

/*
 * A private topology from an hwloc synthetic description such as
 * "pack:2 [numa] l3:1 core:4 pu:2", or from an XML file, for tests and for
 * planning on other machines. CPU and node numbers are hwloc's (0..n-1 in
 * order for synthetic ones). Free it with shmring_topo_free().
 * Returns 0, -EINVAL (bad description or file), -ENOMEM, -ENOTSUP.
 */
SHMRING_API int shmring_topo_load_synthetic(struct shmring_topo **out, const char *desc);
SHMRING_API int shmring_topo_load_xml(struct shmring_topo **out, const char *path);
/* Free a topology from load_*; NULL and the process topology are ignored. */
SHMRING_API void shmring_topo_free(struct shmring_topo *t);

/*
 * Queries. `t` NULL means the process topology (shmring_topo_get).
 * Each returns a non-negative answer or -EINVAL (bad CPU or node number,
 * NULL output) / -ENOTSUP (no hwloc).
 */
/* Cache line size in bytes of the first data cache found (64 if none). */
SHMRING_API int shmring_topo_cache_line(const struct shmring_topo *t);
/* Usable CPUs (processing units) and NUMA nodes. */
SHMRING_API int shmring_topo_cpu_count(const struct shmring_topo *t);
SHMRING_API int shmring_topo_node_count(const struct shmring_topo *t);
/* Write up to `n` CPU numbers (all, or one node's) into cpus[]; returns
 * how many there are (may exceed n). */
SHMRING_API int shmring_topo_cpus(const struct shmring_topo *t, int *cpus, size_t n);
SHMRING_API int shmring_topo_node_cpus(const struct shmring_topo *t, int node, int *cpus,
				       size_t n);
/* Write up to `n` node numbers; returns how many there are. */
SHMRING_API int shmring_topo_nodes(const struct shmring_topo *t, int *nodes, size_t n);
/* Memory of a node in bytes, in *bytes. Returns 0. */
SHMRING_API int shmring_topo_node_memory(const struct shmring_topo *t, int node,
					 uint64_t *bytes);
/* Node a CPU belongs to. */
SHMRING_API int shmring_topo_cpu_node(const struct shmring_topo *t, int cpu);
/*
 * Node for a set of CPUs: the node holding most of them (ties: the lowest
 * number). CPUs the topology does not know are ignored; -EINVAL if none is
 * known or n == 0.
 */
SHMRING_API int shmring_topo_node_of_cpus(const struct shmring_topo *t, const int *cpus,
					  size_t n);
/*
 * Level (1, 2, 3, ...) of the nearest cache two CPUs share, 0 if they share
 * none. A CPU with itself gives its L1 level.
 */
SHMRING_API int shmring_topo_shared_cache(const struct shmring_topo *t, int cpu_a, int cpu_b);
/* 1 if two different CPUs are hardware threads (SMT siblings) of one core. */
SHMRING_API int shmring_topo_smt_siblings(const struct shmring_topo *t, int cpu_a, int cpu_b);

/* shmring_topo_pick_pair flags */
#define SHMRING_PAIR_SMT 0x1u      /* SMT siblings of one core may be chosen */
#define SHMRING_PAIR_AFFINITY 0x2u /* only CPUs in the calling thread's affinity (process topology) */
#define SHMRING_PAIR_ALL 0x3u

/*
 * Choose two different CPUs for a producer and a consumer: the pair that
 * shares the nearest cache (smallest level), then on one NUMA node, then
 * with the deepest common ancestor; ties go to the lowest CPU numbers.
 * SMT siblings are skipped unless SHMRING_PAIR_SMT. *cpu_a < *cpu_b.
 * Returns the level of the cache they share (0: none), or -EINVAL (unknown
 * flags, NULL), -ENOENT (fewer than two eligible CPUs), -ENOTSUP.
 * The benchmark pins its producer and consumer with this.
 */
SHMRING_API int shmring_topo_pick_pair(struct shmring_topo *t, unsigned flags, int *cpu_a,
				       int *cpu_b);

/*
 * Bind the calling thread to one CPU, or to the n CPUs in cpus[]
 * (sched_setaffinity; no hwloc needed). Returns 0, or -EINVAL (negative or
 * too large CPU, n == 0, no CPU of the set allowed to this thread), -EPERM.
 */
SHMRING_API int shmring_bind_thread_cpu(int cpu);
SHMRING_API int shmring_bind_thread_cpus(const int *cpus, size_t n);

/*
 * A one-line summary of a topology for logs and the benchmark, e.g.
 * "1 node(s), 2 core(s), 2 CPU(s), L3 32768 KiB shared by 2 CPU(s), line 64 B".
 * Returns the length snprintf would have written, or -EINVAL / -ENOTSUP.
 */
SHMRING_API int shmring_topo_describe(const struct shmring_topo *t, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_TOPO_H */
