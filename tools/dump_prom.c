/* SPDX-License-Identifier: MIT */
/*
 * shmring-dump --prom / --listen: rings and ring sets as metrics in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A scrape is collected first (shmring-dump.c: one observer open and one
 * shmring_stats() per ring, under the SIGBUS guard), then written here
 * family by family, because the format wants every sample of a metric
 * family in one group under its HELP and TYPE lines. Counters end in
 * _total. The writer reads only the collected copy, never a mapping.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

#define SIDE_PROD 0
#define SIDE_CONS 1

static const char *const side_name[2] = { "producer", "consumer" };

/* A label value: \, " and newline escaped as the format asks; bytes that
 * are not printable ASCII as the text \xNN (a name is bytes, a label
 * value must be UTF-8). */
static void label_value(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void ring_labels(FILE *f, const char *metric, const struct prom_ring *r)
{
	fprintf(f, "%s{ring=\"", metric);
	label_value(f, r->name);
	fprintf(f, "\",type=\"%s\"", dump_type_name(r->type));
}

static void sample_u64(FILE *f, uint64_t v)
{
	fprintf(f, "} %" PRIu64 "\n", v);
}

/* ---- ring metrics: one value per ring ---- */

typedef bool (*ring_get)(const struct prom_ring *r, uint64_t *v);

#define COUNTERS_ON(r) ((r)->st.valid & SHMRING_STATS_COUNTERS)

static bool g_capacity(const struct prom_ring *r, uint64_t *v) { *v = r->st.capacity; return true; }
static bool g_slot(const struct prom_ring *r, uint64_t *v) { *v = r->st.slot_size; return true; }
static bool g_size(const struct prom_ring *r, uint64_t *v) { *v = r->st.total_size; return true; }
static bool g_fill(const struct prom_ring *r, uint64_t *v) { *v = r->st.fill; return true; }
static bool g_written(const struct prom_ring *r, uint64_t *v) { *v = r->st.head - r->st.init_pos; return true; }
static bool g_consumed(const struct prom_ring *r, uint64_t *v) { *v = r->st.tail - r->st.init_pos; return true; }
static bool g_counters(const struct prom_ring *r, uint64_t *v) { *v = COUNTERS_ON(r) ? 1 : 0; return true; }
static bool g_eps(const struct prom_ring *r, uint64_t *v) { *v = r->st.ep_count; return true; }

static bool g_high_water(const struct prom_ring *r, uint64_t *v)
{
	*v = r->st.prod.high_water;
	return COUNTERS_ON(r);
}

static const struct {
	const char *name, *type, *help;
	ring_get get;
} ring_metrics[] = {
	{ "shmring_capacity", "gauge", "Capacity: slots, or bytes for message rings.", g_capacity },
	{ "shmring_slot_size_bytes", "gauge", "Payload bytes per slot; message rings: the largest message.", g_slot },
	{ "shmring_object_size_bytes", "gauge", "Bytes of the shared-memory object.", g_size },
	{ "shmring_endpoint_entries", "gauge", "Entries of the endpoint table.", g_eps },
	{ "shmring_fill", "gauge", "In use now: slots, or bytes for message rings.", g_fill },
	{ "shmring_high_water", "gauge", "Most slots (bytes) the producers saw in use (rings with SHMRING_F_COUNTERS).", g_high_water },
	{ "shmring_counters_enabled", "gauge", "1 if the ring keeps the fast-path counters (SHMRING_F_COUNTERS).", g_counters },
	{ "shmring_written_total", "counter", "Positions the producers published or claimed since creation: messages, or bytes for message rings.", g_written },
	{ "shmring_consumed_total", "counter", "Positions the consumers released or claimed since creation: messages, or bytes for message rings.", g_consumed },
};

/* ---- per-side metrics: label side="producer"|"consumer" ---- */

typedef bool (*side_get)(const struct prom_ring *r, const struct shmring_ring_side *s, int side,
			 uint64_t *v);

static bool s_live(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)r, (void)side;
	*v = s->live;
	return true;
}

static bool s_dead(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)r, (void)side;
	*v = s->dead;
	return true;
}

#define SIDE_FIELD(fn, field)                                                                      \
	static bool fn(const struct prom_ring *r, const struct shmring_ring_side *s, int side,    \
		       uint64_t *v)                                                                \
	{                                                                                          \
		(void)r, (void)side;                                                               \
		*v = s->field;                                                                     \
		return true;                                                                       \
	}
SIDE_FIELD(s_waiters, waiters)
SIDE_FIELD(s_gone, gone)
SIDE_FIELD(s_sleeps, sleeps)
SIDE_FIELD(s_wakes, wakes)
SIDE_FIELD(s_wakes_empty, wakes_empty)
SIDE_FIELD(s_futex, futex_calls)
SIDE_FIELD(s_skipped, skipped)
SIDE_FIELD(s_corrupt, corrupt)
#undef SIDE_FIELD

static bool s_blocked(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)side;
	*v = s->blocked;
	return COUNTERS_ON(r);
}

static bool s_lost(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)r;
	*v = s->lost;
	return side == SIDE_CONS;
}

