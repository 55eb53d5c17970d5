/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump: ring sets (include/shmring/set.h).
 *
 * A set is process-local to its consumer; what other processes can see
 * is its membership table "<set>.set" (layout.h, struct shmring_set_table),
 * its control ring "<set>.ctl", and the member rings themselves. This file
 * reads the table read-only (O_RDONLY, PROT_READ), takes a consistent copy
 * of the membership with the table's seqlock generation (bounded retries,
 * never a wait), validates every field of the copy before using it, and
 * then reads the control ring and every named member ring through the
 * ordinary observer path (dump_open), one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"

#define SET_SNAP_TRIES 256
#define SET_CAPACITY_MAX 65536u /* largest table a reader accepts */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* "orders", "/orders", "orders.set", "orders.ctl" -> the three names. */
static int set_names(struct dump_set *s, const char *name)
{
	const char *base = name[0] == '/' ? name + 1 : name;
	size_t len = strlen(base);

	if (ends_with(base, ".set") || ends_with(base, ".ctl"))
		len -= 4;
	if (len == 0 || len + 5 > SHMRING_NAME_MAX || memchr(base, '/', len))
		return -EINVAL;
	snprintf(s->name, sizeof(s->name), "/%.*s", (int)len, base);
	snprintf(s->table, sizeof(s->table), "%s.set", s->name);
	snprintf(s->ctl, sizeof(s->ctl), "%s.ctl", s->name);
	return 0;
}

int dump_set_open(struct dump_set *s, const char *name, char *why, size_t why_len)
{
	int fd, ret;

	memset(s, 0, sizeof(*s));
	if (set_names(s, name) < 0) {
		snprintf(why, why_len, "'%s' is not a valid set name", name);
		return -EINVAL;
	}
	fd = shm_open(s->table, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(why, why_len, "no ring set: its membership table %s does not exist",
				 s->table);
		else if (ret == -ELOOP)
			snprintf(why, why_len, "%s is a symbolic link (never followed)", s->table);
		else
			snprintf(why, why_len, "%s: %s", s->table, strerror(-ret));
		return ret;
	}
	ret = dump_set_open_fd(s, fd, why, why_len);
	close(fd);
	return ret;
}

int dump_set_open_fd(struct dump_set *s, int fd, char *why, size_t why_len)
{
	struct shmring_set_hdr h;
	uint64_t want;
	void *map;

	if (fstat(fd, &s->st) < 0) {
		snprintf(why, why_len, "fstat: %s", strerror(errno));
		return -errno;
	}
	if (!S_ISREG(s->st.st_mode)) {
		snprintf(why, why_len, "not a regular file");
		return -ENOMSG;
	}
	memset(&h, 0, sizeof(h));
	if (s->st.st_size < (off_t)sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(why, why_len, "%lld bytes: too small to be a ring-set membership table",
			 (long long)s->st.st_size);
		return -ENOMSG;
	}
	if (h.magic != SHMRING_SET_MAGIC) {
		snprintf(why, why_len, "not a ring-set membership table (magic 0x%016llx)",
			 (unsigned long long)h.magic);
		return -ENOMSG;
	}
	/* Read from the private copy: pread is not a racing load. */
	if (h.ready != SHMRING_READY) {
		snprintf(why, why_len, "not ready: the set's consumer (pid %d) has not finished creating it",
			 (int)h.consumer_pid);
		return -ETIMEDOUT;
	}
	want = (uint64_t)SHMRING_SET_ENTRIES_OFF + (uint64_t)h.capacity * SHMRING_SET_ENTRY_SIZE;
	if (h.abi_version != SHMRING_ABI_VERSION)
		snprintf(why, why_len, "corrupt membership table: abi_version %u (this tool reads %u)",
			 h.abi_version, SHMRING_ABI_VERSION);
	else if (h.entries_off != SHMRING_SET_ENTRIES_OFF || h.entry_size != SHMRING_SET_ENTRY_SIZE)
		snprintf(why, why_len,
			 "corrupt membership table: entries at %u, %u bytes each (expected %u, %u)",
			 h.entries_off, h.entry_size, SHMRING_SET_ENTRIES_OFF, SHMRING_SET_ENTRY_SIZE);
	else if (h.capacity == 0 || h.capacity > SET_CAPACITY_MAX)
		snprintf(why, why_len, "corrupt membership table: capacity %u (1 to %u)", h.capacity,
			 SET_CAPACITY_MAX);
	else if (h.total_size != want)
		snprintf(why, why_len, "corrupt membership table: total_size %llu, geometry says %llu",
			 (unsigned long long)h.total_size, (unsigned long long)want);
	else if ((uint64_t)s->st.st_size < want)
		snprintf(why, why_len, "corrupt membership table: the object is %lld bytes, its header needs %llu",
			 (long long)s->st.st_size, (unsigned long long)want);
	else
		goto valid;
	return -EPROTO;
valid:
	map = mmap(NULL, (size_t)want, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, why_len, "mmap: %s", strerror(errno));
		return -errno;
	}
	s->t = map;
	s->map_size = (size_t)want;
	s->hdr = h;
	s->capacity = h.capacity; /* validated: every address below uses it */
	s->open = true;
	return 0;
}

