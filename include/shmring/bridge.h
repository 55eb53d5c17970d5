/* SPDX-License-Identifier: MIT */
/*
 * shmring bridge: a ring to a NATS JetStream stream, and a stream to a ring
 * (libshmring_bridge, built with the meson option `bridge`; it links
 * libnats, the core library does not). docs/bridge.md says what the
 * delivery guarantee is and how each step keeps it.
 *
 * Ring -> stream: the bridge attaches to the ring as its consumer (SPSC,
 * MSG_SPSC, MSG_MPSC; MPMC as one of its consumers), reads each message in
 * place and publishes it asynchronously with the header
 *   Nats-Msg-Id: <ring name>:<ring identity>:<position>
 * where the identity is the ring's creation time and creator (so a ring
 * created again under the same name starts a new sequence of ids). Ring
 * space is released in order, and only once the stream has acknowledged
 * every message before it: a bridge, server or network failure loses
 * nothing, and what is published again is dropped by the stream's
 * duplicate window. With `order = chain` (the default) each message also
 * carries Nats-Expected-Last-Msg-Id (the message before it), so the stream
 * stores the ring's messages in ring order even when one is lost in
 * flight and a later one arrives.
 *
 * Stream -> ring: a durable pull consumer fetches batches and the bridge
 * pushes each message into the ring as its only producer (SPSC or
 * MSG_SPSC). The last stream sequence committed to the ring is kept next
 * to it in shared memory, with an intent record written before each push,
 * so that a restarted bridge knows exactly which messages the ring holds:
 * each stream message enters the ring once.
 *
 * The state of a bridge lives in a sidecar object "<ring>.bridge" (same
 * permissions as the ring) laid out as struct shmring_bridge_shared below;
 * shmring-dump shows it next to the ring.
 *
 * Every function returns 0 (or a count) or a negative errno; the text of
 * the last failure of the calling thread is shmring_bridge_errdetail().
 */
#ifndef SHMRING_BRIDGE_H
#define SHMRING_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/layout.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sidecar layout (shared memory; read by shmring-dump) ---- */

#define SHMRING_BRIDGE_MAGIC 0x31474442524d4853ULL /* "SHMRBDG1" in little endian */
#define SHMRING_BRIDGE_VERSION 1u
#define SHMRING_BRIDGE_SIZE 4096u
#define SHMRING_BRIDGE_SUFFIX ".bridge"

/* shmring_bridge_shared.direction, shmring_bridge_config.direction */
#define SHMRING_BRIDGE_TO_STREAM 1u
#define SHMRING_BRIDGE_FROM_STREAM 2u

/* shmring_bridge_shared.status */
#define SHMRING_BRIDGE_ST_STOPPED 0u    /* no bridge runs */
#define SHMRING_BRIDGE_ST_CONNECTING 1u /* waiting for a server (retrying with backoff) */
#define SHMRING_BRIDGE_ST_RUNNING 2u
#define SHMRING_BRIDGE_ST_FAILED 3u     /* stopped on an error: last_error says which */

/*
 * The sidecar object. Written only by the bridge that owns it (owner_pid,
 * alive); readers take the fields as they find them (each is one atomic
 * word; a reader never writes). The positions are the ring's own
 * positions (slots, or bytes for message rings).
 */