static bool s_grants(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)side;
	*v = s->solo_grants;
	return r->type == SHMRING_MPMC;
}

static bool s_revokes(const struct prom_ring *r, const struct shmring_ring_side *s, int side, uint64_t *v)
{
	(void)side;
	*v = s->solo_revokes;
	return r->type == SHMRING_MPMC;
}

static const struct {
	const char *name, *type, *help;
	side_get get;
} side_metrics[] = {
	{ "shmring_endpoints_live", "gauge", "Attached endpoints of the side whose process is alive.", s_live },
	{ "shmring_endpoints_dead", "gauge", "Endpoint entries of the side still held by dead processes.", s_dead },
	{ "shmring_waiters", "gauge", "Endpoints of the side asleep in a blocking call now.", s_waiters },
	{ "shmring_gone_total", "counter", "Dead endpoints of the side freed while none of the side was alive.", s_gone },
	{ "shmring_blocked_total", "counter", "Try operations that found the ring full (producer) or empty (consumer); rings with SHMRING_F_COUNTERS.", s_blocked },
	{ "shmring_sleeps_total", "counter", "Futex waits entered.", s_sleeps },
	{ "shmring_wakes_total", "counter", "Futex wakes the side sent to the other.", s_wakes },
	{ "shmring_wakes_empty_total", "counter", "Wakes that found nobody asleep.", s_wakes_empty },
	{ "shmring_futex_calls_total", "counter", "Futex system calls of any kind.", s_futex },
	{ "shmring_skipped_total", "counter", "Slots or records given up by recovery.", s_skipped },
	{ "shmring_lost_total", "counter", "Messages a dead consumer held, given up by recovery.", s_lost },
	{ "shmring_corrupt_total", "counter", "Inconsistent peer state detected.", s_corrupt },
	{ "shmring_claim_mode_grants_total", "counter", "MPMC: claim mode granted or handed on.", s_grants },
	{ "shmring_claim_mode_revokes_total", "counter", "MPMC: claim mode taken back.", s_revokes },
};

/* ---- ring sets ---- */

typedef uint64_t (*set_get)(const struct prom_set *s);

static uint64_t t_members(const struct prom_set *s) { return s->members; }
static uint64_t t_unlisted(const struct prom_set *s) { return s->unlisted; }
static uint64_t t_alive(const struct prom_set *s) { return s->consumer_alive; }
static uint64_t t_polls(const struct prom_set *s) { return s->polls; }
static uint64_t t_messages(const struct prom_set *s) { return s->messages; }
static uint64_t t_sleeps(const struct prom_set *s) { return s->sleeps; }
static uint64_t t_wakeups(const struct prom_set *s) { return s->wakeups; }
static uint64_t t_joins(const struct prom_set *s) { return s->joins; }
static uint64_t t_leaves(const struct prom_set *s) { return s->leaves; }

