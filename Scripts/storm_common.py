"""Shared helpers of Scripts/crash_storm.py and Scripts/soak.py (Python 3 standard library only).

- Conn: one blocking socket connection speaking the JSON line protocol (docs/protocol.md).
- Daemon: one release hostessd started and stopped by pid (never by name).
- readers: the Python reader (docs/examples/shm_reader.py, imported) and the Swift reader (the shmdump
  binary) as loops that count torn results; the C reader is Scripts/storm_creader.c.
- figures: percentiles and a Markdown table.
"""

import importlib.util
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class ConnClosed(Exception):
    """The connection broke before the reply arrived: the outcome of the request in flight is unknown."""


class Conn:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.next_id = 0

    def send(self, obj):
        self.next_id += 1
        obj = dict(obj, id=self.next_id)
        try:
            self.sock.sendall((json.dumps(obj, separators=(",", ":")) + "\n").encode())
        except OSError as error:
            raise ConnClosed(str(error))
        return self.next_id

    def read_reply(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise ConnClosed("timeout")
            except OSError as error:
                raise ConnClosed(str(error))
            if not chunk:
                raise ConnClosed("EOF")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        rid = self.send(obj)
        while True:
            reply = self.read_reply()
            if reply.get("id") == rid:
                return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def bin_path(name):
    return os.path.join(ROOT, ".build", "release", name)


class Daemon:
    """A hostessd child; its log is appended to `log`."""

    def __init__(self, args, log):
        self.args = [bin_path("hostessd")] + list(args)
        self.log = log
        self.proc = None

    def start(self, env=None):
        out = open(self.log, "ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **env) if env else None)
        out.close()
        return self.proc.pid

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def wait_first_answer(socket_path, deadline_s=30.0, proc=None):
    """Seconds until a `status` request is answered; polls connect every 0.5 ms. None on timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"hostessd exited with status {proc.returncode} before answering")
        try:
            c = Conn(socket_path, timeout=5)
        except OSError:
            time.sleep(0.0005)
            continue
        try:
            reply = c.request({"command": "status"})
            if "result" in reply:
                return time.monotonic() - t0, reply
        except (ConnClosed, ValueError):
            pass
        finally:
            c.close()
        time.sleep(0.0005)
    return None, None


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def split_id(entry_id):
    parts = entry_id.split(":")
    return {"fqdn": parts[0], "servername": parts[1], "class": parts[2], "owner": parts[3],
            "required": parts[4], "mechanism": parts[5], "uuid": parts[6]}


def entry_consistent(entry, key):
    """None when `entry` (a dict a reader returned for `key`, or from a list when key is None) is
    self-consistent: its id is the key, the name's parts agree with the members, the types are right."""
    try:
        if key is not None and entry.get("id") != key:
            return f"id {entry.get('id')!r} for key {key!r}"
        f = split_id(entry["id"])
        for member in ("fqdn", "servername", "class", "owner", "uuid"):
            if entry.get(member) != f[member]:
                return f"{member} {entry.get(member)!r} disagrees with id {entry['id']!r}"
        auth = entry.get("authentication") or {}
        if auth.get("required") != f["required"] or auth.get("mechanism") != f["mechanism"]:
            return f"authentication {auth!r} disagrees with id"
        if not isinstance(entry.get("serial"), int) or entry["serial"] <= 0:
            return f"serial {entry.get('serial')!r}"
        if not isinstance(entry.get("lastHeartbeat"), int) or not isinstance(entry.get("registeredAt"), int):
            return "timestamps"
        if entry["lastHeartbeat"] < entry["registeredAt"]:
            return "lastHeartbeat before registeredAt"
        if not isinstance(entry.get("terminals"), dict):
            return "terminals"
        for name, t in entry["terminals"].items():
            if t.get("inUse") != bool(t.get("connectedTo")):
                return f"terminal {name}: inUse {t.get('inUse')} with connectedTo {t.get('connectedTo')}"
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        return f"malformed: {error!r}"
    return None


def list_consistent(entries):
    last = 0
    seen = set()
    for e in entries:
        problem = entry_consistent(e, None)
        if problem:
            return problem
        if e["serial"] <= last:
            return f"serials not increasing ({last} then {e['serial']})"
        last = e["serial"]
        if e["id"] in seen:
            return f"id twice: {e['id']}"
        seen.add(e["id"])
    return None


# ---- The Python reader (docs/examples/shm_reader.py) as a loop, run in its own process ----

def load_shm_reader():
    spec = importlib.util.spec_from_file_location("shm_reader", os.path.join(ROOT, "docs", "examples", "shm_reader.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_reader_main(name, idfile, latency_file=None, list_every=50):
    """Runs until SIGTERM; prints one JSON line of counters."""
    shm = load_shm_reader()
    ids = [line.strip() for line in open(idfile) if line.strip()]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    c = dict(reader="python", opens=0, openFailures=0, lookups=0, found=0, notFound=0, busy=0, lists=0,
             listEntries=0, torn=0, exceptions=0, reopenClosed=0, reopenReplaced=0, reopenWriterGone=0,
             firstTorn="", firstException="")
    lat = open(latency_file, "a") if latency_file else None
    region = None
    n = 0
    pause = float(os.environ.get("STORM_READER_PAUSE_US", "500")) / 1e6
    while not stop.is_set():
        if pause > 0:
            time.sleep(pause)
        if region is None:
            try:
                region = shm.Region(name)
                c["opens"] += 1
            except shm.RegionUnusable:
                c["openFailures"] += 1
                time.sleep(0.002)
                continue
        n += 1
        try:
            if n % 32 == 0:
                state = region.liveness()
                if state != "alive":
                    c[{"closed": "reopenClosed", "replaced": "reopenReplaced"}.get(state, "reopenWriterGone")] += 1
                    region.close()
                    region = None
                    if state == "writer-gone":
                        time.sleep(0.002)
                    continue
            if n % list_every == 0:
                entries = region.list_all()
                c["lists"] += 1
                c["listEntries"] += len(entries)
                problem = list_consistent(entries)
                if problem:
                    c["torn"] += 1
                    c["firstTorn"] = c["firstTorn"] or "list: " + problem
                continue
            key = random.choice(ids)
            t0 = time.perf_counter_ns()
            entry = region.get(key)
            dt = time.perf_counter_ns() - t0
            c["lookups"] += 1
            if lat and c["lookups"] % 4 == 0:
                lat.write(f"{time.time():.3f} {dt}\n")
            if entry is None:
                c["notFound"] += 1
            else:
                c["found"] += 1
                problem = entry_consistent(entry, key)
                if problem:
                    c["torn"] += 1
                    c["firstTorn"] = c["firstTorn"] or "get: " + problem
        except shm.RegionUnusable as error:
            text = str(error)
            if text.startswith("busy"):
                c["busy"] += 1
            elif text.startswith("corrupt"):
                c["torn"] += 1
                c["firstTorn"] = c["firstTorn"] or text
            else:
                region.close()
                region = None
        except Exception as error:  # a reader that raised something else on the way: report it
            c["exceptions"] += 1
            c["firstException"] = c["firstException"] or repr(error)
            try:
                region.close()
            except Exception:
                pass
            region = None
    if lat:
        lat.close()
    print(json.dumps(c), flush=True)


# ---- The Swift reader: the shmdump binary (HostessRegion's RegionReader) in a loop, in a thread ----

class SwiftReader(threading.Thread):
    def __init__(self, name, ids, latency=None):
        super().__init__(daemon=True)
        self.name_ = name
        self.ids = ids
        self.stopping = threading.Event()
        self.latency = latency  # list of (time, seconds) or None
        self.c = dict(reader="swift", runs=0, lookups=0, found=0, notFound=0, lists=0, listEntries=0, checks=0,
                      checkFailed=0, failedRuns=0, torn=0, firstTorn="", firstFailure="")

    def run(self):
        exe = bin_path("shmdump")
        n = 0
        while not self.stopping.is_set():
            n += 1
            mode = "check" if n % 10 == 0 else ("list" if n % 3 == 0 else "get")
            key = random.choice(self.ids)
            args = [exe, "--shm", self.name_]
            args += ["--check"] if mode == "check" else (["--json"] if mode == "list" else ["--json", key])
            t0 = time.monotonic()
            try:
                p = subprocess.run(args, capture_output=True, timeout=20)
            except subprocess.TimeoutExpired:
                self.c["failedRuns"] += 1
                continue
            self.c["runs"] += 1
            out = p.stdout.decode(errors="replace")
            err = p.stderr.decode(errors="replace")
            if mode == "check":
                self.c["checks"] += 1
                if "check: sound" in out and p.returncode == 0:
                    continue
                if "check:" in out or "check:" in err:
                    self.c["checkFailed"] += 1
                    self.c["firstFailure"] = self.c["firstFailure"] or (out + err)[-600:]
                else:
                    self.c["failedRuns"] += 1
                continue
            if p.returncode != 0 and not (mode == "get" and p.returncode == 1 and "no entry" in err):
                self.c["failedRuns"] += 1  # no region at that instant, or the region refused
                self.c["firstFailure"] = self.c["firstFailure"] or err[-300:]
                continue
            try:
                doc = json.loads(out)
            except ValueError:
                self.c["torn"] += 1
                self.c["firstTorn"] = self.c["firstTorn"] or "unparsable JSON: " + out[:300]
                continue
            entries = doc.get("list") if isinstance(doc, dict) else None
            if entries is None:
                self.c["torn"] += 1
                self.c["firstTorn"] = self.c["firstTorn"] or "no list member: " + out[:300]
                continue
            if mode == "get":
                self.c["lookups"] += 1
                if self.latency is not None:
                    self.latency.append((time.time(), time.monotonic() - t0))
                if not entries:
                    self.c["notFound"] += 1
                    continue
                self.c["found"] += 1
                problem = None if len(entries) == 1 else f"{len(entries)} entries for one id"
                problem = problem or entry_consistent(entries[0], key)
            else:
                self.c["lists"] += 1
                self.c["listEntries"] += len(entries)
                problem = list_consistent(entries)
            if problem:
                self.c["torn"] += 1
                self.c["firstTorn"] = self.c["firstTorn"] or f"{mode}: {problem}"

    def stop(self):
        self.stopping.set()
        self.join(30)
        return self.c


def start_c_reader(build_dir, name, idfile, latency_file=None):
    exe = os.path.join(build_dir, "storm_creader")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(ROOT, "Sources/CHostessReader/include"),
                        os.path.join(HERE, "storm_creader.c"), os.path.join(ROOT, "Sources/CHostessReader/hostess_reader.c"),
                        "-o", exe], check=True)
    args = [exe, name, idfile] + ([latency_file] if latency_file else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE)


def start_python_reader(name, idfile, latency_file=None):
    args = [sys.executable, os.path.join(HERE, "storm_common.py"), "--python-reader", name, idfile]
    if latency_file:
        args.append(latency_file)
    return subprocess.Popen(args, stdout=subprocess.PIPE)


def stop_reader(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"torn": 0, "error": f"reader exited {proc.returncode} without counters"}


if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "--python-reader":
    python_reader_main(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