#define LD(p) shmring_atomic_load(&(p), SHMRING_RELAXED)

/* Validate the copied membership; -EPROTO with why on the first fault. */
static int set_validate(struct dump_set *s, const unsigned char *ents, uint32_t hi, uint32_t count,
			char *why, size_t why_len)
{
	uint32_t used = 0;

	s->n = 0;
	for (uint32_t i = 0; i < hi; i++) {
		const struct shmring_set_entry *e =
			(const struct shmring_set_entry *)(const void *)(ents + (size_t)i * SHMRING_SET_ENTRY_SIZE);
		uint32_t state = LD(e->state), len = LD(e->name_len), type = LD(e->type);
		uint32_t flags = LD(e->flags);
		struct dump_set_member *m;

		if (state == SHMRING_SET_ENTRY_FREE) {
			if (i == hi - 1) {
				snprintf(why, why_len, "corrupt membership table: hi is %u but entry %u is free",
					 hi, i);
				return -EPROTO;
			}
			continue;
		}
		if (state != SHMRING_SET_ENTRY_USED) {
			snprintf(why, why_len, "corrupt membership table: entry %u has state %u", i, state);
			return -EPROTO;
		}
		if (type != SHMRING_SPSC && type != SHMRING_MSG_SPSC && type != SHMRING_MSG_MPSC) {
			snprintf(why, why_len, "corrupt membership table: entry %u has ring type %u", i, type);
			return -EPROTO;
		}
		if (flags & ~(SHMRING_SET_ENTRY_JOINED | SHMRING_SET_ENTRY_ANNOUNCED)) {
			snprintf(why, why_len, "corrupt membership table: entry %u has flags 0x%x", i, flags);
			return -EPROTO;
		}
		if (len > SHMRING_SET_NAME_BYTES) {
			snprintf(why, why_len, "corrupt membership table: entry %u has a name of %u bytes (at most %u)",
				 i, len, SHMRING_SET_NAME_BYTES);
			return -EPROTO;
		}
		m = &s->m[used++];
		memset(m, 0, sizeof(*m));
		m->slot = i;
		m->id = LD(e->id);
		m->type = type;
		m->joined = (flags & (SHMRING_SET_ENTRY_JOINED | SHMRING_SET_ENTRY_ANNOUNCED)) != 0;
		m->tag = LD(e->tag);
		m->join_ns = LD(e->join_ns);
		m->messages = LD(e->ctr.messages);
		m->empty_polls = LD(e->ctr.empty_polls);
		memcpy(m->name, e->name, len);
		m->name[len] = '\0';
		if (len && (m->name[0] != '/' || len < 2 || strlen(m->name) != len ||
			    strchr(m->name + 1, '/'))) {
			snprintf(why, why_len, "corrupt membership table: entry %u's name is not a shared-memory name",
				 i);
			return -EPROTO;
		}
		for (uint32_t k = 0; k + 1 < used; k++)
			if (s->m[k].id == m->id) {
				snprintf(why, why_len, "corrupt membership table: entries %u and %u both hold member %u",
					 s->m[k].slot, i, m->id);
				return -EPROTO;
			}
	}
	if (used != count) {
		snprintf(why, why_len, "corrupt membership table: count says %u members, %u entries are in use",
			 count, used);
		return -EPROTO;
	}
	s->n = used;
	return 0;
}

