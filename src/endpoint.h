/* SPDX-License-Identifier: MIT */
/*
 * The endpoint table (src/endpoint.c): library-internal, not installed.
 * Callers: the handle's open and close (region.c), the kinds' recovery,
 * the waits, ring sets and stale-name removal.
 */
#ifndef SHMRING_SRC_ENDPOINT_H
#define SHMRING_SRC_ENDPOINT_H

#include "internal.h"

/* The endpoint table of a mapped ring (entry i is shmring__ep_table(r)[i]). */
static inline struct shmring_endpoint *shmring__ep_table(const struct shmring *r)
{
	return (struct shmring_endpoint *)(void *)((unsigned char *)r->map + SHMRING_EP_OFF);
}

/* The index of entry e in its ring's table. */
static inline uint32_t shmring__ep_index(const struct shmring *r, const struct shmring_endpoint *e)
{
	return (uint32_t)(e - shmring__ep_table(r));
}

/* Is the process that filled in entry e alive (its pid, with the same
 * start time)? Reads /proc: ask seldom. The caller loaded the entry's
 * state (acquire) and found it ACTIVE, or owns the entry. */
SHMRING_HIDDEN bool shmring__ep_alive(const struct shmring_endpoint *e);
/* The BUSY word this process writes when it takes an endpoint entry. */
SHMRING_HIDDEN uint32_t shmring__ep_busy_word(void);
/* Is st a BUSY word whose holder is dead (killed between taking the entry
 * and filling it in or freeing it)? Such an entry may be taken back. */
SHMRING_HIDDEN bool shmring__ep_busy_dead(uint32_t st);

/*
 * Register the handle's endpoint for `role` (producer or consumer) at
 * open: sets r->ep. A single producer or consumer owns a fixed entry (a
 * live owner: -EBUSY, after timeout_ms for one being filled in); multi
 * mode takes a free entry, else a dead one through ops->ep_idle and
 * ops->ep_settle; -ENOSPC when none is left. Details are set.
 */
SHMRING_HIDDEN int shmring__ep_register(struct shmring *r, const struct shmring_hdr *h,
					uint32_t role, uint32_t timeout_ms,
					const struct shmring_kind_ops *ops);
/* Leave the table (close): 0, or -EIO when a peer cut the entry off. */
SHMRING_HIDDEN int shmring__ep_unregister(struct shmring *r);

/*
 * Take the ACTIVE entry e of a dead process (state read as st) to free
 * it: CAS to our BUSY word, then check again that its process is dead
 * (registration may have taken the entry over and made it ACTIVE again in
 * between); if it is alive after all, give it back. 1 if the entry is now
 * ours (BUSY), 0 if not. Not for MPMC entries: its producers ignore the
 * claim of an entry that is not ACTIVE, so even a moment of BUSY on a
 * live consumer's entry is unsafe there (MPMC recovery frees entries
 * under its lock instead, through shmring__ep_free_gone).
 */
SHMRING_HIDDEN int shmring__ep_take_dead(struct shmring_endpoint *e, uint32_t st);
/* Give back an entry we took with shmring__ep_take_dead, unchanged. */
SHMRING_HIDDEN void shmring__ep_untake(struct shmring_endpoint *e);

/* Does the dead entry e still hold something the ring needs (a kind's
 * test, for shmring__ep_free_dead)? */
typedef bool shmring__ep_needed_fn(const struct shmring *r, const struct shmring_endpoint *e);
/*
 * Free entry e, whose state word read st (with acquire where ACTIVE),
 * if its holder is dead: an entry left BUSY by a holder killed while it
 * took or freed it, or the ACTIVE entry of a dead process that holds
 * nothing (`needed`, if given, asked before and again once the entry is
 * ours). A freed
 * ACTIVE entry counts its side gone when no live endpoint of its role is
 * left (layout.h: shmring_side.gone), so that the other side's waits
 * learn of the death after the entry is gone. Returns 1 if freed, else 0.
 */
SHMRING_HIDDEN int shmring__ep_free_dead(struct shmring *r, struct shmring_endpoint *e, uint32_t st,
					 shmring__ep_needed_fn *needed);
/* Free a dead process's ACTIVE entry e of `role` that the caller owns
 * (MPMC recovery, under its lock) and count the side gone as above. */
SHMRING_HIDDEN void shmring__ep_free_gone(struct shmring *r, struct shmring_endpoint *e, uint32_t role);
/* Free every dead entry (shmring__ep_free_dead, nothing kind-specific):
 * the recovery of SPSC and MSG_SPSC rings. Returns how many it freed. */
SHMRING_HIDDEN int shmring__ep_reap(struct shmring *r);

/*
 * The other side's state from the table (the waits' liveness checks): 1
 * if some endpoint of peer_role belongs to a live process, 2 if none does
 * but an entry is being taken (BUSY, by a registrant or a reaper, whose
 * role is not known yet), -EPIPE if neither and at least one registered
 * endpoint of that role is a dead process, 0 if nobody of that role is
 * attached (not yet, or closed cleanly: keep waiting).
 */
SHMRING_HIDDEN int shmring__ep_peer_state(const struct shmring *r, uint32_t peer_role);

#endif
