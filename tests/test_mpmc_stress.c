/* SPDX-License-Identifier: MIT */
/*
 * MPMC across processes: 4 producer and 4 consumer processes, each with
 * its own handle, 2 M messages per producer (times SHMRING_STRESS_SCALE):
 * no loss, no duplicate, each producer's order kept as each consumer sees
 * it, and the global sum (mpmc_stress.h). Then the owner-stamp variant
 * (reserve/commit and peek/release, each claimed slot stamped by its
 * claimer, so double ownership fails), with random yields.
 */
/* Ask for the claim mode after 8 uncontended claims, not 1024: the mode
 * moves between endpoints far more often than in use (mpmc.h). */
#define SHMRING_MPMC_SOLO_RUN 8u

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "common.h"
#include "mpmc_stress.h"

static void procs(int np, int nc, uint64_t per, uint64_t cap, uint32_t yield_mask, int stamp,
		  uint64_t init_pos, uint32_t churn)
{
	struct shmring ring;
	struct shmring_params prm;
	size_t size = ms_size((uint32_t)np, per);
	struct ms_shared *s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid[32];

	cr_assert(s != MAP_FAILED);
	s->per = per;
	s->producers = (uint32_t)np;
	s->yield_mask = yield_mask;
	s->stamp = (uint32_t)stamp;
	s->churn = churn;
	shmring_params_init(&prm, SHMRING_MPMC, cap, sizeof(struct ms_msg));
	prm.init_pos = init_pos;
	/* The claim mode (opt-in) where endpoints come and go. */
	prm.flags = SHMRING_F_COUNTERS | (churn ? SHMRING_F_SOLO : 0);
	cr_assert_eq(shmring_create_anon(&ring, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	for (int i = 0; i < np + nc; i++) {
		pid[i] = t_fork();
		cr_assert(pid[i] >= 0);
		if (pid[i] == 0) {
			struct shmring h;
			int producer = i < np;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (shmring_dup(&h, &ring, producer ? SHMRING_PRODUCER : SHMRING_CONSUMER) < 0)
				_exit(2);
			if (producer)
				ms_produce(s, &h, &ring, (uint64_t)i);
			else
				ms_consume(s, &h, &ring, (uint64_t)(i - np));
			shmring_close(&h);
			_exit(atomic_load(&s->bad) ? 1 : 0);
		}
	}
	for (int i = 0; i < np + nc; i++) {
		int st;

		cr_assert_eq(waitpid(pid[i], &st, 0), pid[i]);
		cr_assert(WIFEXITED(st), "worker %d: status 0x%x", i, st);
	}
	cr_assert_eq(ms_check(s), 0, "%s", s->why);
	cr_assert_eq(atomic_load(&s->popped), per * (uint64_t)np);
	cr_assert_eq(shmring_mpmc_count(&ring), 0);
	cr_assert_eq(shmring_atomic_load(&ring.ctrl->cons_stats.skipped, SHMRING_RELAXED), 0);
	cr_log_info("%dP%dC processes: %llu messages checked, capacity %llu%s%s; claim mode granted %llu/%llu, taken back %llu/%llu times (producers/consumers)\n",
		    np, nc, (unsigned long long)(per * (uint64_t)np), (unsigned long long)cap,
		    stamp ? ", owner stamps" : "", churn ? ", endpoints leaving and coming back" : "",
		    (unsigned long long)ring.ctrl->prod_stats.solo_grants,
		    (unsigned long long)ring.ctrl->cons_stats.solo_grants,
		    (unsigned long long)ring.ctrl->prod_stats.solo_revokes,
		    (unsigned long long)ring.ctrl->cons_stats.solo_revokes);
	shmring_close(&ring);
	munmap(s, size);
}

Test(mpmc_stress, processes_4p4c, .timeout = 580)
{
	procs(4, 4, t_scale(2000000), 1024, 0, 0, UINT64_MAX - 100000, 0);
}

Test(mpmc_stress, processes_4p4c_small_ring, .timeout = 580)
{
	procs(4, 4, t_scale(200000), 8, 0, 0, 0, 0);
}

Test(mpmc_stress, owner_stamps_4p4c, .timeout = 580)
{
	procs(4, 4, t_scale(250000), 64, 15, 1, (1ull << 62) - 5000, 0);
}

/* The claim mode (SHMRING_F_SOLO) moving between processes: endpoints
 * close and reopen (the mode is taken back from a closed holder by the
 * next claimer, and granted at attach to an endpoint alone on its side)
 * and pause (another takes the mode over from an
 * endpoint it finds idle), while the others claim with CAS or wait for
 * the mode to be taken back. */
Test(mpmc_stress, claim_mode_moving_3p3c, .timeout = 580)
{
	procs(3, 3, t_scale(300000), 64, 0, 0, UINT64_MAX - 1000, 512);
}
