/* SPDX-License-Identifier: MIT */
/*
 * The C side of the Python binding (package shmring): one function per
 * Python operation, so that each costs Python one call. They dispatch on
 * the ring kind, wake a blocking peer after every publication or release
 * (so a Python endpoint never leaves a C peer asleep), keep a second
 * thread off a handle, and check what the library leaves to its caller
 * (how many reserved slots a commit may publish).
 *
 * cffi releases the GIL around every call into the extension, so two
 * Python threads can be in here at once. A handle belongs to one thread
 * at a time (shmring.h): every function takes the handle's busy flag
 * first and fails with -EBUSY while another thread holds it, so a close
 * can never unmap a ring under a thread that still waits on it.
 *
 * Waits take a relative timeout in nanoseconds (< 0: do not wait); the
 * Python side waits in bounded slices so that a signal's handler runs
 * between them (docs/python.md).
 *
 * Every function returns 0, a count or a length, or a negative errno;
 * pyshm_detail() then says why when the binding or the library knows.
 */
#ifndef SHMRING_PYTHON_GLUE_H
#define SHMRING_PYTHON_GLUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <shmring/shmring.h>
#include <shmring/stats.h>
#include <shmring/wait.h>
#ifdef PYSHM_SETS
#include <shmring/set.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PYSHM_HIDDEN __attribute__((visibility("hidden")))
#else
#define PYSHM_HIDDEN
#endif

/* One endpoint: the library's handle and what the binding keeps with it. */
struct pyring {
	struct shmring r;
	atomic_uint busy;     /* 1 while a thread is inside a call on this handle */
	uint32_t attached;    /* 1 from create/open until close */
	uint64_t zc;          /* slots reserved or peeked (message rings: messages peeked) */
	uint32_t zc_reserve;  /* 1: zc counts a reservation, 0: a peek */
	uint32_t reserved0;
	unsigned char *pad;   /* slot rings: one slot, for a push shorter than the slot */
};

/* The reason for the calling thread's last failure in here ("" if none),
 * and whether the binding found it (1) or a library call did (0: the
 * library's shmring_strerror() text fits its code). */
PYSHM_HIDDEN const char *pyshm_detail(void);
PYSHM_HIDDEN int pyshm_detail_own(void);

/* Lifecycle. name NULL: anonymous ring (create) or fd (open). */
PYSHM_HIDDEN int pyr_create(struct pyring *h, const char *name, uint32_t type, uint64_t capacity,
			    uint32_t slot_size, uint32_t role, uint32_t mode, uint32_t flags,
			    uint32_t max_endpoints);
PYSHM_HIDDEN int pyr_open(struct pyring *h, const char *name, int fd, uint32_t role, uint32_t type,
			  uint32_t slot_size, uint32_t mode, uint32_t timeout_ms);
PYSHM_HIDDEN int pyr_dup(struct pyring *dst, struct pyring *src, uint32_t role);
PYSHM_HIDDEN int pyr_close(struct pyring *h);
PYSHM_HIDDEN int pyr_policy(struct pyring *h, uint32_t mode, uint32_t spin_ns, uint32_t slice_ms,
			    uint32_t wake_batch);
PYSHM_HIDDEN int pyr_fd(struct pyring *h);
PYSHM_HIDDEN int pyr_recover(struct pyring *h);
PYSHM_HIDDEN int pyr_wake(struct pyring *h);
/* Messages (slot rings) or bytes (message rings) in the ring now. */
PYSHM_HIDDEN int64_t pyr_fill(struct pyring *h);

/* Copy one message in: 0, or -EAGAIN (full; with timeout_ns >= 0: waited
 * that long), -EMSGSIZE (longer than the slot or the largest message).
 * A slot ring pads a shorter message with zero bytes. */
PYSHM_HIDDEN int pyr_push(struct pyring *h, const char *p, size_t len, int64_t timeout_ns);
/* Copy one message out into buf (cap bytes): its length (slot rings: the
 * slot size), or -EAGAIN (empty; -ETIMEDOUT after waiting). */
