/* SPDX-License-Identifier: MIT */
/*
 * Readiness as a file descriptor (include/shmring/ready.h).
 *
 * The fd handed out is an epoll instance of our own holding:
 *   - the source: an io_uring whose FUTEX_WAIT request sleeps on the
 *     ring's futex word (readable when the request completes), or an
 *     eventfd that a helper thread writes when its futex wait returns;
 *   - a pidfd per live peer process (readable when it exits);
 *   - a timerfd, armed only when pidfds cannot cover the liveness checks
 *     (too many peers, none attached yet, pidfd_open missing) or when an
 *     MPMC ring's recovery needs its periodic check.
 * An epoll fd is itself pollable, so any loop can wait on it. Arming and
 * the lost-wakeup argument are shmring_wait_arm()'s (futex.c, wait.h):
 * the waker side is exactly the blocking waits' waker side.
 *
 * A ring set's consumer (shmring_set_ready_open) has the same object over
 * the words shmring_set_wait sleeps on, armed by the same steps
 * (set_wait.c): an io_uring FUTEX_WAITV request or the helper thread's
 * futex_waitv on every member's word and the control ring's, or a
 * FUTEX_WAIT on the control ring's word alone (the doorbell); no pidfds,
 * and always the set's slice timer, as its wait has.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifdef SHMRING_HAVE_LIBURING
#include <liburing.h>
#endif

#include <shmring/ready.h>

#include "endpoint.h"
#ifdef SHMRING_HAVE_SETS
#include <shmring/set.h>

#include "set_internal.h"
#endif

/* io_uring's futex operations (kernel 6.7), absent from older headers. */
#define READY_OP_FUTEX_WAIT 51
#define READY_OP_FUTEX_WAITV 53
#define READY_FUTEX2_SIZE_U32 0x02u
#define READY_FUTEX_MATCH_ANY 0xffffffffu

/* epoll data tags of the members, and io_uring user_data values. */
#define TAG_SRC 0u
#define TAG_TIMER 1u
#define TAG_PEER 16u /* + peer index */
#define UD_FUTEX 1u
#define UD_CANCEL 2u

struct ready_peer {
	int fd; /* pidfd; -1: slot free */
	int32_t pid;
	uint64_t start;
};

enum { TH_IDLE, TH_WAIT, TH_QUIT };

/* What an arm sleeps on: one futex word, or a vector of them (a set). */
struct ready_wait {
	const void *word; /* FUTEX_WAIT while it holds value; with a vector,
			   * one of its words (wakes the helper thread) */
	uint32_t value;
	uint32_t nv;      /* > 0: FUTEX_WAITV on the nv words of wv instead */
	struct shmring__futex_waitv *wv;
};

struct shmring_ready {
	struct shmring *r;        /* the ring handle, or NULL for a set */
	struct shmring_set *set;  /* the set (shmring_set_ready_open), or NULL */
#ifdef SHMRING_HAVE_SETS
	struct set_arm sarm;      /* the set's sleeper while armed */
#endif
	int backend;
	int epfd;  /* what the loop polls */
	int srcfd; /* io_uring fd or eventfd */
	int tfd;   /* timerfd */
	int armed;
	int need_timer;
	struct ready_peer peer[SHMRING_READY_PIDS];
#ifdef SHMRING_HAVE_LIBURING
	struct io_uring ring;
	int uring_ok;
	int inflight; /* FUTEX_WAIT requests not yet completed */
#endif
	/* helper thread backend */
	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int cmd;     /* TH_*: what the thread is asked to do */
	int busy;    /* the thread is inside a wait */
	int nosys;   /* its futex_waitv returned ENOSYS */
	struct ready_wait tw;
};

static long sys_futex_wait(const void *word, uint32_t val)
{
	return syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0);
}