int dump_set_snapshot(struct dump_set *s, char *why, size_t why_len)
{
	const struct shmring_set_table *t = s->t;
	const unsigned char *base = (const unsigned char *)t + SHMRING_SET_ENTRIES_OFF;
	unsigned char *ents;
	uint64_t g1 = 0, g2 = 1;
	uint32_t count = 0, hi = 0;
	int ret;

	s->snap_ns = dump_now_ns(CLOCK_MONOTONIC);
	s->consumer_alive = shmring__pid_alive(s->hdr.consumer_pid, s->hdr.consumer_start);
	ents = malloc((size_t)s->capacity * SHMRING_SET_ENTRY_SIZE);
	free(s->m);
	s->m = calloc(s->capacity, sizeof(*s->m));
	if (!ents || !s->m) {
		free(ents);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < SET_SNAP_TRIES; i++) {
		/* Acquire: pairs with the writer's release store of the even
		 * gen that closed its last change (set.c tab_end). */
		g1 = shmring_atomic_load(&t->memb.gen, SHMRING_ACQUIRE);
		if (g1 & 1u) {
			shmring_cpu_relax();
			continue;
		}
		count = LD(t->memb.count);
		hi = LD(t->memb.hi);
		s->unlisted = LD(t->memb.unlisted);
		s->doorbell = LD(t->memb.doorbell);
		s->joins = LD(t->memb.joins);
		s->leaves = LD(t->memb.leaves);
		if (hi <= s->capacity)
			dump_copy(ents, base, (size_t)hi * SHMRING_SET_ENTRY_SIZE);
		/* Acquire fence: the copy above completes before gen is read
		 * again; pairs with the writer's release fence after its odd
		 * store (set.c tab_begin). */
		dump_acquire_fence();
		g2 = LD(t->memb.gen);
		if (g1 == g2)
			break;
	}
	s->gen = g1;
	/* The counters move outside the seqlock; they only grow. */
	s->polls = LD(t->ctr.polls);
	s->messages = LD(t->ctr.messages);
	s->sleeps = LD(t->ctr2.sleeps);
	s->wakeups = LD(t->ctr2.wakeups);
	if (g1 != g2) {
		free(ents);
		snprintf(why, why_len, "the membership changed during every one of %d reads (try again)",
			 SET_SNAP_TRIES);
		return -EAGAIN;
	}
	if (hi > s->capacity) {
		snprintf(why, why_len, "corrupt membership table: hi %u exceeds the capacity %u", hi,
			 s->capacity);
		ret = -EPROTO;
	} else if (count > hi) {
		snprintf(why, why_len, "corrupt membership table: count %u exceeds hi %u", count, hi);
		ret = -EPROTO;
	} else {
		ret = set_validate(s, ents, hi, count, why, why_len);
	}
	free(ents);
	s->count = count;
	s->hi = hi;
	return ret;
}

