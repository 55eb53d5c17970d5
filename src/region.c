/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory region: the geometry, create, attach, dup, close,
 * unlink. Open and the validation of a header another process wrote are
 * in region_open.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

#define CAPACITY_MAX (1ull << 40)
#define DATA_MAX (1ull << 46)
#define DEFAULT_MULTI_EPS 64u

/*
 * A mapping and its descriptor, shared by every handle of this process on
 * the same ring (shmring_dup hands out another reference, so the threads
 * of a process use one mapping), with the validated private header copy.
 * Process-local: never stored in shared memory. The last handle to close
 * unmaps and closes.
 */
struct shmring_mapping {
	atomic_uint refs;
	bool writable;
	int fd;
	void *map;
	size_t size;
	struct shmring_hdr hdr; /* validated copy; the shared header is never read again */
};

static struct shmring_mapping *mapping_new(const struct shmring_hdr *h, int fd, void *map,
					   bool writable)
{
	struct shmring_mapping *m = malloc(sizeof(*m));

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->writable = writable;
	m->fd = fd;
	m->map = map;
	m->size = h->total_size;
	memcpy(&m->hdr, h, sizeof(*h));
	return m;
}

static void mapping_put(struct shmring_mapping *m)
{
	/* acq_rel: the last owner's unmap happens after every other
	 * handle's last use (their decrements release). */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		munmap(m->map, m->size);
		close(m->fd);
		free(m);
	}
}

const struct shmring_hdr *shmring__hdr_copy(const struct shmring *r)
{
	return &((const struct shmring_mapping *)r->shared)->hdr;
}

static const struct {
	uint32_t type, kind, prod_mode, cons_mode;
} type_map[] = {
	{ SHMRING_SPSC, SHMRING_KIND_SLOTS, SHMRING_MODE_SINGLE, SHMRING_MODE_SINGLE },
	{ SHMRING_MPMC, SHMRING_KIND_SLOTS, SHMRING_MODE_MULTI, SHMRING_MODE_MULTI },
	{ SHMRING_MSG_SPSC, SHMRING_KIND_MSG, SHMRING_MODE_SINGLE, SHMRING_MODE_SINGLE },
	{ SHMRING_MSG_MPSC, SHMRING_KIND_MSG, SHMRING_MODE_MULTI, SHMRING_MODE_SINGLE },
	{ SHMRING_BROADCAST, SHMRING_KIND_BCAST, SHMRING_MODE_SINGLE, SHMRING_MODE_MULTI },
};

uint32_t shmring__type_of(uint32_t kind, uint32_t prod_mode, uint32_t cons_mode)
{
	for (size_t i = 0; i < sizeof(type_map) / sizeof(type_map[0]); i++)
		if (type_map[i].kind == kind && type_map[i].prod_mode == prod_mode &&
		    type_map[i].cons_mode == cons_mode)
			return type_map[i].type;
	return 0;
}

void shmring_params_init(struct shmring_params *p, uint32_t type, uint64_t capacity,
			 uint32_t slot_size)
{
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->capacity = capacity;
	p->slot_size = slot_size;
	p->mode = SHMRING_DEFAULT_MODE;
	p->numa_node = -1;
}

/* "/name" or "name": one component, 1..SHMRING_NAME_MAX bytes with the '/'. */
int shmring__check_name(const char *name, char out[SHMRING_NAME_MAX + 2])
{
	if (!name)
		return shmring__fail(-EINVAL, "name is NULL");
	const char *base = name[0] == '/' ? name + 1 : name;
	size_t len = strlen(base);

	if (len == 0)
		return shmring__fail(-EINVAL, "name is empty");
	if (len + 1 > SHMRING_NAME_MAX)
		return shmring__fail(-EINVAL, "name is %zu bytes, the limit is %d", len + 1,
				     SHMRING_NAME_MAX);
	if (strchr(base, '/'))
		return shmring__fail(-EINVAL, "name '%s' holds a second '/'", name);
	if (!strcmp(base, ".") || !strcmp(base, ".."))
		return shmring__fail(-EINVAL, "name '%s' is not a file name", name);
	out[0] = '/';
	memcpy(out + 1, base, len + 1);
	return 0;
}

