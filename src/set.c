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
 * The membership table (layout.h, struct shmring_set_table) shows the
 * members and the counters in shared memory, for shmring-dump: every
 * writer of the membership also updates the table under the same mutex,
 * between two increments of its seqlock generation; the counters of the
 * set and of each listed member live there, not in process memory.
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

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITV_MAX 128u              /* futex_waitv's limit, control ring included */
#define SLICE_NS (100ull * 1000000) /* re-check liveness and non-joined producers */
#define LIVENESS_EVERY 64u          /* empty polls between producer liveness checks */
#define CTL_SLOT 256u               /* largest control record */
#define CTL_CAPACITY 16384u
#define CTL_JOIN SHMRING_SET_CTL_JOIN

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

static void read_lock(void)
{
	rcu_reader();
	urcu_memb_read_lock();
}

static void read_unlock(struct shmring_set *s)
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

static void member_put(struct member *m)
{
	/* acq_rel: pairs with the other holders' decrements (set and
	 * sleepers): their accesses happen before the close. */
	if (shmring_atomic_fetch_add(&m->refs, (uint32_t)-1, SHMRING_ACQ_REL) == 1) {
		shmring_close(&m->r);
		free(m);
	}
}

static struct members *members_alloc(uint32_t n)
{
	struct members *a = calloc(1, sizeof(*a) + (size_t)n * sizeof(a->m[0]));

	if (a)
		a->n = n;
	return a;
}

/* ---- membership table (layout.h) ---- */

static struct shmring_set_entry *tab_entry(struct shmring_set *s, uint32_t i)
{
	return (struct shmring_set_entry *)(void *)((unsigned char *)s->tab + SHMRING_SET_ENTRIES_OFF +
						     (size_t)i * SHMRING_SET_ENTRY_SIZE);
}

/* Open and close a change of the membership (seqlock writer, under wlock). */
static void tab_begin(struct shmring_set *s)
{
	uint64_t g = shmring_atomic_load(&s->tab->memb.gen, SHMRING_RELAXED);

	shmring_atomic_store(&s->tab->memb.gen, g + 1, SHMRING_RELAXED);
	/* Release fence: the odd gen is visible before any entry store below;
	 * pairs with the reader's acquire fence before its second gen load. */
	table_release_fence();
}

static void tab_end(struct shmring_set *s)
{
	uint64_t g = shmring_atomic_load(&s->tab->memb.gen, SHMRING_RELAXED);

	/* Release: the entry stores come first; pairs with the reader's
	 * acquire load of gen before it copies. */
	shmring_atomic_store(&s->tab->memb.gen, g + 1, SHMRING_RELEASE);
}

/* The ring's name as the kernel knows its descriptor ("/dev/shm/x" ->
 * "/x"); 0 when it has none (memfd, unlinked). */
