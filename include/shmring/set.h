/* SPDX-License-Identifier: MIT */
/*
 * Ring sets: one consumer serving a changing set of rings (fan-in).
 *
 * A service often gives every producer its own SPSC ring and lets one
 * consumer drain them all: producers never contend, each keeps its order,
 * and the consumer pays one cache-line transfer per message. A set is the
 * consumer side of that pattern, a process-local object holding any number
 * of member rings (SPSC slot rings and message rings, mixed).
 *
 * Membership: an RCU-protected array (liburcu, memb flavour). Members join
 * and leave while consumer threads poll; the poll path takes no lock and
 * never waits for a membership change, and a removed ring is closed only
 * after a grace period (and after any sleeper holding it has let go).
 * Several threads may poll one set: a member is drained by one thread at a
 * time (a try-acquire flag; a busy member is skipped, never waited for).
 *
 * Observation: every set publishes its members and counters in a
 * membership table in shared memory (layout.h, struct shmring_set_table)
 * that shmring-dump --set reads without disturbing the set.
 *
 * Discovery across processes: every set has a control ring, an MSG_MPSC
 * message ring named "<set>.ctl" (a sealed memfd for an anonymous set). A
 * producer process calls shmring_set_join() with its ring's name; the
 * consumer attaches to it during its next poll or wait. A member added
 * that way is removed once its producer has closed or died, and only after
 * everything it committed has been delivered.
 *
 * Consumer restart: a set outlives its consumer process. The next
 * shmring_set_create() of the same name takes the set over (members,
 * announcements not yet taken in, what the dead consumer had not
 * released), and producers keep pushing through the restart: their
 * blocking calls return -EPIPE while no consumer is alive, retry them.
 *
 * Blocking: shmring_set_wait() sleeps until a member (or the control ring)
 * may have data. With futex_waitv (Linux 5.16+) it sleeps on every
 * member's own consumer futex word, up to 127 members plus the control
 * ring; producers wake it with the ordinary shmring_wake() and blocking calls of
 * wait.h and make no system call while the consumer is awake. Beyond 127
 * members, without futex_waitv (ENOSYS), or with SHMRING_SET_F_DOORBELL,
 * the consumer sleeps on one set-wide doorbell (the control ring's
 * consumer futex word) and flags every member's wait block; a producer
 * that joined through the control ring rings the doorbell from its wake
 * slow path when it sees the flag. Producers that did not join
 * (shmring_set_add of a ring whose producer knows nothing of the set) are
 * still noticed in doorbell mode, within the set's re-check slice.
 */
#ifndef SHMRING_SET_H
#define SHMRING_SET_H

#include <time.h>

#include <shmring/shmring.h>
#include <shmring/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmring_set; /* opaque, process-local */

/* shmring_set_create flags */
#define SHMRING_SET_F_DOORBELL 0x1u /* always sleep on the doorbell, never futex_waitv */

/* A message delivered by shmring_set_poll: valid until the callback returns. */
struct shmring_set_msg {
	uint32_t member;  /* member id (shmring_set_add) */
	uint32_t len;     /* payload bytes (slot rings: the slot size) */
	uint64_t tag;     /* the tag given when the member was added */
	const void *data; /* in the ring itself (zero copy) */
};

/* Return 0 to go on, anything else to stop the poll after this message. */
typedef int shmring_set_fn(void *arg, const struct shmring_set_msg *m);

struct shmring_set_stats {
	uint64_t polls;     /* shmring_set_poll calls */
	uint64_t messages;  /* messages delivered */
	uint64_t sleeps;    /* waits of shmring_set_wait, arms of its fd */
	uint64_t wakeups;   /* sleeps that ended before their deadline */
	uint64_t joins;     /* members added (by name, handle or control ring) */
	uint64_t leaves;    /* members removed */
	uint32_t members;   /* members now */
	uint32_t doorbell;  /* 1 if the set sleeps on its doorbell */
};

struct shmring_set_member_stats {
	uint64_t messages;    /* messages delivered from this member */
	uint64_t empty_polls; /* polls that found it empty */
	uint64_t tag;
	uint32_t type;        /* SHMRING_SPSC, SHMRING_MSG_SPSC, ... */
	uint32_t auto_remove; /* 1: joined through the control ring */
};

