/* SPDX-License-Identifier: MIT */
/* shmring-bench: helpers shared with the adapters, the endpoints (threads
 * or processes) and one run of a case. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <shmring/topo.h>
#include "harness.h"

/* ------------------------------------------------------------------ */
/* helpers shared with the adapters */

void bench_fail(struct bench_run *run, const char *what, int err)
{
	if (atomic_fetch_add(&run->errors, 1) == 0)
		snprintf(run->errmsg, sizeof(run->errmsg), "%s: %s", what, strerror(err < 0 ? -err : err));
	/* Wake everybody: a peer waiting for our messages would spin forever. */
	atomic_store(&run->t_end, bench_now());
}

void *bench_alloc_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_free_shared(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static _Thread_local void *ep_bufs[4];
static _Thread_local int ep_nbufs;

void *bench_msgbuf(struct bench_run *run, size_t n)
{
	(void)run;
	if (ep_nbufs == 4)
		return NULL;
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);

	if (p)
		ep_bufs[ep_nbufs++] = p;
	return p;
}

static void ep_bufs_free(void)
{
	while (ep_nbufs > 0)
		free(ep_bufs[--ep_nbufs]);
}

void bench_producer_done(struct bench_run *run, uint64_t sum, uint64_t n)
{
	atomic_fetch_add(&run->sum_sent, sum);
	atomic_fetch_add(&run->nsent, n);
}

void bench_consumer_done(struct bench_run *run, uint64_t sum, uint64_t n)
{
	uint64_t now = bench_now(), prev = atomic_load(&run->t_end);

	atomic_fetch_add(&run->sum_recv, sum);
	atomic_fetch_add(&run->nrecv, n);
	while (prev < now && !atomic_compare_exchange_weak(&run->t_end, &prev, now))
		;
}

/* ------------------------------------------------------------------ */
/* endpoints */

struct ep_arg {
	struct bench_run *run;
	int role; /* BR_PROD / BR_CONS; rtt: BR_PROD = client */
	uint32_t id;
	int cpu;
};

static void pin(int cpu)
{
	if (cpu >= 0)
		shmring_bind_thread_cpu(cpu);
}

static void ep_main(struct ep_arg *a)
{
	struct bench_run *run = a->run;
	const struct bench_subject *s = run->s;
	void *ep[2] = { calloc(1, s->ep_size ? s->ep_size : 1), calloc(1, s->ep_size ? s->ep_size : 1) };
	int opened = 0, r = 0;
	unsigned spins = 0;

	pin(a->cpu);
	if (!ep[0] || !ep[1]) {
		bench_fail(run, "endpoint", -ENOMEM);
		goto out;
	}
	if (run->rtt) {
		/* client: ring 0 out, ring 1 back; server: the reverse */
		int r0 = a->role == BR_PROD ? BR_PROD : BR_CONS, r1 = a->role == BR_PROD ? BR_CONS : BR_PROD;

		if ((r = s->ep_open(run, ep[0], 0, r0)) == 0) {
			opened = 1;
			if ((r = s->ep_open(run, ep[1], 1, r1)) == 0)
				opened = 2;
		}
	} else if ((r = s->ep_open(run, ep[0], 0, a->role)) == 0) {
		opened = 1;
	}
	if (r < 0)
		bench_fail(run, "attach", r);
	atomic_fetch_add(&run->ready, 1);
	while (!atomic_load_explicit(&run->go, memory_order_acquire))
		bench_relax(&spins);
	if (r == 0 && !atomic_load(&run->errors)) {
		struct rusage ru0, ru1;

		getrusage(RUSAGE_THREAD, &ru0);
		if (!run->rtt && a->role == BR_PROD)
			s->producer(run, ep[0], a->id);
		else if (!run->rtt)
			s->consumer(run, ep[0], a->id);
		else if (a->role == BR_PROD)
			s->client(run, ep[0], ep[1]);
		else
			s->server(run, ep[0], ep[1]);
		getrusage(RUSAGE_THREAD, &ru1);
		atomic_fetch_add(&run->preempt, (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw));
	}
	ep_bufs_free();
	for (int i = opened - 1; i >= 0; i--)
		if (s->ep_close)
			s->ep_close(run, ep[i]);
out:
	free(ep[0]);
	free(ep[1]);
}

static void *ep_thread(void *p)
{
	ep_main(p);
	return NULL;
}

static pid_t children[2 * BENCH_MAX_EP];
static int nchildren;
static volatile sig_atomic_t watchdog_label_ok;
static char watchdog_label[128];

