/* SPDX-License-Identifier: MIT */
/* Ring sets, for a library built with them (build_cffi.py --sets). */
#define SHMRING_SET_F_DOORBELL ...

struct pyset { ...; };
struct pyset_batch {
	unsigned char *data;
	size_t len;
	uint32_t *member;
	uint32_t *mlen;
	uint64_t *tag;
	size_t n;
	...;
};
struct pyset_link { ...; };

int pyset_create(struct pyset *ps, const char *name, uint32_t flags);
int pyset_destroy(struct pyset *ps);
int pyset_add(struct pyset *ps, struct pyring *h, uint64_t tag);
int pyset_add_name(struct pyset *ps, const char *name, uint64_t tag);
int pyset_remove(struct pyset *ps, uint32_t member);
int pyset_poll(struct pyset *ps, uint32_t budget, struct pyset_batch *b);
void pyset_batch_free(struct pyset_batch *b);
int pyset_wait(struct pyset *ps, int64_t timeout_ns);
int pyset_fd(struct pyset *ps);
int pyset_join(struct pyset_link *l, const char *set_name, struct pyring *h,
	       const char *ring_name, uint64_t tag);
int pyset_leave(struct pyset_link *l, struct pyring *h);
