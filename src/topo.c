/* SPDX-License-Identifier: MIT */
/*
 * Placement: topology (hwloc), memory binding of a ring's pages before first
 * touch, huge pages, prefault, mlock, thread binding, and the report of
 * where a ring's pages actually are.
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
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <shmring/topo.h>

#include "internal.h"

#ifdef SHMRING_HAVE_HWLOC
#include <hwloc.h>
#endif

#define SAMPLE_MAX 1024u
#define BIND_CPU_MAX (1 << 16)

/* ------------------------------------------------------------------ */
/* Warnings                                                             */

static void place_warn(uint32_t flags, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A fallback: leave the text in errdetail and say it once on stderr. */
static void place_warn(uint32_t flags, const char *fmt, ...)
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
/* Thread binding (sched_setaffinity; no hwloc needed)                  */

int shmring_bind_thread_cpus(const int *cpus, size_t n)
{
	int max = -1;

	if (!cpus || n == 0)
		return shmring__fail(-EINVAL, "CPU list is NULL or empty");
	for (size_t i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= BIND_CPU_MAX)
			return shmring__fail(-EINVAL, "CPU %d is outside 0..%d", cpus[i],
					     BIND_CPU_MAX - 1);
		if (cpus[i] > max)
			max = cpus[i];
	}
	cpu_set_t *set = CPU_ALLOC((size_t)max + 1);
	size_t size = CPU_ALLOC_SIZE((size_t)max + 1);

	if (!set)
		return shmring__fail(-ENOMEM, "CPU set of %d CPUs", max + 1);
	CPU_ZERO_S(size, set);
	for (size_t i = 0; i < n; i++)
		CPU_SET_S((size_t)cpus[i], size, set);
	int ret = sched_setaffinity(0, size, set);
	int err = errno;

	CPU_FREE(set);
	if (ret < 0)
		return shmring__fail(-err, "sched_setaffinity to %zu CPU(s) (first %d): %s", n,
				     cpus[0], strerror(err));
	return 0;
}

