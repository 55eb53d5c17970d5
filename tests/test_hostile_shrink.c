/* SPDX-License-Identifier: MIT */
/*
 * shmring_close() on a named ring that another process shrank: the
 * endpoint entry is cleared through the kernel, so close never raises
 * SIGBUS. It returns -EIO when the entry was cut off with the object (the
 * handle is released all the same), and 0 when the entry is still there
 * (it is then really freed: the same role can attach again). A message
 * ring producer closing with a reservation open, the object cut inside
 * close itself: no SIGBUS either, and the record is recovered once the
 * size is back.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <shmring/layout.h>
#include <shmring/mpmc.h>
#include <shmring/msg.h>

#include "../src/internal.h"
#include "msg_common.h"

/* Another process (not us: the point is a peer) sets the object's size. */
static void peer_truncate(const char *name, off_t size)
{
	pid_t pid = t_fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = shm_open(name, O_RDWR, 0);

		if (fd < 0 || ftruncate(fd, size) != 0)
			_exit(1);
		_exit(0);
	}
	t_wait_ok(pid, "truncating peer");
}

static off_t object_size(const char *name)
{
	struct stat st;
	int fd = shm_open(name, O_RDONLY, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	return st.st_size;
}

/* A producer and a consumer attached, then the object cut to `size`:
 * both closes return `want`, and the process keeps running. */
static void spsc_cut(off_t size, int want)
{
	struct shmring r, p, c;
	struct shmring_params prm;
	struct t_msg m;
	const char *tn = t_name("shrinkclose");
	char name[96];

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_SPSC, 64, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	t_msg_make(&m, 1, 0);
	cr_assert_eq(shmring_spsc_try_push(&p, &m), 0);

	peer_truncate(name, size);
	cr_assert_eq(object_size(name), size);
	cr_assert_eq(shmring_close(&p), want);
	if (want == -EIO)
		cr_assert(strstr(shmring_errdetail(), "not cleared"), "detail: %s", shmring_errdetail());
	cr_assert_eq(shmring_close(&c), want);
	cr_assert_eq(shmring_close(&c), -EINVAL, "a released handle");
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(hostile_shrink, close_after_cut_to_zero, .timeout = 30)
{
	spsc_cut(0, -EIO);
}

Test(hostile_shrink, close_after_cut_to_header_page, .timeout = 30)
{
	spsc_cut(4096, -EIO); /* the endpoint table starts at SHMRING_EP_OFF, in page 1 */
}

Test(hostile_shrink, close_after_cut_mid_page, .timeout = 30)
{
	/* Entries 0 and 1 lie past the end of the object but inside its last
	 * (partial) page, which the kernel keeps mapped: the stores land
	 * there (and are discarded), no fault, close returns 0. */
	spsc_cut(SHMRING_EP_OFF - 100, 0);
}

/* The data area cut off, the endpoint table intact: close clears the
 * entries (0) and the roles can attach again once the size is back; had
 * the entries stayed ACTIVE with our live pid, open would be -EBUSY. */
Test(hostile_shrink, close_after_data_cut_frees_entries, .timeout = 30)
{
	struct shmring r, p, c;
	struct shmring_params prm;
	const char *tn = t_name("shrinkdata");
	char name[96];

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_SPSC, 1024, sizeof(struct t_msg));
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	off_t full = (off_t)r.map_size, data = (off_t)((unsigned char *)r.data - (unsigned char *)r.map);

	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	peer_truncate(name, data);
	cr_assert_eq(shmring_close(&p), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&c), 0, "%s", shmring_errdetail());
	peer_truncate(name, full);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&p), 0);
	cr_assert_eq(shmring_close(&c), 0);
	cr_assert_eq(shmring_unlink(name), 0);
}

/* MPMC, 24 consumer handles in entries 2..25: entries 0-15 lie in page 1
 * of the object, 16-31 in page 2. Cut the object to 8192 bytes: exactly
 * the handles whose entry was in page 2 get -EIO, the others 0. */