void on_alarm(int sig)
{
	static const char msg[] = "\nshmring-bench: a run did not finish in time, giving up: ";

	(void)sig;
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0 || (watchdog_label_ok &&
	    write(2, watchdog_label, strlen(watchdog_label)) < 0) || write(2, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

/*
 * One run of one case with `count` messages (or round trips).
 * Returns elapsed ns (> 0), or -errno with c->err filled.
 */
int64_t run_once(struct bench_case *c, uint64_t count)
{
	struct bench_run *run = run_shm;
	const struct bench_subject *s = c->s;
	struct ep_arg args[2 * BENCH_MAX_EP];
	pthread_t th[2 * BENCH_MAX_EP];
	int nep = 0, r;
	int64_t ns;
	unsigned spins = 0;

	memset(run, 0, offsetof(struct bench_run, hist));
	memset(&run->hist, 0, sizeof(run->hist));
	run->hist.min = UINT64_MAX;
	run->s = s;
	run->size = c->size;
	run->burst = c->burst;
	run->nprod = c->nprod;
	run->ncons = c->ncons;
	run->procs = c->procs;
	run->rtt = c->rtt;
	run->capacity = c->capacity;
	run->count = count;
	/* Many endpoints on two cores: a preempted peer can stall each
	 * message for a time slice, so look at the clock more often. */
	run->check_mask = c->nprod > 1 || c->ncons > 1 ? 7 : 255;
	run->cpu[0] = O.cpu[0];
	run->cpu[1] = O.cpu[1];

	snprintf(watchdog_label, sizeof(watchdog_label), "%s", c->label);
	watchdog_label_ok = 1;
	alarm((unsigned)(60 + 20 * (O.duration_ms + O.warmup_ms) / 1000));

	if ((r = s->setup(run)) < 0) {
		snprintf(c->err, sizeof(c->err), "setup: %s", strerror(-r));
		alarm(0);
		return r;
	}
	if (s->flags & BS_CUSTOM) {
		pin(O.cpu[0]);
		ns = s->custom(run);
		goto done;
	}
	if (run->rtt) {
		args[nep++] = (struct ep_arg){ run, BR_PROD, 0, O.cpu[0] };
		args[nep++] = (struct ep_arg){ run, BR_CONS, 0, O.cpu[1] };
	} else {
		for (uint32_t i = 0; i < run->nprod; i++)
			args[nep++] = (struct ep_arg){ run, BR_PROD, i, O.cpu[0] };
		for (uint32_t i = 0; i < run->ncons; i++)
			args[nep++] = (struct ep_arg){ run, BR_CONS, i, O.cpu[1] };
	}
	nchildren = 0;
	for (int i = 0; i < nep; i++) {
		if (run->procs) {
			pid_t pid = fork();

			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				ep_main(&args[i]);
				_exit(0);
			}
			if (pid < 0) {
				bench_fail(run, "fork", -errno);
				atomic_fetch_add(&run->ready, 1);
			}
			children[nchildren++] = pid;
		} else if ((r = pthread_create(&th[i], NULL, ep_thread, &args[i])) != 0) {
			bench_fail(run, "pthread_create", -r);
			th[i] = 0;
			atomic_fetch_add(&run->ready, 1);
		}
	}
	while (atomic_load(&run->ready) < (uint32_t)nep)
		bench_relax(&spins);
	atomic_store(&run->t_start, bench_now());
	/* A run that goes far slower than calibrated (a preempted lock
	 * holder) ends early; its rate counts what it moved. */
	run->deadline = atomic_load(&run->t_start) +
			(uint64_t)(3e6 * (O.duration_ms > O.warmup_ms ? O.duration_ms : O.warmup_ms)) + 2000000;
	/* Release: the endpoints' acquire load of go sees t_start. */
	atomic_store_explicit(&run->go, 1, memory_order_release);
	for (int i = 0; i < nep; i++) {
		if (run->procs) {
			int st;

			if (children[i] > 0 && waitpid(children[i], &st, 0) > 0 &&
			    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
				bench_fail(run, "endpoint process died", -ECHILD);
		} else if (th[i]) {
			pthread_join(th[i], NULL);
		}
	}
	nchildren = 0;
	ns = (int64_t)(atomic_load(&run->t_end) - atomic_load(&run->t_start));
done:
	s->teardown(run);
	alarm(0);
	if (atomic_load(&run->errors)) {
		snprintf(c->err, sizeof(c->err), "%s", run->errmsg[0] ? run->errmsg : "failed");
		return -EPROTO;
	}
	if (ns < 0)
		return ns;
	if (!(s->flags & BS_CUSTOM) && !run->rtt) {
		/* BS_BCAST: each consumer gets every message (less what a lossy
		 * one lost, whose sum is then unknown: its order was checked) */
		uint64_t k = (s->flags & BS_BCAST) ? run->ncons : 1;
		uint64_t due = k * atomic_load(&run->nsent), got = atomic_load(&run->nrecv);
		uint64_t lost = atomic_load(&run->nlost);

		if (got + lost != due || (!(s->flags & BS_LOSSY) && (lost ||
		    atomic_load(&run->sum_recv) != k * atomic_load(&run->sum_sent)))) {
			int n = snprintf(c->err, sizeof(c->err), "lost or duplicated messages: %llu of %llu received",
					 (unsigned long long)got, (unsigned long long)due);

			if (lost && n > 0 && (size_t)n < sizeof(c->err))
				snprintf(c->err + n, sizeof(c->err) - (size_t)n, ", %llu reported lost",
					 (unsigned long long)lost);
			return -EPROTO;
		}
	}
	return ns > 0 ? ns : 1;
}