static size_t ring_name_of(const struct shmring *r, char *out, size_t len)
{
	char link[64], path[SHMRING_NAME_MAX + 64];
	ssize_t n;

	if (r->fd < 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", r->fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 9 || strncmp(path, "/dev/shm/", 9) != 0)
		return 0;
	path[n] = '\0';
	if (strstr(path, " (deleted)") || (size_t)(n - 8) > SHMRING_NAME_MAX || (size_t)(n - 8) >= len)
		return 0;
	memcpy(out, path + 8, (size_t)(n - 8) + 1);
	return (size_t)(n - 8);
}

/* List m in a free entry (under wlock); a full table leaves it unlisted. */
static void tab_add(struct shmring_set *s, struct member *m, const char *name)
{
	struct shmring_set_memb *mb = &s->tab->memb;
	uint32_t hi = shmring_atomic_load(&mb->hi, SHMRING_RELAXED), i;
	struct shmring_set_entry *e = NULL;
	char buf[SHMRING_NAME_MAX + 2];
	size_t len = 0;

	for (i = 0; i < SHMRING_SET_CAPACITY; i++) {
		e = tab_entry(s, i);
		if (shmring_atomic_load(&e->state, SHMRING_RELAXED) == SHMRING_SET_ENTRY_FREE)
			break;
	}
	tab_begin(s);
	shmring_atomic_fetch_add(&mb->joins, 1, SHMRING_RELAXED);
	if (i == SHMRING_SET_CAPACITY) {
		m->slot = NO_SLOT;
		m->ctr = &m->local;
		shmring_atomic_fetch_add(&mb->unlisted, 1, SHMRING_RELAXED);
		tab_end(s);
		return;
	}
	if (name) {
		/* "x" and "/x" name the same ring: list it as "/x". */
		snprintf(buf, sizeof(buf), "%s%s", name[0] == '/' ? "" : "/", name);
		len = strlen(buf);
		if (len > SHMRING_NAME_MAX)
			len = 0;
	} else {
		len = ring_name_of(&m->r, buf, sizeof(buf));
	}
	name = buf;
	m->slot = i;
	m->ctr = &e->ctr;
	shmring_atomic_store(&e->ctr.messages, 0, SHMRING_RELAXED);
	shmring_atomic_store(&e->ctr.empty_polls, 0, SHMRING_RELAXED);
	shmring_atomic_store(&e->id, m->id, SHMRING_RELAXED);
	shmring_atomic_store(&e->type, m->r.type, SHMRING_RELAXED);
	shmring_atomic_store(&e->flags,
			     (m->auto_remove ? SHMRING_SET_ENTRY_JOINED : 0u) |
				     (m->announced ? SHMRING_SET_ENTRY_ANNOUNCED : 0u),
			     SHMRING_RELAXED);
	shmring_atomic_store(&e->tag, m->tag, SHMRING_RELAXED);
	shmring_atomic_store(&e->join_ns, shmring__now_ns(CLOCK_REALTIME), SHMRING_RELAXED);
	shmring_atomic_store(&e->name_len, (uint32_t)len, SHMRING_RELAXED);
	for (size_t k = 0; k < SHMRING_SET_NAME_BYTES; k++)
		__atomic_store_n(&e->name[k], k < len ? (uint8_t)name[k] : 0, __ATOMIC_RELAXED);
	shmring_atomic_store(&e->state, SHMRING_SET_ENTRY_USED, SHMRING_RELAXED);
	shmring_atomic_fetch_add(&mb->count, 1, SHMRING_RELAXED);
	if (i >= hi)
		shmring_atomic_store(&mb->hi, i + 1, SHMRING_RELAXED);
	tab_end(s);
}

/* Unlist m (under wlock, after the grace period: no poller counts into
 * its entry any more). */
static void tab_del(struct shmring_set *s, struct member *m)
{
	struct shmring_set_memb *mb = &s->tab->memb;

	tab_begin(s);
	shmring_atomic_fetch_add(&mb->leaves, 1, SHMRING_RELAXED);
	if (m->slot == NO_SLOT) {
		shmring_atomic_fetch_add(&mb->unlisted, (uint32_t)-1, SHMRING_RELAXED);
	} else {
		uint32_t hi = shmring_atomic_load(&mb->hi, SHMRING_RELAXED);

		shmring_atomic_store(&tab_entry(s, m->slot)->state, SHMRING_SET_ENTRY_FREE,
				     SHMRING_RELAXED);
		shmring_atomic_fetch_add(&mb->count, (uint32_t)-1, SHMRING_RELAXED);
		while (hi && shmring_atomic_load(&tab_entry(s, hi - 1)->state, SHMRING_RELAXED) ==
				     SHMRING_SET_ENTRY_FREE)
			hi--;
		shmring_atomic_store(&mb->hi, hi, SHMRING_RELAXED);
	}
	/* Its counters stay readable through the member until it is freed. */
	shmring_atomic_store(&m->local.messages,
			     shmring_atomic_load(&m->ctr->messages, SHMRING_RELAXED), SHMRING_RELAXED);
	shmring_atomic_store(&m->local.empty_polls,
			     shmring_atomic_load(&m->ctr->empty_polls, SHMRING_RELAXED), SHMRING_RELAXED);
	m->ctr = &m->local;
	m->slot = NO_SLOT;
	tab_end(s);
}

/* A table left under our name by a set that is gone: we hold "<set>.ctl",
 * so no live set uses it. Anything else under the name is not ours. */
static int tab_leftover(const char *name)
{
	uint64_t magic = 0;
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	int ok;

	if (fd < 0)
		return 0;
	ok = pread(fd, &magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) && magic == SHMRING_SET_MAGIC;
	close(fd);
	return ok;
}

/* Create the table: "/<base>.set", or a memfd when base is NULL. */
static int tab_create(struct shmring_set *s, const char *base)
{
	size_t size = SHMRING_SET_ENTRIES_OFF + (size_t)SHMRING_SET_CAPACITY * SHMRING_SET_ENTRY_SIZE;
	struct shmring_set_table *t;
	int fd, ret;

	if (base) {
		snprintf(s->tab_name, sizeof(s->tab_name), "/%s.set", base);
		fd = shm_open(s->tab_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST && tab_leftover(s->tab_name)) {
			shm_unlink(s->tab_name);
			fd = shm_open(s->tab_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		}
		if (fd < 0) {
			ret = -errno;
			s->tab_name[0] = '\0';
			return shmring__fail(ret, "membership table %s.set: %s", base, strerror(-ret));
		}
		if (fchmod(fd, 0600) < 0) {
			ret = shmring__fail(-errno, "fchmod: %s", strerror(errno));
			goto fail;
		}
	} else {
		fd = memfd_create("shmring-set", MFD_CLOEXEC);
		if (fd < 0)
			return shmring__fail(-errno, "memfd_create: %s", strerror(errno));
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = shmring__fail(-errno, "ftruncate: %s", strerror(errno));
		goto fail;
	}
	/* Every page now: a full /dev/shm fails here, not as SIGBUS later. */
	ret = posix_fallocate(fd, 0, (off_t)size);
	if (ret) {
		ret = shmring__fail(-ret, "pre-allocating the membership table: %s", strerror(ret));
		goto fail;
	}
	t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t == MAP_FAILED) {
		ret = shmring__fail(-errno, "mmap: %s", strerror(errno));
		goto fail;
	}
	close(fd);
	/* The owner first: shmring_unlink_stale judges a table that has its
	 * magic by the owner's liveness. Release fence: pid and start come
	 * before the magic; pairs with stale.c judge_set's read of the header
	 * (a pread, ordered by the system call). */
	t->hdr.consumer_pid = (int32_t)getpid();
	t->hdr.consumer_start = shmring__proc_start_time((int32_t)getpid());
	table_release_fence();
	t->hdr.magic = SHMRING_SET_MAGIC;
	t->hdr.abi_version = SHMRING_ABI_VERSION;
	t->hdr.entries_off = SHMRING_SET_ENTRIES_OFF;
	t->hdr.entry_size = SHMRING_SET_ENTRY_SIZE;
	t->hdr.capacity = SHMRING_SET_CAPACITY;
	t->hdr.total_size = size;
	t->hdr.consumer_uid = (uint32_t)geteuid();
	t->hdr.create_time_ns = shmring__now_ns(CLOCK_REALTIME);
	t->hdr.flags = s->flags;
	shmring_atomic_store(&t->memb.doorbell, (s->flags & SHMRING_SET_F_DOORBELL) ? 1u : 0u,
			     SHMRING_RELAXED);
	/* Release: the header is complete; pairs with the reader's acquire
	 * load of ready. */
	shmring_atomic_store(&t->hdr.ready, SHMRING_READY, SHMRING_RELEASE);
	s->tab = t;
	s->tab_size = size;
	return 0;
fail:
	close(fd);
	if (s->tab_name[0])
		shm_unlink(s->tab_name);
	s->tab_name[0] = '\0';
	return ret;
}

static void tab_destroy(struct shmring_set *s)
{
	if (s->tab_name[0])
		shm_unlink(s->tab_name);
	if (s->tab)
		munmap(s->tab, s->tab_size);
	s->tab = NULL;
}

static int kind_ok(const struct shmring *r)
{
	return r->type == SHMRING_SPSC || r->type == SHMRING_MSG_SPSC || r->type == SHMRING_MSG_MPSC;
}

/* Wake a sleeper of this set (membership changed). */
static void kick(struct shmring_set *s)
{
	shmring__doorbell_ring(&s->ctl.ctrl->cons_wait);
}

/* A member holding the consumer handle r (moved in by the caller). */
static struct member *member_new(const struct shmring *r, uint64_t tag, uint32_t eflags)
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

	if (!kind_ok(r) || r->role != SHMRING_CONSUMER)
		return shmring__fail(-EINVAL, "a set member must be the consumer handle of an SPSC or message ring");
	m = member_new(r, tag, eflags);
	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&s->wlock);
	old = shmring_atomic_load(&s->cur, SHMRING_RELAXED);
	a = members_alloc(old->n + 1);
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
	tab_add(s, m, name);
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
	a = members_alloc(old->n - 1);
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
	tab_del(s, gone);
	pthread_mutex_unlock(&s->wlock);
	free(old);
	member_put(gone);
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