static long sys_futex_wake(const void *word)
{
	return syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static int sys_pidfd_open(int32_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0u);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static int ep_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* ---- helper thread ---- */

static void *ready_thread(void *arg)
{
	struct shmring_ready *rd = arg;

	pthread_mutex_lock(&rd->mu);
	for (;;) {
		while (rd->cmd == TH_IDLE)
			pthread_cond_wait(&rd->cv, &rd->mu);
		if (rd->cmd == TH_QUIT)
			break;
		struct ready_wait tw = rd->tw;
		long ret;

		rd->busy = 1;
		pthread_mutex_unlock(&rd->mu);
		/* Returns at a wake, at once if a word moved since the arm,
		 * or spuriously: each is a readiness to report. */
		if (tw.nv)
			ret = shmring__futex_waitv_abs(tw.wv, tw.nv, UINT64_MAX);
		else
			ret = sys_futex_wait(tw.word, tw.value);
		pthread_mutex_lock(&rd->mu);
		rd->busy = 0;
		if (ret < 0 && errno == ENOSYS)
			rd->nosys = 1; /* reported as readiness: the next arm takes the doorbell */
		if (rd->cmd == TH_WAIT) {
			uint64_t one = 1;

			rd->cmd = TH_IDLE;
			if (write(rd->srcfd, &one, sizeof(one)) < 0) {
				/* The counter cannot overflow at one per wake. */
			}
		}
		pthread_cond_broadcast(&rd->cv);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/* Take the thread out of a wait it is in (or about to enter). */
static void thread_stop_wait(struct shmring_ready *rd, int next)
{
	pthread_mutex_lock(&rd->mu);
	rd->cmd = next;
	pthread_cond_broadcast(&rd->cv);
	while (rd->busy) {
		struct timespec ts;

		/* A wake of the word wakes its other sleepers too, which
		 * re-check and sleep again; repeat in case it came before the
		 * thread's FUTEX_WAIT. */
		sys_futex_wake(rd->tw.word);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&rd->cv, &rd->mu, &ts);
	}
	pthread_mutex_unlock(&rd->mu);
}

/* ---- io_uring backend ---- */

#ifdef SHMRING_HAVE_LIBURING
static void prep_futex_wait(struct io_uring_sqe *sqe, const struct ready_wait *tw)
{
	if (tw->nv) {
		/* No flags, no mask: the kernel rejects them for a vector. */
		io_uring_prep_rw(READY_OP_FUTEX_WAITV, sqe, 0, tw->wv, tw->nv, 0);
	} else {
		io_uring_prep_rw(READY_OP_FUTEX_WAIT, sqe, (int)READY_FUTEX2_SIZE_U32, tw->word, 0, 0);
		sqe->addr2 = tw->value;
		sqe->addr3 = READY_FUTEX_MATCH_ANY;
	}
	sqe->user_data = UD_FUTEX;
}

/* Reap every completion posted; returns how many FUTEX_WAITs completed. */
static int uring_reap(struct shmring_ready *rd)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	while (io_uring_peek_cqe(&rd->ring, &cqe) == 0) {
		if (cqe->user_data == UD_FUTEX) {
			rd->inflight--;
			n++;
		}
		io_uring_cqe_seen(&rd->ring, cqe);
	}
	return n;
}

/* Does this kernel wait on futexes through io_uring (a vector of them:
 * vector != 0)? Probe with a word that does not hold the value: the
 * request completes at once with -EAGAIN where it is supported, -EINVAL
 * or -EOPNOTSUPP where not. */
static int uring_probe(struct shmring_ready *rd, int vector)
{
	static uint32_t probe_word;
	struct shmring__futex_waitv pv = { .val = 1, .uaddr = (uint64_t)(uintptr_t)&probe_word,
					   .flags = READY_FUTEX2_SIZE_U32 | FUTEX_PRIVATE_FLAG };
	struct ready_wait tw = { .word = &probe_word, .value = 1, .nv = vector ? 1 : 0, .wv = &pv };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	prep_futex_wait(sqe, &tw);
	if (!vector)
		sqe->fd = (int)(READY_FUTEX2_SIZE_U32 | 128u); /* FUTEX2_PRIVATE: a local word */
	ret = io_uring_submit(&rd->ring);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(&rd->ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&rd->ring, cqe);
	return ret == -EAGAIN ? 0 : -EOPNOTSUPP;
}

static int uring_open(struct shmring_ready *rd, int vector)
{
	int ret = io_uring_queue_init(8, &rd->ring, 0);

	if (ret < 0)
		return ret;
	rd->uring_ok = 1;
	ret = uring_probe(rd, vector);
	if (ret < 0) {
		io_uring_queue_exit(&rd->ring);
		rd->uring_ok = 0;
		return ret;
	}
	rd->srcfd = rd->ring.ring_fd;
	return 0;
}

static int uring_arm(struct shmring_ready *rd, const struct ready_wait *tw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);
	int ret;

	if (!sqe)
		return shmring__fail(-EBUSY, "readiness: io_uring submission queue full");
	prep_futex_wait(sqe, tw);
	ret = io_uring_submit(&rd->ring);
	if (ret < 0)
		return shmring__fail(ret, "readiness: io_uring_enter: %s", strerror(-ret));
	rd->inflight++;
	return 0;
}

