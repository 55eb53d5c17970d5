/* SPDX-License-Identifier: MIT */
/*
 * Seed objects for the fuzz targets: real rings of every type the library
 * builds, in a few states (empty, part full, full, positions near 2^64,
 * counters on, an endpoint left by a dead process), produced through the
 * public API and read back byte for byte.
 */
#ifndef SHMRING_FUZZ_SEEDS_H
#define SHMRING_FUZZ_SEEDS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/mman.h>

#include <shmring/mpmc.h>
#include <shmring/set.h>
#include <shmring/shmring.h>
#include <shmring/spsc.h>

typedef void (*fuzz_seed_fn)(const char *name, const uint8_t *data, size_t size, void *arg);

static int fuzz_seed_emit(struct shmring *r, const char *name, fuzz_seed_fn fn, void *arg)
{
	int fd = shmring_fd(r);
	struct stat st;
	uint8_t *buf;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	buf = (uint8_t *)malloc((size_t)st.st_size);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
		free(buf);
		return -1;
	}
	fn(name, buf, (size_t)st.st_size, arg);
	free(buf);
	return 0;
}

/* Fill a slot ring with `n` elements through a producer handle. */
static int fuzz_seed_fill(struct shmring *base, uint64_t n)
{
	struct shmring p;
	uint8_t elem[256];
	int ret = shmring_dup(&p, base, SHMRING_PRODUCER);

	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < n; i++) {
		memset(elem, (int)(i + 1), sizeof(elem));
		if (base->type == SHMRING_SPSC)
			ret = shmring_spsc_try_push(&p, elem);
		else if (base->type == SHMRING_MPMC)
			ret = shmring_mpmc_try_push(&p, elem);
		else
			ret = -ENOTSUP;
		if (ret < 0)
			break;
	}
	shmring_close(&p);
	return ret == -ENOTSUP ? ret : 0;
}

static int fuzz_seed_set_cb(void *arg, const struct shmring_set_msg *m)
{
	(void)arg;
	(void)m;
	return 0;
}

/*
 * A ring set's membership table (layout.h): a set with a member added by
 * name, one by handle (anonymous), one removed again, a message delivered.
 * Returns 1 when emitted, 0 when sets are not built.
 */
static int fuzz_seed_set(fuzz_seed_fn fn, void *arg)
{
	struct shmring_set *s;
	struct shmring_params p;
	struct shmring prod[2], anon, c;
	char set[64], ring[2][64], table[80];
	uint8_t elem[16] = { 1 };
	int fd, ok = 0, made = 0;

	snprintf(set, sizeof(set), "/shmring-fuzzseed-%d", (int)getpid());
	snprintf(table, sizeof(table), "%s.set", set);
	if (shmring_set_create(&s, set, 0) < 0)
		return 0;
	shmring_params_init(&p, SHMRING_SPSC, 8, 16);
	/* Members 0 (by name), 1 (by handle, anonymous), 2 (by name); then
	 * 0 leaves, so the table has a hole below its highest entry. */
	for (int i = 0; i < 2; i++) {
		snprintf(ring[i], sizeof(ring[i]), "/shmring-fuzzseed-%d-r%d", (int)getpid(), i);
		if (shmring_create(&prod[i], ring[i], &p, SHMRING_PRODUCER) == 0)
			made |= 1 << i;
	}
	if (made & 1)
		shmring_set_add_name(s, ring[0], 7);
	if (shmring_create_anon(&anon, &p, SHMRING_PRODUCER) == 0) {
		if (shmring_open_fd(&c, shmring_fd(&anon), SHMRING_CONSUMER, NULL) == 0 &&
		    shmring_set_add(s, &c, 8) < 0)
			shmring_close(&c);
		shmring_spsc_try_push(&anon, elem);
		shmring_close(&anon);
	}
	if (made & 2)
		shmring_set_add_name(s, ring[1], 9);
	shmring_set_poll(s, 4, fuzz_seed_set_cb, NULL);
	shmring_set_remove(s, 0);
	fd = shm_open(table, O_RDONLY, 0);
	if (fd >= 0) {
		struct stat st;
		uint8_t *buf;

		if (fstat(fd, &st) == 0 && (buf = (uint8_t *)malloc((size_t)st.st_size))) {
			if (pread(fd, buf, (size_t)st.st_size, 0) == st.st_size) {
				fn("set-table", buf, (size_t)st.st_size, arg);
				ok = 1;
			}
			free(buf);
		}
		close(fd);
	}
	shmring_set_destroy(s);
	for (int i = 0; i < 2; i++) {
		if (made & (1 << i)) {
			shmring_close(&prod[i]);
			shmring_unlink(ring[i]);
		}
	}
	return ok;
}

/* Returns the number of seeds produced. */
static int fuzz_seeds(fuzz_seed_fn fn, void *arg)
{
	static const struct {
		uint32_t type;
		const char *tag;
		uint64_t capacity;
		uint32_t slot;
	} types[] = {
		{ SHMRING_SPSC, "spsc", 8, 8 },
		{ SHMRING_SPSC, "spsc-s40", 4, 40 },
		{ SHMRING_MPMC, "mpmc", 8, 16 },
		{ SHMRING_MSG_SPSC, "msg-spsc", 4096, 0 },
		{ SHMRING_MSG_MPSC, "msg-mpsc", 4096, 0 },
	};
	int count = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (int state = 0; state < 5; state++) {
			struct shmring_params p;
			struct shmring r;
			char name[64];

			shmring_params_init(&p, types[i].type, types[i].capacity, types[i].slot);
			if (types[i].type == SHMRING_MPMC || types[i].type == SHMRING_MSG_MPSC)
				p.max_endpoints = 4;
			if (state == 3)
				p.flags |= SHMRING_F_COUNTERS;
			if (state == 4)
				p.init_pos = UINT64_MAX - 2;
			if (shmring_create_anon(&r, &p, SHMRING_ROLE_NONE) < 0)
				break; /* type not built (yet) */
			if (state == 1 || state == 3 || state == 4)
				fuzz_seed_fill(&r, types[i].capacity / 2 + 1);
			if (state == 2)
				fuzz_seed_fill(&r, types[i].capacity);
			if (state == 3) {
				/* An endpoint entry left by a process that is gone. */
				struct shmring_endpoint *e = (struct shmring_endpoint *)(void *)((unsigned char *)r.map + SHMRING_EP_OFF);

				shmring_atomic_store(&e[0].state, SHMRING_EP_ACTIVE, SHMRING_RELAXED);
				shmring_atomic_store(&e[0].role, SHMRING_PRODUCER, SHMRING_RELAXED);
				shmring_atomic_store(&e[0].pid, 0x3ffffff0, SHMRING_RELAXED);
				shmring_atomic_store(&e[0].start_time, 12345, SHMRING_RELAXED);
			}
			snprintf(name, sizeof(name), "%s-%d", types[i].tag, state);
			if (fuzz_seed_emit(&r, name, fn, arg) == 0)
				count++;
			shmring_close(&r);
		}
	}
	return count + fuzz_seed_set(fn, arg);
}

#endif