/* ---- takeover: a new consumer adopts a set whose consumer died ---- */

static int producer_gone(const struct member *m);
static int member_has_data(const struct member *m);

/*
 * Open the table "/<base>.set" left by the set's previous consumer.
 * Returns 0 (mapped, its owner rewritten to us), or 1 when there is no
 * usable table under the name (none, not ready, another geometry, not a
 * table at all): tab_create decides then (it replaces a table left
 * behind and refuses any other object with -EEXIST).
 */
static int tab_open(struct shmring_set *s, const char *base)
{
	size_t size = SHMRING_SET_ENTRIES_OFF + (size_t)SHMRING_SET_CAPACITY * SHMRING_SET_ENTRY_SIZE;
	struct shmring_set_hdr h;
	struct shmring_set_table *t;
	struct stat st;
	int fd;

	snprintf(s->tab_name, sizeof(s->tab_name), "/%s.set", base);
	fd = shm_open(s->tab_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	s->tab_name[0] = '\0';
	if (fd < 0)
		return 1;
	/* A private copy of the header: the object is input, like a ring's. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) ||
	    (uint64_t)st.st_size != size || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.magic != SHMRING_SET_MAGIC || h.abi_version != SHMRING_ABI_VERSION ||
	    h.entries_off != SHMRING_SET_ENTRIES_OFF || h.entry_size != SHMRING_SET_ENTRY_SIZE ||
	    h.capacity != SHMRING_SET_CAPACITY || h.total_size != size || h.ready != SHMRING_READY) {
		close(fd);
		return 1;
	}
	t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t == MAP_FAILED)
		return 1;
	snprintf(s->tab_name, sizeof(s->tab_name), "/%s.set", base);
	s->tab = t;
	s->tab_size = size;
	/* The new owner: its start time before its pid (release fence:
	 * pairs with the pread of the header by stale.c and the dump, which
	 * the system call orders). A reader that sees the new pid with the
	 * old start time judges the owner dead, but we hold the control
	 * ring's consumer entry by now, so shmring_unlink_stale keeps the
	 * table all the same (stale.c set_ctl_live). */
	t->hdr.consumer_start = shmring__proc_start_time((int32_t)getpid());
	t->hdr.consumer_uid = (uint32_t)geteuid();
	t->hdr.flags = s->flags;
	table_release_fence();
	t->hdr.consumer_pid = (int32_t)getpid();
	return 0;
}

/* A consumer killed asleep left its waiter (and doorbell) counts in the
 * consumer's wait block; only consumers count there, and this ring's one
 * consumer, us, is not asleep: wakers skip the futex call again. */
static void cons_wait_reset(struct shmring *r)
{
	shmring_atomic_store(&r->ctrl->cons_wait.waiters, 0, SHMRING_RELAXED);
	shmring_atomic_store(&r->ctrl->cons_wait.doorbell, 0, SHMRING_RELAXED);
}

/*
 * Adopt one table entry: the member it lists, if it was announced on the
 * control ring (its producer will not announce it again) and is still
 * there: its consumer entry is the dead consumer's, which the open takes
 * over, and everything that consumer did not release is read again. A
 * joined ring whose producer has gone and that holds nothing is not
 * adopted. Members the old consumer added itself are its successor's to
 * add again. Returns the member, or NULL (the entry is to be freed).
 */
static struct member *adopt_entry(struct shmring_set *s, uint32_t i)
{
	struct shmring_set_entry *e = tab_entry(s, i);
	uint32_t flags = shmring_atomic_load(&e->flags, SHMRING_RELAXED);
	uint32_t type = shmring_atomic_load(&e->type, SHMRING_RELAXED);
	uint32_t len = shmring_atomic_load(&e->name_len, SHMRING_RELAXED);
	struct shmring_open_opts o;
	char name[SHMRING_NAME_MAX + 2];
	struct member *m;
	struct shmring r;

	if (!(flags & (SHMRING_SET_ENTRY_ANNOUNCED | SHMRING_SET_ENTRY_JOINED)) || len < 2 ||
	    len > SHMRING_NAME_MAX)
		return NULL;
	for (uint32_t k = 0; k < len; k++)
		name[k] = (char)__atomic_load_n(&e->name[k], __ATOMIC_RELAXED);
	name[len] = '\0';
	memset(&o, 0, sizeof(o));
	o.type = type;
	if (name[0] != '/' || strlen(name) != len || !o.type ||
	    shmring_open(&r, name, SHMRING_CONSUMER, &o) < 0)
		return NULL; /* gone, or someone else consumes it now */
	m = kind_ok(&r) ? member_new(&r, shmring_atomic_load(&e->tag, SHMRING_RELAXED),
				     flags & (SHMRING_SET_ENTRY_ANNOUNCED | SHMRING_SET_ENTRY_JOINED))
			: NULL;
	if (!m || (m->auto_remove && producer_gone(m) && !member_has_data(m))) {
		shmring_close(&r);
		free(m);
		return NULL;
	}
	cons_wait_reset(&m->r);
	m->slot = i;
	m->ctr = &e->ctr; /* its counters go on */
	return m;
}

/*
 * Take over the membership the dead consumer listed in the table (before
 * the set is published: no poller, no other writer). Adopted members keep
 * their entry and counters under new ids; every other entry is freed. A
 * change the dead consumer left half done (odd generation) is closed by
 * this one.
 */
static int adopt_members(struct shmring_set *s)
{
	struct shmring_set_memb *mb = &s->tab->memb;
	struct member **got = calloc(SHMRING_SET_CAPACITY, sizeof(*got));
	struct members *a;
	uint32_t n = 0, hi = 0, dropped = 0;

	if (!got)
		return -ENOMEM;
	for (uint32_t i = 0; i < SHMRING_SET_CAPACITY; i++)
		if (shmring_atomic_load(&tab_entry(s, i)->state, SHMRING_RELAXED) == SHMRING_SET_ENTRY_USED)
			got[i] = adopt_entry(s, i);
	if (!(shmring_atomic_load(&mb->gen, SHMRING_RELAXED) & 1u))
		tab_begin(s);
	for (uint32_t i = 0; i < SHMRING_SET_CAPACITY; i++) {
		struct shmring_set_entry *e = tab_entry(s, i);

		if (got[i]) {
			got[i]->id = s->next_id++;
			shmring_atomic_store(&e->id, got[i]->id, SHMRING_RELAXED);
			got[n++] = got[i];
			hi = i + 1;
		} else if (shmring_atomic_load(&e->state, SHMRING_RELAXED) != SHMRING_SET_ENTRY_FREE) {
			shmring_atomic_store(&e->state, SHMRING_SET_ENTRY_FREE, SHMRING_RELAXED);
			dropped++;
		}
	}
	/* Members the dead consumer could not list are gone with it. */
	dropped += shmring_atomic_load(&mb->unlisted, SHMRING_RELAXED);
	shmring_atomic_store(&mb->unlisted, 0, SHMRING_RELAXED);
	shmring_atomic_store(&mb->count, n, SHMRING_RELAXED);
	shmring_atomic_store(&mb->hi, hi, SHMRING_RELAXED);
	shmring_atomic_fetch_add(&mb->leaves, dropped, SHMRING_RELAXED);
	shmring_atomic_store(&mb->doorbell, (s->flags & SHMRING_SET_F_DOORBELL) ? 1u : 0u, SHMRING_RELAXED);
	tab_end(s);
	a = members_alloc(n);
	if (!a) {
		for (uint32_t i = 0; i < n; i++)
			member_put(got[i]); /* their entries stay listed for the next try */
		free(got);
		return -ENOMEM;
	}
	memcpy(a->m, got, (size_t)n * sizeof(got[0]));
	free(got);
	free(shmring_atomic_load(&s->cur, SHMRING_RELAXED));
	/* Relaxed: the set is not shared with any other thread yet. */
	shmring_atomic_store(&s->cur, a, SHMRING_RELAXED);
	return 0;
}

/*
 * The control ring exists: take the set over if its consumer is dead.
 * The open takes the dead consumer's entry on the control ring (a live
 * one refuses it: -EEXIST), so announcements it had not taken in are
 * read next; then the table says who the members are. Returns 0, -ENOENT
 * (the name went away: create again), -EEXIST, or what the table's
 * creation returns.
 */
static int set_adopt(struct shmring_set *s, const char *base)
{
	struct shmring_open_opts o;
	char why[200];
	int ret;

	memset(&o, 0, sizeof(o));
	o.type = SHMRING_MSG_MPSC;
	o.slot_size = CTL_SLOT;
	ret = shmring_open(&s->ctl, s->ctl_name, SHMRING_CONSUMER, &o);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0) {
		snprintf(why, sizeof(why), "%s", shmring_errdetail());
		return shmring__fail(-EEXIST, ret == -EBUSY ? "set '%s' has a live consumer: %s"
							    : "'%s.ctl' is taken and cannot be taken over: %s",
				     base, why);
	}
	cons_wait_reset(&s->ctl);
	ret = tab_open(s, base);
	if (ret > 0)
		ret = tab_create(s, base);
	else if (ret == 0)
		ret = adopt_members(s);
	if (ret < 0) {
		if (s->tab) {
			munmap(s->tab, s->tab_size);
			s->tab = NULL;
		}
		s->tab_name[0] = '\0';
		shmring_close(&s->ctl);
	}
	return ret;
}

