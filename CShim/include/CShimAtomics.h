// Acquire/release atomics and fences on raw pointers into a shared-memory mapping.
// Swift's Atomic/Mutex promise nothing about memory shared between processes, so every access to a
// sequence, revision or heartbeat word of the region goes through these, each naming its ordering.
#ifndef CSHIM_ATOMICS_H
#define CSHIM_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to be shared between processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free to be shared between processes");

/// Why C: Swift cannot apply C11 atomics to a plain pointer into a mapping. Load with acquire ordering.
static inline __attribute__((always_inline)) uint64_t cshim_load_acquire_u64(const void *p) {
    return atomic_load_explicit((const _Atomic uint64_t *)p, memory_order_acquire);
}
/// Why C: see cshim_load_acquire_u64. Load with relaxed ordering (no ordering, no tearing).
static inline __attribute__((always_inline)) uint64_t cshim_load_relaxed_u64(const void *p) {
    return atomic_load_explicit((const _Atomic uint64_t *)p, memory_order_relaxed);
}
/// Why C: see cshim_load_acquire_u64. Store with release ordering.
static inline __attribute__((always_inline)) void cshim_store_release_u64(void *p, uint64_t v) {
    atomic_store_explicit((_Atomic uint64_t *)p, v, memory_order_release);
}
/// Why C: see cshim_load_acquire_u64. Store with relaxed ordering (no ordering, no tearing).
static inline __attribute__((always_inline)) void cshim_store_relaxed_u64(void *p, uint64_t v) {
    atomic_store_explicit((_Atomic uint64_t *)p, v, memory_order_relaxed);
}
/// Why C: see cshim_load_acquire_u64. 32-bit load with acquire ordering.
static inline __attribute__((always_inline)) uint32_t cshim_load_acquire_u32(const void *p) {
    return atomic_load_explicit((const _Atomic uint32_t *)p, memory_order_acquire);
}
/// Why C: see cshim_load_acquire_u64. 32-bit store with release ordering.
static inline __attribute__((always_inline)) void cshim_store_release_u32(void *p, uint32_t v) {
    atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}
/// Why C: Swift has no fence on its own. An acquire fence: loads before it complete before loads after it
/// (the reader's smp_rmb before re-checking the sequence).
static inline __attribute__((always_inline)) void cshim_fence_acquire(void) {
    atomic_thread_fence(memory_order_acquire);
}
/// Why C: see cshim_fence_acquire. A release fence: stores before it are visible before stores after it
/// (the writer's smp_wmb between flipping the sequence and touching the other copy).
static inline __attribute__((always_inline)) void cshim_fence_release(void) {
    atomic_thread_fence(memory_order_release);
}

#endif
