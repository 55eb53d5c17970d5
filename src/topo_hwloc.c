/* SPDX-License-Identifier: MIT */
/*
 * Topology through hwloc: the process topology (or one given as a
 * synthetic description or an XML file) and the queries on it: CPUs,
 * nodes, caches, SMT siblings, the CPU pair for a ring. A build without
 * hwloc compiles topo_nohwloc.c instead (src/meson.build).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/topo.h>

#include "internal.h"
#include "topo_hwloc.h"

/* The calling thread's affinity as a list of CPUs; returns the count. */
static int thread_affinity(int **out)
{
	for (size_t ncpu = 1024; ncpu <= SHMRING__BIND_CPU_MAX; ncpu *= 4) {
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

hwloc_obj_t shmring__topo_node_obj(hwloc_topology_t topo, int node)
{
	return node_obj(topo, node);
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
