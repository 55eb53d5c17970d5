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

/* Statistics (stats.h): read only, any role. */
struct shmring_ring_side {
	uint64_t pos;
	uint64_t claim;
	uint64_t gone;
	uint32_t live;
	uint32_t dead;
	uint32_t waiters;
	uint64_t blocked;
	uint64_t high_water;
	uint64_t sleeps;
	uint64_t wakes;
	uint64_t wakes_empty;
	uint64_t futex_calls;
	uint64_t skipped;
	uint64_t lost;
	uint64_t corrupt;
	uint64_t solo_grants;
	uint64_t solo_revokes;
	...;
};
struct shmring_ring_stats {
	uint32_t size;
	uint32_t valid;
	uint32_t type;
	uint32_t flags;
	uint64_t capacity;
	uint32_t slot_size;
	uint32_t slot_stride;
	uint64_t total_size;
	uint64_t init_pos;
	uint64_t head;
	uint64_t tail;
	uint64_t fill;
	uint32_t ep_count;
	uint32_t endpoints;
	struct shmring_ring_side prod;
	struct shmring_ring_side cons;
	...;
};
#define SHMRING_STATS_BASE ...
#define SHMRING_STATS_COUNTERS ...
#define SHMRING_STATS_CONSISTENT ...
int shmring_stats(const struct shmring *r, struct shmring_ring_stats *out);
