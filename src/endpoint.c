/* SPDX-License-Identifier: MIT */
/*
 * The endpoint table (layout.h: struct shmring_endpoint), the one home of
 * its lifecycle: registration (taking a free entry, or one a dead process
 * left), leaving it, the liveness of an entry's process, freeing dead
 * entries (reaping), the death counts of each side, and the state of the
 * other side as the waits see it.
 *
 * Entry states: FREE, BUSY (SHMRING_EP_BUSY_BY(pid): taken by one
 * compare-and-swap, being filled in or freed) and ACTIVE. Whoever moves an
 * entry out of BUSY owns it until then; an entry left BUSY by a killed
 * holder is taken back (shmring__ep_free_dead). The kinds decide what a
 * dead entry may still hold (shmring_kind_ops ep_idle, ep_settle and the
 * `needed` test of shmring__ep_free_dead); this file only asks them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

/* ---- liveness ---- */

bool shmring__ep_alive(const struct shmring_endpoint *e)
{
	/* Acquire: pairs with the release fence before close's store of pid
	 * 0 (a message ring producer's detach), so its writes into the ring
	 * come first; the entry's state was loaded (acquire) by the caller. */
	return shmring__pid_alive(shmring_atomic_load(&e->pid, SHMRING_ACQUIRE),
				 shmring_atomic_load(&e->start_time, SHMRING_RELAXED)) == 1;
}

uint32_t shmring__ep_busy_word(void)
{
	return SHMRING_EP_BUSY_BY(getpid());
}

bool shmring__ep_busy_dead(uint32_t st)
{
	/* No start time: a holder's pid reused by a live process keeps the
	 * entry until that process exits (a delay, never a double owner). */
	return SHMRING_EP_STATE(st) == SHMRING_EP_BUSY && !shmring__pid_alive(SHMRING_EP_BUSY_PID(st), 0);
}

/* ---- registration ---- */

static bool role_single(const struct shmring_hdr *h, uint32_t role)
{
	return (role == SHMRING_PRODUCER ? h->prod_mode : h->cons_mode) == SHMRING_MODE_SINGLE;
}

