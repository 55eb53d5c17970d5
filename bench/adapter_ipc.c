/* SPDX-License-Identifier: MIT */
/*
 * Kernel IPC baselines: pipe, UNIX socket (stream and seqpacket), POSIX
 * message queue, and shared memory signalled through an eventfd.
 *
 * All descriptors are made before the endpoints start, so threads share
 * them and forked processes inherit them. Each operation blocks in the
 * kernel until it can move its message, and returns 1.
 */
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* Two descriptors per ring: [0] read end, [1] write end. */
struct fd_state {
	int fd[2][2];
	int nrings;
	char mqname[2][64];
};

struct fd_ep {
	int fd;
};

static int fd_state_new(struct bench_run *run, struct fd_state **out)
{
	struct fd_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	for (int i = 0; i < 2; i++)
		st->fd[i][0] = st->fd[i][1] = -1;
	st->nrings = run->rtt ? 2 : 1;
	*out = st;
	run->state = st;
	return 0;
}

static void fd_teardown(struct bench_run *run)
{
	struct fd_state *st = run->state;

	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (st->fd[i][j] >= 0 && (j == 0 || st->fd[i][1] != st->fd[i][0]))
				close(st->fd[i][j]);
	free(st);
}

static int fd_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct fd_state *st = run->state;
	struct fd_ep *ep = vep;

	ep->fd = st->fd[ring][role == BR_PROD ? 1 : 0];
	return 0;
}

