#!/usr/bin/env python3
"""A minimal reader of the Hostess shared-memory guest book, layout 3.0 (see docs/shm-layout.md).

Usage:
    shm_reader.py [--shm NAME] [--owner-uid UID] get ID
    shm_reader.py [--shm NAME] [--owner-uid UID] list
    shm_reader.py [--shm NAME] [--owner-uid UID] wait REVISION [TIMEOUT]

`get` prints the entry as compact JSON, the same text as the socket's getServer `entry`, and exits 0,
or exits 1 when there is no such entry. `list` prints one entry per line in serial order. `wait` blocks
until the published revision passes REVISION (FUTEX_WAIT) and prints the revision then.
Exit status 2: the region cannot be used (missing, untrusted, wrong layout, closed, busy); use the socket.

Capabilities: this reader prints entries' capability names from their payloads and does not filter by
capability, so it never resolves a name to a capability table index. A reader that does must follow
docs/shm-layout.md section 3.3: the writer reuses table indexes and bumps `capabilityGeneration` first.

Memory ordering: Python has no atomic loads or fences. This reader uses one aligned 8-byte load per
atomic u64 (memoryview cast to 'Q'), and relies on the hardware ordering loads (x86-64 is TSO: every
load is an acquire). On weakly ordered CPUs (AArch64, POWER, RISC-V) a reader needs real acquire
fences: write it in C (docs/shm-layout.md section 5) or use the socket.
"""

import ctypes
import errno
import fcntl
import json
import mmap
import os
import platform
import pwd
import stat
import struct
import sys
import time

# ---- Layout 3.0 constants (Sources/HostessRegion/Layout.swift) ----
MAGIC = 0x3153534554534F48  # "HOSTESS1" as a little-endian u64
VERSION_MAJOR = 3
HEADER_SIZE = 4096
FINGERPRINT = 0x47092A25A305DEDC
COPY_HEADER_SIZE = 64
SUMMARY_SIZE = 32
RECORD_SIZE = 256
CAPABILITY_SIZE = 80
INDEX_SLOT_SIZE = 8
CAPABILITY_CAPACITY = 2048
MAX_ID_BYTES = 512
MAX_INLINE_ID_BYTES = 128  # longer ids are in the arena, before the payload
MAX_RECORD_CAPS = 32
TOMBSTONE = 0xFFFFFFFF
MAX_ATTEMPTS = 1000  # read sections before giving up (then use the socket)

# Header offsets
H_MAGIC, H_VERSION, H_HEADER_SIZE, H_FINGERPRINT, H_REGION_SIZE = 0, 8, 12, 16, 24
H_CAPACITY, H_CAP_CAPACITY, H_INDEX_SLOTS = 32, 36, 40
H_CAP_TABLE, H_HEARTBEATS, H_COPY0, H_COPY1, H_COPY_SIZE, H_ARENA_BYTES = 48, 56, 64, 72, 80, 88
H_INSTANCE, H_WRITER_PID, H_CLOSED, H_CREATED_AT = 96, 112, 116, 120
H_REVISION, H_CAP_COUNT, H_SEQUENCE, H_WRITER_HEARTBEAT, H_PUBLICATIONS = 128, 136, 192, 256, 320
# Record offsets (an id of up to MAX_INLINE_ID_BYTES at R_ID; a longer one in the arena at idOffset,
# followed by the payload)
R_SERIAL, R_ID_OFFSET, R_ID_LENGTH, R_PAYLOAD_OFFSET, R_PAYLOAD_LENGTH, R_ID = 0, 8, 12, 16, 20, 24
# Summary offsets
S_SERIAL = 0

MASK64 = (1 << 64) - 1


class RegionUnusable(Exception):
    """The region cannot be used now; the caller should use the socket."""


def align(value, alignment=64):
    return (value + alignment - 1) // alignment * alignment


