/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: open a ring read-only and take a snapshot of it.
 *
 * Validation is the library's: shmring_open_fd(..., SHMRING_OBSERVER, ...)
 * copies the header once, checks the copy against the object's size and
 * maps the object PROT_READ. This file only classifies what the library
 * refuses (not a shmring object at all, not ready yet, invalid) and reads
 * the shared words with atomic loads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"

static const struct dump_kind *const kinds[] = {
	&dump_kind_spsc,
	&dump_kind_mpmc,
	&dump_kind_msg_spsc,
	&dump_kind_msg_mpsc,
	&dump_kind_bcast,
};

const struct dump_kind *dump_kind_of(uint32_t type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->type == type)
			return kinds[i];
	return NULL;
}

const char *dump_type_name(uint32_t type)
{
	switch (type) {
	case SHMRING_SPSC: return "spsc";
	case SHMRING_MPMC: return "mpmc";
	case SHMRING_MSG_SPSC: return "msg-spsc";
	case SHMRING_MSG_MPSC: return "msg-mpsc";
	case SHMRING_BROADCAST: return "broadcast";
	default: return "unknown";
	}
}

const char *dump_role_name(uint32_t role)
{
	switch (role) {
	case SHMRING_PRODUCER: return "producer";
	case SHMRING_CONSUMER: return "consumer";
	case SHMRING_OBSERVER: return "observer";
	case SHMRING_ROLE_NONE: return "none";
	default: return "invalid";
	}
}

const char *dump_state_name(uint32_t state)
{
	switch (state) {
	case SHMRING_EP_FREE: return "free";
	case SHMRING_EP_BUSY: return "busy";
	case SHMRING_EP_ACTIVE: return "active";
	default: return "invalid";
	}
}

uint64_t dump_now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void dump_copy(void *dst, const unsigned char *src, size_t n)
{
	unsigned char *d = dst;
	size_t i = 0;

	/* Word loads where both sides are aligned (slot payloads are). */
	if (((uintptr_t)src & 7u) == 0) {
		for (; i + 8 <= n; i += 8) {
			uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(src + i),
						     __ATOMIC_RELAXED);
			memcpy(d + i, &w, 8);
		}
	}
	for (; i < n; i++)
		d[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
}

void dump_slot_read(const struct dump_ring *d, uint64_t pos, uint64_t want, unsigned char *buf,
		    struct dump_msg *m)
{
	SHMRING_ATOMIC(uint64_t) *seq = shmring__slot_seq(&d->r, pos);

	memset(m, 0, sizeof(*m));
	m->pos = pos;
	m->len = d->r.slot_size;
	m->data = buf;
	/* Acquire: pairs with the producer's release store of the word, so
	 * the payload read after it is the published one. */
	if (shmring_atomic_load(seq, SHMRING_ACQUIRE) != want) {
		m->torn = true;
		return;
	}
	dump_copy(buf, shmring_slot(&d->r, pos), d->r.slot_size);
	/* Acquire: orders the payload loads above before the re-read of the
	 * sequence word; a producer that overwrote the slot meanwhile has
	 * stored another value there (seqlock-style validation). */
	dump_acquire_fence();
	if (shmring_atomic_load(seq, SHMRING_RELAXED) != want)
		m->torn = true;
}

int64_t dump_slot_each(struct dump_ring *d, uint64_t first, uint64_t count, dump_slot_fn *read,
		       dump_msg_fn fn, void *arg)
{
	unsigned char *buf = malloc(d->r.slot_size ? d->r.slot_size : 1);
	int64_t done = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		struct dump_msg m;
		int ret;

		read(d, first + i, buf, &m);
		ret = fn(d, &m, arg);
		if (ret < 0) {
			free(buf);
			return ret;
		}
		done++;
	}
	free(buf);
	return done;
}

