/* SPDX-License-Identifier: MIT */
/*
 * Readiness as a file descriptor: wait on a ring from an event loop
 * (epoll, poll, select, libuv, libevent, io_uring poll) next to sockets
 * and timers, between unrelated processes.
 *
 *   struct shmring_ready *rd;
 *   shmring_ready_open(&rd, &cons, 0);
 *   add shmring_ready_fd(rd) to the loop, for reading;
 *   loop:
 *       take what there is (try_pop, peek ...) until -EAGAIN;
 *       ret = shmring_ready_arm(rd);
 *       if (ret > 0)  take again (it came while arming);
 *       if (ret == 0) go back to the loop: the fd turns readable when
 *                     the ring has data (room, for a producer), when the
 *                     peer dies, or when a liveness check falls due;
 *       on readable:  shmring_ready_disarm(rd), then take.
 *       if (ret < 0)  -EPIPE: the peer died and nothing is left.
 *
 * The fd is level-triggered from the wake until shmring_ready_disarm();
 * it may turn readable with nothing to take (a wake meant for another
 * waiter, a liveness check): take, find -EAGAIN, arm again. With an
 * edge-triggered epoll registration, disarm and arm after each event.
 *
 * The waking side changes nothing: the blocking calls of wait.h and the
 * shmring_*_wake() calls wake an armed fd as they wake a sleeper, and make
 * no system call while nobody is armed or asleep. try_* operations never
 * wake: a producer whose consumer may wait on an fd uses the *_wait
 * calls, or calls shmring_spsc_wake() (and the like) after its try_*.
 *
 * Two ways to make the fd, chosen at open:
 *   SHMRING_READY_URING   an io_uring instance (kernel 6.7 or later: the
 *                         FUTEX_WAIT operation) waits on the ring's own
 *                         futex word; the fd is the io_uring's, readable
 *                         when a completion is posted. No thread.
 *   SHMRING_READY_THREAD  elsewhere (older kernels, io_uring refused by a
 *                         seccomp policy): a helper thread of the calling
 *                         process sleeps on the futex word and writes an
 *                         eventfd. One more hop per wake.
 * A dead peer is seen through pidfds of the other side's processes (up to
 * SHMRING_READY_PIDS of them; with more, and on MPMC rings whose
 * recovery runs at liveness checks, also a timer of the handle's slice).
 *
 * One readiness object per handle; use the handle and its readiness
 * object from one thread, and close the object before the handle.
 *
 * A ring set's consumer gets the same object from shmring_set_ready_open
 * (set.h): arm, disarm and close as above, taking with shmring_set_poll.
 */
#ifndef SHMRING_READY_H
#define SHMRING_READY_H

#include <shmring/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_READY_F_THREAD 0x1u /* use the helper thread even where io_uring could wait */
#define SHMRING_READY_F_ALL 0x1u

#define SHMRING_READY_URING 1  /* shmring_ready_backend() */
#define SHMRING_READY_THREAD 2

#define SHMRING_READY_PIDS 8   /* peers watched through pidfds */

struct shmring_ready;

/*
 * Make a readiness object for handle r (a producer or consumer endpoint of
 * any ring kind). Returns 0, -EBADF (observer, no role, closed or
 * inherited handle), -EINVAL (NULL argument, unknown flags), -ENOMEM, or
 * the errno of the call that failed (io_uring_setup, eventfd,
 * pthread_create), with the detail.
 */
SHMRING_API int shmring_ready_open(struct shmring_ready **out, struct shmring *r, uint32_t flags);

/* The file descriptor to poll for reading. Owned by the object. */
SHMRING_API int shmring_ready_fd(const struct shmring_ready *rd);

/* SHMRING_READY_URING or SHMRING_READY_THREAD. */
SHMRING_API int shmring_ready_backend(const struct shmring_ready *rd);

/*
 * Arm: 1 ready now (not armed; take), 0 armed (poll the fd), -EPIPE
 * (every peer of the other side died and nothing is left), -EBADF, -EPROTO,
 * or the errno of io_uring_enter. Arming while armed re-arms.
 */
SHMRING_API int shmring_ready_arm(struct shmring_ready *rd);

/*
 * Disarm after the fd turned readable, or to stop waiting: the fd is not
 * readable afterwards until the next arm fires. Returns 0, -EBADF, or the
 * errno of io_uring_enter.
 */
SHMRING_API int shmring_ready_disarm(struct shmring_ready *rd);

/* Disarm, stop the helper thread if any, close the fd and free rd. */
SHMRING_API void shmring_ready_close(struct shmring_ready *rd);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_READY_H */
