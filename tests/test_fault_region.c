/* SPDX-License-Identifier: MIT */
/*
 * Faults of the region (create, open, close, unlink, the endpoint table)
 * found from outside, across real processes:
 *  - create/open/close/unlink racing on two names: a create never unlinks
 *    a ring it did not create, never returns -EBUSY;
 *  - an open refused for any reason leaves the object byte for byte;
 *  - a crash-looping producer always re-attaches (dead entries are taken
 *    over at open), also through a ring set's control ring;
 *  - shmring_unlink_stale removes an object whose creator died before it
 *    wrote the header;
 *  - shmring_errdetail() describes the last call, and only it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <shmring/set.h>

#include "common.h"

/* ---- refused opens leave the object unchanged ------------------------- */

static unsigned char *obj_copy(const char *name, size_t *len)
{
	char path[160];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size);

	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* open(role) must fail with err and change no byte of the object. */
static void refused(const char *name, uint32_t role, int err, const char *what)
{
	struct shmring_open_opts o = { .timeout_ms = 20 };
	struct shmring r;
	size_t n0, n1;
	unsigned char *a = obj_copy(name, &n0);
	int ret = shmring_open(&r, name, role, &o);

	cr_assert_eq(ret, err, "%s: open returned %d (%s), expected %d", what, ret, shmring_errdetail(), err);
	cr_assert_neq(shmring_errdetail()[0], '\0', "%s: no detail", what);
	unsigned char *b = obj_copy(name, &n1);

	cr_assert_eq(n0, n1, "%s: size changed", what);
	for (size_t i = 0; i < n0; i++)
		cr_assert_eq(a[i], b[i], "%s: byte %zu changed (0x%02x -> 0x%02x)", what, i, a[i], b[i]);
	free(a);
	free(b);
}

static void corrupt_positions(struct shmring *r, int side)
{
	struct shmring_side *s = side ? &r->ctrl->cons : &r->ctrl->prod;

	shmring_atomic_store(&s->pos, (uint64_t)1 << 40, SHMRING_RELAXED);
	shmring_atomic_store(&s->claim, (uint64_t)1 << 40, SHMRING_RELAXED);
}

static const uint32_t all_types[] = { SHMRING_SPSC, SHMRING_MPMC, SHMRING_MSG_SPSC, SHMRING_MSG_MPSC };

static void make(struct shmring *r, const char *name, uint32_t type, uint32_t max_eps)
{
	struct shmring_params p;

	shmring_params_init(&p, type, type == SHMRING_SPSC || type == SHMRING_MPMC ? 16 : 1024, 8);
	p.max_endpoints = max_eps;
	cr_assert_eq(shmring_create(r, name, &p, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
}

Test(fault_region, refused_open_writes_nothing, .timeout = 60)
{
	for (size_t k = 0; k < sizeof(all_types) / sizeof(all_types[0]); k++) {
		uint32_t type = all_types[k];
		bool multi_prod = type == SHMRING_MPMC || type == SHMRING_MSG_MPSC;
		bool multi_cons = type == SHMRING_MPMC;
		char name[96], what[96];
		struct shmring c, h1, h2;

		snprintf(name, sizeof(name), "%s", t_name("refused"));
		make(&c, name, type, 2);
		/* Corrupt positions, either side. */
		for (int side = 0; side < 2; side++) {
			struct shmring_ctrl saved = *c.ctrl;

			corrupt_positions(&c, side);
			snprintf(what, sizeof(what), "type %u, side %d corrupt: producer", type, side);
			refused(name, SHMRING_PRODUCER, -EPROTO, what);
			snprintf(what, sizeof(what), "type %u, side %d corrupt: consumer", type, side);
			refused(name, SHMRING_CONSUMER, -EPROTO, what);
			memcpy(c.ctrl, &saved, sizeof(saved));
		}
		/* MPMC: a claim-mode word naming no entry. */
		if (type == SHMRING_MPMC) {
			struct shmring_mpmc_block *b = (struct shmring_mpmc_block *)(void *)c.ctrl->kind_blocks;

			for (int side = 0; side < 2; side++) {
				uint32_t w = shmring_atomic_load(&b->solo[side], SHMRING_RELAXED);

				shmring_atomic_store(&b->solo[side], 0x7fff0001u, SHMRING_RELAXED);
				snprintf(what, sizeof(what), "claim mode word %d: producer", side);
				refused(name, SHMRING_PRODUCER, -EPROTO, what);
				snprintf(what, sizeof(what), "claim mode word %d: consumer", side);
				refused(name, SHMRING_CONSUMER, -EPROTO, what);
				shmring_atomic_store(&b->solo[side], w, SHMRING_RELAXED);
			}
		}
		/* Single roles held by a live process: -EBUSY. Multi roles, a
		 * full table (2 entries): -ENOSPC. */
		for (uint32_t role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++) {
			bool multi = role == SHMRING_PRODUCER ? multi_prod : multi_cons;

			cr_assert_eq(shmring_open(&h1, name, role, NULL), 0, "%s", shmring_errdetail());
			if (multi)
				cr_assert_eq(shmring_open(&h2, name, role, NULL), 0, "%s", shmring_errdetail());
			snprintf(what, sizeof(what), "type %u, role %u taken", type, role);
			refused(name, role, multi ? -ENOSPC : -EBUSY, what);
			if (multi)
				cr_assert_eq(shmring_close(&h2), 0);
			cr_assert_eq(shmring_close(&h1), 0);
		}
		cr_assert_eq(shmring_close(&c), 0);
		cr_assert_eq(shmring_unlink(name), 0);
	}
}
