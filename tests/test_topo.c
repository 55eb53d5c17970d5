/* SPDX-License-Identifier: MIT */
/*
 * Placement decisions on hwloc synthetic topologies: the CPU pair chosen,
 * the node chosen for a CPU set, cache sharing, SMT siblings, errors.
 * Synthetic PUs and nodes are numbered 0..n-1 in order.
 */
#include <errno.h>
#include <string.h>

#include <shmring/topo.h>

#include "common.h"

#ifdef SHMRING_HAVE_HWLOC
#include <hwloc.h>
#endif

static struct shmring_topo *load(const char *desc)
{
	struct shmring_topo *t = NULL;
	int ret = shmring_topo_load_synthetic(&t, desc);

	cr_assert_eq(ret, 0, "load '%s': %d %s", desc, ret, shmring_errdetail());
	cr_assert_not_null(t);
	return t;
}

static void need_hwloc(void)
{
	if (!shmring_topo_available())
		cr_skip_test("built without hwloc");
}

/* Two packages, one NUMA node and one L3 each, 4 cores x 2 hardware threads. */
#define TWO_PACK_SMT "pack:2 [numa] l3:1 core:4 pu:2"

Test(topo_synthetic, two_packages_smt_counts)
{
	need_hwloc();
	struct shmring_topo *t = load(TWO_PACK_SMT);
	int cpus[32], nodes[4];

	cr_assert_eq(shmring_topo_cpu_count(t), 16);
	cr_assert_eq(shmring_topo_node_count(t), 2);
	cr_assert_eq(shmring_topo_nodes(t, nodes, 4), 2);
	cr_assert(nodes[0] == 0 && nodes[1] == 1);
	cr_assert_eq(shmring_topo_cpus(t, cpus, 32), 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(cpus[i], i);
	cr_assert_eq(shmring_topo_node_cpus(t, 1, cpus, 32), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(cpus[i], 8 + i);
	/* asking for fewer still reports how many there are */
	cr_assert_eq(shmring_topo_node_cpus(t, 0, cpus, 2), 8);
	cr_assert_eq(cpus[0], 0);
	cr_assert_eq(cpus[1], 1);
	cr_assert_eq(shmring_topo_cpu_node(t, 0), 0);
	cr_assert_eq(shmring_topo_cpu_node(t, 7), 0);
	cr_assert_eq(shmring_topo_cpu_node(t, 8), 1);
	cr_assert_eq(shmring_topo_cpu_node(t, 15), 1);
	cr_assert_eq(shmring_topo_cache_line(t), 64);
	shmring_topo_free(t);
}

Test(topo_synthetic, two_packages_smt_pair)
{
	need_hwloc();
	struct shmring_topo *t = load(TWO_PACK_SMT);
	int a = -1, b = -1;

	/* Default: two different cores under one L3, never SMT siblings. */
	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 3);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 2);
	cr_assert_eq(shmring_topo_smt_siblings(t, a, b), 0);
	cr_assert_eq(shmring_topo_cpu_node(t, a), shmring_topo_cpu_node(t, b));
	/* Siblings allowed: the two threads of core 0 (nothing nearer than
	 * their shared L3 here, and the core is their deepest ancestor). */
	cr_assert_eq(shmring_topo_pick_pair(t, SHMRING_PAIR_SMT, &a, &b), 3);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(shmring_topo_smt_siblings(t, 0, 1), 1);
	cr_assert_eq(shmring_topo_smt_siblings(t, 1, 0), 1);
	cr_assert_eq(shmring_topo_smt_siblings(t, 0, 0), 0);
	cr_assert_eq(shmring_topo_smt_siblings(t, 1, 2), 0);
	shmring_topo_free(t);
}

Test(topo_synthetic, two_packages_smt_shared_cache)
{
	need_hwloc();
	struct shmring_topo *t = load(TWO_PACK_SMT);

	cr_assert_eq(shmring_topo_shared_cache(t, 0, 1), 3);
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 7), 3);
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 8), 0, "different packages share no cache");
	cr_assert_eq(shmring_topo_shared_cache(t, 15, 9), 3);
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 99), -EINVAL);
	cr_assert_eq(shmring_topo_shared_cache(t, -1, 0), -EINVAL);
	shmring_topo_free(t);
}

