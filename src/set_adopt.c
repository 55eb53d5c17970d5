/* SPDX-License-Identifier: MIT */
/*
 * Ring sets: takeover. A consumer that creates a set whose consumer died
 * adopts it: the shared membership table, the members announced through
 * the control ring, and the control ring itself (set.c calls
 * shmring__set_adopt from shmring_set_create).
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

/* ---- takeover: a new consumer adopts a set whose consumer died ---- */


/*
 * Open the table "/<base>.set" left by the set's previous consumer.
 * Returns 0 (mapped, its owner rewritten to us), or 1 when there is no
 * usable table under the name (none, not ready, another geometry, not a
 * table at all): shmring__set_tab_create decides then (it replaces a
 * table left behind and refuses any other object with -EEXIST).
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
	struct shmring_set_entry *e = shmring__set_tab_entry(s, i);
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
	m = shmring__set_kind_ok(&r) ? shmring__set_member_new(&r, shmring_atomic_load(&e->tag, SHMRING_RELAXED),
				     flags & (SHMRING_SET_ENTRY_ANNOUNCED | SHMRING_SET_ENTRY_JOINED))
			: NULL;
	if (!m || (m->auto_remove && shmring__set_producer_gone(m) && !shmring__set_member_has_data(m))) {
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
		if (shmring_atomic_load(&shmring__set_tab_entry(s, i)->state, SHMRING_RELAXED) == SHMRING_SET_ENTRY_USED)
			got[i] = adopt_entry(s, i);
	if (!(shmring_atomic_load(&mb->gen, SHMRING_RELAXED) & 1u))
		shmring__set_tab_begin(s);
	for (uint32_t i = 0; i < SHMRING_SET_CAPACITY; i++) {
		struct shmring_set_entry *e = shmring__set_tab_entry(s, i);

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
	shmring__set_tab_end(s);
	a = shmring__set_members_alloc(n);
	if (!a) {
		for (uint32_t i = 0; i < n; i++)
			shmring__set_member_put(got[i]); /* their entries stay listed for the next try */
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
int shmring__set_adopt(struct shmring_set *s, const char *base)
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
		ret = shmring__set_tab_create(s, base);
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

