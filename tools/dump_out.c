/* SPDX-License-Identifier: MIT */
/* shmring-dump: the full report of one ring, as text and as JSON. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <string.h>
#include <time.h>

#include "dump.h"

/* JSON string with every byte a parser could choke on escaped; bytes
 * above 0x7f become \u00XX (the name is bytes, not necessarily UTF-8). */
void json_strn(FILE *f, const unsigned char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (c < 0x20 || c >= 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void json_str(FILE *f, const char *s)
{
	json_strn(f, (const unsigned char *)s, strlen(s));
}

/* A name as text: printable bytes as they are, the rest as \xNN. */
void text_name(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x21 && *p < 0x7f && *p != '\\')
			fputc(*p, f);
		else
			fprintf(f, "\\x%02x", *p);
	}
}

void hexdump(FILE *f, const unsigned char *p, size_t n, const char *indent)
{
	for (size_t off = 0; off < n; off += 16) {
		fprintf(f, "%s%04zx  ", indent, off);
		for (size_t i = 0; i < 16; i++) {
			if (off + i < n)
				fprintf(f, "%02x ", p[off + i]);
			else
				fputs("   ", f);
			if (i == 7)
				fputc(' ', f);
		}
		fputs(" |", f);
		for (size_t i = 0; i < 16 && off + i < n; i++)
			fputc(isprint(p[off + i]) ? p[off + i] : '.', f);
		fputs("|\n", f);
	}
}

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !gmtime_r(&s, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	size_t k = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);

	snprintf(buf + k, len - k, ".%03u UTC", (unsigned)(ns % 1000000000ull / 1000000u));
}

static const char *user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "%u", uid);
	return buf;
}

static void fmt_flags(char *buf, size_t len, uint32_t flags)
{
	snprintf(buf, len, "%s%s%s", flags & SHMRING_F_COUNTERS ? "counters" : "",
		 (flags & SHMRING_F_COUNTERS) && (flags & SHMRING_F_MEMFD) ? "," : "",
		 flags & SHMRING_F_MEMFD ? "memfd" : "");
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The placement request recorded in the header, in words. */
static void fmt_place(char *buf, size_t len, const struct shmring_hdr *h)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ SHMRING_PLACE_PREFERRED, "preferred" }, { SHMRING_PLACE_HUGE, "huge pages" },
		{ SHMRING_PLACE_PREFAULT, "prefault" },   { SHMRING_PLACE_MLOCK, "mlock" },
		{ SHMRING_PLACE_FALLBACK, "fallback allowed" },
		{ SHMRING_PLACE_FELL_BACK, "FELL BACK to default placement" },
	};
	uint32_t fl = h->place_flags;
	size_t k;

	if (fl & SHMRING_PLACE_NODE)
		k = (size_t)snprintf(buf, len, "node %d", (int)h->place_node);
	else if (fl & SHMRING_PLACE_NEAR)
		k = (size_t)snprintf(buf, len, "near CPUs 0x%llx%016llx%016llx%016llx (node %d)",
				     (unsigned long long)h->place_cpus[3], (unsigned long long)h->place_cpus[2],
				     (unsigned long long)h->place_cpus[1], (unsigned long long)h->place_cpus[0],
				     (int)h->place_node);
	else if (fl & SHMRING_PLACE_LOCAL)
		k = (size_t)snprintf(buf, len, "creator's node (%d)", (int)h->place_node);
	else
		k = (size_t)snprintf(buf, len, "nothing (kernel default)");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && k < len; i++)
		if (fl & names[i].bit)
			k += (size_t)snprintf(buf + k, len - k, ", %s", names[i].name);
}

