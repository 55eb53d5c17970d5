/* SPDX-License-Identifier: MIT */
/*
 * The two ends of the bridge tests: a producer that puts numbered,
 * checksummed messages into a ring, and a consumer that takes them out of
 * another ring and checks each one: every number once, in order, with the
 * right contents.
 *
 *   bridge_peer produce RING TYPE COUNT [MAXLEN [CAPACITY [RATE [BIG]]]]
 *                                   BIG: then one message of BIG bytes
 *   bridge_peer consume RING TYPE COUNT [CAPACITY]
 *   bridge_peer stream URL STREAM   print "messages N last_seq S" of a stream
 *
 * TYPE: spsc or mpmc (64-byte slots), msg_spsc or msg_mpsc (the consumer:
 * spsc or msg_spsc). Each side creates its ring. The consumer exits 0 once
 * COUNT messages arrived, 1 on the first wrong one (it says which), and
 * prints a progress line to stderr every 2 s.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include <shmring/shmring.h>
#include <shmring/wait.h>

#define SLOT 64u

struct hdr {
	uint64_t seq;
	uint32_t len; /* whole message */
	uint32_t sum;
};

static uint32_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Length of message `seq` for a ring taking up to `max` bytes. */
static uint32_t msg_len(uint64_t seq, uint32_t max)
{
	uint32_t lo = sizeof(struct hdr);

	return max <= lo ? lo : lo + mix(seq * 7 + 1) % (max - lo + 1);
}

static uint32_t body_sum(const unsigned char *p, uint32_t n)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void fill(unsigned char *buf, uint64_t seq, uint32_t len)
{
	struct hdr h = { .seq = seq, .len = len };

	for (uint32_t i = sizeof(h); i < len; i++)
		buf[i] = (unsigned char)mix(seq + i);
	h.sum = body_sum(buf + sizeof(h), len - (uint32_t)sizeof(h));
	memcpy(buf, &h, sizeof(h));
}

