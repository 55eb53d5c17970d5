/* SPDX-License-Identifier: MIT */
/*
 * shmring shared-memory ABI: the one definition of what a ring object holds.
 *
 * The library, the inline fast paths and the dump tool all read this file.
 * Everything here lives in shared memory and may be written by another
 * process, so nothing in it is trusted: openers copy the header once,
 * validate the copy against the object's real size, and use only the copy.
 *
 * An object is one mapping:
 *
 *   offset 0      struct shmring_hdr       header page (immutable once ready)
 *   offset 4096   struct shmring_ctrl      control blocks, 128 bytes each
 *   offset 6144   struct shmring_endpoint  ep_count entries, 128 bytes each
 *   data_off      data area                data_size bytes, page aligned
 *
 * Every word that a different party writes sits in its own 128-byte block
 * (two cache lines, so the adjacent-line prefetcher cannot make two parties
 * share a pair of lines). Positions are 64-bit counters that only grow;
 * index = position & (capacity - 1), so a corrupt position can never index
 * outside the data area. Futex words are 32-bit and never the counters.
 */
#ifndef SHMRING_LAYOUT_H
#define SHMRING_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/internal/atomic.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_MAGIC 0x31474e49524d4853ULL /* "SHMRING1" in little endian */
#define SHMRING_ABI_VERSION 4u
#define SHMRING_READY 0x59444552u /* "REDY": the header is complete */

#define SHMRING_BLOCK 128u     /* separation between parties */
#define SHMRING_HDR_SIZE 4096u /* header page */
#define SHMRING_CTRL_OFF 4096u
#define SHMRING_CTRL_SIZE 2048u
#define SHMRING_EP_OFF (SHMRING_CTRL_OFF + SHMRING_CTRL_SIZE)
#define SHMRING_EP_SIZE 128u
#define SHMRING_EP_MAX 4096u /* largest endpoint table an opener accepts */

/* shmring_hdr.kind */
#define SHMRING_KIND_SLOTS 1u /* fixed-size slots */
#define SHMRING_KIND_MSG 2u   /* variable-length records in a byte ring */
#define SHMRING_KIND_BCAST 3u /* fixed-size slots, one producer, readers that each see every
			       * message (broadcast.h) */
/* shmring_hdr.prod_mode, cons_mode */
#define SHMRING_MODE_SINGLE 1u
#define SHMRING_MODE_MULTI 2u

/* shmring_hdr.flags */
#define SHMRING_F_COUNTERS 0x1u /* keep the optional fast-path counters */
#define SHMRING_F_MEMFD 0x2u    /* anonymous (memfd) object, no name */
#define SHMRING_F_NO_SOLO 0x4u  /* MPMC: every claim by compare-and-swap (the default) */
#define SHMRING_F_SOLO 0x8u     /* MPMC: opt in to the claim mode (mpmc.h, CLAIM MODE) */
#define SHMRING_F_ALL 0xfu     /* the flags of the slot and message rings */
#define SHMRING_F_LOSSY 0x10u  /* broadcast: the producer never waits; lapped readers learn of
				* their loss (broadcast.h). Outside SHMRING_F_ALL, which keeps
				* its value: only broadcast rings accept it (kind ops flags) */

/*
 * The header page. Written by the creator before it stores `ready`
 * (release); read by openers after they load `ready` (acquire). Every
 * field before hdr_check is immutable and covered by it, so that a
 * change an opener could not tell from a valid value (slot_size or
 * ep_count within the same stride or page, flags, init_pos, the creator
 * fields) is refused: hdr_check detects corruption, not a forger.
 */