/*
 * Derive the whole layout from type, slot_size, capacity, ep_count, flags
 * and page size. Used by create, and by open on its private header copy.
 */
int shmring__derive(struct shmring_hdr *h, uint32_t type, uint32_t slot_size, uint64_t capacity,
		    uint32_t ep_count, uint64_t page_size)
{
	const struct shmring_kind_ops *ops = shmring__kind_ops(type);
	int ret;

	if (!ops)
		return shmring__fail(type >= SHMRING_SPSC && type <= SHMRING_BROADCAST ? -ENOTSUP : -EINVAL,
				     "ring type %u is not available", type);
	for (size_t i = 0; i < sizeof(type_map) / sizeof(type_map[0]); i++) {
		if (type_map[i].type == type) {
			h->kind = (uint16_t)type_map[i].kind;
			h->prod_mode = (uint8_t)type_map[i].prod_mode;
			h->cons_mode = (uint8_t)type_map[i].cons_mode;
		}
	}
	if (!shmring__is_pow2(capacity))
		return shmring__fail(-EINVAL, "capacity %llu is not a power of two",
				     (unsigned long long)capacity);
	if (capacity > CAPACITY_MAX)
		return shmring__fail(-EINVAL, "capacity %llu exceeds %llu", (unsigned long long)capacity,
				     CAPACITY_MAX);
	if (slot_size == 0 || slot_size > SHMRING_SLOT_MAX)
		return shmring__fail(-EINVAL, "slot_size %u is outside 1..%u", slot_size,
				     SHMRING_SLOT_MAX);
	if (ep_count < 2 || ep_count > SHMRING_EP_MAX)
		return shmring__fail(-EINVAL, "ep_count (endpoint entries) %u is outside 2..%u", ep_count,
				     SHMRING_EP_MAX);
	if (!shmring__is_pow2(page_size) || page_size < 4096 || page_size > (1ull << 30))
		return shmring__fail(-EINVAL, "page_size %llu is not a power of two in 4096..2^30",
				     (unsigned long long)page_size);
	h->slot_size = slot_size;
	h->capacity = capacity;
	ret = ops->geometry(h);
	if (ret < 0)
		return ret;
	if (h->data_size == 0 || h->data_size > DATA_MAX)
		return shmring__fail(-EINVAL, "data area of %llu bytes is out of range",
				     (unsigned long long)h->data_size);
	h->hdr_size = sizeof(struct shmring_hdr);
	h->ctrl_off = SHMRING_CTRL_OFF;
	h->ep_off = SHMRING_EP_OFF;
	h->ep_count = ep_count;
	uint64_t end = SHMRING_EP_OFF + (uint64_t)ep_count * SHMRING_EP_SIZE;
	h->data_off = (end + page_size - 1) & ~(page_size - 1);
	h->page_size = page_size;
	uint64_t total = h->data_off + h->data_size;
	h->total_size = (total + page_size - 1) & ~(page_size - 1);
	return 0;
}

static int check_params(const struct shmring_params *p)
{
	if (!p)
		return shmring__fail(-EINVAL, "params is NULL");
	if (p->mode & ~0777u)
		return shmring__fail(-EINVAL, "mode %o has bits outside 0777", p->mode);
	if (p->flags & ~(uint32_t)(SHMRING_F_COUNTERS | SHMRING_F_NO_SOLO | SHMRING_F_SOLO | SHMRING_F_LOSSY))
		return shmring__fail(-EINVAL, "flags 0x%x hold unknown bits", p->flags);
	if ((p->flags & SHMRING_F_SOLO) && (p->flags & SHMRING_F_NO_SOLO))
		return shmring__fail(-EINVAL, "flags 0x%x ask for SHMRING_F_SOLO and SHMRING_F_NO_SOLO",
				     p->flags);
	return 0;
}

static uint32_t params_eps(const struct shmring_params *p, const struct shmring_hdr *h)
{
	if (h->prod_mode == SHMRING_MODE_SINGLE && h->cons_mode == SHMRING_MODE_SINGLE)
		return 2;
	return 2 + (p->max_endpoints ? p->max_endpoints : DEFAULT_MULTI_EPS);
}