Test(topo_synthetic, node_for_cpu_set)
{
	need_hwloc();
	struct shmring_topo *t = load(TWO_PACK_SMT);
	int one[] = { 9 }, mostly1[] = { 0, 8, 9 }, tie[] = { 8, 0 }, first0[] = { 1, 2, 12 };
	int with_unknown[] = { 500, 12 }, unknown[] = { 500, -3 };

	cr_assert_eq(shmring_topo_node_of_cpus(t, one, 1), 1);
	cr_assert_eq(shmring_topo_node_of_cpus(t, mostly1, 3), 1);
	cr_assert_eq(shmring_topo_node_of_cpus(t, tie, 2), 0, "ties go to the lowest node");
	cr_assert_eq(shmring_topo_node_of_cpus(t, first0, 3), 0);
	cr_assert_eq(shmring_topo_node_of_cpus(t, with_unknown, 2), 1, "unknown CPUs are ignored");
	cr_assert_eq(shmring_topo_node_of_cpus(t, unknown, 2), -EINVAL);
	cr_assert_eq(shmring_topo_node_of_cpus(t, one, 0), -EINVAL);
	cr_assert_eq(shmring_topo_node_of_cpus(t, NULL, 1), -EINVAL);
	shmring_topo_free(t);
}

Test(topo_synthetic, two_nodes_no_caches)
{
	need_hwloc();
	struct shmring_topo *t = load("pack:2 [numa] core:2 pu:1");
	int a = -1, b = -1, set[] = { 2, 3 };

	cr_assert_eq(shmring_topo_cpu_count(t), 4);
	cr_assert_eq(shmring_topo_node_count(t), 2);
	/* No cache anywhere: the pair stays on one node (package 0). */
	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 0);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 1), 0);
	cr_assert_eq(shmring_topo_node_of_cpus(t, set, 2), 1);
	cr_assert_eq(shmring_topo_cpu_node(t, 3), 1);
	cr_assert_eq(shmring_topo_cache_line(t), 64, "default when no cache is described");
	shmring_topo_free(t);
}

Test(topo_synthetic, single_node_two_cores)
{
	need_hwloc();
	/* Like this machine: one node, L3 shared, private L2, 2 cores. */
	struct shmring_topo *t = load("[numa] l3:1 l2:2 core:1 pu:1");
	int a = -1, b = -1, nodes[2], all[] = { 0, 1 };

	cr_assert_eq(shmring_topo_node_count(t), 1);
	cr_assert_eq(shmring_topo_nodes(t, nodes, 2), 1);
	cr_assert_eq(nodes[0], 0);
	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 3);
	cr_assert(a == 0 && b == 1);
	cr_assert_eq(shmring_topo_pick_pair(t, SHMRING_PAIR_SMT, &a, &b), 3);
	cr_assert(a == 0 && b == 1);
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 0), 2, "a CPU with itself: its own L2");
	cr_assert_eq(shmring_topo_node_of_cpus(t, all, 2), 0);
	cr_assert_eq(shmring_topo_node_cpus(t, 1, all, 2), -EINVAL, "node 1 does not exist");
	cr_assert_eq(shmring_topo_cpu_node(t, 2), -EINVAL, "CPU 2 does not exist");
	shmring_topo_free(t);
}

Test(topo_synthetic, shared_l2_beats_shared_l3)
{
	need_hwloc();
	/* Clusters of 2 cores share an L2 (as on some Arm and Intel E-cores). */
	struct shmring_topo *t = load("pack:1 [numa] l3:1 l2:2 core:2 pu:2");
	int a = -1, b = -1;

	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 2);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 2, "core 1's first thread shares core 0's L2");
	cr_assert_eq(shmring_topo_shared_cache(t, 0, 4), 3);
	shmring_topo_free(t);
}