/* ---- create / destroy ---- */

/* Check a set's name ("/x" or "x") and write its control ring's name
 * "/x.ctl" to ctl; the name without its '/', or NULL (detail set). */
static const char *set_ctl_name(const char *name, char *ctl, size_t len)
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
	shmring_atomic_store(&s->cur, members_alloc(0), SHMRING_RELAXED);
	if (!shmring_atomic_load(&s->cur, SHMRING_RELAXED)) {
		free(s);
		return -ENOMEM;
	}
	if (getenv("SHMRING_SET_FORCE_DOORBELL"))
		s->flags |= SHMRING_SET_F_DOORBELL;
	shmring_params_init(&p, SHMRING_MSG_MPSC, CTL_CAPACITY, CTL_SLOT);
	if (name) {
		const char *base = set_ctl_name(name, s->ctl_name, sizeof(s->ctl_name));

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
				ret = tab_create(s, base);
				break;
			}
			if (ret == -EEXIST && tries < 8) {
				ret = set_adopt(s, base);
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
			ret = tab_create(s, NULL);
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
		member_put(a->m[i]);
	free(a);
	/* The table's name first: a new set of this name may take both as
	 * soon as the control ring's name is free. */
	tab_destroy(s);
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
static int producer_gone(const struct member *m)
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

static int member_has_data(const struct member *m)
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

	read_lock();
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
			    producer_gone(m) && !member_has_data(m) &&
			    !shmring_atomic_exchange(&m->leaving, 1, SHMRING_RELAXED))
				gone[ngone++] = m->id;
		}
		/* Release: our use of the handle happens before the next drainer's. */
		shmring_atomic_store(&m->busy, 0, SHMRING_RELEASE);
	}
	read_unlock(s);
	for (uint32_t i = 0; i < ngone; i++)
		shmring_set_remove(s, gone[i]);
	if (total)
		shmring_atomic_fetch_add(&s->tab->ctr.messages, total, SHMRING_RELAXED);
	return (int)total;
}

