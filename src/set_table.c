/* SPDX-License-Identifier: MIT */
/*
 * The membership table of a ring set (layout.h, struct shmring_set_table):
 * it shows the members and the counters in shared memory, for
 * shmring-dump. Every writer of the membership also updates the table
 * under the set's mutex, between two increments of its seqlock
 * generation; the counters of the set and of each listed member live
 * there, not in process memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "set_internal.h"

/* ---- membership table (layout.h) ---- */

struct shmring_set_entry *shmring__set_tab_entry(struct shmring_set *s, uint32_t i)
{
	return (struct shmring_set_entry *)(void *)((unsigned char *)s->tab + SHMRING_SET_ENTRIES_OFF +
						     (size_t)i * SHMRING_SET_ENTRY_SIZE);
}

/* Open and close a change of the membership (seqlock writer, under wlock). */
void shmring__set_tab_begin(struct shmring_set *s)
{
	uint64_t g = shmring_atomic_load(&s->tab->memb.gen, SHMRING_RELAXED);

	shmring_atomic_store(&s->tab->memb.gen, g + 1, SHMRING_RELAXED);
	/* Release fence: the odd gen is visible before any entry store below;
	 * pairs with the reader's acquire fence before its second gen load. */
	table_release_fence();
}

void shmring__set_tab_end(struct shmring_set *s)
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
void shmring__set_tab_add(struct shmring_set *s, struct member *m, const char *name)
{
	struct shmring_set_memb *mb = &s->tab->memb;
	uint32_t hi = shmring_atomic_load(&mb->hi, SHMRING_RELAXED), i;
	struct shmring_set_entry *e = NULL;
	char buf[SHMRING_NAME_MAX + 2];
	size_t len = 0;

	for (i = 0; i < SHMRING_SET_CAPACITY; i++) {
		e = shmring__set_tab_entry(s, i);
		if (shmring_atomic_load(&e->state, SHMRING_RELAXED) == SHMRING_SET_ENTRY_FREE)
			break;
	}
	shmring__set_tab_begin(s);
	shmring_atomic_fetch_add(&mb->joins, 1, SHMRING_RELAXED);
	if (i == SHMRING_SET_CAPACITY) {
		m->slot = NO_SLOT;
		m->ctr = &m->local;
		shmring_atomic_fetch_add(&mb->unlisted, 1, SHMRING_RELAXED);
		shmring__set_tab_end(s);
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
	shmring__set_tab_end(s);
}

/* Unlist m (under wlock, after the grace period: no poller counts into
 * its entry any more). */
void shmring__set_tab_del(struct shmring_set *s, struct member *m)
{
	struct shmring_set_memb *mb = &s->tab->memb;

	shmring__set_tab_begin(s);
	shmring_atomic_fetch_add(&mb->leaves, 1, SHMRING_RELAXED);
	if (m->slot == NO_SLOT) {
		shmring_atomic_fetch_add(&mb->unlisted, (uint32_t)-1, SHMRING_RELAXED);
	} else {
		uint32_t hi = shmring_atomic_load(&mb->hi, SHMRING_RELAXED);

		shmring_atomic_store(&shmring__set_tab_entry(s, m->slot)->state, SHMRING_SET_ENTRY_FREE,
				     SHMRING_RELAXED);
		shmring_atomic_fetch_add(&mb->count, (uint32_t)-1, SHMRING_RELAXED);
		while (hi && shmring_atomic_load(&shmring__set_tab_entry(s, hi - 1)->state, SHMRING_RELAXED) ==
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
	shmring__set_tab_end(s);
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
int shmring__set_tab_create(struct shmring_set *s, const char *base)
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

void shmring__set_tab_destroy(struct shmring_set *s)
{
	if (s->tab_name[0])
		shm_unlink(s->tab_name);
	if (s->tab)
		munmap(s->tab, s->tab_size);
	s->tab = NULL;
}