/* Leave no FUTEX_WAIT behind: a late completion would make the fd
 * readable for an arm that is over. */
static int uring_disarm(struct shmring_ready *rd)
{
	uring_reap(rd);
	while (rd->inflight > 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);
		struct io_uring_cqe *cqe;
		int ret;

		if (!sqe)
			return shmring__fail(-EBUSY, "readiness: io_uring submission queue full");
		io_uring_prep_cancel64(sqe, UD_FUTEX, IORING_ASYNC_CANCEL_ALL);
		sqe->user_data = UD_CANCEL;
		ret = io_uring_submit_and_wait(&rd->ring, 1);
		if (ret < 0 && ret != -EINTR)
			return shmring__fail(ret, "readiness: io_uring_enter: %s", strerror(-ret));
		/* The cancel's own completion, then the request's. */
		while (rd->inflight > 0 && io_uring_wait_cqe(&rd->ring, &cqe) == 0) {
			if (cqe->user_data == UD_FUTEX)
				rd->inflight--;
			io_uring_cqe_seen(&rd->ring, cqe);
		}
	}
	uring_reap(rd);
	return 0;
}
#endif

/* ---- peers ---- */

static void peer_drop(struct shmring_ready *rd, int i)
{
	epoll_ctl(rd->epfd, EPOLL_CTL_DEL, rd->peer[i].fd, NULL);
	close(rd->peer[i].fd);
	rd->peer[i].fd = -1;
}

/*
 * Watch the other side's live processes: a pidfd for each endpoint entry
 * of the peer role not watched yet, none for entries that left. Costs no
 * system call while the peers stay the same. Sets need_timer when the
 * pidfds cannot cover them all.
 */
static void peers_refresh(struct shmring_ready *rd)
{
	struct shmring *r = rd->r;
	const struct shmring_endpoint *eps = shmring__ep_table(r);
	uint32_t peer_role = r->role == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER;
	int seen[SHMRING_READY_PIDS] = { 0 };
	int live = 0, uncovered = 0;

	for (uint32_t i = 0; i < r->ep_count; i++) {
		/* Acquire: pairs with the release store of state when the
		 * entry was filled in (endpoint.c). */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);

		if (st != SHMRING_EP_ACTIVE || shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) != peer_role)
			continue;
		int32_t pid = (int32_t)shmring_atomic_load(&eps[i].pid, SHMRING_RELAXED);
		uint64_t start = shmring_atomic_load(&eps[i].start_time, SHMRING_RELAXED);
		int k, fr = -1;

		live++;
		for (k = 0; k < SHMRING_READY_PIDS; k++) {
			if (rd->peer[k].fd >= 0 && rd->peer[k].pid == pid && rd->peer[k].start == start)
				break;
			if (rd->peer[k].fd < 0 && fr < 0)
				fr = k;
		}
		if (k < SHMRING_READY_PIDS) {
			seen[k] = 1;
			continue;
		}
		if (fr < 0) {
			uncovered = 1;
			continue;
		}
		int fd = sys_pidfd_open(pid);

		if (fd < 0 || !shmring__pid_alive(pid, start)) {
			/* Gone already (or pidfds missing): the liveness check
			 * of the arm that follows must run now. */
			if (fd >= 0)
				close(fd);
			else if (errno != ESRCH)
				uncovered = 1;
			r->wait.checked_ns = 0;
			continue;
		}
		if (ep_add(rd->epfd, fd, TAG_PEER + (uint32_t)fr) < 0) {
			close(fd);
			uncovered = 1;
			continue;
		}
		rd->peer[fr] = (struct ready_peer){ .fd = fd, .pid = pid, .start = start };
		seen[fr] = 1;
	}
	for (int k = 0; k < SHMRING_READY_PIDS; k++)
		if (rd->peer[k].fd >= 0 && !seen[k])
			peer_drop(rd, k);
	rd->need_timer = uncovered || live == 0 ||
			 (shmring__kind_ops(r->type)->stall_check &&
			  !(r->wait.flags & SHMRING_WAIT_F_NO_RECOVER));
}

