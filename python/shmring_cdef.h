/* SPDX-License-Identifier: MIT */
/*
 * What the Python side of the binding sees of the C side, in cffi's cdef
 * syntax (build_cffi.py): the glue functions of shmring_glue.h, the
 * library calls that need no handle, and the constants. `...` leaves a
 * value or the rest of a struct to the C compiler (API mode).
 */
#define SHMRING_VERSION_MAJOR ...
#define SHMRING_VERSION_MINOR ...
#define SHMRING_VERSION_PATCH ...

#define SHMRING_SPSC ...
#define SHMRING_MPMC ...
#define SHMRING_MSG_SPSC ...
#define SHMRING_MSG_MPSC ...

#define SHMRING_ROLE_NONE ...
#define SHMRING_PRODUCER ...
#define SHMRING_CONSUMER ...
#define SHMRING_OBSERVER ...

#define SHMRING_F_COUNTERS ...
#define SHMRING_F_SOLO ...
#define SHMRING_NAME_MAX ...
#define SHMRING_SLOT_MAX ...
#define SHMRING_DEFAULT_MODE ...

#define SHMRING_WAIT_SPIN_SLEEP ...
#define SHMRING_WAIT_SPIN ...
#define SHMRING_WAIT_SLEEP ...

struct shmring {
	uint64_t pos;
	uint32_t slot_size;
	uint32_t flags;
	uint32_t role;
	uint64_t capacity;
	uint32_t type;
	...;
};

struct pyring {
	struct shmring r;
	uint32_t attached;
	uint64_t zc;
	...;
};

const char *shmring_strerror(int err);
const char *shmring_errdetail(void);
int shmring_unlink(const char *name);
int shmring_unlink_stale(const char *name);

const char *pyshm_detail(void);
int pyshm_detail_own(void);

int pyr_create(struct pyring *h, const char *name, uint32_t type, uint64_t capacity,
	       uint32_t slot_size, uint32_t role, uint32_t mode, uint32_t flags,
	       uint32_t max_endpoints);
int pyr_open(struct pyring *h, const char *name, int fd, uint32_t role, uint32_t type,
	     uint32_t slot_size, uint32_t mode, uint32_t timeout_ms);
int pyr_dup(struct pyring *dst, struct pyring *src, uint32_t role);
int pyr_close(struct pyring *h);
int pyr_policy(struct pyring *h, uint32_t mode, uint32_t spin_ns, uint32_t slice_ms,
	       uint32_t wake_batch);
int pyr_fd(struct pyring *h);
int pyr_recover(struct pyring *h);
int pyr_wake(struct pyring *h);
int64_t pyr_fill(struct pyring *h);

int pyr_push(struct pyring *h, const char *p, size_t len, int64_t timeout_ns);
int64_t pyr_pop(struct pyring *h, char *buf, size_t cap, int64_t timeout_ns);
int64_t pyr_push_burst(struct pyring *h, const char *p, const uint32_t *lens, uint64_t n,
		       int64_t timeout_ns);
int64_t pyr_pop_burst(struct pyring *h, char *buf, size_t cap, uint32_t *lens, uint64_t n,
		      int64_t timeout_ns);

int64_t pyr_reserve(struct pyring *h, uint64_t n, char **ptrs, int64_t timeout_ns);
int pyr_commit(struct pyring *h, uint64_t n);
int pyr_abort(struct pyring *h);
int64_t pyr_peek(struct pyring *h, uint64_t n, char **ptrs, uint32_t *lens,
			      int64_t timeout_ns);
int pyr_release(struct pyring *h, uint64_t n);
