/* SPDX-License-Identifier: MIT */
/*
 * attach_fuzz: arbitrary bytes as a ring's shared-memory object.
 *
 * The input becomes the whole object (a memfd of exactly the input's size)
 * and is opened as observer, consumer and producer, each on a fresh copy,
 * and through shmring-dump's reader (snapshot, --check's invariants, the
 * message walk and both report writers), and as a ring set's membership
 * table through the dump's set reader (validation of a consistent copy,
 * both report writers).
 * Every input must be rejected with an error code and a detail, or
 * accepted; an accepted ring then gets a few operations of the role's fast
 * path on its (hostile) state, which must return a count or an error code.
 * The sanitizers and libFuzzer's timeout catch everything else: an access
 * outside the mapping, undefined behaviour, a hang.
 *
 * Built as a libFuzzer target with clang (-Dfuzz=enabled) and, in every
 * build, as a replay program (replay_main.c) that runs the seed corpus and
 * the regression inputs (tests/fuzz/regress) as a unit test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmring/mpmc.h>
#include <shmring/shmring.h>

#include "dump.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int ret)
{
	fprintf(stderr, "attach_fuzz: %s returned %d (%s): %s\n", what, ret, shmring_strerror(ret),
		shmring_errdetail());
	abort();
}

/* The codes open may return for a hostile object (shmring.h documents them). */
static int open_code_ok(int ret)
{
	switch (ret) {
	case -EPROTO: case -ETIMEDOUT: case -EBUSY: case -ENOSPC: case -ENOTSUP:
	case -EACCES: case -EPERM: case -ENOMEM:
		return 1;
	default:
		return 0;
	}
}

static int op_code_ok(int64_t ret, int64_t max)
{
	return ret == -EAGAIN || ret == -EPROTO || (ret >= 0 && ret <= max);
}

static void exercise_spsc(struct shmring *r)
{
	unsigned char *buf = malloc((size_t)r->slot_size * 4 + 8);
	uint64_t pos;
	int64_t n;

	if (!buf)
		return;
	memset(buf, 0xa5, (size_t)r->slot_size * 4);
	for (int round = 0; round < 3; round++) {
		if (r->role == SHMRING_CONSUMER) {
			n = shmring_spsc_try_pop(r, buf);
			if (!op_code_ok(n, 0))
				fail("spsc_try_pop", (int)n);
			n = shmring_spsc_pop_burst(r, buf, 4);
			if (!op_code_ok(n, 4))
				fail("spsc_pop_burst", (int)n);
			n = shmring_spsc_pop_bulk(r, buf, 2);
			if (!op_code_ok(n, 2))
				fail("spsc_pop_bulk", (int)n);
			n = shmring_spsc_peek(r, 3, &pos);
			if (!op_code_ok(n, 3))
				fail("spsc_peek", (int)n);
			if (n > 0) {
				for (int64_t i = 0; i < n; i++)
					memcpy(buf, shmring_slot(r, pos + (uint64_t)i), r->slot_size);
				shmring_spsc_release(r, (uint64_t)n);
			}
		} else if (r->role == SHMRING_PRODUCER) {
			n = shmring_spsc_try_push(r, buf);
			if (!op_code_ok(n, 0))
				fail("spsc_try_push", (int)n);
			n = shmring_spsc_push_burst(r, buf, 4);
			if (!op_code_ok(n, 4))
				fail("spsc_push_burst", (int)n);
			n = shmring_spsc_push_bulk(r, buf, 2);
			if (!op_code_ok(n, 2))
				fail("spsc_push_bulk", (int)n);
			n = shmring_spsc_reserve(r, 3, &pos);
			if (!op_code_ok(n, 3))
				fail("spsc_reserve", (int)n);
			if (n > 0) {
				for (int64_t i = 0; i < n; i++)
					memcpy(shmring_slot(r, pos + (uint64_t)i), buf, r->slot_size);
				shmring_spsc_commit(r, (uint64_t)n);
			}
		}
		(void)shmring_spsc_count(r);
	}
	free(buf);
}

static void exercise_mpmc(struct shmring *r)
{
	unsigned char *buf = malloc((size_t)r->slot_size * 4 + 8);
	uint64_t pos;
	int64_t n;

	if (!buf)
		return;
	memset(buf, 0x5a, (size_t)r->slot_size * 4);
	for (int round = 0; round < 3; round++) {
		if (r->role == SHMRING_CONSUMER) {
			n = shmring_mpmc_try_pop(r, buf);
			if (!op_code_ok(n, 0))
				fail("mpmc_try_pop", (int)n);
			n = shmring_mpmc_pop_burst(r, buf, 4);
			if (!op_code_ok(n, 4))
				fail("mpmc_pop_burst", (int)n);
			n = shmring_mpmc_pop_bulk(r, buf, 2);
			if (!op_code_ok(n, 2) && n != -EINVAL)
				fail("mpmc_pop_bulk", (int)n);
			n = shmring_mpmc_peek(r, 3, &pos);
			if (!op_code_ok(n, 3))
				fail("mpmc_peek", (int)n);
			if (n > 0) {
				for (int64_t i = 0; i < n; i++)
					memcpy(buf, shmring_slot(r, pos + (uint64_t)i), r->slot_size);
			}
			n = shmring_mpmc_release(r);
			if (n != 0)
				fail("mpmc_release", (int)n);
		} else if (r->role == SHMRING_PRODUCER) {
			n = shmring_mpmc_try_push(r, buf);
			if (!op_code_ok(n, 0))
				fail("mpmc_try_push", (int)n);
			n = shmring_mpmc_push_burst(r, buf, 4);
			if (!op_code_ok(n, 4))
				fail("mpmc_push_burst", (int)n);
			n = shmring_mpmc_push_bulk(r, buf, 2);
			if (!op_code_ok(n, 2) && n != -EINVAL)
				fail("mpmc_push_bulk", (int)n);
			n = shmring_mpmc_reserve(r, 3, &pos);
			if (!op_code_ok(n, 3))
				fail("mpmc_reserve", (int)n);
			if (n > 0) {
				for (int64_t i = 0; i < n; i++)
					memcpy(shmring_slot(r, pos + (uint64_t)i), buf, r->slot_size);
				n = shmring_mpmc_commit(r, (uint64_t)n);
				if (n != 0)
					fail("mpmc_commit", (int)n);
			}
		}
		(void)shmring_mpmc_count(r);
	}
	free(buf);
}

