/*
 * hostess_reader.c: the C reader of the Hostess shared-memory guest book, layout 3.x.
 *
 * Every number here is in docs/shm-layout.md and Sources/HostessRegion/Layout.swift; the algorithms follow
 * Sources/HostessRegion/RegionReader.swift step by step, so that both readers give the same answers.
 *
 * Builds alone: cc -std=c11 -Wall -Wextra -Werror -pedantic -c hostess_reader.c -I include
 *
 * Memory model. The words outside the copies (sequence, revision, closed, ...) are read with C11 atomic
 * loads of the orders section 5 gives. Inside a copy, every field (offsets, lengths, slot numbers, links) is
 * read once with a relaxed atomic load into a local, checked, and only then used, so a value the writer
 * changes meanwhile cannot slip past its check. Id bytes are compared with memcmp and payload bytes copied
 * with memcpy, as the Linux kernel's, bionic's and the Swift reader's latch readers do; nothing read in a
 * section is acted on before the sequence check confirms it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* F_OFD_GETLK, syscall(), lstat() under -std=c11 */
#endif

#include "hostess_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Hostess region is little-endian and shared with a writer on the same machine: build on a little-endian host"
#endif

_Static_assert(ATOMIC_CHAR_LOCK_FREE == 2 && ATOMIC_SHORT_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2 &&
                   ATOMIC_LLONG_LOCK_FREE == 2,
               "atomics shared between processes must be lock-free");
_Static_assert(sizeof(unsigned long long) == 8 && sizeof(unsigned int) == 4 && sizeof(unsigned short) == 2,
               "the region's words are 2, 4 and 8 bytes");

/* MARK: - Layout constants (section 3) */

#define MAGIC UINT64_C(0x3153534554534F48)       /* "HOSTESS1" */
#define FINGERPRINT UINT64_C(0x47092A25A305DEDC) /* section 4.2 */
#define TOMBSTONE UINT64_C(0xFFFFFFFF)

enum {
    HEADER_SIZE = 4096,
    COPY_HEADER_SIZE = 64,
    SUMMARY_SIZE = 32,
    RECORD_SIZE = 256,
    CAPABILITY_SIZE = 80,
    INDEX_SLOT_SIZE = 8,
    CAPABILITY_CAPACITY = 2048,
    CLASS_BUCKETS = 256,
    MAX_INLINE_ID = HOSTESS_MAX_INLINE_ID_BYTES,
    MAX_ID = HOSTESS_MAX_ID_BYTES,
    MAX_RECORD_CAPABILITIES = HOSTESS_MAX_CAPABILITIES,
    MAX_CAPACITY = 1 << 24,
    MAX_FILTER_CAPABILITIES = HOSTESS_MAX_FILTER_CAPABILITIES
};
#define MAX_ARENA_BYTES (UINT64_C(1) << 40)

/* Header fields: byte offsets from the region's start (section 3.2). */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_SIZE = 12,
    H_FINGERPRINT = 16,
    H_REGION_SIZE = 24,
    H_CAPACITY = 32,
    H_CAPABILITY_CAPACITY = 36,
    H_INDEX_SLOTS = 40,
    H_CAPABILITY_TABLE = 48,
    H_HEARTBEATS = 56,
    H_COPY0 = 64,
    H_COPY1 = 72,
    H_COPY_SIZE = 80,
    H_ARENA_BYTES = 88,
    H_INSTANCE_ID = 96,
    H_WRITER_PID = 112,
    H_CLOSED = 116,
    H_CREATED_AT = 120,
    H_REVISION = 128,
    H_CAPABILITY_COUNT = 136,
    H_CAPABILITY_GENERATION = 144,
    H_SEQUENCE = 192,
    H_WRITER_HEARTBEAT = 256,
    H_PUBLICATIONS = 320
};

/* Copy header (section 3.6), summary (3.7) and record (3.8) fields. */
enum { C_REVISION = 0 };
enum { S_SERIAL = 0, S_CAPABILITY_MASK = 8, S_CLASS_WORD = 16, S_FLAGS = 21 };
enum {
    R_SERIAL = 0,
    R_ID_OFFSET = 8,
    R_ID_LENGTH = 12,
    R_FQDN_LENGTH = 14,
    R_PAYLOAD_OFFSET = 16,
    R_PAYLOAD_LENGTH = 20,
    R_ID = 24,
    R_SERVERNAME_OFFSET = 152,
    R_SERVERNAME_LENGTH = 154,
    R_OWNER_OFFSET = 156,
    R_OWNER_LENGTH = 158,
    R_CLASS = 166,
    R_TERMINALS = 169,
    R_AVAILABLE = 170,
    R_CAPABILITY_COUNT = 171,
    R_FLAGS = 172,
    R_REGISTERED_AT = 176,
    R_CAPABILITIES = 192
};

/* The flags byte's reservation bit, as in summaries. */
#define FLAG_RESERVED 2u

/* MARK: - The reader */

/* The layout recomputed from capacity and arenaBytes (section 3.1); offsets in a copy are from its start. */
struct layout {
    uint64_t capacity, index_slots, arena_bytes;
    uint64_t capability_table, heartbeats, copy0, copy1, copy_size, region_size;
    uint64_t summaries, records, index, arena, class_heads, class_links;
};

/* "/dev/shm" + a name of at most 251 bytes + NUL. */
#define PATH_BYTES (8 + 251 + 1)

struct hostess_reader {
    const unsigned char *base; /* the mapping (or the caller's bytes) */
    size_t size;               /* bytes mapped */
    int fd;                    /* -1 for a reader of bytes */
    int mapped;                /* whether close unmaps base */
    dev_t device;
    ino_t inode;
    char path[PATH_BYTES];
    struct layout layout;
    _Atomic uint64_t retries;
};

/* MARK: - Loads */

/* Every word of the region is naturally aligned (the layout's offsets are multiples of the field sizes),
   so each of these is one single-copy-atomic load. The casts drop const only for the atomic load's sake. */
static inline uint8_t ld8(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint8_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline uint16_t ld16(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint16_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline uint32_t ld32(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint32_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline uint64_t ld64(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed);
}
static inline uint32_t acquire32(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint32_t *)(uintptr_t)p, memory_order_acquire);
}
static inline uint64_t acquire64(const unsigned char *p) {
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_acquire);
}

static void count_retry(const hostess_reader *reader) {
    atomic_fetch_add_explicit(&((hostess_reader *)(uintptr_t)reader)->retries, 1, memory_order_relaxed);
}

/* MARK: - Hashing (section 4.1) */

static uint64_t hash_load64(const unsigned char *bytes) {
    uint64_t word = 0;
    for (unsigned i = 0; i < 8; i++) word |= (uint64_t)bytes[i] << (8 * i);
    return word;
}

static uint64_t hash_mix(uint64_t lane, uint64_t word) {
    lane = (lane ^ word) * UINT64_C(0xBF58476D1CE4E5B9);
    return lane ^ (lane >> 31);
}

static uint64_t hash_rotl(uint64_t value, unsigned bits) { return (value << bits) | (value >> (64 - bits)); }