static void ep_fill(struct shmring_endpoint *e, uint32_t role)
{
	shmring_atomic_store(&e->role, role, SHMRING_RELAXED);
	shmring_atomic_store(&e->pid, (int32_t)getpid(), SHMRING_RELAXED);
	shmring_atomic_store(&e->tid, (int32_t)syscall(SYS_gettid), SHMRING_RELAXED);
	shmring_atomic_store(&e->start_time, shmring__proc_start_time(getpid()), SHMRING_RELAXED);
	shmring_atomic_store(&e->attach_ns, shmring__now_ns(CLOCK_REALTIME), SHMRING_RELAXED);
	shmring_atomic_store(&e->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
	shmring_atomic_store(&e->claim_end, SHMRING_NO_CLAIM, SHMRING_RELAXED);
	shmring_atomic_store(&e->ops, 0, SHMRING_RELAXED);
	shmring_atomic_store(&e->taken, 0, SHMRING_RELAXED);
	/* Release: pairs with the acquire load of state by readers of the
	 * table (dump, recovery, takeover), who then read the fields above. */
	shmring_atomic_store(&e->state, SHMRING_EP_ACTIVE, SHMRING_RELEASE);
}

int shmring__ep_take_dead(struct shmring_endpoint *e, uint32_t st)
{
	uint32_t busy = shmring__ep_busy_word();

	/* Acquire: pairs with the release store of state in registration:
	 * the pid and start time read below are those of whoever filled the
	 * entry last, and they cannot change while we hold it. */
	if (!shmring_atomic_cas(&e->state, &st, busy, SHMRING_ACQUIRE, SHMRING_RELAXED))
		return 0;
	if (!shmring__ep_alive(e))
		return 1;
	/* Taken over by a live process since we judged it: give it back. */
	shmring__ep_untake(e);
	return 0;
}

void shmring__ep_untake(struct shmring_endpoint *e)
{
	uint32_t busy = shmring__ep_busy_word();

	/* Release: pairs with the acquire loads of state of the table's
	 * readers; nothing of it was changed. A CAS, in case its owner
	 * closed meanwhile (then it stays FREE). */
	shmring_atomic_cas(&e->state, &busy, SHMRING_EP_ACTIVE, SHMRING_RELEASE, SHMRING_RELAXED);
}

/*
 * Take entry e, whose state word read st, for `role`: one CAS from st to
 * our BUSY word, then fill it in. Returns 1 if it is ours. An ACTIVE
 * entry is taken only from a dead process (and, with idle_ops, only if it
 * holds nothing the ring needs): the CAS cannot tell the dead owner's
 * ACTIVE from the ACTIVE of a live process that took the entry over
 * between our look and our CAS, so both are checked again once the entry
 * is ours (shmring__ep_take_dead), and it is given back otherwise.
 */
static int ep_take(struct shmring *r, struct shmring_endpoint *e, uint32_t st, uint32_t role,
		   const struct shmring_kind_ops *idle_ops)
{
	uint32_t busy = shmring__ep_busy_word();

	if (st == SHMRING_EP_ACTIVE) {
		if (!shmring__ep_take_dead(e, st))
			return 0;
		if (idle_ops && !idle_ops->ep_idle(r, e)) {
			shmring__ep_untake(e);
			return 0;
		}
	} else if (!shmring_atomic_cas(&e->state, &st, busy, SHMRING_ACQUIRE, SHMRING_RELAXED)) {
		/* Acquire on success: we read nothing of the previous
		 * owner's before we own the entry; ep_fill overwrites it. */
		return 0;
	}
	SHMRING__FAULT(SHMRING_FAULT_EP_CLAIMED);
	ep_fill(e, role);
	r->ep = e;
	return 1;
}

/*
 * Multi mode: take a free entry, or one left BUSY by a process killed
 * while it took it; else one whose process is dead and that holds nothing
 * the ring still needs (ops->ep_idle), of our own role first so that the
 * other side's waiters keep seeing their dead peer while they can; else
 * let the kind settle dead entries that hold something (ops->ep_settle:
 * MPMC recovery) and look again. The detail of -ENOSPC counts the dead.
 */
static int ep_register_multi(struct shmring *r, const struct shmring_hdr *h, uint32_t role,
			     const struct shmring_kind_ops *ops)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);
	uint32_t dead = 0;

	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 2; i < h->ep_count; i++) {
			/* Relaxed: the CAS in ep_take is the acquire that owns it. */
			uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_RELAXED);

			if ((st == SHMRING_EP_FREE || shmring__ep_busy_dead(st)) && ep_take(r, &eps[i], st, role, NULL))
				return 0;
		}
		dead = 0;
		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t i = 2; i < h->ep_count; i++) {
				struct shmring_endpoint *e = &eps[i];
				/* Acquire: pairs with the release store of state in
				 * ep_fill: pid, start time and claim are the owner's. */
				uint32_t st = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

				if (st != SHMRING_EP_ACTIVE || shmring__ep_alive(e))
					continue;
				dead += pass == 0;
				if ((shmring_atomic_load(&e->role, SHMRING_RELAXED) == role) != (pass == 0))
					continue;
				if (ops->ep_idle && ops->ep_idle(r, e) && ep_take(r, e, st, role, ops))
					return 0;
			}
		}
		if (round > 0 || !dead || !ops->ep_settle || ops->ep_settle(r) <= 0)
			break;
	}
	if (dead)
		return shmring__fail(-ENOSPC,
				     "all %u endpoint entries are taken, %u of them by dead processes that "
				     "still hold %s (shmring_recover() in %s frees them)",
				     h->ep_count - 2, dead,
				     ops->ep_settle ? "claims" : "records the consumer has not read",
				     ops->ep_settle ? "any handle" : "the consumer's handle");
	return shmring__fail(-ENOSPC, "all %u endpoint entries are taken by live processes",
			     h->ep_count - 2);
}

/*
 * Take an entry in the endpoint table. A single producer or consumer owns a
 * fixed entry; a live owner makes it -EBUSY, a dead one is taken over. An
 * entry left BUSY by a process killed while taking it is taken back.
 */
