/* SPDX-License-Identifier: MIT */
/*
 * Ring sets (include/shmring/set.h): RCU membership, round-robin poll,
 * discovery through a control ring, and a sleep on many futex words.
 *
 * Membership is a `struct members` array published with a release store
 * and read with an acquire load inside an RCU read-side critical section
 * (liburcu memb flavour). Writers (add, remove) serialise on a mutex,
 * publish a new array, wait for a grace period, then free the old array
 * and drop the membership reference of a removed member. A member is
 * freed (and its ring closed) when its last reference goes: the set's,
 * and one per sleeper in shmring_set_wait that armed its futex block.
 *
 * Every writer of the membership also updates the shared membership
 * table (set_table.c) under the same mutex; the wait is in set_wait.c,
 * the takeover of a set whose consumer died in set_adopt.c, the producer
 * side (join, leave) in set_join.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "endpoint.h"
#include "internal.h"
#include "set_internal.h"

/* ---- RCU reader registration: lazily, once per thread ---- */

static pthread_key_t rcu_key;
static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;
static _Thread_local int rcu_registered;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
}

static void rcu_key_init(void)
{
	pthread_key_create(&rcu_key, rcu_thread_exit);
}

static void rcu_reader(void)
{
	if (shmring_likely(rcu_registered))
		return;
	pthread_once(&rcu_once, rcu_key_init);
	urcu_memb_register_thread();
	pthread_setspecific(rcu_key, (void *)1);
	rcu_registered = 1;
}

void shmring__set_read_lock(void)
{
	rcu_reader();
	urcu_memb_read_lock();
}

void shmring__set_read_unlock(struct shmring_set *s)
{
	tsan_release(&s->tsan_gp);
	urcu_memb_read_unlock();
}

static void grace_period(struct shmring_set *s)
{
	/* A writer may itself be a registered reader thread; it is outside
	 * any critical section here. */
	urcu_memb_synchronize_rcu();
	tsan_acquire(&s->tsan_gp);
}

/* ---- members ---- */

void shmring__set_member_put(struct member *m)
{
	/* acq_rel: pairs with the other holders' decrements (set and
	 * sleepers): their accesses happen before the close. */
	if (shmring_atomic_fetch_add(&m->refs, (uint32_t)-1, SHMRING_ACQ_REL) == 1) {
		shmring_close(&m->r);
		free(m);
	}
}

struct members *shmring__set_members_alloc(uint32_t n)
{
	struct members *a = calloc(1, sizeof(*a) + (size_t)n * sizeof(a->m[0]));

	if (a)
		a->n = n;
	return a;
}


int shmring__set_kind_ok(const struct shmring *r)
{
	return r->type == SHMRING_SPSC || r->type == SHMRING_MSG_SPSC || r->type == SHMRING_MSG_MPSC;
}

/* Wake a sleeper of this set (membership changed). */
static void kick(struct shmring_set *s)
{
	shmring__doorbell_ring(&s->ctl.ctrl->cons_wait);
}

/* A member holding the consumer handle r (moved in by the caller). */
struct member *shmring__set_member_new(const struct shmring *r, uint64_t tag, uint32_t eflags)
{
	struct member *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->r = *r;
	m->tag = tag;
	m->auto_remove = (eflags & SHMRING_SET_ENTRY_JOINED) != 0;
	m->announced = (eflags & SHMRING_SET_ENTRY_ANNOUNCED) != 0;
	m->slot = NO_SLOT;
	m->ctr = &m->local;
	shmring_atomic_store(&m->refs, 1, SHMRING_RELAXED);
	return m;
}

