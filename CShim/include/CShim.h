// CShim: the few Linux interfaces Swift's Glibc module does not export.
// Every symbol carries the `cshim_` prefix; logic lives in Swift.
#ifndef CSHIM_H
#define CSHIM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/random.h>

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

#endif
