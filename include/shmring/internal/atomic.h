/* SPDX-License-Identifier: MIT */
/*
 * Not for direct inclusion: included by the public shmring headers.
 *
 * Atomics that compile both as C11 (<stdatomic.h>) and as C++11 or later
 * (<atomic>), so that the inline fast paths can be used from a C++ service.
 * Every shared word is declared SHMRING_ATOMIC(T) and touched only through
 * the shmring_atomic_* macros below with an explicit memory order.
 */
#ifndef SHMRING_INTERNAL_ATOMIC_H
#define SHMRING_INTERNAL_ATOMIC_H

#include <stdint.h>

#ifdef __cplusplus
#include <atomic>
#define SHMRING_ATOMIC(T) std::atomic<T>
#define SHMRING_RELAXED std::memory_order_relaxed
#define SHMRING_ACQUIRE std::memory_order_acquire
#define SHMRING_RELEASE std::memory_order_release
#define SHMRING_ACQ_REL std::memory_order_acq_rel
#define SHMRING_SEQ_CST std::memory_order_seq_cst
#define shmring_atomic_load(p, mo) std::atomic_load_explicit((p), (mo))
#define shmring_atomic_store(p, v, mo) std::atomic_store_explicit((p), (v), (mo))
#define shmring_atomic_fetch_add(p, v, mo) std::atomic_fetch_add_explicit((p), (v), (mo))
#define shmring_atomic_exchange(p, v, mo) std::atomic_exchange_explicit((p), (v), (mo))
#define shmring_atomic_cas_weak(p, e, d, mos, mof) \
	std::atomic_compare_exchange_weak_explicit((p), (e), (d), (mos), (mof))
#define shmring_atomic_cas(p, e, d, mos, mof) \
	std::atomic_compare_exchange_strong_explicit((p), (e), (d), (mos), (mof))
#define shmring_atomic_fence(mo) std::atomic_thread_fence(mo)
#define shmring_signal_fence() std::atomic_signal_fence(std::memory_order_seq_cst)
#define SHMRING_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#include <stdatomic.h>
#define SHMRING_ATOMIC(T) _Atomic T
#define SHMRING_RELAXED memory_order_relaxed
#define SHMRING_ACQUIRE memory_order_acquire
#define SHMRING_RELEASE memory_order_release
#define SHMRING_ACQ_REL memory_order_acq_rel
#define SHMRING_SEQ_CST memory_order_seq_cst
#define shmring_atomic_load(p, mo) atomic_load_explicit((p), (mo))
#define shmring_atomic_store(p, v, mo) atomic_store_explicit((p), (v), (mo))
#define shmring_atomic_fetch_add(p, v, mo) atomic_fetch_add_explicit((p), (v), (mo))
#define shmring_atomic_exchange(p, v, mo) atomic_exchange_explicit((p), (v), (mo))
#define shmring_atomic_cas_weak(p, e, d, mos, mof) \
	atomic_compare_exchange_weak_explicit((p), (e), (d), (mos), (mof))
#define shmring_atomic_cas(p, e, d, mos, mof) \
	atomic_compare_exchange_strong_explicit((p), (e), (d), (mos), (mof))
#define shmring_atomic_fence(mo) atomic_thread_fence(mo)
#define shmring_signal_fence() atomic_signal_fence(memory_order_seq_cst)
#define SHMRING_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Inline functions: static inline for users; src/ffi.c redefines this to
 * compile the same bodies into exported symbols (bindings, dlsym). */
#ifndef SHMRING_INLINE
#define SHMRING_INLINE static inline
#endif

/* The fast paths (push, pop, bursts, reserve/commit, peek/release, their
 * helpers, the wake check): forced inline, as DPDK's __rte_always_inline
 * and ck's CK_CC_FORCE_INLINE, since at -O2 gcc left some of them out of
 * line in a user's loop, a call per message. Slow and cold paths stay
 * SHMRING_INLINE or out of line. src/ffi.c redefines this too. */
#ifndef SHMRING_FORCE_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define SHMRING_FORCE_INLINE static inline __attribute__((always_inline))
#else
#define SHMRING_FORCE_INLINE static inline
#endif
#endif

/* Out-of-line slow paths that fast paths call (the MPMC claim mode's
 * hand-over): the caller's code for them is laid out as unlikely, away
 * from the fast path a forced inline puts into the user's loop. */
#if defined(__GNUC__) || defined(__clang__)
#define SHMRING_COLD __attribute__((cold))
#else
#define SHMRING_COLD
#endif

#if defined(__GNUC__) || defined(__clang__)
#define shmring_likely(x) __builtin_expect(!!(x), 1)
#define shmring_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define shmring_likely(x) (x)
#define shmring_unlikely(x) (x)
#endif

/* Exported entry points of libshmring. */
#if defined(__GNUC__) || defined(__clang__)
#define SHMRING_API __attribute__((visibility("default")))
#else
#define SHMRING_API
#endif

/* Busy-wait hint for spin loops. */
#if defined(__x86_64__) || defined(__i386__)
#define shmring_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define shmring_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define shmring_cpu_relax() ((void)0)
#endif

#endif /* SHMRING_INTERNAL_ATOMIC_H */