int shmring__check_role(uint32_t role, bool observer_ok)
{
	if (role == SHMRING_PRODUCER || role == SHMRING_CONSUMER || role == SHMRING_ROLE_NONE)
		return 0;
	if (role == SHMRING_OBSERVER && observer_ok)
		return 0;
	return shmring__fail(-EINVAL, "role %u is invalid here", role);
}

void (*shmring__test_fault_hook)(int point);

/* ---- handle keys and fork() (shmring.h) ---- */

uint64_t shmring__fork_gen = 1ull << 16;

/* In a fork()ed child: the handles inherited from the parent stop
 * matching any key the inline operations accept. Only the forking thread
 * runs in the child, so nothing reads the generation concurrently. */
static void fork_gen_child(void)
{
	shmring__fork_gen += 1ull << 16;
	if (!shmring__fork_gen)
		shmring__fork_gen = 1ull << 16;
}

static pthread_once_t fork_gen_once = PTHREAD_ONCE_INIT;

static void fork_gen_init(void)
{
	pthread_atfork(NULL, NULL, fork_gen_child);
}

static uint32_t key_class(uint32_t type)
{
	switch (type) {
	case SHMRING_SPSC:
		return SHMRING_KEY_SPSC;
	case SHMRING_MPMC:
		return SHMRING_KEY_MPMC;
	case SHMRING_BROADCAST:
		return SHMRING_KEY_BCAST;
	default:
		return SHMRING_KEY_MSG;
	}
}

/* The handle is ready: give it its key, and its waits the death counts
 * of both sides as they are now (futex.c). Not an observer's: it never
 * waits, and reads nothing past the header at open (the dump tool opens
 * objects a peer may have shrunk). */
static void handle_arm(struct shmring *r, uint32_t role)
{
	pthread_once(&fork_gen_once, fork_gen_init);
	if (role != SHMRING_OBSERVER) {
		/* Acquire: pairs with the release increments (endpoint.c: side_gone),
		 * so deaths counted before this are not reported to this handle. */
		r->wait.gone[0] = shmring_atomic_load(&r->ctrl->prod.gone, SHMRING_ACQUIRE);
		r->wait.gone[1] = shmring_atomic_load(&r->ctrl->cons.gone, SHMRING_ACQUIRE);
	}
	r->key = SHMRING_KEY_NOW(key_class(r->type), role);
}

/*
 * Fill the handle from the mapping's validated header copy and register
 * the endpoint. On failure the handle holds nothing and the caller still
 * owns its reference to m.
 */
static int attach(struct shmring *r, struct shmring_mapping *m, uint32_t role, uint32_t timeout_ms)
{
	const struct shmring_hdr *h = &m->hdr;
	const struct shmring_kind_ops *ops = shmring__kind_ops(shmring__type_of(h->kind, h->prod_mode, h->cons_mode));
	unsigned char *map = (unsigned char *)m->map;
	int ret;

	memset(r, 0, sizeof(*r));
	r->shared = m;
	r->map = map;
	r->map_size = h->total_size;
	r->fd = m->fd;
	r->hdr = (struct shmring_hdr *)(void *)map;
	r->ctrl = (struct shmring_ctrl *)(void *)((unsigned char *)map + h->ctrl_off);
	r->data = (unsigned char *)map + h->data_off;
	r->mask = h->capacity - 1;
	r->capacity = h->capacity;
	r->stride = h->slot_stride;
	r->slot_size = h->slot_size;
	r->flags = h->flags;
	r->role = role;
	r->type = ops->type;
	r->ep_count = h->ep_count;
	r->owner_pid = (int32_t)getpid();
	/* An observer moves nothing and trusts no position: it reports
	 * inconsistent state (shmring-dump --check) instead of refusing it. */
	if (role != SHMRING_OBSERVER) {
		/* Every read-only check first: an open refused for what the
		 * ring holds has written nothing to it. */
		if (ops->check) {
			ret = ops->check(r);
			if (ret < 0)
				goto fail;
		}
		if (role == SHMRING_PRODUCER || role == SHMRING_CONSUMER) {
			ret = shmring__ep_register(r, h, role, timeout_ms, ops);
			if (ret < 0)
				goto fail;
		}
		ret = ops->attach(r);
		if (ret < 0) {
			(void)shmring__ep_unregister(r);
			goto fail;
		}
	}
	handle_arm(r, role);
	return 0;
fail:
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	return ret;
}