Test(topo_synthetic, l1_per_core_smt_pair)
{
	need_hwloc();
	/* SMT siblings share the L1: allowed, they are the nearest pair. */
	struct shmring_topo *t = load("[numa] l3:1 l2:4 l1d:1 core:1 pu:2");
	int a = -1, b = -1;

	cr_assert_eq(shmring_topo_pick_pair(t, SHMRING_PAIR_SMT, &a, &b), 1);
	cr_assert(a == 0 && b == 1);
	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 3);
	cr_assert(a == 0 && b == 2);
	shmring_topo_free(t);
}

Test(topo_synthetic, no_pair_on_one_core)
{
	need_hwloc();
	struct shmring_topo *t = load("[numa] core:1 pu:2");
	int a = -1, b = -1;

	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), -ENOENT);
	cr_assert(strlen(shmring_errdetail()) > 0);
	cr_assert_eq(a, -1, "outputs untouched on error");
	cr_assert_eq(shmring_topo_pick_pair(t, SHMRING_PAIR_SMT, &a, &b), 0);
	cr_assert(a == 0 && b == 1);
	shmring_topo_free(t);
	t = load("[numa] core:1 pu:1");
	cr_assert_eq(shmring_topo_pick_pair(t, SHMRING_PAIR_SMT, &a, &b), -ENOENT);
	shmring_topo_free(t);
}

Test(topo_synthetic, cross_node_pair_when_nothing_else)
{
	need_hwloc();
	struct shmring_topo *t = load("pack:2 [numa] l3:1 core:1 pu:1");
	int a = -1, b = -1;

	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 0, "no shared cache");
	cr_assert(a == 0 && b == 1);
	cr_assert_neq(shmring_topo_cpu_node(t, a), shmring_topo_cpu_node(t, b));
	shmring_topo_free(t);
}

Test(topo_synthetic, errors)
{
	need_hwloc();
	struct shmring_topo *t = NULL;
	int a, b;
	uint64_t mem;

	cr_assert_eq(shmring_topo_load_synthetic(&t, "this is not a topology"), -EINVAL);
	cr_assert(strlen(shmring_errdetail()) > 0);
	cr_assert_null(t);
	cr_assert_eq(shmring_topo_load_synthetic(NULL, "core:2"), -EINVAL);
	cr_assert_eq(shmring_topo_load_synthetic(&t, NULL), -EINVAL);
	cr_assert_eq(shmring_topo_load_xml(&t, "/nonexistent/topology.xml"), -EINVAL);
	t = load(TWO_PACK_SMT);
	cr_assert_eq(shmring_topo_pick_pair(t, 0x80, &a, &b), -EINVAL);
	cr_assert_eq(shmring_topo_pick_pair(t, 0, NULL, &b), -EINVAL);
	cr_assert_eq(shmring_topo_cpu_node(t, 16), -EINVAL);
	cr_assert_eq(shmring_topo_cpu_node(t, -1), -EINVAL);
	cr_assert_eq(shmring_topo_node_cpus(t, 2, NULL, 0), -EINVAL);
	cr_assert_eq(shmring_topo_node_cpus(t, -1, NULL, 0), -EINVAL);
	cr_assert_eq(shmring_topo_node_cpus(t, 0, NULL, 4), -EINVAL);
	cr_assert_eq(shmring_topo_node_cpus(t, 0, NULL, 0), 8, "count only");
	cr_assert_eq(shmring_topo_node_memory(t, 5, &mem), -EINVAL);
	cr_assert_eq(shmring_topo_node_memory(t, 0, NULL), -EINVAL);
	cr_assert_eq(shmring_topo_node_memory(t, 0, &mem), 0);
	cr_assert_eq(shmring_topo_smt_siblings(t, 0, 16), -EINVAL);
	shmring_topo_free(t);
	shmring_topo_free(NULL);
}