int shmring_bind_thread_cpu(int cpu)
{
	return shmring_bind_thread_cpus(&cpu, 1);
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
			place_warn(flags, "prefault of %zu bytes failed (%s); pages fault in on use",
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
			place_warn(flags, "mlock of %zu bytes failed: %s (RLIMIT_MEMLOCK %llu bytes); not locked",
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
	place_warn(flags, "%llu huge pages of %llu kB needed, %lld free (vm.nr_hugepages is %lld); using normal pages",
		   (unsigned long long)need, (unsigned long long)(pl->page_size / 1024),
		   avail < 0 ? 0 : avail, total);
	pl->hugetlb = false;
	pl->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	pl->outcome |= SHMRING_PLACE_FELL_BACK;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Topology                                                             */

#ifdef SHMRING_HAVE_HWLOC

struct shmring_topo {
	hwloc_topology_t topo;
	bool process; /* the cached process topology: never freed */
	bool this_system;
};

/* The calling thread's affinity as a list of CPUs; returns the count. */
static int thread_affinity(int **out)
{
	for (size_t ncpu = 1024; ncpu <= BIND_CPU_MAX; ncpu *= 4) {
		cpu_set_t *set = CPU_ALLOC(ncpu);
		size_t size = CPU_ALLOC_SIZE(ncpu);

		if (!set)
			return -ENOMEM;
		if (sched_getaffinity(0, size, set) < 0) {
			int err = errno;

			CPU_FREE(set);
			if (err == EINVAL)
				continue;
			return -err;
		}
		int cnt = CPU_COUNT_S(size, set), k = 0;
		int *list = malloc(sizeof(int) * (size_t)(cnt ? cnt : 1));

		if (!list) {
			CPU_FREE(set);
			return -ENOMEM;
		}
		for (size_t c = 0; c < ncpu && k < cnt; c++)
			if (CPU_ISSET_S(c, size, set))
				list[k++] = (int)c;
		CPU_FREE(set);
		*out = list;
		return k;
	}
	return -EINVAL;
}

static pthread_once_t proc_once = PTHREAD_ONCE_INIT;
static struct shmring_topo proc_topo;
static int proc_err;
static char proc_detail[256];

static int topo_open(struct shmring_topo *t, const char *synthetic, const char *xml)
{
	int err;

	memset(t, 0, sizeof(*t));
	if (hwloc_topology_init(&t->topo) < 0)
		return shmring__fail(-ENOMEM, "hwloc_topology_init: %s", strerror(errno));
	if (synthetic && hwloc_topology_set_synthetic(t->topo, synthetic) < 0) {
		err = shmring__fail(-EINVAL, "hwloc rejected the synthetic topology '%s'", synthetic);
		goto fail;
	}
	if (xml && hwloc_topology_set_xml(t->topo, xml) < 0) {
		err = shmring__fail(-EINVAL, "hwloc rejected the XML topology file '%s': %s", xml,
				    strerror(errno));
		goto fail;
	}
	if (hwloc_topology_load(t->topo) < 0) {
		err = shmring__fail(errno ? -errno : -EINVAL, "hwloc_topology_load: %s",
				    strerror(errno));
		goto fail;
	}
	t->this_system = hwloc_topology_is_thissystem(t->topo) == 1;
	if (hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU) <= 0) {
		err = shmring__fail(-EINVAL, "the topology has no processing unit");
		goto fail;
	}
	return 0;
fail:
	hwloc_topology_destroy(t->topo);
	t->topo = NULL;
	return err;
}

static void proc_load(void)
{
	const char *syn = getenv("SHMRING_TOPO_SYNTHETIC");
	const char *xml = getenv("SHMRING_TOPO_XML");

	proc_err = topo_open(&proc_topo, syn && *syn ? syn : NULL, xml && *xml ? xml : NULL);
	if (proc_err < 0)
		snprintf(proc_detail, sizeof(proc_detail), "%s", shmring_errdetail());
	proc_topo.process = true;
}

int shmring_topo_get(struct shmring_topo **out)
{
	if (!out)
		return shmring__fail(-EINVAL, "output pointer is NULL");
	pthread_once(&proc_once, proc_load);
	if (proc_err < 0)
		return shmring__fail(proc_err, "%s", proc_detail);
	*out = &proc_topo;
	return 0;
}

static int topo_load(struct shmring_topo **out, const char *synthetic, const char *xml)
{
	struct shmring_topo *t;
	int ret;

	if (!out || (!synthetic && !xml))
		return shmring__fail(-EINVAL, "output pointer or description is NULL");
	t = malloc(sizeof(*t));
	if (!t)
		return shmring__fail(-ENOMEM, "topology handle");
	ret = topo_open(t, synthetic, xml);
	if (ret < 0) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int shmring_topo_load_synthetic(struct shmring_topo **out, const char *desc)
{
	return topo_load(out, desc, NULL);
}

int shmring_topo_load_xml(struct shmring_topo **out, const char *path)
{
	return topo_load(out, NULL, path);
}

void shmring_topo_free(struct shmring_topo *t)
{
	if (!t || t->process)
		return;
	hwloc_topology_destroy(t->topo);
	free(t);
}

int shmring_topo_available(void)
{
	return 1;
}

/* t, or the process topology for NULL. */
static int resolve(const struct shmring_topo *t, hwloc_topology_t *out)
{
	struct shmring_topo *p;
	int ret;

	if (t) {
		*out = t->topo;
		return 0;
	}
	ret = shmring_topo_get(&p);
	if (ret < 0)
		return ret;
	*out = p->topo;
	return 0;
}

static hwloc_obj_t pu_obj(hwloc_topology_t topo, int cpu)
{
	return cpu < 0 ? NULL : hwloc_get_pu_obj_by_os_index(topo, (unsigned)cpu);
}

static hwloc_obj_t node_obj(hwloc_topology_t topo, int node)
{
	hwloc_obj_t o = NULL;

	if (node < 0)
		return NULL;
	while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o)))
		if (o->os_index == (unsigned)node)
			return o;
	return NULL;
}

/* The NUMA node of a PU: the lowest-numbered node whose CPUs include it. */
static hwloc_obj_t pu_node(hwloc_topology_t topo, hwloc_obj_t pu)
{
	hwloc_obj_t o = NULL, best = NULL;

	while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o)))
		if (o->cpuset && hwloc_bitmap_isset(o->cpuset, pu->os_index) &&
		    (!best || o->os_index < best->os_index))
			best = o;
	return best;
}

