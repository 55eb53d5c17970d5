/* SPDX-License-Identifier: MIT */
/* The C side of the Python binding: see shmring_glue.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmring_glue.h"

static _Thread_local const char *pyshm_why;
static _Thread_local int pyshm_own;

const char *pyshm_detail(void)
{
	return pyshm_why ? pyshm_why : "";
}

int pyshm_detail_own(void)
{
	return pyshm_own;
}

/* A failure the binding itself found. */
static int fail(int err, const char *why)
{
	pyshm_why = why;
	pyshm_own = 1;
	return err;
}

/* A failure of a library function that sets shmring_errdetail(). */
static int lib_fail(int err)
{
	pyshm_why = shmring_errdetail();
	pyshm_own = 0;
	return err;
}

/* A new call: no reason yet. */
static void clear(void)
{
	pyshm_why = NULL;
	pyshm_own = 0;
}

/* Take the handle for this call, or -EBUSY (another thread has it) or
 * -EBADF (closed). Every entry point starts here. */
static int enter(struct pyring *h)
{
	clear();
	/* Acquire: pairs with leave(): what the last holder did to the
	 * handle happens before what we do. */
	if (atomic_exchange_explicit(&h->busy, 1u, memory_order_acquire))
		return fail(-EBUSY, "another thread is using this handle (give each thread its own: dup)");
	if (!h->attached) {
		atomic_store_explicit(&h->busy, 0u, memory_order_release);
		return fail(-EBADF, "the ring is closed");
	}
	return 0;
}

static void leave(struct pyring *h)
{
	atomic_store_explicit(&h->busy, 0u, memory_order_release);
}

static int is_msg(const struct pyring *h)
{
	return h->r.type == SHMRING_MSG_SPSC || h->r.type == SHMRING_MSG_MPSC;
}

/* The deadline `ns` from now, or NULL for ns < 0. */
static const struct timespec *deadline(struct timespec *ts, int64_t ns)
{
	if (ns < 0)
		return NULL;
	shmring_deadline_after(ts, (uint64_t)ns);
	return ts;
}

/* What every new handle gets: signals end its waits (-EINTR), and slot
 * rings a slot to pad short pushes in. */
static int setup(struct pyring *h)
{
	struct shmring_wait_policy wp;

	if (!is_msg(h)) {
		h->pad = calloc(1, h->r.slot_size ? h->r.slot_size : 1);
		if (!h->pad) {
			shmring_close(&h->r);
			return fail(-ENOMEM, "no memory for the handle's pad slot");
		}
	}
	shmring_wait_policy_get(&h->r, &wp);
	wp.flags |= SHMRING_WAIT_F_EINTR;
	shmring_wait_policy_set(&h->r, &wp);
	h->attached = 1;
	h->zc = 0;
	return 0;
}

int pyr_create(struct pyring *h, const char *name, uint32_t type, uint64_t capacity, uint32_t slot_size,
	       uint32_t role, uint32_t mode, uint32_t flags, uint32_t max_endpoints)
{
	struct shmring_params p;
	int ret;

	clear();
	if (h->attached)
		return fail(-EINVAL, "handle already attached");
	shmring_params_init(&p, type, capacity, slot_size);
	if (mode)
		p.mode = mode;
	p.flags = flags;
	p.max_endpoints = max_endpoints;
	ret = name ? shmring_create(&h->r, name, &p, role) : shmring_create_anon(&h->r, &p, role);
	if (ret < 0)
		return lib_fail(ret);
	return setup(h);
}

int pyr_open(struct pyring *h, const char *name, int fd, uint32_t role, uint32_t type, uint32_t slot_size,
	     uint32_t mode, uint32_t timeout_ms)
{
	struct shmring_open_opts o;
	int ret;

	clear();
	if (h->attached)
		return fail(-EINVAL, "handle already attached");
	memset(&o, 0, sizeof(o));
	o.type = type;
	o.slot_size = slot_size;
	o.mode = mode;
	o.timeout_ms = timeout_ms;
	ret = name ? shmring_open(&h->r, name, role, &o) : shmring_open_fd(&h->r, fd, role, &o);
	if (ret < 0)
		return lib_fail(ret);
	return setup(h);
}

