/* SPDX-License-Identifier: MIT */
/*
 * Placement on the real machine: rings created with a node request and the
 * reported location of their pages, thread binding checked with
 * sched_getaffinity, huge pages, prefault and mlock, and the fallbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/mempolicy.h>

#include <shmring/topo.h>

#include "common.h"

static void need_hwloc(void)
{
	if (!shmring_topo_available())
		cr_skip_test("built without hwloc");
}

static int name_exists(const char *name)
{
	int fd = shm_open(name, O_RDONLY, 0);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* Highest node number on this machine. */
static int last_node(void)
{
	int nodes[256];
	int n = shmring_topo_nodes(NULL, nodes, 256);

	cr_assert(n >= 1 && n <= 256, "%d %s", n, shmring_errdetail());
	return nodes[n - 1];
}

static void check_located_on(const struct shmring *r, int node)
{
	struct shmring_placement pl;
	int ret = shmring_placement_query(r, &pl);

	cr_assert_eq(ret, 0, "query: %d %s", ret, shmring_errdetail());
	cr_assert(pl.pages > 0);
	cr_assert(pl.sampled > 0 && pl.sampled <= pl.pages);
	cr_assert_eq(pl.located, pl.sampled, "every sampled page located (%llu of %llu)",
		     (unsigned long long)pl.located, (unsigned long long)pl.sampled);
	cr_assert_eq(pl.node, node);
	cr_assert_eq(pl.node_count, 1u);
	cr_assert_eq(pl.on_node, pl.located);
	cr_assert_eq(pl.node_mask, 1ull << node);
}

/* The kernel's policy for an address of the ring: mode and node mask. */
static int policy_at(const void *addr, unsigned long *mask)
{
	int mode = -1;

	cr_assert_eq(syscall(SYS_get_mempolicy, &mode, mask, 4096ul, addr, (unsigned long)MPOL_F_ADDR),
		     0, "get_mempolicy: %s", strerror(errno));
	return mode;
}

static void check_policy(const struct shmring *r, int node, int want_mode)
{
	unsigned long mask[4096 / (8 * sizeof(unsigned long))];
	const unsigned char *ends[] = { r->map, r->data, (const unsigned char *)r->map + r->map_size - 1 };

	for (int i = 0; i < 3; i++) {
		memset(mask, 0, sizeof(mask));
		int mode = policy_at(ends[i], mask);

		/* hwloc may express "preferred" as MPOL_PREFERRED_MANY (5) */
		if (want_mode == MPOL_PREFERRED && mode == 5)
			mode = MPOL_PREFERRED;
		cr_assert_eq(mode, want_mode, "policy mode %d, expected %d", mode, want_mode);
		if (want_mode == MPOL_DEFAULT)
			continue;
		for (size_t w = 0; w < sizeof(mask) / sizeof(mask[0]); w++)
			cr_assert_eq(mask[w], (size_t)node / (8 * sizeof(long)) == w
						      ? 1ul << (node % (8 * sizeof(long)))
						      : 0ul);
	}
}