/* shmring-dump's reader: everything the tool does with an object. */
static void exercise_dump(const uint8_t *data, size_t size)
{
	fuzz_dump_fd(fuzz_object(data, size), "/fuzz", 8);
}

/* shmring-dump's ring-set reader: the input as a membership table. */
static void exercise_set(const uint8_t *data, size_t size)
{
	static FILE *null_out;
	struct dump_set *s;
	char why[256] = "";
	uint64_t magic;
	int fd, ret;

	/* Anything else stops at the magic (a ring's input costs no memfd). */
	if (size < sizeof(magic))
		return;
	memcpy(&magic, data, sizeof(magic));
	if (magic != SHMRING_SET_MAGIC)
		return;
	s = calloc(1, sizeof(*s));
	fd = fuzz_object(data, size);
	if (!s || fd < 0)
		goto out;
	if (!null_out)
		null_out = fopen("/dev/null", "w");
	ret = dump_set_open_fd(s, fd, why, sizeof(why));
	if (ret < 0) {
		if (why[0] == '\0')
			fail("dump_set_open_fd (no reason)", ret);
		goto out;
	}
	why[0] = '\0';
	ret = dump_set_snapshot(s, why, sizeof(why));
	if (ret < 0 && ((ret != -EPROTO && ret != -EAGAIN && ret != -ENOMEM) || why[0] == '\0'))
		fail("dump_set_snapshot", ret);
	if (ret == 0) {
		(void)dump_set_check(s);
		if (null_out) {
			dump_set_print_text(null_out, s);
			dump_set_print_json(null_out, s);
		}
	}
out:
	if (s)
		dump_set_close(s);
	free(s);
	if (fd >= 0)
		close(fd);
}

static void exercise_bcast(struct shmring *r)
{
	unsigned char *buf = malloc((size_t)r->slot_size * 4 + 8);
	const void *view;
	int64_t n;

	if (!buf)
		return;
	memset(buf, 0xa5, (size_t)r->slot_size * 4);
	for (int round = 0; round < 3; round++) {
		if (r->role == SHMRING_CONSUMER) {
			n = shmring_bcast_try_read(r, buf);
			if (!op_code_ok(n, 0) && n != -EOVERFLOW)
				fail("bcast_try_read", (int)n);
			n = shmring_bcast_read_burst(r, buf, 4);
			if (!op_code_ok(n, 4) && n != -EOVERFLOW)
				fail("bcast_read_burst", (int)n);
			n = shmring_bcast_peek(r, &view);
			if (!op_code_ok(n, 0) && n != -EOVERFLOW)
				fail("bcast_peek", (int)n);
			if (n == 0) {
				memcpy(buf, view, r->slot_size);
				n = shmring_bcast_release(r);
				if (n != 0 && n != -EOVERFLOW && n != -EINVAL && n != -EAGAIN)
					fail("bcast_release", (int)n);
			}
		} else if (r->role == SHMRING_PRODUCER) {
			n = shmring_bcast_try_push(r, buf);
			if (!op_code_ok(n, 0))
				fail("bcast_try_push", (int)n);
			n = shmring_bcast_push_burst(r, buf, 4);
			if (!op_code_ok(n, 4))
				fail("bcast_push_burst", (int)n);
		}
	}
	free(buf);
}

static void exercise(struct shmring *r)
{
	switch (r->type) {
	case SHMRING_SPSC:
		exercise_spsc(r);
		break;
	case SHMRING_MPMC:
		exercise_mpmc(r);
		break;
	case SHMRING_BROADCAST:
		exercise_bcast(r);
		break;
	default:
		break;
	}
}

static const uint32_t roles[] = { SHMRING_OBSERVER, SHMRING_CONSUMER, SHMRING_PRODUCER };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shmring_open_opts o;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = 1; /* an object that never becomes ready costs 1 ms */
	o.mode = 0777;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct shmring r;
		int fd = fuzz_object(data, size);
		int ret;

		if (fd < 0)
			return 0; /* no memory for the object: not the library's fault */
		ret = shmring_open_fd(&r, fd, roles[i], &o);
		close(fd);
		if (ret == 0) {
			exercise(&r);
			ret = shmring_close(&r);
			if (ret != 0)
				fail("close", ret);
		} else if (!open_code_ok(ret)) {
			fail("open_fd", ret);
		} else if (shmring_errdetail()[0] == '\0') {
			fail("open_fd (no detail)", ret);
		}
	}
	exercise_dump(data, size);
	exercise_set(data, size);
	return 0;
}