struct shmring_bridge_shared {
	uint64_t magic;                 /*   0: SHMRING_BRIDGE_MAGIC, stored last at creation */
	uint32_t version;               /*   8: SHMRING_BRIDGE_VERSION */
	uint32_t size;                  /*  12: SHMRING_BRIDGE_SIZE */
	SHMRING_ATOMIC(uint32_t) direction;  /* 16: SHMRING_BRIDGE_TO_STREAM / FROM_STREAM */
	SHMRING_ATOMIC(uint32_t) status;     /* 20: SHMRING_BRIDGE_ST_* */
	SHMRING_ATOMIC(int32_t) owner_pid;   /* 24: the bridge running on the ring, 0: none */
	SHMRING_ATOMIC(int32_t) last_error;  /* 28: -errno of the failure that stopped it */
	SHMRING_ATOMIC(uint64_t) owner_start; /* 32: its start time (clock ticks after boot) */
	SHMRING_ATOMIC(uint64_t) ring_create_ns; /* 40: identity of the ring the positions belong to: */
	SHMRING_ATOMIC(int64_t) ring_creator;    /* 48: its create_time_ns and creator pid */
	SHMRING_ATOMIC(uint64_t) started_ns;     /* 56: CLOCK_REALTIME when the owner started */
	/* ring -> stream */
	SHMRING_ATOMIC(uint64_t) acked_end;   /*  64: ring position released up to (all acked) */
	SHMRING_ATOMIC(uint64_t) last_pos;    /*  72: position of the last message acked */
	SHMRING_ATOMIC(uint64_t) has_last;    /*  80: 1 once last_pos names a message */
	SHMRING_ATOMIC(uint64_t) published;   /*  88: publishes sent (republished ones included) */
	SHMRING_ATOMIC(uint64_t) acked;       /*  96: messages acknowledged by the stream */
	SHMRING_ATOMIC(uint64_t) duplicates;  /* 104: acknowledgements that said duplicate */
	SHMRING_ATOMIC(uint64_t) pending;     /* 112: publishes waiting for their acknowledgement */
	SHMRING_ATOMIC(uint64_t) resyncs;     /* 120: times in-flight messages were sent again */
	SHMRING_ATOMIC(uint64_t) stream_seq;  /* 128: stream sequence of the last acknowledgement */
	SHMRING_ATOMIC(uint64_t) refused;     /* 136: messages refused (too large for the other side) */
	SHMRING_ATOMIC(uint64_t) lag;         /* 144: to: messages in the ring not yet acked;
					       *      from: stream messages not yet delivered */
	SHMRING_ATOMIC(uint64_t) reconnects;  /* 152: connections lost and made again */
	/* stream -> ring */
	SHMRING_ATOMIC(uint64_t) last_seq;    /* 160: last stream sequence committed to the ring */
	SHMRING_ATOMIC(uint64_t) intent_seq;  /* 168: stream sequence being pushed, or 0 */
	SHMRING_ATOMIC(uint64_t) intent_pos;  /* 176: ring producer position before that push */
	SHMRING_ATOMIC(uint64_t) committed;   /* 184: messages pushed into the ring */
	SHMRING_ATOMIC(uint64_t) skipped;     /* 192: redelivered messages the ring already held */
	SHMRING_ATOMIC(uint64_t) consumer_resets; /* 200: durable consumer repositioned at last_seq + 1 */
	/* ring -> stream, MPMC: the endpoint entry of the bridge (or of a
	 * dead one whose claim is being published again), so that a
	 * restarted bridge finds the claim a killed one held (docs/bridge.md) */
	SHMRING_ATOMIC(uint64_t) mp_start;    /* 208: its process start time */
	SHMRING_ATOMIC(int32_t) mp_pid;       /* 216: its process */
	SHMRING_ATOMIC(uint32_t) mp_ep;       /* 220: its endpoint entry */
	SHMRING_ATOMIC(uint64_t) salvaged;    /* 224: messages published from a dead bridge's claim */
	SHMRING_ATOMIC(uint64_t) lost;        /* 232: messages of a dead bridge's claim that the ring's
					       *      recovery released before they could be */
	uint8_t reserved0[16];                /* 240 */
	char stream[64];                      /* 256: stream name (NUL-terminated) */
	char subject[256];                    /* 320: subject published to, or filter */
	char durable[64];                     /* 576: durable consumer name */
	char error[256];                      /* 640: text of last_error */
	uint8_t reserved1[SHMRING_BRIDGE_SIZE - 896];
};

SHMRING_STATIC_ASSERT(sizeof(struct shmring_bridge_shared) == SHMRING_BRIDGE_SIZE, "bridge size");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_bridge_shared, acked_end) == 64, "bridge acked_end");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_bridge_shared, last_seq) == 160, "bridge last_seq");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_bridge_shared, stream) == 256, "bridge stream");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_bridge_shared, error) == 640, "bridge error");

/* ---- library ---- */

#if defined(__GNUC__) || defined(__clang__)
#define SHMRING_BRIDGE_API __attribute__((visibility("default")))
#else
#define SHMRING_BRIDGE_API
#endif

#define SHMRING_BRIDGE_STR 256
#define SHMRING_BRIDGE_PATH 1024

/* shmring_bridge_config.order */
#define SHMRING_BRIDGE_ORDER_CHAIN 0u /* Nats-Expected-Last-Msg-Id: the stream enforces ring order */
#define SHMRING_BRIDGE_ORDER_NONE 1u  /* ids only (for a stream other publishers share) */

/*
 * What a bridge does. shmring_bridge_config_init() sets the defaults;
 * shmring_bridge_config_set() takes the keys of the config file and of
 * the command line (the long option names without "--", '-' or '_'):
 *
 *   direction     to-stream | from-stream
 *   ring          ring name ("/orders")
 *   ring_type     spsc | msg_spsc | msg_mpsc | mpmc: expected type (any if unset);
 *                 from-stream: the type of a ring it creates
 *   ring_capacity, ring_slot   from-stream: create the ring if it does not exist
 *   servers       nats://host:port[,nats://...]   (cluster: several URLs)
 *   creds         credentials file (JWT + NKey seed)
 *   user, password, token
 *   tls           yes | no (implied by tls_ca / tls_cert)
 *   tls_ca, tls_cert, tls_key, tls_hostname, tls_insecure (yes: no verification)
 *   stream, subject, durable
 *   create_stream yes: create the stream if missing (replicas, dup_window_ms)
 *   replicas, dup_window_ms
 *   batch         messages per fetch (from-stream)
 *   max_pending   publishes in flight (to-stream)
 *   ack_wait_ms   publish acknowledgement timeout; consumer ack wait
 *   order         chain | none
 *   retry_max_ms  longest wait between connection attempts
 *   send_asap     yes: write each publish, ack and pull request at once
 *                 (lower latency, more system calls); no (default): libnats
 *                 gathers writes for up to 1 ms
 *   name          connection name shown by the server
 */
