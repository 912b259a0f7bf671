/*
 * driver.c: runs the C reader (Sources/CHostessReader) against one region and prints what every call
 * answered, for CReaderTests, which compiles it with the library under AddressSanitizer and
 * UndefinedBehaviorSanitizer and compares the lines with the Swift reader's answers.
 *
 * Usage: driver [--trust UID]... NAME < COMMANDS
 *
 * It opens NAME with hostess_reader_open and prints
 *     open STATUS FIELD ERRNO OWNER MODE SIZE NEEDED VERSION
 * (FIELD is "-" unless the header is inconsistent). When that succeeds, it also reads the file into a heap
 * buffer of exactly the file's size and opens that with hostess_reader_open_bytes, so that a read past the
 * region's end is a heap overflow the sanitizer reports; every command below runs against both readers, and
 * their answers must agree (the driver exits 3 when they do not). Commands, one a line:
 *     get ID                -> get STATUS LENGTH HEX-PAYLOAD SERIAL SLOT LASTHEARTBEAT
 *     query [CRITERIA]      -> query STATUS COUNT HEX,HEX,...
 *     count [CRITERIA]      -> count STATUS COUNT
 *     revision              -> revision REVISION STATUS STABLE
 *     liveness              -> liveness LIVENESS ISLIVE CLOSED
 *     wait MS               -> wait STATUS REVISION
 *     small ID              -> small STATUS NEEDED (a lookup into a 1-byte buffer, then one of the size needed)
 * CRITERIA: class=0xNNNN cap=NAME avail=N unreserved fqdn=S servername=S owner=S (any number, any order).
 * Exit status 0 when every command ran; 2 on a usage error; 3 when the two readers disagreed.
 */
#define _GNU_SOURCE 1

#include "hostess_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* MARK: - Output */

/* One answer, formatted into a growing string so that the two readers' answers can be compared. */
struct text {
    char *bytes;
    size_t length, capacity;
};

static void append(struct text *text, const char *bytes, size_t length) {
    if (text->length + length + 1 > text->capacity) {
        size_t capacity = (text->length + length + 1) * 2;
        char *grown = realloc(text->bytes, capacity);
        if (grown == NULL) {
            fprintf(stderr, "driver: out of memory\n");
            exit(2);
        }
        text->bytes = grown;
        text->capacity = capacity;
    }
    memcpy(text->bytes + text->length, bytes, length);
    text->length += length;
    text->bytes[text->length] = 0;
}

/* Appends `format` (three %lld conversions) filled with a, b and c. */
static void appendf(struct text *text, const char *format, long long a, long long b, long long c) {
    char line[128];
    int count = snprintf(line, sizeof line, format, a, b, c);
    if (count > 0) append(text, line, (size_t)count < sizeof line ? (size_t)count : sizeof line - 1);
}

static void append_hex(struct text *text, const char *bytes, size_t length) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < length; i++) {
        char pair[2] = {digits[(unsigned char)bytes[i] >> 4], digits[(unsigned char)bytes[i] & 15]};
        append(text, pair, 2);
    }
}

/* MARK: - Commands */

/* The filter a command's criteria describe; the strings point into the command line. */
struct criteria {
    hostess_filter filter;
    const char *capabilities[16];
};

static int parse_criteria(char *rest, struct criteria *criteria) {
    memset(criteria, 0, sizeof *criteria);
    for (char *word = strtok(rest, " "); word != NULL; word = strtok(NULL, " ")) {
        if (strncmp(word, "class=", 6) == 0) {
            criteria->filter.has_class = 1;
            criteria->filter.class_code = (uint16_t)strtoul(word + 6, NULL, 16);
        } else if (strncmp(word, "cap=", 4) == 0) {
            if (criteria->filter.capability_count == 16) return 0;
            criteria->capabilities[criteria->filter.capability_count++] = word + 4;
        } else if (strncmp(word, "avail=", 6) == 0) {
            criteria->filter.min_available_terminals = (uint32_t)strtoul(word + 6, NULL, 10);
        } else if (strcmp(word, "unreserved") == 0) {
            criteria->filter.unreserved = 1;
        } else if (strncmp(word, "fqdn=", 5) == 0) {
            criteria->filter.fqdn = word + 5;
        } else if (strncmp(word, "servername=", 11) == 0) {
            criteria->filter.servername = word + 11;
        } else if (strncmp(word, "owner=", 6) == 0) {
            criteria->filter.owner = word + 6;
        } else {
            return 0;
        }
    }
    criteria->filter.capabilities = criteria->capabilities;
    return 1;
}

struct listing {
    struct text *text;
    size_t entries;
};

