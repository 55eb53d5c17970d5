/* SPDX-License-Identifier: MIT */
/* libshmring_bridge internals: shared by its source files only. */
#ifndef SHMRING_BRIDGE_INT_H
#define SHMRING_BRIDGE_INT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include <shmring/bridge.h>
#include <shmring/shmring.h>

#define BR_HIDDEN __attribute__((visibility("hidden")))

#include <string.h>

/* Copy a string, cut to fit (NUL-terminated). */
static inline void br_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

struct shmring_bridge {
	struct shmring_bridge_config cfg;
	atomic_int stop;               /* shmring_bridge_stop */
	atomic_int reconnected;        /* set by the reconnected callback */
	atomic_int closing;            /* the connection is being closed: no more messages */
	struct shmring_bridge_shared *sh; /* sidecar mapping, or NULL */
	int sh_fd;
	natsConnection *nc;
	jsCtx *js;
	natsOptions *opts;
	int64_t max_payload;
	int tty;                       /* print a progress line */
};

/* Record the failure text for shmring_bridge_errdetail(); returns err. */
BR_HIDDEN int br_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, and into the sidecar's error field with status FAILED. */
BR_HIDDEN int br_fail_state(struct shmring_bridge *b, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A message on stderr prefixed "shmring-bridge: ". */
BR_HIDDEN void br_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open or create the sidecar of the ring that `r` is attached to, and
 * take ownership of it (-EBUSY if a live bridge owns it). */
BR_HIDDEN int br_sidecar_open(struct shmring_bridge *b, const struct shmring *r, uint32_t direction);
BR_HIDDEN void br_sidecar_close(struct shmring_bridge *b);
BR_HIDDEN void br_set_status(struct shmring_bridge *b, uint32_t st);

/* Connect (retrying with backoff while no server answers), make the
 * JetStream context, and check (or create) the stream. */
BR_HIDDEN int br_connect(struct shmring_bridge *b);
BR_HIDDEN void br_disconnect(struct shmring_bridge *b);
BR_HIDDEN int br_stream_check(struct shmring_bridge *b);
/* -errno for a natsStatus / JetStream error code, with the text recorded. */
BR_HIDDEN int br_nats_err(natsStatus s, jsErrCode jerr, const char *what);

BR_HIDDEN uint64_t br_now_ns(void);
BR_HIDDEN void br_sleep_ms(uint32_t ms);
/* Open the ring named in the configuration as `role`, waiting (with
 * backoff, until stopped) while it does not exist. */
BR_HIDDEN int br_ring_open(struct shmring_bridge *b, struct shmring *r, uint32_t role);

/* The progress line (terminal only), at most every 500 ms. */
BR_HIDDEN void br_progress(struct shmring_bridge *b, uint64_t *last_ns, uint64_t *last_count,
			   uint64_t count);

#endif