/* The parts of a ring's report the set's report shows. */
static void ring_summary(struct dump_set_ring *o, struct dump_ring *d, int32_t set_pid)
{
	o->type = d->type;
	o->fill = d->fill;
	o->capacity = d->r.capacity;
	o->slot_size = d->r.slot_size;
	o->unit = d->kind ? d->kind->unit : "";
	o->prod = d->prod.st;
	o->cons = d->cons.st;
	o->cons_waiters = d->cons.waiters;
	o->written = (d->type == SHMRING_SPSC ? d->avail_end : d->head) - d->hdr.init_pos;
	o->consumed = d->tail - d->hdr.init_pos;
	o->pending = d->kind == &dump_kind_msg_mpsc || d->kind == &dump_kind_msg_spsc
			     ? dump_msg_records(d)
			     : 0;
	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		if (e->role == SHMRING_PRODUCER) {
			if (e->alive)
				o->prod_alive++;
			else
				o->prod_dead++;
			o->prod_pid = e->pid;
		} else if (e->role == SHMRING_CONSUMER) {
			if (e->alive)
				o->cons_alive++;
			else
				o->cons_dead++;
			o->cons_pid = e->pid;
			if (e->pid == set_pid && e->state == SHMRING_EP_ACTIVE)
				o->set_attached = true;
		}
	}
	o->failed = d->n_failed;
	o->problems = d->n_problems;
	if (d->n_problems) {
		const struct dump_problem *p = d->problems;

		for (uint32_t i = 0; d->n_failed && i < d->n_problems; i++)
			if (!d->problems[i].warning) {
				p = &d->problems[i];
				break;
			}
		snprintf(o->status, sizeof(o->status), "%s %s: %s", p->warning ? "warning" : "FAILED",
			 p->invariant, p->detail);
	} else {
		snprintf(o->status, sizeof(o->status), "ok");
	}
}

/* Decode one control record (a private copy) the way the consumer does. */
static int pending_one(const struct dump_ring *d, const struct dump_msg *m, void *arg)
{
	struct dump_set *s = arg;
	struct dump_set_pending *p;
	struct shmring_set_ctl_rec rec;
	size_t n = m->len < sizeof(rec) ? m->len : sizeof(rec);

	(void)d;
	if (s->n_pend >= DUMP_SET_PENDING_MAX)
		return 0;
	p = &s->pend[s->n_pend++];
	memset(p, 0, sizeof(*p));
	p->pos = m->pos;
	if (m->torn) {
		p->why_bad = "consumed while it was read";
		return 0;
	}
	memset(&rec, 0, sizeof(rec));
	memcpy(&rec, m->data, n);
	p->op = rec.op;
	p->tag = rec.tag;
	if (n < offsetof(struct shmring_set_ctl_rec, name) + 2)
		p->why_bad = "too short for a control record";
	else if (rec.op != SHMRING_SET_CTL_JOIN)
		p->why_bad = "unknown operation: the consumer drops it";
	else if (rec.len == 0 || rec.len > SHMRING_SET_NAME_BYTES ||
		 offsetof(struct shmring_set_ctl_rec, name) + rec.len > n)
		p->why_bad = "its name length does not fit the record: the consumer drops it";
	else {
		memcpy(p->name, rec.name, rec.len);
		p->name[rec.len] = '\0';
		p->valid = true;
	}
	return 0;
}

static void read_ring(struct dump_set *s, struct dump_set_ring *o, const char *name, int32_t set_pid)
{
	struct dump_ring *d = calloc(1, sizeof(*d));

	memset(o, 0, sizeof(*o));
	if (!d) {
		o->ret = -ENOMEM;
		snprintf(o->why, sizeof(o->why), "out of memory");
		return;
	}
	o->ret = dump_open(d, name, o->why, sizeof(o->why));
	if (o->ret == 0) {
		o->read = true;
		dump_snapshot(d);
		dump_check(d);
		ring_summary(o, d, set_pid);
		if (o == &s->ctl_ring && d->kind && d->kind->messages)
			d->kind->messages(d, false, DUMP_SET_PENDING_MAX, pending_one, s);
	}
	dump_close(d);
	free(d);
}