int pyr_dup(struct pyring *dst, struct pyring *src, uint32_t role)
{
	int ret = enter(src);

	if (ret < 0)
		return ret;
	if (dst->attached) {
		leave(src);
		return fail(-EINVAL, "handle already attached");
	}
	ret = shmring_dup(&dst->r, &src->r, role);
	leave(src);
	if (ret < 0)
		return lib_fail(ret);
	return setup(dst);
}

int pyr_close(struct pyring *h)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	ret = shmring_close(&h->r);
	if (ret < 0)
		lib_fail(ret);
	h->attached = 0;
	h->zc = 0;
	free(h->pad);
	h->pad = NULL;
	leave(h);
	return ret;
}

int pyr_policy(struct pyring *h, uint32_t mode, uint32_t spin_ns, uint32_t slice_ms, uint32_t wake_batch)
{
	struct shmring_wait_policy wp;
	int ret = enter(h);

	if (ret < 0)
		return ret;
	shmring_wait_policy_get(&h->r, &wp);
	wp.mode = mode;
	wp.spin_ns = spin_ns;
	wp.slice_ms = slice_ms;
	wp.wake_batch = wake_batch;
	wp.flags |= SHMRING_WAIT_F_EINTR;
	ret = shmring_wait_policy_set(&h->r, &wp);
	if (ret < 0)
		fail(ret, "unknown wait mode");
	leave(h);
	return ret;
}

int pyr_fd(struct pyring *h)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	ret = shmring_fd(&h->r);
	if (ret < 0)
		lib_fail(ret);
	leave(h);
	return ret;
}

int pyr_recover(struct pyring *h)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	ret = shmring_recover(&h->r);
	if (ret < 0)
		lib_fail(ret);
	leave(h);
	return ret;
}

/* Wake the peers of this handle's side (no system call unless one sleeps). */
static int wake_peer(struct pyring *h)
{
	switch (h->r.type) {
	case SHMRING_SPSC:
		return shmring_spsc_wake(&h->r);
	case SHMRING_MPMC:
		return shmring_mpmc_wake(&h->r);
	default:
		return shmring_msg_wake(&h->r);
	}
}

int pyr_wake(struct pyring *h)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	ret = wake_peer(h);
	leave(h);
	return ret;
}

int64_t pyr_fill(struct pyring *h)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	switch (h->r.type) {
	case SHMRING_SPSC:
		ret = (int64_t)shmring_spsc_count(&h->r);
		break;
	case SHMRING_MPMC:
		ret = (int64_t)shmring_mpmc_count(&h->r);
		break;
	default:
		ret = (int64_t)shmring_msg_used(&h->r);
		break;
	}
	leave(h);
	return ret;
}

/* ---- copy in and out ---- */

/* After n messages were published: wake a sleeping consumer, per the
 * handle's batching policy (as the library's blocking pushes do). */
static void pushed(struct pyring *h, uint64_t n)
{
	struct shmring *r = &h->r;
	uint64_t fill = 0;

	if (r->type == SHMRING_SPSC)
		fill = r->pos - r->cached;
	else if (r->type == SHMRING_MPMC && r->wait.mark)
		fill = shmring_mpmc_count(r);
	shmring_wake_pushed(r, n, fill);
}

/* A slot ring's element: the caller's bytes when they fill the slot, else
 * a copy padded with zeroes (the ring copies slot_size bytes). */
static const void *slot_elem(struct pyring *h, const char *p, size_t len)
{
	if (len == h->r.slot_size)
		return p;
	memcpy(h->pad, p, len);
	memset(h->pad + len, 0, h->r.slot_size - len);
	return h->pad;
}