/* Attach through a new mapping object that takes over fd and map on
 * success; on failure map is unmapped and fd left to the caller. */
int shmring__attach_new(struct shmring *r, const struct shmring_hdr *h, int fd, void *map,
			bool writable, uint32_t role, uint32_t timeout_ms)
{
	struct shmring_mapping *m = mapping_new(h, fd, map, writable);
	int ret;

	if (!m) {
		munmap(map, h->total_size);
		return shmring__fail(-ENOMEM, "no memory for the mapping");
	}
	ret = attach(r, m, role, timeout_ms);
	if (ret < 0) {
		munmap(map, h->total_size);
		free(m);
	}
	return ret;
}

/*
 * The layout create makes for p with pages of page_size: the whole
 * geometry (derive), the endpoint table and the flags the kind accepts.
 * Shared by create (fill_header) and shmring_params_size.
 */
static int params_layout(struct shmring_hdr *h, const struct shmring_params *p, uint64_t page_size)
{
	uint32_t slot_size = p->slot_size;
	int ret;

	/* Message rings: 0 asks for the largest message of capacity / 4. */
	if (slot_size == 0 && (p->type == SHMRING_MSG_SPSC || p->type == SHMRING_MSG_MPSC))
		slot_size = p->capacity / 4 > SHMRING_SLOT_MAX ? SHMRING_SLOT_MAX : (uint32_t)(p->capacity / 4);
	memset(h, 0, sizeof(*h));
	ret = shmring__derive(h, p->type, slot_size, p->capacity, 2, page_size);
	if (ret < 0)
		return ret;
	uint32_t eps = params_eps(p, h);
	ret = shmring__derive(h, p->type, slot_size, p->capacity, eps, page_size);
	if (ret < 0)
		return ret;
	if (p->flags & ~shmring__kind_ops(p->type)->flags)
		return shmring__fail(-EINVAL, "flags 0x%x: 0x%x do not apply to %s rings", p->flags,
				     p->flags & ~shmring__kind_ops(p->type)->flags,
				     shmring__kind_ops(p->type)->name);
	if (p->evict_ns && (p->type != SHMRING_BROADCAST || (p->flags & SHMRING_F_LOSSY)))
		return shmring__fail(-EINVAL, "evict_ns %llu: an eviction deadline applies to lossless "
				     "broadcast rings only", (unsigned long long)p->evict_ns);
	return 0;
}

int64_t shmring_params_size(const struct shmring_params *p)
{
	struct shmring_hdr h;
	uint64_t page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	int ret;

	shmring__clear_detail();
	if ((ret = check_params(p)) < 0)
		return ret;
	if (p->place_flags & ~(uint32_t)SHMRING_PLACE_ALL)
		return shmring__fail(-EINVAL, "place_flags 0x%x hold unknown bits 0x%x", p->place_flags,
				     p->place_flags & ~(uint32_t)SHMRING_PLACE_ALL);
	/* Huge pages, as an anonymous create would take them (place.c). */
	if ((p->place_flags & SHMRING_PLACE_HUGE) && shmring__huge_page_size())
		page_size = shmring__huge_page_size();
	if ((ret = params_layout(&h, p, page_size)) < 0)
		return ret;
	return (int64_t)h.total_size;
}

static int fill_header(struct shmring_hdr *h, const struct shmring_params *p,
		       struct shmring__place *pl, bool anon)
{
	int ret;