Test(topo_place, bind_to_each_node, .timeout = 60)
{
	need_hwloc();
	int nodes[256];
	int n = shmring_topo_nodes(NULL, nodes, 256);

	cr_assert(n >= 1);
	for (int i = 0; i < n; i++) {
		uint64_t mem = 0;

		cr_assert_eq(shmring_topo_node_memory(NULL, nodes[i], &mem), 0);
		if (mem < (64u << 20))
			continue; /* a node without (much) memory */
		struct shmring r, c;
		struct shmring_params p;
		const char *name = t_name("place-node");

		shmring_params_init(&p, SHMRING_SPSC, 4096, 64);
		cr_assert_eq(shmring_params_place_node(&p, nodes[i]), 0);
		int ret = shmring_create(&r, name, &p, SHMRING_PRODUCER);

		cr_assert_eq(ret, 0, "create on node %d: %d %s", nodes[i], ret, shmring_errdetail());
		check_located_on(&r, nodes[i]);
		check_policy(&r, nodes[i], MPOL_BIND);

		struct shmring_placement pl;

		cr_assert_eq(shmring_placement_query(&r, &pl), 0);
		cr_assert_eq(pl.req_node, nodes[i]);
		cr_assert_eq(pl.req_flags, SHMRING_PLACE_NODE);
		cr_assert_eq(pl.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
		cr_assert_eq(pl.os_page_size, (uint64_t)sysconf(_SC_PAGESIZE));
		cr_assert_eq(pl.pages * pl.os_page_size, r.map_size);

		/* Another process, read-only, sees the same. */
		pid_t pid = t_fork();

		cr_assert(pid >= 0);
		if (pid == 0) {
			struct shmring_placement q;

			if (shmring_open(&c, name, SHMRING_OBSERVER, NULL) != 0)
				_exit(1);
			if (shmring_placement_query(&c, &q) != 0)
				_exit(2);
			if (q.node != nodes[i] || q.req_node != nodes[i] || q.located == 0 ||
			    q.on_node != q.located)
				_exit(3);
			shmring_close(&c);
			_exit(0);
		}
		t_wait_ok(pid, "observer child");
		shmring_close(&r);
		cr_assert_eq(shmring_unlink(name), 0);
	}
}

Test(topo_place, node_that_does_not_exist)
{
	need_hwloc();
	struct shmring r;
	struct shmring_params p;
	const char *name = t_name("place-bad");
	int missing[] = { last_node() + 1, 4095, 1 << 30 };

	for (int i = 0; i < 3; i++) {
		shmring_params_init(&p, SHMRING_SPSC, 64, 8);
		cr_assert_eq(shmring_params_place_node(&p, missing[i]), 0);
		cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
		cr_assert(strstr(shmring_errdetail(), "does not exist"), "%s", shmring_errdetail());
		cr_assert(!name_exists(name), "nothing created");
		/* FALLBACK does not cover a wrong node number. */
		p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
		cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
		cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), -EINVAL);
		cr_assert(!name_exists(name));
	}
	/* set by hand, not through the helper */
	shmring_params_init(&p, SHMRING_SPSC, 64, 8);
	p.place_flags = SHMRING_PLACE_NODE;
	p.numa_node = -5;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
	cr_assert(!name_exists(name));
}

Test(topo_place, bad_flags)
{
	struct shmring r;
	struct shmring_params p;
	const char *name = t_name("place-flags");

	shmring_params_init(&p, SHMRING_SPSC, 64, 8);
	p.place_flags = 0x200;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
	p.place_flags = SHMRING_PLACE_FELL_BACK;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
	p.numa_node = 0;
	p.place_flags = SHMRING_PLACE_NODE | SHMRING_PLACE_LOCAL;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL);
	p.place_flags = SHMRING_PLACE_NEAR; /* no CPU in the set */
	cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), -EINVAL);
	cr_assert(!name_exists(name));
}

/*
 * A request that is wrong in itself gets the same error and the same
 * detail whether or not the library was built with hwloc (this test runs
 * in both builds), before anything the machine lacks (huge pages on a
 * named ring, NUMA binding) is looked at, and FALLBACK does not cover it.
 */
Test(topo_place, bad_request_same_error_with_or_without_hwloc)
{
	struct shmring r;
	struct shmring_params p;
	const char *name = t_name("place-same");
	static const struct {
		uint32_t flags;
		int node;
		const char *detail;
	} cases[] = {
		{ 0x200, 0, "unknown bits" },
		{ SHMRING_PLACE_NODE | SHMRING_PLACE_NEAR, 0, "at most one of" },
		{ SHMRING_PLACE_NODE, -1, "NUMA node -1 is negative" },
		{ SHMRING_PLACE_NODE | SHMRING_PLACE_HUGE, -3, "NUMA node -3 is negative" },
		{ SHMRING_PLACE_NEAR, -1, "NEAR with an empty place_cpus" },
		{ SHMRING_PLACE_NEAR | SHMRING_PLACE_HUGE, -1, "NEAR with an empty place_cpus" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int fb = 0; fb < 2; fb++) {
			shmring_params_init(&p, SHMRING_SPSC, 64, 8);
			p.place_flags = cases[i].flags |
					(fb ? SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET : 0);
			p.numa_node = cases[i].node;
			cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -EINVAL,
				     "case %zu fallback %d: %s", i, fb, shmring_errdetail());
			cr_assert(strstr(shmring_errdetail(), cases[i].detail), "case %zu: %s", i,
				  shmring_errdetail());
			cr_assert(!name_exists(name), "case %zu: nothing created", i);
			cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), -EINVAL,
				     "anon case %zu fallback %d: %s", i, fb, shmring_errdetail());
			cr_assert(strstr(shmring_errdetail(), cases[i].detail), "anon case %zu: %s", i,
				  shmring_errdetail());
		}
	}
}