static int push_one(struct pyring *h, const char *p, size_t len, int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	const void *e;
	int ret;

	if (len > r->slot_size)
		return fail(-EMSGSIZE, is_msg(h) ? "message longer than the ring's largest message"
						 : "message longer than the slot");
	if (is_msg(h)) {
		ret = shmring_msg_push(r, p, (uint32_t)len);
		if (ret == 0)
			shmring_wake_pushed(r, 1, 0);
		else if (ret == -EAGAIN && timeout_ns >= 0)
			ret = shmring_msg_push_wait(r, p, (uint32_t)len, deadline(&ts, timeout_ns));
		return ret;
	}
	e = slot_elem(h, p, len);
	if (r->type == SHMRING_SPSC) {
		ret = shmring_spsc_try_push(r, e);
		if (ret == -EAGAIN && timeout_ns >= 0)
			return shmring_spsc_push_wait(r, e, deadline(&ts, timeout_ns));
	} else {
		ret = shmring_mpmc_try_push(r, e);
		if (ret == -EAGAIN && timeout_ns >= 0)
			return shmring_mpmc_push_wait(r, e, deadline(&ts, timeout_ns));
	}
	if (ret == 0)
		pushed(h, 1);
	return ret;
}

int pyr_push(struct pyring *h, const char *p, size_t len, int64_t timeout_ns)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	ret = push_one(h, p, len, timeout_ns);
	leave(h);
	return ret;
}

static int64_t pop_one(struct pyring *h, char *buf, size_t cap, int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	int ret;

	if (is_msg(h)) {
		uint32_t c = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;

		ret = shmring_msg_pop(r, buf, c);
		if (ret >= 0)
			shmring_wake(r, SHMRING_PRODUCER);
		else if (ret == -EAGAIN && timeout_ns >= 0)
			ret = shmring_msg_pop_wait(r, buf, c, deadline(&ts, timeout_ns));
		return ret;
	}
	if (cap < r->slot_size)
		return fail(-EINVAL, "buffer smaller than a slot");
	if (r->type == SHMRING_SPSC) {
		ret = shmring_spsc_try_pop(r, buf);
		if (ret == -EAGAIN && timeout_ns >= 0)
			ret = shmring_spsc_pop_wait(r, buf, deadline(&ts, timeout_ns));
		else if (ret == 0)
			shmring_wake(r, SHMRING_PRODUCER);
	} else {
		ret = shmring_mpmc_try_pop(r, buf);
		if (ret == -EAGAIN && timeout_ns >= 0)
			ret = shmring_mpmc_pop_wait(r, buf, deadline(&ts, timeout_ns));
		else if (ret == 0)
			shmring_wake(r, SHMRING_PRODUCER);
	}
	return ret < 0 ? ret : (int64_t)r->slot_size;
}

int64_t pyr_pop(struct pyring *h, char *buf, size_t cap, int64_t timeout_ns)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	ret = pop_one(h, buf, cap, timeout_ns);
	leave(h);
	return ret;
}

static int64_t push_slots(struct pyring *h, const char *p, uint64_t n, int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	int64_t k;

	if (r->type == SHMRING_SPSC) {
		k = shmring_spsc_push_burst(r, p, n);
		if (k == 0 && n && timeout_ns >= 0)
			return shmring_spsc_push_burst_wait(r, p, n, deadline(&ts, timeout_ns));
	} else {
		k = shmring_mpmc_push_burst(r, p, n);
		if (k == 0 && n && timeout_ns >= 0)
			return shmring_mpmc_push_burst_wait(r, p, n, deadline(&ts, timeout_ns));
	}
	if (k > 0)
		pushed(h, (uint64_t)k);
	return k;
}

static int64_t push_msgs(struct pyring *h, const char *p, const uint32_t *lens, uint64_t n,
			 int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	uint64_t i;
	size_t off = 0;
	int ret = 0;

	for (i = 0; i < n; i++) {
		if (lens[i] > r->slot_size) {
			ret = fail(-EMSGSIZE, "message longer than the ring's largest message");
			break;
		}
		ret = shmring_msg_push(r, p + off, lens[i]);
		if (ret == -EAGAIN && i == 0 && timeout_ns >= 0)
			/* wakes the consumer itself */
			ret = shmring_msg_push_wait(r, p, lens[0], deadline(&ts, timeout_ns));
		if (ret < 0)
			break;
		off += lens[i];
	}
	if (i > 0) {
		shmring_wake_pushed(r, i, 0);
		return (int64_t)i;
	}
	return ret == -EAGAIN ? 0 : ret;
}