struct shmring_hdr {
	uint64_t magic;          /*   0: SHMRING_MAGIC */
	uint32_t abi_version;    /*   8: SHMRING_ABI_VERSION */
	uint32_t hdr_size;       /*  12: sizeof(struct shmring_hdr) */
	uint16_t kind;           /*  16: SHMRING_KIND_* */
	uint8_t prod_mode;       /*  18: SHMRING_MODE_* */
	uint8_t cons_mode;       /*  19: SHMRING_MODE_* */
	uint32_t flags;          /*  20: SHMRING_F_* */
	uint32_t slot_size;      /*  24: payload bytes per slot; message ring: largest message */
	uint32_t slot_stride;    /*  28: bytes from one slot to the next (slot rings) */
	uint64_t capacity;       /*  32: slots, or bytes for a message ring; a power of two */
	uint64_t total_size;     /*  40: size of the whole object */
	uint64_t ctrl_off;       /*  48: SHMRING_CTRL_OFF */
	uint64_t ep_off;         /*  56: SHMRING_EP_OFF */
	uint32_t ep_count;       /*  64: endpoint table entries */
	uint32_t mode;           /*  68: permission bits the creator asked for */
	uint64_t data_off;       /*  72: page aligned */
	uint64_t data_size;      /*  80 */
	int32_t creator_pid;     /*  88 */
	uint32_t creator_uid;    /*  92 */
	uint64_t creator_start;  /*  96: process start, clock ticks after boot */
	uint64_t create_time_ns; /* 104: CLOCK_REALTIME */
	int32_t place_node;      /* 112: NUMA node asked for (NEAR/LOCAL: as resolved), -1 for none */
	uint32_t place_flags;    /* 116: SHMRING_PLACE_* request, plus SHMRING_PLACE_FELL_BACK (topo.h) */
	uint64_t page_size;      /* 120: page size of the layout (huge page size for huge pages) */
	uint64_t init_pos;       /* 128: first position (wrap-around tests seed it) */
	uint64_t place_cpus[4];  /* 136: SHMRING_PLACE_NEAR: the CPUs asked for, bit n = CPU n */
	uint64_t hdr_check;      /* 168: FNV-1a (64-bit) of bytes 0..167 (shmring_hdr_check) */
	uint8_t reserved0[80];   /* 176: zero */
	SHMRING_ATOMIC(uint32_t) ready; /* 256: SHMRING_READY once complete */
	uint8_t reserved1[124];  /* 260: zero */
};

/*
 * One side's indices. For a single producer or consumer only that endpoint
 * writes the block; in multi mode all endpoints of that side write it.
 */
struct shmring_side {
	SHMRING_ATOMIC(uint64_t) pos;    /*  0: published position: producer head, consumer tail */
	SHMRING_ATOMIC(uint64_t) claim;  /*  8: multi mode: next position to claim */
	SHMRING_ATOMIC(uint64_t) cached; /* 16: the other side's position as this side last saw it */
	SHMRING_ATOMIC(uint64_t) gone;   /* 24: dead endpoints of this side whose entries were
					  *     freed while no live one of the side was left
					  *     (wait.h: the other side's waiters learn of the
					  *     death through this count) */
	uint8_t pad[96];
};

/*
 * A futex block: the word a side sleeps on, and how many are asleep.
 * 32-bit and aligned as futex(2) requires; never FUTEX_PRIVATE_FLAG.
 */
struct shmring_wait {
	SHMRING_ATOMIC(uint32_t) futex;   /* 0: changed by every wake */
	SHMRING_ATOMIC(uint32_t) waiters; /* 4: sleepers, published before sleeping */
	SHMRING_ATOMIC(uint32_t) light;   /* 8: nonzero once a waker relies on the sleeper's
					   *    membarrier instead of its own fence (wait.h) */
	SHMRING_ATOMIC(uint32_t) doorbell; /* 12: ring-set consumers that sleep on their set's
					    *     doorbell instead of this word (set.h) */
	uint8_t pad[112];
};

/* Counters written by one side (SHMRING_F_COUNTERS). */
struct shmring_stats {
	SHMRING_ATOMIC(uint64_t) blocked;     /*   0: try op found the ring full (producer) / empty (consumer) */
	SHMRING_ATOMIC(uint64_t) high_water;  /*   8: producer: most slots (bytes) seen in use */
	SHMRING_ATOMIC(uint64_t) sleeps;      /*  16: futex waits entered */
	SHMRING_ATOMIC(uint64_t) wakes;       /*  24: futex wakes issued */
	SHMRING_ATOMIC(uint64_t) wakes_empty; /*  32: wakes that found nobody asleep */
	SHMRING_ATOMIC(uint64_t) futex_calls; /*  40: futex system calls of any kind */
	SHMRING_ATOMIC(uint64_t) skipped;     /*  48: slots or records given up by recovery */
	SHMRING_ATOMIC(uint64_t) corrupt;     /*  56: inconsistent peer state detected */
	SHMRING_ATOMIC(uint64_t) lost;        /*  64: messages held by a dead consumer, given up by recovery */
	SHMRING_ATOMIC(uint64_t) solo_grants; /*  72: MPMC: claim mode granted or handed on (mpmc.h) */
	SHMRING_ATOMIC(uint64_t) solo_revokes;/*  80: MPMC: claim mode taken back */
	uint64_t reserved[5];                 /*  88 */
};

