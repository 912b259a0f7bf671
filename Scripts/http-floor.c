/*
 * The floor for one HTTP connection on this machine: a blocking keep-alive server that answers every read
 * with the same fixed 200 response, doing no parsing and no lookup. Scripts/http-bench.sh runs wrk against
 * it with one connection beside GET /servers/{id}: no server can answer one connection faster than a
 * loopback round trip through two wake-ups, which this measures.
 *   http-floor BODY_BYTES    (binds 127.0.0.1 on a free port and prints the port on stdout)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long body = argc == 2 ? strtol(argv[1], NULL, 10) : -1;
    if (body < 0 || body > 65536) {
        fprintf(stderr, "usage: http-floor BODY_BYTES (0 to 65536)\n");
        return 2;
    }
    static char response[66000];
    int head = snprintf(response, sizeof response,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n\r\n", body);
    memset(response + head, 'x', (size_t)body);
    size_t length = (size_t)head + (size_t)body;

    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t size = sizeof address;
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 16) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &size) != 0) {
        perror("http-floor");
        return 1;
    }
    printf("%d\n", ntohs(address.sin_port));
    fflush(stdout);
    for (;;) {
        int connection = accept(listener, NULL, NULL);
        if (connection < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("http-floor: accept");
            return 1;
        }
        setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char request[16384];
        for (;;) {
            ssize_t got = read(connection, request, sizeof request);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0 || write(connection, response, length) != (ssize_t)length) break;
        }
        close(connection);
    }
}