#define NH 24
Test(hostile_shrink, close_mpmc_entries_either_side_of_the_cut, .timeout = 30)
{
	static struct shmring h[NH];
	struct shmring r;
	struct shmring_params prm;
	const char *tn = t_name("shrinkmpmc");
	char name[96];
	unsigned cut = 0, kept = 0;

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_MPMC, 64, sizeof(struct t_msg));
	prm.max_endpoints = 32;
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	for (unsigned i = 0; i < NH; i++)
		cr_assert_eq(shmring_open(&h[i], name, SHMRING_CONSUMER, NULL), 0, "%u: %s", i,
			     shmring_errdetail());
	peer_truncate(name, 8192);
	for (unsigned i = 0; i < NH; i++) {
		size_t off = (size_t)((unsigned char *)h[i].ep - (unsigned char *)h[i].map);
		int want = off + sizeof(struct shmring_endpoint) <= 8192 ? 0 : -EIO;
		int ret = shmring_close(&h[i]);

		cr_assert_eq(ret, want, "handle %u, entry at offset %zu: close %d", i, off, ret);
		cut += ret == -EIO;
		kept += ret == 0;
	}
	cr_assert_eq(cut, NH + 2 - 16, "entries past the cut");
	cr_assert_eq(kept, 16 - 2, "entries before the cut");
	cr_assert_eq(shmring_unlink(name), 0);
}

/*
 * A peer's shrink that lands inside close, after anything close could have
 * checked: the first fstat of the armed descriptor (this file replaces
 * fstat for the whole test program) and the fault point in the message
 * ring's detach both cut the object to cut_to, whichever runs first.
 */
static int cut_fd = -1;
static off_t cut_to;

static void cut_now(void)
{
	int fd = cut_fd;

	cut_fd = -1;
	if (fd >= 0 && ftruncate(fd, cut_to) != 0)
		_exit(90);
}

int fstat(int fd, struct stat *st)
{
	int ret = fstatat(fd, "", st, AT_EMPTY_PATH);

	if (ret == 0 && fd == cut_fd)
		cut_now();
	return ret;
}

static void cut_hook(int point)
{
	if (point == SHMRING_FAULT_MSG_DETACH)
		cut_now();
}

/*
 * MSG_MPSC: a producer (a child process) closes with a reservation open
 * while the object is cut to `size` inside its close. Close returns `want`
 * and the child lives. When the endpoint table survived the cut, the
 * record is recovered (padding, cons_stats.skipped) once the size is
 * back, and the ring goes on.
 */
