/* SPDX-License-Identifier: MIT */
/* pkg-config: liburcu-memb */
/*
 * set_fanin: one consumer waiting on several rings at once (a ring set).
 *
 * Fan-in the lock-free way: every producer gets a ring of its own, so
 * producers never contend, and one consumer drains them all. The
 * consumer's ring set holds the member rings; shmring_set_poll() hands
 * over what is ready (in place, zero copy), and shmring_set_wait() sleeps
 * until any member has data.
 *
 * The parent creates the set; three child processes each create their
 * own SPSC ring and join the set by name through its control ring, push
 * 5000 readings and leave. The parent checks that every reading of
 * every producer arrived once and in order.
 *
 * Ring sets need the library built with liburcu (Debian: liburcu-dev);
 * without it shmring_set_create returns -ENOTSUP.
 *
 * Build against the installed library:
 *   cc -std=c11 set_fanin.c $(pkg-config --cflags --libs shmring)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/set.h>  /* ring sets; brings shmring.h */
#include <shmring/wait.h> /* the producers' blocking push */

#define PRODUCERS 3
#define READINGS 5000             /* per producer */
#define WAIT_NS 10000000000ull    /* 10 s: longest any one wait may take */

struct reading {
	uint32_t sensor; /* which producer */
	uint32_t value;
	uint64_t seq;    /* 0, 1, 2, ... per producer */
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "set_fanin: %s: %s (%s)\n", what, shmring_strerror(err),
		shmring_errdetail());
	return 1;
}

static void ring_name(char *buf, size_t len, const char *set, uint32_t id)
{
	snprintf(buf, len, "%s-ring%u", set, (unsigned)id);
}

/* A producer process: its own ring, announced to the set by name. */
static int produce(const char *set, uint32_t id)
{
	char name[96];
	ring_name(name, sizeof(name), set, id);

	struct shmring_params prm;
	shmring_params_init(&prm, SHMRING_SPSC, 256, sizeof(struct reading));
	struct shmring ring;
	int ret = shmring_create(&ring, name, &prm, SHMRING_PRODUCER);
	if (ret < 0)
		return fail("shmring_create", ret);

	/* Join: the consumer opens our ring during its next poll or wait,
	 * and its messages from it carry the tag (here our id). The link
	 * also lets our wakes reach the set's sleeping consumer. */
	struct shmring_set_link link;
	ret = shmring_set_join(&link, set, &ring, name, id);
	if (ret < 0)
		return fail("shmring_set_join", ret);

	for (uint64_t seq = 0; seq < READINGS; seq++) {
		struct reading r = { .sensor = id, .value = (uint32_t)(seq * 3 + id), .seq = seq };
		struct timespec deadline;

		shmring_deadline_after(&deadline, WAIT_NS);
		ret = shmring_spsc_push_wait(&ring, &r, &deadline);
		if (ret < 0)
			return fail("shmring_spsc_push_wait", ret);
	}

	/* Leave, then close: the consumer drains what is left, sees that the
	 * producer has gone and removes the ring from the set. */
	shmring_set_leave(&link, &ring);
	shmring_close(&ring);
	return 0;
}

struct tally {
	uint64_t next[PRODUCERS]; /* the seq each producer's next reading must have */
	uint64_t total;
	int bad;
};

/* Called by shmring_set_poll for each message; m->data points into the
 * member ring and is valid until we return. */
static int on_reading(void *arg, const struct shmring_set_msg *m)
{
	struct tally *t = arg;
	struct reading r;

	if (m->tag >= PRODUCERS || m->len != sizeof(r)) {
		t->bad = 1;
		return 1; /* nonzero: stop this poll */
	}
	memcpy(&r, m->data, sizeof(r));
	if (r.sensor != m->tag || r.seq != t->next[m->tag] || r.value != r.seq * 3 + r.sensor)
		t->bad = 1;
	t->next[m->tag] = r.seq + 1;
	t->total++;
	return 0;
}

int main(void)
{
	char set_name[64];
	snprintf(set_name, sizeof(set_name), "/shmring-fanin-%d", (int)getpid());

	/* The set's control ring is "<name>.ctl": producers join through it. */
	struct shmring_set *set;
	int ret = shmring_set_create(&set, set_name, 0);
	if (ret < 0)
		return fail("shmring_set_create", ret);

	pid_t pids[PRODUCERS];
	int started = 0;
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0)
			_exit(produce(set_name, i));
		pids[started++] = pid;
	}

	/* The consumer loop: deliver up to 32 messages per member per poll;
	 * when nothing is ready, sleep until some member may have data. */
	struct tally t;
	memset(&t, 0, sizeof(t));
	while (started == PRODUCERS && t.total < (uint64_t)PRODUCERS * READINGS && !t.bad) {
		ret = shmring_set_poll(set, 32, on_reading, &t);
		if (ret < 0) {
			t.bad = fail("shmring_set_poll", ret);
			break;
		}
		if (ret == 0) {
			struct timespec deadline;
			shmring_deadline_after(&deadline, WAIT_NS);
			ret = shmring_set_wait(set, &deadline);
			if (ret < 0)
				t.bad = fail("shmring_set_wait", ret);
		}
	}

	int bad = t.bad || t.total != (uint64_t)PRODUCERS * READINGS;
	for (int i = 0; i < started; i++) {
		int status;

		if (bad)
			kill(pids[i], SIGTERM);
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	}

	struct shmring_set_stats st;
	if (shmring_set_stats(set, &st) == 0)
		printf("set: %llu messages in %llu polls, %llu sleeps, %llu joins\n",
		       (unsigned long long)st.messages, (unsigned long long)st.polls,
		       (unsigned long long)st.sleeps, (unsigned long long)st.joins);

	/* Destroy closes the members and removes the set's own names; the
	 * rings' names are their producers', which exited: remove them. */
	shmring_set_destroy(set);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		char name[96];
		ring_name(name, sizeof(name), set_name, i);
		shmring_unlink(name);
	}
	printf("%d producers x %d readings: %s\n", PRODUCERS, READINGS,
	       bad ? "FAILED" : "all in order");
	return bad;
}
