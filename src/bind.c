/* SPDX-License-Identifier: MIT */
/*
 * Thread binding: the calling thread onto a CPU or a CPU set
 * (sched_setaffinity; no hwloc needed).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include <shmring/topo.h>

#include "internal.h"

int shmring_bind_thread_cpus(const int *cpus, size_t n)
{
	int max = -1;

	if (!cpus || n == 0)
		return shmring__fail(-EINVAL, "CPU list is NULL or empty");
	for (size_t i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= SHMRING__BIND_CPU_MAX)
			return shmring__fail(-EINVAL, "CPU %d is outside 0..%d", cpus[i],
					     SHMRING__BIND_CPU_MAX - 1);
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