int64_t pyr_push_burst(struct pyring *h, const char *p, const uint32_t *lens, uint64_t n,
		       int64_t timeout_ns)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	ret = is_msg(h) ? push_msgs(h, p, lens, n, timeout_ns) : push_slots(h, p, n, timeout_ns);
	leave(h);
	return ret;
}

static int64_t pop_slots(struct pyring *h, char *buf, size_t cap, uint32_t *lens, uint64_t n,
			 int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	int64_t k;

	if (n > cap / r->slot_size)
		n = cap / r->slot_size;
	if (n == 0)
		return fail(-EINVAL, "buffer smaller than a slot");
	if (r->type == SHMRING_SPSC) {
		k = shmring_spsc_pop_burst(r, buf, n);
		if (k == 0 && timeout_ns >= 0)
			k = shmring_spsc_pop_burst_wait(r, buf, n, deadline(&ts, timeout_ns));
		else if (k > 0)
			shmring_wake(r, SHMRING_PRODUCER);
	} else {
		k = shmring_mpmc_pop_burst(r, buf, n);
		if (k == 0 && timeout_ns >= 0)
			k = shmring_mpmc_pop_burst_wait(r, buf, n, deadline(&ts, timeout_ns));
		else if (k > 0)
			shmring_wake(r, SHMRING_PRODUCER);
	}
	for (int64_t i = 0; i < k; i++)
		lens[i] = r->slot_size;
	return k;
}

static int64_t pop_msgs(struct pyring *h, char *buf, size_t cap, uint32_t *lens, uint64_t n,
			int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	uint64_t i;
	size_t off = 0;
	int ret = 0;

	for (i = 0; i < n; i++) {
		size_t room = cap - off;
		uint32_t c = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;

		ret = shmring_msg_pop(r, buf + off, c);
		if (ret == -EAGAIN && i == 0 && timeout_ns >= 0)
			ret = shmring_msg_pop_wait(r, buf, c, deadline(&ts, timeout_ns));
		if (ret < 0)
			break;
		lens[i] = (uint32_t)ret;
		off += (size_t)ret;
	}
	if (i > 0) {
		shmring_wake(r, SHMRING_PRODUCER);
		return (int64_t)i;
	}
	/* The first message not fitting the buffer at all is the caller's
	 * error; a later one simply waits for the next call. */
	return ret == -EAGAIN ? 0 : ret;
}

int64_t pyr_pop_burst(struct pyring *h, char *buf, size_t cap, uint32_t *lens, uint64_t n,
		      int64_t timeout_ns)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	ret = is_msg(h) ? pop_msgs(h, buf, cap, lens, n, timeout_ns)
			: pop_slots(h, buf, cap, lens, n, timeout_ns);
	leave(h);
	return ret;
}

/* ---- zero copy ---- */

/* Wait as `side` until the ring may have room / data (then try again). */
static int wait_ready(struct pyring *h, uint32_t side, int64_t timeout_ns)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	shmring_wait_ready_fn *ready;

	if (r->type == SHMRING_SPSC)
		ready = side == SHMRING_PRODUCER ? shmring_spsc__ready_push : shmring_spsc__ready_pop;
	else
		ready = side == SHMRING_PRODUCER ? shmring_mpmc__ready_push : shmring_mpmc__ready_pop;
	if (side == SHMRING_PRODUCER)
		/* a consumer must not sleep on wakes this handle batched */
		wake_peer(h);
	return shmring_wait_until(r, side, ready, NULL, deadline(&ts, timeout_ns));
}

static int64_t reserve_slots(struct pyring *h, uint64_t n, int64_t timeout_ns, char **ptrs)
{
	struct shmring *r = &h->r;
	uint64_t pos = 0;
	int64_t k;

	if (h->zc)
		return fail(-EBUSY, h->zc_reserve ? "a reservation is open: commit or abort it first"
						  : "a peek is open: release it first");
	for (;;) {
		k = r->type == SHMRING_SPSC ? shmring_spsc_reserve(r, n, &pos)
					    : shmring_mpmc_reserve(r, n, &pos);
		if (k != 0 || n == 0 || timeout_ns < 0)
			break;
		int ret = wait_ready(h, SHMRING_PRODUCER, timeout_ns);

		if (ret < 0)
			return ret;
	}
	if (k <= 0)
		return k;
	for (int64_t i = 0; i < k; i++)
		ptrs[i] = shmring_slot(r, pos + (uint64_t)i);
	h->zc = (uint64_t)k;
	h->zc_reserve = 1;
	return k;
}