uint64_t hostess_id_hash(const void *data, size_t length) {
    const unsigned char *bytes = data;
    uint64_t lane0 = UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)length;
    uint64_t lane1 = UINT64_C(0x6A09E667F3BCC909);
    uint64_t lane2 = UINT64_C(0xBB67AE8584CAA73B);
    uint64_t lane3 = UINT64_C(0x3C6EF372FE94F82B);
    size_t offset = 0;
    while (offset + 32 <= length) {
        lane0 = hash_mix(lane0, hash_load64(bytes + offset));
        lane1 = hash_mix(lane1, hash_load64(bytes + offset + 8));
        lane2 = hash_mix(lane2, hash_load64(bytes + offset + 16));
        lane3 = hash_mix(lane3, hash_load64(bytes + offset + 24));
        offset += 32;
    }
    uint64_t *rest[3] = {&lane0, &lane1, &lane2};
    for (unsigned i = 0; offset + 8 <= length; i++, offset += 8) *rest[i] = hash_mix(*rest[i], hash_load64(bytes + offset));
    if (offset < length) {
        uint64_t word = 0;
        unsigned shift = 0;
        while (offset < length) {
            word |= (uint64_t)bytes[offset++] << shift;
            shift += 8;
        }
        lane3 = hash_mix(lane3, word);
    }
    uint64_t hash = lane0 ^ hash_rotl(lane1, 17) ^ hash_rotl(lane2, 31) ^ hash_rotl(lane3, 47);
    hash = (hash ^ (hash >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    hash = (hash ^ (hash >> 27)) * UINT64_C(0x94D049BB133111EB);
    return hash ^ (hash >> 31);
}

/* MARK: - Status text */

const char *hostess_reader_strerror(int status) {
    switch (status) {
    case HOSTESS_OK: return "ok";
    case HOSTESS_NOT_FOUND: return "no entry has that id";
    case HOSTESS_TIMED_OUT: return "timed out: the revision did not change";
    case HOSTESS_CLOSED: return "the writer closed the region; open the name again";
    case HOSTESS_E_INVALID_ARGUMENT: return "invalid argument";
    case HOSTESS_E_INVALID_NAME: return "invalid shared-memory name (expected /NAME with no other '/')";
    case HOSTESS_E_SYSTEM: return "a system call failed (see errno)";
    case HOSTESS_E_NOT_REGULAR_FILE: return "not a Hostess region: the name is not a regular file";
    case HOSTESS_E_UNTRUSTED_OWNER: return "the region belongs to a user this reader does not trust";
    case HOSTESS_E_WRITABLE_BY_OTHERS: return "group or others may write the region, so it cannot be trusted";
    case HOSTESS_E_TOO_SMALL: return "the region is smaller than its header says (or than a header)";
    case HOSTESS_E_BAD_MAGIC: return "not a Hostess region (wrong magic number)";
    case HOSTESS_E_NOT_READY: return "the region is still being created (version 0); try again";
    case HOSTESS_E_UNSUPPORTED_VERSION: return "the region has another layout major version: written by another release of Hostess";
    case HOSTESS_E_FINGERPRINT_MISMATCH: return "the region was written with another record layout (ABI fingerprint differs)";
    case HOSTESS_E_INCONSISTENT_HEADER: return "the region's header is inconsistent with the layout it implies";
    case HOSTESS_E_BUFFER_TOO_SMALL: return "the buffer is too small for the answer";
    case HOSTESS_E_BUSY: return "the region changed during every read attempt; try again or use the socket";
    case HOSTESS_E_CORRUPT: return "the region is corrupt: an entry's payload is not a valid entry; use the socket";
    case HOSTESS_E_TRUNCATED: return "the region's file shrank while mapped; reading it further would fault";
    case HOSTESS_E_NO_MEMORY: return "out of memory";
    default: return "unknown status";
    }
}

/* MARK: - Opening */

static uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

/* Section 3.1. capacity <= 2^24 and arena_bytes <= 2^40, so nothing here overflows 64 bits. */
static void compute_layout(struct layout *layout, uint64_t capacity, uint64_t arena_bytes) {
    uint64_t slots = 1;
    while (slots < capacity * 2) slots <<= 1;
    layout->capacity = capacity;
    layout->index_slots = slots;
    layout->arena_bytes = arena_bytes;
    layout->capability_table = HEADER_SIZE;
    layout->heartbeats = align_up(HEADER_SIZE + (uint64_t)CAPABILITY_CAPACITY * CAPABILITY_SIZE, 64);
    layout->copy0 = align_up(layout->heartbeats + capacity * 8, 4096);
    layout->summaries = COPY_HEADER_SIZE;
    layout->records = align_up(layout->summaries + capacity * SUMMARY_SIZE, 64);
    layout->index = align_up(layout->records + capacity * RECORD_SIZE, 64);
    layout->arena = align_up(layout->index + slots * INDEX_SLOT_SIZE, 64);
    layout->class_heads = align_up(layout->arena + arena_bytes, 64);
    layout->class_links = align_up(layout->class_heads + CLASS_BUCKETS * 4, 64);
    layout->copy_size = align_up(layout->class_links + capacity * 4, 4096);
    layout->copy1 = layout->copy0 + layout->copy_size;
    layout->region_size = layout->copy1 + layout->copy_size;
}

static int inconsistent(hostess_open_failure *failure, const char *field, uint64_t stated, uint64_t implied) {
    failure->field = field;
    failure->stated = stated;
    failure->implied = implied;
    return HOSTESS_E_INCONSISTENT_HEADER;
}

/* Section 2.3, checks 7 to 13 (in RegionReader.checkHeader's order), then the capability count. */
static int check_header(const unsigned char *base, size_t size, struct layout *layout, hostess_open_failure *failure) {
    if (ld64(base + H_MAGIC) != MAGIC) return HOSTESS_E_BAD_MAGIC;
    uint32_t version = acquire32(base + H_VERSION);
    if (version == 0) return HOSTESS_E_NOT_READY;
    if (version >> 16 != HOSTESS_LAYOUT_MAJOR) {
        failure->version = version;
        return HOSTESS_E_UNSUPPORTED_VERSION;
    }
    uint32_t header_size = ld32(base + H_HEADER_SIZE);
    if (header_size != HEADER_SIZE) return inconsistent(failure, "headerSize", header_size, HEADER_SIZE);
    if (ld64(base + H_FINGERPRINT) != FINGERPRINT) return HOSTESS_E_FINGERPRINT_MISMATCH;
    uint64_t capacity = ld32(base + H_CAPACITY);
    uint64_t arena_bytes = ld64(base + H_ARENA_BYTES);
    if (capacity == 0 || capacity > MAX_CAPACITY) return inconsistent(failure, "capacity", capacity, MAX_CAPACITY);
    if (arena_bytes > MAX_ARENA_BYTES) return inconsistent(failure, "arenaBytes", arena_bytes, MAX_ARENA_BYTES);
    compute_layout(layout, capacity, arena_bytes);
    const struct {
        const char *field;
        uint64_t stated, implied;
    } expected[] = {
        {"regionSize", ld64(base + H_REGION_SIZE), layout->region_size},
        {"capabilityCapacity", ld32(base + H_CAPABILITY_CAPACITY), CAPABILITY_CAPACITY},
        {"indexSlots", ld32(base + H_INDEX_SLOTS), layout->index_slots},
        {"capabilityTableOffset", ld64(base + H_CAPABILITY_TABLE), layout->capability_table},
        {"heartbeatsOffset", ld64(base + H_HEARTBEATS), layout->heartbeats},
        {"copy0Offset", ld64(base + H_COPY0), layout->copy0},
        {"copy1Offset", ld64(base + H_COPY1), layout->copy1},
        {"copySize", ld64(base + H_COPY_SIZE), layout->copy_size},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (expected[i].stated != expected[i].implied) return inconsistent(failure, expected[i].field, expected[i].stated, expected[i].implied);
    }
    if ((uint64_t)size < layout->region_size) {
        failure->size = size;
        failure->needed = layout->region_size;
        return HOSTESS_E_TOO_SMALL;
    }
    /* The count only grows, and never past the table; a reader clamps it anyway whenever it reads it. */
    uint32_t capability_count = acquire32(base + H_CAPABILITY_COUNT);
    if (capability_count > CAPABILITY_CAPACITY) return inconsistent(failure, "capabilityCount", capability_count, CAPABILITY_CAPACITY);
    return HOSTESS_OK;
}

/* "/dev/shm" + name, when name is '/' and 1 to 250 bytes with no other '/' (no NUL: it is a C string), and
   neither "/." nor "/.." (SharedMemory.path(of:)). */
static int make_path(const char *name, char path[PATH_BYTES]) {
    size_t length = strlen(name);
    if (length < 2 || length > 251 || name[0] != '/') return 0;
    if (strchr(name + 1, '/') != NULL) return 0;
    if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0) return 0;
    memcpy(path, "/dev/shm", 8);
    memcpy(path + 8, name, length + 1);
    return 1;
}