struct shmring_ctrl {
	struct shmring_side prod;        /*    0: producer head */
	struct shmring_side cons;        /*  128: consumer tail */
	struct shmring_wait prod_wait;   /*  256: producers sleep here while full */
	struct shmring_wait cons_wait;   /*  384: consumers sleep here while empty */
	struct shmring_stats prod_stats; /*  512 */
	struct shmring_stats cons_stats; /*  640 */
	uint8_t kind_blocks[1280];       /*  768: 10 blocks kept for ring kinds */
};

/*
 * shmring_endpoint.state. A BUSY word also names the process that holds
 * it: SHMRING_EP_BUSY_BY(pid), set by the one compare-and-swap that takes
 * the entry, so an entry whose holder was killed before it filled the
 * entry in (or freed it) is recognised (holder dead) and taken back by
 * registration and recovery. Linux pids fit in 22 bits. Compare BUSY
 * words through SHMRING_EP_STATE().
 */
#define SHMRING_EP_FREE 0u
#define SHMRING_EP_BUSY 1u   /* being filled in or taken over */
#define SHMRING_EP_ACTIVE 2u
#define SHMRING_EP_STATE(w) ((uint32_t)(w) & 3u)
#define SHMRING_EP_BUSY_BY(pid) (SHMRING_EP_BUSY | (uint32_t)(pid) << 2)
#define SHMRING_EP_BUSY_PID(w) ((int32_t)((uint32_t)(w) >> 2)) /* 0: unknown holder */

/* shmring_endpoint.role, and the role argument of open/create */
#define SHMRING_ROLE_NONE 0u
#define SHMRING_PRODUCER 1u
#define SHMRING_CONSUMER 2u
#define SHMRING_OBSERVER 3u

#define SHMRING_NO_CLAIM UINT64_MAX

/*
 * One attached producer or consumer. A single producer always uses entry
 * 0, a single consumer entry 1; multi-mode endpoints take any free entry
 * from 2 on. Each entry is its own block, so claim fields written on the
 * fast path by one endpoint share no line with another's.
 *
 * A broadcast ring's reader (SHMRING_CONSUMER, entries from 2 on) uses
 * four fields for its own purpose (broadcast.h):
 *   claim_pos  the next position it reads, stored by the reader (release)
 *              after each read; SHMRING_NO_CLAIM while it is no member of
 *              the producer's gating set (joining, left)
 *   claim_end  evictions: how many times the producer (or a recovery)
 *              evicted it from the gating set; only ever raised, by CAS
 *   taken      evictions the reader has acknowledged (stored by the
 *              reader when it rejoins); the reader gates the producer
 *              only while taken == claim_end
 *   ops        messages it lost in total (stored by the reader)
 */
struct shmring_endpoint {
	SHMRING_ATOMIC(uint32_t) state;      /*  0: SHMRING_EP_* */
	SHMRING_ATOMIC(uint32_t) role;       /*  4: SHMRING_PRODUCER / CONSUMER */
	SHMRING_ATOMIC(int32_t) pid;         /*  8 */
	SHMRING_ATOMIC(int32_t) tid;         /* 12 */
	SHMRING_ATOMIC(uint64_t) start_time; /* 16: process start, clock ticks after boot */
	SHMRING_ATOMIC(uint64_t) attach_ns;  /* 24: CLOCK_REALTIME at attach */
	SHMRING_ATOMIC(uint64_t) claim_pos;  /* 32: multi mode: first position claimed, not finished */
	SHMRING_ATOMIC(uint64_t) claim_end;  /* 40: one past the last claimed position; MPMC: claim_pos - n
	                                      *     while the claim of n is announced but not yet won,
	                                      *     claim_pos when nothing is claimed (see mpmc.h) */
	SHMRING_ATOMIC(uint64_t) ops;        /* 48: operations completed (counters on) */
	SHMRING_ATOMIC(uint64_t) taken;      /* 56: MPMC consumer: messages a blocking pop took
	                                      *     (claim dropped) and has not yet returned */
	uint8_t pad[64];
};

/*
 * Slot rings: each slot is an 8-byte sequence word then the payload,
 * s = 8 + round_up(slot_size, 8) bytes. The stride (slot to slot) is the
 * power of two >= max(s, 16) up to 64; above, SPSC and broadcast rings
 * (one producer) pack the slots (stride s, so a slot may cross a cache
 * line) and MPMC rounds s up to a multiple of 64 (src/spsc.c,
 * shmring__slot_geometry).
 */
