#!/usr/bin/env python3
"""The fleet directory at scale (run by Scripts/fleet-scale.sh, which checks the binaries, raises the open-file
limit, makes WORK and cleans up after it): a private etcd on loopback and N release hostessd --directory, each
with its own socket, shared-memory region and HTTP port. It measures

  1. the time until every Hostess lists the N-1 others as live;
  2. etcd's steady load over --measure-seconds (gRPC calls by method, mvcc and lease counters, WAL fsyncs,
     CPU, RSS, gRPC bytes) and the N daemons' CPU and memory (/proc);
  3. five rounds of one more Hostess: the time from its spawn until each of the N lists it as live, then
     from its SIGTERM until each of the N no longer lists it (min / median / max over the N, and the total,
     the last one);

and prints the figures as Markdown on stdout (progress on stderr). Every Hostess is watched with a blocking
`GET /peers?index=…` (one thread and one connection each): an answer comes as soon as its peer table changes,
so a steady fleet is not disturbed, and each answer is timed by the kernel's receive timestamp
(SO_TIMESTAMPNS), not by when this script's threads get to it (with 100 answers at once, the GIL alone would
add tens of milliseconds).

Every process it starts is written to WORK/pids (pid and what it is) before anything waits on it, so that the
shell's trap can stop them even if this script is killed. On a failure or when a daemon logs a warning or an
error, it writes WORK/KEEP (the shell then keeps WORK and its logs) and says which daemon and what.

  fleet_scale.py --hostessd BIN --hostess BIN --etcd BIN --work DIR --tag TAG [--hostesses N] [--interval S]
                 [--hold H] [--measure-seconds M] [--etcd-port P] [--http-base B] [--command-line TEXT]
"""
import argparse
import datetime
import http.client
import json
import os
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROUNDS = 5
#: The longest a blocking GET /peers waits (hostessd's cap is 5 minutes): a steady fleet answers nothing.
WAIT = "300s"
#: Warnings every daemon of this setup logs and that say nothing about the directory.
BENIGN = [re.compile(r"no --secrets file: every HTTP write will be refused")]


def log(message):
    print("fleet-scale: " + message, file=sys.stderr, flush=True)


class Failure(Exception):
    """A bound was exceeded or a process misbehaved: reported, WORK kept, exit status 1."""


# MARK: - Processes


class Processes:
    """Every process started, recorded in WORK/pids at once, stopped at the end (SIGTERM, then SIGKILL)."""

    def __init__(self, work):
        self.work = work
        self.pids_file = open(os.path.join(work, "pids"), "a")
        self.children = []  # (Popen, label)

    def spawn(self, label, argv, log_path):
        out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        self.pids_file.write("%d %s\n" % (proc.pid, label))
        self.pids_file.flush()
        self.children.append((proc, label))
        return proc

    def stop(self, proc, grace=5.0):
        """SIGTERM, then SIGKILL after `grace` seconds; the exit status."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                return proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
        return proc.wait(timeout=5)

    def stop_all(self):
        # The daemons first (each revokes its lease and removes its region), etcd last.
        daemons = [p for p, label in self.children if label != "etcd" and p.poll() is None]
        for p in daemons:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for p in daemons:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for p, label in self.children:
            if p.poll() is None:
                self.stop(p)


# MARK: - /proc


def proc_stat(pid):
    """(CPU seconds, RSS bytes, PSS bytes or None) of `pid`, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        rss = int(fields[21]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    pss = None
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return cpu, rss, pss


# MARK: - HTTP


def get(port, path, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def prometheus(text):
    """{name{labels}: value} of a Prometheus text exposition."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# MARK: - Watching the Hostesses


class Board:
    """What the watchers saw, under one lock; the main thread waits on its condition."""

    def __init__(self):
        self.cond = threading.Condition()
        self.stopping = False


#: SO_TIMESTAMPNS (Linux): recvmsg hands over the time the kernel received the data (CLOCK_REALTIME, ns).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def now():
    """The clock the kernel's receive timestamps are on, in seconds."""
    return time.time_ns() / 1e9


class Exchange:
    """HTTP/1.1 GETs over one kept-alive connection, each answer with the time the kernel received its last
    bytes: the time the daemon's answer arrived, whatever this process (its threads, the GIL) was doing."""

    def __init__(self, port, timeout):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def _read(self):
        data, ancillary, _, _ = self.sock.recvmsg(1 << 18, 64)
        if not data:
            raise ConnectionError("the daemon closed the connection")
        stamp = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                stamp = seconds + nanoseconds / 1e9
        self.buffer += data
        return stamp if stamp is not None else now()

    def get(self, path):
        """(arrival time, status, headers {lower-case name: value}, body)."""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, self.port)).encode())
        stamp = None
        while b"\r\n\r\n" not in self.buffer:
            stamp = self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ValueError("an answer without Content-Length: %s" % lines[:3])
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            stamp = self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return stamp if stamp is not None else now(), status, headers, body