void dump_print_text(FILE *f, const struct dump_ring *d)
{
	const struct shmring_hdr *h = &d->hdr;
	const struct dump_side *P = &d->prod, *C = &d->cons;
	char t1[64], t2[256], u[64];
	uint64_t cap = d->r.capacity;

	fputs("ring ", f);
	text_name(f, d->name);
	if (dump_slot_type(d->type))
		fprintf(f, ": %s, %" PRIu64 " slots x %u B (stride %u B), %" PRIu64 " bytes\n",
			dump_type_name(d->type), cap, d->r.slot_size, d->r.stride,
			(uint64_t)d->r.map_size);
	else
		fprintf(f, ": %s, %" PRIu64 " bytes of records, largest message %u B, %" PRIu64 " bytes\n",
			dump_type_name(d->type), cap, d->r.slot_size, (uint64_t)d->r.map_size);
	fmt_time(t1, sizeof(t1), h->create_time_ns);
	fmt_flags(t2, sizeof(t2), h->flags);
	fprintf(f, "  abi %u, flags %s, owner %s, mode %04o (header asks %04o)\n", h->abi_version, t2,
		user_name((uint32_t)d->st.st_uid, u, sizeof(u)), (unsigned)(d->st.st_mode & 07777),
		h->mode);
	fprintf(f, "  created %s by pid %d (uid %u, %s)\n", t1, (int)h->creator_pid, h->creator_uid,
		d->creator_alive ? "alive" : "dead");
	fmt_place(t2, sizeof(t2), h);
	fprintf(f, "  placement: requested %s; actual: ", t2);
	if (d->place_ret == 0 && d->place.node >= 0)
		fprintf(f, "node %d (%" PRIu64 " of %" PRIu64 " sampled pages located there, %u node%s)\n",
			(int)d->place.node, d->place.on_node, d->place.sampled, d->place.node_count,
			d->place.node_count == 1 ? "" : "s");
	else if (d->place_ret == 0)
		fprintf(f, "unknown (no page located)\n");
	else if (d->place_ret == -ENOTSUP)
		fprintf(f, "unknown (library built without hwloc)\n");
	else if (d->place_ret == 1)
		fprintf(f, "not queried\n");
	else
		fprintf(f, "unknown (%s)\n", shmring_strerror(d->place_ret));
	fprintf(f, "  layout: control @%" PRIu64 ", endpoints @%" PRIu64 " x %u, data @%" PRIu64
		   " + %" PRIu64 " B, page %" PRIu64 " B, first position %" PRIu64 "\n",
		h->ctrl_off, h->ep_off, d->r.ep_count, h->data_off, h->data_size, h->page_size,
		h->init_pos);

	fprintf(f, "positions%s:\n", d->stable ? "" : d->consistent ? " (ring moving)" : " (ring moving; tail unstable)");
	fprintf(f, "  producer  head %-20" PRIu64 " cached tail %-20" PRIu64, d->head, P->cached);
	if (h->prod_mode == SHMRING_MODE_MULTI)
		fprintf(f, " claim %" PRIu64, P->claim);
	fprintf(f, "\n  consumer  tail %-20" PRIu64 " cached head %-20" PRIu64, d->tail, C->cached);
	if (h->cons_mode == SHMRING_MODE_MULTI)
		fprintf(f, " claim %" PRIu64, C->claim);
	fputc('\n', f);
	if (P->gone || C->gone)
		fprintf(f, "  dead and freed: %" PRIu64 " producers, %" PRIu64 " consumers\n", P->gone, C->gone);
	if (d->type == SHMRING_SPSC && d->avail_end != d->head)
		fprintf(f, "  readable up to %" PRIu64 " (published past the head)\n", d->avail_end);
	fprintf(f, "  fill %" PRIu64 " / %" PRIu64 " %s (%.1f%%), high-water %" PRIu64 "%s\n", d->fill,
		cap, d->kind ? d->kind->unit : "", cap ? 100.0 * (double)d->fill / (double)cap : 0.0,
		P->st.high_water, d->r.flags & SHMRING_F_COUNTERS ? "" : " (counters off)");
	if (d->kind && d->kind->print_text)
		d->kind->print_text(f, d);
	bool claims = d->type == SHMRING_MPMC || d->type == SHMRING_MSG_MPSC;

	fprintf(f, "  %s %" PRIu64 ", %s %" PRIu64 " %s since creation\n",
		claims ? "claimed by producers" : "written",
		(d->type == SHMRING_SPSC ? d->avail_end : d->head) - h->init_pos,
		claims ? "by consumers" : "consumed", d->tail - h->init_pos,
		d->kind ? d->kind->unit : "");
	fprintf(f, "sleepers:\n");
	fprintf(f, "  producers waiting for room  %u (futex word %u%s)\n", P->waiters, P->futex,
		P->light ? ", waker relies on membarrier" : "");
	fprintf(f, "  consumers waiting for data  %u (futex word %u%s)\n", C->waiters, C->futex,
		C->light ? ", waker relies on membarrier" : "");

	fprintf(f, "endpoints: %u registered (%u producer, %u consumer) of %u entries\n", d->n_eps,
		d->n_prod, d->n_cons, d->r.ep_count);
	if (d->n_eps) {
		fprintf(f, "  %-5s %-9s %-7s %-8s %-8s %-6s %-27s %-12s %s\n", "entry", "role", "state",
			"pid", "tid", "alive", "attached", "ops", "claim");
		for (uint32_t i = 0; i < d->n_eps; i++) {
			const struct dump_ep *e = &d->eps[i];
			char claim[64];

			fmt_time(t1, sizeof(t1), e->attach_ns);
			if (e->claim_pos == SHMRING_NO_CLAIM)
				snprintf(claim, sizeof(claim), "-");
			else if (d->type == SHMRING_BROADCAST) /* a reader's position (layout.h) */
				snprintf(claim, sizeof(claim), "reads at %" PRIu64, e->claim_pos);
			else if (e->claim_end - e->claim_pos <= cap)
				snprintf(claim, sizeof(claim), "%" PRIu64 "..%" PRIu64, e->claim_pos,
					 e->claim_end);
			else /* announced, CAS not yet won (mpmc.h) */
				snprintf(claim, sizeof(claim), "%" PRIu64 "+%" PRIu64 " announced", e->claim_pos,
					 e->claim_pos - e->claim_end);
			fprintf(f, "  %-5u %-9s %-7s %-8d %-8d %-6s %-27s %-12" PRIu64 " %s\n", e->index,
				dump_role_name(e->role), dump_state_name(e->state), (int)e->pid,
				(int)e->tid, e->alive ? "yes" : "NO", t1, e->ops, claim);
		}
	}
	fprintf(f, "counters%s:             producer             consumer\n",
		d->r.flags & SHMRING_F_COUNTERS ? "" : " (fast-path counters off)");
#define ROW(label, field) fprintf(f, "  %-22s %-20" PRIu64 " %" PRIu64 "\n", label, P->st.field, C->st.field)
	ROW("full/empty hits", blocked);
	ROW("sleeps", sleeps);
	ROW("wakes sent", wakes);
	ROW("wakes finding nobody", wakes_empty);
	ROW("futex calls", futex_calls);
	ROW("skipped by recovery", skipped);
	ROW("lost by recovery", lost);
	ROW("corruption seen", corrupt);
#undef ROW
	dump_bridge_print_text(f, d);
}

