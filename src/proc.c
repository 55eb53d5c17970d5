/* SPDX-License-Identifier: MIT */
/* Process identity and liveness: pid plus start time, so a reused pid is
 * not mistaken for the process that registered. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Fields 3 (state) and 22 (starttime) of /proc/PID/stat. */
static int read_stat(int32_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

uint64_t shmring__proc_start_time(int32_t pid)
{
	char state;
	uint64_t start;

	if (pid <= 0 || read_stat(pid, &state, &start) < 0)
		return 0;
	return start;
}

int shmring__pid_alive(int32_t pid, uint64_t start_time)
{
	char state;
	uint64_t start;

	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return 0;
	if (read_stat(pid, &state, &start) < 0)
		return 0;
	if (state == 'Z' || state == 'X')
		return 0; /* exited, not yet reaped */
	if (start_time && start != start_time)
		return 0; /* the pid was reused */
	return 1;
}

uint64_t shmring__now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