/* ---- arming ---- */

/*
 * Armed: start the source's wait on tw and, unless timer_ns is UINT64_MAX,
 * the timer. The caller has counted itself a sleeper (S1..S4 done, not
 * ready); on failure everything is undone by the disarm.
 */
static int ready_sleep(struct shmring_ready *rd, const struct ready_wait *tw, uint64_t timer_ns)
{
	int ret;

	rd->armed = 1;
	if (timer_ns != UINT64_MAX) {
		uint64_t ns = timer_ns < 1000000u ? 1000000u : timer_ns;
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ns / 1000000000u),
							 .tv_nsec = (long)(ns % 1000000000u) } };

		if (timerfd_settime(rd->tfd, 0, &its, NULL) < 0) {
			ret = shmring__fail(-errno, "readiness: timerfd_settime: %s", strerror(errno));
			shmring_ready_disarm(rd);
			return ret;
		}
	}
#ifdef SHMRING_HAVE_LIBURING
	if (rd->backend == SHMRING_READY_URING) {
		ret = uring_arm(rd, tw);
		if (ret < 0)
			shmring_ready_disarm(rd);
		return ret;
	}
#endif
	pthread_mutex_lock(&rd->mu);
	rd->tw = *tw;
	rd->cmd = TH_WAIT;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	return 0;
}

static int ring_arm(struct shmring_ready *rd)
{
	struct shmring_wait_token tok;
	int ret;

	if (!rd->r->ctrl)
		return shmring__fail(-EBADF, "the ring handle was closed");
	peers_refresh(rd);
	ret = shmring_wait_arm(rd->r, &tok);
	if (ret != 0)
		return ret;
	struct ready_wait tw = { .word = tok.word, .value = tok.value };

	return ready_sleep(rd, &tw, rd->need_timer ? tok.recheck_ns : UINT64_MAX);
}

#ifdef SHMRING_HAVE_SETS
/* The set's consumer, not inherited over fork() and not closed. */
static int set_usable(struct shmring_set *s)
{
	int ret = shmring_wait_disarm(&s->ctl);

	if (ret < 0)
		return shmring__fail(ret, "the set is closed, or this process inherited it over fork()");
	return 0;
}

/*
 * The arm of shmring_set_wait (set_wait.c), stopping where it would sleep:
 * the same words are armed before the re-check, so a producer's wake
 * after it finds the fd's wait (or a word moved), never nothing. The
 * word list is taken at every arm: a member that joins or leaves while
 * armed rings the control ring's word, which every arm includes.
 */
static int set_arm(struct shmring_ready *rd)
{
	struct shmring_set *s = rd->set;
	struct set_arm *a = &rd->sarm;
	int ret = set_usable(s);

	if (ret < 0)
		return ret;
	ret = shmring__set_arm_hold(s, a);
	if (ret < 0)
		return shmring__fail(ret, "readiness: out of memory");
	if (shmring__set_any_ready(s, a)) {
		shmring__set_arm_release(a);
		return 1;
	}
	ret = shmring__set_arm_prepare(s, a);
	if (ret < 0) {
		shmring__set_arm_release(a);
		return shmring__fail(ret, "readiness: out of memory");
	}
	shmring__set_arm_count(s, a);
	/* S1, S3, S4 */
	int late = shmring__set_arm_epochs(s, a);

	if (shmring__set_any_ready(s, a)) {
		shmring__set_arm_uncount(s, a);
		shmring__set_arm_release(a);
		return 1;
	}
	shmring_atomic_fetch_add(&s->tab->ctr2.sleeps, 1, SHMRING_RELAXED);
	struct ready_wait tw = { .word = (const void *)&s->ctl.ctrl->cons_wait.futex,
				 .value = a->ctl_val,
				 .nv = a->doorbell ? 0 : a->n + 1,
				 .wv = a->wv };

	/* The slice of the set's wait: liveness of joined producers and, on
	 * the doorbell, producers that do not ring it. */
	return ready_sleep(rd, &tw, late ? SET_LATE_SLICE_NS : SET_SLICE_NS);
}