static int64_t reserve_msg(struct pyring *h, uint64_t len, int64_t timeout_ns, char **ptrs)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	void *p = NULL;
	int ret;

	if (len > r->slot_size)
		return fail(-EMSGSIZE, "message longer than the ring's largest message");
	if (h->zc && h->zc_reserve)
		return fail(-EBUSY, "a reservation is open: commit or abort it first");
	ret = shmring_msg_reserve(r, (uint32_t)len, &p);
	if (ret == -EAGAIN && timeout_ns >= 0)
		ret = shmring_msg_reserve_wait(r, (uint32_t)len, &p, deadline(&ts, timeout_ns));
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return ret;
	ptrs[0] = p;
	h->zc = 1;
	h->zc_reserve = 1;
	return 1;
}

int64_t pyr_reserve(struct pyring *h, uint64_t n, char **ptrs, int64_t timeout_ns)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	ret = is_msg(h) ? reserve_msg(h, n, timeout_ns, ptrs) : reserve_slots(h, n, timeout_ns, ptrs);
	leave(h);
	return ret;
}

int pyr_commit(struct pyring *h, uint64_t n)
{
	struct shmring *r = &h->r;
	int ret = enter(h);

	if (ret < 0)
		return ret;
	if (!h->zc || !h->zc_reserve) {
		ret = fail(-EINVAL, "no reservation is open");
	} else if (is_msg(h)) {
		ret = shmring_msg_commit(r);
		if (ret == 0) {
			h->zc = 0;
			shmring_wake_pushed(r, 1, 0);
		}
	} else if (n > h->zc) {
		ret = fail(-EINVAL, "commit of more slots than reserved");
	} else {
		ret = r->type == SHMRING_SPSC ? shmring_spsc_commit(r, n) : shmring_mpmc_commit(r, n);
		if (ret == 0) {
			h->zc = 0;
			if (n)
				pushed(h, n);
		}
	}
	leave(h);
	return ret;
}

int pyr_abort(struct pyring *h)
{
	struct shmring *r = &h->r;
	int ret = enter(h);

	if (ret < 0)
		return ret;
	if (!h->zc || !h->zc_reserve) {
		ret = fail(-EINVAL, "no reservation is open");
	} else {
		switch (r->type) {
		case SHMRING_SPSC:
			ret = 0; /* nothing was published: the slots are simply reused */
			break;
		case SHMRING_MPMC:
			ret = shmring_mpmc_commit(r, 0); /* consumers pass over them */
			break;
		default:
			ret = shmring_msg_abort(r);
			if (ret == 0 && r->type == SHMRING_MSG_MPSC)
				/* the padding it leaves is freed when the consumer looks */
				shmring_msg_wake(r);
			break;
		}
		if (ret == 0)
			h->zc = 0;
	}
	leave(h);
	return ret;
}

static int64_t peek_slots(struct pyring *h, uint64_t n, int64_t timeout_ns, char **ptrs, uint32_t *lens)
{
	struct shmring *r = &h->r;
	uint64_t pos = 0;
	int64_t k;

	if (h->zc)
		return fail(-EBUSY, h->zc_reserve ? "a reservation is open: commit or abort it first"
						  : "a peek is open: release it first");
	for (;;) {
		k = r->type == SHMRING_SPSC ? shmring_spsc_peek(r, n, &pos) : shmring_mpmc_peek(r, n, &pos);
		if (k != 0 || n == 0 || timeout_ns < 0)
			break;
		int ret = wait_ready(h, SHMRING_CONSUMER, timeout_ns);

		if (ret < 0)
			return ret;
	}
	if (k <= 0)
		return k;
	for (int64_t i = 0; i < k; i++) {
		ptrs[i] = shmring_slot(r, pos + (uint64_t)i);
		lens[i] = r->slot_size;
	}
	h->zc = (uint64_t)k;
	h->zc_reserve = 0;
	return k;
}

