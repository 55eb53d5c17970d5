/* SPDX-License-Identifier: MIT */
/*
 * Ring sets, inside the library: the set, its members and the helpers the
 * parts share: membership (set.c), the shared membership table
 * (set_table.c) and the wait (set_wait.c).
 */
#ifndef SHMRING_SET_INTERNAL_H
#define SHMRING_SET_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <shmring/set.h>

#include "internal.h"

#if defined(__SANITIZE_THREAD__)
#define SET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SET_TSAN 1
#endif
#endif
#ifdef SET_TSAN
/* liburcu is not instrumented: tell ThreadSanitizer that a grace period
 * orders every reader's critical section before the writer goes on. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(a) __tsan_acquire(a)
#define tsan_release(a) __tsan_release(a)
/* gcc rejects fences under ThreadSanitizer; the table's only readers
 * are other processes, which it cannot follow anyway. */
#define table_release_fence() atomic_signal_fence(memory_order_seq_cst)
#else
#define tsan_acquire(a) ((void)(a))
#define tsan_release(a) ((void)(a))
#define table_release_fence() shmring_atomic_fence(SHMRING_RELEASE)
#endif

SHMRING_STATIC_ASSERT(SHMRING_SET_NAME_BYTES == SHMRING_NAME_MAX, "set entry name field");
#define LIVENESS_EVERY 64u          /* empty polls between producer liveness checks */
#define CTL_SLOT 256u               /* largest control record */
#define CTL_CAPACITY 16384u
#define CTL_JOIN SHMRING_SET_CTL_JOIN
#define SET_WAITV_MAX 128u                  /* futex_waitv's limit, control ring included */
#define SET_SLICE_NS (100ull * 1000000)     /* re-check liveness and non-joined producers */
#define SET_LATE_SLICE_NS 1000000ull        /* a light waker cannot see the sleeper: poll */

struct member {
	struct shmring r;                /* consumer handle, owned */
	uint64_t tag;
	uint32_t id;
	uint32_t auto_remove;            /* joined: remove once the producer is gone and drained */
	uint32_t announced;              /* came through the control ring: a takeover adopts it */
	SHMRING_ATOMIC(uint32_t) busy;   /* a poller is draining it */
	SHMRING_ATOMIC(uint32_t) refs;   /* the set's + sleepers' */
	SHMRING_ATOMIC(uint32_t) leaving;
	SHMRING_ATOMIC(uint32_t) empty_streak;
	uint32_t slot;                   /* its table entry, or NO_SLOT */
	struct shmring_set_counters *ctr; /* the entry's counters, or &local */
	struct shmring_set_counters local; /* when the table is full */
};

#define NO_SLOT UINT32_MAX

struct members {
	uint32_t n;
	struct member *m[];
};

struct shmring_set {
	_Atomic(struct members *) cur; /* the published membership */
	pthread_mutex_t wlock;         /* writers: add, remove, destroy */
	uint32_t next_id;
	uint32_t flags;
	SHMRING_ATOMIC(uint32_t) cursor;
	SHMRING_ATOMIC(uint32_t) ctl_busy;
	SHMRING_ATOMIC(uint32_t) no_waitv;
	SHMRING_ATOMIC(uint32_t) force_check;
	struct shmring ctl;            /* control ring, consumer side */
	char ctl_name[SHMRING_NAME_MAX + 2];
	struct shmring_set_table *tab; /* membership table (shared), written under wlock */
	size_t tab_size;
	char tab_name[SHMRING_NAME_MAX + 2];
	int tsan_gp;                   /* address for the grace-period annotation */
};


/* RCU read-side critical sections over s->cur (set.c). */
SHMRING_HIDDEN void shmring__set_read_lock(void);
SHMRING_HIDDEN void shmring__set_read_unlock(struct shmring_set *s);
/* Drop a reference to m; the last one closes its ring and frees it (set.c). */
SHMRING_HIDDEN void shmring__set_member_put(struct member *m);
/* m's ring holds a message (set.c). */
SHMRING_HIDDEN int shmring__set_member_has_data(const struct member *m);
/* set.c, for the takeover (set_adopt.c): member and membership arrays, the
 * kinds a set takes, whether a member's producers are all gone. */
SHMRING_HIDDEN struct members *shmring__set_members_alloc(uint32_t n);
SHMRING_HIDDEN struct member *shmring__set_member_new(const struct shmring *r, uint64_t tag, uint32_t eflags);
SHMRING_HIDDEN int shmring__set_kind_ok(const struct shmring *r);
SHMRING_HIDDEN int shmring__set_producer_gone(const struct member *m);
/* The name of set `name`'s control ring (set.c). */
SHMRING_HIDDEN const char *shmring__set_ctl_name(const char *name, char *ctl, size_t len);
/* set_adopt.c: adopt the set `base` whose consumer died (shmring_set_create). */
SHMRING_HIDDEN int shmring__set_adopt(struct shmring_set *s, const char *base);

/*
 * A sleeper armed on a set's members and control ring (set_wait.c), for
 * shmring_set_wait and the readiness fd (ready.c):
 *   hold     take a reference on every member (the words stay mapped);
 *   prepare  choose futex_waitv or the doorbell, size the word vector;
 *   count    S2: the waiter counts (and doorbell flags) of every block;
 *   epochs   S1 and S3: bump every epoch, fill the vector, one barrier;
 *            returns 1 when a light waker cannot see the sleeper (poll
 *            within SET_LATE_SLICE_NS);
 *   any_ready S4: the control ring or a member holds something;
 *   uncount, release: undo count and hold.
 * Sleep on the control ring's word holding ctl_val (doorbell), or on the
 * n + 1 words of wv (control ring first).
 */
struct set_arm {
	struct member **ms;
	uint32_t n;
	int doorbell;
	uint32_t ctl_val;
	struct shmring__futex_waitv *wv;
};

SHMRING_HIDDEN int shmring__set_arm_hold(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN int shmring__set_arm_prepare(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN void shmring__set_arm_count(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN int shmring__set_arm_epochs(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN int shmring__set_any_ready(struct shmring_set *s, const struct set_arm *a);
/* futex_waitv is missing (ENOSYS): the set goes to the doorbell, and the
 * counted sleeper a with it; re-arm and re-check after. */
SHMRING_HIDDEN void shmring__set_waitv_missing(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN void shmring__set_arm_uncount(struct shmring_set *s, struct set_arm *a);
SHMRING_HIDDEN void shmring__set_arm_release(struct set_arm *a);

/* The membership table (set_table.c); every writer holds s->wlock. */
SHMRING_HIDDEN struct shmring_set_entry *shmring__set_tab_entry(struct shmring_set *s, uint32_t i);
SHMRING_HIDDEN void shmring__set_tab_begin(struct shmring_set *s);
SHMRING_HIDDEN void shmring__set_tab_end(struct shmring_set *s);
SHMRING_HIDDEN void shmring__set_tab_add(struct shmring_set *s, struct member *m, const char *name);
SHMRING_HIDDEN void shmring__set_tab_del(struct shmring_set *s, struct member *m);
SHMRING_HIDDEN int shmring__set_tab_create(struct shmring_set *s, const char *base);
SHMRING_HIDDEN void shmring__set_tab_destroy(struct shmring_set *s);

#endif