class Watcher(threading.Thread):
    """One Hostess: learns its hostessId from /health, then takes answers of GET /peers?index=… in a loop.
    Keeps the live ids of its last answer, when each id was first listed live, and when each id that had
    been live stopped being listed live (absent, or stale); times are the answers' arrival (``Exchange``)."""

    def __init__(self, board, port, label, retry=0.02):
        super().__init__(daemon=True, name=label)
        self.retry = retry
        self.board = board
        self.port = port
        self.label = label
        self.hostess_id = None
        self.live = set()
        self.listed = {}  # id -> state, as the last answer listed them
        self.first_live = {}
        self.gone = {}
        self.answers = 0
        self.errors = 0
        self.last_error = None
        self.done = False

    def stop(self):
        self.done = True

    def run(self):
        conn = None
        index = None
        while not (self.done or self.board.stopping):
            try:
                if conn is None:
                    conn = Exchange(self.port, timeout=400)
                if self.hostess_id is None:
                    _, status, _, body = conn.get("/health")
                    with self.board.cond:
                        self.hostess_id = json.loads(body).get("instanceId")
                        self.board.cond.notify_all()
                    continue
                path = "/peers" if index is None else "/peers?index=%s&wait=%s" % (index, WAIT)
                arrived, status, headers, body = conn.get(path)
                if status != 200:
                    raise RuntimeError("GET %s: HTTP %d %s" % (path, status, body[:200]))
                index = headers.get("x-hostess-index")
                listed = {p["hostessId"]: p.get("state") for p in json.loads(body).get("peers", [])}
                live = {i for i, state in listed.items() if state == "live"}
                with self.board.cond:
                    for i in live - self.live:
                        self.first_live.setdefault(i, arrived)
                    for i in self.live - live:
                        self.gone.setdefault(i, arrived)
                    self.live = live
                    self.listed = listed
                    self.answers += 1
                    self.board.cond.notify_all()
                if index is None:  # no blocking queries: poll
                    time.sleep(0.05)
            except (OSError, ValueError, RuntimeError, IndexError) as error:
                if self.done or self.board.stopping:
                    break
                self.errors += 1
                self.last_error = "%s: %s" % (type(error).__name__, error)
                if conn is not None:
                    conn.close()
                conn = None
                # Not listening yet (a daemon starting): try again soon; anything else, a little later.
                time.sleep(self.retry if isinstance(error, ConnectionRefusedError) else 0.05)
        if conn is not None:
            conn.close()


def wait_until(board, predicate, timeout, check=None):
    """Waits until `predicate()` holds (under the board's lock); False on timeout. `check()` (outside the
    lock, every 0.5 s) raises Failure when something died."""
    deadline = time.monotonic() + timeout
    while True:
        with board.cond:
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            board.cond.wait(min(left, 0.5))
        if check:
            check()


def stats(values):
    values = sorted(values)
    return {"min": values[0], "median": statistics.median(values), "max": values[-1], "n": len(values)}


# MARK: - The run


