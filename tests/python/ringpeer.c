/* SPDX-License-Identifier: MIT */
/*
 * ringpeer: the C side of the Python binding's tests (tests/python). It
 * produces or consumes checked messages on a ring, or on a ring set, with
 * the same command line and message format as pypeer.py, its Python
 * twin, so that a test can put either language on either side.
 *
 *   ringpeer produce NAME --kind K --count N [--producer P] [--resume] [--retry-epipe]
 *   ringpeer consume NAME --kind K [--count N --nprod P | --until-stop] [--retry-epipe]
 *   ringpeer setproduce SET RING --kind K --count N --producer P
 *   ringpeer setconsume SET --count N --nprod P
 *
 * Kinds: spsc, mpmc, msg_spsc, msg_mpsc. A message (little-endian) is a
 * 24-byte header {magic, producer, seq, len, crc} and `len` payload bytes:
 * byte j is ((seq * 31 + producer * 7 + j) * 7 + 3) & 0xff, crc their
 * CRC-32 (zlib's). Producer P sends seq 0 .. N-1 (--resume: from the
 * ring's position, for a producer that takes a killed one's place). A
 * consumer checks every message: magic, producer, length, payload, crc,
 * and the order (each producer's seq the next one; --until-stop: higher
 * than the last). It stops after N messages of each of P producers, or
 * at a stop message (magic STOP), and prints one JSON line: the count,
 * the bad messages, and per producer the count, the sum and the sum of
 * squares of the seqs (mod 2^64), so that the test can tell that every
 * message arrived exactly once across several consumers.
 *
 * Every wait has a deadline (STALL_S): a stalled stream fails the run
 * instead of hanging it. Exit status: 0 all good, 1 a bad message or a
 * count short, 2 an error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <shmring/wait.h>
#ifdef RINGPEER_SETS
#include <shmring/set.h>
#endif

#define MAGIC 0x4d525950u /* "PYRM" */
#define STOP 0x504f5453u  /* "STOP" */
#define HDR 24u
#define MSG_PAYLOAD_MAX 300u /* message rings: longest payload sent */
#define MAXP 64u
#define STALL_S 60

struct hdr {
	uint32_t magic;
	uint32_t producer;
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
};

_Static_assert(sizeof(struct hdr) == HDR, "header is 24 bytes");

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static unsigned char pat_byte(uint64_t seq, uint32_t producer, uint32_t j)
{
	uint64_t off = (seq * 31u + producer * 7u) % 256u;

	return (unsigned char)(((off + j) * 7u + 3u) & 0xffu);
}

/* Payload length of message seq: slot rings fill up to the slot, message
 * rings vary up to MSG_PAYLOAD_MAX (or the ring's largest message). */
static uint32_t msg_len(uint64_t seq, uint32_t room, int msg)
{
	if (msg)
		return (uint32_t)((seq * 7919u) % (uint64_t)(room + 1));
	return (uint32_t)(seq % (uint64_t)(room + 1));
}

/* Write message (producer, seq) of `len` payload bytes into buf. */
static size_t msg_fill(unsigned char *buf, uint32_t producer, uint64_t seq, uint32_t len)
{
	struct hdr h = { MAGIC, producer, seq, len, 0 };

	for (uint32_t j = 0; j < len; j++)
		buf[HDR + j] = pat_byte(seq, producer, j);
	h.crc = crc32_of(buf + HDR, len);
	memcpy(buf, &h, sizeof(h));
	return HDR + len;
}

struct opts {
	const char *name;
	const char *ring; /* setproduce */
	uint32_t type;
	uint64_t count;
	uint32_t producer;
	uint32_t nprod;
	int resume;
	int retry_epipe;
	int until_stop;
};

struct tally {
	uint64_t count, bad;
	uint64_t next[MAXP];
	uint64_t n[MAXP], sum[MAXP], sumsq[MAXP];
	int seen[MAXP];
};

static void die(const char *what, int ret)
{
	fprintf(stderr, "ringpeer: %s: %s (%s)\n", what, shmring_strerror(ret), shmring_errdetail());
	exit(2);
}

static uint32_t parse_kind(const char *s)
{
	if (!strcmp(s, "spsc"))
		return SHMRING_SPSC;
	if (!strcmp(s, "mpmc"))
		return SHMRING_MPMC;
	if (!strcmp(s, "msg_spsc"))
		return SHMRING_MSG_SPSC;
	if (!strcmp(s, "msg_mpsc"))
		return SHMRING_MSG_MPSC;
	fprintf(stderr, "ringpeer: unknown kind %s\n", s);
	exit(2);
}

static int is_msg(uint32_t type)
{
	return type == SHMRING_MSG_SPSC || type == SHMRING_MSG_MPSC;
}