/* eflags: SHMRING_SET_ENTRY_* (how it came, what a takeover does with it). */
static int add_member(struct shmring_set *s, struct shmring *r, uint64_t tag, uint32_t eflags,
		      const char *name)
{
	struct member *m;
	struct members *old, *a;
	int id;

	if (!shmring__set_kind_ok(r) || r->role != SHMRING_CONSUMER)
		return shmring__fail(-EINVAL, "a set member must be the consumer handle of an SPSC or message ring");
	m = shmring__set_member_new(r, tag, eflags);
	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&s->wlock);
	old = shmring_atomic_load(&s->cur, SHMRING_RELAXED);
	a = shmring__set_members_alloc(old->n + 1);
	if (!a) {
		pthread_mutex_unlock(&s->wlock);
		free(m);
		return -ENOMEM;
	}
	memcpy(a->m, old->m, old->n * sizeof(old->m[0]));
	m->id = s->next_id++;
	id = (int)m->id;
	a->m[old->n] = m;
	/* Listed (and its counters placed) before any poller can see it. */
	shmring__set_tab_add(s, m, name);
	/* Release: pairs with the pollers' acquire load of cur; the member's
	 * fields are written before it is seen. */
	shmring_atomic_store(&s->cur, a, SHMRING_RELEASE);
	grace_period(s);
	pthread_mutex_unlock(&s->wlock);
	free(old);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	kick(s);
	return id;
}

int shmring_set_remove(struct shmring_set *s, uint32_t member)
{
	struct members *old, *a;
	struct member *gone = NULL;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->wlock);
	old = shmring_atomic_load(&s->cur, SHMRING_RELAXED);
	for (uint32_t i = 0; i < old->n; i++)
		if (old->m[i]->id == member)
			gone = old->m[i];
	if (!gone) {
		pthread_mutex_unlock(&s->wlock);
		return -ENOENT;
	}
	a = shmring__set_members_alloc(old->n - 1);
	if (!a) {
		pthread_mutex_unlock(&s->wlock);
		return -ENOMEM;
	}
	for (uint32_t i = 0, j = 0; i < old->n; i++)
		if (old->m[i] != gone)
			a->m[j++] = old->m[i];
	shmring_atomic_store(&gone->leaving, 1, SHMRING_RELAXED);
	/* Release: pairs with the pollers' acquire load of cur. */
	shmring_atomic_store(&s->cur, a, SHMRING_RELEASE);
	/* No poller can still hold the old array or the member after this. */
	grace_period(s);
	shmring__set_tab_del(s, gone);
	pthread_mutex_unlock(&s->wlock);
	free(old);
	shmring__set_member_put(gone);
	kick(s);
	return 0;
}

int shmring_set_add(struct shmring_set *s, struct shmring *r, uint64_t tag)
{
	if (!s || !r || !r->map)
		return shmring__fail(-EINVAL, "set or ring handle is NULL or closed");
	return add_member(s, r, tag, 0, NULL);
}

int shmring_set_add_name(struct shmring_set *s, const char *ring_name, uint64_t tag)
{
	struct shmring r;
	int ret;

	if (!s)
		return -EINVAL;
	ret = shmring_open(&r, ring_name, SHMRING_CONSUMER, NULL);
	if (ret < 0)
		return ret;
	ret = add_member(s, &r, tag, 0, ring_name);
	if (ret < 0)
		shmring_close(&r);
	return ret;
}

/* ---- create / destroy ---- */

/* Check a set's name ("/x" or "x") and write its control ring's name
 * "/x.ctl" to ctl; the name without its '/', or NULL (detail set). */
const char *shmring__set_ctl_name(const char *name, char *ctl, size_t len)
{
	const char *base = name[0] == '/' ? name + 1 : name;

	if (!*base || strlen(base) + 5 > SHMRING_NAME_MAX) {
		shmring__fail(-EINVAL, "set name '%s' is empty or too long", name);
		return NULL;
	}
	snprintf(ctl, len, "/%s.ctl", base);
	return base;
}