int shmring_topo_cache_line(const struct shmring_topo *t)
{
	hwloc_topology_t topo;
	hwloc_obj_t o = NULL;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	/* The L1 data cache above the first PU, else any data cache. */
	for (hwloc_obj_t p = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, 0); p; p = p->parent)
		if (hwloc_obj_type_is_dcache(p->type) && p->attr->cache.linesize) {
			o = p;
			break;
		}
	if (!o) {
		for (int d = 0; d < hwloc_topology_get_depth(topo) && !o; d++) {
			hwloc_obj_t c = hwloc_get_obj_by_depth(topo, d, 0);

			if (c && hwloc_obj_type_is_dcache(c->type) && c->attr->cache.linesize)
				o = c;
		}
	}
	return o ? (int)o->attr->cache.linesize : 64;
}

int shmring_topo_cpu_count(const struct shmring_topo *t)
{
	hwloc_topology_t topo;
	int ret = resolve(t, &topo);

	return ret < 0 ? ret : hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
}

int shmring_topo_node_count(const struct shmring_topo *t)
{
	hwloc_topology_t topo;
	int ret = resolve(t, &topo);

	return ret < 0 ? ret : hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
}

/* Write the set's members (up to n) into out[]; returns the weight. */
static int bitmap_list(hwloc_const_bitmap_t set, int *out, size_t n)
{
	int cnt = 0;
	int i;

	hwloc_bitmap_foreach_begin(i, set)
	{
		if ((size_t)cnt < n)
			out[cnt] = i;
		cnt++;
	}
	hwloc_bitmap_foreach_end();
	return cnt;
}

int shmring_topo_cpus(const struct shmring_topo *t, int *cpus, size_t n)
{
	hwloc_topology_t topo;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!cpus && n)
		return shmring__fail(-EINVAL, "output array is NULL");
	return bitmap_list(hwloc_topology_get_topology_cpuset(topo), cpus, n);
}

int shmring_topo_node_cpus(const struct shmring_topo *t, int node, int *cpus, size_t n)
{
	hwloc_topology_t topo;
	hwloc_obj_t o;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!cpus && n)
		return shmring__fail(-EINVAL, "output array is NULL");
	if (!(o = node_obj(topo, node)))
		return shmring__fail(-EINVAL, "NUMA node %d does not exist", node);
	if (!o->cpuset)
		return 0;
	return bitmap_list(o->cpuset, cpus, n);
}

int shmring_topo_nodes(const struct shmring_topo *t, int *nodes, size_t n)
{
	hwloc_topology_t topo;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!nodes && n)
		return shmring__fail(-EINVAL, "output array is NULL");
	return bitmap_list(hwloc_topology_get_topology_nodeset(topo), nodes, n);
}

int shmring_topo_node_memory(const struct shmring_topo *t, int node, uint64_t *bytes)
{
	hwloc_topology_t topo;
	hwloc_obj_t o;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!bytes)
		return shmring__fail(-EINVAL, "output pointer is NULL");
	if (!(o = node_obj(topo, node)))
		return shmring__fail(-EINVAL, "NUMA node %d does not exist", node);
	*bytes = o->attr->numanode.local_memory;
	return 0;
}

int shmring_topo_cpu_node(const struct shmring_topo *t, int cpu)
{
	hwloc_topology_t topo;
	hwloc_obj_t pu, node;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!(pu = pu_obj(topo, cpu)))
		return shmring__fail(-EINVAL, "CPU %d does not exist", cpu);
	if (!(node = pu_node(topo, pu)))
		return shmring__fail(-EINVAL, "CPU %d is on no NUMA node", cpu);
	return (int)node->os_index;
}