struct shmring_bridge_config {
	uint32_t direction;
	uint32_t ring_type;     /* SHMRING_SPSC ...; 0: any */
	uint64_t ring_capacity; /* from-stream, ring missing: create it (0: do not) */
	uint32_t ring_slot;
	uint32_t batch;
	uint32_t max_pending;
	uint32_t ack_wait_ms;
	uint32_t order;
	uint32_t replicas;
	uint32_t create_stream;
	uint32_t tls;
	uint32_t tls_insecure;
	uint32_t retry_max_ms;
	uint32_t send_asap;
	uint32_t reserved0;
	uint64_t dup_window_ms;
	char ring[SHMRING_BRIDGE_STR];
	char servers[SHMRING_BRIDGE_PATH];
	char creds[SHMRING_BRIDGE_PATH];
	char user[SHMRING_BRIDGE_STR];
	char password[SHMRING_BRIDGE_STR];
	char token[SHMRING_BRIDGE_STR];
	char tls_ca[SHMRING_BRIDGE_PATH];
	char tls_cert[SHMRING_BRIDGE_PATH];
	char tls_key[SHMRING_BRIDGE_PATH];
	char tls_hostname[SHMRING_BRIDGE_STR];
	char stream[64];
	char subject[SHMRING_BRIDGE_STR];
	char durable[64];
	char name[SHMRING_BRIDGE_STR];
};

/* Defaults: servers nats://127.0.0.1:4222, batch 256, max_pending 4096,
 * ack_wait_ms 5000, order chain, replicas 1, dup_window_ms 120000,
 * retry_max_ms 5000. */
SHMRING_BRIDGE_API void shmring_bridge_config_init(struct shmring_bridge_config *c);

/* Set one key (see above). Returns 0, or -EINVAL (unknown key or bad
 * value: the detail says which), -ENAMETOOLONG. */
SHMRING_BRIDGE_API int shmring_bridge_config_set(struct shmring_bridge_config *c,
						 const char *key, const char *value);

/* Read "key = value" lines ('#' starts a comment). Returns 0, or the
 * -errno of fopen, or -EINVAL naming the file and line. */
SHMRING_BRIDGE_API int shmring_bridge_config_parse_file(struct shmring_bridge_config *c,
							const char *path);

/* Is the configuration complete for its direction? Returns 0 or -EINVAL. */
SHMRING_BRIDGE_API int shmring_bridge_config_check(const struct shmring_bridge_config *c);

struct shmring_bridge;

/* A bridge for `c` (copied). Nothing is connected or attached yet.
 * Returns 0, -EINVAL (shmring_bridge_config_check) or -ENOMEM. */
SHMRING_BRIDGE_API int shmring_bridge_create(struct shmring_bridge **b,
					     const struct shmring_bridge_config *c);

/*
 * Run until shmring_bridge_stop() or a failure that retrying cannot mend.
 * A server that cannot be reached is retried with backoff (state
 * CONNECTING; nothing is lost meanwhile). Returns 0 (stopped), or
 * -ENOENT (stream missing, create_stream not set), -EACCES
 * (authorization refused), -EMSGSIZE (a message larger than the other
 * side takes: it stays where it is, counted in `refused`), -EBUSY
 * (another bridge runs on the ring), -EPROTO (the stream holds messages
 * that break the order chain), -ENOTSUP (ring type not bridged in that
 * direction), -ESTALE (from-stream: the ring's state belongs to another
 * stream, or the stream ends before the last sequence the ring holds: it
 * was made again), or what opening the ring returns.
 */
SHMRING_BRIDGE_API int shmring_bridge_to_stream_run(struct shmring_bridge *b);
SHMRING_BRIDGE_API int shmring_bridge_from_stream_run(struct shmring_bridge *b);
/* The one of the two that c->direction names. */
SHMRING_BRIDGE_API int shmring_bridge_run(struct shmring_bridge *b);

/* Ask a running bridge to stop (async-signal-safe): a ring -> stream
 * bridge waits up to ack_wait_ms for the acknowledgements in flight. */
SHMRING_BRIDGE_API void shmring_bridge_stop(struct shmring_bridge *b);

/* Copy of the bridge's state (its sidecar, or zeroes before it attached). */
SHMRING_BRIDGE_API int shmring_bridge_state(const struct shmring_bridge *b,
					    struct shmring_bridge_shared *out);

/* Read the sidecar of ring `ring` (read-only). Returns 0, -ENOENT (no
 * bridge ever ran on it), -EPROTO (not a bridge object) or open's -errno. */
SHMRING_BRIDGE_API int shmring_bridge_state_read(const char *ring, struct shmring_bridge_shared *out);

SHMRING_BRIDGE_API void shmring_bridge_destroy(struct shmring_bridge *b);

/* Text of the calling thread's last bridge failure ("" if none). */
SHMRING_BRIDGE_API const char *shmring_bridge_errdetail(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BRIDGE_H */