#define SHMRING_SLOT_HDR 8u

/*
 * MPMC: ctrl->kind_blocks[0..127]. The slot sequence word of an MPMC ring
 * is (position << 2) | SHMRING_MPMC_* for the position it last held.
 */
struct shmring_mpmc_block {
	SHMRING_ATOMIC(uint32_t) ep_hi;          /*   0: one past the highest endpoint entry ever used */
	SHMRING_ATOMIC(int32_t) recover_pid;     /*   4: process running shmring_recover, 0 if none */
	SHMRING_ATOMIC(uint64_t) recover_start;  /*   8: its start time */
	SHMRING_ATOMIC(uint32_t) solo[2];        /*  16: claim mode of the producers, consumers:
	                                          *      SHMRING_MPMC_SOLO_* (mpmc.h) */
	SHMRING_ATOMIC(uint64_t) solo_ns[2];     /*  24: CLOCK_MONOTONIC of the last grant */
	uint8_t pad[88];
};
#define SHMRING_MPMC_PUB 1u    /* holds the message of that position */
#define SHMRING_MPMC_SKIP 2u   /* given up by recovery: its producer died */
#define SHMRING_MPMC_CANCEL 3u /* reserved, then given back unwritten by its producer */
/*
 * shmring_mpmc_block.solo[side] (side 0 producers, 1 consumers): 0 while
 * every endpoint of the side claims by compare-and-swap; otherwise
 * (entry index << 2) | state: that entry claims with plain stores (SOLO),
 * or is having that taken back (REVOKING, then FENCED once the barrier
 * that makes its next claim see it has run). See mpmc.h.
 */
#define SHMRING_MPMC_SOLO 1u
#define SHMRING_MPMC_REVOKING 2u
#define SHMRING_MPMC_FENCED 3u
#define SHMRING_MPMC_SOLO_WORD(idx, st) ((uint32_t)(idx) << 2 | (uint32_t)(st))

/*
 * Broadcast rings (broadcast.h). The slot sequence word of position p is
 * 2p + 1 while the producer writes it and 2p + 2 once it holds p.
 * ctrl->kind_blocks[0..127]: written by the producer (evict_ns by the
 * creator, once, before the ring is ready).
 */
struct shmring_bcast_block {
	SHMRING_ATOMIC(uint64_t) evict_ns; /*   0: lossless: evict a live reader that kept the producer
					    *      gated at one position this long; 0: never */
	SHMRING_ATOMIC(uint64_t) limit;    /*   8: lossless: the position the producer may write up to
					    *      (excluded), as of its last scan of the readers */
	SHMRING_ATOMIC(uint64_t) scans;    /*  16: scans of the readers' positions */
	uint8_t pad[104];
};
/* ctrl->kind_blocks[128..255]: written by whoever evicts (producer, recovery). */
struct shmring_bcast_evict {
	SHMRING_ATOMIC(uint64_t) evictions; /* 0: readers evicted from the gating set (dead, or past
					     *    evict_ns), by atomic increment */
	uint8_t pad[120];
};

SHMRING_STATIC_ASSERT(sizeof(struct shmring_hdr) == 384, "hdr size");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, capacity) == 32, "hdr capacity");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, data_off) == 72, "hdr data_off");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, creator_start) == 96, "hdr creator_start");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, init_pos) == 128, "hdr init_pos");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, place_node) == 112, "hdr place_node");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, place_cpus) == 136, "hdr place_cpus");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, hdr_check) == 168, "hdr hdr_check");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_hdr, ready) == 256, "hdr ready");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_side) == SHMRING_BLOCK, "side block");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_side, gone) == 24, "side gone");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_wait) == SHMRING_BLOCK, "wait block");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_wait, light) == 8, "wait light");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_wait, doorbell) == 12, "wait doorbell");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_stats) == SHMRING_BLOCK, "stats block");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, cons) == 128, "ctrl cons");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, prod_wait) == 256, "ctrl prod_wait");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, cons_wait) == 384, "ctrl cons_wait");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, prod_stats) == 512, "ctrl prod_stats");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, cons_stats) == 640, "ctrl cons_stats");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_ctrl, kind_blocks) == 768, "ctrl kind_blocks");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_ctrl) == SHMRING_CTRL_SIZE, "ctrl size");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_endpoint) == SHMRING_EP_SIZE, "endpoint size");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_stats, lost) == 64, "stats lost");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_mpmc_block) == SHMRING_BLOCK, "mpmc block");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_endpoint, claim_pos) == 32, "endpoint claim_pos");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_endpoint, taken) == 56, "endpoint taken");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_mpmc_block, solo) == 16, "mpmc solo");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_mpmc_block, solo_ns) == 24, "mpmc solo_ns");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_bcast_block) == SHMRING_BLOCK, "bcast block");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_bcast_evict) == SHMRING_BLOCK, "bcast evict block");
SHMRING_STATIC_ASSERT(2 * SHMRING_BLOCK <= sizeof(((struct shmring_ctrl *)0)->kind_blocks),
		      "bcast blocks fit the kind blocks");