/*
 * Create a set. name: the set's name ("/name" or "name", at most
 * SHMRING_NAME_MAX - 4 bytes; its control ring is "<name>.ctl" and its
 * membership table, which shmring-dump reads, "<name>.set", both mode
 * 0600), or NULL for an anonymous set (producers in the same process, or
 * processes given the control ring's fd).
 *
 * Takeover: when the named set exists and its consumer process is dead
 * (pid and start time), the call takes the set over instead, and its
 * producers go on as they were: it becomes the control ring's consumer
 * (announcements not yet taken in are read by the next poll) and adopts
 * every ring the table lists as announced on the control ring, taking
 * over the dead consumer's entry on each: messages the dead consumer had
 * not released (at most one poll's budget per ring, taken but not
 * released when it died) are delivered again, nothing released comes
 * back, nothing is lost. A joined ring whose producer has gone and that
 * holds nothing is not adopted; one that still holds messages is drained,
 * then removed as usual. Rings the dead consumer added itself
 * (shmring_set_add, shmring_set_add_name) are not adopted: add them again
 * (the open takes over the dead consumer's entry). The table, its
 * counters and each adopted member's counters go on; member ids are new.
 * Only the rings the table lists are adopted (SHMRING_SET_CAPACITY); an
 * anonymous set cannot be taken over.
 *
 * Returns 0, -EINVAL, -EEXIST (the set's consumer is alive, the control
 * ring's name is taken by something that is not a set's control ring, or
 * the table's by an object that is not a table left by a dead set),
 * -ENOMEM, -ENOSPC (no room in /dev/shm), or what shmring_create returns.
 * A library built without liburcu has no ring sets: none of the
 * functions of this header.
 */
SHMRING_API int shmring_set_create(struct shmring_set **out, const char *name, uint32_t flags);

/* Close every member and the control ring (its name is unlinked). All
 * other calls on the set must have returned. */
SHMRING_API int shmring_set_destroy(struct shmring_set *s);

/*
 * Add a ring the caller has attached as consumer. The handle moves into
 * the set (*r is zeroed: do not use or close it). Returns the member id
 * (>= 0), or -EINVAL (not a consumer handle of an SPSC or message ring),
 * -ENOMEM.
 */
SHMRING_API int shmring_set_add(struct shmring_set *s, struct shmring *r, uint64_t tag);

/* Open a ring by name as its consumer and add it. Returns the member id
 * or what shmring_open or shmring_set_add return. */
SHMRING_API int shmring_set_add_name(struct shmring_set *s, const char *ring_name, uint64_t tag);

/* Remove a member; it is closed after a grace period. Messages still in
 * it are not delivered. Returns 0 or -ENOENT. */
SHMRING_API int shmring_set_remove(struct shmring_set *s, uint32_t member);

/*
 * Deliver up to `budget` messages from each member that has some, in
 * round-robin order starting one member further at every call, to fn.
 * Also attaches rings announced on the control ring, and removes joined
 * members whose producer has gone once they are drained. Returns the
 * number of messages delivered (0: none ready), or -EINVAL.
 * Safe to call from several threads at once.
 */
SHMRING_API int shmring_set_poll(struct shmring_set *s, uint32_t budget, shmring_set_fn *fn,
				 void *arg);

/*
 * Sleep until a member or the control ring may have data, or the absolute
 * CLOCK_MONOTONIC deadline passes (NULL: none). Returns 0 (poll now: it may
 * still find nothing), -ETIMEDOUT, -EINVAL. Signals do not end the wait.
 */
SHMRING_API int shmring_set_wait(struct shmring_set *s, const struct timespec *deadline);

/*
 * A readiness fd for the set's consumer (ready.h): readable when a member
 * or the control ring (joins, leaves) may have something, for epoll,
 * poll, libuv or io_uring loops. Use it with shmring_ready_fd, _arm,
 * _disarm and _close as a ring's: take with shmring_set_poll() until it
 * returns 0, then arm (1: something came meanwhile, poll again; 0:
 * armed); when the fd is readable, disarm and poll. Arming takes the
 * members as they are at that arm (a join or leave while armed makes the
 * fd readable; the poll after takes it in and the next arm covers the new
 * word list). The fd also turns readable once per 100 ms slice while
 * armed, as shmring_set_wait() returns: the poll that follows checks
 * whether joined producers have gone. flags: SHMRING_READY_F_THREAD.
 * Backends: SHMRING_READY_URING (io_uring FUTEX_WAITV over the words
 * shmring_set_wait sleeps on, or FUTEX_WAIT on the doorbell), else
 * SHMRING_READY_THREAD (a helper thread in futex_waitv or on the
 * doorbell). One object per set, used from one thread; close it before
 * shmring_set_destroy(). Returns 0, -EINVAL (NULL argument, unknown
 * flags), -EBADF (a set this process inherited over fork()), -ENOMEM, or
 * the errno of the call that failed, with the detail. Its arm returns 1,
 * 0, -EBADF, -ENOMEM or the errno of io_uring_enter / timerfd_settime,
 * never -EPIPE (producers that have gone are removed by the poll).
 */