void dump_set_rings(struct dump_set *s)
{
	int32_t pid = s->hdr.consumer_pid;

	if (s->ctl[0])
		read_ring(s, &s->ctl_ring, s->ctl, pid);
	for (uint32_t i = 0; i < s->n; i++) {
		struct dump_set_member *m = &s->m[i];

		if (!m->name[0])
			continue;
		read_ring(s, &m->ring, m->name, pid);
		if (m->ring.read && m->ring.type != m->type)
			snprintf(m->ring.note, sizeof(m->ring.note),
				 "the ring now under this name is a %s ring, the member a %s ring: the name was reused",
				 dump_type_name(m->ring.type), dump_type_name(m->type));
		else if (m->ring.read && !m->ring.set_attached)
			snprintf(m->ring.note, sizeof(m->ring.note),
				 "the set's consumer (pid %d) is not attached to the ring now under this name: "
				 "the name was unlinked and reused",
				 (int)pid);
	}
}

uint32_t dump_set_check(const struct dump_set *s)
{
	uint32_t failed = 0;

	for (uint32_t i = 0; i < s->n; i++)
		if (s->m[i].ring.read && (s->m[i].ring.failed || s->m[i].ring.note[0]))
			failed++;
	if (s->ctl_ring.read && s->ctl_ring.failed)
		failed++;
	return failed;
}

void dump_set_close(struct dump_set *s)
{
	free(s->m);
	s->m = NULL;
	if (s->open)
		munmap((void *)(uintptr_t)s->t, s->map_size);
	s->open = false;
}

/* ---- writers ---- */

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !gmtime_r(&sec, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	size_t k = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);

	snprintf(buf + k, len - k, ".%03u UTC", (unsigned)(ns % 1000000000ull / 1000000u));
}

static void text_ends(FILE *f, const char *what, uint32_t alive, uint32_t dead, int32_t pid)
{
	if (!alive && !dead)
		fprintf(f, "no %s", what);
	else if (alive + dead == 1)
		fprintf(f, "%s pid %d %s", what, (int)pid, alive ? "alive" : "DEAD");
	else
		fprintf(f, "%u %ss (%u dead)", alive + dead, what, dead);
}

