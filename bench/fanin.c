/* SPDX-License-Identifier: MIT */
/*
 * shmring-fanin: fan-in throughput, threads. N producers each send M
 * 16-byte messages {producer, seq} to one consumer through
 *   set   a ring set of N SPSC rings (one per producer), polled by the consumer
 *   mpmc  one shmring MPMC ring shared by the N producers
 *   wfcq  liburcu's wait-free concurrent queue (cds_wfcq, one node per message)
 * Every message is checked (per-producer order). Subjects are interleaved
 * over the repetitions; the median of each is printed.
 *
 * Usage: shmring-fanin [-p producers] [-n messages per producer] [-r reps]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/wfcqueue.h>

#include <shmring/mpmc.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#define MAXP 64

struct m16 {
	uint64_t producer, seq;
};

struct wnode {
	struct cds_wfcq_node node;
	struct m16 m;
};

static int np = 4, reps = 5;
static uint64_t per = 1000000;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "shmring-fanin: %s: %s (%s)\n", what, shmring_strerror(err), shmring_errdetail());
	exit(1);
}

/* ---- per-producer order check ---- */

static uint64_t next_seq[MAXP];
static uint64_t got, bad;

static void check(const struct m16 *m)
{
	if (m->producer >= (uint64_t)np || m->seq != next_seq[m->producer])
		bad++;
	else
		next_seq[m->producer]++;
	got++;
}

static int set_cb(void *arg, const struct shmring_set_msg *msg)
{
	(void)arg;
	check((const struct m16 *)msg->data);
	return 0;
}

/* ---- subjects ---- */

struct parg {
	int id;
	struct shmring r;
	struct cds_wfcq_head *h;
	struct cds_wfcq_tail *t;
	struct wnode *nodes;
};

static void *prod_spsc(void *arg)
{
	struct parg *a = arg;

	for (uint64_t q = 0; q < per; q++) {
		struct m16 m = { (uint64_t)a->id, q };

		while (shmring_spsc_try_push(&a->r, &m) == -EAGAIN)
			sched_yield();
	}
	return NULL;
}

static void *prod_mpmc(void *arg)
{
	struct parg *a = arg;

	for (uint64_t q = 0; q < per; q++) {
		struct m16 m = { (uint64_t)a->id, q };

		while (shmring_mpmc_try_push(&a->r, &m) == -EAGAIN)
			sched_yield();
	}
	return NULL;
}

static void *prod_wfcq(void *arg)
{
	struct parg *a = arg;

	for (uint64_t q = 0; q < per; q++) {
		struct wnode *n = &a->nodes[q];

		cds_wfcq_node_init(&n->node);
		n->m.producer = (uint64_t)a->id;
		n->m.seq = q;
		cds_wfcq_enqueue(a->h, a->t, &n->node);
	}
	return NULL;
}