void dump_problem(struct dump_ring *d, bool warning, const char *invariant, const char *fmt, ...)
{
	va_list ap;

	if (d->n_problems >= DUMP_PROBLEMS_MAX) {
		if (!warning)
			d->n_failed++;
		return;
	}
	struct dump_problem *p = &d->problems[d->n_problems++];

	p->invariant = invariant;
	p->warning = warning;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	if (!warning)
		d->n_failed++;
}

/* "name", "/name" -> "/name"; one path component. */
static int norm_name(const char *name, char out[SHMRING_NAME_MAX + 2])
{
	const char *base = name[0] == '/' ? name + 1 : name;
	size_t len = strlen(base);

	if (len == 0 || len + 1 > SHMRING_NAME_MAX || strchr(base, '/') || !strcmp(base, ".") ||
	    !strcmp(base, ".."))
		return -EINVAL;
	out[0] = '/';
	memcpy(out + 1, base, len + 1);
	return 0;
}

int dump_open(struct dump_ring *d, const char *name, char *why, size_t why_len)
{
	char path[SHMRING_NAME_MAX + 2];
	int fd, ret;

	memset(d, 0, sizeof(*d));
	d->place_ret = 1;
	if (norm_name(name, path) < 0) {
		snprintf(why, why_len, "'%s' is not a valid shared-memory name", name);
		return -EINVAL;
	}
	snprintf(d->name, sizeof(d->name), "%s", path);
	/* Read-only descriptor; glibc's shm_open adds O_NOFOLLOW. */
	fd = shm_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			snprintf(why, why_len, "is a symbolic link (never followed)");
		else
			snprintf(why, why_len, "%s", strerror(-ret));
		return ret;
	}
	ret = dump_open_fd(d, fd, path, why, why_len);
	close(fd);
	return ret;
}

int dump_open_fd(struct dump_ring *d, int fd, const char *name, char *why, size_t why_len)
{
	struct shmring_open_opts o;
	struct shmring_hdr h;
	uint64_t magic = 0;
	ssize_t n;
	int ret;

	if (d->name[0] == '\0')
		snprintf(d->name, sizeof(d->name), "%s", name);
	if (fstat(fd, &d->st) < 0) {
		ret = -errno;
		snprintf(why, why_len, "fstat: %s", strerror(errno));
		return ret;
	}
	if (!S_ISREG(d->st.st_mode)) {
		snprintf(why, why_len, "not a regular file");
		return -ENOMSG;
	}
	if (d->st.st_size == 0) {
		snprintf(why, why_len, "empty object (size 0): not initialised yet, or not a shmring object");
		return -ETIMEDOUT;
	}
	n = pread(fd, &magic, sizeof(magic), 0);
	if (n != (ssize_t)sizeof(magic)) {
		snprintf(why, why_len, "%lld bytes: too small to be a shmring object",
			 (long long)d->st.st_size);
		return -ENOMSG;
	}
	if (magic == 0) {
		snprintf(why, why_len, "header is zero: not initialised yet, or not a shmring object");
		return -ETIMEDOUT;
	}
	if (magic != SHMRING_MAGIC) {
		snprintf(why, why_len, "not a shmring object (magic 0x%016llx)", (unsigned long long)magic);
		return -ENOMSG;
	}
	/*
	 * An observer accepts any owner and mode: it maps read-only and
	 * only reports. The library still validates everything else; a
	 * tiny timeout keeps the tool from waiting on a creator.
	 */
	memset(&o, 0, sizeof(o));
	o.mode = 07777;
	o.allow_uid = (uint32_t)d->st.st_uid;
	o.allow_other_uid = 1;
	o.timeout_ms = 1;
	ret = shmring_open_fd(&d->r, fd, SHMRING_OBSERVER, &o);
	if (ret == -ETIMEDOUT) {
		memset(&h, 0, sizeof(h));
		if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.creator_pid > 0)
			snprintf(why, why_len, "not ready: the creator (pid %d, %s) has not finished initialising it",
				 (int)h.creator_pid,
				 shmring__pid_alive(h.creator_pid, h.creator_start) ? "alive"
										     : "dead: a stale object");
		else
			snprintf(why, why_len, "not ready: the creator has not finished initialising it");
		return ret;
	}
	if (ret < 0) {
		snprintf(why, why_len, "%s: %s", shmring_strerror(ret), shmring_errdetail());
		return ret;
	}
	d->open = true;
	d->type = d->r.type;
	d->kind = dump_kind_of(d->type);
	/* The display copy; every address comes from the validated handle. */
	dump_copy(&d->hdr, (const unsigned char *)d->r.hdr, sizeof(d->hdr));
	return 0;
}

