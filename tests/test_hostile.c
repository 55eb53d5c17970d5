/* SPDX-License-Identifier: MIT */
/*
 * Hostile or broken peers while a ring is attached.
 *
 *  - peer_race_*: a thread plays a peer gone bad: it writes garbage
 *    positions, claims, sequence words and endpoint fields all over the
 *    mapping while the victim keeps calling the fast path. The victim must
 *    get counts or error codes, every slot it is handed must lie inside
 *    the data area, and every copy must stay inside the caller's buffer
 *    (ASan checks that in the ASan build). Not in suite 'tsan': the races
 *    are the point.
 *  - shrink_*: a peer ftruncates the object. A memfd ring is sealed (the
 *    peer gets EPERM, the service runs on); a named ring is not protected
 *    and the test shows the SIGBUS that docs/reliability.md documents.
 *  - fd_pass_*: the memfd handed over a UNIX socket (SCM_RIGHTS) to an
 *    unrelated process; an unsealed descriptor is refused on request.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <shmring/mpmc.h>

#include "common.h"

struct scribbler {
	unsigned char *map;
	size_t size;
	uint64_t capacity;
	atomic_int stop;
	atomic_ulong writes;
	uint64_t seed;
};

static uint64_t rnd(uint64_t *s)
{
	*s = t_mix(*s);
	return *s;
}

/* Values a broken peer would write: near the victim's positions, past
 * capacity, wrapped, all ones, random. */
static uint64_t garbage(struct scribbler *h, uint64_t near)
{
	uint64_t r = rnd(&h->seed);

	switch (r % 8) {
	case 0: return near + (r >> 8) % (4 * h->capacity + 2);
	case 1: return near - (r >> 8) % (4 * h->capacity + 2);
	case 2: return near + h->capacity + 1;
	case 3: return UINT64_MAX - (r >> 8) % 4;
	case 4: return 0;
	case 5: return near + 1;
	case 6: return (r >> 8) & 0xffffffffu;
	default: return r;
	}
}

static void *scribble(void *arg)
{
	struct scribbler *h = arg;
	const size_t ctrl_end = SHMRING_EP_OFF + 64 * SHMRING_EP_SIZE;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		uint64_t r = rnd(&h->seed);
		size_t off;
		uint64_t near = __atomic_load_n((uint64_t *)(void *)(h->map + SHMRING_CTRL_OFF),
						__ATOMIC_RELAXED);

		/* Mostly control blocks and endpoints, often slot words,
		 * sometimes the header. */
		switch (r % 4) {
		case 0:
		case 1:
			off = SHMRING_CTRL_OFF + (r >> 8) % (ctrl_end - SHMRING_CTRL_OFF);
			break;
		case 2:
			off = (r >> 8) % h->size;
			break;
		default:
			off = (r >> 8) % 512;
			break;
		}
		off &= ~(size_t)7;
		if (off + 8 > h->size)
			continue;
		__atomic_store_n((uint64_t *)(void *)(h->map + off), garbage(h, near), __ATOMIC_RELAXED);
		atomic_fetch_add_explicit(&h->writes, 1, memory_order_relaxed);
	}
	return NULL;
}

static void slot_in_bounds(const struct shmring *r, uint64_t pos, uint64_t n)
{
	const unsigned char *lo = r->data;
	const unsigned char *hi = r->data + r->capacity * r->stride;

	for (uint64_t i = 0; i < n; i++) {
		const unsigned char *p = shmring_slot(r, pos + i);

		cr_assert(p >= lo && p + r->slot_size <= hi, "slot of position %llu outside the data area",
			  (unsigned long long)(pos + i));
	}
}

#define CODE_OK(v, max) ((v) == -EAGAIN || (v) == -EPROTO || ((v) >= 0 && (v) <= (max)))

struct tally {
	uint64_t ok, empty, proto, other;
};

static void count(struct tally *t, int64_t v)
{
	if (v >= 0)
		t->ok++;
	else if (v == -EAGAIN)
		t->empty++;
	else if (v == -EPROTO)
		t->proto++;
	else
		t->other++;
}