/* Move exactly n bytes through a stream descriptor. */
static inline int write_full(int fd, const void *m, size_t n)
{
	const unsigned char *p = m;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

static inline int read_full(int fd, void *m, size_t n)
{
	unsigned char *p = m;

	while (n) {
		ssize_t k = read(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EPIPE;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

#define stream_send(ep, m, size) write_full((ep)->fd, (m), (size))
#define stream_recv(ep, m, size) read_full((ep)->fd, (m), (size))

BENCH_LOOPS(stream, struct fd_ep, stream_send, stream_recv)

static int pipe_setup(struct bench_run *run)
{
	struct fd_state *st;
	int r = fd_state_new(run, &st);

	for (int i = 0; r == 0 && i < st->nrings; i++)
		if (pipe(st->fd[i]) < 0)
			r = -errno;
	if (r < 0 && run->state)
		fd_teardown(run);
	return r;
}

static int sock_setup(struct bench_run *run, int type)
{
	struct fd_state *st;
	int r = fd_state_new(run, &st);

	for (int i = 0; r == 0 && i < st->nrings; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
			r = -errno;
			break;
		}
		/*
		 * The kernel's default buffers, as a user gets them, unless
		 * they cannot hold a few messages of this size in flight.
		 * (Sizing them to the message instead starves small messages:
		 * each one costs a whole sk_buff of the budget.)
		 */
		int want = (int)(run->size * 4 + 4096), have = 0;
		socklen_t len = sizeof(have);

		if (want > 4 << 20)
			want = 4 << 20;
		if (getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have < want) {
			setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
			setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
		}
		st->fd[i][0] = sv[0];
		st->fd[i][1] = sv[1];
	}
	if (r < 0 && run->state)
		fd_teardown(run);
	return r;
}

static int unix_stream_setup(struct bench_run *run)
{
	return sock_setup(run, SOCK_STREAM);
}

static int unix_seqpacket_setup(struct bench_run *run)
{
	return sock_setup(run, SOCK_SEQPACKET);
}

/* seqpacket: one message per send/recv */
static inline int seqp_send(struct fd_ep *ep, const void *m, size_t n)
{
	for (;;) {
		ssize_t k = send(ep->fd, m, n, 0);

		if (k == (ssize_t)n)
			return 1;
		if (k < 0 && errno == EINTR)
			continue;
		return k < 0 ? -errno : -EMSGSIZE;
	}
}

static inline int seqp_recv(struct fd_ep *ep, void *m, size_t n)
{
	for (;;) {
		ssize_t k = recv(ep->fd, m, n, 0);

		if (k == (ssize_t)n)
			return 1;
		if (k < 0 && errno == EINTR)
			continue;
		return k < 0 ? -errno : -EMSGSIZE;
	}
}

BENCH_LOOPS(seqp, struct fd_ep, seqp_send, seqp_recv)

/* POSIX message queue: one queue per ring, opened read-write before the
 * endpoints start and unlinked at once (the descriptors keep it). */
static int mq_setup(struct bench_run *run)
{
	static unsigned seq;
	struct fd_state *st;
	int r = fd_state_new(run, &st);

	for (int i = 0; r == 0 && i < st->nrings; i++) {
		struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = run->size };
		mqd_t q;

		snprintf(st->mqname[i], sizeof(st->mqname[i]), "/shmring-bench-%d-%u", (int)getpid(), seq++);
		q = mq_open(st->mqname[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
		if (q == (mqd_t)-1) {
			r = -errno;
			break;
		}
		mq_unlink(st->mqname[i]);
		st->fd[i][0] = st->fd[i][1] = (int)q;
	}
	if (r < 0 && run->state)
		fd_teardown(run);
	return r;
}

static inline int mq_send1(struct fd_ep *ep, const void *m, size_t n)
{
	while (mq_send((mqd_t)ep->fd, m, n, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 1;
}

static inline int mq_recv1(struct fd_ep *ep, void *m, size_t n)
{
	for (;;) {
		ssize_t k = mq_receive((mqd_t)ep->fd, m, n, NULL);

		if (k == (ssize_t)n)
			return 1;
		if (k < 0 && errno == EINTR)
			continue;
		return k < 0 ? -errno : -EMSGSIZE;
	}
}

BENCH_LOOPS(mq, struct fd_ep, mq_send1, mq_recv1)

/*
 * eventfd-signalled shared memory, the usual hand-made design: a ring of
 * slots in a shared mapping; the producer writes the eventfd after each
 * message and the consumer sleeps in read() when it has used up the count
 * it last read. A full ring makes the producer wait on a second eventfd
 * that the consumer writes after each slot it frees while the producer
 * says it is waiting.
 */
struct efd_ring {
	_Atomic uint64_t head;
	char pad0[120];
	_Atomic uint64_t tail;
	char pad1[120];
	_Atomic uint32_t prod_waiting;
	char pad2[124];
	unsigned char slots[];
};

struct efd_state {
	struct efd_ring *ring[2];
	size_t map_size;
	int data[2], space[2];
	int nrings;
};

struct efd_ep {
	struct efd_ring *r;
	int data, space;
	uint64_t pos, credit, cap, size;
};

static void efd_teardown(struct bench_run *run)
{
	struct efd_state *st = run->state;

	for (int i = 0; i < st->nrings; i++) {
		bench_free_shared(st->ring[i], st->map_size);
		if (st->data[i] >= 0)
			close(st->data[i]);
		if (st->space[i] >= 0)
			close(st->space[i]);
	}
	free(st);
}

static int efd_setup(struct bench_run *run)
{
	struct efd_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	run->state = st;
	st->map_size = sizeof(struct efd_ring) + run->capacity * run->size;
	for (int i = 0; i < (run->rtt ? 2 : 1); i++) {
		st->nrings++;
		st->ring[i] = bench_alloc_shared(st->map_size);
		st->data[i] = eventfd(0, EFD_CLOEXEC);
		st->space[i] = eventfd(0, EFD_CLOEXEC);
		if (!st->ring[i] || st->data[i] < 0 || st->space[i] < 0) {
			efd_teardown(run);
			return -ENOMEM;
		}
	}
	return 0;
}

static int efd_ep_open(struct bench_run *run, void *vep, int ring, int role)
{
	struct efd_state *st = run->state;
	struct efd_ep *ep = vep;

	(void)role;
	ep->r = st->ring[ring];
	ep->data = st->data[ring];
	ep->space = st->space[ring];
	ep->cap = run->capacity;
	ep->size = run->size;
	return 0;
}

static inline int efd_send(struct efd_ep *ep, const void *m, size_t n)
{
	uint64_t one = 1, v;

	/* Acquire: pairs with the consumer's release store of tail. */
	while (ep->pos - atomic_load_explicit(&ep->r->tail, memory_order_acquire) >= ep->cap) {
		atomic_store(&ep->r->prod_waiting, 1);
		if (ep->pos - atomic_load(&ep->r->tail) >= ep->cap && read(ep->space, &v, 8) < 0 &&
		    errno != EINTR)
			return -errno;
		atomic_store(&ep->r->prod_waiting, 0);
	}
	memcpy(ep->r->slots + (ep->pos % ep->cap) * ep->size, m, n);
	ep->pos++;
	/* Release: pairs with the consumer's acquire load of head. */
	atomic_store_explicit(&ep->r->head, ep->pos, memory_order_release);
	if (write(ep->data, &one, 8) < 0)
		return -errno;
	return 1;
}

static inline int efd_recv(struct efd_ep *ep, void *m, size_t n)
{
	uint64_t one = 1;

	while (!ep->credit) {
		if (read(ep->data, &ep->credit, 8) < 0) {
			ep->credit = 0;
			if (errno != EINTR)
				return -errno;
		}
	}
	/* Acquire: pairs with the producer's release store of head (the
	 * eventfd write came after it, so the slot is there). */
	(void)atomic_load_explicit(&ep->r->head, memory_order_acquire);
	memcpy(m, ep->r->slots + (ep->pos % ep->cap) * ep->size, n);
	ep->pos++;
	ep->credit--;
	/* seq_cst: pairs with the producer's acquire load of tail, and orders
	 * this store before the load of prod_waiting (the producer stores
	 * prod_waiting, then reloads tail, both seq_cst: one sees the other). */
	atomic_store(&ep->r->tail, ep->pos);
	if (atomic_load(&ep->r->prod_waiting) && write(ep->space, &one, 8) < 0)
		return -errno;
	return 1;
}

BENCH_LOOPS(efd, struct efd_ep, efd_send, efd_recv)

#define FD_SUBJECT(NAME, DESC, FLAGS, MAX, SETUP, PFX)                                      \
	{                                                                                  \
		.name = NAME, .group = "baseline", .desc = DESC, .flags = (FLAGS) | BS_BLOCK,     \
		.max_size = MAX, .setup = SETUP, .teardown = fd_teardown,                  \
		.ep_size = sizeof(struct fd_ep), .ep_open = fd_ep_open, .producer = PFX##_producer, \
		.consumer = PFX##_consumer, .client = PFX##_client, .server = PFX##_server,  \
	}

static const struct bench_subject subjects[] = {
	FD_SUBJECT("pipe", "pipe(2), blocking read/write of whole messages", BS_TPUT | BS_RTT | BS_SIZES,
		   1u << 20, pipe_setup, stream),
	FD_SUBJECT("unix-stream", "AF_UNIX SOCK_STREAM socketpair", BS_TPUT | BS_RTT | BS_SIZES, 1u << 20,
		   unix_stream_setup, stream),
	FD_SUBJECT("unix-seqpacket", "AF_UNIX SOCK_SEQPACKET socketpair, one message per send",
		   BS_TPUT | BS_RTT | BS_SIZES, 64u << 10, unix_seqpacket_setup, seqp),
	FD_SUBJECT("posix-mq", "POSIX message queue (mq_send/mq_receive), 10 messages deep",
		   BS_TPUT | BS_RTT | BS_SIZES, 8192, mq_setup, mq),
	{
		.name = "eventfd-shm",
		.group = "baseline",
		.desc = "shared-memory ring, eventfd write per message, consumer sleeps in read",
		.flags = BS_TPUT | BS_RTT | BS_SIZES | BS_BLOCK,
		.max_size = 1u << 20,
		.setup = efd_setup,
		.teardown = efd_teardown,
		.ep_size = sizeof(struct efd_ep),
		.ep_open = efd_ep_open,
		.producer = efd_producer,
		.consumer = efd_consumer,
		.client = efd_client,
		.server = efd_server,
	},
};

const struct bench_subjects bench_subjects_ipc = { subjects, sizeof(subjects) / sizeof(subjects[0]) };