void dump_close(struct dump_ring *d)
{
	free(d->eps);
	d->eps = NULL;
	if (d->open)
		shmring_close(&d->r);
	d->open = false;
}

#define LD(p) shmring_atomic_load(&(p), SHMRING_RELAXED)

static void read_counters(struct dump_counters *c, const struct shmring_stats *s)
{
	c->blocked = LD(s->blocked);
	c->high_water = LD(s->high_water);
	c->sleeps = LD(s->sleeps);
	c->wakes = LD(s->wakes);
	c->wakes_empty = LD(s->wakes_empty);
	c->futex_calls = LD(s->futex_calls);
	c->skipped = LD(s->skipped);
	c->corrupt = LD(s->corrupt);
	c->lost = LD(s->lost);
}

static void read_side(struct dump_side *o, const struct shmring_side *s, const struct shmring_wait *w,
		      const struct shmring_stats *st)
{
	o->pos = LD(s->pos);
	o->claim = LD(s->claim);
	o->cached = LD(s->cached);
	o->gone = LD(s->gone);
	o->futex = LD(w->futex);
	o->waiters = LD(w->waiters);
	o->light = LD(w->light);
	read_counters(&o->st, st);
}

static void read_endpoints(struct dump_ring *d)
{
	const struct shmring_endpoint *eps =
		(const struct shmring_endpoint *)(const void *)((const unsigned char *)d->r.map +
								 SHMRING_EP_OFF);
	uint32_t count = d->r.ep_count; /* validated: 2..SHMRING_EP_MAX */

	free(d->eps);
	d->eps = calloc(count, sizeof(*d->eps));
	d->n_eps = d->n_prod = d->n_cons = 0;
	if (!d->eps)
		return;
	for (uint32_t i = 0; i < count; i++) {
		const struct shmring_endpoint *e = &eps[i];
		/* Acquire: pairs with the release store of state when the
		 * entry was filled in (endpoint.c). */
		uint32_t state = shmring_atomic_load(&e->state, SHMRING_ACQUIRE);

		if (state == SHMRING_EP_FREE)
			continue;
		struct dump_ep *o = &d->eps[d->n_eps++];

		o->index = i;
		o->state = SHMRING_EP_STATE(state) == SHMRING_EP_BUSY ? SHMRING_EP_BUSY : state;
		o->role = LD(e->role);
		o->pid = LD(e->pid);
		o->tid = LD(e->tid);
		o->start_time = LD(e->start_time);
		if (o->state == SHMRING_EP_BUSY) {
			/* The holder of a BUSY entry is named by the state word. */
			o->pid = SHMRING_EP_BUSY_PID(state);
			o->start_time = 0;
		}
		o->attach_ns = LD(e->attach_ns);
		o->claim_pos = LD(e->claim_pos);
		o->claim_end = LD(e->claim_end);
		o->ops = LD(e->ops);
		o->taken = LD(e->taken);
		o->alive = shmring__pid_alive(o->pid, o->start_time);
		if (o->role == SHMRING_PRODUCER)
			d->n_prod++;
		else if (o->role == SHMRING_CONSUMER)
			d->n_cons++;
	}
}

void dump_placement(struct dump_ring *d)
{
	memset(&d->place, 0, sizeof(d->place));
	d->place_ret = shmring_placement_query(&d->r, &d->place);
}

