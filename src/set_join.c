/* SPDX-License-Identifier: MIT */
/*
 * Ring sets, producer side: a producer joins a set by name (or by the
 * control ring's descriptor), announcing its ring through the set's
 * control ring, and leaves it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <shmring/msg.h>
#include <shmring/set.h>
#include <shmring/wait.h>

#include "endpoint.h"
#include "internal.h"
#include "set_internal.h"

/* ---- producer side ---- */

/* The producer handle and ring name a join announces; checked before the
 * control ring is opened (or waited for). */
static int join_check(const struct shmring *ring, const char *ring_name)
{
	size_t len = ring_name ? strlen(ring_name) : 0;

	if (!ring || ring->role != SHMRING_PRODUCER || len == 0 || len > SHMRING_NAME_MAX)
		return shmring__fail(-EINVAL, "join needs a producer handle and its ring's name");
	return 0;
}

static int join_common(struct shmring_set_link *l, struct shmring *ring, const char *ring_name,
		       uint64_t tag)
{
	struct shmring_set_ctl_rec rec;
	size_t len = strlen(ring_name);
	int ret;

	memset(&rec, 0, sizeof(rec));
	rec.op = CTL_JOIN;
	rec.len = (uint32_t)len;
	rec.tag = tag;
	memcpy(rec.name, ring_name, len);
	/* The doorbell first: the consumer may sleep as soon as it adds us. */
	ring->doorbell = &l->ctl.ctrl->cons_wait;
	ret = shmring_msg_push(&l->ctl, &rec, (uint32_t)(offsetof(struct shmring_set_ctl_rec, name) + len + 1));
	if (ret < 0) {
		ring->doorbell = NULL;
		shmring_close(&l->ctl);
		return ret;
	}
	shmring_msg_wake(&l->ctl);
	return 0;
}

int shmring_set_join_opts(struct shmring_set_link *l, const char *set_name, struct shmring *ring,
			  const char *ring_name, uint64_t tag, const struct shmring_open_opts *opts)
{
	char ctl[SHMRING_NAME_MAX + 8];
	int ret;

	if (!l || !set_name)
		return shmring__fail(-EINVAL, "link or set name is NULL");
	if (!shmring__set_ctl_name(set_name, ctl, sizeof(ctl)))
		return -EINVAL;
	ret = join_check(ring, ring_name);
	if (ret < 0)
		return ret;
	ret = shmring_open(&l->ctl, ctl, SHMRING_PRODUCER, opts);
	if (ret < 0)
		return ret;
	return join_common(l, ring, ring_name, tag);
}

int shmring_set_join(struct shmring_set_link *l, const char *set_name, struct shmring *ring,
		     const char *ring_name, uint64_t tag)
{
	return shmring_set_join_opts(l, set_name, ring, ring_name, tag, NULL);
}

int shmring_set_join_fd(struct shmring_set_link *l, int ctl_fd, struct shmring *ring,
			const char *ring_name, uint64_t tag)
{
	int ret;

	if (!l)
		return shmring__fail(-EINVAL, "link is NULL");
	ret = join_check(ring, ring_name);
	if (ret < 0)
		return ret;
	ret = shmring_open_fd(&l->ctl, ctl_fd, SHMRING_PRODUCER, NULL);
	if (ret < 0)
		return ret;
	return join_common(l, ring, ring_name, tag);
}

int shmring_set_leave(struct shmring_set_link *l, struct shmring *ring)
{
	if (!l)
		return -EINVAL;
	if (ring)
		ring->doorbell = NULL;
	return shmring_close(&l->ctl);
}