PYSHM_HIDDEN int64_t pyr_pop(struct pyring *h, char *buf, size_t cap, int64_t timeout_ns);
/*
 * Up to n messages in: slot rings take n slots of slot_size bytes from p;
 * message rings n messages of lens[i] bytes, one after another in p.
 * Returns the count pushed (waiting for the first one when timeout_ns >= 0).
 */
PYSHM_HIDDEN int64_t pyr_push_burst(struct pyring *h, const char *p, const uint32_t *lens, uint64_t n,
				    int64_t timeout_ns);
/* Up to n messages out into buf (cap bytes), one after another; lens[i]
 * gets each length. Returns the count (waiting for the first one when
 * timeout_ns >= 0). A message ring stops before a message that does not fit. */
PYSHM_HIDDEN int64_t pyr_pop_burst(struct pyring *h, char *buf, size_t cap, uint32_t *lens, uint64_t n,
				   int64_t timeout_ns);

/*
 * Zero copy. Slot rings: reserve (peek) up to n slots, ptrs[i] (and lens[i])
 * for each; message rings: reserve room for a message of n bytes, or peek
 * the next message, in ptrs[0] (lens[0]). Returns the count (0: full /
 * empty), -EBUSY (a reservation or, slot rings, a peek is open).
 * commit publishes the first n reserved slots (message rings: the
 * message), abort drops the reservation, release frees the first n peeked
 * slots (MPMC and message rings: every one peeked; n is ignored).
 */
PYSHM_HIDDEN int64_t pyr_reserve(struct pyring *h, uint64_t n, char **ptrs, int64_t timeout_ns);
PYSHM_HIDDEN int pyr_commit(struct pyring *h, uint64_t n);
PYSHM_HIDDEN int pyr_abort(struct pyring *h);
PYSHM_HIDDEN int64_t pyr_peek(struct pyring *h, uint64_t n, char **ptrs, uint32_t *lens,
			      int64_t timeout_ns);
PYSHM_HIDDEN int pyr_release(struct pyring *h, uint64_t n);

#ifdef PYSHM_SETS
/* A ring set, shared by threads: `users` counts calls in progress;
 * destroy takes it from 0 to PYSET_GONE. */
struct pyset {
	struct shmring_set *s;
	atomic_uint users;
};
#define PYSET_GONE 0xffffffffu

/* What one poll delivered: payloads one after another in data, the
 * member, tag and length of each. Memory of the binding: pyset_batch_free. */
struct pyset_batch {
	unsigned char *data;
	size_t len, cap;
	uint32_t *member;
	uint32_t *mlen;
	uint64_t *tag;
	size_t n, ncap;
	int err;
};

/* A producer's link to a set (set.h). */
struct pyset_link {
	struct shmring_set_link l;
	uint32_t joined;
};

PYSHM_HIDDEN int pyset_create(struct pyset *ps, const char *name, uint32_t flags);
PYSHM_HIDDEN int pyset_destroy(struct pyset *ps);
/* Move an attached consumer handle into the set; h is closed after it. */
PYSHM_HIDDEN int pyset_add(struct pyset *ps, struct pyring *h, uint64_t tag);
PYSHM_HIDDEN int pyset_add_name(struct pyset *ps, const char *name, uint64_t tag);
PYSHM_HIDDEN int pyset_remove(struct pyset *ps, uint32_t member);
PYSHM_HIDDEN int pyset_poll(struct pyset *ps, uint32_t budget, struct pyset_batch *b);
PYSHM_HIDDEN void pyset_batch_free(struct pyset_batch *b);
PYSHM_HIDDEN int pyset_wait(struct pyset *ps, int64_t timeout_ns);
PYSHM_HIDDEN int pyset_fd(struct pyset *ps);
PYSHM_HIDDEN int pyset_join(struct pyset_link *l, const char *set_name, struct pyring *h,
			    const char *ring_name, uint64_t tag);
PYSHM_HIDDEN int pyset_leave(struct pyset_link *l, struct pyring *h);
#endif

#endif /* SHMRING_PYTHON_GLUE_H */