int shmring_topo_node_of_cpus(const struct shmring_topo *t, const int *cpus, size_t n)
{
	hwloc_topology_t topo;
	hwloc_obj_t o = NULL;
	int best = -1;
	size_t best_cnt = 0;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!cpus || n == 0)
		return shmring__fail(-EINVAL, "CPU list is NULL or empty");
	/* Nodes in increasing number: a strict > keeps the lowest on ties. */
	int nn = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	unsigned last = 0;

	for (int k = 0; k < nn; k++) {
		hwloc_obj_t next = NULL;

		o = NULL;
		while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o)))
			if ((k == 0 || o->os_index > last) &&
			    (!next || o->os_index < next->os_index))
				next = o;
		if (!next)
			break;
		last = next->os_index;
		size_t cnt = 0;

		for (size_t i = 0; i < n; i++) {
			hwloc_obj_t pu = pu_obj(topo, cpus[i]);

			if (pu && pu_node(topo, pu) == next)
				cnt++;
		}
		if (cnt > best_cnt) {
			best_cnt = cnt;
			best = (int)next->os_index;
		}
	}
	if (best < 0)
		return shmring__fail(-EINVAL, "none of the %zu CPU(s) (first %d) is on a NUMA node of the topology",
				     n, cpus[0]);
	return best;
}

/* Nearest data cache above an object (itself included), or NULL. */
static hwloc_obj_t cache_above(hwloc_obj_t o)
{
	while (o && !hwloc_obj_type_is_dcache(o->type))
		o = o->parent;
	return o;
}

static hwloc_obj_t common(hwloc_topology_t topo, hwloc_obj_t a, hwloc_obj_t b)
{
	(void)topo;
	return a == b ? a : hwloc_get_common_ancestor_obj(topo, a, b);
}

int shmring_topo_shared_cache(const struct shmring_topo *t, int cpu_a, int cpu_b)
{
	hwloc_topology_t topo;
	hwloc_obj_t a, b, c;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!(a = pu_obj(topo, cpu_a)) || !(b = pu_obj(topo, cpu_b)))
		return shmring__fail(-EINVAL, "CPU %d does not exist", a ? cpu_b : cpu_a);
	c = cache_above(common(topo, a, b));
	return c ? (int)c->attr->cache.depth : 0;
}

static bool siblings(hwloc_topology_t topo, hwloc_obj_t a, hwloc_obj_t b)
{
	hwloc_obj_t ca = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, a);
	hwloc_obj_t cb = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, b);

	return a != b && ca && ca == cb;
}

int shmring_topo_smt_siblings(const struct shmring_topo *t, int cpu_a, int cpu_b)
{
	hwloc_topology_t topo;
	hwloc_obj_t a, b;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!(a = pu_obj(topo, cpu_a)) || !(b = pu_obj(topo, cpu_b)))
		return shmring__fail(-EINVAL, "CPU %d does not exist", a ? cpu_b : cpu_a);
	return siblings(topo, a, b);
}

static int cmp_pu(const void *x, const void *y)
{
	unsigned a = (*(const hwloc_obj_t *)x)->os_index, b = (*(const hwloc_obj_t *)y)->os_index;

	return a < b ? -1 : a > b;
}