	if ((ret = shmring__place_prepare(pl, p, anon)) < 0)
		return ret;
again:
	ret = params_layout(h, p, pl->page_size);
	if (ret < 0)
		return ret;
	/* Huge pages: enough free? Else an error, or normal pages (again). */
	ret = shmring__place_huge_check(pl, h->total_size, p->place_flags);
	if (ret < 0)
		return ret;
	if (ret > 0)
		goto again;
	h->magic = SHMRING_MAGIC;
	h->abi_version = SHMRING_ABI_VERSION;
	h->flags = p->flags;
	h->mode = p->mode ? p->mode : SHMRING_DEFAULT_MODE;
	h->creator_pid = (int32_t)getpid();
	h->creator_uid = (uint32_t)geteuid();
	h->creator_start = shmring__proc_start_time(getpid());
	h->create_time_ns = shmring__now_ns(CLOCK_REALTIME);
	h->place_node = pl->req_node;
	h->place_flags = p->place_flags | pl->outcome;
	if (p->place_flags & SHMRING_PLACE_NEAR)
		memcpy(h->place_cpus, p->place_cpus, sizeof(h->place_cpus));
	h->init_pos = p->init_pos;
	return 0;
}

/* n bytes for a person: "512 B", "64.0 MiB". */
static void bytes_text(char *buf, size_t len, uint64_t n)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

int shmring__nospace_text(char *buf, size_t len, const char *what, int err, uint64_t need,
			  const char *where, uint64_t fs_size, uint64_t fs_free)
{
	char n[32], sz[32], fr[32];

	bytes_text(n, sizeof(n), need);
	bytes_text(sz, sizeof(sz), fs_size);
	bytes_text(fr, sizeof(fr), fs_free);
	if (fs_size == 0)
		return snprintf(buf, len, "%s %llu bytes: %s; %s has no size limit of its own (memory "
				"is short), the ring needs %s", what, (unsigned long long)need,
				strerror(err), where, n);
	return snprintf(buf, len, "%s %llu bytes: %s; %s is %s, %s free, the ring needs %s "
			"(docs/sizing.md: Docker --shm-size, Kubernetes emptyDir)",
			what, (unsigned long long)need, strerror(err), where, sz, fr, n);
}

/* Fail with err (-errno of `what` on fd), saying for ENOSPC how big the
 * object's file system is and what is free there. */
static int fail_space(int err, const char *what, int fd, const struct shmring_hdr *h)
{
	const char *where = h->flags & SHMRING_F_MEMFD ? "shared memory (memfd)" : SHMRING_SHM_DIR;
	char text[256];
	struct statvfs vfs;

	if (err != -ENOSPC || fstatvfs(fd, &vfs) < 0)
		return shmring__fail(err, "%s %llu bytes: %s", what, (unsigned long long)h->total_size,
				     strerror(-err));
	shmring__nospace_text(text, sizeof(text), what, -err, h->total_size, where,
			      (uint64_t)vfs.f_blocks * vfs.f_frsize, (uint64_t)vfs.f_bavail * vfs.f_frsize);
	return shmring__fail(err, "%s", text);
}

