#define _GNU_SOURCE
#include "CShim.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int cshim_peercred(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cshim_epoll_wait(int epfd, uint32_t *events, uint64_t *tokens, int max_events, int timeout_ms) {
    struct epoll_event buf[256];
    if (max_events > 256) max_events = 256;
    int n = epoll_wait(epfd, buf, max_events, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = buf[i].events;
        tokens[i] = buf[i].data.u64;
    }
    return n;
}

int cshim_accept_nonblocking(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void cshim_line_buffer_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static int cshim_signal_pipe_write_end = -1;

static void cshim_signal_pipe_handler(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    ssize_t ignored = write(cshim_signal_pipe_write_end, &byte, 1);
    (void)ignored;
    errno = saved;
}

int cshim_signal_pipe(const int *signals, int count) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    cshim_signal_pipe_write_end = fds[1];
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = cshim_signal_pipe_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
    }
    return fds[0];
}

int cshim_futex_wait(const uint32_t *address, uint32_t expected, int64_t timeout_ns) {
    struct timespec timeout;
    struct timespec *limit = NULL;
    if (timeout_ns >= 0) {
        timeout.tv_sec = (time_t)(timeout_ns / 1000000000);
        timeout.tv_nsec = (long)(timeout_ns % 1000000000);
        limit = &timeout;
    }
    return (int)syscall(SYS_futex, address, FUTEX_WAIT, expected, limit, NULL, 0);
}

int cshim_futex_wake_all(uint32_t *address) {
    return (int)syscall(SYS_futex, address, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* A write lock on byte 0, the region's liveness lock. */
static struct flock cshim_byte0_write_lock(void) {
    struct flock lock;
    memset(&lock, 0, sizeof(lock));
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 1;
    return lock;
}

int cshim_write_lock_holder(int fd, pid_t *holder) {
    struct flock lock = cshim_byte0_write_lock();
    if (fcntl(fd, F_OFD_GETLK, &lock) != 0) return -1;
    if (lock.l_type == F_UNLCK) return 0;
    *holder = lock.l_pid;
    return 1;
}

int cshim_take_write_lock(int fd) {
    struct flock lock = cshim_byte0_write_lock();
    return fcntl(fd, F_OFD_SETLK, &lock);
}

// MARK: - Datagrams

int cshim_recvmmsg(
    int fd, uint8_t *buffer, size_t slot_size, unsigned int count, struct sockaddr_storage *addresses,
    uint32_t *address_lengths, size_t *lengths, uint8_t *truncated) {
    struct mmsghdr messages[256];
    struct iovec vectors[256];
    if (count > 256) count = 256;
    memset(messages, 0, sizeof(messages[0]) * count);
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = buffer + (size_t)i * slot_size;
        vectors[i].iov_len = slot_size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
        messages[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
    }
    int received = recvmmsg(fd, messages, count, MSG_DONTWAIT | MSG_TRUNC, NULL);
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        truncated[i] = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        address_lengths[i] = messages[i].msg_hdr.msg_namelen;
    }
    return received;
}

// MARK: - libcrypto

int cshim_sha256(const void *data, size_t length, uint8_t *digest) {
    unsigned int size = 0;
    return EVP_Digest(data, length, digest, &size, EVP_sha256(), NULL) == 1 && size == 32 ? 0 : -1;
}

int cshim_hmac_sha256(const void *key, size_t key_length, const void *data, size_t length, uint8_t *mac) {
    unsigned int size = 0;
    if (key_length > INT32_MAX) return -1;
    return HMAC(EVP_sha256(), key, (int)key_length, data, length, mac, &size) != NULL && size == 32 ? 0 : -1;
}

int cshim_equal_constant_time(const void *a, const void *b, size_t length) {
    return CRYPTO_memcmp(a, b, length) == 0;
}

int cshim_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