int shmring_topo_pick_pair(struct shmring_topo *t, unsigned flags, int *cpu_a, int *cpu_b)
{
	hwloc_topology_t topo;
	hwloc_obj_t *pus, o = NULL;
	int *aff = NULL, naff = 0, n = 0, ret;
	int best_a = -1, best_b = -1, best_level = 0;
	long best_score[3] = { 0, 0, 0 };

	if (!cpu_a || !cpu_b)
		return shmring__fail(-EINVAL, "output pointer is NULL");
	if (flags & ~SHMRING_PAIR_ALL)
		return shmring__fail(-EINVAL, "flags 0x%x hold unknown bits", flags);
	if ((ret = resolve(t, &topo)) < 0)
		return ret;
	if (flags & SHMRING_PAIR_AFFINITY) {
		naff = thread_affinity(&aff);
		if (naff < 0)
			return shmring__fail(naff, "sched_getaffinity: %s", strerror(-naff));
	}
	int total = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);

	pus = malloc(sizeof(*pus) * (size_t)(total > 0 ? total : 1));
	if (!pus) {
		free(aff);
		return shmring__fail(-ENOMEM, "PU list");
	}
	while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, o)) && n < total) {
		bool ok = !(flags & SHMRING_PAIR_AFFINITY);

		for (int i = 0; i < naff && !ok; i++)
			ok = aff[i] == (int)o->os_index;
		if (ok)
			pus[n++] = o;
	}
	free(aff);
	qsort(pus, (size_t)n, sizeof(*pus), cmp_pu);
	for (int i = 0; i < n; i++) {
		hwloc_obj_t ni = pu_node(topo, pus[i]);

		for (int j = i + 1; j < n; j++) {
			if (!(flags & SHMRING_PAIR_SMT) && siblings(topo, pus[i], pus[j]))
				continue;
			hwloc_obj_t anc = common(topo, pus[i], pus[j]);
			hwloc_obj_t c = cache_above(anc);
			/* Smaller is better, compared in order. */
			long score[3] = { c ? (long)c->attr->cache.depth : 1000,
					  ni && ni == pu_node(topo, pus[j]) ? 0 : 1,
					  -(long)anc->depth };

			if (best_a < 0 || memcmp(score, best_score, sizeof(score)) != 0) {
				bool better = best_a < 0;

				for (int k = 0; k < 3 && !better; k++) {
					if (score[k] != best_score[k]) {
						better = score[k] < best_score[k];
						break;
					}
				}
				if (better) {
					memcpy(best_score, score, sizeof(score));
					best_a = (int)pus[i]->os_index;
					best_b = (int)pus[j]->os_index;
					best_level = c ? (int)c->attr->cache.depth : 0;
				}
			}
		}
	}
	free(pus);
	if (best_a < 0)
		return shmring__fail(-ENOENT, "fewer than two eligible CPUs (%d CPU(s)%s%s)", n,
				     flags & SHMRING_PAIR_AFFINITY ? ", thread affinity" : "",
				     flags & SHMRING_PAIR_SMT ? "" : ", SMT siblings excluded");
	*cpu_a = best_a;
	*cpu_b = best_b;
	return best_level;
}

int shmring_topo_describe(const struct shmring_topo *t, char *buf, size_t len)
{
	hwloc_topology_t topo;
	hwloc_obj_t big = NULL;
	int ret = resolve(t, &topo);

	if (ret < 0)
		return ret;
	if (!buf && len)
		return shmring__fail(-EINVAL, "buffer is NULL");
	/* The outermost data cache (largest level) and how many CPUs share one. */
	for (int d = 0; d < hwloc_topology_get_depth(topo); d++) {
		hwloc_obj_t c = hwloc_get_obj_by_depth(topo, d, 0);

		if (c && hwloc_obj_type_is_dcache(c->type) &&
		    (!big || c->attr->cache.depth > big->attr->cache.depth))
			big = c;
	}
	int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	int cpus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	char cache[96] = "no cache information";

	if (big)
		snprintf(cache, sizeof(cache), "L%u %llu KiB shared by %d CPU(s)",
			 big->attr->cache.depth,
			 (unsigned long long)(big->attr->cache.size / 1024),
			 hwloc_bitmap_weight(big->cpuset));
	struct shmring_topo *self = (struct shmring_topo *)(uintptr_t)t;

	if (!self)
		shmring_topo_get(&self); /* resolve() above succeeded: it is loaded */
	return snprintf(buf, len, "%d node(s), %d core(s), %d CPU(s), %s, line %d B%s", nodes, cores,
			cpus, cache, shmring_topo_cache_line(t),
			self && !self->this_system ? " (not this machine)" : "");
}

/* ------------------------------------------------------------------ */
/* Placement at create                                                  */