SHMRING_STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint64_t)) == 8, "lock-free 64-bit atomics");
SHMRING_STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint32_t)) == 4, "lock-free 32-bit atomics");

/*
 * Ring-set membership table (set.h): a small object of its own, named
 * "<set>.set" next to the set's control ring "<set>.ctl" (a memfd for an
 * anonymous set). The set's consumer process is its only writer; it
 * publishes who the members are and the set's and each member's counters
 * so that an observer (shmring-dump) can show them from shared memory
 * alone. Nothing in it is trusted by a reader.
 *
 *   offset 0      struct shmring_set_hdr     immutable once ready, but for the consumer's
 *                                            identity, which a takeover rewrites
 *   offset 128    struct shmring_set_memb    membership generation (seqlock)
 *   offset 256    struct shmring_set_ctr     set counters, written by polls
 *   offset 384    struct shmring_set_ctr2    set counters, written by waits
 *   offset 4096   struct shmring_set_entry   capacity entries, 256 bytes each
 *
 * Entries and the membership block change only under the set's writer
 * lock, between two increments of `gen` (odd while a change is under way):
 * a reader that loads an even gen (acquire), copies, issues an acquire
 * fence and finds the same gen again holds a consistent membership. The
 * counters move outside the seqlock (they only grow). An entry is freed
 * only after the set's RCU grace period, when no poller can still count
 * into it.
 */
#define SHMRING_SET_MAGIC 0x31544553524d4853ULL /* "SHMRSET1" in little endian */
#define SHMRING_SET_ENTRIES_OFF 4096u
#define SHMRING_SET_ENTRY_SIZE 256u
#define SHMRING_SET_CAPACITY 1024u   /* entries a table holds */
#define SHMRING_SET_NAME_BYTES 200u  /* = SHMRING_NAME_MAX */

/* shmring_set_entry.state */
#define SHMRING_SET_ENTRY_FREE 0u
#define SHMRING_SET_ENTRY_USED 1u
/* shmring_set_entry.flags */
#define SHMRING_SET_ENTRY_JOINED 0x1u /* joined through the control ring: removed when its producer goes */
#define SHMRING_SET_ENTRY_ANNOUNCED 0x2u /* announced on the control ring (any kind): a consumer that
					  * takes the set over adopts it (set.h) */

struct shmring_set_hdr {
	uint64_t magic;          /*   0: SHMRING_SET_MAGIC */
	uint32_t abi_version;    /*   8: SHMRING_ABI_VERSION */
	uint32_t entries_off;    /*  12: SHMRING_SET_ENTRIES_OFF */
	uint32_t entry_size;     /*  16: SHMRING_SET_ENTRY_SIZE */
	uint32_t capacity;       /*  20: entries */
	uint64_t total_size;     /*  24: entries_off + capacity * entry_size */
	int32_t consumer_pid;    /*  32: the process that owns the set */
	uint32_t consumer_uid;   /*  36 */
	uint64_t consumer_start; /*  40: its start time, clock ticks after boot */
	uint64_t create_time_ns; /*  48: CLOCK_REALTIME */
	uint32_t flags;          /*  56: SHMRING_SET_F_* given by the owner */
	SHMRING_ATOMIC(uint32_t) ready; /* 60: SHMRING_READY once complete (release) */
	uint8_t reserved[64];    /*  64: zero */
};

struct shmring_set_memb {
	SHMRING_ATOMIC(uint64_t) gen;      /*   0: seqlock: odd while the membership changes */
	SHMRING_ATOMIC(uint32_t) count;    /*   8: entries in use */
	SHMRING_ATOMIC(uint32_t) hi;       /*  12: one past the highest entry in use */
	SHMRING_ATOMIC(uint32_t) unlisted; /*  16: members without an entry (table full) */
	SHMRING_ATOMIC(uint32_t) doorbell; /*  20: 1 while the set sleeps on its doorbell */
	SHMRING_ATOMIC(uint64_t) joins;    /*  24: members added */
	SHMRING_ATOMIC(uint64_t) leaves;   /*  32: members removed */
	uint8_t pad[88];
};

