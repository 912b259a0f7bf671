/*
 * storm_creader.c: a C reader (Sources/CHostessReader) that runs until SIGTERM, for Scripts/crash-storm.sh
 * and Scripts/soak.sh. It reads the region NAME over and over: lookups of the ids listed in IDFILE (one a
 * line) and full queries, and checks every answer is self-consistent. It reopens the name whenever the
 * region is closed, replaced, missing or its writer is gone (a restart in progress).
 *
 * Usage: storm_creader NAME IDFILE [LATENCYFILE]
 * On SIGTERM it prints one JSON line of counters to stdout and exits 0. With LATENCYFILE it appends one
 * "unix_seconds nanoseconds" line per lookup (the soak's shm latency).
 *
 * Torn = an answer the reader called sound (HOSTESS_OK) that is not: a lookup payload that does not begin
 * with {"id":"KEY" for the KEY looked up, does not end with '}', has unbalanced braces/brackets outside strings,
 * or whose class_code disagrees with the id's hexcode; a query whose serials are not strictly increasing or
 * whose payloads fail the same shape checks. HOSTESS_E_CORRUPT is counted as torn too.
 */
#define _GNU_SOURCE 1
#include "hostess_reader.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_term(int s) { (void)s; stop = 1; }

static unsigned long long opens, open_failures, lookups, found, not_found, busy, torn, corrupt, queries, query_entries,
    reopen_closed, reopen_gone, reopen_replaced;
static char first_torn[600];

static void note_torn(const char *what, const char *id, const char *payload, size_t length) {
    torn++;
    if (!first_torn[0])
        snprintf(first_torn, sizeof first_torn, "%s id=%.200s payload=%.300s len=%zu", what, id ? id : "-",
                 payload ? payload : "-", length);
}

/* Balanced {} and [] outside strings, string escapes honoured, ends with '}'. */
static int shape_ok(const char *p, size_t n) {
    if (n < 10 || p[0] != '{' || p[n - 1] != '}') return 0;
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') in_string = 1;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') { if (--depth < 0) return 0; if (depth == 0 && i != n - 1) return 0; }
    }
    return depth == 0 && !in_string;
}

/* The hexcode field (third) of an id like fqdn:name:0xNNNN:... */
static long id_class(const char *id, size_t n) {
    size_t field = 0, start = 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] == ':') { field++; if (field == 2) start = i + 1; if (field == 3) return strtol(id + start + 2, NULL, 16); }
    return -1;
}

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static long long mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }

