/* SPDX-License-Identifier: MIT */
/*
 * The bridge's sidecar object ("<ring>.bridge", include/shmring/bridge.h)
 * next to a ring: read-only, like the rest of the dump. Nothing in it is
 * trusted: the size and magic are checked, the fields are copied with
 * atomic loads, and the strings are cut at their buffers' ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmring/bridge.h>

#include "dump.h"

void dump_bridge_read(struct dump_ring *d)
{
	char name[SHMRING_NAME_MAX + 16];
	struct stat st;
	void *p;
	int fd;

	d->has_bridge = false;
	if (d->name[0] != '/' || strlen(d->name) + sizeof(SHMRING_BRIDGE_SUFFIX) > sizeof(name))
		return;
	snprintf(name, sizeof(name), "%s%s", d->name, SHMRING_BRIDGE_SUFFIX);
	fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SHMRING_BRIDGE_SIZE) {
		close(fd);
		return;
	}
	p = mmap(NULL, SHMRING_BRIDGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	dump_copy(&d->bridge, p, sizeof(d->bridge));
	munmap(p, SHMRING_BRIDGE_SIZE);
	if (d->bridge.magic != SHMRING_BRIDGE_MAGIC || d->bridge.version != SHMRING_BRIDGE_VERSION)
		return;
	d->bridge.stream[sizeof(d->bridge.stream) - 1] = 0;
	d->bridge.subject[sizeof(d->bridge.subject) - 1] = 0;
	d->bridge.durable[sizeof(d->bridge.durable) - 1] = 0;
	d->bridge.error[sizeof(d->bridge.error) - 1] = 0;
	d->bridge_alive = d->bridge.owner_pid > 0 &&
			  shmring__pid_alive(d->bridge.owner_pid, d->bridge.owner_start);
	/* The positions belong to this ring only if the identity matches. */
	d->bridge_same_ring = d->bridge.ring_create_ns == d->hdr.create_time_ns &&
			      d->bridge.ring_creator == d->hdr.creator_pid;
	d->has_bridge = true;
}

static const char *status_name(uint32_t st, bool alive)
{
	if (!alive && st != SHMRING_BRIDGE_ST_FAILED)
		return "stopped";
	switch (st) {
	case SHMRING_BRIDGE_ST_CONNECTING:
		return "connecting";
	case SHMRING_BRIDGE_ST_RUNNING:
		return "running";
	case SHMRING_BRIDGE_ST_FAILED:
		return "failed";
	default:
		return "stopped";
	}
}

/* Ring positions the stream has not acknowledged yet (to-stream). */
static uint64_t to_stream_lag(const struct dump_ring *d)
{
	uint64_t end = d->bridge.acked_end;

	if (!d->bridge_same_ring || d->head - end > d->r.capacity)
		return 0;
	return d->head - end;
}

void dump_bridge_print_text(FILE *f, const struct dump_ring *d)
{
	const struct shmring_bridge_shared *b = &d->bridge;
	bool to = b->direction == SHMRING_BRIDGE_TO_STREAM;

	if (!d->has_bridge)
		return;
	fprintf(f, "bridge: %s stream ", to ? "ring ->" : "ring <-");
	text_name(f, b->stream);
	fputs(to ? ", subject " : ", durable ", f);
	text_name(f, to ? b->subject : b->durable);
	fprintf(f, "\n  %s, pid %d%s\n", status_name(b->status, d->bridge_alive), (int)b->owner_pid,
		b->owner_pid ? (d->bridge_alive ? " (alive)" : " (dead)") : "");
	if (to) {
		fprintf(f, "  acknowledged up to position %" PRIu64 "%s, pending acks %" PRIu64
			   ", lag %" PRIu64 " %s not acknowledged\n",
			b->acked_end, d->bridge_same_ring ? "" : " (of an earlier ring of this name)",
			d->bridge_alive ? b->pending : 0, to_stream_lag(d), d->kind ? d->kind->unit : "");
		fprintf(f, "  published %" PRIu64 ", acknowledged %" PRIu64 " (duplicates %" PRIu64
			   "), last stream sequence %" PRIu64 "\n",
			b->published, b->acked, b->duplicates, b->stream_seq);
		fprintf(f, "  resyncs %" PRIu64 ", reconnects %" PRIu64 ", refused %" PRIu64 "\n", b->resyncs,
			b->reconnects, b->refused);
		if (b->salvaged || b->lost)
			fprintf(f, "  from claims of killed bridges (MPMC): published again %" PRIu64
				   ", lost to the ring's recovery %" PRIu64 "\n", b->salvaged, b->lost);
	} else {
		fprintf(f, "  last stream sequence %" PRIu64 " committed to the ring, lag %" PRIu64
			   " messages in the stream%s, pending %" PRIu64 "\n",
			b->last_seq, b->lag, d->bridge_alive ? "" : " (when it stopped)",
			d->bridge_alive ? b->pending : 0);
		if (b->intent_seq)
			fprintf(f, "  push of sequence %" PRIu64 " at position %" PRIu64 " under way\n",
				b->intent_seq, b->intent_pos);
		fprintf(f, "  committed %" PRIu64 ", redeliveries skipped %" PRIu64
			   ", consumer repositioned %" PRIu64 ", reconnects %" PRIu64 ", refused %" PRIu64 "\n",
			b->committed, b->skipped, b->consumer_resets, b->reconnects, b->refused);
	}
	if (b->status == SHMRING_BRIDGE_ST_FAILED && b->error[0]) {
		fputs("  error: ", f);
		text_name(f, b->error);
		fputc('\n', f);
	}
}

void dump_bridge_print_json(FILE *f, const struct dump_ring *d)
{
	const struct shmring_bridge_shared *b = &d->bridge;

	fputs(",\n \"bridge\": ", f);
	if (!d->has_bridge) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"direction\": \"%s\", \"status\": \"%s\", \"pid\": %d, \"alive\": %s, \"stream\": ",
		b->direction == SHMRING_BRIDGE_TO_STREAM ? "to-stream" : "from-stream",
		status_name(b->status, d->bridge_alive), (int)b->owner_pid, d->bridge_alive ? "true" : "false");
	json_str(f, b->stream);
	fputs(", \"subject\": ", f);
	json_str(f, b->subject);
	fputs(", \"durable\": ", f);
	json_str(f, b->durable);
	fprintf(f,
		", \"same_ring\": %s, \"acked_end\": %" PRIu64 ", \"pending\": %" PRIu64 ", \"lag\": %" PRIu64
		", \"published\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"duplicates\": %" PRIu64
		", \"resyncs\": %" PRIu64 ", \"reconnects\": %" PRIu64 ", \"stream_seq\": %" PRIu64
		", \"refused\": %" PRIu64 ", \"last_seq\": %" PRIu64 ", \"intent_seq\": %" PRIu64
		", \"committed\": %" PRIu64 ", \"skipped\": %" PRIu64 ", \"consumer_resets\": %" PRIu64
		", \"salvaged\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"error\": ",
		d->bridge_same_ring ? "true" : "false", b->acked_end, d->bridge_alive ? b->pending : 0,
		b->direction == SHMRING_BRIDGE_TO_STREAM ? to_stream_lag(d) : b->lag, b->published, b->acked,
		b->duplicates, b->resyncs, b->reconnects, b->stream_seq, b->refused, b->last_seq,
		b->intent_seq, b->committed, b->skipped, b->consumer_resets, b->salvaged, b->lost);
	json_str(f, b->status == SHMRING_BRIDGE_ST_FAILED ? b->error : "");
	fputc('}', f);
}
