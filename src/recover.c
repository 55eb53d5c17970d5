/* SPDX-License-Identifier: MIT */
/*
 * shmring_recover(): recovery from dead endpoints, through the kind's
 * recover hook (MPMC: mpmc_recover.c; message rings: msg.c; SPSC and
 * MSG_SPSC only free dead entries, endpoint.c).
 */
#include <errno.h>

#include "internal.h"

int shmring_recover(struct shmring *r)
{
	const struct shmring_kind_ops *ops;
	int ret;

	shmring__clear_detail();
	if (!r || !r->map)
		return shmring__fail(-EINVAL, "handle is %s", r ? "closed" : "NULL");
	if (r->role == SHMRING_OBSERVER)
		return shmring__fail(-EPERM, "an observer's mapping is read-only");
	ops = shmring__kind_ops(r->type);
	if (!ops || !ops->recover)
		return shmring__fail(-EINVAL, "ring type %u has no recovery", r->type);
	ret = ops->recover(r);
	if (ret == -EBUSY && !shmring_errdetail()[0])
		return shmring__fail(ret, "another live process is recovering this ring now");
	if (ret < 0 && !shmring_errdetail()[0])
		return shmring__fail(ret, "recovery failed: %s", shmring_strerror(ret));
	return ret;
}