Test(topo_place, nothing_requested_keeps_default)
{
	struct shmring r;
	struct shmring_params p;
	struct shmring_placement pl;
	const char *name = t_name("place-none");

	/* zeroed params with a node number but no flag: nothing is requested */
	memset(&p, 0, sizeof(p));
	p.type = SHMRING_SPSC;
	p.capacity = 64;
	p.slot_size = 8;
	p.numa_node = 0;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(r.hdr->place_node, -1);
	cr_assert_eq(r.hdr->place_flags, 0u);
	check_policy(&r, -1, MPOL_DEFAULT);
	int ret = shmring_placement_query(&r, &pl);

	if (shmring_topo_available()) {
		cr_assert_eq(ret, 0, "%s", shmring_errdetail());
		cr_assert(pl.located > 0);
		/* the creator's node (the kernel's local allocation) */
		cr_assert(pl.node >= 0);
	} else {
		cr_assert_eq(ret, -ENOTSUP);
		cr_assert_eq(pl.node, -1);
	}
	cr_assert_eq(pl.req_node, -1);
	cr_assert_eq(pl.req_flags, 0u);
	shmring_close(&r);
	shmring_unlink(name);
}

Test(topo_place, near_cpus_and_local)
{
	need_hwloc();
	struct shmring r;
	struct shmring_params p;
	struct shmring_placement pl;
	int cpus[256];
	int n = shmring_topo_cpus(NULL, cpus, 256);

	cr_assert(n >= 1);
	int last = cpus[(n < 256 ? n : 256) - 1];

	if (last >= SHMRING_PLACE_CPUS_MAX)
		cr_skip_test("CPU numbers beyond %d", SHMRING_PLACE_CPUS_MAX);
	int node = shmring_topo_cpu_node(NULL, last);

	cr_assert(node >= 0);
	shmring_params_init(&p, SHMRING_SPSC, 256, 16);
	cr_assert_eq(shmring_params_place_near(&p, &last, 1), 0);
	cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_placement_query(&r, &pl), 0, "%s", shmring_errdetail());
	cr_assert_eq(pl.req_node, node, "NEAR resolves to the CPU's node");
	cr_assert_eq(pl.req_flags, SHMRING_PLACE_NEAR);
	cr_assert_eq(pl.req_cpus[last / 64], 1ull << (last % 64));
	check_located_on(&r, node);
	check_policy(&r, node, MPOL_BIND);
	shmring_close(&r);

	/* LOCAL: the node the creator runs on; pin first so it cannot move */
	cr_assert_eq(shmring_bind_thread_cpu(cpus[0]), 0, "%s", shmring_errdetail());
	node = shmring_topo_cpu_node(NULL, cpus[0]);
	shmring_params_init(&p, SHMRING_SPSC, 256, 16);
	p.place_flags = SHMRING_PLACE_LOCAL;
	cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(r.hdr->place_node, node);
	check_located_on(&r, node);
	shmring_close(&r);
}