def layout(capacity, arena_bytes):
    """Every derived size and offset, recomputed from the two numbers the header states."""
    slots = 1
    while slots < capacity * 2:
        slots <<= 1
    summaries = COPY_HEADER_SIZE
    records = align(summaries + capacity * SUMMARY_SIZE)
    index = align(records + capacity * RECORD_SIZE)
    arena = align(index + slots * INDEX_SLOT_SIZE)
    class_heads = align(arena + arena_bytes)
    class_links = align(class_heads + 256 * 4)
    copy_size = align(class_links + capacity * 4, 4096)
    heartbeats = align(HEADER_SIZE + CAPABILITY_CAPACITY * CAPABILITY_SIZE)
    copy0 = align(heartbeats + capacity * 8, 4096)
    copy1 = copy0 + copy_size
    return dict(index_slots=slots, summaries=summaries, records=records, index=index, arena=arena,
                class_heads=class_heads, class_links=class_links,
                copy_size=copy_size, cap_table=HEADER_SIZE, heartbeats=heartbeats, copy0=copy0,
                copy1=copy1, region_size=copy1 + copy_size)


def id_hash(data: bytes) -> int:
    """The index hash (idHash in Layout.swift); the index uses its low 32 bits."""
    m1, m2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
    lanes = [0x9E3779B97F4A7C15 ^ len(data), 0x6A09E667F3BCC909, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B]
    def mix(lane, word):
        lane = ((lane ^ word) * m1) & MASK64
        return lane ^ (lane >> 31)
    blocks = len(data) // 32 * 32
    for offset in range(0, blocks, 32):
        for i in range(4):
            lanes[i] = mix(lanes[i], int.from_bytes(data[offset + 8 * i:offset + 8 * i + 8], "little"))
    words = (len(data) - blocks) // 8
    for i in range(words):
        lanes[i] = mix(lanes[i], int.from_bytes(data[blocks + 8 * i:blocks + 8 * i + 8], "little"))
    if blocks + 8 * words < len(data):
        lanes[3] = mix(lanes[3], int.from_bytes(data[blocks + 8 * words:], "little"))
    rotl = lambda v, b: ((v << b) | (v >> (64 - b))) & MASK64
    h = lanes[0] ^ rotl(lanes[1], 17) ^ rotl(lanes[2], 31) ^ rotl(lanes[3], 47)
    h = ((h ^ (h >> 30)) * m1) & MASK64
    h = ((h ^ (h >> 27)) * m2) & MASK64
    return h ^ (h >> 31)


