/*
 * hostess_reader.h: a C11 reader of the Hostess shared-memory guest book, layout 3.x.
 *
 * hostessd publishes its guest book in a POSIX shared-memory region (docs/shm-layout.md). This library
 * maps that region read-only and answers lookups by id and queries by class, capability and name parts
 * with no socket, no lock and no system call on the read path, exactly as the Swift reader
 * (Sources/HostessRegion/RegionReader.swift) does. It depends on libc and Linux headers only.
 *
 * Build it into any program with a plain compiler:
 *
 *     cc -std=c11 -O2 -c hostess_reader.c -I include      (then link hostess_reader.o)
 *
 * or, from Swift, depend on the package's `CHostessReader` product.
 *
 * Guarantees:
 *   - Opening performs every check of docs/shm-layout.md section 2.3 (and refuses a capability count past
 *     the table), so a region that does not pass them is never read.
 *   - Whatever the bytes of the region say afterwards, no read leaves the mapping: every offset, length,
 *     slot and link read from a copy is checked before it is used, and every loop is bounded.
 *   - Nothing is returned from a read section before the latch sequence confirms it (section 5): an answer
 *     is one consistent state of the guest book, never a mix of two.
 *   - A lookup neither allocates nor takes a lock. A reader is immutable after opening, so any number of
 *     threads may use one reader at once; only hostess_reader_close must not race with other calls.
 *
 * Payloads: an entry's payload is its compact JSON, the same bytes the socket's getServer returns as
 * `entry`. The heartbeat slot, which hostessd updates without republishing the payload, is folded in: when
 * the slot is newer, the library rewrites the payload's top-level "lastHeartbeat" value (section 3.4), so
 * the bytes returned are the socket's answer. Each payload handed out has been checked to be a JSON object
 * whose first member is "id" and that has an integer top-level "lastHeartbeat"; a lookup also checks that
 * the payload's id is the id asked for. A confirmed payload failing these checks means the region is
 * corrupt (HOSTESS_E_CORRUPT): use the socket.
 *
 * Return codes: every function returning `int` returns a hostess_status. Codes >= 0 are outcomes, codes
 * < 0 are errors; hostess_reader_strerror names each.
 */
#ifndef HOSTESS_READER_H
#define HOSTESS_READER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MARK: - Constants */

/** The layout major version this library reads (any minor version of it). */
#define HOSTESS_LAYOUT_MAJOR 3

/** The name hostessd publishes under by default; $HOSTESS_SHM overrides it (see hostess_reader_open). */
#define HOSTESS_DEFAULT_NAME "/hostess-registry"

/** The longest entry id, in bytes (a canonical server name is at most 512 bytes). */
#define HOSTESS_MAX_ID_BYTES 512

/** The longest id a record holds inline; longer ids lie in the arena (informational). */
#define HOSTESS_MAX_INLINE_ID_BYTES 128

/** The longest capability name the region's table holds, in bytes. */
#define HOSTESS_MAX_CAPABILITY_BYTES 78

/** Capabilities an entry has at most. */
#define HOSTESS_MAX_CAPABILITIES 32

/** Capability names one hostess_filter may require at most (more is HOSTESS_E_INVALID_ARGUMENT). */
#define HOSTESS_MAX_FILTER_CAPABILITIES 64

/**
 * How many bytes a payload may grow when the heartbeat slot's value is spliced into its "lastHeartbeat"
 * (a 1-digit value replaced by a 20-character int64).
 */
#define HOSTESS_HEARTBEAT_SPLICE_BYTES 20

/**
 * A lookup buffer size that holds any entry hostessd admits, with the heartbeat splice and the NUL:
 * docs/shm-layout.md section 6 bounds a payload by 65536 bytes (Limits.entryWireBytes), and the largest
 * entry the protocol's limits allow is more than 128 bytes under it (a test builds it). A payload longer
 * than that is not one hostessd wrote; a lookup that meets one says so (HOSTESS_E_BUFFER_TOO_SMALL with
 * the size needed), and hostess_reader_max_payload_bytes gives the size no payload of a given region can
 * exceed.
 */
