#define _GNU_SOURCE
#include "CShim.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

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
