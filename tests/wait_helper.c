/* SPDX-License-Identifier: MIT */
/*
 * An unrelated process for the wait tests (started with fork + exec): it
 * opens a ring by name and either consumes or produces N test messages,
 * sleeping (policy SLEEP) and waking its peer through the futex blocks.
 *
 *   wait_helper consumer NAME N   pop_wait N messages, check each
 *   wait_helper producer NAME N   before each push, wait until the
 *                                 consumer (our parent) sleeps; push_wait
 * Exit status 0 when everything arrived intact.
 */
#include <shmring/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct msg {
	uint64_t producer, seq, check;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* State letter of a process (/proc/PID/stat field 3). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' ? p[2] : '?';
}

/* Until the consumer (our parent) is parked: waiter published, asleep. */
static int asleep(struct shmring_wait *w, pid_t pid)
{
	for (int i = 0; i < 50000; i++) {
		if (shmring_atomic_load(&w->waiters, SHMRING_RELAXED) && proc_state(pid) == 'S')
			return 1;
		usleep(100);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct shmring r;
	struct shmring_wait_policy pol = { .mode = SHMRING_WAIT_SLEEP };
	struct timespec dl;
	struct msg m;
	int consumer, ret;

	if (argc != 4)
		return 2;
	consumer = !strcmp(argv[1], "consumer");
	uint64_t n = strtoull(argv[3], NULL, 10);

	ret = shmring_open(&r, argv[2], consumer ? SHMRING_CONSUMER : SHMRING_PRODUCER, NULL);
	if (ret) {
		fprintf(stderr, "open %s: %s (%s)\n", argv[2], shmring_strerror(ret), shmring_errdetail());
		return 3;
	}
	shmring_wait_policy_set(&r, &pol);
	for (uint64_t i = 0; i < n; i++) {
		shmring_deadline_after(&dl, 10ull * 1000000000ull);
		if (consumer) {
			ret = shmring_spsc_pop_wait(&r, &m, &dl);
			if (ret || m.producer != 7 || m.seq != i || m.check != mix(7 * 0x100000001b3ull ^ i)) {
				fprintf(stderr, "pop %llu: %d\n", (unsigned long long)i, ret);
				return 4;
			}
		} else {
			m.producer = 7;
			m.seq = i;
			m.check = mix(7 * 0x100000001b3ull ^ i);
			if (!asleep(&r.ctrl->cons_wait, getppid()))
				return 5;
			ret = shmring_spsc_push_wait(&r, &m, &dl);
			if (ret) {
				fprintf(stderr, "push %llu: %d\n", (unsigned long long)i, ret);
				return 6;
			}
		}
	}
	shmring_close(&r);
	return 0;
}