static int system_failure(hostess_open_failure *failure, const char *call, int error) {
    failure->call = call;
    failure->sys_errno = error;
    errno = error;
    return HOSTESS_E_SYSTEM;
}

static void note_file(hostess_open_failure *failure, const struct stat *status) {
    failure->file_type = (uint32_t)(status->st_mode & S_IFMT);
    failure->owner = (uint32_t)status->st_uid;
    failure->mode = (uint32_t)(status->st_mode & 07777);
    failure->size = (uint64_t)status->st_size;
}

static int make_reader(const unsigned char *base, size_t size, const struct layout *layout, hostess_reader **out) {
    hostess_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) return HOSTESS_E_NO_MEMORY;
    reader->base = base;
    reader->size = size;
    reader->fd = -1;
    reader->layout = *layout;
    atomic_init(&reader->retries, 0);
    *out = reader;
    return HOSTESS_OK;
}

int hostess_reader_open(const char *name, const uint32_t *trusted_uids, size_t trusted_count, hostess_reader **out,
                        hostess_open_failure *failure) {
    hostess_open_failure ignored;
    if (failure == NULL) failure = &ignored;
    memset(failure, 0, sizeof *failure);
    if (out == NULL || (trusted_count > 0 && trusted_uids == NULL)) return HOSTESS_E_INVALID_ARGUMENT;
    *out = NULL;
    if (name == NULL) {
        const char *environment = getenv("HOSTESS_SHM");
        name = environment != NULL && environment[0] != '\0' ? environment : HOSTESS_DEFAULT_NAME;
    }
    char path[PATH_BYTES];
    if (!make_path(name, path)) {
        errno = EINVAL;
        return HOSTESS_E_INVALID_NAME;
    }

    /* 1. O_NONBLOCK: a FIFO under the name must not block the open; check 2 refuses it. */
    int fd;
    do fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int error = errno;
        struct stat status;
        /* A Unix socket cannot be opened at all (ENXIO): say what it is rather than "no such device". */
        if (error == ENXIO && lstat(path, &status) == 0 && !S_ISREG(status.st_mode)) {
            note_file(failure, &status);
            return HOSTESS_E_NOT_REGULAR_FILE;
        }
        return system_failure(failure, "open", error);
    }
    /* 2-5. The type before anything else is done with the descriptor, then owner, mode and size. */
    struct stat status;
    if (fstat(fd, &status) != 0) {
        int error = errno;
        close(fd);
        return system_failure(failure, "fstat", error);
    }
    note_file(failure, &status);
    int result = HOSTESS_OK;
    if (!S_ISREG(status.st_mode)) {
        result = HOSTESS_E_NOT_REGULAR_FILE;
    } else {
        int trusted = status.st_uid == 0 || status.st_uid == getuid();
        for (size_t i = 0; !trusted && i < trusted_count; i++) trusted = status.st_uid == (uid_t)trusted_uids[i];
        if (!trusted) {
            result = HOSTESS_E_UNTRUSTED_OWNER;
        } else if ((status.st_mode & 022) != 0) {
            result = HOSTESS_E_WRITABLE_BY_OTHERS;
        } else if (status.st_size < HEADER_SIZE) {
            failure->needed = HEADER_SIZE;
            result = HOSTESS_E_TOO_SMALL;
        } else if ((uint64_t)status.st_size > (uint64_t)SIZE_MAX) {
            result = system_failure(failure, "mmap", EFBIG);
        }
    }
    if (result != HOSTESS_OK) {
        close(fd);
        return result;
    }
    /* 6. */
    size_t size = (size_t)status.st_size;
    void *mapping = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) {
        int error = errno;
        close(fd);
        return system_failure(failure, "mmap", error);
    }
    /* 7-13. */
    struct layout layout;
    result = check_header(mapping, size, &layout, failure);
    hostess_reader *reader = NULL;
    if (result == HOSTESS_OK) result = make_reader(mapping, size, &layout, &reader);
    if (result != HOSTESS_OK) {
        munmap(mapping, size);
        close(fd);
        return result;
    }
    reader->fd = fd;
    reader->mapped = 1;
    reader->device = status.st_dev;
    reader->inode = status.st_ino;
    memcpy(reader->path, path, sizeof path);
    *out = reader;
    return HOSTESS_OK;
}