#define HOSTESS_PAYLOAD_BUFFER_BYTES 65536

/** Read attempts a read section makes before it gives up with HOSTESS_E_BUSY (as the Swift reader). */
#define HOSTESS_MAX_ATTEMPTS 4096

/** Heartbeat age, in nanoseconds, past which hostess_reader_is_live calls the writer stale (4 beats). */
#define HOSTESS_HEARTBEAT_TOLERANCE_NS 1000000000LL

/** Bits of hostess_entry_info.flags (the record's flags byte). */
#define HOSTESS_FLAG_SESSION 1u  /**< the entry is session-bound */
#define HOSTESS_FLAG_RESERVED 2u /**< an active reservation holds the entry */

/* MARK: - Status codes */

/** What a call did. Outcomes are >= 0, errors < 0. */
typedef enum hostess_status {
    /** Done: the answer is in the output parameters. */
    HOSTESS_OK = 0,
    /** hostess_reader_lookup: the region holds no entry under that id (nor its canonical spelling). */
    HOSTESS_NOT_FOUND = 1,
    /** hostess_reader_wait: the timeout passed and the revision did not move past the one given. */
    HOSTESS_TIMED_OUT = 2,
    /** hostess_reader_wait: the writer closed the region (a clean stop, or a successor adopted it);
        nothing will be published here again: close the reader and open the name again. */
    HOSTESS_CLOSED = 3,

    /** A required pointer was NULL, or an argument is out of range. */
    HOSTESS_E_INVALID_ARGUMENT = -1,
    /** The name is not '/' followed by 1 to 250 bytes with no other '/', and not "/." or "/..". */
    HOSTESS_E_INVALID_NAME = -2,
    /** A system call failed (open, fstat, mmap, ...); hostess_open_failure.sys_errno and errno say why.
        ENOENT: no daemon publishes under the name; ELOOP: the name is a symbolic link. */
    HOSTESS_E_SYSTEM = -3,
    /** The name is not a regular file (a FIFO, a directory, a socket, a device); see file_type. */
    HOSTESS_E_NOT_REGULAR_FILE = -4,
    /** The file belongs to a uid that is neither root, the caller's, nor one it was told to trust. */
    HOSTESS_E_UNTRUSTED_OWNER = -5,
    /** Group or others may write the file, so it cannot be trusted. */
    HOSTESS_E_WRITABLE_BY_OTHERS = -6,
    /** The file is smaller than a header (still being created?) or than its header says. */
    HOSTESS_E_TOO_SMALL = -7,
    /** The magic number is wrong: not a Hostess region. */
    HOSTESS_E_BAD_MAGIC = -8,
    /** The version word is 0: the writer has not finished creating the region; try again shortly. */
    HOSTESS_E_NOT_READY = -9,
    /** Another layout major version: the region was written by another release of Hostess. */
    HOSTESS_E_UNSUPPORTED_VERSION = -10,
    /** The ABI fingerprint differs: record sizes or byte order disagree with this library. */
    HOSTESS_E_FINGERPRINT_MISMATCH = -11,
    /** A header field disagrees with the layout its capacity and arena size imply; see field. */
    HOSTESS_E_INCONSISTENT_HEADER = -12,
    /** The caller's buffer is too small; the size needed is in hostess_entry_info.needed (lookup) or in
        *needed (hostess_reader_query_buffer). */
    HOSTESS_E_BUFFER_TOO_SMALL = -13,
    /** The writer published during every one of HOSTESS_MAX_ATTEMPTS read attempts: use the socket. */
    HOSTESS_E_BUSY = -14,
    /** A confirmed read found an entry whose payload is not an entry's JSON, or lies outside the arena:
        the region's data is corrupt. Use the socket (and check the region with `shmdump --check`). */
    HOSTESS_E_CORRUPT = -15,
    /** The region's file shrank below the size mapped (only its owner or root can do that): reading on
        could fault, so the reader stops. */
    HOSTESS_E_TRUNCATED = -16,
    /** Memory for a query's scratch buffer could not be allocated. */
    HOSTESS_E_NO_MEMORY = -17
} hostess_status;

