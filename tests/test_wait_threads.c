/* SPDX-License-Identifier: MIT */
/*
 * Lost-wakeup stress with threads instead of processes: the same random
 * delays and per-message checks as test_wait_stress.c. (Suite tsan runs
 * wait_threads_tsan.c, a plain program: Criterion cannot start under TSan.)
 */
#include <pthread.h>

#include "wait_stress.h"

struct targ {
	struct shmring *r;
	const struct stress *s;
	int ret;
};

static void *tconsume(void *a)
{
	struct targ *t = (struct targ *)a;

	t->ret = consume(t->r, t->s);
	return NULL;
}

static void run_threads(uint32_t mode, uint32_t flags, uint64_t n)
{
	struct stress s = { t_name("wthr"), n, 0, mode, flags };
	struct shmring p, c;
	struct shmring_params prm;
	pthread_t th;

	shmring_params_init(&prm, SHMRING_SPSC, 4, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&p, s.name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_dup(&c, &p, SHMRING_CONSUMER), 0, "%s", shmring_errdetail());
	tw_policy(&p, mode, flags, 0);
	tw_policy(&c, mode, flags, 0);

	struct targ t = { &c, &s, -1 };

	cr_assert_eq(pthread_create(&th, NULL, tconsume, &t), 0);
	int ret = produce(&p, &s);

	pthread_join(th, NULL);
	cr_assert_eq(ret, 0);
	cr_assert_eq(t.ret, 0);
	if (mode == SHMRING_WAIT_SLEEP)
		cr_assert_gt(tw_stat(&p.ctrl->cons_stats.sleeps), 0);
	shmring_close(&c);
	shmring_close(&p);
	shmring_unlink(s.name);
}

Test(wait_threads, sleep_light, .timeout = 120)
{
	run_threads(SHMRING_WAIT_SLEEP, SHMRING_WAIT_F_LIGHT, t_scale(CI_HANDOFFS) / 4);
}

Test(wait_threads, sleep_fence, .timeout = 120)
{
	run_threads(SHMRING_WAIT_SLEEP, SHMRING_WAIT_F_FENCE, t_scale(CI_HANDOFFS) / 4);
}

Test(wait_threads, spin_then_sleep, .timeout = 120)
{
	run_threads(SHMRING_WAIT_SPIN_SLEEP, 0, t_scale(CI_HANDOFFS) / 4);
}