/* ---- wait ---- */

static int any_ready(struct shmring_set *s, struct member **ms, uint32_t n)
{
	if (shmring_msg_used(&s->ctl))
		return 1;
	for (uint32_t i = 0; i < n; i++)
		if (member_has_data(ms[i]))
			return 1;
	return 0;
}

struct futex_waitv_arg {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

static long sys_futex_waitv(struct futex_waitv_arg *w, uint32_t n, uint64_t until_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(until_ns / 1000000000ull),
			       .tv_nsec = (long)(until_ns % 1000000000ull) };

	return syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC);
}

int shmring_set_wait(struct shmring_set *s, const struct timespec *deadline)
{
	struct member **ms;
	struct futex_waitv_arg *wv = NULL;
	uint64_t dl = UINT64_MAX, now, until;
	uint32_t n;
	int ret = 0, doorbell, need_mb = 0;

	if (!s || (deadline && (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L ||
				deadline->tv_sec < 0)))
		return -EINVAL;
	if (deadline)
		dl = (uint64_t)deadline->tv_sec * 1000000000ull + (uint64_t)deadline->tv_nsec;

	/* Hold every member for the sleep: a removal meanwhile only drops
	 * the set's reference, the ring stays mapped until we let go. */
	read_lock();
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	n = a->n;
	ms = malloc((n ? n : 1) * sizeof(*ms));
	if (!ms) {
		read_unlock(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		ms[i] = a->m[i];
		shmring_atomic_fetch_add(&ms[i]->refs, 1, SHMRING_RELAXED);
	}
	read_unlock(s);

	if (any_ready(s, ms, n))
		goto out;
	doorbell = (s->flags & SHMRING_SET_F_DOORBELL) || n + 1 > WAITV_MAX ||
		   shmring_atomic_load(&s->no_waitv, SHMRING_RELAXED);
	if (!doorbell) {
		wv = calloc(n + 1, sizeof(*wv));
		if (!wv) {
			ret = -ENOMEM;
			goto out;
		}
	}
	struct shmring_wait *ctlw = &s->ctl.ctrl->cons_wait;

	/* S2 for every block: the waiter counts wakers test (seq_cst RMW). */
	shmring_atomic_fetch_add(&ctlw->waiters, 1, SHMRING_SEQ_CST);
	for (uint32_t i = 0; i < n; i++) {
		struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;

		if (doorbell)
			/* Before the epoch arms below: a waker whose acq_rel bump
			 * reads one of them sees this flag (futex.c). */
			shmring_atomic_fetch_add(&w->doorbell, 1, SHMRING_SEQ_CST);
		shmring_atomic_fetch_add(&w->waiters, 1, SHMRING_SEQ_CST);
	}
	for (;;) {
		/* S1: arm the control block (the doorbell), then every member. */
		uint32_t v = shmring_atomic_fetch_add(&ctlw->futex, 1, SHMRING_SEQ_CST) + 1;

		/* seq_cst: pairs with the seq_cst store of light (futex.c). */
		need_mb = shmring_atomic_load(&ctlw->light, SHMRING_SEQ_CST) != 0;
		if (!doorbell) {
			wv[0].val = v;
			wv[0].uaddr = (uint64_t)(uintptr_t)&ctlw->futex;
			wv[0].flags = FUTEX_32;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;
			uint32_t e = shmring_atomic_fetch_add(&w->futex, 1, SHMRING_SEQ_CST) + 1;

			/* seq_cst: pairs with the seq_cst store of light (futex.c). */
			if (shmring_atomic_load(&w->light, SHMRING_SEQ_CST))
				need_mb = 1;
			if (!doorbell) {
				wv[i + 1].val = e;
				wv[i + 1].uaddr = (uint64_t)(uintptr_t)&w->futex;
				wv[i + 1].flags = FUTEX_32;
			}
		}
		/* S3 */
		int late = shmring__arm_barrier_multi(need_mb) < 0;

		/* S4 */
		if (any_ready(s, ms, n))
			break;
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (now >= dl) {
			ret = -ETIMEDOUT;
			break;
		}
		until = now + (late ? 1000000ull : SLICE_NS);
		if (until > dl)
			until = dl;
		/* S5 */
		shmring_atomic_fetch_add(&s->tab->ctr2.sleeps, 1, SHMRING_RELAXED);
		long r;

		if (doorbell) {
			r = shmring__futex_wait_abs(&ctlw->futex, v, until);
		} else {
			r = sys_futex_waitv(wv, n + 1, until);
			if (r < 0 && errno == ENOSYS) {
				/* Old kernel: from now on the doorbell. Flag the
				 * members, then go round to re-arm and re-check. */
				shmring_atomic_store(&s->no_waitv, 1, SHMRING_RELAXED);
				shmring_atomic_store(&s->tab->memb.doorbell, 1, SHMRING_RELAXED);
				/* seq_cst, as above: before the re-arm; pairs with a
				 * waker's acq_rel bump (futex.c). */
				for (uint32_t i = 0; i < n; i++)
					shmring_atomic_fetch_add(&ms[i]->r.ctrl->cons_wait.doorbell, 1,
								 SHMRING_SEQ_CST);
				doorbell = 1;
				continue;
			}
		}
		now = shmring__now_ns(CLOCK_MONOTONIC);
		if (r >= 0 || (errno != ETIMEDOUT && errno != EINTR))
			shmring_atomic_fetch_add(&s->tab->ctr2.wakeups, 1, SHMRING_RELAXED);
		if (now >= dl) {
			ret = any_ready(s, ms, n) ? 0 : -ETIMEDOUT;
			break;
		}
		if (r < 0 && errno == ETIMEDOUT) {
			/* Slice over: let the caller poll and check liveness. */
			shmring_atomic_store(&s->force_check, 1, SHMRING_RELAXED);
			break;
		}
		/* Woken: a member or the control ring moved (or spurious);
		 * return so the caller polls. */
		break;
	}
	/* Release: our reads of the rings happen before a waker that sees
	 * the smaller count skips its wake. */
	for (uint32_t i = 0; i < n; i++) {
		struct shmring_wait *w = &ms[i]->r.ctrl->cons_wait;

		shmring_atomic_fetch_add(&w->waiters, (uint32_t)-1, SHMRING_RELEASE);
		if (doorbell)
			shmring_atomic_fetch_add(&w->doorbell, (uint32_t)-1, SHMRING_RELEASE);
	}
	shmring_atomic_fetch_add(&ctlw->waiters, (uint32_t)-1, SHMRING_RELEASE);
out:
	for (uint32_t i = 0; i < n; i++)
		member_put(ms[i]);
	free(ms);
	free(wv);
	return ret;
}

int shmring_set_link_producer(struct shmring_set *s, struct shmring *producer)
{
	if (!s || !producer || producer->role != SHMRING_PRODUCER)
		return -EINVAL;
	producer->doorbell = &s->ctl.ctrl->cons_wait;
	return 0;
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
	read_lock();
	st->members = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE)->n; /* pairs with writers' release */
	read_unlock(s);
	return 0;
}