static void set_disarm(struct shmring_ready *rd)
{
	if (rd->nosys) {
		/* The thread's futex_waitv is missing: the set takes the
		 * doorbell, as its wait does; the next arm sleeps on it. */
		shmring__set_waitv_missing(rd->set, &rd->sarm);
		rd->nosys = 0;
	}
	shmring__set_arm_uncount(rd->set, &rd->sarm);
	shmring__set_arm_release(&rd->sarm);
}
#endif

/* ---- the API ---- */

int shmring_ready_arm(struct shmring_ready *rd)
{
	int ret;

	shmring__clear_detail();
	if (!rd)
		return shmring__fail(-EINVAL, "readiness object is NULL");
	if (rd->armed) {
		ret = shmring_ready_disarm(rd);
		if (ret < 0)
			return ret;
	}
#ifdef SHMRING_HAVE_SETS
	if (rd->set)
		return set_arm(rd);
#endif
	return ring_arm(rd);
}

int shmring_ready_disarm(struct shmring_ready *rd)
{
	struct epoll_event ev[SHMRING_READY_PIDS + 2];
	int n, ret = 0;

	if (!rd)
		return shmring__fail(-EINVAL, "readiness object is NULL");
	/* What fired: a dead peer forces the next arm's liveness check, a
	 * timer is consumed (a set's: its next poll checks liveness, as
	 * after a slice of its wait), the source is drained below. */
	n = epoll_wait(rd->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), 0);
	for (int i = 0; i < n; i++) {
		uint32_t tag = ev[i].data.u32;

		if (tag == TAG_TIMER) {
			uint64_t x;

			if (read(rd->tfd, &x, sizeof(x)) < 0) {
				/* Not expired after all: nothing to consume. */
			}
#ifdef SHMRING_HAVE_SETS
			if (rd->set && rd->armed)
				shmring_atomic_store(&rd->set->force_check, 1, SHMRING_RELAXED);
#endif
		} else if (tag >= TAG_PEER && tag < TAG_PEER + SHMRING_READY_PIDS) {
			peer_drop(rd, (int)(tag - TAG_PEER));
			if (rd->r->ctrl)
				rd->r->wait.checked_ns = 0;
		}
#ifdef SHMRING_HAVE_SETS
		else if (rd->set && rd->armed)
			shmring_atomic_fetch_add(&rd->set->tab->ctr2.wakeups, 1, SHMRING_RELAXED);
#endif
	}
	if (rd->backend == SHMRING_READY_THREAD) {
		uint64_t x;

		thread_stop_wait(rd, TH_IDLE);
		if (read(rd->srcfd, &x, sizeof(x)) < 0) {
			/* Nothing was written: the eventfd is non-blocking. */
		}
	}
#ifdef SHMRING_HAVE_LIBURING
	else
		ret = uring_disarm(rd);
#endif
	if (rd->armed) {
		struct itimerspec off = { 0 };

		rd->armed = 0;
		if (rd->need_timer)
			timerfd_settime(rd->tfd, 0, &off, NULL);
#ifdef SHMRING_HAVE_SETS
		if (rd->set)
			set_disarm(rd);
		else
#endif
		if (rd->r->ctrl) {
			int k = shmring_wait_disarm(rd->r);

			if (k < 0 && ret == 0)
				ret = k;
		}
	}
	return ret;
}

int shmring_ready_fd(const struct shmring_ready *rd)
{
	return rd ? rd->epfd : -EINVAL;
}

int shmring_ready_backend(const struct shmring_ready *rd)
{
	return rd ? rd->backend : -EINVAL;
}

void shmring_ready_close(struct shmring_ready *rd)
{
	if (!rd)
		return;
	if (rd->armed || rd->backend == SHMRING_READY_THREAD)
		shmring_ready_disarm(rd);
	if (rd->th_started) {
		thread_stop_wait(rd, TH_QUIT);
		pthread_join(rd->th, NULL);
	}
	for (int k = 0; k < SHMRING_READY_PIDS; k++)
		if (rd->peer[k].fd >= 0)
			close(rd->peer[k].fd);
#ifdef SHMRING_HAVE_LIBURING
	if (rd->uring_ok)
		io_uring_queue_exit(&rd->ring);
	else
#endif
	if (rd->srcfd >= 0)
		close(rd->srcfd);
	if (rd->tfd >= 0)
		close(rd->tfd);
	if (rd->epfd >= 0)
		close(rd->epfd);
	pthread_mutex_destroy(&rd->mu);
	pthread_cond_destroy(&rd->cv);
	free(rd);
}