int shmring__ep_register(struct shmring *r, const struct shmring_hdr *h, uint32_t role,
			 uint32_t timeout_ms, const struct shmring_kind_ops *ops)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);
	uint64_t deadline = shmring__now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000ull;

	if (!role_single(h, role))
		return ep_register_multi(r, h, role, ops);

	struct shmring_endpoint *e = &eps[role == SHMRING_PRODUCER ? 0 : 1];

	for (;;) {
		/* Acquire: pairs with the release store in ep_fill. */
		uint32_t st = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

		if (st == SHMRING_EP_FREE || st == SHMRING_EP_ACTIVE || shmring__ep_busy_dead(st)) {
			if (st == SHMRING_EP_ACTIVE && shmring__ep_alive(e))
				return shmring__fail(-EBUSY, "the %s endpoint is held by live pid %d",
						     role == SHMRING_PRODUCER ? "producer" : "consumer",
						     (int)shmring_atomic_load(&e->pid, SHMRING_RELAXED));
			if (ep_take(r, e, st, role, NULL))
				return 0;
			continue;
		}
		if (shmring__now_ns(CLOCK_MONOTONIC) > deadline)
			return shmring__fail(-EBUSY, "the %s endpoint stayed busy",
					     role == SHMRING_PRODUCER ? "producer" : "consumer");
		usleep(1000);
	}
}

/* ---- stores the kernel makes for us ---- */

/*
 * Store 0 into a 32-bit word of the mapping without risking SIGBUS. Any
 * process that may open a named ring may also ftruncate it, and a plain
 * store to a page past the object's new end raises SIGBUS. FUTEX_WAKE_OP
 * has the kernel do the store (an atomic exchange under its fault
 * handling; wake counts 0 wake nobody): a page that is gone gives EFAULT
 * instead of a signal, with no signal handler involved. Slow paths only.
 * Returns 0 or -errno (-EFAULT: the word is no longer in the object).
 */
static int store_zero_guarded(void *word)
{
	if (syscall(SYS_futex, word, FUTEX_WAKE_OP, 0, NULL, word,
		    FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0)) < 0)
		return -errno;
	return 0;
}

int shmring__store_zero_guarded(void *word)
{
	/* Release: the caller's writes happen before the kernel's store is
	 * seen; pairs with the acquire load of that word by its readers. */
	atomic_thread_fence(memory_order_release);
	return store_zero_guarded(word);
}

/*
 * Leave the endpoint table. The entry is written only through
 * store_zero_guarded(), so a peer that shrank the object cannot make this
 * raise SIGBUS: returns 0, or -EIO when the entry is gone with the part
 * of the object a peer cut off (nothing left to free).
 */
int shmring__ep_unregister(struct shmring *r)
{
	struct shmring_endpoint *e = r->ep;
	int ret;

	if (!e)
		return 0;
	r->ep = NULL;
	/* Release: our last ring operations happen before the entry is
	 * seen free; pairs with the acquire load of state in registration,
	 * recovery and the dump reader (the kernel's exchange below is the
	 * store that fence orders). */
	atomic_thread_fence(memory_order_release);
	ret = store_zero_guarded(&e->pid);
	if (ret == 0)
		ret = store_zero_guarded(&e->state); /* SHMRING_EP_FREE */
	if (ret < 0)
		return shmring__fail(-EIO, "endpoint entry %u not cleared: %s (the object was shrunk by "
				     "another process?); the handle is released",
				     (unsigned)shmring__ep_index(r, e),
				     strerror(-ret));
	return 0;
}

/* ---- freeing dead entries ---- */

static void ep_free(struct shmring_endpoint *e)
{
	shmring_atomic_store(&e->claim_pos, SHMRING_NO_CLAIM, SHMRING_RELAXED);
	shmring_atomic_store(&e->claim_end, SHMRING_NO_CLAIM, SHMRING_RELAXED);
	shmring_atomic_store(&e->taken, 0, SHMRING_RELAXED);
	shmring_atomic_store(&e->pid, 0, SHMRING_RELAXED);
	/* Release: pairs with the acquire CAS of a new registration. */
	shmring_atomic_store(&e->state, SHMRING_EP_FREE, SHMRING_RELEASE);
}

/*
 * A dead endpoint of `role` was just freed from the table: if that left
 * the side with no live endpoint, count it in ctrl->prod.gone or
 * cons.gone (layout.h), so that waiters of the other side learn that
 * their peer died even though its entry is gone (futex.c).
 */