int shmring_set_create(struct shmring_set **out, const char *name, uint32_t flags)
{
	struct shmring_params p;
	struct shmring_set *s;
	int ret;

	if (!out || (flags & ~SHMRING_SET_F_DOORBELL))
		return shmring__fail(-EINVAL, "bad argument");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->flags = flags;
	pthread_mutex_init(&s->wlock, NULL);
	shmring_atomic_store(&s->cur, shmring__set_members_alloc(0), SHMRING_RELAXED);
	if (!shmring_atomic_load(&s->cur, SHMRING_RELAXED)) {
		free(s);
		return -ENOMEM;
	}
	if (getenv("SHMRING_SET_FORCE_DOORBELL"))
		s->flags |= SHMRING_SET_F_DOORBELL;
	shmring_params_init(&p, SHMRING_MSG_MPSC, CTL_CAPACITY, CTL_SLOT);
	if (name) {
		const char *base = shmring__set_ctl_name(name, s->ctl_name, sizeof(s->ctl_name));

		if (!base) {
			ret = -EINVAL;
			goto fail;
		}
		/* A set whose consumer died is taken over; -ENOENT: its
		 * name went away meanwhile, try to create it again. */
		for (int tries = 0;; tries++) {
			ret = shmring_create(&s->ctl, s->ctl_name, &p, SHMRING_CONSUMER);
			if (ret == 0) {
				/* Holding the control ring's name, we own the set's. */
				ret = shmring__set_tab_create(s, base);
				break;
			}
			if (ret == -EEXIST && tries < 8) {
				ret = shmring__set_adopt(s, base);
				if (ret == -ENOENT)
					continue;
			}
			if (ret < 0)
				s->ctl_name[0] = '\0'; /* not ours to unlink */
			break;
		}
	} else {
		ret = shmring_create_anon(&s->ctl, &p, SHMRING_CONSUMER);
		if (ret == 0)
			ret = shmring__set_tab_create(s, NULL);
	}
	if (ret < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->ctl.map) {
		if (s->ctl_name[0])
			shmring_unlink(s->ctl_name);
		shmring_close(&s->ctl);
	}
	free(shmring_atomic_load(&s->cur, SHMRING_RELAXED));
	pthread_mutex_destroy(&s->wlock);
	free(s);
	return ret;
}

int shmring_set_destroy(struct shmring_set *s)
{
	struct members *a;

	if (!s)
		return -EINVAL;
	a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */
	for (uint32_t i = 0; i < a->n; i++)
		shmring__set_member_put(a->m[i]);
	free(a);
	/* The table's name first: a new set of this name may take both as
	 * soon as the control ring's name is free. */
	shmring__set_tab_destroy(s);
	if (s->ctl_name[0])
		shmring_unlink(s->ctl_name);
	shmring_close(&s->ctl);
	pthread_mutex_destroy(&s->wlock);
	free(s);
	return 0;
}

int shmring_set_fd(const struct shmring_set *s)
{
	return s ? shmring_fd(&s->ctl) : -EINVAL;
}

/* ---- control ring ---- */

/*
 * Attach every ring announced on the control ring (one poller at a time).
 * Each record is released only once its ring is a member (listed in the
 * table) or refused: a consumer killed in between leaves it on the ring
 * for the consumer that takes the set over, never lost. A ring already a
 * member is refused by its open (-EBUSY: we hold its consumer entry).
 */
static void process_ctl(struct shmring_set *s)
{
	uint32_t zero = 0;
	int n = 0;

	if (shmring_atomic_load(&s->ctl_busy, SHMRING_RELAXED) ||
	    /* Acquire: pairs with the previous poller's release store of ctl_busy. */
	    !shmring_atomic_cas(&s->ctl_busy, &zero, 1, SHMRING_ACQUIRE, SHMRING_RELAXED))
		return;
	for (;;) {
		struct shmring_set_ctl_rec rec;
		struct shmring r;
		const void *p;
		int len = shmring_msg_peek(&s->ctl, &p);

		if (len < 0)
			break; /* -EAGAIN: none; -EPROTO: corrupt, nothing consumed */
		n++;
		/* Longer than any announcement: not one, dropped below. */
		memset(&rec, 0, sizeof(rec));
		memcpy(&rec, p, (size_t)len < sizeof(rec) ? (size_t)len : sizeof(rec));
		if ((size_t)len > sizeof(rec) || (size_t)len < offsetof(struct shmring_set_ctl_rec, name) + 2 ||
		    rec.op != CTL_JOIN || rec.len == 0 || rec.len > SHMRING_NAME_MAX ||
		    offsetof(struct shmring_set_ctl_rec, name) + rec.len > (size_t)len)
			goto settled; /* not a record we understand: dropped */
		rec.name[rec.len] = '\0';
		if (shmring_open(&r, rec.name, SHMRING_CONSUMER, NULL) < 0)
			goto settled;
		SHMRING__FAULT(SHMRING_FAULT_SET_CTL_OPENED);
		/* Only a single producer's ring can be seen to be gone. */
		if (add_member(s, &r, rec.tag,
			       SHMRING_SET_ENTRY_ANNOUNCED |
				       (r.type != SHMRING_MSG_MPSC ? SHMRING_SET_ENTRY_JOINED : 0u),
			       rec.name) < 0)
			shmring_close(&r);
settled:
		shmring_msg_release(&s->ctl);
	}
	if (n)
		shmring_msg_wake(&s->ctl);
	/* Release: our use of the control handle precedes the next poller's. */
	shmring_atomic_store(&s->ctl_busy, 0, SHMRING_RELEASE);
}