static void msg_cut_in_close(off_t size_of, int data_cut, int want)
{
	struct shmring r, c, q;
	struct shmring_params prm;
	const char *tn = t_name("shrinkmsg");
	char name[96];
	unsigned char buf[128];
	off_t full, size;
	pid_t pid;
	int st, n = -EAGAIN;

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_MSG_MPSC, 4096, 120);
	prm.flags = SHMRING_F_COUNTERS;
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	full = (off_t)r.map_size;
	size = data_cut ? (off_t)((unsigned char *)r.data - (unsigned char *)r.map) : size_of;
	cr_assert_eq(shmring_close(&r), 0);
	pid = t_fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct shmring p;
		void *w;

		if (shmring_open(&p, name, SHMRING_PRODUCER, NULL) || shmring_msg_reserve(&p, 100, &w))
			_exit(1);
		memset(w, 0x5c, 100);
		cut_to = size;
		cut_fd = p.fd;
		shmring__test_fault_hook = cut_hook;
		int ret = shmring_close(&p);

		_exit(cut_fd != -1 ? 2 : ret == want ? 0 : 3);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(!WIFSIGNALED(st), "close of a producer with a reservation open, object cut to %lld "
		  "inside close: killed by signal %d", (long long)size, WTERMSIG(st));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x (2: not cut, 3: close "
		  "did not return %d)", st, want);
	cr_assert_eq(object_size(name), size);
	if (data_cut) {
		peer_truncate(name, full);
		cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
		cr_assert_eq(shmring_open(&q, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
		t_fill(buf, 50, 3, 1);
		cr_assert_eq(shmring_msg_push(&q, buf, 50), 0);
		/* Bounded: recovery runs after SHMRING_MSG_STALL_CHECK polls. */
		for (int tries = 0; tries < 100000 && n == -EAGAIN; tries++)
			n = shmring_msg_pop(&c, buf, sizeof(buf));
		cr_assert_eq(n, 50, "the message after the abandoned record: %d", n);
		cr_assert(t_check(buf, 50, 3, 1));
		cr_assert_eq(shmring_atomic_load(&c.ctrl->cons_stats.skipped, SHMRING_RELAXED), 1);
		cr_assert_eq(shmring_close(&q), 0);
		cr_assert_eq(shmring_close(&c), 0);
	}
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(hostile_shrink, msg_reservation_close_cut_to_zero, .timeout = 30)
{
	msg_cut_in_close(0, 0, -EIO);
}

Test(hostile_shrink, msg_reservation_close_cut_to_header_page, .timeout = 30)
{
	msg_cut_in_close(4096, 0, -EIO);
}

Test(hostile_shrink, msg_reservation_close_data_cut, .timeout = 30)
{
	msg_cut_in_close(0, 1, 0);
}

/* MPMC, a producer and a consumer alone on their sides (with
 * SHMRING_F_SOLO each holds its side's claim mode), the producer with a
 * reservation open and the consumer with a peek open when `open_ops`;
 * the object cut below the control page: close returns -EIO, never
 * SIGBUS, whatever it would have handed back or settled. */
static void mpmc_cut(uint32_t flags, off_t size, int open_ops)
{
	struct shmring r, p, c;
	struct shmring_params prm;
	const char *tn = t_name("shrinkmpmc1");
	char name[96];
	uint64_t pos, v = 7;

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_MPMC, 64, sizeof(uint64_t));
	prm.flags = flags;
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&c, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_mpmc_try_push(&p, &v), 0);
	if (open_ops) {
		cr_assert_eq(shmring_mpmc_peek(&c, 1, &pos), 1);
		cr_assert_eq(shmring_mpmc_reserve(&p, 2, &pos), 2);
	}
	peer_truncate(name, size);
	cr_assert_eq(shmring_close(&p), -EIO);
	cr_assert_eq(shmring_close(&c), -EIO);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(hostile_shrink, close_mpmc_after_cut_below_control, .timeout = 30)
{
	mpmc_cut(0, 0, 0);
	mpmc_cut(0, 4096, 0);
	mpmc_cut(0, 4096, 1);
}

Test(hostile_shrink, close_mpmc_solo_after_cut_below_control, .timeout = 30)
{
	mpmc_cut(SHMRING_F_SOLO, 0, 0);
	mpmc_cut(SHMRING_F_SOLO, 4096, 0);
	mpmc_cut(SHMRING_F_SOLO, 4096, 1);
}

/* Broadcast: a producer and two readers, the object cut; every close
 * returns (-EIO where the table went with the cut, else 0: a reader's
 * close then has the kernel wake the producer's block), never SIGBUS. */
static void bcast_cut(off_t size, int want)
{
	struct shmring r, p, a, b;
	struct shmring_params prm;
	const char *tn = t_name("shrinkbcast");
	char name[96];
	uint64_t v = 7;

	snprintf(name, sizeof(name), "%s", tn);
	shmring_params_init(&prm, SHMRING_BROADCAST, 64, sizeof(uint64_t));
	cr_assert_eq(shmring_create(&r, name, &prm, SHMRING_ROLE_NONE), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_close(&r), 0);
	cr_assert_eq(shmring_open(&p, name, SHMRING_PRODUCER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&a, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_open(&b, name, SHMRING_CONSUMER, NULL), 0, "%s", shmring_errdetail());
	cr_assert_eq(shmring_bcast_try_push(&p, &v), 0);
	cr_assert_eq(shmring_bcast_try_read(&a, &v), 0);
	if (size < 0)
		size = (off_t)shmring__hdr_copy(&p)->data_off;
	peer_truncate(name, size);
	cr_assert_eq(shmring_close(&a), want);
	cr_assert_eq(shmring_close(&b), want);
	cr_assert_eq(shmring_close(&p), want);
	cr_assert_eq(shmring_unlink(name), 0);
}

Test(hostile_shrink, close_bcast_after_cut, .timeout = 30)
{
	bcast_cut(0, -EIO);
	bcast_cut(4096, -EIO);
	bcast_cut(-1, 0); /* the data area only */
}
