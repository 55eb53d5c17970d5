/* SPDX-License-Identifier: MIT */
/* The ring kinds (struct shmring_kind_ops, internal.h), looked up by type. */
#include "internal.h"

static const struct shmring_kind_ops *const kinds[] = {
	&shmring__spsc_ops,
	&shmring__mpmc_ops,
	&shmring__msg_spsc_ops,
	&shmring__msg_mpsc_ops,
	&shmring__bcast_ops,
};

const struct shmring_kind_ops *shmring__kind_ops(uint32_t type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->type == type)
			return kinds[i];
	return NULL;
}