/* ---- poll ---- */

/* The producer of a joined member has closed its ring or died. */
int shmring__set_producer_gone(const struct member *m)
{
	const struct shmring_endpoint *e = shmring__ep_table(&m->r);
	/* Acquire: pairs with the release store of state at attach/close. */
	uint32_t st = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

	if (st == SHMRING_EP_FREE)
		return 1;
	/* Being taken over by a process that died doing it: gone as well. */
	if (SHMRING_EP_STATE(st) == SHMRING_EP_BUSY)
		return shmring__ep_busy_dead(st);
	if (st != SHMRING_EP_ACTIVE)
		return 0;
	return !shmring__ep_alive(e);
}

int shmring__set_member_has_data(const struct member *m)
{
	if (m->r.type == SHMRING_SPSC)
		return shmring_spsc_count(&m->r) > 0;
	return shmring_msg_used(&m->r) > 0;
}

/* Add to a member's counter. Its one writer is the poller holding the
 * member's busy flag, so a load and a store do, not a locked RMW. */
#define MEMBER_ADD(ctr, k) \
	shmring_atomic_store(&(ctr), shmring_atomic_load(&(ctr), SHMRING_RELAXED) + (k), SHMRING_RELAXED)

/* Drain up to budget messages; *stop set when fn asked to stop.
 * Returns the count delivered. */
static uint32_t drain(struct member *m, uint32_t budget, shmring_set_fn *fn, void *arg, int *stop)
{
	struct shmring_set_msg msg;
	struct shmring *r = &m->r;
	uint32_t k = 0;

	msg.member = m->id;
	msg.tag = m->tag;
	if (r->type == SHMRING_SPSC) {
		uint64_t pos;
		int64_t avail = shmring_spsc_peek(r, budget, &pos);

		if (avail <= 0)
			return 0;
		msg.len = r->slot_size;
		while (k < (uint64_t)avail) {
			msg.data = shmring_slot(r, pos + k);
			k++;
			if (fn(arg, &msg)) {
				*stop = 1;
				break;
			}
		}
		shmring_spsc_release(r, k);
		shmring_wake(r, SHMRING_PRODUCER);
		return k;
	}
	while (k < budget) {
		const void *p;
		int len = shmring_msg_peek(r, &p);

		if (len < 0)
			break;
		msg.data = p;
		msg.len = (uint32_t)len;
		k++;
		if (fn(arg, &msg)) {
			*stop = 1;
			break;
		}
	}
	if (k) {
		shmring_msg_release(r);
		shmring_msg_wake(r);
	}
	return k;
}