int shmring_set_member_stats(struct shmring_set *s, uint32_t member, struct shmring_set_member_stats *st)
{
	int ret = -ENOENT;

	if (!s || !st)
		return -EINVAL;
	read_lock();
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
	read_unlock(s);
	return ret;
}

int shmring_set_member_ring_stats(struct shmring_set *s, uint32_t member,
				  struct shmring_ring_stats *out)
{
	int ret = -ENOENT;

	shmring__clear_detail();
	if (!s || !out)
		return shmring__fail(-EINVAL, "%s is NULL", s ? "stats" : "set");
	read_lock();
	struct members *a = shmring_atomic_load(&s->cur, SHMRING_ACQUIRE); /* pairs with writers' release */

	for (uint32_t i = 0; i < a->n && ret == -ENOENT; i++)
		if (a->m[i]->id == member)
			ret = shmring_stats(&a->m[i]->r, out);
	read_unlock(s);
	if (ret == -ENOENT)
		return shmring__fail(-ENOENT, "the set has no member %u", member);
	return ret;
}

/* ---- producer side ---- */

static int join_common(struct shmring_set_link *l, struct shmring *ring, const char *ring_name,
		       uint64_t tag)
{
	struct shmring_set_ctl_rec rec;
	size_t len;
	int ret;

	len = ring_name ? strlen(ring_name) : 0;
	if (!ring || ring->role != SHMRING_PRODUCER || len == 0 || len > SHMRING_NAME_MAX) {
		shmring_close(&l->ctl);
		return shmring__fail(-EINVAL, "join needs a producer handle and its ring's name");
	}
	memset(&rec, 0, sizeof(rec));
	rec.op = CTL_JOIN;
	rec.len = (uint32_t)len;
	rec.tag = tag;
	memcpy(rec.name, ring_name, len);
	/* The doorbell first: the consumer may sleep as soon as it adds us. */
	ring->doorbell = &l->ctl.ctrl->cons_wait;
	ret = shmring_msg_push(&l->ctl, &rec, (uint32_t)(offsetof(struct shmring_set_ctl_rec, name) + len + 1));
	if (ret < 0) {
		ring->doorbell = NULL;
		shmring_close(&l->ctl);
		return ret;
	}
	shmring_msg_wake(&l->ctl);
	return 0;
}

