// CShim: the few Linux interfaces Swift's Glibc module does not export.
// Every symbol carries the `cshim_` prefix; logic lives in Swift.
#ifndef CSHIM_H
#define CSHIM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <stddef.h>
#include <sys/random.h>
#include "CShimAtomics.h"

/// Why C: `struct ucred` and SO_PEERCRED need _GNU_SOURCE, which Swift's Glibc import does not define.
/// Reads the kernel's record of the process at the other end of a connected Unix socket.
/// Returns 0, or -1 with errno set.
int cshim_peercred(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Why C: epoll_event is packed on x86_64; field access through Swift's import is not reliable.
/// Adds, modifies (op = EPOLL_CTL_*) or removes `fd` in `epfd`, carrying `token` back in events.
int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// Why C: see cshim_epoll_ctl. Waits for events and unpacks them into two plain arrays.
/// Returns the number of events, or -1 with errno set.
int cshim_epoll_wait(int epfd, uint32_t *events, uint64_t *tokens, int max_events, int timeout_ms);

/// Why C: accept4 is declared only under _GNU_SOURCE.
/// Accepts a connection as non-blocking and close-on-exec. Returns the descriptor, or -1 with errno set.
int cshim_accept_nonblocking(int fd);

/// Why C: Swift 6 refuses to touch the global `stdout` (shared mutable state).
/// Makes standard output line-buffered, so a line printed before a long wait reaches a pipe at once.
void cshim_line_buffer_stdout(void);

/// Why C: a signal handler must be async-signal-safe C; Swift code may not run in one.
/// Installs a handler for each of `signals` that writes the signal number as one byte to a pipe, and
/// returns the pipe's read end (non-blocking, close-on-exec), or -1 with errno set. Works whichever
/// thread the kernel picks to take the signal.
int cshim_signal_pipe(const int *signals, int count);

/// Why C: there is no libc wrapper for futex(2). Waits while the 32-bit word at `address` (in a shared
/// mapping, read-only is enough) equals `expected`, for at most `timeout_ns` (negative: no limit).
/// Returns 0 when woken, or -1 with errno set (EAGAIN: the word differed; ETIMEDOUT; EINTR).
int cshim_futex_wait(const uint32_t *address, uint32_t expected, int64_t timeout_ns);

/// Why C: see cshim_futex_wait. Wakes every process waiting on the word at `address`.
/// Returns the number woken, or -1 with errno set.
int cshim_futex_wake_all(uint32_t *address);

/// Why C: F_OFD_GETLK needs _GNU_SOURCE. Asks the kernel whether any process holds a write lock on byte 0
/// of `fd` (a read-only descriptor is enough). Returns 1 and the holder's pid (-1 for an OFD lock) when one
/// does, 0 when none does, or -1 with errno set.
int cshim_write_lock_holder(int fd, pid_t *holder);

/// Why C: see cshim_write_lock_holder. Takes a write lock on byte 0 of `fd` without waiting, owned by the
/// open file description (released when its last descriptor closes, e.g. when the process dies).
/// Returns 0, or -1 with errno set (EAGAIN: another holder).
int cshim_take_write_lock(int fd);

/// Why C: glibc 2.36 declares pidfd_open only in <sys/pidfd.h>, which Swift's Glibc module does not
/// import. Returns a descriptor (close-on-exec) that becomes readable when process `pid` exits, or -1 with
/// errno set.
int cshim_pidfd_open(pid_t pid);

/// Why C: libcrypto's one-shot digests take `EVP_MD` handles and macros Swift imports poorly; one call each.
/// Writes SHA-256(`data`) into `digest` (32 bytes). Returns 0, or -1 when libcrypto fails.
int cshim_sha256(const void *data, size_t length, uint8_t *digest);

/// Why C: see cshim_sha256. Writes HMAC-SHA256(`key`, `data`) into `mac` (32 bytes). Returns 0, or -1.
int cshim_hmac_sha256(const void *key, size_t key_length, const void *data, size_t length, uint8_t *mac);

/// Why C: libcrypto's CRYPTO_memcmp takes time independent of the bytes compared (no early exit the
/// compiler could introduce). Returns 1 when the `length` bytes at `a` and `b` are equal, else 0.
int cshim_equal_constant_time(const void *a, const void *b, size_t length);

/// Declared, not included: <sys/socket.h> in this header would make this module own the socket constants
/// (SOCK_STREAM, …) in release builds, hiding Glibc's.
struct sockaddr_storage;

/// Why C: recvmmsg and `struct mmsghdr` are declared only under _GNU_SOURCE.
/// Receives up to `count` datagrams without waiting (MSG_DONTWAIT), datagram `i` into the `slot_size` bytes
/// at `buffer + i * slot_size` and its source into `addresses[i]`. For each one received, sets `lengths[i]`
/// to the datagram's full length (MSG_TRUNC: larger than `slot_size` when it did not fit), `truncated[i]` to
/// 1 when it did not fit (else 0) and `address_lengths[i]` to the source's length. `count` above 256 is
/// taken as 256. Returns how many were received, or -1 with errno set (EAGAIN: none was waiting).
int cshim_recvmmsg(
    int fd, uint8_t *buffer, size_t slot_size, unsigned int count, struct sockaddr_storage *addresses,
    uint32_t *address_lengths, size_t *lengths, uint8_t *truncated);

#endif