static uint32_t type_of(const char *s)
{
	if (!strcmp(s, "spsc"))
		return SHMRING_SPSC;
	if (!strcmp(s, "mpmc"))
		return SHMRING_MPMC;
	if (!strcmp(s, "msg_mpsc"))
		return SHMRING_MSG_MPSC;
	return SHMRING_MSG_SPSC;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int create(struct shmring *r, const char *name, uint32_t type, uint64_t cap, uint32_t max, uint32_t role)
{
	struct shmring_params p;
	int ret;

	shmring_params_init(&p, type, cap, type == SHMRING_SPSC || type == SHMRING_MPMC ? SLOT : max);
	ret = shmring_create(r, name, &p, role);
	if (ret < 0)
		fprintf(stderr, "bridge_peer: create %s: %s (%s)\n", name, shmring_strerror(ret), shmring_errdetail());
	return ret;
}

static int produce(const char *name, uint32_t type, uint64_t count, uint32_t max, uint64_t cap, double rate,
		   uint32_t big)
{
	double t0 = now_s();

	struct shmring r;
	unsigned char *buf = calloc(1, max > SLOT ? (max > big ? max : big) : SLOT);
	int ret = create(&r, name, type, cap, big > max ? big : max, SHMRING_PRODUCER);

	if (ret < 0 || !buf)
		return 1;
	if (type == SHMRING_MPMC) {
		/* The producer's waits do not run the ring's recovery: a
		 * bridge killed while it holds a claim leaves the claim to the
		 * bridge that follows it (docs/bridge.md). */
		struct shmring_wait_policy wp;

		shmring_wait_policy_get(&r, &wp);
		wp.flags |= SHMRING_WAIT_F_NO_RECOVER;
		shmring_wait_policy_set(&r, &wp);
	}
	for (uint64_t s = 0; s < count; s++) {
		uint32_t len;

		if (type == SHMRING_SPSC || type == SHMRING_MPMC) {
			len = SLOT;
			memset(buf, 0, SLOT);
		} else {
			len = msg_len(s, max);
		}
		fill(buf, s, len);
		/* At most `rate` messages a second (0: as fast as it goes), so
		 * that a fault test's flow lasts long enough for its faults. */
		if (rate > 0 && s % 64 == 0) {
			double ahead = (double)s / rate - (now_s() - t0);

			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
		do {
			if (type == SHMRING_SPSC)
				ret = shmring_spsc_push_wait(&r, buf, NULL);
			else if (type == SHMRING_MPMC)
				ret = shmring_mpmc_push_wait(&r, buf, NULL);
			else
				ret = shmring_msg_push_wait(&r, buf, len, NULL);
			if (ret == -EPIPE)
				usleep(10000); /* no consumer (a bridge restarting) */
		} while (ret == -EPIPE || ret == -EINTR);
		if (ret < 0) {
			fprintf(stderr, "bridge_peer: push %" PRIu64 ": %s\n", s, shmring_strerror(ret));
			return 1;
		}
	}
	if (big) {
		fill(buf, count, big);
		ret = shmring_msg_push_wait(&r, buf, big, NULL);
		if (ret < 0) {
			fprintf(stderr, "bridge_peer: push of %u bytes: %s\n", big, shmring_strerror(ret));
			return 1;
		}
	}
	/* Stay attached until the ring is drained, so the ring (and its
	 * name) outlives the run; the harness ends us. */
	fprintf(stderr, "bridge_peer: produced %" PRIu64 "\n", count);
	for (;;)
		pause();
	return 0;
}

static int consume(const char *name, uint32_t type, uint64_t count, uint64_t cap)
{
	struct shmring r;
	unsigned char *buf = malloc(1u << 20);
	uint64_t want = 0;
	double last = now_s();
	int ret = create(&r, name, type, cap, cap / 4 < (1u << 20) ? (uint32_t)(cap / 4) : (1u << 20),
			 SHMRING_CONSUMER);

	if (ret < 0 || !buf)
		return 1;
	while (want < count) {
		struct timespec dl;
		struct hdr h;
		int n;

		shmring_deadline_after(&dl, 500000000ull);
		if (type == SHMRING_SPSC) {
			ret = shmring_spsc_pop_wait(&r, buf, &dl);
			n = ret == 0 ? (int)SLOT : ret;
		} else {
			n = shmring_msg_pop_wait(&r, buf, 1u << 20, &dl);
		}
		if (n == -ETIMEDOUT || n == -EPIPE || n == -EINTR || n == -EAGAIN) {
			if (now_s() - last > 2) {
				fprintf(stderr, "bridge_peer: consumer at %" PRIu64 " of %" PRIu64 "\n", want, count);
				last = now_s();
			}
			if (n == -EPIPE)
				usleep(10000);
			continue;
		}
		if (n < 0) {
			fprintf(stderr, "bridge_peer: pop: %s\n", shmring_strerror(n));
			return 1;
		}
		if ((size_t)n < sizeof(h)) {
			fprintf(stderr, "bridge_peer: FAIL: message of %d bytes after %" PRIu64 "\n", n, want);
			return 1;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.seq != want) {
			fprintf(stderr, "bridge_peer: FAIL: message %" PRIu64 " where %" PRIu64 " was due (%s)\n",
				h.seq, want, h.seq < want ? "duplicate or out of order" : "lost or out of order");
			return 1;
		}
		if (h.len > (uint32_t)n || (type != SHMRING_SPSC && h.len != (uint32_t)n) ||
		    h.sum != body_sum(buf + sizeof(h), h.len - (uint32_t)sizeof(h))) {
			fprintf(stderr, "bridge_peer: FAIL: message %" PRIu64 ": wrong length or checksum\n", want);
			return 1;
		}
		want++;
		if (now_s() - last > 2) {
			fprintf(stderr, "bridge_peer: consumer at %" PRIu64 " of %" PRIu64 "\n", want, count);
			last = now_s();
		}
	}
	printf("consumed %" PRIu64 " messages: none lost, none duplicated, in order\n", want);
	shmring_close(&r);
	free(buf);
	return 0;
}

static int stream_info(const char *url, const char *stream)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = natsConnection_ConnectTo(&nc, url);

	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	for (int i = 0; s == NATS_OK && i < 50; i++) {
		s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
		if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS)
			break;
		s = NATS_OK;
		usleep(200000);
	}
	if (s != NATS_OK || !si) {
		fprintf(stderr, "bridge_peer: stream %s: %s (%d)\n", stream, natsStatus_GetText(s), (int)jerr);
		return 1;
	}
	printf("messages %" PRIu64 " last_seq %" PRIu64 "\n", si->State.Msgs, si->State.LastSeq);
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "stream"))
		return stream_info(argv[2], argv[3]);
	if (argc >= 5 && !strcmp(argv[1], "produce"))
		return produce(argv[2], type_of(argv[3]), strtoull(argv[4], NULL, 0),
			       argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 0) : 200,
			       argc > 6 ? strtoull(argv[6], NULL, 0) : 1u << 16,
			       argc > 7 ? strtod(argv[7], NULL) : 0,
			       argc > 8 ? (uint32_t)strtoul(argv[8], NULL, 0) : 0);
	if (argc >= 5 && !strcmp(argv[1], "consume"))
		return consume(argv[2], type_of(argv[3]), strtoull(argv[4], NULL, 0),
			       argc > 5 ? strtoull(argv[5], NULL, 0) : 1u << 16);
	fprintf(stderr, "usage: bridge_peer produce|consume RING TYPE COUNT [...] | stream URL STREAM\n");
	return 2;
}