int shmring_set_join_opts(struct shmring_set_link *l, const char *set_name, struct shmring *ring,
			  const char *ring_name, uint64_t tag, const struct shmring_open_opts *opts)
{
	char ctl[SHMRING_NAME_MAX + 8];
	int ret;

	if (!l || !set_name)
		return shmring__fail(-EINVAL, "link or set name is NULL");
	if (!set_ctl_name(set_name, ctl, sizeof(ctl)))
		return -EINVAL;
	ret = shmring_open(&l->ctl, ctl, SHMRING_PRODUCER, opts);
	if (ret < 0)
		return ret;
	return join_common(l, ring, ring_name, tag);
}

int shmring_set_join(struct shmring_set_link *l, const char *set_name, struct shmring *ring,
		     const char *ring_name, uint64_t tag)
{
	return shmring_set_join_opts(l, set_name, ring, ring_name, tag, NULL);
}

int shmring_set_join_fd(struct shmring_set_link *l, int ctl_fd, struct shmring *ring,
			const char *ring_name, uint64_t tag)
{
	int ret;

	if (!l)
		return -EINVAL;
	ret = shmring_open_fd(&l->ctl, ctl_fd, SHMRING_PRODUCER, NULL);
	if (ret < 0)
		return ret;
	return join_common(l, ring, ring_name, tag);
}

int shmring_set_leave(struct shmring_set_link *l, struct shmring *ring)
{
	if (!l)
		return -EINVAL;
	if (ring)
		ring->doorbell = NULL;
	return shmring_close(&l->ctl);
}
