// Scripts/sanitizers/ubsan_cshim.c: every CShim function (CShim/shim.c and the inline atomics of
// CShimAtomics.h) once with ordinary and edge arguments, for Scripts/sanitizers.sh's UndefinedBehaviorSanitizer
// run (compiled with clang -fsanitize=undefined,... -fno-sanitize-recover=all together with CShim/shim.c).
// The C reader (Sources/CHostessReader) is not driven here: CReaderTests compiles its driver with
// -fsanitize=address,undefined -fno-sanitize-recover=all in every `swift test`.
// Exit 0 when every check holds; any UBSan report aborts the process (non-zero).
#define _GNU_SOURCE
#include "CShim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "ubsan_cshim: %s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static void hex(const uint8_t *bytes, size_t length, char *out) {
    for (size_t i = 0; i < length; i++) sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void crypto(void) {
    uint8_t digest[32];
    char text[65];
    CHECK(cshim_sha256("", 0, digest) == 0);
    hex(digest, 32, text);
    CHECK(strcmp(text, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    CHECK(cshim_sha256("abc", 3, digest) == 0);
    hex(digest, 32, text);
    CHECK(strcmp(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    // RFC 4231 test case 2, and an empty key and message.
    CHECK(cshim_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, digest) == 0);
    hex(digest, 32, text);
    CHECK(strcmp(text, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0);
    CHECK(cshim_hmac_sha256("", 0, "", 0, digest) == 0);
    // A key longer than the block size (hashed first), and a key past INT32_MAX refused before any read.
    static uint8_t longKey[200];
    memset(longKey, 0xaa, sizeof longKey);
    CHECK(cshim_hmac_sha256(longKey, sizeof longKey, "x", 1, digest) == 0);
    CHECK(cshim_hmac_sha256(longKey, (size_t)INT32_MAX + 1, "x", 1, digest) == -1);
    CHECK(cshim_equal_constant_time("abcd", "abcd", 4) == 1);
    CHECK(cshim_equal_constant_time("abcd", "abce", 4) == 0);
    CHECK(cshim_equal_constant_time("", "", 0) == 1);
}

static void events(void) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    CHECK(epfd >= 0);
    int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(efd >= 0);
    CHECK(cshim_epoll_ctl(epfd, EPOLL_CTL_ADD, efd, EPOLLIN, UINT64_MAX) == 0);
    uint32_t kinds[300];
    uint64_t tokens[300];
    // More than the shim's 256-event buffer: clamped.
    CHECK(cshim_epoll_wait(epfd, kinds, tokens, 300, 0) == 1);
    CHECK(tokens[0] == UINT64_MAX && (kinds[0] & EPOLLIN));
    // Zero or negative: epoll_wait's EINVAL, nothing written.
    CHECK(cshim_epoll_wait(epfd, kinds, tokens, 0, 0) == -1 && errno == EINVAL);
    CHECK(cshim_epoll_wait(epfd, kinds, tokens, -5, 0) == -1 && errno == EINVAL);
    CHECK(cshim_epoll_ctl(epfd, EPOLL_CTL_DEL, efd, 0, 0) == 0);
    CHECK(cshim_epoll_ctl(-1, EPOLL_CTL_ADD, efd, EPOLLIN, 0) == -1);
    close(efd);
    close(epfd);
}

static void sockets(void) {
    int pair[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    pid_t pid = 0;
    uid_t uid = 1;
    gid_t gid = 1;
    CHECK(cshim_peercred(pair[0], &pid, &uid, &gid) == 0);
    CHECK(pid == getpid() && uid == getuid() && gid == getgid());
    CHECK(cshim_peercred(-1, &pid, &uid, &gid) == -1);
    close(pair[0]);
    close(pair[1]);

    // accept on a listening socket with nothing pending, then with one connection.
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    snprintf(address.sun_path + 1, sizeof address.sun_path - 1, "hostess-ubsan-%d", (int)getpid());  // abstract
    socklen_t length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(address.sun_path + 1));
    CHECK(bind(listener, (struct sockaddr *)&address, length) == 0);
    CHECK(listen(listener, 4) == 0);
    CHECK(cshim_accept_nonblocking(listener) == -1 && errno == EAGAIN);
    int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(client, (struct sockaddr *)&address, length) == 0);
    int accepted = cshim_accept_nonblocking(listener);
    CHECK(accepted >= 0 && (fcntl(accepted, F_GETFL) & O_NONBLOCK));
    close(accepted);
    close(client);
    close(listener);

    // recvmmsg: nothing waiting, then two datagrams, one truncated to the slot, and a count past the buffer.
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in loopback;
    memset(&loopback, 0, sizeof loopback);
    loopback.sin_family = AF_INET;
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(udp, (struct sockaddr *)&loopback, sizeof loopback) == 0);
    socklen_t bound = sizeof loopback;
    CHECK(getsockname(udp, (struct sockaddr *)&loopback, &bound) == 0);
    enum { slots = 300, slot = 8 };
    static uint8_t buffer[slots * slot];
    static struct sockaddr_storage addresses[slots];
    static uint32_t addressLengths[slots];
    static size_t lengths[slots];
    static uint8_t truncated[slots];
    CHECK(cshim_recvmmsg(udp, buffer, slot, slots, addresses, addressLengths, lengths, truncated) == -1 && errno == EAGAIN);
    CHECK(sendto(udp, "short", 5, 0, (struct sockaddr *)&loopback, sizeof loopback) == 5);
    CHECK(sendto(udp, "longer than eight", 17, 0, (struct sockaddr *)&loopback, sizeof loopback) == 17);
    usleep(10000);
    int received = cshim_recvmmsg(udp, buffer, slot, slots, addresses, addressLengths, lengths, truncated);
    CHECK(received == 2);
    if (received == 2) {
        CHECK(lengths[0] == 5 && !truncated[0] && memcmp(buffer, "short", 5) == 0);
        CHECK(lengths[1] == 17 && truncated[1] && memcmp(buffer + slot, "longer t", 8) == 0);
        CHECK(addressLengths[0] == sizeof(struct sockaddr_in));
    }
    CHECK(cshim_recvmmsg(udp, buffer, slot, 0, addresses, addressLengths, lengths, truncated) <= 0);
    close(udp);
}

static void signals(void) {
    int list[] = {SIGUSR1, SIGUSR2};
    int readEnd = cshim_signal_pipe(list, 2);
    CHECK(readEnd >= 0);
    CHECK(raise(SIGUSR1) == 0);
    CHECK(raise(SIGUSR2) == 0);
    unsigned char bytes[4] = {0};
    CHECK(read(readEnd, bytes, sizeof bytes) == 2);
    CHECK(bytes[0] == SIGUSR1 && bytes[1] == SIGUSR2);
    int bad[] = {SIGKILL};
    CHECK(cshim_signal_pipe(bad, 1) == -1);
}

static void futexes(void) {
    static uint32_t word = 7;
    // The value differs: EAGAIN at once. The value matches: times out (0 ns, then 1 ms, then a large timeout
    // whose seconds and nanoseconds both need their full width).
    CHECK(cshim_futex_wait(&word, 8, 0) == -1 && errno == EAGAIN);
    CHECK(cshim_futex_wait(&word, 7, 0) == -1 && errno == ETIMEDOUT);
    CHECK(cshim_futex_wait(&word, 7, 1000000) == -1 && errno == ETIMEDOUT);
    CHECK(cshim_futex_wait(&word, 8, INT64_MAX) == -1 && errno == EAGAIN);
    CHECK(cshim_futex_wake_all(&word) == 0);
}

static void locks(void) {
    char path[] = "/tmp/hostess-ubsan-lock-XXXXXX";
    int first = mkstemp(path);
    CHECK(first >= 0);
    int second = open(path, O_RDWR | O_CLOEXEC);
    CHECK(second >= 0);
    unlink(path);
    pid_t holder = 12345;
    CHECK(cshim_write_lock_holder(first, &holder) == 0 && holder == 12345);
    CHECK(cshim_take_write_lock(first) == 0);
    CHECK(cshim_write_lock_holder(second, &holder) == 1);  // OFD locks report l_pid -1
    CHECK(cshim_take_write_lock(second) == -1);
    close(first);
    close(second);
    int pidfd = cshim_pidfd_open(getpid());
    CHECK(pidfd >= 0);
    close(pidfd);
    CHECK(cshim_pidfd_open(-1) == -1);
}

static void atomics(void) {
    static _Alignas(8) uint8_t region[16];
    cshim_store_release_u64(region, UINT64_MAX);
    CHECK(cshim_load_acquire_u64(region) == UINT64_MAX);
    cshim_store_relaxed_u64(region, 1);
    CHECK(cshim_load_relaxed_u64(region) == 1);
    cshim_store_release_u32(region + 8, UINT32_MAX);
    CHECK(cshim_load_acquire_u32(region + 8) == UINT32_MAX);
    cshim_fence_acquire();
    cshim_fence_release();
}

int main(void) {
    cshim_line_buffer_stdout();
    crypto();
    events();
    sockets();
    signals();
    futexes();
    locks();
    atomics();
    printf("ubsan_cshim: %s (%d failed checks)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
