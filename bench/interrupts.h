/* SPDX-License-Identifier: MIT */
/*
 * Interrupt counts for the noisy-neighbour measurement (ready_bench.c) and
 * its test (tests/test_ready_ipi.c): the CAL line of /proc/interrupts,
 * the function call interrupts membarrier(2) sends, for one CPU.
 */
#ifndef SHMRING_BENCH_INTERRUPTS_H
#define SHMRING_BENCH_INTERRUPTS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CAL count of one CPU; -1 if there is none (another architecture
 * names its IPIs differently). */
static inline int64_t cal_count(int cpu)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[4096], want[16];
	int col = -1;
	int64_t v = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "CPU%d", cpu);
	if (fgets(line, sizeof(line), f)) {
		int i = 0;

		for (char *save = NULL, *t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save), i++)
			if (!strcmp(t, want))
				col = i;
	}
	while (col >= 0 && fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		while (*p == ' ')
			p++;
		if (strncmp(p, "CAL:", 4))
			continue;
		p += 4;
		for (int i = 0; i <= col; i++) {
			long long x = strtoll(p, &end, 10);

			if (end == p)
				break;
			if (i == col)
				v = x;
			p = end;
		}
		break;
	}
	fclose(f);
	return v;
}

#endif