/** A short English description of a hostess_status code (never NULL, static storage). */
const char *hostess_reader_strerror(int status);

/* MARK: - Opening and closing */

/** An open region. Opaque; made by hostess_reader_open, released by hostess_reader_close. */
typedef struct hostess_reader hostess_reader;

/** Why hostess_reader_open refused a region, for messages. Every member is 0/NULL unless stated. */
typedef struct hostess_open_failure {
    /** HOSTESS_E_SYSTEM: the errno of the call that failed. */
    int sys_errno;
    /** HOSTESS_E_SYSTEM: that call ("open", "fstat", "mmap", ...). */
    const char *call;
    /** HOSTESS_E_INCONSISTENT_HEADER: the header field that disagrees ("headerSize", "capacity",
        "arenaBytes", "regionSize", "capabilityCapacity", "indexSlots", "capabilityTableOffset",
        "heartbeatsOffset", "copy0Offset", "copy1Offset", "copySize", "capabilityCount"). */
    const char *field;
    /** HOSTESS_E_INCONSISTENT_HEADER: the value the header states, and the value the layout implies
        (for capacity, arenaBytes and capabilityCount: the limit it passes). */
    uint64_t stated, implied;
    /** Once the file was examined: its type bits (st_mode & S_IFMT), owner uid and permission bits. */
    uint32_t file_type, owner, mode;
    /** HOSTESS_E_TOO_SMALL: the file's size and the size needed. */
    uint64_t size, needed;
    /** HOSTESS_E_UNSUPPORTED_VERSION: the version word (major << 16 | minor). */
    uint32_t version;
} hostess_open_failure;

/**
 * Opens and checks the region published under `name`, in the order of docs/shm-layout.md section 2.3:
 * open("/dev/shm" NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); fstat, and the file must be a
 * regular file, owned by root, by the caller's uid or by one of `trusted_uids`, not writable by group or
 * others, and at least 4096 bytes; mmap(PROT_READ, MAP_SHARED); then the magic, the version (not 0, major
 * HOSTESS_LAYOUT_MAJOR), headerSize, the fingerprint, capacity (1 to 2^24) and arenaBytes (at most 2^40),
 * every size and offset of the header recomputed from those two (section 3.1), the file's size against
 * regionSize, and capabilityCount against the table's capacity.
 *
 * @param name         the shared-memory name, e.g. "/hostess-registry"; NULL: $HOSTESS_SHM when it is set
 *                     and not empty, else HOSTESS_DEFAULT_NAME.
 * @param trusted_uids uids that may own the region besides root and the caller (may be NULL when
 *                     trusted_count is 0), e.g. the uid hostessd runs as.
 * @param reader       receives the reader on HOSTESS_OK, NULL otherwise.
 * @param failure      optional (may be NULL): details of a refusal.
 * @return HOSTESS_OK, or why the region was refused: HOSTESS_E_INVALID_ARGUMENT, HOSTESS_E_INVALID_NAME,
 *         HOSTESS_E_SYSTEM, HOSTESS_E_NOT_REGULAR_FILE, HOSTESS_E_UNTRUSTED_OWNER,
 *         HOSTESS_E_WRITABLE_BY_OTHERS, HOSTESS_E_TOO_SMALL, HOSTESS_E_BAD_MAGIC, HOSTESS_E_NOT_READY,
 *         HOSTESS_E_UNSUPPORTED_VERSION, HOSTESS_E_FINGERPRINT_MISMATCH, HOSTESS_E_INCONSISTENT_HEADER,
 *         HOSTESS_E_NO_MEMORY.
 */
int hostess_reader_open(const char *name, const uint32_t *trusted_uids, size_t trusted_count, hostess_reader **reader,
                        hostess_open_failure *failure);

/**
 * Reads a region held in memory the caller owns, such as a snapshot copied out of /dev/shm: the header
 * checks of hostess_reader_open from the magic on (the file checks do not apply). `bytes` must be 8-byte
 * aligned and stay valid and mapped until hostess_reader_close; the reader never writes to it. Such a
 * reader has no file: hostess_reader_liveness says HOSTESS_LIVENESS_UNKNOWN and hostess_reader_is_live 0.
 * @return as hostess_reader_open (HOSTESS_E_INVALID_ARGUMENT for a NULL or misaligned `bytes`).
 */