int hostess_reader_open_bytes(const void *bytes, size_t size, hostess_reader **out, hostess_open_failure *failure) {
    hostess_open_failure ignored;
    if (failure == NULL) failure = &ignored;
    memset(failure, 0, sizeof *failure);
    if (out == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    *out = NULL;
    if (bytes == NULL || (uintptr_t)bytes % 8 != 0) return HOSTESS_E_INVALID_ARGUMENT;
    failure->size = size;
    if (size < HEADER_SIZE) {
        failure->needed = HEADER_SIZE;
        return HOSTESS_E_TOO_SMALL;
    }
    struct layout layout;
    int result = check_header(bytes, size, &layout, failure);
    if (result != HOSTESS_OK) return result;
    return make_reader(bytes, size, &layout, out);
}

void hostess_reader_close(hostess_reader *reader) {
    if (reader == NULL) return;
    if (reader->mapped) munmap((void *)(uintptr_t)reader->base, reader->size);
    if (reader->fd >= 0) close(reader->fd);
    free(reader);
}

/* MARK: - The region */

int hostess_reader_region_info(const hostess_reader *reader, hostess_region_info *info) {
    if (reader == NULL || info == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    memset(info, 0, sizeof *info);
    info->capacity = (uint32_t)reader->layout.capacity;
    info->version_minor = acquire32(reader->base + H_VERSION) & 0xFFFF;
    info->arena_bytes = reader->layout.arena_bytes;
    info->region_size = reader->layout.region_size;
    for (int i = 0; i < 16; i++) info->instance_id[i] = ld8(reader->base + H_INSTANCE_ID + i);
    info->writer_pid = ld32(reader->base + H_WRITER_PID);
    info->created_at = (int64_t)ld64(reader->base + H_CREATED_AT);
    return HOSTESS_OK;
}

size_t hostess_reader_max_payload_bytes(const hostess_reader *reader) {
    if (reader == NULL) return 0;
    uint64_t largest = reader->layout.arena_bytes < UINT32_MAX ? reader->layout.arena_bytes : UINT32_MAX;
    uint64_t total = largest + HOSTESS_HEARTBEAT_SPLICE_BYTES + 1;
    return total > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)total;
}

uint64_t hostess_reader_revision(const hostess_reader *reader) {
    return reader == NULL ? 0 : acquire64(reader->base + H_REVISION);
}

uint64_t hostess_reader_retries(const hostess_reader *reader) {
    return reader == NULL ? 0 : atomic_load_explicit(&((hostess_reader *)(uintptr_t)reader)->retries, memory_order_relaxed);
}

/* MARK: - Read sections (section 5.2) */

/* The body of a read section: reads the copy at `copy`, keeps what it found in `context` (resetting it first:
   it may run several times), and never acts on it; the caller does, once the section is confirmed. */
typedef void (*section_body)(const hostess_reader *reader, const unsigned char *copy, void *context);

/* Runs `body` until the sequence is unchanged around it: HOSTESS_OK, or HOSTESS_E_BUSY after
   HOSTESS_MAX_ATTEMPTS attempts. */
static int read_section(const hostess_reader *reader, section_body body, void *context) {
    const unsigned char *sequence_word = reader->base + H_SEQUENCE;
    for (int attempt = 0; attempt < HOSTESS_MAX_ATTEMPTS; attempt++) {
        uint64_t sequence = acquire64(sequence_word);
        const unsigned char *copy = reader->base + ((sequence & 1) ? reader->layout.copy1 : reader->layout.copy0);
        body(reader, copy, context);
        atomic_thread_fence(memory_order_acquire);
        if (ld64(sequence_word) == sequence) return HOSTESS_OK;
        count_retry(reader);
    }
    return HOSTESS_E_BUSY;
}

static void stable_revision_body(const hostess_reader *reader, const unsigned char *copy, void *context) {
    (void)reader;
    *(uint64_t *)context = ld64(copy + C_REVISION);
}

int hostess_reader_stable_revision(const hostess_reader *reader, uint64_t *revision) {
    if (reader == NULL || revision == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    uint64_t found = 0;
    int result = read_section(reader, stable_revision_body, &found);
    if (result == HOSTESS_OK) *revision = found;
    return result;
}

/* MARK: - Records */

/* The id's bytes of a record: inline up to MAX_INLINE_ID, else in the copy's arena where it lies inside it;
   NULL (length 0) for a length over MAX_ID or a range outside the arena (EntryView.id). */
static const unsigned char *record_id(const struct layout *layout, const unsigned char *record, const unsigned char *arena,
                                      size_t *length) {
    uint16_t id_length = ld16(record + R_ID_LENGTH);
    *length = 0;
    if (id_length <= MAX_INLINE_ID) {
        *length = id_length;
        return record + R_ID;
    }
    if (id_length > MAX_ID) return NULL;
    uint64_t offset = ld32(record + R_ID_OFFSET);
    if (id_length > layout->arena_bytes || offset > layout->arena_bytes - id_length) return NULL;
    *length = id_length;
    return arena + offset;
}

/* Whether the id part at `offset ..< offset + length` of the id equals the NUL-terminated `wanted`; a part
   outside the id is empty (EntryView.idPart). */
static int id_part_equals(const unsigned char *id, size_t id_length, uint64_t offset, uint64_t length, const char *wanted) {
    size_t wanted_length = strlen(wanted);
    if (id == NULL || offset > id_length || length > id_length - offset) return wanted_length == 0;
    return wanted_length == length && (length == 0 || memcmp(id + offset, wanted, length) == 0);
}

/* The payload range of a record inside the copy's arena, or NULL when it does not lie inside it. */
static const unsigned char *record_payload(const struct layout *layout, const unsigned char *record, const unsigned char *arena,
                                           size_t *length) {
    uint64_t offset = ld32(record + R_PAYLOAD_OFFSET);
    uint64_t size = ld32(record + R_PAYLOAD_LENGTH);
    *length = 0;
    if (offset > layout->arena_bytes || size > layout->arena_bytes - offset) return NULL;
    *length = (size_t)size;
    return arena + offset;
}

/* The fixed fields of an entry, read from its record (and its heartbeat slot). */
struct fields {
    uint64_t serial;
    int64_t registered_at;
    int64_t slot_heartbeat;
    uint32_t slot;
    uint16_t class_code;
    uint8_t terminal_count, available_terminals, flags, capability_count;
};

static void read_fields(const hostess_reader *reader, const unsigned char *record, uint64_t slot, struct fields *fields) {
    fields->serial = ld64(record + R_SERIAL);
    fields->registered_at = (int64_t)ld64(record + R_REGISTERED_AT);
    fields->slot_heartbeat = (int64_t)ld64(reader->base + reader->layout.heartbeats + slot * 8);
    fields->slot = (uint32_t)slot;
    fields->class_code = ld16(record + R_CLASS);
    fields->terminal_count = ld8(record + R_TERMINALS);
    fields->available_terminals = ld8(record + R_AVAILABLE);
    fields->flags = ld8(record + R_FLAGS);
    uint8_t count = ld8(record + R_CAPABILITY_COUNT);
    fields->capability_count = count < MAX_RECORD_CAPABILITIES ? count : MAX_RECORD_CAPABILITIES;
}

static void fill_info(hostess_entry_info *info, const struct fields *fields, uint64_t revision) {
    info->serial = fields->serial;
    info->registered_at = fields->registered_at;
    info->last_heartbeat = fields->slot_heartbeat;
    info->revision = revision;
    info->slot = fields->slot;
    info->class_code = fields->class_code;
    info->terminal_count = fields->terminal_count;
    info->available_terminals = fields->available_terminals;
    info->flags = fields->flags;
    info->capability_count = fields->capability_count;
}

/* MARK: - Payloads */

/* Whether the JSON string whose body starts at p[start] (after its opening quote) spells exactly `text`. The
   writer escapes '"', '\\' and control bytes only; ids are ASCII, so a \u escape stands for one byte. */
static int json_string_equals(const unsigned char *p, size_t n, size_t start, const unsigned char *text, size_t length) {
    size_t k = 0;
    for (size_t i = start; i < n;) {
        unsigned char c = p[i];
        unsigned char want;
        if (c == '"') return k == length;
        if (c == '\\') {
            if (i + 1 >= n) return 0;
            switch (p[i + 1]) {
            case '"': want = '"'; break;
            case '\\': want = '\\'; break;
            case '/': want = '/'; break;
            case 'b': want = '\b'; break;
            case 'f': want = '\f'; break;
            case 'n': want = '\n'; break;
            case 'r': want = '\r'; break;
            case 't': want = '\t'; break;
            case 'u': {
                if (n - i < 6) return 0;
                unsigned code = 0;
                for (size_t d = i + 2; d < i + 6; d++) {
                    unsigned char h = p[d];
                    unsigned digit = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                                            : 16u;
                    if (digit > 15) return 0;
                    code = code << 4 | digit;
                }
                if (code > 0x7F) return 0;
                want = (unsigned char)code;
                i += 4;
                break;
            }
            default: return 0;
            }
            i += 2;
        } else {
            want = c;
            i += 1;
        }
        if (k >= length || text[k] != want) return 0;
        k++;
    }
    return 0;
}

/* Where the payload's own top-level "lastHeartbeat" value is, and that value. */
struct heartbeat_span {
    size_t start, end;
    int64_t value;
};

/* Parses an integer at p[i ..< n] that ends at ',' or '}' into span (compact JSON: no spaces). */
static int parse_heartbeat(const unsigned char *p, size_t n, size_t i, struct heartbeat_span *span) {
    size_t start = i;
    int negative = 0;
    if (i < n && p[i] == '-') {
        negative = 1;
        i++;
    }
    uint64_t magnitude = 0;
    size_t digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        uint64_t digit = (uint64_t)(p[i] - '0');
        if (magnitude > (UINT64_C(9223372036854775808) - digit) / 10) return 0;
        magnitude = magnitude * 10 + digit;
        digits++;
        i++;
    }
    if (digits == 0 || i >= n || (p[i] != ',' && p[i] != '}')) return 0;
    if (!negative && magnitude > (uint64_t)INT64_MAX) return 0;
    span->start = start;
    span->end = i;
    span->value = negative ? (magnitude == UINT64_C(9223372036854775808) ? INT64_MIN : -(int64_t)magnitude) : (int64_t)magnitude;
    return 1;
}

/* Whether p[0 ..< n] looks like an entry's compact JSON (GuestBookEntry.json): an object whose first member is
   "id" (spelling `id` when it is not NULL), whose strings end and hold no raw control bytes, whose nesting is
   balanced and closes only at the last byte, and which has an integer top-level "lastHeartbeat" (found as
   WireForm.heartbeatDigits finds it: the first such key at depth 1). */
static int scan_payload(const unsigned char *p, size_t n, const unsigned char *id, size_t id_length, struct heartbeat_span *span) {
    static const char prefix[] = "{\"id\":\"";
    static const char key[] = "lastHeartbeat";
    const size_t prefix_length = sizeof prefix - 1, key_length = sizeof key - 1;
    if (n < prefix_length + 2 || memcmp(p, prefix, prefix_length) != 0 || p[n - 1] != '}') return 0;
    if (id != NULL && !json_string_equals(p, n, prefix_length, id, id_length)) return 0;
    size_t depth = 0;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            size_t start = i + 1;
            for (i = start; i < n && p[i] != '"'; i++) {
                if (p[i] < 0x20) return 0;
                if (p[i] == '\\') i++;
            }
            if (i >= n) return 0;
            if (depth == 1 && !found && i - start == key_length && memcmp(p + start, key, key_length) == 0 && i + 1 < n &&
                p[i + 1] == ':') {
                if (!parse_heartbeat(p, n, i + 2, span)) return 0;
                found = 1;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return 0;
            depth--;
            if (depth == 0 && i != n - 1) return 0;
        }
    }
    return depth == 0 && found;
}