void dump_set_print_text(FILE *f, const struct dump_set *s)
{
	const struct dump_set_ring *c = &s->ctl_ring;
	char t1[64];

	fputs("set ", f);
	text_name(f, s->name);
	fputs(": membership table ", f);
	text_name(f, s->table);
	fputs(", control ring ", f);
	text_name(f, s->ctl);
	fmt_time(t1, sizeof(t1), s->hdr.create_time_ns);
	fprintf(f, "\n  consumer pid %d (uid %u, %s), created %s, sleeps on %s\n",
		(int)s->hdr.consumer_pid, s->hdr.consumer_uid,
		s->consumer_alive ? "alive" : "DEAD: a stale set", t1,
		s->doorbell ? "its doorbell" : "every member (futex_waitv)");
	fprintf(f, "  membership: %u member%s listed", s->count, s->count == 1 ? "" : "s");
	if (s->unlisted)
		fprintf(f, " and %u more not listed (table full)", s->unlisted);
	fprintf(f, " (generation %" PRIu64 ", %u entries)\n", s->gen, s->capacity);
	fprintf(f, "  counters: polls %" PRIu64 ", messages %" PRIu64 ", sleeps %" PRIu64
		   ", wakeups %" PRIu64 ", joins %" PRIu64 ", leaves %" PRIu64 "\n",
		s->polls, s->messages, s->sleeps, s->wakeups, s->joins, s->leaves);
	fputs("control ring: ", f);
	if (!c->read) {
		fprintf(f, "not readable: %s\n", c->why);
	} else {
		fprintf(f, "%" PRIu64 " announcement%s pending (%" PRIu64 " / %" PRIu64 " bytes), ",
			c->pending, c->pending == 1 ? "" : "s", c->fill, c->capacity);
		fprintf(f, "%u producer link%s (%u dead), ", c->prod_alive + c->prod_dead,
			c->prod_alive + c->prod_dead == 1 ? "" : "s", c->prod_dead);
		text_ends(f, "consumer", c->cons_alive, c->cons_dead, c->cons_pid);
		fprintf(f, ", %s\n", c->status);
		for (uint32_t i = 0; i < s->n_pend; i++) {
			const struct dump_set_pending *p = &s->pend[i];

			fprintf(f, "  pending at %" PRIu64 ": ", p->pos);
			if (p->valid) {
				fputs("join ", f);
				text_name(f, p->name);
				fprintf(f, ", tag %" PRIu64 "\n", p->tag);
			} else {
				fprintf(f, "%s\n", p->why_bad);
			}
		}
		if (c->pending > s->n_pend)
			fprintf(f, "  ... %" PRIu64 " more\n", c->pending - s->n_pend);
	}
	fprintf(f, "members:%s\n", s->n ? "" : " none");
	for (uint32_t i = 0; i < s->n; i++) {
		const struct dump_set_member *m = &s->m[i];
		const struct dump_set_ring *r = &m->ring;

		fprintf(f, "  member %u ", m->id);
		if (m->name[0])
			text_name(f, m->name);
		else
			fputs("(added by handle: no name)", f);
		fmt_time(t1, sizeof(t1), m->join_ns);
		fprintf(f, ": %s, tag %" PRIu64 ", %s, since %s\n", dump_type_name(m->type), m->tag,
			m->joined ? "joined through the control ring" : "added by the consumer", t1);
		fprintf(f, "    delivered %" PRIu64 " messages, %" PRIu64 " empty polls\n", m->messages,
			m->empty_polls);
		if (!m->name[0])
			continue;
		if (!r->read) {
			fprintf(f, "    ring: not readable by name: %s\n", r->why);
			continue;
		}
		fprintf(f, "    ring: fill %" PRIu64 " / %" PRIu64 " %s, ", r->fill, r->capacity, r->unit);
		text_ends(f, "producer", r->prod_alive, r->prod_dead, r->prod_pid);
		fputs(", ", f);
		text_ends(f, "consumer", r->cons_alive, r->cons_dead, r->cons_pid);
		fprintf(f, ", %s\n", r->status);
		fprintf(f, "    ring counters: written %" PRIu64 ", consumed %" PRIu64 " %s"
			   ", producer sleeps %" PRIu64 " wakes %" PRIu64 ", consumer sleeps %" PRIu64
			   " wakes %" PRIu64 "\n",
			r->written, r->consumed, r->unit, r->prod.sleeps, r->prod.wakes, r->cons.sleeps,
			r->cons.wakes);
		if (r->note[0])
			fprintf(f, "    FAILED member-ring: %s\n", r->note);
	}
}

static void json_ring(FILE *f, const struct dump_set_ring *r)
{
	if (!r->read) {
		fprintf(f, "{\"errno\": %d, \"error\": ", -r->ret);
		json_str(f, r->why);
		fputc('}', f);
		return;
	}
	fprintf(f,
		"{\"type\": \"%s\", \"fill\": %" PRIu64 ", \"capacity\": %" PRIu64 ", \"unit\": \"%s\""
		", \"pending_records\": %" PRIu64 ", \"written\": %" PRIu64 ", \"consumed\": %" PRIu64
		", \"producers\": %u, \"producers_dead\": %u, \"producer_pid\": %d"
		", \"consumers\": %u, \"consumers_dead\": %u, \"consumer_pid\": %d"
		", \"set_consumer_attached\": %s, \"consumer_sleepers\": %u"
		", \"ok\": %s, \"problems\": %u, \"status\": ",
		dump_type_name(r->type), r->fill, r->capacity, r->unit, r->pending, r->written,
		r->consumed, r->prod_alive, r->prod_dead, (int)r->prod_pid, r->cons_alive, r->cons_dead,
		(int)r->cons_pid, r->set_attached ? "true" : "false", r->cons_waiters,
		r->failed ? "false" : "true", r->problems);
	json_str(f, r->status);
	fputs(", \"note\": ", f);
	if (r->note[0])
		json_str(f, r->note);
	else
		fputs("null", f);
	fprintf(f,
		", \"counters\": {\"producer\": {\"sleeps\": %" PRIu64 ", \"wakes\": %" PRIu64
		", \"blocked\": %" PRIu64 "}, \"consumer\": {\"sleeps\": %" PRIu64 ", \"wakes\": %" PRIu64
		", \"blocked\": %" PRIu64 "}}}",
		r->prod.sleeps, r->prod.wakes, r->prod.blocked, r->cons.sleeps, r->cons.wakes,
		r->cons.blocked);
}

