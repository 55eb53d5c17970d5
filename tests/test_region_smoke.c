/* SPDX-License-Identifier: MIT */
#include "common.h"

Test(region_smoke, create_push_pop_close)
{
	struct shmring p, c;
	struct shmring_params prm;
	const char *name = t_name("smoke");
	uint64_t v = 42, out = 0;

	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_spsc_try_pop(&c, &out), -EAGAIN);
	cr_assert_eq(shmring_spsc_try_push(&p, &v), 0);
	cr_assert_eq(shmring_spsc_try_pop(&c, &out), 0);
	cr_assert_eq(out, 42);
	shmring_close(&c);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}