struct shmring_ready;
SHMRING_API int shmring_set_ready_open(struct shmring_ready **out, struct shmring_set *s, uint32_t flags);

/* Make an in-process producer ring the set's doorbell when it wakes (what
 * shmring_set_join does for another process). Returns 0 or -EINVAL. */
SHMRING_API int shmring_set_link_producer(struct shmring_set *s, struct shmring *producer);

/*
 * Statistics. A set has three views, each its own call:
 *   shmring_set_stats         the set's own counters (polls, sleeps,
 *                             membership changes), kept in its table;
 *   shmring_set_member_stats  what the set delivered from one member;
 *   shmring_set_member_ring_stats  the member's ring itself, as
 *                             shmring_stats() (stats.h) reports any ring:
 *                             fill, positions, the ring's counters and
 *                             endpoints, in the versioned struct.
 * The first two structs are the set's and keep their layout; only the
 * ring view is versioned, as it grows with the rings' counters.
 * shmring-dump --set shows all three from shared memory.
 */
/* Returns 0, or -EINVAL (s or st NULL). */
SHMRING_API int shmring_set_stats(struct shmring_set *s, struct shmring_set_stats *st);
/* Returns 0, -ENOENT (no such member) or -EINVAL (s or st NULL). */
SHMRING_API int shmring_set_member_stats(struct shmring_set *s, uint32_t member,
					 struct shmring_set_member_stats *st);
/* The member's ring through the set's consumer handle of it; out->size
 * set by the caller as for shmring_stats. Returns 0, -ENOENT (no such
 * member; out unchanged), or what shmring_stats returns (-EINVAL for s,
 * out NULL or a bad out->size). Safe while other threads poll the set. */
SHMRING_API int shmring_set_member_ring_stats(struct shmring_set *s, uint32_t member,
					      struct shmring_ring_stats *out);

/* The set's control ring descriptor (anonymous sets: pass it to producers,
 * which use shmring_set_join_fd). */
SHMRING_API int shmring_set_fd(const struct shmring_set *s);

/* ---- producer side ---- */

/* A producer's link to a set: keep it open while the ring is in use. */
struct shmring_set_link {
	struct shmring ctl; /* the set's control ring, as a producer */
};

/*
 * Announce the named ring `ring_name` (which `ring`, this process's
 * producer handle of it, is attached to) to the set `set_name`, and make
 * `ring` ring the set's doorbell when it wakes the consumer; `tag` is
 * what the consumer's messages from it carry. Returns 0, or
 * -ENOENT (no such set), -EINVAL, -EAGAIN (control ring full: retry),
 * or what shmring_open returns.
 */
SHMRING_API int shmring_set_join(struct shmring_set_link *l, const char *set_name,
				 struct shmring *ring, const char *ring_name, uint64_t tag);

/*
 * shmring_set_join with the set's control ring opened under opts
 * (shmring_open; NULL as for shmring_set_join). With
 * SHMRING_OPEN_F_WAIT_CREATE a producer started before the set's
 * consumer waits up to opts->timeout_ms for the set to be created, and
 * gets -ETIMEDOUT if it is not; opts->type and slot_size must be 0 or
 * match the control ring (SHMRING_MSG_MPSC). Returns what
 * shmring_set_join does.
 */
SHMRING_API int shmring_set_join_opts(struct shmring_set_link *l, const char *set_name,
				      struct shmring *ring, const char *ring_name, uint64_t tag,
				      const struct shmring_open_opts *opts);

/* The same through the control ring's descriptor (anonymous sets). */
SHMRING_API int shmring_set_join_fd(struct shmring_set_link *l, int ctl_fd, struct shmring *ring,
				    const char *ring_name, uint64_t tag);

/* Forget the set: `ring` stops ringing its doorbell; the link is closed.
 * The consumer removes the ring once its producer has closed it and it is
 * drained. */
SHMRING_API int shmring_set_leave(struct shmring_set_link *l, struct shmring *ring);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_SET_H */