int hostess_reader_open_bytes(const void *bytes, size_t size, hostess_reader **reader, hostess_open_failure *failure);

/** Unmaps the region, closes its descriptor and frees the reader. NULL is ignored. No other call may use
    the reader meanwhile or afterwards. */
void hostess_reader_close(hostess_reader *reader);

/* MARK: - The region */

/** Facts of an open region (its header, checked at open). */
typedef struct hostess_region_info {
    uint32_t capacity;           /**< entries the region holds */
    uint32_t version_minor;      /**< the layout's minor version */
    uint64_t arena_bytes;        /**< bytes of each copy's arena (payloads and long ids) */
    uint64_t region_size;        /**< bytes of the region */
    uint8_t instance_id[16];     /**< random per hostessd instance: compare it before comparing revisions */
    uint32_t writer_pid;         /**< pid of the hostessd that created it, in its pid namespace (display only) */
    int64_t created_at;          /**< CLOCK_REALTIME milliseconds at creation */
} hostess_region_info;

/** Fills `info` with the region's facts. @return HOSTESS_OK or HOSTESS_E_INVALID_ARGUMENT. */
int hostess_reader_region_info(const hostess_reader *reader, hostess_region_info *info);

/**
 * The largest payload the region can hold, plus HOSTESS_HEARTBEAT_SPLICE_BYTES and the terminating NUL:
 * a lookup buffer of this size never gets HOSTESS_E_BUFFER_TOO_SMALL. It is the arena's size (16 MiB with
 * hostessd's defaults), so most callers start with HOSTESS_PAYLOAD_BUFFER_BYTES instead and grow on
 * demand. 0 for a NULL reader.
 */
size_t hostess_reader_max_payload_bytes(const hostess_reader *reader);

/** The guest book revision of the latest complete publication (acquire load of the header's word).
    0 for a NULL reader. */
uint64_t hostess_reader_revision(const hostess_reader *reader);

/**
 * The revision of the copy readers use now, read inside a read section: ahead of hostess_reader_revision
 * while a publication is under way, or when the writer died between its two halves.
 * @return HOSTESS_OK, HOSTESS_E_BUSY or HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_stable_revision(const hostess_reader *reader, uint64_t *revision);

/** Read sections this reader had to repeat because the writer published meanwhile (all threads). */
uint64_t hostess_reader_retries(const hostess_reader *reader);

/* MARK: - Liveness */

/** What the kernel and the header say about the region's writer (docs/shm-layout.md section 8). */
typedef enum hostess_liveness {
    /** A process holds the region's writer lock: hostessd runs. */
    HOSTESS_LIVENESS_ALIVE = 0,
    /** The writer closed the region (clean stop, or a successor adopted it): reopen the name. */
    HOSTESS_LIVENESS_CLOSED = 1,
    /** No process holds the writer lock: hostessd died; the contents are consistent but frozen. */
    HOSTESS_LIVENESS_WRITER_GONE = 2,
    /** The name now refers to another region, or to none: reopen it. */
    HOSTESS_LIVENESS_REPLACED = 3,
    /** A reader of bytes (hostess_reader_open_bytes) has no file to ask about. */
    HOSTESS_LIVENESS_UNKNOWN = 4
} hostess_liveness;

/**
 * Asks, in the order of RegionReader.liveness(): the header's `closed` word, then whether the name still
 * refers to the file opened (one stat), then whether a process holds the writer lock (one
 * fcntl(F_OFD_GETLK)). Call it at open, periodically, and when a wait times out; lookups do not.
 */
hostess_liveness hostess_reader_liveness(const hostess_reader *reader);

/** Whether the writer closed the region (acquire load of `closed`). */
int hostess_reader_is_closed(const hostess_reader *reader);

/** Nanoseconds since the writer's last heartbeat (CLOCK_MONOTONIC; hostessd beats every 250 ms); 0 when
    the beat is not in the past. Comparable only within one boot and time namespace. */
int64_t hostess_reader_writer_heartbeat_age_ns(const hostess_reader *reader);