static void spsc_victim(struct shmring *r, uint64_t iters, struct tally *t)
{
	size_t bsz = (size_t)r->slot_size * 8;
	unsigned char *buf = malloc(bsz); /* heap: ASan bounds every copy */
	uint64_t pos = 0;
	int64_t n;

	cr_assert_not_null(buf);
	memset(buf, 0x3c, bsz);
	for (uint64_t i = 0; i < iters; i++) {
		if (r->role == SHMRING_CONSUMER) {
			switch (i % 4) {
			case 0:
				n = shmring_spsc_try_pop(r, buf);
				cr_assert(CODE_OK(n, 0), "try_pop %lld", (long long)n);
				break;
			case 1:
				n = shmring_spsc_pop_burst(r, buf, 8);
				cr_assert(CODE_OK(n, 8), "pop_burst %lld", (long long)n);
				break;
			case 2:
				n = shmring_spsc_pop_bulk(r, buf, 3);
				cr_assert(CODE_OK(n, 3), "pop_bulk %lld", (long long)n);
				break;
			default:
				n = shmring_spsc_peek(r, 8, &pos);
				cr_assert(CODE_OK(n, 8), "peek %lld", (long long)n);
				if (n > 0) {
					slot_in_bounds(r, pos, (uint64_t)n);
					shmring_spsc_release(r, (uint64_t)n);
				}
				break;
			}
		} else {
			switch (i % 4) {
			case 0:
				n = shmring_spsc_try_push(r, buf);
				cr_assert(CODE_OK(n, 0), "try_push %lld", (long long)n);
				break;
			case 1:
				n = shmring_spsc_push_burst(r, buf, 8);
				cr_assert(CODE_OK(n, 8), "push_burst %lld", (long long)n);
				break;
			case 2:
				n = shmring_spsc_push_bulk(r, buf, 3);
				cr_assert(CODE_OK(n, 3), "push_bulk %lld", (long long)n);
				break;
			default:
				n = shmring_spsc_reserve(r, 8, &pos);
				cr_assert(CODE_OK(n, 8), "reserve %lld", (long long)n);
				if (n > 0) {
					slot_in_bounds(r, pos, (uint64_t)n);
					memset(shmring_slot(r, pos), 0x77, r->slot_size);
					shmring_spsc_commit(r, (uint64_t)n);
				}
				break;
			}
		}
		cr_assert_leq(shmring_spsc_count(r), r->capacity);
		count(t, n);
	}
	free(buf);
}

static void mpmc_victim(struct shmring *r, uint64_t iters, struct tally *t)
{
	size_t bsz = (size_t)r->slot_size * 8;
	unsigned char *buf = malloc(bsz);
	uint64_t pos = 0;
	int64_t n;

	cr_assert_not_null(buf);
	memset(buf, 0x3c, bsz);
	for (uint64_t i = 0; i < iters; i++) {
		if (r->role == SHMRING_CONSUMER) {
			switch (i % 4) {
			case 0:
				n = shmring_mpmc_try_pop(r, buf);
				cr_assert(CODE_OK(n, 0), "try_pop %lld", (long long)n);
				break;
			case 1:
				n = shmring_mpmc_pop_burst(r, buf, 8);
				cr_assert(CODE_OK(n, 8), "pop_burst %lld", (long long)n);
				break;
			case 2:
				n = shmring_mpmc_pop_bulk(r, buf, 3);
				cr_assert(CODE_OK(n, 3), "pop_bulk %lld", (long long)n);
				break;
			default:
				n = shmring_mpmc_peek(r, 8, &pos);
				cr_assert(CODE_OK(n, 8), "peek %lld", (long long)n);
				if (n > 0)
					slot_in_bounds(r, pos, (uint64_t)n);
				cr_assert_eq(shmring_mpmc_release(r), 0);
				break;
			}
		} else {
			switch (i % 4) {
			case 0:
				n = shmring_mpmc_try_push(r, buf);
				cr_assert(CODE_OK(n, 0), "try_push %lld", (long long)n);
				break;
			case 1:
				n = shmring_mpmc_push_burst(r, buf, 8);
				cr_assert(CODE_OK(n, 8), "push_burst %lld", (long long)n);
				break;
			case 2:
				n = shmring_mpmc_push_bulk(r, buf, 3);
				cr_assert(CODE_OK(n, 3), "push_bulk %lld", (long long)n);
				break;
			default:
				n = shmring_mpmc_reserve(r, 8, &pos);
				cr_assert(CODE_OK(n, 8), "reserve %lld", (long long)n);
				if (n > 0) {
					slot_in_bounds(r, pos, (uint64_t)n);
					memset(shmring_slot(r, pos), 0x77, r->slot_size);
					cr_assert_eq(shmring_mpmc_commit(r, (uint64_t)n), 0);
				}
				break;
			}
		}
		(void)shmring_mpmc_count(r);
		count(t, n);
	}
	free(buf);
}