static void json_counters(FILE *f, const struct dump_counters *c)
{
	fprintf(f,
		"{\"blocked\": %" PRIu64 ", \"high_water\": %" PRIu64 ", \"sleeps\": %" PRIu64
		", \"wakes\": %" PRIu64 ", \"wakes_empty\": %" PRIu64 ", \"futex_calls\": %" PRIu64
		", \"skipped\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"corrupt\": %" PRIu64 "}",
		c->blocked, c->high_water, c->sleeps, c->wakes, c->wakes_empty, c->futex_calls, c->skipped,
		c->lost, c->corrupt);
}

/* The members of the ring's JSON object (no braces: the caller adds
 * its own members, such as messages, before closing it). */
void dump_print_json(FILE *f, const struct dump_ring *d)
{
	const struct shmring_hdr *h = &d->hdr;
	char u[64];

	fputs("\"name\": ", f);
	json_str(f, d->name);
	fprintf(f, ", \"type\": \"%s\", \"unit\": \"%s\"", dump_type_name(d->type),
		d->kind ? d->kind->unit : (dump_slot_type(d->type) ? "slots" : "bytes"));
	fprintf(f, ", \"capacity\": %" PRIu64 ", \"slot_size\": %u, \"slot_stride\": %u, \"size\": %" PRIu64,
		d->r.capacity, d->r.slot_size, d->r.stride, (uint64_t)d->r.map_size);
	fprintf(f, ", \"owner\": ");
	json_str(f, user_name((uint32_t)d->st.st_uid, u, sizeof(u)));
	fprintf(f, ", \"uid\": %u, \"mode\": \"%04o\"", (unsigned)d->st.st_uid,
		(unsigned)(d->st.st_mode & 07777));
	fprintf(f,
		",\n \"header\": {\"abi_version\": %u, \"kind\": %u, \"prod_mode\": %u, \"cons_mode\": %u"
		", \"flags\": %u, \"mode\": \"%04o\", \"ctrl_off\": %" PRIu64 ", \"ep_off\": %" PRIu64
		", \"ep_count\": %u, \"data_off\": %" PRIu64 ", \"data_size\": %" PRIu64
		", \"page_size\": %" PRIu64 ", \"init_pos\": %" PRIu64 ", \"creator_pid\": %d"
		", \"creator_uid\": %u, \"creator_alive\": %s, \"create_time_ns\": %" PRIu64
		", \"place_node\": %d, \"place_flags\": %u, \"place_cpus\": [%" PRIu64 ", %" PRIu64
		", %" PRIu64 ", %" PRIu64 "]}",
		h->abi_version, h->kind, h->prod_mode, h->cons_mode, h->flags, h->mode, h->ctrl_off,
		h->ep_off, h->ep_count, h->data_off, h->data_size, h->page_size, h->init_pos,
		(int)h->creator_pid, h->creator_uid, d->creator_alive ? "true" : "false",
		h->create_time_ns, (int)h->place_node, h->place_flags, h->place_cpus[0], h->place_cpus[1],
		h->place_cpus[2], h->place_cpus[3]);
	fputs(",\n \"placement\": ", f);
	if (d->place_ret == 0)
		fprintf(f,
			"{\"node\": %d, \"node_count\": %u, \"node_mask\": %" PRIu64 ", \"pages\": %" PRIu64
			", \"sampled\": %" PRIu64 ", \"located\": %" PRIu64 ", \"on_node\": %" PRIu64
			", \"os_page_size\": %" PRIu64 "}",
			(int)d->place.node, d->place.node_count, d->place.node_mask, d->place.pages,
			d->place.sampled, d->place.located, d->place.on_node, d->place.os_page_size);
	else if (d->place_ret == 1)
		fputs("null", f);
	else
		fprintf(f, "{\"error\": %d}", -d->place_ret);
	fprintf(f,
		",\n \"positions\": {\"head\": %" PRIu64 ", \"tail\": %" PRIu64
		", \"readable_end\": %" PRIu64 ", \"prod_claim\": %" PRIu64 ", \"cons_claim\": %" PRIu64
		", \"prod_cached\": %" PRIu64 ", \"cons_cached\": %" PRIu64 ", \"consistent\": %s"
		", \"stable\": %s}",
		d->head, d->tail, d->avail_end, d->prod.claim, d->cons.claim, d->prod.cached,
		d->cons.cached, d->consistent ? "true" : "false", d->stable ? "true" : "false");
	fprintf(f, ",\n \"fill\": %" PRIu64 ", \"high_water\": %" PRIu64, d->fill, d->prod.st.high_water);
	fprintf(f,
		",\n \"sleepers\": {\"producers\": %u, \"consumers\": %u, \"prod_futex\": %u"
		", \"cons_futex\": %u, \"prod_light\": %u, \"cons_light\": %u}",
		d->prod.waiters, d->cons.waiters, d->prod.futex, d->cons.futex, d->prod.light,
		d->cons.light);
	fprintf(f, ",\n \"gone\": {\"producers\": %" PRIu64 ", \"consumers\": %" PRIu64 "}",
		d->prod.gone, d->cons.gone);
	fputs(",\n \"endpoints\": [", f);
	for (uint32_t i = 0; i < d->n_eps; i++) {
		const struct dump_ep *e = &d->eps[i];

		fprintf(f,
			"%s\n  {\"entry\": %u, \"role\": \"%s\", \"state\": \"%s\", \"pid\": %d, \"tid\": %d"
			", \"alive\": %s, \"start_time\": %" PRIu64 ", \"attach_ns\": %" PRIu64
			", \"ops\": %" PRIu64 ", \"claim_pos\": ",
			i ? "," : "", e->index, dump_role_name(e->role), dump_state_name(e->state),
			(int)e->pid, (int)e->tid, e->alive ? "true" : "false", e->start_time,
			e->attach_ns, e->ops);
		if (e->claim_pos == SHMRING_NO_CLAIM)
			fputs("null, \"claim_end\": null}", f);
		else
			fprintf(f, "%" PRIu64 ", \"claim_end\": %" PRIu64 "}", e->claim_pos, e->claim_end);
	}
	fputs("]", f);
	if (d->kind && d->kind->print_json)
		d->kind->print_json(f, d);
	fputs(",\n \"counters\": {\"producer\": ", f);
	json_counters(f, &d->prod.st);
	fputs(", \"consumer\": ", f);
	json_counters(f, &d->cons.st);
	fputs("}", f);
	dump_bridge_print_json(f, d);
}