static const struct {
	const char *name, *type, *help;
	set_get get;
} set_metrics[] = {
	{ "shmring_set_members", "gauge", "Member rings listed in the set's table.", t_members },
	{ "shmring_set_unlisted", "gauge", "Members without a table entry (table full).", t_unlisted },
	{ "shmring_set_consumer_alive", "gauge", "1 if the set's consumer process is alive.", t_alive },
	{ "shmring_set_polls_total", "counter", "shmring_set_poll calls.", t_polls },
	{ "shmring_set_messages_total", "counter", "Messages the set delivered.", t_messages },
	{ "shmring_set_sleeps_total", "counter", "Futex waits entered by shmring_set_wait.", t_sleeps },
	{ "shmring_set_wakeups_total", "counter", "Set sleeps that ended before their deadline.", t_wakeups },
	{ "shmring_set_joins_total", "counter", "Members added.", t_joins },
	{ "shmring_set_leaves_total", "counter", "Members removed.", t_leaves },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void write_rings(FILE *f, const struct prom_scrape *sc)
{
	uint64_t v;

	family(f, "shmring_readable", "gauge",
	       "1 if the ring could be read; 0 if not (not ready, invalid, not permitted).");
	for (size_t i = 0; i < sc->n_rings; i++) {
		const struct prom_ring *r = &sc->rings[i];

		ring_labels(f, "shmring_readable", r);
		fprintf(f, ",errno=\"%d\"", r->err < 0 ? -r->err : 0);
		sample_u64(f, r->err == 0);
	}
	for (size_t m = 0; m < N(ring_metrics); m++) {
		bool head = false;

		for (size_t i = 0; i < sc->n_rings; i++) {
			const struct prom_ring *r = &sc->rings[i];

			if (r->err || !ring_metrics[m].get(r, &v))
				continue;
			if (!head)
				family(f, ring_metrics[m].name, ring_metrics[m].type, ring_metrics[m].help);
			head = true;
			ring_labels(f, ring_metrics[m].name, r);
			sample_u64(f, v);
		}
	}
	/* The ratio is the one non-integer sample. */
	bool head = false;

	for (size_t i = 0; i < sc->n_rings; i++) {
		const struct prom_ring *r = &sc->rings[i];

		if (r->err || !r->st.capacity)
			continue;
		if (!head)
			family(f, "shmring_fill_ratio", "gauge", "fill / capacity, 0 to 1.");
		head = true;
		ring_labels(f, "shmring_fill_ratio", r);
		fprintf(f, "} %.6g\n", (double)r->st.fill / (double)r->st.capacity);
	}
	for (size_t m = 0; m < N(side_metrics); m++) {
		head = false;
		for (size_t i = 0; i < sc->n_rings; i++) {
			const struct prom_ring *r = &sc->rings[i];

			if (r->err)
				continue;
			for (int s = SIDE_PROD; s <= SIDE_CONS; s++) {
				if (!side_metrics[m].get(r, s == SIDE_PROD ? &r->st.prod : &r->st.cons, s, &v))
					continue;
				if (!head)
					family(f, side_metrics[m].name, side_metrics[m].type, side_metrics[m].help);
				head = true;
				ring_labels(f, side_metrics[m].name, r);
				fprintf(f, ",side=\"%s\"", side_name[s]);
				sample_u64(f, v);
			}
		}
	}
}

static void ep_labels(FILE *f, const char *metric, const struct prom_ring *r,
		      const struct shmring_ep_stats *e)
{
	ring_labels(f, metric, r);
	fprintf(f, ",entry=\"%u\",role=\"%s\",pid=\"%d\"", e->index, dump_role_name(e->role),
		(int)e->pid);
}

static void write_endpoints(FILE *f, const struct prom_scrape *sc)
{
	bool head = false;

	for (size_t i = 0; i < sc->n_rings; i++) {
		const struct prom_ring *r = &sc->rings[i];

		for (uint32_t k = 0; k < r->n_eps; k++) {
			if (!head)
				family(f, "shmring_endpoint_alive", "gauge",
				       "1 if the process of the endpoint entry is alive.");
			head = true;
			ep_labels(f, "shmring_endpoint_alive", r, &r->eps[k]);
			sample_u64(f, r->eps[k].alive);
		}
	}
	head = false;
	for (size_t i = 0; i < sc->n_rings; i++) {
		const struct prom_ring *r = &sc->rings[i];

		for (uint32_t k = 0; k < r->n_eps && r->type == SHMRING_MPMC && COUNTERS_ON(r); k++) {
			if (!head)
				family(f, "shmring_endpoint_ops_total", "counter",
				       "MPMC: operations the endpoint completed (rings with SHMRING_F_COUNTERS).");
			head = true;
			ep_labels(f, "shmring_endpoint_ops_total", r, &r->eps[k]);
			sample_u64(f, r->eps[k].ops);
		}
	}
}

static void set_labels(FILE *f, const char *metric, const struct prom_set *s)
{
	fprintf(f, "%s{set=\"", metric);
	label_value(f, s->name);
	fputc('"', f);
}

static void write_sets(FILE *f, const struct prom_scrape *sc)
{
	if (!sc->n_sets)
		return;
	family(f, "shmring_set_readable", "gauge", "1 if the set's membership table could be read.");
	for (size_t i = 0; i < sc->n_sets; i++) {
		set_labels(f, "shmring_set_readable", &sc->sets[i]);
		sample_u64(f, sc->sets[i].err == 0);
	}
	for (size_t m = 0; m < N(set_metrics); m++) {
		bool head = false;

		for (size_t i = 0; i < sc->n_sets; i++) {
			if (sc->sets[i].err)
				continue;
			if (!head)
				family(f, set_metrics[m].name, set_metrics[m].type, set_metrics[m].help);
			head = true;
			set_labels(f, set_metrics[m].name, &sc->sets[i]);
			sample_u64(f, set_metrics[m].get(&sc->sets[i]));
		}
	}
}

void prom_write(FILE *f, const struct prom_scrape *sc)
{
	write_rings(f, sc);
	write_endpoints(f, sc);
	write_sets(f, sc);
}

struct prom_ring *prom_add_ring(struct prom_scrape *sc)
{
	if (sc->n_rings == sc->cap_rings) {
		size_t cap = sc->cap_rings ? sc->cap_rings * 2 : 16;
		struct prom_ring *n = realloc(sc->rings, cap * sizeof(*n));

		if (!n)
			return NULL;
		sc->rings = n;
		sc->cap_rings = cap;
	}
	struct prom_ring *r = &sc->rings[sc->n_rings++];

	memset(r, 0, sizeof(*r));
	return r;
}

struct prom_set *prom_add_set(struct prom_scrape *sc)
{
	if (sc->n_sets == sc->cap_sets) {
		size_t cap = sc->cap_sets ? sc->cap_sets * 2 : 4;
		struct prom_set *n = realloc(sc->sets, cap * sizeof(*n));

		if (!n)
			return NULL;
		sc->sets = n;
		sc->cap_sets = cap;
	}
	struct prom_set *s = &sc->sets[sc->n_sets++];

	memset(s, 0, sizeof(*s));
	return s;
}

void prom_free(struct prom_scrape *sc)
{
	for (size_t i = 0; i < sc->n_rings; i++)
		free(sc->rings[i].eps);
	free(sc->rings);
	free(sc->sets);
	memset(sc, 0, sizeof(*sc));
}
