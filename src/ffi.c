/* SPDX-License-Identifier: MIT */
/*
 * Every inline fast-path function compiled once more as an exported
 * symbol, for bindings and dlsym users (the liburing ffi.c pattern).
 */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#define SHMRING_INLINE __attribute__((visibility("default")))
#define SHMRING_FORCE_INLINE SHMRING_INLINE
#include <shmring/shmring.h>
#include <shmring/wait.h>