static const struct timespec *stall_deadline(struct timespec *ts)
{
	shmring_deadline_after(ts, (uint64_t)STALL_S * 1000000000ull);
	return ts;
}

/* An -EPIPE while the other side is being restarted: wait for it. */
static int again(const struct opts *o, int ret, const char *what)
{
	if (ret == -EPIPE && o->retry_epipe) {
		usleep(1000);
		return 1;
	}
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "ringpeer: %s: no progress for %d s\n", what, STALL_S);
		exit(2);
	}
	if (ret < 0)
		die(what, ret);
	return 0;
}

/* ---- producer ---- */

/* Push one message, waiting; slot rings zero-fill the rest of the slot. */
static void push_one(const struct opts *o, struct shmring *r, unsigned char *buf, size_t n)
{
	struct timespec ts;
	int ret;

	if (!is_msg(o->type))
		memset(buf + n, 0, r->slot_size - n);
	do {
		if (o->type == SHMRING_SPSC)
			ret = shmring_spsc_push_wait(r, buf, stall_deadline(&ts));
		else if (o->type == SHMRING_MPMC)
			ret = shmring_mpmc_push_wait(r, buf, stall_deadline(&ts));
		else
			ret = shmring_msg_push_wait(r, buf, (uint32_t)n, stall_deadline(&ts));
	} while (again(o, ret, "push"));
}

/* Zero copy: a message ring's record written in place. */
static void push_zc(const struct opts *o, struct shmring *r, uint64_t seq, uint32_t len)
{
	struct timespec ts;
	void *p;
	int ret;

	do
		ret = shmring_msg_reserve_wait(r, HDR + len, &p, stall_deadline(&ts));
	while (again(o, ret, "reserve"));
	msg_fill(p, o->producer, seq, len);
	if ((ret = shmring_msg_commit(r)) < 0)
		die("commit", ret);
	shmring_msg_wake(r);
}

/* A slot ring burst of up to 16 messages from seq on; the count pushed. */
static uint64_t push_burst(const struct opts *o, struct shmring *r, unsigned char *bbuf, uint64_t seq,
			   uint64_t end, uint32_t room)
{
	uint64_t n = end - seq < 16 ? end - seq : 16;
	struct timespec ts;
	int64_t k;

	memset(bbuf, 0, (size_t)n * r->slot_size);
	for (uint64_t i = 0; i < n; i++)
		msg_fill(bbuf + i * r->slot_size, o->producer, seq + i, msg_len(seq + i, room, 0));
	do {
		k = o->type == SHMRING_SPSC ? shmring_spsc_push_burst_wait(r, bbuf, n, stall_deadline(&ts))
					    : shmring_mpmc_push_burst_wait(r, bbuf, n, stall_deadline(&ts));
	} while (again(o, (int)(k < 0 ? k : 0), "push_burst"));
	return (uint64_t)k;
}

static int produce(const struct opts *o)
{
	struct shmring r;
	struct shmring_open_opts oo = { .type = o->type };
	int ret = shmring_open(&r, o->name, SHMRING_PRODUCER, &oo);

	if (ret < 0)
		die("open", ret);
	int msg = is_msg(o->type);
	uint32_t room = msg ? (r.slot_size - HDR < MSG_PAYLOAD_MAX ? r.slot_size - HDR : MSG_PAYLOAD_MAX)
			    : r.slot_size - HDR;
	unsigned char *buf = malloc(r.slot_size + 16);
	unsigned char *bbuf = malloc((size_t)16 * r.slot_size);
	uint64_t seq = o->resume ? r.pos : 0;

	if (!buf || !bbuf)
		die("malloc", -ENOMEM);
	while (seq < o->count) {
		/* blocks of 64: single copies, then bursts or zero copy */
		if ((seq / 64) % 2 == 0 || o->resume) {
			push_one(o, &r, buf, msg_fill(buf, o->producer, seq, msg_len(seq, room, msg)));
			seq++;
		} else if (msg) {
			push_zc(o, &r, seq, msg_len(seq, room, msg));
			seq++;
		} else {
			seq += push_burst(o, &r, bbuf, seq, o->count, room);
		}
	}
	free(buf);
	free(bbuf);
	if ((ret = shmring_close(&r)) < 0)
		die("close", ret);
	return 0;
}

/* ---- consumer ---- */