struct qctx { unsigned long long last_serial; int bad; };
static int on_entry(void *context, const char *payload, size_t length, const hostess_entry_info *info) {
    struct qctx *q = context;
    query_entries++;
    if (!shape_ok(payload, length) || strncmp(payload, "{\"id\":\"", 7) != 0) { note_torn("query-shape", NULL, payload, length); q->bad = 1; return 0; }
    const char *end = memchr(payload + 7, '"', length - 7);
    if (!end) { note_torn("query-id", NULL, payload, length); return 0; }
    long cls = id_class(payload + 7, (size_t)(end - payload - 7));
    if (cls != info->class_code) note_torn("query-class", NULL, payload, length);
    if (info->serial <= q->last_serial) note_torn("query-serial-order", NULL, payload, length);
    q->last_serial = info->serial;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: storm_creader NAME IDFILE [LATENCYFILE]\n"); return 2; }
    signal(SIGTERM, on_term); signal(SIGINT, on_term);
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 2; }
    size_t cap = 1024, count = 0; char **ids = malloc(cap * sizeof *ids); char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n"); line[n] = 0; if (!n) continue;
        if (count == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
        ids[count++] = strdup(line);
    }
    fclose(f);
    if (!count) { fprintf(stderr, "no ids\n"); return 2; }
    FILE *lat = argc > 3 ? fopen(argv[3], "a") : NULL;
    static char buffer[1 << 16];
    hostess_reader *reader = NULL;
    unsigned long long iteration = 0; unsigned seed = (unsigned)getpid();
    long pause_us = getenv("STORM_READER_PAUSE_US") ? atol(getenv("STORM_READER_PAUSE_US")) : 100;
    while (!stop) {
        if (pause_us > 0) usleep((useconds_t)pause_us);
        if (!reader) {
            if (hostess_reader_open(argv[1], NULL, 0, &reader, NULL) != HOSTESS_OK) { reader = NULL; open_failures++; usleep(2000); continue; }
            opens++;
        }
        iteration++;
        if (iteration % 64 == 0) {
            hostess_liveness l = hostess_reader_liveness(reader);
            if (l != HOSTESS_LIVENESS_ALIVE) {
                if (l == HOSTESS_LIVENESS_CLOSED) reopen_closed++; else if (l == HOSTESS_LIVENESS_REPLACED) reopen_replaced++; else reopen_gone++;
                hostess_reader_close(reader); reader = NULL; usleep(l == HOSTESS_LIVENESS_WRITER_GONE ? 2000 : 0); continue;
            }
        }
        if (iteration % 200 == 0) {
            struct qctx q = {0, 0}; size_t n = 0;
            int s = hostess_reader_query(reader, NULL, on_entry, &q, &n);
            if (s == HOSTESS_OK) queries++; else if (s == HOSTESS_E_BUSY) busy++; else if (s == HOSTESS_E_CORRUPT) { corrupt++; note_torn("query-corrupt", NULL, NULL, 0); }
            continue;
        }
        const char *id = ids[rand_r(&seed) % count];
        size_t idn = strlen(id);
        hostess_entry_info info; memset(&info, 0, sizeof info);
        long long t0 = mono_ns();
        int s = hostess_reader_lookup(reader, id, idn, buffer, sizeof buffer, &info);
        long long t1 = mono_ns();
        lookups++;
        if (lat && (lookups % 16 == 0)) fprintf(lat, "%.3f %lld\n", now_s(), t1 - t0);
        if (s == HOSTESS_OK) {
            found++;
            if (info.length != strlen(buffer)) note_torn("lookup-length", id, buffer, info.length);
            else if (!shape_ok(buffer, info.length)) note_torn("lookup-shape", id, buffer, info.length);
            else if (strncmp(buffer, "{\"id\":\"", 7) != 0 || strncmp(buffer + 7, id, idn) != 0 || buffer[7 + idn] != '"')
                note_torn("lookup-id-mismatch", id, buffer, info.length);
            else if (id_class(id, idn) != info.class_code) note_torn("lookup-class", id, buffer, info.length);
            else if (info.serial == 0) note_torn("lookup-serial0", id, buffer, info.length);
        } else if (s == HOSTESS_NOT_FOUND) not_found++;
        else if (s == HOSTESS_E_BUSY) busy++;
        else if (s == HOSTESS_E_CORRUPT) { corrupt++; note_torn("lookup-corrupt", id, NULL, 0); }
        else { hostess_reader_close(reader); reader = NULL; }
    }
    if (reader) hostess_reader_close(reader);
    if (lat) fclose(lat);
    printf("{\"reader\":\"c\",\"opens\":%llu,\"openFailures\":%llu,\"lookups\":%llu,\"found\":%llu,\"notFound\":%llu,"
           "\"busy\":%llu,\"queries\":%llu,\"queryEntries\":%llu,\"torn\":%llu,\"corrupt\":%llu,\"reopenClosed\":%llu,"
           "\"reopenReplaced\":%llu,\"reopenWriterGone\":%llu,\"firstTorn\":\"",
           opens, open_failures, lookups, found, not_found, busy, queries, query_entries, torn, corrupt, reopen_closed,
           reopen_replaced, reopen_gone);
    for (char *p = first_torn; *p; p++) { if (*p == '"' || *p == '\\') putchar('\\'); putchar((unsigned char)*p >= 0x20 ? *p : '?'); }
    printf("\"}\n");
    return 0;
}