static int64_t peek_msg(struct pyring *h, int64_t timeout_ns, char **ptrs, uint32_t *lens)
{
	struct shmring *r = &h->r;
	struct timespec ts;
	const void *p = NULL;
	int ret;

	ret = shmring_msg_peek(r, &p);
	if (ret == -EAGAIN && timeout_ns >= 0)
		ret = shmring_msg_peek_wait(r, &p, deadline(&ts, timeout_ns));
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return ret;
	ptrs[0] = (char *)(uintptr_t)p;
	lens[0] = (uint32_t)ret;
	h->zc++;
	h->zc_reserve = 0;
	return 1;
}

int64_t pyr_peek(struct pyring *h, uint64_t n, char **ptrs, uint32_t *lens, int64_t timeout_ns)
{
	int64_t ret = enter(h);

	if (ret < 0)
		return ret;
	ret = is_msg(h) ? peek_msg(h, timeout_ns, ptrs, lens) : peek_slots(h, n, timeout_ns, ptrs, lens);
	leave(h);
	return ret;
}

int pyr_release(struct pyring *h, uint64_t n)
{
	struct shmring *r = &h->r;
	int ret = enter(h);

	if (ret < 0)
		return ret;
	if (!h->zc || h->zc_reserve) {
		ret = fail(-EINVAL, "nothing is peeked");
	} else if (r->type == SHMRING_SPSC) {
		if (n > h->zc) {
			ret = fail(-EINVAL, "release of more slots than peeked");
		} else {
			ret = shmring_spsc_release(r, n);
			if (ret == 0) {
				h->zc = 0;
				shmring_wake(r, SHMRING_PRODUCER);
			}
		}
	} else {
		ret = r->type == SHMRING_MPMC ? shmring_mpmc_release(r) : shmring_msg_release(r);
		if (ret == 0) {
			h->zc = 0;
			wake_peer(h);
		}
	}
	leave(h);
	return ret;
}

/* ---- ring sets ---- */
#ifdef PYSHM_SETS

static int set_enter(struct pyset *ps)
{
	unsigned u = atomic_load_explicit(&ps->users, memory_order_relaxed);

	clear();
	do {
		if (u == PYSET_GONE || !ps->s)
			return fail(-EBADF, "the set is destroyed");
		/* Acquire: pairs with the release in set_leave and create. */
	} while (!atomic_compare_exchange_weak_explicit(&ps->users, &u, u + 1, memory_order_acquire,
							memory_order_relaxed));
	return 0;
}

static void set_leave(struct pyset *ps)
{
	atomic_fetch_sub_explicit(&ps->users, 1u, memory_order_release);
}

int pyset_create(struct pyset *ps, const char *name, uint32_t flags)
{
	int ret;

	clear();
	if (ps->s)
		return fail(-EINVAL, "set already created");
	ret = shmring_set_create(&ps->s, name, flags);
	if (ret < 0) {
		ps->s = NULL;
		return lib_fail(ret);
	}
	atomic_store_explicit(&ps->users, 0u, memory_order_release);
	return 0;
}

int pyset_destroy(struct pyset *ps)
{
	unsigned u = 0;
	int ret;

	clear();
	/* Acquire: pairs with the release in set_leave: every call on the
	 * set has returned. */
	if (!atomic_compare_exchange_strong_explicit(&ps->users, &u, PYSET_GONE, memory_order_acquire,
						     memory_order_relaxed))
		return fail(u == PYSET_GONE ? -EBADF : -EBUSY,
			    u == PYSET_GONE ? "the set is destroyed" : "another thread is using the set");
	if (!ps->s)
		return fail(-EBADF, "the set is destroyed");
	ret = shmring_set_destroy(ps->s);
	ps->s = NULL;
	return ret < 0 ? lib_fail(ret) : 0;
}

int pyset_add(struct pyset *ps, struct pyring *h, uint64_t tag)
{
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	ret = enter(h);
	if (ret == 0) {
		if (h->zc) {
			ret = fail(-EBUSY, "the ring has a peek or reservation open");
		} else {
			ret = shmring_set_add(ps->s, &h->r, tag);
			if (ret < 0) {
				lib_fail(ret);
			} else {
				/* the set owns the endpoint now (*r was zeroed) */
				h->attached = 0;
				free(h->pad);
				h->pad = NULL;
			}
		}
		leave(h);
	}
	set_leave(ps);
	return ret;
}