void dump_snapshot(struct dump_ring *d)
{
	const struct shmring_ctrl *c = d->r.ctrl;

	d->n_problems = d->n_failed = 0;
	d->snap_ns = dump_now_ns(CLOCK_MONOTONIC);
	d->creator_alive = shmring__pid_alive(d->hdr.creator_pid, d->hdr.creator_start);
	read_endpoints(d);
	read_side(&d->prod, &c->prod, &c->prod_wait, &c->prod_stats);
	read_side(&d->cons, &c->cons, &c->cons_wait, &c->cons_stats);
	if (d->kind) {
		d->kind->snapshot(d);
	} else {
		/* A type this tool has no module for: the generic positions. */
		d->head = d->prod.pos;
		d->tail = d->cons.pos;
		d->avail_end = d->head;
		d->fill = d->head - d->tail;
		d->consistent = d->stable = false;
	}
	dump_bridge_read(d);
}

static void check_header(struct dump_ring *d)
{
	const struct shmring_hdr *h = &d->hdr;

	/* The header is immutable once ready: anything that differs from
	 * what the library validated was written afterwards. */
	if (h->capacity != d->r.capacity || h->slot_size != d->r.slot_size ||
	    h->slot_stride != d->r.stride || h->ep_count != d->r.ep_count || h->flags != d->r.flags ||
	    h->total_size != d->r.map_size || h->magic != SHMRING_MAGIC ||
	    shmring_atomic_load(&h->ready, SHMRING_RELAXED) != SHMRING_READY)
		dump_problem(d, false, "header-immutable",
			     "the header changed after it was validated (capacity %llu, slot_size %u, "
			     "ep_count %u now in the header)",
			     (unsigned long long)h->capacity, h->slot_size, h->ep_count);
}

static void check_endpoints(struct dump_ring *d)
{
	uint32_t live = 0;

	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (e->alive)
			live++;
		if (e->state != SHMRING_EP_ACTIVE && e->state != SHMRING_EP_BUSY) {
			dump_problem(d, false, "endpoint-table", "entry %u has state %u", e->index,
				     e->state);
			continue;
		}
		if (e->role != SHMRING_PRODUCER && e->role != SHMRING_CONSUMER &&
		    e->state == SHMRING_EP_ACTIVE) {
			dump_problem(d, false, "endpoint-table", "entry %u has role %u", e->index, e->role);
			continue;
		}
		if (e->alive)
			continue;
		if (e->state == SHMRING_EP_ACTIVE &&
		    (d->kind && d->kind->holds_claim ? d->kind->holds_claim(d, e)
						     : e->claim_pos != SHMRING_NO_CLAIM))
			dump_problem(d, false, "dead-endpoint-claim",
				     "entry %u (%s, pid %d) is dead and holds positions %llu..%llu: %s",
				     e->index, dump_role_name(e->role), (int)e->pid,
				     (unsigned long long)e->claim_pos, (unsigned long long)e->claim_end,
				     d->type == SHMRING_MSG_SPSC || d->type == SHMRING_MSG_MPSC
					     ? "the consumer recovers it (shmring_recover)"
					     : "run --recover");
		else
			dump_problem(d, true, "dead-endpoint", "entry %u (%s, pid %d) is %s and still registered",
				     e->index, dump_role_name(e->role), (int)e->pid,
				     e->state == SHMRING_EP_BUSY ? "busy with a dead owner" : "dead");
	}
	if (!d->creator_alive && live == 0)
		dump_problem(d, true, "stale", "the creator (pid %d) is dead and no live process is attached",
			     (int)d->hdr.creator_pid);
}

uint32_t dump_check(struct dump_ring *d)
{
	check_header(d);
	check_endpoints(d);
	if (d->prod.st.corrupt || d->cons.st.corrupt)
		dump_problem(d, true, "corrupt-count",
			     "endpoints have seen inconsistent peer state %llu (producer) + %llu (consumer) times",
			     (unsigned long long)d->prod.st.corrupt, (unsigned long long)d->cons.st.corrupt);
	if (d->kind)
		d->kind->check(d);
	else
		dump_problem(d, true, "type-unknown", "this shmring-dump has no reader for ring type %u",
			     d->type);
	return d->n_failed;
}