/* Check one message; 1 if it is a stop message. */
static int take(const struct opts *o, struct tally *t, const unsigned char *p, size_t n)
{
	struct hdr h;
	int bad = 0;

	if (n < HDR) {
		t->bad++;
		return 0;
	}
	memcpy(&h, p, sizeof(h));
	if (h.magic == STOP)
		return 1;
	if (h.magic != MAGIC || h.producer >= MAXP || HDR + (size_t)h.len > n ||
	    crc32_of(p + HDR, h.len) != h.crc) {
		t->bad++;
		return 0;
	}
	for (uint32_t j = 0; j < h.len && !bad; j++)
		bad = p[HDR + j] != pat_byte(h.seq, h.producer, j);
	if (is_msg(o->type) && n != HDR + (size_t)h.len)
		bad = 1;
	if (o->until_stop ? (t->seen[h.producer] && h.seq <= t->next[h.producer] - 1)
			  : h.seq != t->next[h.producer])
		bad = 1;
	if (bad) {
		if (t->bad < 5)
			fprintf(stderr, "ringpeer: bad message: producer %u seq %" PRIu64 " len %u (expected seq %" PRIu64 ")\n",
				h.producer, h.seq, h.len, t->next[h.producer]);
		t->bad++;
		return 0;
	}
	t->seen[h.producer] = 1;
	t->next[h.producer] = h.seq + 1;
	t->n[h.producer]++;
	t->sum[h.producer] += h.seq;
	t->sumsq[h.producer] += h.seq * h.seq;
	t->count++;
	return 0;
}

static void report(const struct tally *t)
{
	int first = 1;

	printf("{\"count\": %" PRIu64 ", \"bad\": %" PRIu64 ", \"producers\": {", t->count, t->bad);
	for (uint32_t p = 0; p < MAXP; p++) {
		if (!t->n[p])
			continue;
		printf("%s\"%u\": [%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", p, t->n[p],
		       t->sum[p], t->sumsq[p]);
		first = 0;
	}
	printf("}}\n");
	fflush(stdout);
}

static int done(const struct opts *o, const struct tally *t)
{
	return !o->until_stop && t->count + t->bad >= o->count * o->nprod;
}

static int consume(const struct opts *o)
{
	struct shmring r;
	struct shmring_open_opts oo = { .type = o->type };
	struct tally *t = calloc(1, sizeof(*t));
	struct timespec ts;
	int ret = shmring_open(&r, o->name, SHMRING_CONSUMER, &oo);
	int stop = 0;

	if (ret < 0)
		die("open", ret);
	if (!t)
		die("calloc", -ENOMEM);
	if (o->resume)
		t->next[0] = r.pos;
	size_t cap = is_msg(o->type) ? r.slot_size : (size_t)16 * r.slot_size;
	unsigned char *buf = malloc(cap ? cap : 1);

	if (!buf)
		die("malloc", -ENOMEM);
	for (uint64_t round = 0; !stop && !done(o, t); round++) {
		if (is_msg(o->type)) {
			const void *p;
			int n;

			if (round % 2) {
				/* zero copy: read in place */
				n = shmring_msg_peek_wait(&r, &p, stall_deadline(&ts));
				if (again(o, n, "peek"))
					continue;
				stop = take(o, t, p, (size_t)n);
				if ((ret = shmring_msg_release(&r)) < 0)
					die("release", ret);
				shmring_msg_wake(&r);
			} else {
				n = shmring_msg_pop_wait(&r, buf, (uint32_t)cap, stall_deadline(&ts));
				if (again(o, n, "pop"))
					continue;
				stop = take(o, t, buf, (size_t)n);
			}
			continue;
		}
		/* slot rings: single pops and bursts of up to 16; a stop
		 * message ends the run, and a burst takes none after it */
		uint64_t want = round % 2 && !o->until_stop ? 16 : 1;
		int64_t k;

		if (!o->until_stop && want > o->count * o->nprod - t->count - t->bad)
			want = o->count * o->nprod - t->count - t->bad;
		if (o->type == SHMRING_SPSC)
			k = shmring_spsc_pop_burst_wait(&r, buf, want, stall_deadline(&ts));
		else
			k = shmring_mpmc_pop_burst_wait(&r, buf, want, stall_deadline(&ts));
		if (again(o, (int)(k < 0 ? k : 0), "pop"))
			continue;
		for (int64_t i = 0; i < k && !stop; i++)
			stop = take(o, t, buf + (size_t)i * r.slot_size, r.slot_size);
	}
	report(t);
	if ((ret = shmring_close(&r)) < 0)
		die("close", ret);
	free(buf);
	ret = t->bad || (!o->until_stop && t->count != o->count * o->nprod) ? 1 : 0;
	free(t);
	return ret;
}

/* ---- ring sets ---- */
#ifdef RINGPEER_SETS