static int list_entry(void *context, const char *payload, size_t length, const hostess_entry_info *info) {
    struct listing *listing = context;
    if (payload[length] != 0 || info->length != length) {
        fprintf(stderr, "driver: a query payload is not NUL-terminated or its length disagrees\n");
        exit(3);
    }
    if (listing->entries++ > 0) append(listing->text, ",", 1);
    append_hex(listing->text, payload, length);
    return 0;
}

/* Runs one command against one reader and formats its answer. */
static void run(hostess_reader *reader, const char *command, int has_file, struct text *out) {
    static char buffer[1 << 20];
    char line[4096];
    size_t length = strlen(command);
    if (length >= sizeof line) length = sizeof line - 1;
    memcpy(line, command, length);
    line[length] = 0;
    char *space = strchr(line, ' ');
    char *rest = space == NULL ? line + length : space + 1;
    if (space != NULL) *space = 0;
    if (strcmp(line, "get") == 0) {
        hostess_entry_info info;
        size_t size = hostess_reader_max_payload_bytes(reader);
        if (size > sizeof buffer) size = sizeof buffer;
        int status = hostess_reader_lookup(reader, rest, strlen(rest), buffer, size, &info);
        appendf(out, "get %lld %lld ", (long long)status, status == HOSTESS_OK ? info.length : 0, 0);
        if (status == HOSTESS_OK) {
            if (buffer[info.length] != 0) {
                fprintf(stderr, "driver: a lookup payload is not NUL-terminated\n");
                exit(3);
            }
            append_hex(out, buffer, info.length);
        } else {
            append(out, "-", 1);
        }
        long long serial = status == HOSTESS_OK ? (long long)info.serial : 0;
        long long slot = status == HOSTESS_OK || status == HOSTESS_E_CORRUPT ? (long long)info.slot : -1;
        appendf(out, " %lld %lld %lld", (long long)serial, (long long)slot,
                status == HOSTESS_OK ? (long long)info.last_heartbeat : 0);
    } else if (strcmp(line, "small") == 0) {
        hostess_entry_info info;
        char tiny[1];
        int status = hostess_reader_lookup(reader, rest, strlen(rest), tiny, sizeof tiny, &info);
        size_t needed = status == HOSTESS_E_BUFFER_TOO_SMALL ? info.needed : 0;
        int again = status;
        if (status == HOSTESS_E_BUFFER_TOO_SMALL && needed <= sizeof buffer) {
            /* Exactly the size it asked for; the payload must then fit. */
            char *exact = malloc(needed);
            if (exact == NULL) exit(2);
            again = hostess_reader_lookup(reader, rest, strlen(rest), exact, needed, &info);
            free(exact);
        }
        appendf(out, "small %lld %lld %lld", (long long)status, needed, again);
    } else if (strcmp(line, "query") == 0 || strcmp(line, "count") == 0) {
        struct criteria criteria;
        if (!parse_criteria(rest, &criteria)) {
            fprintf(stderr, "driver: bad criteria in '%s'\n", command);
            exit(2);
        }
        size_t count = 0;
        if (line[0] == 'q') {
            struct text entries = {0};
            struct listing listing = {&entries, 0};
            int status = hostess_reader_query(reader, &criteria.filter, list_entry, &listing, &count);
            if (status == HOSTESS_OK && count != listing.entries) {
                fprintf(stderr, "driver: query counted %zu entries and delivered %zu\n", count, listing.entries);
                exit(3);
            }
            /* The same answer through a caller's scratch buffer: too small first, then the size it asked for. */
            size_t needed = 0, again = 0;
            struct text second = {0};
            struct listing listing2 = {&second, 0};
            int small = hostess_reader_query_buffer(reader, &criteria.filter, NULL, 0, NULL, NULL, &again, &needed);
            if (small == HOSTESS_E_BUFFER_TOO_SMALL) {
                void *scratch = malloc(needed);
                if (scratch == NULL) exit(2);
                small = hostess_reader_query_buffer(reader, &criteria.filter, scratch, needed, list_entry, &listing2, &again, &needed);
                free(scratch);
            } else if (small == HOSTESS_OK) {
                small = hostess_reader_query_buffer(reader, &criteria.filter, NULL, 0, list_entry, &listing2, &again, &needed);
            }
            if (small != status || (status == HOSTESS_OK && (again != count || second.length != entries.length ||
                                                              (second.length > 0 && memcmp(second.bytes, entries.bytes, second.length) != 0)))) {
                fprintf(stderr, "driver: query and query_buffer disagree on '%s' (%d, %d)\n", command, status, small);
                exit(3);
            }
            free(second.bytes);
            appendf(out, "query %lld %lld ", (long long)status, status == HOSTESS_OK ? count : 0, 0);
            if (entries.length > 0 && status == HOSTESS_OK) append(out, entries.bytes, entries.length);
            else append(out, "-", 1);
            free(entries.bytes);
        } else {
            int status = hostess_reader_count(reader, &criteria.filter, &count);
            appendf(out, "count %lld %lld %lld", (long long)status, status == HOSTESS_OK ? count : 0, 0);
        }
    } else if (strcmp(line, "revision") == 0) {
        uint64_t stable = 0;
        int status = hostess_reader_stable_revision(reader, &stable);
        appendf(out, "revision %lld %lld %lld", hostess_reader_revision(reader), (long long)status, (long long)stable);
    } else if (strcmp(line, "liveness") == 0) {
        /* Only a reader of the file has liveness; the reader of bytes says unknown, and is not compared. */
        if (has_file) {
            appendf(out, "liveness %lld %lld %lld", (long long)hostess_reader_liveness(reader),
                    (long long)hostess_reader_is_live(reader), hostess_reader_is_closed(reader));
        } else {
            if (hostess_reader_liveness(reader) != HOSTESS_LIVENESS_UNKNOWN && hostess_reader_liveness(reader) != HOSTESS_LIVENESS_CLOSED) {
                fprintf(stderr, "driver: a reader of bytes claims liveness\n");
                exit(3);
            }
            append(out, "liveness-bytes", 14);
        }
    } else if (strcmp(line, "wait") == 0) {
        uint64_t revision = 0;
        int status = hostess_reader_wait(reader, hostess_reader_revision(reader), strtoll(rest, NULL, 10), &revision);
        appendf(out, "wait %lld %lld %lld", (long long)status, (long long)revision, 0);
    } else {
        fprintf(stderr, "driver: unknown command '%s'\n", command);
        exit(2);
    }
}