/* Decimal digits of `value` into out (at least 21 bytes); returns their count. */
static size_t format_int64(int64_t value, char *out) {
    char digits[24];
    size_t count = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    size_t length = 0;
    if (value < 0) out[length++] = '-';
    while (count > 0) out[length++] = digits[--count];
    return length;
}

/* Checks the confirmed payload at buffer[0 ..< *length] and folds the heartbeat slot into it (section 3.4):
   when `slot_heartbeat` is newer than the payload's "lastHeartbeat", its digits replace the payload's. Then a
   NUL follows. Returns HOSTESS_OK, HOSTESS_E_CORRUPT, or HOSTESS_E_BUFFER_TOO_SMALL with *needed set. */
static int finish_payload(char *buffer, size_t capacity, size_t *length, const unsigned char *id, size_t id_length,
                          int64_t slot_heartbeat, int64_t *last_heartbeat, size_t *needed) {
    struct heartbeat_span span = {0, 0, 0};
    unsigned char *bytes = (unsigned char *)buffer;
    if (!scan_payload(bytes, *length, id, id_length, &span)) return HOSTESS_E_CORRUPT;
    *last_heartbeat = span.value;
    if (slot_heartbeat > span.value) {
        char digits[24];
        size_t count = format_int64(slot_heartbeat, digits);
        size_t old_count = span.end - span.start;
        size_t new_length = *length - old_count + count;
        if (new_length + 1 > capacity) {
            *needed = new_length + 1;
            return HOSTESS_E_BUFFER_TOO_SMALL;
        }
        memmove(bytes + span.start + count, bytes + span.end, *length - span.end);
        memcpy(bytes + span.start, digits, count);
        *length = new_length;
        *last_heartbeat = slot_heartbeat;
    }
    if (*length + 1 > capacity) {
        *needed = *length + 1;
        return HOSTESS_E_BUFFER_TOO_SMALL;
    }
    bytes[*length] = 0;
    return HOSTESS_OK;
}

/* MARK: - Lookup by id */

/* The slot holding `id` in the copy, or -1 (RegionReader.find): a probe sequence bounded by the index's size,
   every slot number, id length and id range checked before use. */
static int64_t find_slot(const hostess_reader *reader, const unsigned char *copy, const unsigned char *id, size_t length,
                         uint32_t hash) {
    const struct layout *layout = &reader->layout;
    const uint64_t mask = layout->index_slots - 1;
    const unsigned char *index = copy + layout->index;
    const unsigned char *records = copy + layout->records;
    const unsigned char *arena = copy + layout->arena;
    uint64_t position = hash & mask;
    for (uint64_t probe = 0; probe < layout->index_slots; probe++, position = (position + 1) & mask) {
        uint64_t value = ld64(index + position * INDEX_SLOT_SIZE);
        if (value == 0) return -1;
        if (value == TOMBSTONE || (uint32_t)(value >> 32) != hash) continue;
        uint64_t number = value & UINT64_C(0xFFFFFFFF);
        if (number == 0 || number > layout->capacity) continue;
        uint64_t slot = number - 1;
        const unsigned char *record = records + slot * RECORD_SIZE;
        uint16_t id_length = ld16(record + R_ID_LENGTH);
        if (id_length != length) continue;
        if (id_length == 0) return (int64_t)slot;
        if (id_length <= MAX_INLINE_ID) {
            if (memcmp(record + R_ID, id, id_length) == 0) return (int64_t)slot;
        } else if (id_length <= MAX_ID) {
            uint64_t offset = ld32(record + R_ID_OFFSET);
            if (id_length <= layout->arena_bytes && offset <= layout->arena_bytes - id_length &&
                memcmp(arena + offset, id, id_length) == 0)
                return (int64_t)slot;
        }
    }
    return -1;
}

struct lookup {
    /* in */
    const unsigned char *id;
    size_t id_length;
    uint32_t hash;
    char *buffer;
    size_t buffer_size;
    /* out, reset by each attempt */
    int found, outside_arena, copied;
    size_t length;
    uint64_t revision;
    struct fields fields;
};

static void lookup_body(const hostess_reader *reader, const unsigned char *copy, void *context) {
    struct lookup *lookup = context;
    lookup->found = lookup->outside_arena = lookup->copied = 0;
    lookup->length = 0;
    int64_t slot = find_slot(reader, copy, lookup->id, lookup->id_length, lookup->hash);
    if (slot < 0) return;
    const unsigned char *record = copy + reader->layout.records + (uint64_t)slot * RECORD_SIZE;
    lookup->found = 1;
    lookup->revision = ld64(copy + C_REVISION);
    read_fields(reader, record, (uint64_t)slot, &lookup->fields);
    size_t length;
    const unsigned char *payload = record_payload(&reader->layout, record, copy + reader->layout.arena, &length);
    if (payload == NULL) {
        lookup->outside_arena = 1;
        return;
    }
    lookup->length = length;
    if (length < lookup->buffer_size) {
        memcpy(lookup->buffer, payload, length);
        lookup->copied = 1;
    }
}

/* The canonical spelling of a server name (ServerName.init(parsing:)): the hexcode and the UUID in lower case.
   Returns 1 and fills `out` when it differs from `id`; 0 when it is the same or `id` is not shaped like a name
   (then the socket finds nothing either). */