static int setproduce(const struct opts *o)
{
	struct shmring_params p;
	struct shmring_set_link l;
	struct shmring r;
	int ret;

	shmring_params_init(&p, o->type, is_msg(o->type) ? 8192 : 256, is_msg(o->type) ? 512 : 64);
	if ((ret = shmring_create(&r, o->ring, &p, SHMRING_PRODUCER)) < 0)
		die("create", ret);
	if ((ret = shmring_set_join(&l, o->name, &r, o->ring, o->producer)) < 0)
		die("join", ret);

	struct opts po = *o;

	po.resume = 0;
	int msg = is_msg(o->type);
	uint32_t room = msg ? MSG_PAYLOAD_MAX : r.slot_size - HDR;
	unsigned char *buf = malloc(r.slot_size + 16);

	if (!buf)
		die("malloc", -ENOMEM);
	for (uint64_t seq = 0; seq < o->count; seq++)
		push_one(&po, &r, buf, msg_fill(buf, o->producer, seq, msg_len(seq, room, msg)));
	free(buf);
	if ((ret = shmring_set_leave(&l, &r)) < 0)
		die("leave", ret);
	if ((ret = shmring_close(&r)) < 0)
		die("close", ret);
	return 0;
}

struct set_ctx {
	const struct opts *o;
	struct tally *t;
};

static int set_take(void *arg, const struct shmring_set_msg *m)
{
	struct set_ctx *c = arg;
	uint64_t before = c->t->bad;

	take(c->o, c->t, m->data, m->len);
	if (c->t->bad == before && m->len >= HDR) {
		struct hdr h;

		memcpy(&h, m->data, sizeof(h));
		if (m->tag != h.producer)
			c->t->bad++; /* the member's tag is its producer */
	}
	return 0;
}

static int setconsume(const struct opts *o)
{
	struct shmring_set *s;
	struct tally *t = calloc(1, sizeof(*t));
	struct timespec ts;
	struct set_ctx c = { o, t };
	int ret;
	uint64_t idle_since = (uint64_t)time(NULL);

	if (!t)
		die("calloc", -ENOMEM);
	if ((ret = shmring_set_create(&s, o->name, 0)) < 0)
		die("set create", ret);
	printf("ready\n");
	fflush(stdout);
	while (!done(o, t)) {
		uint64_t before = t->count + t->bad;

		if ((ret = shmring_set_poll(s, 64, set_take, &c)) < 0)
			die("set poll", ret);
		if (t->count + t->bad != before) {
			idle_since = (uint64_t)time(NULL);
			continue;
		}
		if ((uint64_t)time(NULL) - idle_since > STALL_S) {
			fprintf(stderr, "ringpeer: set: no progress for %d s\n", STALL_S);
			exit(2);
		}
		shmring_deadline_after(&ts, 100000000ull);
		ret = shmring_set_wait(s, &ts);
		if (ret < 0 && ret != -ETIMEDOUT)
			die("set wait", ret);
	}
	report(t);
	if ((ret = shmring_set_destroy(s)) < 0)
		die("set destroy", ret);
	ret = t->bad || t->count != o->count * o->nprod ? 1 : 0;
	free(t);
	return ret;
}

#endif /* RINGPEER_SETS */

static void usage(void)
{
	fprintf(stderr, "usage: ringpeer produce|consume NAME | setproduce SET RING | setconsume SET\n"
			"  --kind spsc|mpmc|msg_spsc|msg_mpsc --count N [--producer P] [--nprod P]\n"
			"  [--until-stop] [--resume] [--retry-epipe]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "count", required_argument, NULL, 'n' },
		{ "producer", required_argument, NULL, 'p' },
		{ "nprod", required_argument, NULL, 'P' },
		{ "until-stop", no_argument, NULL, 's' },
		{ "resume", no_argument, NULL, 'r' },
		{ "retry-epipe", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .type = SHMRING_SPSC, .nprod = 1 };
	int c;

	crc_init();
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			o.type = parse_kind(optarg);
			break;
		case 'n':
			o.count = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			o.producer = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o.nprod = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o.until_stop = 1;
			break;
		case 'r':
			o.resume = 1;
			break;
		case 'e':
			o.retry_epipe = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || o.producer >= MAXP || o.nprod > MAXP)
		usage();
	const char *cmd = argv[optind];

	o.name = argv[optind + 1];
	if (!strcmp(cmd, "produce"))
		return produce(&o);
	if (!strcmp(cmd, "consume"))
		return consume(&o);
#ifdef RINGPEER_SETS
	if (!strcmp(cmd, "setproduce")) {
		if (argc - optind < 3)
			usage();
		o.ring = argv[optind + 2];
		return setproduce(&o);
	}
	if (!strcmp(cmd, "setconsume"))
		return setconsume(&o);
#endif
	usage();
	return 2;
}