/* Size, pre-allocate, map and initialise a new object on fd. */
static int build(struct shmring *r, int fd, struct shmring_hdr *h, struct shmring__place *pl,
		 const struct shmring_params *p, uint32_t role)
{
	const struct shmring_kind_ops *ops = shmring__kind_ops(shmring__type_of(h->kind, h->prod_mode, h->cons_mode));
	void *map;
	int ret;

	if (ftruncate(fd, (off_t)h->total_size) < 0)
		return fail_space(-errno, "ftruncate to", fd, h);
	map = mmap(NULL, h->total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return shmring__fail(-errno, "mmap of %llu bytes: %s", (unsigned long long)h->total_size,
				     strerror(errno));
	/* The NUMA policy goes on before any page exists (place.c). */
	ret = shmring__place_bind(pl, map, h->total_size, h->place_flags);
	if (ret < 0) {
		munmap(map, h->total_size);
		return ret;
	}
	/* Allocate every page now, so a full /dev/shm fails here with
	 * -ENOSPC instead of raising SIGBUS at first touch. */
	ret = posix_fallocate(fd, 0, (off_t)h->total_size);
	shmring__place_bind_end(pl);
	if (ret) {
		munmap(map, h->total_size);
		return fail_space(-ret, "pre-allocating", fd, h);
	}
	h->place_flags |= pl->outcome;
	h->hdr_check = shmring_hdr_check(h);
	ret = shmring__place_map(map, h->total_size, h->place_flags, true, true);
	if (ret < 0) {
		munmap(map, h->total_size);
		return ret;
	}
	struct shmring_hdr *sh = (struct shmring_hdr *)map;

	memcpy(sh, h, offsetof(struct shmring_hdr, ready));
	ops->init(h, (struct shmring_ctrl *)(void *)((unsigned char *)map + h->ctrl_off),
		  (unsigned char *)map + h->data_off);
	if (ops->setup)
		ops->setup((struct shmring_ctrl *)(void *)((unsigned char *)map + h->ctrl_off), p);
	/* The creator's endpoint is registered before the ring is ready
	 * (and, named, before anyone can open it): no opener of the same
	 * role can take the entry first. */
	ret = shmring__attach_new(r, h, fd, map, true, role, 0);
	if (ret < 0)
		return ret;
	/* Release: pairs with the opener's acquire load of ready; everything
	 * written above is visible to whoever sees SHMRING_READY. */
	shmring_atomic_store(&sh->ready, SHMRING_READY, SHMRING_RELEASE);
	return 0;
}

/* Give back what build() attached, on a ring nobody else can reach. */
static void unbuild(struct shmring *r)
{
	(void)shmring__ep_unregister(r);
	mapping_put((struct shmring_mapping *)r->shared);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/*
 * Give the unnamed object on fd the name path ("/dev/shm/NAME"), failing
 * with -EEXIST if the name exists in any form (a symlink is not
 * followed). linkat() never replaces a name, so this is atomic.
 */
static int publish(int fd, const char *path)
{
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	/* Without /proc: needs CAP_DAC_READ_SEARCH (or a kernel that allows
	 * it for the file's opener). */
	if (errno == ENOENT && access("/proc/self/fd", F_OK) != 0 &&
	    linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno == EEXIST)
		return shmring__fail(-EEXIST, "'%s' exists (created while this ring was built); "
				     "nothing of it was touched", path);
	return shmring__fail(-errno, "linking the new ring to '%s': %s", path, strerror(errno));
}

/*
 * A named ring is built unnamed (O_TMPFILE in /dev/shm, where shm_open
 * keeps its objects), with the creator's endpoint registered and `ready`
 * set, and only then linked to its name, which fails if the name exists.
 * So no opener ever sees a ring in the making, a failed create removes
 * nothing but what it made (the unnamed file goes with its descriptor),
 * and a creator killed at any point leaves no name behind.
 */
int shmring_create(struct shmring *r, const char *name, const struct shmring_params *p,
		   uint32_t role)
{
	char path[SHMRING_NAME_MAX + 2], fpath[sizeof(SHMRING_SHM_DIR) + SHMRING_NAME_MAX + 2];
	struct shmring__place pl;
	struct shmring_hdr h;
	struct stat st;
	int fd, ret;

	shmring__clear_detail();
	if (!r)
		return shmring__fail(-EINVAL, "handle is NULL");
	if ((ret = shmring__check_name(name, path)) < 0 || (ret = check_params(p)) < 0 ||
	    (ret = shmring__check_role(role, false)) < 0 || (ret = fill_header(&h, p, &pl, false)) < 0)
		return ret;
	snprintf(fpath, sizeof(fpath), SHMRING_SHM_DIR "%s", path);
	/* A taken name fails before a large ring is built for nothing. */
	if (fstatat(AT_FDCWD, fpath, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return shmring__fail(-EEXIST, "'%s' exists; nothing of it was touched", fpath);
	fd = open(SHMRING_SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return shmring__fail(-errno, "open(%s, O_TMPFILE): %s", SHMRING_SHM_DIR, strerror(errno));
	/* fchmod after create: the umask must neither widen nor narrow it. */
	if (fchmod(fd, h.mode) < 0) {
		ret = shmring__fail(-errno, "fchmod %o: %s", h.mode, strerror(errno));
		close(fd);
		return ret;
	}
	ret = build(r, fd, &h, &pl, p, role);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	ret = publish(fd, fpath);
	if (ret < 0)
		unbuild(r); /* closes fd: the unnamed object is gone */
	return ret;
}

int shmring_create_anon(struct shmring *r, const struct shmring_params *p, uint32_t role)
{
	struct shmring__place pl;
	struct shmring_hdr h;
	int fd, ret;

	shmring__clear_detail();
	if (!r)
		return shmring__fail(-EINVAL, "handle is NULL");
	if ((ret = check_params(p)) < 0 || (ret = shmring__check_role(role, false)) < 0 ||
	    (ret = fill_header(&h, p, &pl, true)) < 0)
		return ret;
	h.flags |= SHMRING_F_MEMFD;
	fd = memfd_create("shmring", MFD_CLOEXEC | MFD_ALLOW_SEALING | (pl.hugetlb ? MFD_HUGETLB : 0));
	if (fd < 0)
		return shmring__fail(-errno, "memfd_create%s: %s", pl.hugetlb ? " (huge pages)" : "",
				     strerror(errno));
	if (fchmod(fd, h.mode) < 0) {
		ret = shmring__fail(-errno, "fchmod %o: %s", h.mode, strerror(errno));
		goto fail;
	}
	ret = build(r, fd, &h, &pl, p, role);
	if (ret < 0)
		goto fail;
	/* Nobody can shrink (SIGBUS for every user) or grow it from now on. */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	return 0;
fail:
	close(fd);
	return ret;
}

int shmring_dup(struct shmring *dst, const struct shmring *src, uint32_t role)
{
	struct shmring_mapping *m;
	struct shmring_open_opts o;
	struct stat st;
	int ret;

	shmring__clear_detail();
	if (!dst || !src || !src->map || !src->shared)
		return shmring__fail(-EINVAL, "handle is NULL or closed");
	if ((ret = shmring__check_role(role, true)) < 0)
		return ret;
	m = (struct shmring_mapping *)src->shared;
	if (m->writable == (role != SHMRING_OBSERVER)) {
		/* Same access: share the mapping, so that all handles of a
		 * process (and a fork()ed child's) see the ring at one address. */
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
		ret = attach(dst, m, role, SHMRING_DEFAULT_OPEN_TIMEOUT_MS);
		if (ret < 0)
			mapping_put(m);
		return ret;
	}
	if (fstat(src->fd, &st) < 0)
		return shmring__fail(-errno, "fstat: %s", strerror(errno));
	/* The ring is already trusted through src: accept its owner and mode. */
	memset(&o, 0, sizeof(o));
	o.mode = 07777;
	o.allow_uid = (uint32_t)st.st_uid;
	o.allow_other_uid = 1;
	return shmring_open_fd(dst, src->fd, role, &o);
}

int shmring_close(struct shmring *r)
{
	shmring__clear_detail();
	if (!r)
		return shmring__fail(-EINVAL, "handle is NULL");
	if (!r->map || !r->shared)
		return shmring__fail(-EINVAL, "handle is closed, or was never attached");
	int ret = 0;

	/* A handle inherited through fork() belongs to the parent's entry. */
	if (r->owner_pid == (int32_t)getpid()) {
		const struct shmring_kind_ops *ops = shmring__kind_ops(r->type);

		shmring__wait_release(r);
		if (ops && ops->detach)
			ops->detach(r);
		ret = shmring__ep_unregister(r);
	}
	mapping_put((struct shmring_mapping *)r->shared);
	/* Every later operation on the handle: -EBADF (key), -EINVAL. */
	r->key = 0;
	r->wait.flags = 0;
	r->shared = NULL;
	r->map = NULL;
	r->ctrl = NULL;
	r->data = NULL;
	r->hdr = NULL;
	r->ep = NULL;
	r->fd = -1;
	if (ret == 0)
		shmring__clear_detail(); /* what detach noted on the way is no failure */
	return ret;
}

int shmring_unlink(const char *name)
{
	char path[SHMRING_NAME_MAX + 2];
	int ret;

	shmring__clear_detail();
	if ((ret = shmring__check_name(name, path)) < 0)
		return ret;
	if (shm_unlink(path) < 0)
		return shmring__fail(-errno, "shm_unlink('%s'): %s", path, strerror(errno));
	return 0;
}

int shmring_fd(const struct shmring *r)
{
	shmring__clear_detail();
	if (!r || !r->map)
		return shmring__fail(-EINVAL, "handle is %s", r ? "closed" : "NULL");
	return r->fd;
}