static void side_gone(struct shmring *r, uint32_t role)
{
	const struct shmring_endpoint *eps = shmring__ep_table(r);
	struct shmring_side *s = role == SHMRING_PRODUCER ? &r->ctrl->prod : &r->ctrl->cons;

	if (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER)
		return; /* a corrupt entry was no side's endpoint */
	for (uint32_t i = 0; i < r->ep_count; i++) {
		/* Acquire: pairs with the release store of state in registration. */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);

		/* A BUSY entry does not count: its role is not known, and
		 * the waiter that reads the count checks for live peers. */
		if (st == SHMRING_EP_ACTIVE &&
		    shmring_atomic_load(&eps[i].role, SHMRING_RELAXED) == role &&
		    shmring__ep_alive(&eps[i]))
			return; /* the side goes on: nobody waits for it in vain */
	}
	/* Release: pairs with the waiter's acquire load of the count; the
	 * freed entry is visible to its next table scan. */
	shmring_atomic_fetch_add(&s->gone, 1, SHMRING_RELEASE);
}

void shmring__ep_free_gone(struct shmring *r, struct shmring_endpoint *e, uint32_t role)
{
	ep_free(e);
	side_gone(r, role);
}

int shmring__ep_free_dead(struct shmring *r, struct shmring_endpoint *e, uint32_t st,
			  shmring__ep_needed_fn *needed)
{
	if (shmring__ep_busy_dead(st)) {
		/* Acquire on success: pairs with nothing of the dead holder's
		 * (it published nothing); orders our ep_free after we own the
		 * entry. What the holder was doing needs nothing undone, since
		 * registration fills every field and a reaper only frees
		 * entries that hold nothing. */
		if (!shmring_atomic_cas(&e->state, &st, shmring__ep_busy_word(), SHMRING_ACQUIRE,
					SHMRING_RELAXED))
			return 0;
		SHMRING__FAULT(SHMRING_FAULT_EP_REAPING);
		ep_free(e);
		return 1;
	}
	if (st != SHMRING_EP_ACTIVE || (needed && needed(r, e)) || shmring__ep_alive(e))
		return 0;
	/* We own the entry (and its process is still dead) before touching
	 * its fields: registration may take dead entries over meanwhile. */
	if (!shmring__ep_take_dead(e, st))
		return 0;
	if (needed && needed(r, e)) {
		/* Another dead owner's since we looked, holding something. */
		shmring__ep_untake(e);
		return 0;
	}
	SHMRING__FAULT(SHMRING_FAULT_EP_REAPING);
	shmring__ep_free_gone(r, e, shmring_atomic_load(&e->role, SHMRING_RELAXED));
	return 1;
}

int shmring__ep_reap(struct shmring *r)
{
	struct shmring_endpoint *eps = shmring__ep_table(r);
	int n = 0;

	for (uint32_t i = 0; i < r->ep_count; i++) {
		/* Acquire: pairs with the release store of state in registration. */
		uint32_t st = shmring_atomic_load(&eps[i].state, SHMRING_ACQUIRE);

		n += shmring__ep_free_dead(r, &eps[i], st, NULL);
	}
	return n;
}

/* ---- the other side, as a wait sees it ---- */

int shmring__ep_peer_state(const struct shmring *r, uint32_t peer_role)
{
	const struct shmring_endpoint *eps = shmring__ep_table(r);
	int dead = 0, busy = 0;

	for (uint32_t i = 0; i < r->ep_count; i++) {
		const struct shmring_endpoint *e = &eps[i];
		/* Acquire: pairs with the release store of state when the entry
		 * was filled in (ep_fill), so pid and start_time are complete. */
		uint32_t st = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

		if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY) {
			/* Being attached or taken over: maybe someone is
			 * coming; a holder killed mid-way: nobody is. */
			busy |= !shmring__ep_busy_dead(st);
			continue;
		}
		if (st != SHMRING_EP_ACTIVE || shmring_atomic_load(&e->role, SHMRING_RELAXED) != peer_role)
			continue;
		if (shmring__ep_alive(e))
			return 1;
		dead = 1;
	}
	return busy ? 2 : dead ? -EPIPE : 0;
}