Test(topo_place, preferred_prefault_mlock, .timeout = 30)
{
	need_hwloc();
	struct shmring r, c;
	struct shmring_params p;
	const char *name = t_name("place-lock");
	int node = last_node();

	shmring_params_init(&p, SHMRING_SPSC, 1024, sizeof(uint64_t));
	cr_assert_eq(shmring_params_place_node(&p, node), 0);
	p.place_flags |= SHMRING_PLACE_PREFERRED | SHMRING_PLACE_PREFAULT | SHMRING_PLACE_MLOCK;
	int ret = shmring_create(&r, name, &p, SHMRING_PRODUCER);

	if (ret == -ENOMEM)
		cr_skip_test("mlock refused here: %s", shmring_errdetail());
	cr_assert_eq(ret, 0, "%s", shmring_errdetail());
	/* Locked and resident: mincore says every page is in memory. */
	size_t pages = r.map_size / (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *vec = malloc(pages);

	cr_assert_eq(mincore(r.map, r.map_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		cr_assert(vec[i] & 1, "page %zu resident", i);
	free(vec);
	check_located_on(&r, node);
	check_policy(&r, node, MPOL_PREFERRED);
	/* An opener prefaults and locks too (best effort) and opens fine. */
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	uint64_t v = 7, out = 0;

	cr_assert_eq(shmring_spsc_try_push(&r, &v), 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, &out), 0);
	cr_assert_eq(out, 7u);
	shmring_close(&c);
	shmring_close(&r);
	shmring_unlink(name);
}

/* Binding unsupported: a synthetic process topology cannot bind memory. */
Test(topo_place, binding_unsupported_error_or_fallback, .timeout = 30)
{
	need_hwloc();
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring r;
		struct shmring_params p;
		struct shmring_placement pl;
		const char *name = t_name("place-unsup");

		setenv("SHMRING_TOPO_SYNTHETIC", "[numa] core:2 pu:1", 1);
		shmring_params_init(&p, SHMRING_SPSC, 64, 8);
		shmring_params_place_node(&p, 0);
		if (shmring_create(&r, name, &p, SHMRING_PRODUCER) != -ENOTSUP)
			_exit(1);
		if (!strstr(shmring_errdetail(), "node 0") || name_exists(name))
			_exit(2);
		p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
		if (shmring_create(&r, name, &p, SHMRING_PRODUCER) != 0)
			_exit(3);
		if (!strstr(shmring_errdetail(), "placement"))
			_exit(4); /* the warning stays readable */
		if (shmring_placement_query(&r, &pl) != -ENOTSUP)
			_exit(5);
		if (pl.req_node != 0 ||
		    pl.req_flags != (SHMRING_PLACE_NODE | SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET |
				     SHMRING_PLACE_FELL_BACK))
			_exit(6);
		/* the ring works */
		uint64_t v = 1;

		if (shmring_spsc_try_push(&r, &v) != 0)
			_exit(7);
		shmring_close(&r);
		shmring_unlink(name);
		_exit(0);
	}
	t_wait_ok(pid, "child with a synthetic process topology");
}

/* ---- thread binding ---- */

static int affinity_list(int *out, int max)
{
	cpu_set_t set;
	int n = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			out[n++] = c;
	return n;
}

Test(topo_bind, thread_to_each_cpu)
{
	int cpus[CPU_SETSIZE];
	int n = affinity_list(cpus, CPU_SETSIZE);

	cr_assert(n >= 1);
	for (int i = 0; i < n; i++) {
		cpu_set_t set;

		cr_assert_eq(shmring_bind_thread_cpu(cpus[i]), 0, "%s", shmring_errdetail());
		cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
		cr_assert_eq(CPU_COUNT(&set), 1);
		cr_assert(CPU_ISSET(cpus[i], &set));
		cr_assert_eq(sched_getcpu(), cpus[i], "running on the bound CPU");
	}
	/* all of them again */
	cr_assert_eq(shmring_bind_thread_cpus(cpus, (size_t)n), 0);
	cpu_set_t set;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	cr_assert_eq(CPU_COUNT(&set), n);
}

Test(topo_bind, errors)
{
	int none[] = { 4000 }, mixed[] = { 4000, -1 };
	cpu_set_t before, after;

	cr_assert_eq(sched_getaffinity(0, sizeof(before), &before), 0);
	cr_assert_eq(shmring_bind_thread_cpu(-1), -EINVAL);
	cr_assert_eq(shmring_bind_thread_cpu(1 << 20), -EINVAL);
	cr_assert_eq(shmring_bind_thread_cpus(none, 1), -EINVAL, "no such CPU");
	cr_assert_eq(shmring_bind_thread_cpus(mixed, 2), -EINVAL);
	cr_assert_eq(shmring_bind_thread_cpus(none, 0), -EINVAL);
	cr_assert_eq(shmring_bind_thread_cpus(NULL, 1), -EINVAL);
	cr_assert_eq(sched_getaffinity(0, sizeof(after), &after), 0);
	cr_assert(CPU_EQUAL(&before, &after), "affinity unchanged after errors");
}

Test(topo_bind, pick_pair_on_this_machine)
{
	need_hwloc();
	int cpus[CPU_SETSIZE];
	int n = affinity_list(cpus, CPU_SETSIZE);
	int a = -1, b = -1;
	int ret = shmring_topo_pick_pair(NULL, SHMRING_PAIR_AFFINITY, &a, &b);

	if (n < 2) {
		cr_assert_eq(ret, -ENOENT);
		return;
	}
	cr_assert(ret >= 0, "%d %s", ret, shmring_errdetail());
	cr_assert(a >= 0 && b > a);
	cr_assert_eq(shmring_topo_shared_cache(NULL, a, b), ret);
	cr_assert_eq(shmring_topo_smt_siblings(NULL, a, b), 0);
	/* Both usable: bind to each. */
	cr_assert_eq(shmring_bind_thread_cpu(a), 0);
	cr_assert_eq(shmring_bind_thread_cpu(b), 0);
	/* Only the current affinity counts with SHMRING_PAIR_AFFINITY. */
	cr_assert_eq(shmring_topo_pick_pair(NULL, SHMRING_PAIR_AFFINITY, &a, &b), -ENOENT);
	cr_assert(shmring_topo_cache_line(NULL) >= 16);
}

/* ---- huge pages ---- */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -1;
}