void dump_set_print_json(FILE *f, const struct dump_set *s)
{
	fputs("\"set\": ", f);
	json_str(f, s->name);
	fputs(", \"table\": ", f);
	json_str(f, s->table);
	fputs(", \"control\": ", f);
	json_str(f, s->ctl);
	fprintf(f,
		",\n \"consumer_pid\": %d, \"consumer_uid\": %u, \"consumer_alive\": %s"
		", \"create_time_ns\": %" PRIu64 ", \"flags\": %u, \"doorbell\": %s"
		", \"uid\": %u, \"mode\": \"%04o\"",
		(int)s->hdr.consumer_pid, s->hdr.consumer_uid, s->consumer_alive ? "true" : "false",
		s->hdr.create_time_ns, s->hdr.flags, s->doorbell ? "true" : "false",
		(unsigned)s->st.st_uid, (unsigned)(s->st.st_mode & 07777));
	fprintf(f,
		",\n \"generation\": %" PRIu64 ", \"capacity\": %u, \"count\": %u, \"unlisted\": %u",
		s->gen, s->capacity, s->count, s->unlisted);
	fprintf(f,
		",\n \"counters\": {\"polls\": %" PRIu64 ", \"messages\": %" PRIu64 ", \"sleeps\": %" PRIu64
		", \"wakeups\": %" PRIu64 ", \"joins\": %" PRIu64 ", \"leaves\": %" PRIu64 "}",
		s->polls, s->messages, s->sleeps, s->wakeups, s->joins, s->leaves);
	fputs(",\n \"control_ring\": ", f);
	json_ring(f, &s->ctl_ring);
	fputs(",\n \"pending\": [", f);
	for (uint32_t i = 0; i < s->n_pend; i++) {
		const struct dump_set_pending *p = &s->pend[i];

		fprintf(f, "%s{\"pos\": %" PRIu64 ", \"valid\": %s", i ? ", " : "", p->pos,
			p->valid ? "true" : "false");
		if (p->valid) {
			fputs(", \"op\": \"join\", \"name\": ", f);
			json_str(f, p->name);
			fprintf(f, ", \"tag\": %" PRIu64 "}", p->tag);
		} else {
			fputs(", \"problem\": ", f);
			json_str(f, p->why_bad);
			fputc('}', f);
		}
	}
	fputs("]", f);
	fputs(",\n \"members\": [", f);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct dump_set_member *m = &s->m[i];

		fprintf(f, "%s\n  {\"id\": %u, \"entry\": %u, \"name\": ", i ? "," : "", m->id, m->slot);
		if (m->name[0])
			json_str(f, m->name);
		else
			fputs("null", f);
		fprintf(f,
			", \"type\": \"%s\", \"tag\": %" PRIu64 ", \"joined\": %s, \"join_ns\": %" PRIu64
			", \"messages\": %" PRIu64 ", \"empty_polls\": %" PRIu64 ",\n   \"ring\": ",
			dump_type_name(m->type), m->tag, m->joined ? "true" : "false", m->join_ns,
			m->messages, m->empty_polls);
		if (m->name[0])
			json_ring(f, &m->ring);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("]", f);
}