static int flags_ok(uint32_t flags)
{
	if (flags & ~SHMRING_READY_F_ALL)
		return shmring__fail(-EINVAL, "flags 0x%x: unknown bits 0x%x", flags, flags & ~SHMRING_READY_F_ALL);
	return 0;
}

/*
 * A readiness object with its epoll fd, timerfd and source (an io_uring
 * whose futex wait, of a vector of words when vector is set, this kernel
 * supports; else an eventfd and the helper thread), watching nothing yet.
 */
static int ready_new(struct shmring_ready **out, uint32_t flags, int vector)
{
	struct shmring_ready *rd;
	int ret;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return shmring__fail(-ENOMEM, "readiness object: out of memory");
	rd->epfd = rd->srcfd = rd->tfd = -1;
	for (int k = 0; k < SHMRING_READY_PIDS; k++)
		rd->peer[k].fd = -1;
	pthread_mutex_init(&rd->mu, NULL);
	pthread_cond_init(&rd->cv, NULL);
	rd->epfd = epoll_create1(EPOLL_CLOEXEC);
	rd->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rd->epfd < 0 || rd->tfd < 0) {
		ret = shmring__fail(-errno, "readiness: %s: %s", rd->epfd < 0 ? "epoll_create1" : "timerfd_create",
				    strerror(errno));
		goto fail;
	}
	rd->backend = SHMRING_READY_THREAD;
#ifdef SHMRING_HAVE_LIBURING
	if (!(flags & SHMRING_READY_F_THREAD)) {
		ret = uring_open(rd, vector);
		if (ret == 0)
			rd->backend = SHMRING_READY_URING;
		else
			/* Not an error: the detail says why the thread waits. */
			shmring__fail(ret, "readiness: io_uring %s refused (%s): the helper thread waits instead",
				      vector ? "FUTEX_WAITV" : "FUTEX_WAIT", strerror(-ret));
	}
#else
	(void)flags;
	(void)vector;
#endif
	if (rd->backend == SHMRING_READY_THREAD) {
		rd->srcfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (rd->srcfd < 0) {
			ret = shmring__fail(-errno, "readiness: eventfd: %s", strerror(errno));
			goto fail;
		}
		ret = pthread_create(&rd->th, NULL, ready_thread, rd);
		if (ret != 0) {
			ret = shmring__fail(-ret, "readiness: pthread_create: %s", strerror(ret));
			goto fail;
		}
		rd->th_started = 1;
	}
	if ((ret = ep_add(rd->epfd, rd->srcfd, TAG_SRC)) < 0 || (ret = ep_add(rd->epfd, rd->tfd, TAG_TIMER)) < 0) {
		ret = shmring__fail(ret, "readiness: epoll_ctl: %s", strerror(-ret));
		goto fail;
	}
	*out = rd;
	return 0;
fail:
	shmring_ready_close(rd);
	return ret;
}

int shmring_ready_open(struct shmring_ready **out, struct shmring *r, uint32_t flags)
{
	struct shmring_ready *rd = NULL;
	int ret;

	shmring__clear_detail();
	if (!out || !r)
		return shmring__fail(-EINVAL, "%s is NULL", out ? "handle" : "out");
	ret = flags_ok(flags);
	if (ret < 0)
		return ret;
	/* The handle checks of the arm, without arming. */
	ret = shmring_wait_disarm(r);
	if (ret < 0)
		return shmring__fail(ret, "the handle is not a producer or consumer endpoint of this process");
	ret = ready_new(&rd, flags, 0);
	if (ret < 0)
		return ret;
	rd->r = r;
	*out = rd;
	return 0;
}

#ifdef SHMRING_HAVE_SETS
int shmring_set_ready_open(struct shmring_ready **out, struct shmring_set *s, uint32_t flags)
{
	struct shmring_ready *rd = NULL;
	int ret;

	shmring__clear_detail();
	if (!out || !s)
		return shmring__fail(-EINVAL, "%s is NULL", out ? "set" : "out");
	ret = flags_ok(flags);
	if (ret < 0)
		return ret;
	ret = set_usable(s);
	if (ret < 0)
		return ret;
	ret = ready_new(&rd, flags, 1);
	if (ret < 0)
		return ret;
	rd->set = s;
	rd->need_timer = 1;
	*out = rd;
	return 0;
}
#endif