/**
 * 1 when the region is current: hostess_reader_liveness is HOSTESS_LIVENESS_ALIVE (not closed, not
 * replaced, the writer lock held) and the writer's heartbeat is younger than
 * HOSTESS_HEARTBEAT_TOLERANCE_NS; 0 otherwise (a stopped or stuck writer, a dead one, a closed or replaced
 * region, a reader of bytes). Costs one stat and one fcntl.
 */
int hostess_reader_is_live(const hostess_reader *reader);

/**
 * Checks that the region's file still covers the mapping (one fstat). A long-lived reader calls it before
 * each pass; hostess_reader_wait calls it after every wake-up.
 * @return HOSTESS_OK, HOSTESS_E_TRUNCATED, HOSTESS_E_SYSTEM or HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_check_size(const hostess_reader *reader);

/* MARK: - Entries */

/** The fixed fields of an entry an answer returned, read in the same read section as its payload. */
typedef struct hostess_entry_info {
    uint64_t serial;              /**< the registration's serial (never reused) */
    int64_t registered_at;        /**< ms since the Unix epoch of the first registration */
    int64_t last_heartbeat;       /**< ms since the Unix epoch: the larger of the payload's and the slot's */
    uint64_t revision;            /**< the guest book revision of the copy the answer was read from */
    uint32_t slot;                /**< the entry's slot (also on HOSTESS_E_CORRUPT: the corrupt one) */
    uint16_t class_code;          /**< the server's class, e.g. 0x0001 */
    uint8_t terminal_count;       /**< terminals in all */
    uint8_t available_terminals;  /**< terminals no connection uses */
    uint8_t flags;                /**< HOSTESS_FLAG_SESSION, HOSTESS_FLAG_RESERVED */
    uint8_t capability_count;     /**< capabilities (at most HOSTESS_MAX_CAPABILITIES) */
    size_t length;                /**< HOSTESS_OK: bytes of the payload (the NUL after it not counted) */
    size_t needed;                /**< HOSTESS_E_BUFFER_TOO_SMALL: a buffer size that suffices */
} hostess_entry_info;

/**
 * Looks up the entry `id` names and copies its payload (compact JSON, heartbeat folded in, see above)
 * into `buffer`, followed by a NUL. Ids are canonical server names (docs/protocol.md section 5): when `id`
 * is not found as given, its canonical spelling (hexcode and UUID in lower case) is looked up too, as the
 * socket's getServer does. No allocation, no lock, no system call.
 *
 * @param id          the id's bytes (UTF-8; need not be NUL-terminated).
 * @param id_length   its length; an id longer than HOSTESS_MAX_ID_BYTES is never found.
 * @param buffer      receives the payload and a NUL (its contents are unspecified on any other outcome).
 * @param buffer_size its size: at least the payload's length + 1.
 * @param info        optional (may be NULL): the entry's fields; on HOSTESS_E_BUFFER_TOO_SMALL, `needed`.
 * @return HOSTESS_OK, HOSTESS_NOT_FOUND, HOSTESS_E_BUFFER_TOO_SMALL (retry with info->needed bytes),
 *         HOSTESS_E_BUSY, HOSTESS_E_CORRUPT (info->slot names the slot), HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_lookup(const hostess_reader *reader, const char *id, size_t id_length, char *buffer, size_t buffer_size,
                          hostess_entry_info *info);

/* MARK: - Queries */

/**
 * What a query asks for. Every criterion given must hold; a zero-initialized filter matches every entry.
 * The strings are NUL-terminated and compared byte for byte.
 */
typedef struct hostess_filter {
    /** Nonzero: only entries of class `class_code`. */
    int has_class;
    uint16_t class_code;
    /** Capabilities the entry must ALL have (`capability_count` names, at most
        HOSTESS_MAX_FILTER_CAPABILITIES; NULL when the count is 0). A name the region's table does not hold
        matches nothing. */
    const char *const *capabilities;
    size_t capability_count;
    /** Only entries with at least this many terminals no connection uses (0: any). */
    uint32_t min_available_terminals;
    /** Nonzero: only entries no active reservation holds. */
    int unreserved;
    /** Exact name parts (NULL: any). */
    const char *fqdn;
    const char *servername;
    const char *owner;
} hostess_filter;