static double run(int subject)
{
	struct parg a[MAXP];
	pthread_t th[MAXP];
	struct shmring_params p;
	struct shmring_set *s = NULL;
	struct shmring mc;
	struct cds_wfcq_head h;
	struct cds_wfcq_tail t;
	uint64_t total = per * (uint64_t)np;
	double t0, t1;
	int ret;

	memset(next_seq, 0, sizeof(next_seq));
	got = bad = 0;
	if (subject == 0) {
		shmring_params_init(&p, SHMRING_SPSC, 4096, sizeof(struct m16));
		if ((ret = shmring_set_create(&s, NULL, 0)) < 0)
			die("set_create", ret);
		for (int i = 0; i < np; i++) {
			struct shmring c;

			a[i].id = i;
			if ((ret = shmring_create_anon(&a[i].r, &p, SHMRING_PRODUCER)) < 0 ||
			    (ret = shmring_dup(&c, &a[i].r, SHMRING_CONSUMER)) < 0 ||
			    (ret = shmring_set_add(s, &c, (uint64_t)i)) < 0)
				die("set member", ret);
		}
	} else if (subject == 1) {
		shmring_params_init(&p, SHMRING_MPMC, 4096, sizeof(struct m16));
		if ((ret = shmring_create_anon(&mc, &p, SHMRING_CONSUMER)) < 0)
			die("mpmc create", ret);
		for (int i = 0; i < np; i++) {
			a[i].id = i;
			if ((ret = shmring_dup(&a[i].r, &mc, SHMRING_PRODUCER)) < 0)
				die("mpmc dup", ret);
		}
	} else {
		cds_wfcq_init(&h, &t);
		for (int i = 0; i < np; i++) {
			a[i].id = i;
			a[i].h = &h;
			a[i].t = &t;
			a[i].nodes = malloc(per * sizeof(struct wnode));
			if (!a[i].nodes)
				die("malloc", -ENOMEM);
		}
	}
	t0 = now_s();
	for (int i = 0; i < np; i++)
		pthread_create(&th[i], NULL, subject == 0 ? prod_spsc : subject == 1 ? prod_mpmc : prod_wfcq,
			       &a[i]);
	while (got < total) {
		if (subject == 0) {
			if (shmring_set_poll(s, 64, set_cb, NULL) == 0)
				sched_yield();
		} else if (subject == 1) {
			struct m16 m;
			int k = 0;

			while (k < 64 && shmring_mpmc_try_pop(&mc, &m) == 0) {
				check(&m);
				k++;
			}
			if (!k)
				sched_yield();
		} else {
			struct cds_wfcq_node *n = __cds_wfcq_dequeue_nonblocking(&h, &t);

			if (n == NULL || n == CDS_WFCQ_WOULDBLOCK) {
				sched_yield();
				continue;
			}
			check(&caa_container_of(n, struct wnode, node)->m);
		}
	}
	t1 = now_s();
	for (int i = 0; i < np; i++)
		pthread_join(th[i], NULL);
	if (bad) {
		fprintf(stderr, "shmring-fanin: %llu messages out of order\n", (unsigned long long)bad);
		exit(1);
	}
	if (subject == 0) {
		shmring_set_destroy(s);
		for (int i = 0; i < np; i++)
			shmring_close(&a[i].r);
	} else if (subject == 1) {
		for (int i = 0; i < np; i++)
			shmring_close(&a[i].r);
		shmring_close(&mc);
	} else {
		cds_wfcq_destroy(&h, &t);
		for (int i = 0; i < np; i++)
			free(a[i].nodes);
	}
	return (double)total / (t1 - t0) / 1e6;
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	static const char *names[3] = { "set of SPSC rings", "one MPMC ring", "liburcu wfcqueue" };
	double r[3][32];
	int o;

	while ((o = getopt(argc, argv, "p:n:r:")) != -1) {
		if (o == 'p')
			np = atoi(optarg);
		else if (o == 'n')
			per = strtoull(optarg, NULL, 10);
		else if (o == 'r')
			reps = atoi(optarg);
		else {
			fprintf(stderr, "usage: shmring-fanin [-p producers] [-n per producer] [-r reps]\n");
			return 2;
		}
	}
	if (np < 1 || np > MAXP || reps < 1 || reps > 32 || per == 0)
		return 2;
	for (int k = 0; k < reps; k++)
		for (int sub = 0; sub < 3; sub++) {
			r[sub][k] = run(sub);
			fprintf(stderr, "\rrep %d/%d %-18s %8.2f Mmsg/s", k + 1, reps, names[sub], r[sub][k]);
		}
	fprintf(stderr, "\n");
	printf("fan-in, %d producer threads -> 1 consumer thread, %llu x 16 B messages each, %d reps (median [min-max]) on %ld CPUs\n",
	       np, (unsigned long long)per, reps, sysconf(_SC_NPROCESSORS_ONLN));
	for (int sub = 0; sub < 3; sub++) {
		qsort(r[sub], (size_t)reps, sizeof(double), cmp);
		printf("  %-18s %8.2f Mmsg/s  [%.2f-%.2f]\n", names[sub], r[sub][reps / 2], r[sub][0],
		       r[sub][reps - 1]);
	}
	return 0;
}