static void peer_race(uint32_t type, uint32_t role, uint64_t seed)
{
	struct shmring r;
	struct shmring_params p;
	struct scribbler h;
	struct tally t = { 0 };
	pthread_t th;
	const uint64_t iters = t_scale(200000);

	shmring_params_init(&p, type, 16, 24);
	p.flags = SHMRING_F_COUNTERS;
	if (type == SHMRING_MPMC)
		p.max_endpoints = 8;
	cr_assert_eq(shmring_create_anon(&r, &p, role), 0, "%s", shmring_errdetail());
	memset(&h, 0, sizeof(h));
	h.map = r.map;
	h.size = r.map_size;
	h.capacity = r.capacity;
	h.seed = seed;
	cr_assert_eq(pthread_create(&th, NULL, scribble, &h), 0);
	/* Let the scribbler start before the victim runs. */
	while (atomic_load_explicit(&h.writes, memory_order_relaxed) < 1000)
		sched_yield();
	if (type == SHMRING_SPSC)
		spsc_victim(&r, iters, &t);
	else
		mpmc_victim(&r, iters, &t);
	atomic_store(&h.stop, 1);
	pthread_join(th, NULL);
	cr_assert_eq(t.other, 0, "unexpected error codes");
	cr_log_info("%s %s: %llu ops: %llu counts, %llu -EAGAIN, %llu -EPROTO; %lu peer writes",
		    type == SHMRING_SPSC ? "spsc" : "mpmc", role == SHMRING_CONSUMER ? "consumer" : "producer",
		    (unsigned long long)iters, (unsigned long long)t.ok, (unsigned long long)t.empty,
		    (unsigned long long)t.proto, atomic_load(&h.writes));
	printf("hostile peer_race %s %s: %llu ops: %llu counts, %llu -EAGAIN, %llu -EPROTO; %lu peer writes\n",
	       type == SHMRING_SPSC ? "spsc" : "mpmc", role == SHMRING_CONSUMER ? "consumer" : "producer",
	       (unsigned long long)iters, (unsigned long long)t.ok, (unsigned long long)t.empty,
	       (unsigned long long)t.proto, atomic_load(&h.writes));
	shmring_close(&r);
}

Test(hostile, peer_race_spsc_consumer, .timeout = 120) { peer_race(SHMRING_SPSC, SHMRING_CONSUMER, 1); }
Test(hostile, peer_race_spsc_producer, .timeout = 120) { peer_race(SHMRING_SPSC, SHMRING_PRODUCER, 2); }
Test(hostile, peer_race_mpmc_consumer, .timeout = 120) { peer_race(SHMRING_MPMC, SHMRING_CONSUMER, 3); }
Test(hostile, peer_race_mpmc_producer, .timeout = 120) { peer_race(SHMRING_MPMC, SHMRING_PRODUCER, 4); }

/* Push and pop n messages through an SPSC pair, checking each. */
static void spsc_roundtrip(struct shmring *p, struct shmring *c, uint64_t base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct t_msg m, out;

		t_msg_make(&m, 1, base + i);
		cr_assert_eq(shmring_spsc_try_push(p, &m), 0);
		cr_assert_eq(shmring_spsc_try_pop(c, &out), 0);
		cr_assert(t_msg_ok(&out) && out.seq == base + i);
	}
}

/* A memfd ring cannot be shrunk (or grown) by any holder of its fd: the
 * peer gets EPERM and the attached service never sees SIGBUS. */
Test(hostile, shrink_memfd_refused, .timeout = 30)
{
	struct shmring p, c;
	struct shmring_params prm;
	struct stat st;

	shmring_params_init(&prm, SHMRING_SPSC, 64, sizeof(struct t_msg));
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open_fd(&c, shmring_fd(&p), SHMRING_CONSUMER, NULL), 0, "%s",
		     shmring_errdetail());
	cr_assert_eq(fstat(shmring_fd(&p), &st), 0);
	spsc_roundtrip(&p, &c, 0, 100);
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The hostile peer: every way to change the size, and to
		 * remove the seals. */
		int fd = shmring_fd(&p);
		int bad = 0;

		if (ftruncate(fd, 0) == 0 || errno != EPERM)
			bad |= 1;
		if (ftruncate(fd, st.st_size / 2) == 0 || errno != EPERM)
			bad |= 2;
		if (ftruncate(fd, st.st_size * 2) == 0 || errno != EPERM)
			bad |= 4;
		/* F_SEAL_SEAL: no further seal (e.g. F_SEAL_WRITE, which would
		 * make the ring unusable) can be added. */
		if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0)
			bad |= 8;
		/* Through /proc, as an unrelated process would. */
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getppid(), fd);
		int fd2 = open(path, O_RDWR);

		if (fd2 >= 0) {
			if (ftruncate(fd2, 0) == 0)
				bad |= 16;
			close(fd2);
		}
		_exit(bad);
	}
	t_wait_ok(pid, "shrinking peer");
	struct stat st2;

	cr_assert_eq(fstat(shmring_fd(&p), &st2), 0);
	cr_assert_eq(st2.st_size, st.st_size);
	int seals = fcntl(shmring_fd(&p), F_GET_SEALS);

	cr_assert(seals & F_SEAL_SHRINK && seals & F_SEAL_GROW && seals & F_SEAL_SEAL, "seals 0x%x", seals);
	spsc_roundtrip(&p, &c, 100, 1000);
	shmring_close(&c);
	shmring_close(&p);
}