class Run:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.procs = Processes(args.work)
        self.board = Board()
        self.ttl = int(-(-args.interval * args.hold // 1))
        self.results = {}
        self.daemons = []  # (Popen, Watcher, log path)
        self.anomalies = []
        self.etcd = None
        self.etcd_version = "?"
        self.load_at_start = os.getloadavg()

    # Starting

    def hostessd_argv(self, index):
        a = self.args
        return [a.hostessd, "--socket", os.path.join(self.work, "h%d.sock" % index), "--shm", "/hostess-scale-%s-%d" % (a.tag, index),
                "--capacity", "64", "--http", "127.0.0.1:%d" % (a.http_base + index), "--directory", "etcd://127.0.0.1:%d" % a.etcd_port,
                "--announce-interval", repr(a.interval), "--announce-hold", str(a.hold)]

    def start_etcd(self):
        a = self.args
        client, peer = "http://127.0.0.1:%d" % a.etcd_port, "http://127.0.0.1:%d" % (a.etcd_port + 1)
        argv = [a.etcd, "--name", "default", "--data-dir", os.path.join(self.work, "etcd"), "--listen-client-urls", client,
                "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "default=" + peer, "--initial-cluster-state", "new"]
        self.etcd = self.procs.spawn("etcd", argv, os.path.join(self.work, "etcd.log"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.etcd.poll() is not None:
                raise Failure("etcd exited with status %s at start; its log: %s\n%s" % (self.etcd.returncode, os.path.join(self.work, "etcd.log"), self.tail("etcd.log")))
            try:
                status, body = get(a.etcd_port, "/health", timeout=1)
                if status == 200 and json.loads(body).get("health") in ("true", True):
                    _, version = get(a.etcd_port, "/version", timeout=1)
                    self.etcd_version = json.loads(version).get("etcdserver", "?")
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.1)
        raise Failure("etcd did not answer /health within 30 s; its log:\n" + self.tail("etcd.log"))

    def tail(self, name, lines=15):
        try:
            with open(os.path.join(self.work, name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as error:
            return "(%s)" % error

    def check_alive(self):
        if self.etcd.poll() is not None:
            raise Failure("etcd exited (status %s); its log:\n%s" % (self.etcd.returncode, self.tail("etcd.log")))
        for index, (proc, _, path) in enumerate(self.daemons):
            if proc.poll() is not None:
                raise Failure("hostessd #%d (pid %d, port %d) exited with status %s; its log %s ends:\n%s" % (
                    index, proc.pid, self.args.http_base + index, proc.returncode, path, self.tail(os.path.basename(path))))

    # 1. Joining

    def start_fleet(self):
        n = self.args.hostesses
        log("starting %d hostessd (ports %d..%d)" % (n, self.args.http_base, self.args.http_base + n - 1))
        t0 = now()
        for index in range(n):
            path = os.path.join(self.work, "h%d.log" % index)
            proc = self.procs.spawn("hostessd-%d" % index, self.hostessd_argv(index), path)
            watcher = Watcher(self.board, self.args.http_base + index, "h%d" % index)
            watcher.start()
            self.daemons.append((proc, watcher, path))
        spawned = now() - t0
        watchers = [w for _, w, _ in self.daemons]

        def all_ids():
            return all(w.hostess_id for w in watchers)

        if not wait_until(self.board, all_ids, 60, self.check_alive):
            missing = [w.label for w in watchers if not w.hostess_id]
            raise Failure("no /health answer within 60 s from %s" % ", ".join(missing[:20]))
        ids = {w.hostess_id for w in watchers}
        if len(ids) != n:
            raise Failure("the %d daemons report only %d distinct instanceIds" % (n, len(ids)))

        def converged():
            return all(w.live >= ids - {w.hostess_id} for w in watchers)

        bound = 120
        ok = wait_until(self.board, converged, bound, self.check_alive)
        if not ok:
            self.report_laggards(watchers, ids, "within %d s of the first spawn" % bound)
            raise Failure("the fleet did not converge within %d s" % bound)
        with self.board.cond:
            per_daemon = [max(w.first_live[i] for i in ids - {w.hostess_id}) - t0 for w in watchers]
            stale = sum(1 for w in watchers for state in w.listed.values() if state != "live")
        self.results["join"] = {"spawn_seconds": spawned, "all_seconds": max(per_daemon), "per_daemon": stats(per_daemon),
                                "after_last_spawn": max(per_daemon) - spawned, "stale_listed": stale}
        log("converged: every Hostess lists the %d others as live %.3f s after the first spawn (spawning took %.3f s)" % (
            n - 1, max(per_daemon), spawned))
        self.ids = ids

    def report_laggards(self, watchers, ids, when):
        with self.board.cond:
            rows = [(w, sorted(ids - {w.hostess_id} - w.live), dict(w.listed)) for w in watchers if not (w.live >= ids - {w.hostess_id})]
        lines = []
        for w, missing, listed in rows[:20]:
            plain = "?"
            try:
                status, body = get(w.port, "/peers")
                plain = "%d listed, %d live" % (len(json.loads(body)["peers"]), sum(1 for p in json.loads(body)["peers"] if p.get("state") == "live"))
                _, health = get(w.port, "/health")
                plain += "; /health directory %s" % json.dumps(json.loads(health).get("directory"))
            except Exception as error:  # noqa: BLE001 — a report, whatever the daemon answers
                plain = "GET /peers failed: %s" % error
            lines.append("  %s (%s, port %d): misses %d of %d %s; its last blocking answer listed %d (%d live); now: %s; watcher errors %d (%s)" % (
                w.label, w.hostess_id, w.port, len(missing), len(ids) - 1, ("e.g. " + ", ".join(missing[:3])) if missing else "",
                len(listed), sum(1 for s in listed.values() if s == "live"), plain, w.errors, w.last_error))
        self.anomalies.append("%d Hostesses did not list every other as live %s:\n%s" % (len(rows), when, "\n".join(lines)))
        log(self.anomalies[-1])

    # 2. Steady state

    def snapshot(self):
        """etcd's metrics and /proc, the daemons' /proc and directory metrics, at one time."""
        directory = {"ok": 0.0, "failed": 0.0, "events": 0.0, "reconnects": 0.0}
        for index in range(len(self.daemons)):
            try:
                _, body = get(self.args.http_base + index, "/metrics")
                m = prometheus(body.decode())
                directory["ok"] += m.get('hostess_directory_requests_total{result="ok"}', 0)
                directory["failed"] += m.get('hostess_directory_requests_total{result="failed"}', 0)
                directory["events"] += m.get("hostess_directory_watch_events_total", 0)
                directory["reconnects"] += m.get("hostess_directory_reconnects_total", 0)
            except (OSError, http.client.HTTPException) as error:
                self.anomalies.append("GET /metrics of hostessd #%d failed: %s" % (index, error))
        _, body = get(self.args.etcd_port, "/metrics")
        t = time.monotonic()
        daemons = [proc_stat(p.pid) for p, _, _ in self.daemons]
        return {"t": t, "etcd": prometheus(body.decode()), "etcd_proc": proc_stat(self.etcd.pid), "daemons": daemons,
                "directory": directory, "self": resource.getrusage(resource.RUSAGE_SELF)}

    def steady(self):
        settle = min(30.0, max(5.0, 2 * self.args.interval))
        log("settling %.0f s, then measuring %.0f s of steady state" % (settle, self.args.measure_seconds))
        time.sleep(settle)
        self.check_alive()
        a = self.snapshot()
        time.sleep(self.args.measure_seconds)
        self.check_alive()
        b = self.snapshot()
        dt = b["t"] - a["t"]
        ea, eb = a["etcd"], b["etcd"]

        def delta(name):
            return eb.get(name, 0) - ea.get(name, 0)

        methods = {}
        for name in set(ea) | set(eb):
            m = re.match(r'grpc_server_(started|msg_received|msg_sent|handled)_total\{(.*)\}$', name)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            key = labels["grpc_method"]
            if m.group(1) == "handled":
                if labels.get("grpc_code") != "OK":
                    methods.setdefault(key, {}).setdefault("errors", 0)
                    methods[key]["errors"] += delta(name)
                continue
            methods.setdefault(key, {}).setdefault(m.group(1), 0)
            methods[key][m.group(1)] += delta(name)
        methods = {k: v for k, v in methods.items() if any(v.values())}
        etcd_cpu = (b["etcd_proc"][0] - a["etcd_proc"][0]) if a["etcd_proc"] and b["etcd_proc"] else None
        counters = {name: delta(name) / dt for name in [
            "etcd_mvcc_put_total", "etcd_mvcc_range_total", "etcd_mvcc_delete_total", "etcd_mvcc_txn_total",
            "etcd_debugging_mvcc_events_total", "etcd_debugging_lease_renewed_total", "etcd_debugging_lease_granted_total",
            "etcd_debugging_lease_revoked_total", "etcd_disk_wal_fsync_duration_seconds_count", "etcd_disk_backend_commit_duration_seconds_count",
            "etcd_network_client_grpc_received_bytes_total", "etcd_network_client_grpc_sent_bytes_total", "process_cpu_seconds_total"]}
        gauges = {name: eb.get(name) for name in ["etcd_debugging_mvcc_watcher_total", "etcd_debugging_mvcc_watch_stream_total",
                                                  "etcd_debugging_mvcc_slow_watcher_total", "etcd_debugging_mvcc_keys_total",
                                                  "etcd_mvcc_db_total_size_in_bytes", "process_resident_memory_bytes"]}
        cpu = [(y[0] - x[0]) / dt * 100 for x, y in zip(a["daemons"], b["daemons"]) if x and y]
        rss = [y[1] for y in b["daemons"] if y]
        pss = [y[2] for y in b["daemons"] if y and y[2] is not None]
        mine = (b["self"].ru_utime + b["self"].ru_stime - a["self"].ru_utime - a["self"].ru_stime) / dt * 100
        dirs = {k: (b["directory"][k] - a["directory"][k]) / dt for k in a["directory"]}
        self.results["steady"] = {
            "seconds": dt, "methods": {k: {kk: vv / dt for kk, vv in v.items()} for k, v in methods.items()}, "counters": counters, "gauges": gauges,
            "etcd_cpu_percent": etcd_cpu / dt * 100 if etcd_cpu is not None else None,
            "etcd_rss": b["etcd_proc"][1] if b["etcd_proc"] else None,
            "daemon_cpu_percent_total": sum(cpu), "daemon_cpu_percent_max": max(cpu), "daemon_rss_total": sum(rss),
            "daemon_rss_mean": sum(rss) / len(rss), "daemon_pss_total": sum(pss) if pss else None, "directory_per_second": dirs,
            "observer_cpu_percent": mine}
        log("steady state: etcd %.1f%% of a core, %d daemons %.1f%% together" % (self.results["steady"]["etcd_cpu_percent"] or -1, len(cpu), sum(cpu)))

    # 3. One more Hostess

    def newcomer_rounds(self):
        n = self.args.hostesses
        index = n
        port = self.args.http_base + index
        watchers = [w for _, w, _ in self.daemons]
        bound = max(60.0, 2.0 * self.ttl + 10)
        rounds = []
        for number in range(1, ROUNDS + 1):
            deadline = time.monotonic() + 10
            while not port_free(port):
                if time.monotonic() > deadline:
                    raise Failure("port %d (the newcomer's) is still taken 10 s after the last round" % port)
                time.sleep(0.1)
            path = os.path.join(self.work, "newcomer-%d.log" % number)
            t_spawn = now()
            proc = self.procs.spawn("hostessd-newcomer-%d" % number, self.hostessd_argv(index), path)
            me = Watcher(self.board, port, "newcomer-%d" % number, retry=0.002)
            me.start()

            def check():
                self.check_alive()
                if proc.poll() is not None:
                    raise Failure("the newcomer of round %d (pid %d) exited with status %s; its log %s ends:\n%s" % (
                        number, proc.pid, proc.returncode, path, self.tail(os.path.basename(path))))

            def seen_by_all():
                return me.hostess_id is not None and all(me.hostess_id in w.first_live for w in watchers)

            if not wait_until(self.board, seen_by_all, bound, check):
                if me.hostess_id is None:
                    raise Failure("the newcomer of round %d did not answer /health within %.0f s; its log:\n%s" % (number, bound, self.tail(os.path.basename(path))))
                self.report_laggards(watchers, self.ids | {me.hostess_id}, "%.0f s after the newcomer of round %d started" % (bound, number))
                raise Failure("round %d: the newcomer %s was not listed live by all %d within %.0f s" % (number, me.hostess_id, n, bound))
            new_id = me.hostess_id
            with self.board.cond:
                joined = [w.first_live[new_id] - t_spawn for w in watchers]
            # The newcomer's own view: when it listed all N.
            wait_until(self.board, lambda: me.live >= self.ids, bound, check)
            with self.board.cond:
                own = (max(me.first_live[i] for i in self.ids) - t_spawn) if me.live >= self.ids else None
            time.sleep(1.0)
            check()
            exited = []
            reaper = threading.Thread(target=lambda: (proc.wait(), exited.append(now())), daemon=True)
            t_term = now()
            proc.send_signal(signal.SIGTERM)
            reaper.start()

            def gone_for_all():
                return all(new_id in w.gone for w in watchers)

            if not wait_until(self.board, gone_for_all, bound, self.check_alive):
                with self.board.cond:
                    still = [(w.label, w.listed.get(new_id)) for w in watchers if new_id not in w.gone]
                self.anomalies.append("round %d: %d Hostesses still list the newcomer %s %.0f s after its SIGTERM: %s" % (
                    number, len(still), new_id, bound, ", ".join("%s (%s)" % s for s in still[:20])))
                raise Failure(self.anomalies[-1])
            with self.board.cond:
                left = [w.gone[new_id] - t_term for w in watchers]
                how = {}
                for w in watchers:
                    state = "absent" if new_id not in w.listed else w.listed[new_id]
                    how[state] = how.get(state, 0) + 1
            try:
                status = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = proc.wait(timeout=5)
                self.anomalies.append("round %d: the newcomer did not exit within 10 s of SIGTERM (killed)" % number)
            reaper.join(timeout=1)
            stopped = (exited[0] if exited else now()) - t_term
            me.stop()
            if status != 0:
                self.anomalies.append("round %d: the newcomer exited with status %s after SIGTERM; its log %s ends:\n%s" % (
                    number, status, path, self.tail(os.path.basename(path))))
            milestones = self.log_times(path, {"http": "serving HTTP on", "connected": "directory: connected to etcd", "revoked": "directory: revoked lease"})
            rounds.append({"id": new_id, "join": stats(joined), "own_view": own,
                           "serving": milestones.get("http", t_spawn - 1) - t_spawn, "connected": milestones.get("connected", t_spawn - 1) - t_spawn,
                           "revoked": milestones.get("revoked", t_term - 1) - t_term, "leave": stats(left), "left_as": how, "exit_seconds": stopped,
                           "exit_status": status})
            log("round %d: seen live by all %d after %.3f s (median %.3f); gone for all %.3f s after SIGTERM (%s); exited after %.3f s" % (
                number, n, max(joined), statistics.median(joined), max(left), ", ".join("%s %d" % kv for kv in how.items()), stopped))
            time.sleep(1.0)
        self.results["rounds"] = rounds

    @staticmethod
    def log_times(path, marks):
        """The wall time (s) of the first line of hostessd's log at `path` holding each mark's text."""
        found = {}
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    for key, text in marks.items():
                        if key not in found and text in line:
                            stamp = datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                            found[key] = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
        except (OSError, ValueError):
            pass
        return found

    # After: the whole fleet once more, with the CLI on one daemon, and the logs

    def final_check(self):
        watchers = [w for _, w, _ in self.daemons]
        bad = []
        for w in watchers:
            try:
                _, body = get(w.port, "/peers")
                peers = json.loads(body)["peers"]
            except (OSError, http.client.HTTPException, ValueError) as error:
                bad.append("%s: GET /peers failed: %s" % (w.label, error))
                continue
            live = {p["hostessId"] for p in peers if p.get("state") == "live"}
            others = {p["hostessId"]: p.get("state") for p in peers if p["hostessId"] not in self.ids}
            if live != self.ids - {w.hostess_id} or others:
                bad.append("%s (%s): lists %d live of the %d others%s" % (
                    w.label, w.hostess_id, len(live & self.ids), len(self.ids) - 1, (", and %s" % others) if others else ""))
        if bad:
            self.anomalies.append("at the end, %d Hostesses do not list exactly the %d others as live:\n  %s" % (len(bad), len(self.ids) - 1, "\n  ".join(bad[:20])))
        cli = [self.args.hostess, "--socket", os.path.join(self.work, "h0.sock"), "peers", "--json"]
        try:
            out = subprocess.run(cli, capture_output=True, text=True, timeout=10)
            listed = json.loads(out.stdout)
            peers = listed.get("peers", listed) if isinstance(listed, dict) else listed
            count = sum(1 for p in peers if isinstance(p, dict) and p.get("state") == "live")
            self.results["cli"] = "hostess peers --json on #0: %d live" % count
            if count != len(self.ids) - 1:
                self.anomalies.append("hostess peers --json on #0 lists %d live, not %d" % (count, len(self.ids) - 1))
        except (OSError, ValueError, subprocess.TimeoutExpired) as error:
            self.anomalies.append("hostess peers --json on #0 failed: %s" % error)

    def scan_logs(self):
        paths = sorted(f for f in os.listdir(self.work) if f.endswith(".log") and f != "etcd.log")
        found = {}
        for name in paths:
            with open(os.path.join(self.work, name), errors="replace") as f:
                for line in f:
                    if " warning: " not in line and " error: " not in line:
                        continue
                    if any(p.search(line) for p in BENIGN):
                        continue
                    text = line.split("]", 1)[-1].strip()
                    key = re.sub(r"(?<![A-Za-z])\d+(\.\d+)?", "N", text)[:160]
                    entry = found.setdefault(key, {"example": line.strip(), "daemons": set(), "count": 0})
                    entry["daemons"].add(name[:-4])
                    entry["count"] += 1
        self.results["log_findings"] = found
        if found:
            self.anomalies.append("%d kinds of warning or error in the daemons' logs (see the table)" % len(found))
        etcd_warnings = {}
        try:
            with open(os.path.join(self.work, "etcd.log"), errors="replace") as f:
                for line in f:
                    m = re.search(r' ([WEC]) \| (.*)', line)
                    if m:
                        text = re.sub(r"\\?\"/hostess/peers/[0-9a-f-]{36}\\?\"", "KEY", m.group(2).strip())
                        key = m.group(1) + " | " + re.sub(r"(?<![A-Za-z])\d+(\.\d+)?", "N", text)[:220]
                        etcd_warnings[key] = etcd_warnings.get(key, 0) + 1
        except OSError:
            pass
        self.results["etcd_log_warnings"] = etcd_warnings

    # 4. The table

    def report(self):
        a = self.args
        r = self.results
        out = []
        w = out.append
        w("## Fleet directory at scale: %d Hostesses on one etcd" % a.hostesses)
        w("")
        w("| | |")
        w("| --- | --- |")
        w("| date | %s |" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
        w("| machine | %d CPUs (nproc), %.1f GB RAM, kernel %s |" % (len(os.sched_getaffinity(0)), os.sysconf("SC_PHYS_PAGES") * PAGE / 1e9, os.uname().release))
        w("| load average at the start (1, 5, 15 min) | %.2f, %.2f, %.2f |" % self.load_at_start)
        w("| etcd | %s, one member, loopback, data dir on %s |" % (self.etcd_version, filesystem(self.work)))
        w("| hostessd | release, --capacity 64, --announce-interval %s, --announce-hold %d (lease TTL %d s, keepalive every %.1f s) |" % (
            a.interval, a.hold, self.ttl, self.ttl / 3))
        w("| command | `%s` |" % a.command_line)
        if "join" in r:
            j = r["join"]
            w("")
            w("### 1. Joining: every Hostess lists the %d others as live" % (a.hostesses - 1))
            w("")
            w("| spawning %d hostessd | all converged after first spawn | per Hostess (min / median / max) | after the last spawn |" % a.hostesses)
            w("| ---: | ---: | ---: | ---: |")
            w("| %.3f s | **%.3f s** | %s | %.3f s |" % (j["spawn_seconds"], j["all_seconds"], triple(j["per_daemon"]), j["after_last_spawn"]))
            w("")
            w("Per Hostess: its first answer to `GET /peers` (blocking) that lists all the others as live, from the first spawn; this script"
              " connects to each daemon as soon as it listens (retrying every 20 ms), so a time may be late by up to that.")
        if "steady" in r:
            s = r["steady"]
            c = s["counters"]
            g = s["gauges"]
            w("")
            w("### 2. Steady state over %.1f s" % s["seconds"])
            w("")
            w("etcd gRPC calls by method (the JSON gateway's requests and streams, per second):")
            w("")
            w("| method | started / s | messages in / s | messages out / s | errors / s |")
            w("| --- | ---: | ---: | ---: | ---: |")
            total = 0.0
            for name, v in sorted(s["methods"].items(), key=lambda kv: -kv[1].get("msg_received", 0)):
                total += v.get("started", 0)
                w("| %s | %.2f | %.2f | %.2f | %.2f |" % (name, v.get("started", 0), v.get("msg_received", 0), v.get("msg_sent", 0), v.get("errors", 0)))
            w("| **all** | **%.2f** | | | |" % total)
            w("")
            w("Expected from the configuration: puts %.2f / s (N / interval), keepalives %.2f / s (N / (TTL / 3)). The daemons start within"
              " %.0f ms of each other and keep their periods, so a window catches their requests in step: its rates are off from these by up"
              " to one period's worth of requests." % (a.hostesses / a.interval, a.hostesses / (self.ttl / 3), r.get("join", {}).get("spawn_seconds", 0) * 1000))
            w("")
            w("| etcd | value |")
            w("| --- | ---: |")
            w("| CPU | **%.1f%% of one core** |" % (s["etcd_cpu_percent"] or float("nan")))
            w("| RSS | %.1f MB |" % ((s["etcd_rss"] or 0) / 1e6))
            w("| mvcc puts / s, ranges / s | %.2f, %.2f |" % (c["etcd_mvcc_put_total"], c["etcd_mvcc_range_total"]))
            w("| watch events sent / s | %.1f |" % c["etcd_debugging_mvcc_events_total"])
            w("| lease renewals / s | %.2f |" % c["etcd_debugging_lease_renewed_total"])
            w("| WAL fsyncs / s, backend commits / s | %.2f, %.2f |" % (c["etcd_disk_wal_fsync_duration_seconds_count"], c["etcd_disk_backend_commit_duration_seconds_count"]))
            w("| gRPC bytes in / s, out / s | %.1f kB, %.1f kB |" % (c["etcd_network_client_grpc_received_bytes_total"] / 1e3, c["etcd_network_client_grpc_sent_bytes_total"] / 1e3))
            w("| watchers, watch streams, slow watchers | %s, %s, %s |" % tuple(fmt(g[k]) for k in ["etcd_debugging_mvcc_watcher_total", "etcd_debugging_mvcc_watch_stream_total", "etcd_debugging_mvcc_slow_watcher_total"]))
            w("| keys, db size | %s, %.1f MB |" % (fmt(g["etcd_debugging_mvcc_keys_total"]), (g["etcd_mvcc_db_total_size_in_bytes"] or 0) / 1e6))
            d = s["directory_per_second"]
            w("")
            w("| %d hostessd | value |" % a.hostesses)
            w("| --- | ---: |")
            w("| CPU, all together (the busiest one) | **%.2f%% of one core** (%.2f%%) |" % (s["daemon_cpu_percent_total"], s["daemon_cpu_percent_max"]))
            pss = ("%.1f MB" % (s["daemon_pss_total"] / 1e6)) if s["daemon_pss_total"] is not None else "n/a"
            w("| RSS, all together (each, mean); PSS all together | %.1f MB (%.1f MB); %s |" % (s["daemon_rss_total"] / 1e6, s["daemon_rss_mean"] / 1e6, pss))
            w("| exchanges with etcd / s (ok, failed), as the daemons count them | %.2f, %.2f |" % (d["ok"], d["failed"]))
            w("| watch events read / s, reconnects / s | %.1f, %.2f |" % (d["events"], d["reconnects"]))
            w("| this script's own CPU meanwhile | %.2f%% |" % s["observer_cpu_percent"])
        if "rounds" in r:
            w("")
            w("### 3. One more Hostess: seen live by all %d, and gone for all after its SIGTERM (%d rounds)" % (a.hostesses, len(r["rounds"])))
            w("")
            w("Milliseconds from the newcomer's spawn (join) and from its SIGTERM (goodbye). Per Hostess: when the first answer to its blocking"
              " `GET /peers?index=…` that lists the newcomer as live (join), or no longer lists it (goodbye), reached this script's socket (the"
              " kernel's receive timestamp). \"Newcomer lists all\": its first such answer listing all %d. Its log's lines (millisecond"
              " timestamps): serving HTTP, the directory connected (the lease granted, the announcement put, the prefix read, the watch"
              " created), the lease revoked at its stop. All on %d CPUs with etcd and the other daemons." % (a.hostesses, len(os.sched_getaffinity(0))))
            w("")
            w("| round | newcomer serves HTTP, connected (its log) | join: min / median / max | **join: seen by all** | newcomer lists all %d | lease revoked (its log) | goodbye: min / median / max | **goodbye: seen by all** | gone as | exit after SIGTERM |" % a.hostesses)
            w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")

            def ms(value):
                return "?" if value < 0 else "%.0f" % (value * 1000)

            for number, x in enumerate(r["rounds"], 1):
                w("| %d | %s, %s | %s | **%.0f** | %s | %s | %s | **%.0f** | %s | %.0f |" % (
                    number, ms(x["serving"]), ms(x["connected"]), triple(x["join"], ms=True), x["join"]["max"] * 1000,
                    "%.0f" % (x["own_view"] * 1000) if x["own_view"] is not None else "never", ms(x["revoked"]),
                    triple(x["leave"], ms=True), x["leave"]["max"] * 1000, ", ".join("%s %d" % kv for kv in x["left_as"].items()), x["exit_seconds"] * 1000))
            joins = [x["join"]["max"] for x in r["rounds"]]
            leaves = [x["leave"]["max"] for x in r["rounds"]]
            w("| **median of rounds** | | | **%.0f** | | | | **%.0f** | | |" % (statistics.median(joins) * 1000, statistics.median(leaves) * 1000))
        w("")
        w("### Daemon behaviour")
        w("")
        findings = r.get("log_findings", {})
        if findings:
            w("| warnings and errors in the hostessd logs (digits as N) | lines | daemons | example |")
            w("| --- | ---: | ---: | --- |")
            for key, entry in sorted(findings.items(), key=lambda kv: -kv[1]["count"]):
                names = sorted(entry["daemons"])
                w("| `%s` | %d | %d (%s) | `%s` |" % (key.replace("|", "\\|"), entry["count"], len(names), ", ".join(names[:5]) + (", …" if len(names) > 5 else ""), entry["example"].replace("|", "\\|")[:300]))
        else:
            w("- no warning or error in any hostessd log (beyond \"no --secrets file\", which every daemon of this setup logs)")
        etcd_warnings = r.get("etcd_log_warnings", {})
        w("- etcd log: %d warning or error lines%s" % (sum(etcd_warnings.values()), ":" if etcd_warnings else ""))
        for line, count in sorted(etcd_warnings.items(), key=lambda kv: -kv[1])[:8]:
            w("  - %d × `%s`" % (count, line))
        if "cli" in r:
            w("- " + r["cli"])
        for anomaly in self.anomalies:
            if not anomaly.startswith("%d kinds of warning" % len(findings)):
                w("- " + anomaly.replace("\n", "\n  "))
        print("\n".join(out), flush=True)
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump(r, f, default=lambda o: sorted(o) if isinstance(o, set) else str(o), indent=1)


def fmt(value):
    return "n/a" if value is None else "%d" % value


def triple(s, ms=False):
    k = 1000 if ms else 1
    return ("%.0f / %.0f / %.0f" if ms else "%.3f / %.3f / %.3f s") % (s["min"] * k, s["median"] * k, s["max"] * k)


def filesystem(path):
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mount = fields[1]
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hostessd", required=True)
    parser.add_argument("--hostess", required=True)
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--hostesses", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--hold", type=int, default=4)
    parser.add_argument("--measure-seconds", type=float, default=30)
    parser.add_argument("--etcd-port", type=int, default=61379)
    parser.add_argument("--http-base", type=int, default=61400)
    parser.add_argument("--command-line", default="Scripts/fleet-scale.sh")
    args = parser.parse_args()

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    taken = [p for p in [args.etcd_port, args.etcd_port + 1] + list(range(args.http_base, args.http_base + args.hostesses + 1)) if not port_free(p)]
    if taken:
        sys.exit("fleet-scale: ports in use on 127.0.0.1: %s (another run? pick others with --etcd-port / --http-base)" % ", ".join(map(str, taken[:10])))
    run = Run(args)
    failed = None
    try:
        try:
            run.start_etcd()
            log("etcd %s on 127.0.0.1:%d" % (run.etcd_version, args.etcd_port))
            run.start_fleet()
            run.steady()
            run.newcomer_rounds()
            run.final_check()
        except Failure as error:
            failed = str(error)
            run.anomalies.append("FAILED: " + failed)
            log("FAILED: " + failed)
        run.board.stopping = True
        run.scan_logs()
        run.report()
    finally:
        run.board.stopping = True
        if failed or run.anomalies or sys.exc_info()[0] is not None:
            with open(os.path.join(args.work, "KEEP"), "w") as f:
                f.write("\n".join(run.anomalies) + "\n")
        run.procs.stop_all()
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