def canonical_id(text: str) -> str:
    """Lower-cases the hexcode and the UUID, as the daemon does, so a non-canonical spelling is found."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return text
        fqdn, rest = text[:close + 1], text[close + 2:]
    else:
        fqdn, _, rest = text.partition(":")
    fields = rest.split(":")
    if len(fields) >= 6:
        fields[1] = fields[1].lower()
        fields[5] = fields[5].lower()
    return ":".join([fqdn] + fields)


def not_a_region(path, info):
    """Why a file that is not a regular file is not a region: its type and its owner."""
    kinds = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a Unix socket",
             stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
    kind = kinds.get(stat.S_IFMT(info.st_mode), f"a file of type {stat.S_IFMT(info.st_mode):#o}")
    try:
        owner = f"uid {info.st_uid} ({pwd.getpwuid(info.st_uid).pw_name})"
    except KeyError:
        owner = f"uid {info.st_uid}"
    return f"not a Hostess region: {path} is {kind} owned by {owner}, not a regular file"


class Region:
    def __init__(self, name="/hostess-registry", trusted_uids=()):
        if sys.byteorder != "little":
            raise RegionUnusable("the region is little-endian; this reader assumes a little-endian host")
        if not name.startswith("/") or "/" in name[1:] or len(name) < 2 or name in ("/.", "/.."):
            raise RegionUnusable(f"bad shared-memory name {name!r}")
        self.name = name
        self.path = "/dev/shm" + name
        try:
            # O_NONBLOCK: anyone can make a FIFO under the name, and opening a FIFO for reading waits for a
            # writer. The type is checked first thing after the open.
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as error:
            if error.errno == errno.ENXIO:  # a Unix socket cannot be opened
                raise RegionUnusable(not_a_region(self.path, os.lstat(self.path)))
            raise RegionUnusable(f"{self.path}: {error.strerror}")
        try:
            info = os.fstat(self.fd)
            if not stat.S_ISREG(info.st_mode):
                raise RegionUnusable(not_a_region(self.path, info))
            if info.st_uid not in (0, os.getuid(), *trusted_uids):
                raise RegionUnusable(f"owned by untrusted uid {info.st_uid}")
            if info.st_mode & 0o022:
                raise RegionUnusable(f"mode {info.st_mode & 0o7777:o}: group or others may write it")
            if info.st_size < HEADER_SIZE:
                raise RegionUnusable("smaller than a header (still being created?)")
            self.inode, self.size = info.st_ino, info.st_size
            self.mm = mmap.mmap(self.fd, info.st_size, mmap.MAP_SHARED, mmap.PROT_READ)
            self.q = memoryview(self.mm).cast("Q")  # aligned 8-byte loads (atomic u64 words)
            self.i = memoryview(self.mm).cast("I")  # aligned 4-byte loads (atomic u32 words)
            self._check_header()
        except BaseException:
            self.close()
            raise

    def close(self):
        for view in ("q", "i"):
            if hasattr(self, view):
                getattr(self, view).release()
                delattr(self, view)
        if hasattr(self, "mm"):
            self.mm.close()
            del self.mm
        if getattr(self, "fd", -1) >= 0:
            os.close(self.fd)
            self.fd = -1

    # ---- plain little-endian loads ----
    def u16(self, offset):
        return struct.unpack_from("<H", self.mm, offset)[0]

    def u32(self, offset):
        return struct.unpack_from("<I", self.mm, offset)[0]

    def u64(self, offset):
        return struct.unpack_from("<Q", self.mm, offset)[0]

    # ---- atomic loads (offset must be aligned) ----
    def atomic_u64(self, offset):
        return self.q[offset >> 3]

    def atomic_u32(self, offset):
        return self.i[offset >> 2]

    def bytes_at(self, offset, length):
        if offset < 0 or length < 0 or offset > self.size or length > self.size - offset:
            return b""
        return self.mm[offset:offset + length]

    def _check_header(self):
        if self.u64(H_MAGIC) != MAGIC:
            raise RegionUnusable("wrong magic: not a Hostess region")
        version = self.atomic_u32(H_VERSION)
        if version == 0:
            raise RegionUnusable("version 0: still being created; try again")
        if version >> 16 != VERSION_MAJOR:
            raise RegionUnusable(f"layout version {version >> 16}.{version & 0xFFFF}; this reader knows {VERSION_MAJOR}.x")
        if self.u32(H_HEADER_SIZE) != HEADER_SIZE:
            raise RegionUnusable("inconsistent header: headerSize")
        if self.u64(H_FINGERPRINT) != FINGERPRINT:
            raise RegionUnusable("ABI fingerprint differs")
        self.capacity = self.u32(H_CAPACITY)
        self.arena_bytes = self.u64(H_ARENA_BYTES)
        if not 0 < self.capacity <= 1 << 24 or self.arena_bytes > 1 << 40:
            raise RegionUnusable("inconsistent header: capacity or arenaBytes")
        self.L = layout(self.capacity, self.arena_bytes)
        stated = {
            "region_size": self.u64(H_REGION_SIZE), "index_slots": self.u32(H_INDEX_SLOTS),
            "cap_table": self.u64(H_CAP_TABLE), "heartbeats": self.u64(H_HEARTBEATS),
            "copy0": self.u64(H_COPY0), "copy1": self.u64(H_COPY1), "copy_size": self.u64(H_COPY_SIZE),
        }
        for field, value in stated.items():
            if value != self.L[field]:
                raise RegionUnusable(f"inconsistent header: {field} is {value}, the layout implies {self.L[field]}")
        if self.u32(H_CAP_CAPACITY) != CAPABILITY_CAPACITY:
            raise RegionUnusable("inconsistent header: capabilityCapacity")
        if self.size < self.L["region_size"]:
            raise RegionUnusable("smaller than its header says")
        self.instance_id = self.mm[H_INSTANCE:H_INSTANCE + 16].hex()

    # ---- the read section (seqcount latch) ----
    def read_section(self, body):
        """Runs body(copy_offset) until the sequence is unchanged around it; body may run several times."""
        for _ in range(MAX_ATTEMPTS):
            sequence = self.atomic_u64(H_SEQUENCE)  # acquire (x86-64: every load is)
            copy = self.L["copy1"] if sequence & 1 else self.L["copy0"]
            result = body(copy)
            # acquire fence here (implicit on x86-64), then re-load the sequence
            if self.atomic_u64(H_SEQUENCE) == sequence:
                return result
        raise RegionUnusable("busy: the writer published during every attempt; use the socket")

    def _arena_range(self, copy, offset, length):
        """Bytes of the copy's arena, or b"" when offset/length (read from a record) fall outside it."""
        if offset > self.arena_bytes or length > self.arena_bytes - offset:
            return b""
        return self.bytes_at(copy + self.L["arena"] + offset, length)

    def _id_at(self, copy, record):
        """The id's bytes: inline in the record up to MAX_INLINE_ID_BYTES, else in the arena; b"" when the
        record's idLength or idOffset is out of bounds."""
        length = self.u16(record + R_ID_LENGTH)
        if length <= MAX_INLINE_ID_BYTES:
            return self.bytes_at(record + R_ID, length)
        if length > MAX_ID_BYTES:
            return b""
        return self._arena_range(copy, self.u32(record + R_ID_OFFSET), length)

    def _find(self, copy, key, hash32):
        """The slot holding id `key` in this copy, or None. Bounded probe; every value checked."""
        mask = self.L["index_slots"] - 1
        index = copy + self.L["index"]
        records = copy + self.L["records"]
        position = hash32 & mask
        for _ in range(self.L["index_slots"]):
            value = self.u64(index + position * 8)
            if value == 0:
                return None
            if value != TOMBSTONE and value >> 32 == hash32:
                slot = (value & 0xFFFFFFFF) - 1
                if 0 <= slot < self.capacity:
                    record = records + slot * RECORD_SIZE
                    if self.u16(record + R_ID_LENGTH) == len(key) and self._id_at(copy, record) == key:
                        return slot
            position = (position + 1) & mask
        return None

    def _entry_at(self, copy, slot):
        """(serial, payload bytes, heartbeat slot value, slot, id bytes) of a slot; bounds-checked, possibly garbage."""
        record = copy + self.L["records"] + slot * RECORD_SIZE
        payload = self._arena_range(copy, self.u32(record + R_PAYLOAD_OFFSET), self.u32(record + R_PAYLOAD_LENGTH))
        heartbeat = self.atomic_u64(self.L["heartbeats"] + slot * 8)
        return self.u64(record + R_SERIAL), payload, heartbeat, slot, self._id_at(copy, record)

    @staticmethod
    def _decode(payload, heartbeat, slot, entry_id):
        try:
            entry = json.loads(payload)
            entry["lastHeartbeat"] + 0
        except (ValueError, KeyError, TypeError):
            # A confirmed read returned something that is not an entry: the region is corrupt.
            name = entry_id.decode(errors="replace")
            raise RegionUnusable(f"corrupt: the payload of the entry in slot {slot} (id '{name}') is not a valid entry")
        if heartbeat >= 1 << 63:
            heartbeat -= 1 << 64  # the slot holds an i64
        if heartbeat > entry["lastHeartbeat"]:
            entry["lastHeartbeat"] = heartbeat
        return entry

    def get(self, entry_id):
        """The entry `entry_id` names, as a dict in the socket's member order, or None."""
        for key in dict.fromkeys([entry_id, canonical_id(entry_id)]):
            data = key.encode()
            if len(data) > MAX_ID_BYTES:
                return None
            hash32 = id_hash(data) & 0xFFFFFFFF

            def body(copy):
                slot = self._find(copy, data, hash32)
                return None if slot is None else self._entry_at(copy, slot)

            found = self.read_section(body)
            if found is not None:
                return self._decode(*found[1:])
        return None

    def list_all(self):
        """Every entry, in serial order: summaries first, records only for used slots."""
        def body(copy):
            result = []
            summaries = copy + self.L["summaries"]
            for slot in range(self.capacity):
                if self.u64(summaries + slot * SUMMARY_SIZE + S_SERIAL) != 0:
                    found = self._entry_at(copy, slot)
                    if found[0] != 0:
                        result.append(found)
            return result

        return [self._decode(*found[1:]) for found in sorted(self.read_section(body))]

    # ---- state, liveness, waiting ----
    def revision(self):
        return self.atomic_u64(H_REVISION)

    def closed(self):
        return self.atomic_u32(H_CLOSED) != 0

    def liveness(self):
        """'closed', 'replaced' (reopen), 'writer-gone' (use the socket or wait), or 'alive'."""
        if self.closed():
            return "closed"
        try:
            if os.stat(self.path).st_ino != self.inode:
                return "replaced"
        except FileNotFoundError:
            return "replaced"
        # F_OFD_GETLK: would a write lock on byte 0 conflict? struct flock: l_type, l_whence, l_start,
        # l_len, l_pid (+ padding); for OFD locks l_pid must be 0 on input and comes back as -1.
        request = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
        reply = fcntl.fcntl(self.fd, fcntl.F_OFD_GETLK, request)
        return "writer-gone" if struct.unpack("hhqqi4x", reply)[0] == fcntl.F_UNLCK else "alive"

    def writer_heartbeat_age(self):
        """Seconds since the writer's last beat (CLOCK_MONOTONIC); it beats every 250 ms."""
        return max(0, time.clock_gettime_ns(time.CLOCK_MONOTONIC) - self.atomic_u64(H_WRITER_HEARTBEAT)) / 1e9

    def wait_for_revision(self, after, timeout):
        """Blocks until the revision passes `after`, the region closes, or `timeout` s pass (FUTEX_WAIT)."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        sys_futex = {"x86_64": 202, "aarch64": 98}[platform.machine()]
        # Python's mmap object does not expose its address: map the header page again (read-only). A shared
        # futex is keyed by the file and offset, so this mapping's word is the same futex as the writer's.
        page = libc.mmap(None, HEADER_SIZE, mmap.PROT_READ, mmap.MAP_SHARED, self.fd, 0)
        if page in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        word = page + H_PUBLICATIONS
        deadline = time.monotonic() + timeout
        try:
            while True:
                # The owner or root can truncate the file under the mapping; a load past its end raises SIGBUS.
                if os.fstat(self.fd).st_size < self.size:
                    raise RegionUnusable(f"shrank to {os.fstat(self.fd).st_size} bytes while mapped ({self.size}); stopping")
                counter = self.atomic_u32(H_PUBLICATIONS)
                current = self.revision()
                if current > after or self.closed():
                    return current
                left = deadline - time.monotonic()
                if left <= 0:
                    return current
                spec = (ctypes.c_long * 2)(int(left), int((left % 1) * 1e9))
                # FUTEX_WAIT (0), without FUTEX_PRIVATE_FLAG: a shared futex.
                libc.syscall(ctypes.c_long(sys_futex), ctypes.c_void_p(word), ctypes.c_int(0),
                             ctypes.c_uint32(counter), spec, None, ctypes.c_int(0))
        finally:
            libc.munmap(ctypes.c_void_p(page), ctypes.c_size_t(HEADER_SIZE))


def main(argv):
    name = os.environ.get("HOSTESS_SHM") or "/hostess-registry"
    trusted = []
    while argv and argv[0].startswith("--"):
        option = argv.pop(0)
        if option == "--shm" and argv:
            name = argv.pop(0)
        elif option == "--owner-uid" and argv:
            trusted.append(int(argv.pop(0)))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    try:
        region = Region(name, trusted)
    except RegionUnusable as error:
        print(f"shm_reader: {name}: {error}", file=sys.stderr)
        return 2
    try:
        state = region.liveness()
        if state != "alive":
            print(f"shm_reader: {name}: {state}; use the socket", file=sys.stderr)
            return 2
        compact = dict(separators=(",", ":"), ensure_ascii=False)
        if argv[:1] == ["get"] and len(argv) == 2:
            entry = region.get(argv[1])
            if entry is None:
                print(f"shm_reader: no server '{argv[1]}'", file=sys.stderr)
                return 1
            print(json.dumps(entry, **compact))
        elif argv == ["list"]:
            for entry in region.list_all():
                print(json.dumps(entry, **compact))
        elif argv[:1] == ["wait"] and len(argv) in (2, 3):
            print(region.wait_for_revision(int(argv[1]), float(argv[2]) if len(argv) == 3 else 60.0))
        else:
            print(__doc__, file=sys.stderr)
            return 2
        return 0
    except RegionUnusable as error:
        print(f"shm_reader: {name}: {error}", file=sys.stderr)
        return 2
    finally:
        region.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