int shmring_set_poll(struct shmring_set *s, uint32_t budget, shmring_set_fn *fn, void *arg)
{
	uint32_t gone[16], ngone = 0, total = 0;
	int stop = 0, check_all;

	if (!s || !fn || budget == 0)
		return -EINVAL;
	shmring_atomic_fetch_add(&s->tab->ctr.polls, 1, SHMRING_RELAXED);
	if (shmring_msg_used(&s->ctl))
		process_ctl(s);
	/* A plain load first: the exchange (a locked RMW) only when a wait's
	 * slice has ended, not on every poll. */
	check_all = shmring_atomic_load(&s->force_check, SHMRING_RELAXED) &&
		    shmring_atomic_exchange(&s->force_check, 0, SHMRING_RELAXED);

	shmring__set_read_lock();
	/* Acquire: pairs with the writers' release store of cur. */
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE);
	uint32_t n = a->n;
	uint32_t start = n ? shmring_atomic_fetch_add(&s->cursor, 1, SHMRING_RELAXED) % n : 0;

	for (uint32_t i = 0, j = start; i < n && !stop; i++, j = j + 1 == n ? 0 : j + 1) {
		struct member *m = a->m[j];
		uint32_t zero = 0;

		if (shmring_atomic_load(&m->busy, SHMRING_RELAXED) ||
		    /* Acquire: pairs with the previous drainer's release store of
		     * busy; its use of the handle comes first. */
		    !shmring_atomic_cas(&m->busy, &zero, 1, SHMRING_ACQUIRE, SHMRING_RELAXED))
			continue;
		uint32_t k = drain(m, budget, fn, arg, &stop);

		if (k) {
			MEMBER_ADD(m->ctr->messages, k);
			shmring_atomic_store(&m->empty_streak, 0, SHMRING_RELAXED);
			total += k;
		} else {
			uint32_t streak = shmring_atomic_load(&m->empty_streak, SHMRING_RELAXED) + 1;

			shmring_atomic_store(&m->empty_streak, streak, SHMRING_RELAXED);
			MEMBER_ADD(m->ctr->empty_polls, 1);
			/* Gone, then empty: what it committed before it went is
			 * all visible by now, and all of it was delivered. */
			if (m->auto_remove && ngone < 16 && (check_all || streak % LIVENESS_EVERY == 0) &&
			    shmring__set_producer_gone(m) && !shmring__set_member_has_data(m) &&
			    !shmring_atomic_exchange(&m->leaving, 1, SHMRING_RELAXED))
				gone[ngone++] = m->id;
		}
		/* Release: our use of the handle happens before the next drainer's. */
		shmring_atomic_store(&m->busy, 0, SHMRING_RELEASE);
	}
	shmring__set_read_unlock(s);
	for (uint32_t i = 0; i < ngone; i++)
		shmring_set_remove(s, gone[i]);
	if (total)
		shmring_atomic_fetch_add(&s->tab->ctr.messages, total, SHMRING_RELAXED);
	return (int)total;
}

/* ---- statistics ---- */

int shmring_set_stats(struct shmring_set *s, struct shmring_set_stats *st)
{
	if (!s || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->polls = shmring_atomic_load(&s->tab->ctr.polls, SHMRING_RELAXED);
	st->messages = shmring_atomic_load(&s->tab->ctr.messages, SHMRING_RELAXED);
	st->sleeps = shmring_atomic_load(&s->tab->ctr2.sleeps, SHMRING_RELAXED);
	st->wakeups = shmring_atomic_load(&s->tab->ctr2.wakeups, SHMRING_RELAXED);
	st->joins = shmring_atomic_load(&s->tab->memb.joins, SHMRING_RELAXED);
	st->leaves = shmring_atomic_load(&s->tab->memb.leaves, SHMRING_RELAXED);
	st->doorbell = (s->flags & SHMRING_SET_F_DOORBELL) ||
		       shmring_atomic_load(&s->no_waitv, SHMRING_RELAXED);
	shmring__set_read_lock();
	st->members = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE)->n; /* pairs with writers' release */
	shmring__set_read_unlock(s);
	return 0;
}

int shmring_set_member_stats(struct shmring_set *s, uint32_t member, struct shmring_set_member_stats *st)
{
	int ret = -ENOENT;

	if (!s || !st)
		return -EINVAL;
	shmring__set_read_lock();
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	for (uint32_t i = 0; i < a->n; i++) {
		struct member *m = a->m[i];

		if (m->id != member)
			continue;
		st->messages = shmring_atomic_load(&m->ctr->messages, SHMRING_RELAXED);
		st->empty_polls = shmring_atomic_load(&m->ctr->empty_polls, SHMRING_RELAXED);
		st->tag = m->tag;
		st->type = m->r.type;
		st->auto_remove = m->auto_remove;
		ret = 0;
	}
	shmring__set_read_unlock(s);
	return ret;
}

int shmring_set_member_ring_stats(struct shmring_set *s, uint32_t member,
				  struct shmring_ring_stats *out)
{
	int ret = -ENOENT;

	shmring__clear_detail();
	if (!s || !out)
		return shmring__fail(-EINVAL, "%s is NULL", s ? "stats" : "set");
	shmring__set_read_lock();
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	for (uint32_t i = 0; i < a->n && ret == -ENOENT; i++)
		if (a->m[i]->id == member)
			ret = shmring_stats(&a->m[i]->r, out);
	shmring__set_read_unlock(s);
	if (ret == -ENOENT)
		return shmring__fail(-ENOENT, "the set has no member %u", member);
	return ret;
}