Test(topo_synthetic, describe)
{
	need_hwloc();
	struct shmring_topo *t = load(TWO_PACK_SMT);
	char buf[200];
	int n = shmring_topo_describe(t, buf, sizeof(buf));

	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert(strstr(buf, "2 node(s), 8 core(s), 16 CPU(s)"), "%s", buf);
	cr_assert(strstr(buf, "L3"), "%s", buf);
	cr_assert(strstr(buf, "shared by 8 CPU(s)"), "%s", buf);
	cr_assert(strstr(buf, "not this machine"), "%s", buf);
	cr_assert_eq(shmring_topo_describe(t, NULL, 0), n, "length only");
	shmring_topo_free(t);
}

/* The process topology, replaced by a synthetic one through the environment. */
Test(topo_synthetic, process_topology_from_env)
{
	need_hwloc();
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring_topo *t, *t2;
		int a, b;

		setenv("SHMRING_TOPO_SYNTHETIC", TWO_PACK_SMT, 1);
		if (shmring_topo_get(&t) != 0 || shmring_topo_get(&t2) != 0 || t != t2)
			_exit(1);
		if (shmring_topo_cpu_count(NULL) != 16 || shmring_topo_node_count(NULL) != 2)
			_exit(2);
		if (shmring_topo_pick_pair(NULL, 0, &a, &b) != 3 || a != 0 || b != 2)
			_exit(3);
		shmring_topo_free(t); /* ignored for the process topology */
		if (shmring_topo_cpu_count(t) != 16)
			_exit(4);
		_exit(0);
	}
	t_wait_ok(pid, "child with SHMRING_TOPO_SYNTHETIC");
}

/*
 * reliability.md's numa_synthetic: hwloc's own HWLOC_SYNTHETIC replaces the
 * machine too. Decisions follow the synthetic machine; memory binding
 * cannot be done on it: an error, or the caller's fallback.
 */
Test(topo_synthetic, numa_synthetic_hwloc_env)
{
	need_hwloc();
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring_params p;
		struct shmring r;
		char desc[256];
		int a, b, set[] = { 2, 3 };

		setenv("HWLOC_SYNTHETIC", "pack:2 [numa] core:2 pu:1", 1);
		if (shmring_topo_node_count(NULL) != 2 || shmring_topo_cpu_count(NULL) != 4)
			_exit(1);
		if (shmring_topo_pick_pair(NULL, 0, &a, &b) != 0 || a != 0 || b != 1)
			_exit(2);
		if (shmring_topo_node_of_cpus(NULL, set, 2) != 1)
			_exit(3);
		if (shmring_topo_describe(NULL, desc, sizeof(desc)) <= 0 ||
		    !strstr(desc, "not this machine"))
			_exit(4);
		shmring_params_init(&p, SHMRING_SPSC, 8, 8);
		shmring_params_place_node(&p, 2);
		if (shmring_create_anon(&r, &p, SHMRING_PRODUCER) != -EINVAL)
			_exit(5);
		shmring_params_place_node(&p, 1);
		if (shmring_create_anon(&r, &p, SHMRING_PRODUCER) != -ENOTSUP)
			_exit(6);
		p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
		if (shmring_create_anon(&r, &p, SHMRING_PRODUCER) != 0)
			_exit(7);
		if (r.hdr->place_node != 1 || !(r.hdr->place_flags & SHMRING_PLACE_FELL_BACK))
			_exit(8);
		shmring_close(&r);
		_exit(0);
	}
	t_wait_ok(pid, "child with HWLOC_SYNTHETIC");
}

Test(topo_synthetic, bad_env_topology_is_an_error_not_a_crash)
{
	need_hwloc();
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring_topo *t;
		struct shmring_params p;
		struct shmring r;

		setenv("SHMRING_TOPO_SYNTHETIC", "nonsense:7", 1);
		if (shmring_topo_get(&t) != -EINVAL || shmring_topo_get(&t) != -EINVAL)
			_exit(1);
		if (shmring_topo_cpu_count(NULL) != -EINVAL || !strstr(shmring_errdetail(), "nonsense"))
			_exit(2);
		/* A ring asking for a node cannot be placed: -EINVAL, even with FALLBACK. */
		shmring_params_init(&p, SHMRING_SPSC, 8, 8);
		shmring_params_place_node(&p, 0);
		p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
		if (shmring_create_anon(&r, &p, SHMRING_PRODUCER) != -EINVAL)
			_exit(3);
		_exit(0);
	}
	t_wait_ok(pid, "child with a bad SHMRING_TOPO_SYNTHETIC");
}