#define NR_HUGE "/proc/sys/vm/nr_hugepages"

static long free_huge(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

Test(topo_huge, named_ring_cannot_have_huge_pages)
{
	struct shmring r;
	struct shmring_params p;
	const char *name = t_name("huge-named");

	shmring_params_init(&p, SHMRING_SPSC, 64, 8);
	p.place_flags = SHMRING_PLACE_HUGE;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), -ENOTSUP);
	cr_assert(strstr(shmring_errdetail(), "anonymous"), "%s", shmring_errdetail());
	cr_assert(!name_exists(name));
	p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
	cr_assert_eq(shmring_create(&r, name, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(r.hdr->page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	cr_assert(r.hdr->place_flags & SHMRING_PLACE_FELL_BACK);
	shmring_close(&r);
	shmring_unlink(name);
}

/* Huge pages asked for when none are free: -ENOMEM, or normal pages with FALLBACK. */
static void none_free_part(void)
{
	struct shmring r;
	struct shmring_params p;

	if (free_huge() != 0)
		return; /* huge pages are free here (or unknown) */
	shmring_params_init(&p, SHMRING_SPSC, 64, 8);
	p.place_flags = SHMRING_PLACE_HUGE;
	int ret = shmring_create_anon(&r, &p, SHMRING_PRODUCER);

	cr_assert(ret == -ENOMEM || ret == -ENOTSUP, "%d %s", ret, shmring_errdetail());
	cr_assert(strlen(shmring_errdetail()) > 0);
	p.place_flags |= SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET;
	cr_assert_eq(shmring_create_anon(&r, &p, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(r.hdr->page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	cr_assert_eq(r.hdr->place_flags,
		     SHMRING_PLACE_HUGE | SHMRING_PLACE_FALLBACK | SHMRING_PLACE_QUIET |
			     SHMRING_PLACE_FELL_BACK);
	uint64_t v = 5, out = 0;

	cr_assert_eq(shmring_spsc_try_push(&r, &v), 0);
	shmring_close(&r);
	(void)out;
}

static long saved_nr = -1;

static void restore_nr(void)
{
	if (saved_nr >= 0)
		write_long(NR_HUGE, saved_nr);
}

/*
 * First the outcome when none are free; then, where the test may configure
 * huge pages (root, writable /proc/sys), add a
 * few, run a ring on them across two processes, and restore the old value.
 */
Test(topo_huge, ring_on_huge_pages, .timeout = 60, .fini = restore_nr)
{
	none_free_part();

	long old = read_long(NR_HUGE);

	if (old < 0 || access(NR_HUGE, W_OK) != 0)
		cr_skip_test("cannot configure huge pages here");
	saved_nr = old;
	if (write_long(NR_HUGE, old + 4) != 0 || read_long(NR_HUGE) < old + 4)
		cr_skip_test("the kernel did not grant 4 more huge pages");
	struct shmring r, c;
	struct shmring_params p;
	struct shmring_placement pl;
	const uint64_t n = 100000;

	shmring_params_init(&p, SHMRING_SPSC, 1024, sizeof(struct t_msg));
	p.place_flags = SHMRING_PLACE_HUGE | SHMRING_PLACE_PREFAULT;
	if (shmring_topo_available())
		shmring_params_place_node(&p, 0 <= shmring_topo_cpu_node(NULL, sched_getcpu())
						      ? shmring_topo_cpu_node(NULL, sched_getcpu())
						      : 0);
	int ret = shmring_create_anon(&r, &p, SHMRING_PRODUCER);

	cr_assert_eq(ret, 0, "%d %s", ret, shmring_errdetail());
	uint64_t hps = r.hdr->page_size;

	cr_assert(hps >= (2u << 20), "page size %llu", (unsigned long long)hps);
	cr_assert_eq(r.map_size % hps, 0u);
	cr_assert_eq(((uintptr_t)r.data) % hps, 0u, "data area on a huge page boundary");
	cr_assert_eq(r.hdr->place_flags & SHMRING_PLACE_FELL_BACK, 0u);
	ret = shmring_placement_query(&r, &pl);
	if (shmring_topo_available()) {
		cr_assert_eq(ret, 0, "%s", shmring_errdetail());
		cr_assert_eq(pl.os_page_size, hps);
		cr_assert_eq(pl.pages, r.map_size / hps);
		cr_assert_eq(pl.located, pl.sampled);
		cr_assert_eq(pl.node, r.hdr->place_node);
		check_policy(&r, r.hdr->place_node, MPOL_BIND);
		/* the creator thread's own policy is back to what it was */
		unsigned long mask[4096 / (8 * sizeof(unsigned long))];
		int mode = -1;

		cr_assert_eq(syscall(SYS_get_mempolicy, &mode, mask, 4096ul, NULL, 0ul), 0);
		cr_assert_eq(mode, MPOL_DEFAULT);
	}
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		/* consumer through the memfd */
		struct t_msg m;

		if (shmring_open_fd(&c, shmring_fd(&r), SHMRING_CONSUMER, NULL) != 0)
			_exit(1);
		for (uint64_t i = 0; i < n;) {
			if (shmring_spsc_try_pop(&c, &m) == 0) {
				if (!t_msg_ok(&m) || m.seq != i || m.producer != 1)
					_exit(2);
				i++;
			} else {
				sched_yield();
			}
		}
		shmring_close(&c);
		_exit(0);
	}
	for (uint64_t i = 0; i < n;) {
		struct t_msg m;

		t_msg_make(&m, 1, i);
		if (shmring_spsc_try_push(&r, &m) == 0)
			i++;
		else
			sched_yield();
	}
	t_wait_ok(pid, "consumer on huge pages");
	shmring_close(&r);
	cr_assert_eq(write_long(NR_HUGE, old), 0);
	cr_assert_eq(read_long(NR_HUGE), old, "nr_hugepages restored");
	saved_nr = -1;
}

/* A peer shrinks the object: the query (the dump tool's path) must not
 * touch the missing pages (no SIGBUS) and reports only the ones left.
 * In a child that ends with _exit: the producer handle is never closed,
 * since its endpoint entry lies in the truncated part. */
Test(topo_place, query_after_peer_shrinks_object, .timeout = 30)
{
	need_hwloc();
	const char *name = t_name("place-shrunk");
	pid_t pid = t_fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct shmring r, obs;
		struct shmring_params p;
		struct shmring_placement pl;

		shmring_params_init(&p, SHMRING_SPSC, 4096, 64);
		if (shmring_create(&r, name, &p, SHMRING_PRODUCER) != 0)
			_exit(1);
		if (shmring_open(&obs, name, SHMRING_OBSERVER, NULL) != 0)
			_exit(2);
		int fd = shm_open(name, O_RDWR, 0);

		if (fd < 0 || ftruncate(fd, 4096) != 0)
			_exit(3);
		close(fd);
		if (shmring_placement_query(&obs, &pl) != 0)
			_exit(4);
		if (pl.sampled <= 1 || pl.located < 1 || pl.located >= pl.sampled)
			_exit(5);
		shmring_close(&obs);
		_exit(0);
	}
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	shmring_unlink(name);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x (a signal means the query touched a missing page)", st);
}