static int canonical_id(const unsigned char *id, size_t length, unsigned char out[MAX_ID]) {
    if (length == 0 || length > MAX_ID) return 0;
    size_t position;
    if (id[0] == '[') {
        const unsigned char *close = memchr(id, ']', length);
        if (close == NULL) return 0;
        position = (size_t)(close - id) + 1;
        if (position >= length || id[position] != ':') return 0;
        position++;
    } else {
        const unsigned char *colon = memchr(id, ':', length);
        if (colon == NULL) return 0;
        position = (size_t)(colon - id) + 1;
    }
    /* The fields after the fqdn: servername, hexcode, owner, authentication, mechanism, UUID, extensions. */
    size_t starts[6], ends[6], fields = 0, start = position;
    for (size_t i = position; i <= length && fields < 6; i++) {
        if (i == length || id[i] == ':') {
            starts[fields] = start;
            ends[fields] = i;
            fields++;
            start = i + 1;
        }
    }
    if (fields < 6) return 0;
    memcpy(out, id, length);
    int changed = 0;
    /* The hexcode: "0x" or "0X" and four hex digits. */
    if (ends[1] - starts[1] != 6 || out[starts[1]] != '0') return 0;
    for (size_t i = starts[1] + 1; i < ends[1]; i++) {
        unsigned char c = out[i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (i == starts[1] + 1 ? (c != 'x' && c != 'X') : !hex) return 0;
        if (c >= 'A' && c <= 'Z') {
            out[i] = (unsigned char)(c - 'A' + 'a');
            changed = 1;
        }
    }
    /* The UUID: 8-4-4-4-12 hex digits. */
    if (ends[5] - starts[5] != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        unsigned char c = out[starts[5] + i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (c >= 'A' && c <= 'F') {
            out[starts[5] + i] = (unsigned char)(c - 'A' + 'a');
            changed = 1;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return changed;
}

/* One lookup of one spelling. */
static int lookup_once(const hostess_reader *reader, const unsigned char *id, size_t id_length, char *buffer, size_t buffer_size,
                       hostess_entry_info *info) {
    struct lookup lookup = {.id = id, .id_length = id_length, .buffer = buffer, .buffer_size = buffer_size};
    lookup.hash = (uint32_t)hostess_id_hash(id, id_length);
    int result = read_section(reader, lookup_body, &lookup);
    if (result != HOSTESS_OK) return result;
    if (!lookup.found) return HOSTESS_NOT_FOUND;
    fill_info(info, &lookup.fields, lookup.revision);
    if (lookup.outside_arena) return HOSTESS_E_CORRUPT;
    if (!lookup.copied) {
        info->needed = lookup.length + HOSTESS_HEARTBEAT_SPLICE_BYTES + 1;
        return HOSTESS_E_BUFFER_TOO_SMALL;
    }
    size_t length = lookup.length;
    result = finish_payload(buffer, buffer_size, &length, id, id_length, lookup.fields.slot_heartbeat, &info->last_heartbeat,
                            &info->needed);
    if (result == HOSTESS_OK) info->length = length;
    return result;
}

int hostess_reader_lookup(const hostess_reader *reader, const char *id, size_t id_length, char *buffer, size_t buffer_size,
                          hostess_entry_info *info) {
    hostess_entry_info ignored;
    if (info == NULL) info = &ignored;
    memset(info, 0, sizeof *info);
    if (reader == NULL || (id == NULL && id_length > 0) || buffer == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    static const unsigned char empty[1] = {0};
    const unsigned char *bytes = id == NULL ? empty : (const unsigned char *)id;
    if (id_length > MAX_ID) return HOSTESS_NOT_FOUND;
    int result = lookup_once(reader, bytes, id_length, buffer, buffer_size, info);
    if (result != HOSTESS_NOT_FOUND) return result;
    /* Not found as given: a non-canonical spelling (an upper-case UUID, say) names the same entry. */
    unsigned char canonical[MAX_ID];
    if (!canonical_id(bytes, id_length, canonical)) return HOSTESS_NOT_FOUND;
    return lookup_once(reader, canonical, id_length, buffer, buffer_size, info);
}

/* MARK: - Queries */

/* A filter made ready for a scan: its capability names resolved to table indexes. */
struct plan {
    const hostess_filter *filter;
    uint16_t required[MAX_FILTER_CAPABILITIES];
    size_t required_count;
    uint64_t required_mask;
    int matches_nothing; /* a capability name the table does not hold */
};

/* The first table index holding `name` (RegionReader.refresh keeps the first), or 0 when none does. */
static int resolve_capability(const hostess_reader *reader, const char *name, uint16_t *index) {
    size_t length = strlen(name);
    if (length > HOSTESS_MAX_CAPABILITY_BYTES) return 0;
    uint32_t count = acquire32(reader->base + H_CAPABILITY_COUNT);
    if (count > CAPABILITY_CAPACITY) count = CAPABILITY_CAPACITY;
    const unsigned char *table = reader->base + reader->layout.capability_table;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *entry = table + (uint64_t)i * CAPABILITY_SIZE;
        uint16_t stored = ld16(entry);
        if (stored > CAPABILITY_SIZE - 2) stored = CAPABILITY_SIZE - 2;
        if (stored == length && (length == 0 || memcmp(entry + 2, name, length) == 0)) {
            *index = (uint16_t)i;
            return 1;
        }
    }
    return 0;
}

static void make_plan(const hostess_reader *reader, const hostess_filter *filter, struct plan *plan) {
    plan->filter = filter;
    plan->required_count = 0;
    plan->required_mask = 0;
    plan->matches_nothing = 0;
    for (size_t i = 0; i < filter->capability_count; i++) {
        uint16_t index;
        if (!resolve_capability(reader, filter->capabilities[i], &index)) {
            plan->matches_nothing = 1;
            return;
        }
        plan->required[plan->required_count++] = index;
        plan->required_mask |= UINT64_C(1) << (index % 64);
    }
}

/* Called for each entry a scan matched, with its slot and record. */
typedef void (*match_visitor)(const hostess_reader *reader, const unsigned char *copy, uint64_t slot, const unsigned char *record,
                              void *context);

/* Whether the entry in `slot` satisfies the plan (RegionReader.scan's candidate): the summary first (class,
   free terminals, capability mask, serial, reservation), then the record (serial, every capability, name
   parts). Returns its record, or NULL. */
static const unsigned char *candidate(const hostess_reader *reader, const unsigned char *copy, const struct plan *plan, uint64_t slot) {
    const struct layout *layout = &reader->layout;
    const hostess_filter *filter = plan->filter;
    const unsigned char *summary = copy + layout->summaries + slot * SUMMARY_SIZE;
    uint32_t word = ld32(summary + S_CLASS_WORD); /* class | terminals << 16 | available << 24 */
    if (filter->has_class && (word & 0xFFFF) != filter->class_code) return NULL;
    if ((word >> 24) < filter->min_available_terminals) return NULL;
    if ((ld64(summary + S_CAPABILITY_MASK) & plan->required_mask) != plan->required_mask) return NULL;
    if (ld64(summary + S_SERIAL) == 0) return NULL;
    if (filter->unreserved && (ld8(summary + S_FLAGS) & FLAG_RESERVED) != 0) return NULL;
    const unsigned char *record = copy + layout->records + slot * RECORD_SIZE;
    if (ld64(record + R_SERIAL) == 0) return NULL;
    if (plan->required_count > 0) {
        uint8_t count = ld8(record + R_CAPABILITY_COUNT);
        if (count > MAX_RECORD_CAPABILITIES) count = MAX_RECORD_CAPABILITIES;
        for (size_t r = 0; r < plan->required_count; r++) {
            int has = 0;
            for (uint8_t position = 0; position < count && !has; position++) has = ld16(record + R_CAPABILITIES + position * 2) == plan->required[r];
            if (!has) return NULL;
        }
    }
    if (filter->fqdn != NULL || filter->servername != NULL || filter->owner != NULL) {
        size_t id_length;
        const unsigned char *id = record_id(layout, record, copy + layout->arena, &id_length);
        if (filter->fqdn != NULL && !id_part_equals(id, id_length, 0, ld16(record + R_FQDN_LENGTH), filter->fqdn)) return NULL;
        if (filter->servername != NULL &&
            !id_part_equals(id, id_length, ld16(record + R_SERVERNAME_OFFSET), ld16(record + R_SERVERNAME_LENGTH), filter->servername))
            return NULL;
        if (filter->owner != NULL && !id_part_equals(id, id_length, ld16(record + R_OWNER_OFFSET), ld16(record + R_OWNER_LENGTH), filter->owner))
            return NULL;
    }
    return record;
}

/* Calls `visit` for each entry of the copy that satisfies the plan: with a class, along that class's chain
   (at most `capacity` steps, every link checked before use); otherwise over every slot. */
static void scan(const hostess_reader *reader, const unsigned char *copy, const struct plan *plan, match_visitor visit, void *context) {
    const struct layout *layout = &reader->layout;
    if (plan->matches_nothing) return;
    if (plan->filter->has_class) {
        const unsigned char *links = copy + layout->class_links;
        uint64_t link = ld32(copy + layout->class_heads + (uint64_t)(plan->filter->class_code % CLASS_BUCKETS) * 4);
        for (uint64_t step = 0; step < layout->capacity; step++) {
            if (link == 0 || link > layout->capacity) return;
            uint64_t slot = link - 1;
            link = ld32(links + slot * 4);
            const unsigned char *record = candidate(reader, copy, plan, slot);
            if (record != NULL) visit(reader, copy, slot, record, context);
        }
        return;
    }
    for (uint64_t slot = 0; slot < layout->capacity; slot++) {
        const unsigned char *record = candidate(reader, copy, plan, slot);
        if (record != NULL) visit(reader, copy, slot, record, context);
    }
}

/* Runs `body` in read sections under one capability generation (section 3.3): names are resolved to indexes
   first, and the answer is kept only when the generation is unchanged after the section. */
struct generation_section {
    const hostess_filter *filter;
    struct plan plan;
    section_body body;
    void *context;
};

static int read_section_with_plan(const hostess_reader *reader, struct generation_section *section) {
    if (section->filter->capability_count == 0) {
        make_plan(reader, section->filter, &section->plan);
        return read_section(reader, section->body, section->context);
    }
    const unsigned char *generation_word = reader->base + H_CAPABILITY_GENERATION;
    for (int attempt = 0; attempt < HOSTESS_MAX_ATTEMPTS; attempt++) {
        uint64_t generation = acquire64(generation_word);
        make_plan(reader, section->filter, &section->plan);
        int result = read_section(reader, section->body, section->context);
        if (result != HOSTESS_OK) return result;
        atomic_thread_fence(memory_order_acquire);
        if (ld64(generation_word) == generation) return HOSTESS_OK;
        count_retry(reader);
    }
    return HOSTESS_E_BUSY;
}

/* MARK: Counting */

struct counting {
    struct generation_section *section;
    size_t count;
};

static void count_visit(const hostess_reader *reader, const unsigned char *copy, uint64_t slot, const unsigned char *record, void *context) {
    (void)reader, (void)copy, (void)slot, (void)record;
    ((struct counting *)context)->count++;
}

static void count_body(const hostess_reader *reader, const unsigned char *copy, void *context) {
    struct counting *counting = context;
    counting->count = 0;
    scan(reader, copy, &counting->section->plan, count_visit, counting);
}

static int check_filter(const hostess_filter *filter) {
    if (filter->capability_count > MAX_FILTER_CAPABILITIES || (filter->capability_count > 0 && filter->capabilities == NULL))
        return HOSTESS_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < filter->capability_count; i++)
        if (filter->capabilities[i] == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    return HOSTESS_OK;
}

int hostess_reader_count(const hostess_reader *reader, const hostess_filter *filter, size_t *count) {
    static const hostess_filter everything;
    if (reader == NULL || count == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    if (filter == NULL) filter = &everything;
    int result = check_filter(filter);
    if (result != HOSTESS_OK) return result;
    struct generation_section section = {.filter = filter, .body = count_body};
    struct counting counting = {.section = &section};
    section.context = &counting;
    result = read_section_with_plan(reader, &section);
    if (result == HOSTESS_OK) *count = counting.count;
    return result;
}

/* MARK: Collecting */

/* What a query keeps of one match until the answer is confirmed; kept at the scratch buffer's end, the
   payloads at its start. */
struct match {
    struct fields fields;
    uint64_t revision;
    size_t offset; /* of the payload in the scratch buffer */
    size_t length;
    size_t order; /* position in the scan */
    int64_t last_heartbeat; /* the larger of the payload's and the slot's, once checked */
    int outside_arena;
};

/* Each payload's room in the scratch: its bytes, the heartbeat's possible growth and a NUL. */
#define PAYLOAD_ROOM(length) ((length) + HOSTESS_HEARTBEAT_SPLICE_BYTES + 1)

struct collecting {
    struct generation_section *section;
    unsigned char *scratch;
    size_t scratch_size;
    /* out, reset by each attempt */
    size_t count;      /* matches seen */
    size_t used;       /* payload bytes used at the start */
    size_t needed;     /* scratch bytes the matches seen need */
    int overflow;      /* some did not fit */
    struct match *top; /* one past the last match slot (the aligned end) */
};

static void collect_visit(const hostess_reader *reader, const unsigned char *copy, uint64_t slot, const unsigned char *record, void *context) {
    struct collecting *collecting = context;
    size_t length;
    const unsigned char *payload = record_payload(&reader->layout, record, copy + reader->layout.arena, &length);
    size_t room = PAYLOAD_ROOM(payload == NULL ? 0 : length);
    collecting->needed += room + sizeof(struct match);
    size_t index = collecting->count++;
    if (collecting->overflow) return;
    /* The payloads so far, this one, and the match slots so far and this one's must fit between the start
       and the aligned end. */
    size_t available = (size_t)((uintptr_t)collecting->top - (uintptr_t)collecting->scratch);
    size_t slots = (index + 1) * sizeof(struct match);
    if (slots > available || collecting->used > available - slots || room > available - slots - collecting->used) {
        collecting->overflow = 1;
        return;
    }
    struct match *match = collecting->top - (index + 1);
    read_fields(reader, record, slot, &match->fields);
    match->revision = ld64(copy + C_REVISION);
    match->order = index;
    match->offset = collecting->used;
    match->outside_arena = payload == NULL;
    match->length = payload == NULL ? 0 : length;
    match->last_heartbeat = match->fields.slot_heartbeat;
    if (payload != NULL) memcpy(collecting->scratch + collecting->used, payload, length);
    collecting->used += room;
}

static void collect_body(const hostess_reader *reader, const unsigned char *copy, void *context) {
    struct collecting *collecting = context;
    collecting->count = collecting->used = 0;
    collecting->needed = alignof(struct match);
    collecting->overflow = 0;
    scan(reader, copy, &collecting->section->plan, collect_visit, collecting);
}

static int match_before(const struct match *a, const struct match *b) {
    return a->fields.serial < b->fields.serial || (a->fields.serial == b->fields.serial && a->order < b->order);
}

/* Heapsort: in place, no allocation (glibc's qsort may allocate). */
static void sift_down(struct match *matches, size_t root, size_t count) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= count) return;
        if (child + 1 < count && match_before(&matches[child], &matches[child + 1])) child++;
        if (!match_before(&matches[root], &matches[child])) return;
        struct match swap = matches[root];
        matches[root] = matches[child];
        matches[child] = swap;
        root = child;
    }
}

static void sort_matches(struct match *matches, size_t count) {
    if (count < 2) return;
    for (size_t start = count / 2; start-- > 0;) sift_down(matches, start, count);
    for (size_t end = count - 1; end > 0; end--) {
        struct match swap = matches[0];
        matches[0] = matches[end];
        matches[end] = swap;
        sift_down(matches, 0, end);
    }
}

/* One query into one scratch buffer: HOSTESS_OK (answer delivered), HOSTESS_E_BUFFER_TOO_SMALL with *needed,
   or an error. */
static int query_into(const hostess_reader *reader, const hostess_filter *filter, unsigned char *scratch, size_t scratch_size,
                      hostess_entry_callback callback, void *context, size_t *count, size_t *needed) {
    struct generation_section section = {.filter = filter, .body = collect_body};
    struct collecting collecting = {.section = &section, .scratch = scratch, .scratch_size = scratch_size};
    uintptr_t end = ((uintptr_t)scratch + scratch_size) / alignof(struct match) * alignof(struct match);
    if (end < (uintptr_t)scratch) end = (uintptr_t)scratch;
    collecting.top = (struct match *)end;
    section.context = &collecting;
    int result = read_section_with_plan(reader, &section);
    if (result != HOSTESS_OK) return result;
    if (collecting.overflow) {
        *needed = collecting.needed;
        return HOSTESS_E_BUFFER_TOO_SMALL;
    }
    struct match *matches = collecting.top - collecting.count;
    sort_matches(matches, collecting.count);
    /* A damaged chain could name a slot twice: an answer never holds an entry twice (the first seen stays). */
    size_t kept = 0;
    for (size_t i = 0; i < collecting.count; i++) {
        if (kept > 0 && matches[kept - 1].fields.serial == matches[i].fields.serial) continue;
        matches[kept++] = matches[i];
    }
    /* Every payload is checked before any is delivered: a corrupt region gives no partial answer. */
    for (size_t i = 0; i < kept; i++) {
        struct match *match = &matches[i];
        if (match->outside_arena) return HOSTESS_E_CORRUPT;
        size_t length = match->length, unused;
        if (finish_payload((char *)scratch + match->offset, PAYLOAD_ROOM(match->length), &length, NULL, 0, match->fields.slot_heartbeat,
                           &match->last_heartbeat, &unused) != HOSTESS_OK)
            return HOSTESS_E_CORRUPT;
        match->length = length;
    }
    size_t delivered = 0;
    for (size_t i = 0; i < kept; i++) {
        hostess_entry_info info;
        memset(&info, 0, sizeof info);
        fill_info(&info, &matches[i].fields, matches[i].revision);
        info.last_heartbeat = matches[i].last_heartbeat;
        info.length = matches[i].length;
        delivered++;
        if (callback != NULL && callback(context, (const char *)scratch + matches[i].offset, matches[i].length, &info) != 0) break;
    }
    if (count != NULL) *count = delivered;
    return HOSTESS_OK;
}

int hostess_reader_query_buffer(const hostess_reader *reader, const hostess_filter *filter, void *scratch, size_t scratch_size,
                                hostess_entry_callback callback, void *context, size_t *count, size_t *needed) {
    static const hostess_filter everything;
    size_t ignored;
    if (needed == NULL) needed = &ignored;
    *needed = 0;
    if (count != NULL) *count = 0;
    if (reader == NULL || (scratch == NULL && scratch_size > 0)) return HOSTESS_E_INVALID_ARGUMENT;
    if (filter == NULL) filter = &everything;
    int result = check_filter(filter);
    if (result != HOSTESS_OK) return result;
    static unsigned char nothing[sizeof(struct match)];
    return query_into(reader, filter, scratch == NULL ? nothing : scratch, scratch == NULL ? 0 : scratch_size, callback, context,
                      count, needed);
}

int hostess_reader_query(const hostess_reader *reader, const hostess_filter *filter, hostess_entry_callback callback, void *context,
                         size_t *count) {
    static const hostess_filter everything;
    if (count != NULL) *count = 0;
    if (reader == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    if (filter == NULL) filter = &everything;
    int result = check_filter(filter);
    if (result != HOSTESS_OK) return result;
    size_t size = 64 * 1024;
    /* Each round sizes the buffer for the state the last one read; a guest book that keeps growing faster
       than this loop is given up on as busy. */
    for (int round = 0; round < 32; round++) {
        unsigned char *scratch = malloc(size);
        if (scratch == NULL) return HOSTESS_E_NO_MEMORY;
        size_t needed = 0;
        result = query_into(reader, filter, scratch, size, callback, context, count, &needed);
        free(scratch);
        if (result != HOSTESS_E_BUFFER_TOO_SMALL) return result;
        size = needed + needed / 4 + 4096;
    }
    return HOSTESS_E_BUSY;
}

int hostess_reader_query_class(const hostess_reader *reader, uint16_t class_code, hostess_entry_callback callback, void *context,
                               size_t *count) {
    hostess_filter filter;
    memset(&filter, 0, sizeof filter);
    filter.has_class = 1;
    filter.class_code = class_code;
    return hostess_reader_query(reader, &filter, callback, context, count);
}

int hostess_reader_query_capability(const hostess_reader *reader, const char *capability, hostess_entry_callback callback,
                                    void *context, size_t *count) {
    if (capability == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    const char *names[1] = {capability};
    hostess_filter filter;
    memset(&filter, 0, sizeof filter);
    filter.capabilities = names;
    filter.capability_count = 1;
    return hostess_reader_query(reader, &filter, callback, context, count);
}

/* MARK: - Liveness (section 8) */

static int64_t monotonic_ns(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

int hostess_reader_is_closed(const hostess_reader *reader) {
    return reader != NULL && acquire32(reader->base + H_CLOSED) != 0;
}

int64_t hostess_reader_writer_heartbeat_age_ns(const hostess_reader *reader) {
    if (reader == NULL) return 0;
    uint64_t beat = acquire64(reader->base + H_WRITER_HEARTBEAT);
    uint64_t now = (uint64_t)monotonic_ns(CLOCK_MONOTONIC);
    if (now <= beat) return 0;
    uint64_t age = now - beat;
    return age > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)age;
}

hostess_liveness hostess_reader_liveness(const hostess_reader *reader) {
    if (reader == NULL) return HOSTESS_LIVENESS_UNKNOWN;
    if (hostess_reader_is_closed(reader)) return HOSTESS_LIVENESS_CLOSED;
    if (reader->fd < 0) return HOSTESS_LIVENESS_UNKNOWN;
    struct stat status;
    if (stat(reader->path, &status) != 0 || status.st_ino != reader->inode || status.st_dev != reader->device)
        return HOSTESS_LIVENESS_REPLACED;
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 1;
    lock.l_pid = 0; /* must be 0 for OFD locks */
    int result;
    do result = fcntl(reader->fd, F_OFD_GETLK, &lock);
    while (result != 0 && errno == EINTR);
    if (result != 0 || lock.l_type == F_UNLCK) return HOSTESS_LIVENESS_WRITER_GONE;
    return HOSTESS_LIVENESS_ALIVE;
}

int hostess_reader_is_live(const hostess_reader *reader) {
    return hostess_reader_liveness(reader) == HOSTESS_LIVENESS_ALIVE &&
           hostess_reader_writer_heartbeat_age_ns(reader) < HOSTESS_HEARTBEAT_TOLERANCE_NS;
}

int hostess_reader_check_size(const hostess_reader *reader) {
    if (reader == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    if (reader->fd < 0) return HOSTESS_OK;
    struct stat status;
    int result;
    do result = fstat(reader->fd, &status);
    while (result != 0 && errno == EINTR);
    if (result != 0) return HOSTESS_E_SYSTEM;
    return (uint64_t)status.st_size < (uint64_t)reader->size ? HOSTESS_E_TRUNCATED : HOSTESS_OK;
}

/* MARK: - Waiting (section 7) */

int hostess_reader_wait(const hostess_reader *reader, uint64_t after, int64_t timeout_ms, uint64_t *revision) {
    uint64_t ignored;
    if (revision == NULL) revision = &ignored;
    if (reader == NULL) return HOSTESS_E_INVALID_ARGUMENT;
    const unsigned char *word = reader->base + H_PUBLICATIONS;
    const int64_t limit_ms = INT64_MAX / 1000000 - 1;
    int64_t deadline = timeout_ms < 0 ? 0 : monotonic_ns(CLOCK_MONOTONIC) + (timeout_ms > limit_ms ? limit_ms : timeout_ms) * 1000000;
    for (;;) {
        int size = hostess_reader_check_size(reader);
        if (size != HOSTESS_OK) return size;
        /* The counter first: the writer stores the revision before it bumps the counter, so a publication
           between these loads and FUTEX_WAIT changes the word and the kernel returns at once. */
        uint32_t counter = acquire32(word);
        uint64_t current = acquire64(reader->base + H_REVISION);
        *revision = current;
        if (current > after) return HOSTESS_OK;
        if (hostess_reader_is_closed(reader)) return HOSTESS_CLOSED;
        struct timespec relative;
        const struct timespec *timeout = NULL;
        if (timeout_ms >= 0) {
            int64_t left = deadline - monotonic_ns(CLOCK_MONOTONIC);
            if (left <= 0) return HOSTESS_TIMED_OUT;
            relative.tv_sec = (time_t)(left / 1000000000LL);
            relative.tv_nsec = (long)(left % 1000000000LL);
            timeout = &relative;
        }
        /* A shared futex (no FUTEX_PRIVATE_FLAG): keyed by the file and offset, so the read-only mapping's
           word is the writer's. Woken, EAGAIN (the word moved), EINTR or ETIMEDOUT: look again. */
        syscall(SYS_futex, word, FUTEX_WAIT, counter, timeout, NULL, 0);
    }
}