/* MARK: - Main */

/* The file's bytes in a heap buffer of exactly its size (8-byte aligned, as malloc's are). */
static void *read_file(const char *name, size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "/dev/shm%s", name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return NULL;
    struct stat status;
    if (fstat(fd, &status) != 0 || status.st_size <= 0) {
        close(fd);
        return NULL;
    }
    *size = (size_t)status.st_size;
    unsigned char *bytes = malloc(*size);
    size_t done = 0;
    while (bytes != NULL && done < *size) {
        ssize_t count = read(fd, bytes + done, *size - done);
        if (count <= 0) {
            free(bytes);
            bytes = NULL;
            break;
        }
        done += (size_t)count;
    }
    close(fd);
    return bytes;
}

int main(int argc, char **argv) {
    uint32_t trusted[8];
    size_t trusted_count = 0;
    int argument = 1;
    while (argument + 1 < argc && strcmp(argv[argument], "--trust") == 0 && trusted_count < 8) {
        trusted[trusted_count++] = (uint32_t)strtoul(argv[argument + 1], NULL, 10);
        argument += 2;
    }
    if (argument + 1 != argc) {
        fprintf(stderr, "usage: driver [--trust UID]... NAME < COMMANDS\n");
        return 2;
    }
    const char *name = argv[argument];
    hostess_reader *reader = NULL;
    hostess_open_failure failure;
    int status = hostess_reader_open(name, trusted, trusted_count, &reader, &failure);
    printf("open %d %s %d %u %o %llu %llu %u\n", status, failure.field == NULL ? "-" : failure.field, failure.sys_errno, failure.owner,
           failure.mode, (unsigned long long)failure.size, (unsigned long long)failure.needed, failure.version);
    if (status != HOSTESS_OK) {
        if (reader != NULL || strlen(hostess_reader_strerror(status)) == 0) return 3;
        return 0;
    }
    size_t size = 0;
    void *bytes = read_file(name, &size);
    hostess_reader *copy = NULL;
    if (bytes == NULL || hostess_reader_open_bytes(bytes, size, &copy, &failure) != HOSTESS_OK) {
        fprintf(stderr, "driver: the heap copy of %s did not open\n", name);
        return 3;
    }
    int disagreed = 0;
    char command[4096];
    while (fgets(command, sizeof command, stdin) != NULL) {
        size_t length = strlen(command);
        while (length > 0 && (command[length - 1] == '\n' || command[length - 1] == '\r')) command[--length] = 0;
        if (length == 0) continue;
        struct text mapped = {0}, heap = {0};
        run(reader, command, 1, &mapped);
        run(copy, command, 0, &heap);
        if (strncmp(command, "liveness", 8) != 0 && strcmp(mapped.bytes, heap.bytes) != 0) {
            fprintf(stderr, "driver: '%s': the mapping gave '%s', the heap copy '%s'\n", command, mapped.bytes, heap.bytes);
            disagreed = 1;
        }
        printf("%s\n", mapped.bytes);
        free(mapped.bytes);
        free(heap.bytes);
    }
    hostess_reader_close(copy);
    hostess_reader_close(reader);
    free(bytes);
    return disagreed ? 3 : 0;
}