/* An XML topology (as lstopo writes it) loads like the machine it describes. */
Test(topo_synthetic, xml_round_trip)
{
	need_hwloc();
#ifdef SHMRING_HAVE_HWLOC
	hwloc_topology_t h;
	char path[] = "/tmp/shmring-topo-XXXXXX";
	int fd = mkstemp(path), a, b;
	struct shmring_topo *t = NULL;

	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(hwloc_topology_init(&h), 0);
	cr_assert_eq(hwloc_topology_set_synthetic(h, TWO_PACK_SMT), 0);
	cr_assert_eq(hwloc_topology_load(h), 0);
	cr_assert_eq(hwloc_topology_export_xml(h, path, 0), 0);
	hwloc_topology_destroy(h);
	int ret = shmring_topo_load_xml(&t, path);

	unlink(path);
	cr_assert_eq(ret, 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_topo_cpu_count(t), 16);
	cr_assert_eq(shmring_topo_node_count(t), 2);
	cr_assert_eq(shmring_topo_pick_pair(t, 0, &a, &b), 3);
	cr_assert(a == 0 && b == 2);
	shmring_topo_free(t);
#endif
}

Test(topo_params, helpers)
{
	struct shmring_params p;
	int cpus[] = { 0, 3, 64, 255 }, bad[] = { 1, 256 }, neg[] = { -1 };

	shmring_params_init(&p, SHMRING_SPSC, 8, 8);
	cr_assert_eq(p.place_flags, 0u, "nothing requested by default");
	cr_assert_eq(p.numa_node, -1);
	cr_assert_eq(shmring_params_place_node(&p, -1), -EINVAL);
	cr_assert_eq(shmring_params_place_node(NULL, 0), -EINVAL);
	p.place_flags = SHMRING_PLACE_MLOCK;
	cr_assert_eq(shmring_params_place_node(&p, 3), 0);
	cr_assert_eq(p.numa_node, 3);
	cr_assert_eq(p.place_flags, SHMRING_PLACE_NODE | SHMRING_PLACE_MLOCK);
	cr_assert_eq(shmring_params_place_near(&p, cpus, 4), 0);
	cr_assert_eq(p.place_flags, SHMRING_PLACE_NEAR | SHMRING_PLACE_MLOCK);
	cr_assert_eq(p.place_cpus[0], (1ull << 0) | (1ull << 3));
	cr_assert_eq(p.place_cpus[1], 1ull);
	cr_assert_eq(p.place_cpus[2], 0ull);
	cr_assert_eq(p.place_cpus[3], 1ull << 63);
	cr_assert_eq(shmring_params_place_near(&p, bad, 2), -EINVAL);
	cr_assert_eq(shmring_params_place_near(&p, neg, 1), -EINVAL);
	cr_assert_eq(shmring_params_place_near(&p, cpus, 0), -EINVAL);
	cr_assert_eq(p.place_flags, SHMRING_PLACE_NEAR | SHMRING_PLACE_MLOCK, "unchanged on error");
}

Test(topo_nohwloc, api_says_enotsup)
{
	if (shmring_topo_available())
		cr_skip_test("built with hwloc");
	struct shmring_topo *t;
	int a, b;

	cr_assert_eq(shmring_topo_get(&t), -ENOTSUP);
	cr_assert(strstr(shmring_errdetail(), "hwloc"));
	cr_assert_eq(shmring_topo_load_synthetic(&t, "core:2"), -ENOTSUP);
	cr_assert_eq(shmring_topo_pick_pair(NULL, 0, &a, &b), -ENOTSUP);
	cr_assert_eq(shmring_topo_cpu_count(NULL), -ENOTSUP);
}