/**
 * Called once for each matching entry, in serial (registration) order, after the whole answer was
 * confirmed consistent. `payload` (`length` bytes, NUL after them) and `info` are valid only during the
 * call. Return 0 to go on, anything else to stop (the query then returns HOSTESS_OK).
 */
typedef int (*hostess_entry_callback)(void *context, const char *payload, size_t length, const hostess_entry_info *info);

/**
 * The entries matching `filter` (NULL: every entry), in serial order, one consistent state: the same
 * answer as the Swift reader's query(_:) and the socket's `query`. With a class, the class's chain is
 * walked; otherwise every slot's 32-byte summary is scanned, and records are read for candidates only. The
 * payloads are copied into a scratch buffer allocated with malloc and freed before returning (use
 * hostess_reader_query_buffer to supply one). Nothing is delivered unless every payload of the answer is
 * sound.
 *
 * @param callback called for each entry (may be NULL: only count).
 * @param count    optional: receives the number of entries delivered.
 * @return HOSTESS_OK, HOSTESS_E_BUSY, HOSTESS_E_CORRUPT, HOSTESS_E_NO_MEMORY, HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_query(const hostess_reader *reader, const hostess_filter *filter, hostess_entry_callback callback,
                         void *context, size_t *count);

/**
 * hostess_reader_query with a scratch buffer the caller supplies: no allocation. The answer needs, per
 * matching entry, its payload's length + HOSTESS_HEARTBEAT_SPLICE_BYTES + 1 bytes and about 90 bytes of
 * bookkeeping; with too little, it reads the state once to say how much it needs.
 * @param needed optional: on HOSTESS_E_BUFFER_TOO_SMALL, a scratch size that sufficed for the state read.
 * @return as hostess_reader_query, or HOSTESS_E_BUFFER_TOO_SMALL instead of HOSTESS_E_NO_MEMORY.
 */
int hostess_reader_query_buffer(const hostess_reader *reader, const hostess_filter *filter, void *scratch, size_t scratch_size,
                                hostess_entry_callback callback, void *context, size_t *count, size_t *needed);

/** The entries of class `class_code`, as hostess_reader_query with only that criterion. */
int hostess_reader_query_class(const hostess_reader *reader, uint16_t class_code, hostess_entry_callback callback, void *context,
                               size_t *count);

/** The entries having capability `capability` (NUL-terminated), as hostess_reader_query with only it. */
int hostess_reader_query_capability(const hostess_reader *reader, const char *capability, hostess_entry_callback callback,
                                    void *context, size_t *count);

/**
 * How many entries match `filter` (NULL: all), without copying any payload: no allocation. Like the Swift
 * reader's count(_:), it does not look at the payloads.
 * @return HOSTESS_OK, HOSTESS_E_BUSY or HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_count(const hostess_reader *reader, const hostess_filter *filter, size_t *count);

/* MARK: - Waiting */

/**
 * Blocks until the region's revision passes `after`, the region closes, or `timeout_ms` milliseconds pass,
 * by FUTEX_WAIT on the header's `publications` word (docs/shm-layout.md section 7): no polling. Before it
 * reads the header, and after every wake-up, it checks that the file was not truncated.
 *
 * @param timeout_ms how long to wait at most; negative: no limit; 0: just look.
 * @param revision   optional: receives the revision seen last.
 * @return HOSTESS_OK (the revision passed `after`), HOSTESS_TIMED_OUT, HOSTESS_CLOSED (reopen),
 *         HOSTESS_E_TRUNCATED, HOSTESS_E_SYSTEM or HOSTESS_E_INVALID_ARGUMENT.
 */
int hostess_reader_wait(const hostess_reader *reader, uint64_t after, int64_t timeout_ms, uint64_t *revision);

/* MARK: - Hashing */

/** The region's id hash (docs/shm-layout.md section 4.1), for tools and tests. */
uint64_t hostess_id_hash(const void *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif /* HOSTESS_READER_H */