/* Not protected, and documented: a peer of the same user that can open a
 * named ring read-write can shrink it, and the next access of every
 * attached process faults. The victim runs in a child here; this process
 * keeps no mapping. */
Test(hostile, shrink_named_faults, .timeout = 30)
{
	struct shmring p, c;
	struct shmring_params prm;
	const char *name = t_name("shrink");
	int st;

	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	shmring_close(&p);
	int ready[2];

	cr_assert_eq(pipe(ready), 0);
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The default action, also under ASan (which would turn the
		 * fault into a report and exit status 1). */
		signal(SIGBUS, SIG_DFL);
		if (shmring_open(&c, name, SHMRING_CONSUMER, NULL) < 0)
			_exit(2);
		if (write(ready[1], "a", 1) != 1)
			_exit(3);
		for (;;) {
			struct t_msg m;

			(void)shmring_spsc_try_pop(&c, &m);
			(void)shmring_spsc_count(&c);
		}
	}
	char b;

	close(ready[1]);
	cr_assert_eq(read(ready[0], &b, 1), 1, "the victim did not attach");
	close(ready[0]);
	int fd = shm_open(name, O_RDWR, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 0), 0, "the named object can be shrunk");
	close(fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "victim status 0x%x", st);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* An anonymous ring handed to an unrelated process over a UNIX socket. */
Test(hostile, fd_pass_memfd, .timeout = 30)
{
	struct shmring p;
	struct shmring_params prm;
	int sv[2];
	const uint64_t n = 10000;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	shmring_params_init(&prm, SHMRING_SPSC, 256, sizeof(struct t_msg));
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring c;
		uint64_t next = 0;

		close(sv[0]);
		int fd = shmring_fd_recv(sv[1], SHMRING_FD_SEALED);

		if (fd < 0 || shmring_open_fd(&c, fd, SHMRING_CONSUMER, NULL) < 0)
			_exit(2);
		close(fd);
		while (next < n) {
			struct t_msg m;
			int ret = shmring_spsc_try_pop(&c, &m);

			if (ret == -EAGAIN) {
				sched_yield();
				continue;
			}
			if (ret < 0 || !t_msg_ok(&m) || m.seq != next)
				_exit(4);
			next++;
		}
		shmring_close(&c);
		_exit(0);
	}
	close(sv[1]);
	/* Created after the fork: the child can only have it from the socket. */
	cr_assert_eq(shmring_create_anon(&p, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_fd_send(sv[0], shmring_fd(&p)), 0, "%s", shmring_errdetail());
	for (uint64_t i = 0; i < n;) {
		struct t_msg m;

		t_msg_make(&m, 1, i);
		if (shmring_spsc_try_push(&p, &m) == 0)
			i++;
		else
			sched_yield();
	}
	t_wait_ok(pid, "consumer over SCM_RIGHTS");
	close(sv[0]);
	shmring_close(&p);
}

/* A descriptor that can still be shrunk is refused with SHMRING_FD_SEALED
 * (and accepted without it). */
Test(hostile, fd_pass_unsealed_refused, .timeout = 30)
{
	struct shmring p;
	struct shmring_params prm;
	const char *name = t_name("unsealed");
	int sv[2], fd;

	shmring_params_init(&prm, SHMRING_SPSC, 8, 8);
	cr_assert_eq(shmring_create(&p, name, &prm, SHMRING_PRODUCER), 0, "%s", shmring_errdetail());
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(shmring_fd_send(sv[0], shmring_fd(&p)), 0);
	cr_assert_eq(shmring_fd_recv(sv[1], SHMRING_FD_SEALED), -EPERM);
	cr_assert(strstr(shmring_errdetail(), "sealed"), "%s", shmring_errdetail());
	cr_assert_eq(shmring_fd_send(sv[0], shmring_fd(&p)), 0);
	fd = shmring_fd_recv(sv[1], 0);
	cr_assert_geq(fd, 0);
	close(fd);
	/* No descriptor in the message; peer gone; bad arguments. */
	cr_assert_eq(write(sv[0], "x", 1), 1);
	cr_assert_eq(shmring_fd_recv(sv[1], 0), -EPROTO);
	cr_assert_eq(shmring_fd_recv(sv[1], 0x10), -EINVAL);
	cr_assert_eq(shmring_fd_send(sv[0], -1), -EINVAL);
	close(sv[0]);
	cr_assert_eq(shmring_fd_recv(sv[1], 0), -ENOTCONN);
	close(sv[1]);
	shmring_close(&p);
	cr_assert_eq(shmring_unlink(name), 0);
}