int pyset_add_name(struct pyset *ps, const char *name, uint64_t tag)
{
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	ret = shmring_set_add_name(ps->s, name, tag);
	if (ret < 0)
		lib_fail(ret);
	set_leave(ps);
	return ret;
}

int pyset_remove(struct pyset *ps, uint32_t member)
{
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	ret = shmring_set_remove(ps->s, member);
	if (ret < 0)
		fail(ret, "no such member");
	set_leave(ps);
	return ret;
}

/* Room for `need` bytes of payload and one more message in the batch. */
static int batch_grow(struct pyset_batch *b, size_t need)
{
	if (need > b->cap) {
		size_t c = b->cap ? b->cap : 4096;
		unsigned char *d;

		while (c < need)
			c *= 2;
		d = realloc(b->data, c);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = c;
	}
	if (b->n == b->ncap) {
		/* the three arrays grow together; ncap moves once all have */
		size_t c = b->ncap ? b->ncap * 2 : 64;
		uint32_t *member = realloc(b->member, c * sizeof(*member));

		if (!member)
			return -ENOMEM;
		b->member = member;
		uint32_t *mlen = realloc(b->mlen, c * sizeof(*mlen));

		if (!mlen)
			return -ENOMEM;
		b->mlen = mlen;
		uint64_t *tag = realloc(b->tag, c * sizeof(*tag));

		if (!tag)
			return -ENOMEM;
		b->tag = tag;
		b->ncap = c;
	}
	return 0;
}

/* Copy one delivered message into the batch (it is valid only now). */
static int batch_take(void *arg, const struct shmring_set_msg *m)
{
	struct pyset_batch *b = arg;

	if (batch_grow(b, b->len + m->len) < 0) {
		b->err = -ENOMEM;
		return 1;
	}
	if (m->len)
		memcpy(b->data + b->len, m->data, m->len);
	b->member[b->n] = m->member;
	b->mlen[b->n] = m->len;
	b->tag[b->n] = m->tag;
	b->len += m->len;
	b->n++;
	return 0;
}

int pyset_poll(struct pyset *ps, uint32_t budget, struct pyset_batch *b)
{
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	b->err = 0;
	ret = shmring_set_poll(ps->s, budget, batch_take, b);
	if (b->err < 0)
		ret = fail(b->err, "no memory for the messages of a poll (one is lost)");
	else if (ret < 0)
		fail(ret, "poll failed");
	set_leave(ps);
	return ret;
}

void pyset_batch_free(struct pyset_batch *b)
{
	free(b->data);
	free(b->member);
	free(b->mlen);
	free(b->tag);
	memset(b, 0, sizeof(*b));
}

int pyset_wait(struct pyset *ps, int64_t timeout_ns)
{
	struct timespec ts;
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	ret = shmring_set_wait(ps->s, deadline(&ts, timeout_ns));
	set_leave(ps);
	return ret;
}

int pyset_fd(struct pyset *ps)
{
	int ret = set_enter(ps);

	if (ret < 0)
		return ret;
	ret = shmring_set_fd(ps->s);
	set_leave(ps);
	return ret;
}

int pyset_join(struct pyset_link *l, const char *set_name, struct pyring *h, const char *ring_name,
	       uint64_t tag)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	if (l->joined) {
		ret = fail(-EINVAL, "link already joined");
	} else {
		ret = shmring_set_join(&l->l, set_name, &h->r, ring_name, tag);
		if (ret < 0)
			lib_fail(ret);
		else
			l->joined = 1;
	}
	leave(h);
	return ret;
}

int pyset_leave(struct pyset_link *l, struct pyring *h)
{
	int ret = enter(h);

	if (ret < 0)
		return ret;
	if (!l->joined) {
		ret = fail(-EINVAL, "link not joined");
	} else {
		ret = shmring_set_leave(&l->l, &h->r);
		l->joined = 0;
		if (ret < 0)
			lib_fail(ret);
	}
	leave(h);
	return ret;
}

#endif /* PYSHM_SETS */
