/* SPDX-License-Identifier: MIT */
/* Error text and per-thread failure detail. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char detail[256];

int shmring__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err;
}

void shmring__clear_detail(void)
{
	detail[0] = '\0';
}

const char *shmring_errdetail(void)
{
	return detail;
}

const char *shmring_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case EAGAIN: return "ring full or empty";
	case EPROTO: return "not a valid shmring object, or its state is corrupt";
	case EEXIST: return "a shared-memory object of that name already exists";
	case ENOENT: return "no shared-memory object of that name";
	case ETIMEDOUT: return "timed out";
	case EBUSY: return "that endpoint is already attached by a live process";
	case EMSGSIZE: return "message larger than the ring allows, or buffer too small";
	case ELOOP: return "the name is a symbolic link";
	case EPERM: return "the object belongs to another user";
	case EACCES: return "permission denied, or the object's mode is wider than accepted";
	case ENOSPC: return "no space left (shared memory full, or endpoint table full)";
	case EINVAL: return "invalid argument";
	case ENOTSUP: return "not supported";
	default: {
		const char *s = strerrordesc_np(err);
		return s ? s : "unknown error";
	}
	}
}