int shmring__place_prepare(struct shmring__place *pl, const struct shmring_params *p, bool anon)
{
	uint32_t f = p->place_flags;
	unsigned nsel = !!(f & SHMRING_PLACE_NODE) + !!(f & SHMRING_PLACE_NEAR) +
			!!(f & SHMRING_PLACE_LOCAL);
	struct shmring_topo *t;
	int ret;

	memset(pl, 0, sizeof(*pl));
	pl->node = pl->req_node = -1;
	pl->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	if (f & ~SHMRING_PLACE_ALL)
		return shmring__fail(-EINVAL, "place_flags 0x%x hold unknown bits 0x%x", f,
				     f & ~SHMRING_PLACE_ALL);
	if (nsel > 1)
		return shmring__fail(-EINVAL, "place_flags 0x%x: at most one of NODE, NEAR and LOCAL", f);
	if (f & SHMRING_PLACE_HUGE) {
		uint64_t hps = huge_page_size();

		if (!anon || !hps) {
			if (!(f & SHMRING_PLACE_FALLBACK))
				return shmring__fail(-ENOTSUP, "placement: %s",
						     !anon ? "huge pages need an anonymous ring (shmring_create_anon)"
							   : "this system has no huge page support");
			place_warn(f, "%s; using normal pages",
				   !anon ? "huge pages need an anonymous ring" : "no huge page support");
			pl->outcome |= SHMRING_PLACE_FELL_BACK;
		} else {
			pl->hugetlb = true;
			pl->page_size = hps;
		}
	}
	if (!nsel)
		return 0;
	if ((f & SHMRING_PLACE_NODE) && p->numa_node < 0)
		return shmring__fail(-EINVAL, "placement: NUMA node %d is negative", p->numa_node);
	ret = shmring_topo_get(&t);
	if (ret < 0) {
		if (ret == -EINVAL || !(f & SHMRING_PLACE_FALLBACK))
			return shmring__fail(ret, "placement: %s", shmring_errdetail());
		place_warn(f, "%s; pages stay where the kernel puts them", shmring_errdetail());
		pl->outcome |= SHMRING_PLACE_FELL_BACK;
		pl->req_node = (f & SHMRING_PLACE_NODE) ? p->numa_node : -1;
		return 0;
	}
	if (f & SHMRING_PLACE_NODE) {
		if (!node_obj(t->topo, p->numa_node))
			return shmring__fail(-EINVAL, "placement: NUMA node %d does not exist (%d node(s))",
					     p->numa_node, shmring_topo_node_count(t));
		pl->node = pl->req_node = p->numa_node;
	} else if (f & SHMRING_PLACE_NEAR) {
		int cpus[SHMRING_PLACE_CPUS_MAX];
		size_t n = 0;

		for (int c = 0; c < SHMRING_PLACE_CPUS_MAX; c++)
			if (p->place_cpus[c / 64] & (1ull << (c % 64)))
				cpus[n++] = c;
		if (!n)
			return shmring__fail(-EINVAL, "placement: NEAR with an empty place_cpus");
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
			place_warn(f, "the creator's node is unknown (CPU %d)", cpu);
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
	place_warn(flags, "binding to NUMA node %d failed (%s: %s); pages stay where the kernel puts them",
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

#else /* !SHMRING_HAVE_HWLOC */

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

int shmring__place_prepare(struct shmring__place *pl, const struct shmring_params *p, bool anon)
{
	uint32_t f = p->place_flags;
	unsigned nsel = !!(f & SHMRING_PLACE_NODE) + !!(f & SHMRING_PLACE_NEAR) +
			!!(f & SHMRING_PLACE_LOCAL);

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
	if (f & SHMRING_PLACE_HUGE) {
		uint64_t hps = huge_page_size();

		if (!anon || !hps) {
			if (!(f & SHMRING_PLACE_FALLBACK))
				return shmring__fail(-ENOTSUP, "placement: %s",
						     !anon ? "huge pages need an anonymous ring (shmring_create_anon)"
							   : "this system has no huge page support");
			place_warn(f, "%s; using normal pages",
				   !anon ? "huge pages need an anonymous ring" : "no huge page support");
			pl->outcome |= SHMRING_PLACE_FELL_BACK;
		} else {
			pl->hugetlb = true;
			pl->page_size = hps;
		}
	}
	if (!nsel)
		return 0;
	if (!(f & SHMRING_PLACE_FALLBACK))
		return NO_HWLOC("placement: NUMA binding");
	place_warn(f, "NUMA binding needs hwloc, which this build lacks; pages stay where the kernel puts them");
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

#endif /* SHMRING_HAVE_HWLOC */

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
#ifdef SHMRING_HAVE_HWLOC
	struct shmring_topo *t;
	int ret = shmring_topo_get(&t);

	if (ret < 0)
		return ret;
	if (!t->this_system)
		return shmring__fail(-ENOTSUP, "page location: the topology is not this machine's");
	return locate(t->topo, (const unsigned char *)r->map, out->pages, out->os_page_size, out);
#else
	return NO_HWLOC("page location");
#endif
}
