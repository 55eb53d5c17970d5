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

/* io_uring's futex operations (kernel 6.7), absent from older headers. */
#define READY_OP_FUTEX_WAIT 51
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

struct shmring_ready {
	struct shmring *r;
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
	struct shmring_wait_token ttok;
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
		struct shmring_wait_token tok = rd->ttok;

		rd->busy = 1;
		pthread_mutex_unlock(&rd->mu);
		/* Returns at a wake, at once if the word moved since the arm,
		 * or spuriously: each is a readiness to report. */
		sys_futex_wait(tok.word, tok.value);
		pthread_mutex_lock(&rd->mu);
		rd->busy = 0;
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
		sys_futex_wake(rd->ttok.word);
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
static void prep_futex_wait(struct io_uring_sqe *sqe, const struct shmring_wait_token *tok)
{
	io_uring_prep_rw(READY_OP_FUTEX_WAIT, sqe, (int)READY_FUTEX2_SIZE_U32, tok->word, 0, 0);
	sqe->addr2 = tok->value;
	sqe->addr3 = READY_FUTEX_MATCH_ANY;
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

/* Does this kernel wait on futexes through io_uring? Probe with a word
 * that does not hold the value: the request completes at once with
 * -EAGAIN where it is supported, -EINVAL or -EOPNOTSUPP where not. */
static int uring_probe(struct shmring_ready *rd)
{
	static uint32_t probe_word;
	struct shmring_wait_token tok = { .word = &probe_word, .value = 1 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	prep_futex_wait(sqe, &tok);
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

static int uring_open(struct shmring_ready *rd)
{
	int ret = io_uring_queue_init(8, &rd->ring, 0);

	if (ret < 0)
		return ret;
	rd->uring_ok = 1;
	ret = uring_probe(rd);
	if (ret < 0) {
		io_uring_queue_exit(&rd->ring);
		rd->uring_ok = 0;
		return ret;
	}
	rd->srcfd = rd->ring.ring_fd;
	return 0;
}

static int uring_arm(struct shmring_ready *rd, const struct shmring_wait_token *tok)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);
	int ret;

	if (!sqe)
		return shmring__fail(-EBUSY, "readiness: io_uring submission queue full");
	prep_futex_wait(sqe, tok);
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

/* ---- the API ---- */

int shmring_ready_arm(struct shmring_ready *rd)
{
	struct shmring_wait_token tok;
	int ret;

	shmring__clear_detail();
	if (!rd)
		return shmring__fail(-EINVAL, "readiness object is NULL");
	if (rd->armed) {
		ret = shmring_ready_disarm(rd);
		if (ret < 0)
			return ret;
	}
	if (!rd->r->ctrl)
		return shmring__fail(-EBADF, "the ring handle was closed");
	peers_refresh(rd);
	ret = shmring_wait_arm(rd->r, &tok);
	if (ret != 0)
		return ret;
	rd->armed = 1;
	if (rd->need_timer && tok.recheck_ns != UINT64_MAX) {
		uint64_t ns = tok.recheck_ns < 1000000u ? 1000000u : tok.recheck_ns;
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
		ret = uring_arm(rd, &tok);
		if (ret < 0)
			shmring_ready_disarm(rd);
		return ret;
	}
#endif
	pthread_mutex_lock(&rd->mu);
	rd->ttok = tok;
	rd->cmd = TH_WAIT;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	return 0;
}

int shmring_ready_disarm(struct shmring_ready *rd)
{
	struct epoll_event ev[SHMRING_READY_PIDS + 2];
	int n, ret = 0;

	if (!rd)
		return shmring__fail(-EINVAL, "readiness object is NULL");
	/* What fired: a dead peer forces the next arm's liveness check, a
	 * timer is consumed, the source is drained below. */
	n = epoll_wait(rd->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), 0);
	for (int i = 0; i < n; i++) {
		uint32_t tag = ev[i].data.u32;

		if (tag == TAG_TIMER) {
			uint64_t x;

			if (read(rd->tfd, &x, sizeof(x)) < 0) {
				/* Not expired after all: nothing to consume. */
			}
		} else if (tag >= TAG_PEER && tag < TAG_PEER + SHMRING_READY_PIDS) {
			peer_drop(rd, (int)(tag - TAG_PEER));
			if (rd->r->ctrl)
				rd->r->wait.checked_ns = 0;
		}
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

int shmring_ready_open(struct shmring_ready **out, struct shmring *r, uint32_t flags)
{
	struct shmring_ready *rd;
	struct shmring_wait_token tok;
	int ret;

	shmring__clear_detail();
	if (!out || !r)
		return shmring__fail(-EINVAL, "%s is NULL", out ? "handle" : "out");
	if (flags & ~SHMRING_READY_F_ALL)
		return shmring__fail(-EINVAL, "flags 0x%x: unknown bits 0x%x", flags, flags & ~SHMRING_READY_F_ALL);
	/* The handle checks of the arm, without arming. */
	ret = shmring_wait_disarm(r);
	if (ret < 0)
		return shmring__fail(ret, "the handle is not a producer or consumer endpoint of this process");
	(void)tok;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return shmring__fail(-ENOMEM, "readiness object: out of memory");
	rd->r = r;
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
	if (!(flags & SHMRING_READY_F_THREAD) && uring_open(rd) == 0)
		rd->backend = SHMRING_READY_URING;
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