struct shmring_set_ctr {
	SHMRING_ATOMIC(uint64_t) polls;    /*   0: shmring_set_poll calls */
	SHMRING_ATOMIC(uint64_t) messages; /*   8: messages delivered */
	uint8_t pad[112];
};

struct shmring_set_ctr2 {
	SHMRING_ATOMIC(uint64_t) sleeps;   /*   0: futex waits entered by shmring_set_wait */
	SHMRING_ATOMIC(uint64_t) wakeups;  /*   8: sleeps that ended before their deadline */
	uint8_t pad[112];
};

struct shmring_set_table {
	struct shmring_set_hdr hdr;   /*   0 */
	struct shmring_set_memb memb; /* 128 */
	struct shmring_set_ctr ctr;   /* 256 */
	struct shmring_set_ctr2 ctr2; /* 384 */
	uint8_t reserved[3584];       /* 512: zero */
};

/* A member's counters, written by whichever poller drains it. */
struct shmring_set_counters {
	SHMRING_ATOMIC(uint64_t) messages;    /* 0: messages delivered from it */
	SHMRING_ATOMIC(uint64_t) empty_polls; /* 8: polls that found it empty */
};

struct shmring_set_entry {
	struct shmring_set_counters ctr; /*   0 */
	SHMRING_ATOMIC(uint32_t) state;  /*  16: SHMRING_SET_ENTRY_* */
	SHMRING_ATOMIC(uint32_t) id;     /*  20: member id (shmring_set_add) */
	SHMRING_ATOMIC(uint32_t) type;   /*  24: SHMRING_SPSC, SHMRING_MSG_SPSC, ... */
	SHMRING_ATOMIC(uint32_t) flags;  /*  28: SHMRING_SET_ENTRY_* */
	SHMRING_ATOMIC(uint64_t) tag;    /*  32 */
	SHMRING_ATOMIC(uint64_t) join_ns; /* 40: CLOCK_REALTIME when it was added */
	SHMRING_ATOMIC(uint32_t) name_len; /* 48: bytes of name; 0: added by handle, no name known */
	uint32_t reserved;               /*  52 */
	uint8_t name[SHMRING_SET_NAME_BYTES]; /* 56: the ring's name ("/x"), not NUL-terminated */
};

/*
 * A record on a set's control ring (an MSG_MPSC message ring): a producer
 * announcing its ring. Sent as offsetof(name) + len + 1 bytes; the name
 * need not be NUL-terminated and is validated by every reader.
 */
#define SHMRING_SET_CTL_JOIN 1u
struct shmring_set_ctl_rec {
	uint32_t op;     /*  0: SHMRING_SET_CTL_JOIN */
	uint32_t len;    /*  4: bytes of name, 1 .. SHMRING_SET_NAME_BYTES */
	uint64_t tag;    /*  8: what the consumer's messages from the ring carry */
	char name[SHMRING_SET_NAME_BYTES + 2]; /* 16: the ring's name */
};

SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_ctl_rec, name) == 16, "set ctl rec name");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_hdr) == SHMRING_BLOCK, "set hdr");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_hdr, ready) == 60, "set hdr ready");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_memb) == SHMRING_BLOCK, "set memb");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_ctr) == SHMRING_BLOCK, "set ctr");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_ctr2) == SHMRING_BLOCK, "set ctr2");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_table, memb) == 128, "set memb off");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_table, ctr2) == 384, "set ctr2 off");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_table) == SHMRING_SET_ENTRIES_OFF, "set table hdr page");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_entry, state) == 16, "set entry state");
SHMRING_STATIC_ASSERT(offsetof(struct shmring_set_entry, name) == 56, "set entry name");
SHMRING_STATIC_ASSERT(sizeof(struct shmring_set_entry) == SHMRING_SET_ENTRY_SIZE, "set entry size");

/* hdr_check of a header: FNV-1a (64-bit) over the bytes before it. */
static inline uint64_t shmring_hdr_check(const struct shmring_hdr *h)
{
	const unsigned char *b = (const unsigned char *)h;
	uint64_t x = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < offsetof(struct shmring_hdr, hdr_check); i++)
		x = (x ^ b[i]) * 0x100000001b3ull;
	return x;
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_LAYOUT_H */
