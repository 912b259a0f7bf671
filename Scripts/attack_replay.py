#!/usr/bin/env python3
"""Replays the attacks of issue 10 ("one user must not be able to stop the Hostess") against private hostessd
processes and prints one figure line per attack. Standard library only. Driven by Scripts/attack-replay.sh,
which builds the release binaries, makes the scratch directory and cleans up; run that, not this.

    attack_replay.py run --bin DIR --work DIR --shm-prefix /hostess-attack-XXXX --repo DIR [--only 1,3]

The other subcommands are the helpers the driver starts, some of them as user nobody (through setpriv, with
/usr/bin/python3):

    heartbeat SOCKET IDS_FILE CONNECTIONS INTERVAL   keep entries alive until SIGTERM; prints a JSON summary
    conns SOCKET COUNT BLANK_EVERY HOLD              open COUNT connections sending only blank lines
    calls SOCKET REQUEST_JSON...                     send requests one by one; prints the replies as JSON
    capchurn SOCKET COUNT WIDTH PREFIX               register and unregister COUNT entries with WIDTH fresh
                                                     capability names each; prints the refusals as JSON
"""

import json
import os
import pwd
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

NOBODY_PYTHON = "/usr/bin/python3"
SETPRIV = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


# ---------------------------------------------------------------------------------------------------------
# Protocol helpers


class Client:
    """A line-protocol client on a Unix socket, with a timeout on every read."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0

    def send(self, data):
        self.sock.sendall(data)

    def readline(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply line within {timeout} s")
            self.sock.settimeout(left)
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("hostessd closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self, timeout=10.0):
        return json.loads(self.readline(timeout))

    def request(self, command, timeout=10.0, **parameters):
        self.next_id += 1
        self.send(json.dumps({"id": self.next_id, "command": command, **parameters}).encode() + b"\n")
        return self.reply(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def server_id(servername="attack", class_code="0x0001", owner="root"):
    return f"localhost:{servername}:{class_code}:{owner}:no:none:{uuid.uuid4()}"


def entry(identifier, capabilities=("pty", "vt100")):
    return {
        "id": identifier,
        "terminals": {
            "stdin": {"direction": "input", "multiplexing": "none", "protocol": "raw-bytes"},
            "stdout": {"direction": "output", "multiplexing": "fanout"},
        },
        "capabilities": list(capabilities),
    }


def register_many(path, count, servername="attack", class_code="0x0001"):
    """Registers `count` entries on one connection, pipelined; returns their ids."""
    ids = [server_id(servername, class_code) for _ in range(count)]
    client = Client(path)
    try:
        lines = b"".join(json.dumps({"command": "register", "entry": entry(i)}).encode() + b"\n" for i in ids)
        client.send(lines)
        for _ in ids:
            reply = client.reply(30)
            if "error" in reply:
                raise RuntimeError(f"register refused: {reply['error']}")
    finally:
        client.close()
    return ids


def status(path):
    client = Client(path)
    try:
        reply = client.request("status")
    finally:
        client.close()
    if "result" not in reply:
        raise RuntimeError(f"status failed: {reply}")
    return reply["result"]


def error_code(reply):
    return (reply.get("error") or {}).get("code")


def shorten(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---------------------------------------------------------------------------------------------------------
# Helpers run as subprocesses (some as nobody)


def helper_heartbeat(path, ids_file, connections, interval):
    """Every `interval` s one heartbeat per entry, one pipelined burst per connection, all answered before the
    next burst. Runs until SIGTERM, then prints {"rounds", "refusals", "first", "slowest"}."""
    with open(ids_file) as f:
        ids = [line.strip() for line in f if line.strip()]
    connections = int(connections)
    interval = float(interval)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    size = (len(ids) + connections - 1) // connections
    groups = [(Client(path, 30), ids[i:i + size]) for i in range(0, len(ids), size)]
    rounds, refusals, first, slowest = 0, 0, None, 0.0
    while not stop:
        began = time.monotonic()
        for client, group in groups:
            client.send(b"".join(b'{"command":"heartbeat","serverId":"%s"}\n' % i.encode() for i in group))
        try:
            for client, group in groups:
                for _ in group:
                    line = client.readline(30)
                    if b'"error"' in line:
                        refusals += 1
                        first = first or line.decode()
        except (TimeoutError, ConnectionError, OSError) as problem:
            refusals += 1
            first = first or f"heartbeat connection failed: {problem}"
            break
        rounds += 1
        took = time.monotonic() - began
        slowest = max(slowest, took)
        if took < interval and not stop:
            time.sleep(interval - took)
    print(json.dumps({"rounds": rounds, "refusals": refusals, "first": first, "slowest": round(slowest, 3)}), flush=True)


def helper_conns(path, count, blank_every, hold):
    """Opens `count` connections, each sending a blank line at once and every `blank_every` s. Prints
    "ready N" when all are open, then, after `hold` s or once every connection is closed, one JSON list: per
    connection the error codes it got, the first message, and after how many seconds hostessd closed it."""
    count, blank_every, hold = int(count), float(blank_every), float(hold)
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError as problem:
            conns.append({"sock": None, "codes": {"connect": 1}, "message": str(problem), "closedAfter": 0.0})
            continue
        opened = time.monotonic()
        try:
            s.sendall(b"\n")
        except OSError:
            pass
        s.setblocking(False)
        c = {"sock": s, "buf": b"", "codes": {}, "message": None, "closedAfter": None, "opened": opened,
             "nextBlank": opened + blank_every}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    print(f"ready {len(conns)}", flush=True)
    start = time.monotonic()
    while time.monotonic() - start < hold and any(c["closedAfter"] is None for c in conns):
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                data = c["sock"].recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                c["closedAfter"] = round(time.monotonic() - c["opened"], 3)
                sel.unregister(c["sock"])
                c["sock"].close()
                continue
            c["buf"] += data
            while b"\n" in c["buf"]:
                line, c["buf"] = c["buf"].split(b"\n", 1)
                error = json.loads(line).get("error")
                if error:
                    c["codes"][error["code"]] = c["codes"].get(error["code"], 0) + 1
                    c["message"] = c["message"] or error["message"]
        now = time.monotonic()
        for c in conns:
            if c["closedAfter"] is None and now >= c["nextBlank"]:
                try:
                    c["sock"].sendall(b"\n")
                except OSError:
                    pass
                c["nextBlank"] = now + blank_every
    print(json.dumps([{k: c[k] for k in ("codes", "message", "closedAfter")} for c in conns]), flush=True)


def helper_calls(path, *requests):
    client = Client(path)
    replies = []
    for text in requests:
        client.send(text.encode() + b"\n")
        replies.append(client.reply(10))
    print(json.dumps(replies), flush=True)


def helper_capchurn(path, count, width, prefix):
    owner = pwd.getpwuid(os.getuid()).pw_name
    client = Client(path)
    refusals = []
    for number in range(int(count)):
        identifier = server_id("caps", "0x0001", owner)
        names = [f"{prefix}{number}-{n}" for n in range(int(width))]
        reply = client.request("register", entry={"id": identifier, "capabilities": names})
        if "error" in reply:
            refusals.append(reply["error"])
        else:
            reply = client.request("unregister", serverId=identifier)
            if "error" in reply:
                refusals.append(reply["error"])
    print(json.dumps(refusals), flush=True)


# ---------------------------------------------------------------------------------------------------------
# The driver


class Context:
    def __init__(self, bin_dir, work, shm_prefix, repo):
        self.bin = bin_dir
        self.work = work
        self.shm_prefix = shm_prefix
        self.repo = repo
        self.children = []  # every process started, stopped at the end
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("HOSTESS_SOCKET", "HOSTESS_SHM", "HOSTESS_CONFIG", "NOTIFY_SOCKET")}
        self.me = os.path.join(work, os.path.basename(__file__))

    def remember(self, process):
        """Keeps the child for the final clean-up and writes its pid where attack-replay.sh's trap finds it."""
        self.children.append(process)
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write(f"{process.pid}\n")
        return process

    def hostess(self, socket_path, *arguments, timeout=10):
        began = time.monotonic()
        done = subprocess.run([os.path.join(self.bin, "hostess"), "--socket", socket_path, *arguments],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        return done, time.monotonic() - began

    def helper(self, *arguments, nobody=False, **popen):
        """Starts a helper subcommand of this script, as nobody if asked."""
        if nobody:
            command = SETPRIV + [NOBODY_PYTHON, self.me, *arguments]
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        else:
            command = [sys.executable, self.me, *arguments]
            env = self.env
        return self.remember(subprocess.Popen(command, env=env, cwd=self.work, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, **popen))

    def nobody_run(self, *arguments, timeout=60):
        process = self.helper(*arguments, nobody=True)
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RuntimeError(f"helper {arguments[0]} as nobody exited {process.returncode}: {err.strip()[-400:]}")
        return json.loads(out.strip().splitlines()[-1])

    def cleanup(self):
        for process in self.children:
            if process.poll() is None:
                process.kill()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    pass


class Daemon:
    """A private hostessd on its own socket and region name in the scratch directory."""

    def __init__(self, ctx, tag, arguments=(), socket_path=None, shm=None):
        self.ctx = ctx
        self.socket = socket_path or os.path.join(ctx.work, f"{tag}.sock")
        self.shm = shm or f"{ctx.shm_prefix}-{tag}"
        self.log_path = os.path.join(ctx.work, f"{tag}-{uuid.uuid4().hex[:6]}.log")
        self.started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = ctx.remember(subprocess.Popen(
                [os.path.join(ctx.bin, "hostessd"), "--socket", self.socket, "--shm", self.shm, *arguments],
                env=ctx.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log))
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hostessd exited {self.process.returncode} at start: {self.log()[-500:]}")
            try:
                Client(self.socket, 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hostessd did not serve within 10 s: {self.log()[-500:]}")
                time.sleep(0.02)

    @property
    def pid(self):
        return self.process.pid

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def stop_heartbeater(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=40)
    lines = out.strip().splitlines()
    if not lines:
        raise RuntimeError(f"heartbeater printed nothing: {err.strip()[-400:]}")
    return json.loads(lines[-1])


def start_heartbeater(ctx, daemon, ids, connections, interval):
    ids_file = os.path.join(ctx.work, f"ids-{uuid.uuid4().hex[:6]}")
    with open(ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    return ctx.helper("heartbeat", daemon.socket, ids_file, str(connections), str(interval))


def timed_line(path, text, timeout=10):
    """Sends one line on a fresh connection; (milliseconds until the reply line, the reply)."""
    client = Client(path)
    try:
        data = text.encode() + b"\n"
        began = time.monotonic()
        client.send(data)
        line = client.readline(timeout)
        elapsed = (time.monotonic() - began) * 1000
    finally:
        client.close()
    return elapsed, json.loads(line)


def http_post(address, target, body, timeout=10):
    """An unsigned POST over loopback TCP; (milliseconds until the whole response, status, body text)."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    try:
        request = (f"POST {target} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        began = time.monotonic()
        sock.sendall(request)
        data = b""
        deadline = began + timeout
        length = None
        while True:
            if b"\r\n\r\n" in data and length is None:
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                for header in head.split("\r\n")[1:]:
                    name, _, value = header.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
            if length is not None and len(data.split(b"\r\n\r\n", 1)[1]) >= length:
                break
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        elapsed = (time.monotonic() - began) * 1000
    finally:
        sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    code = int(head.split(b" ", 2)[1]) if head else 0
    return elapsed, code, rest.decode(errors="replace")


KEYS_85K = "{" + ",".join(f'"k{n}":0' for n in range(85_000)) + "}"

HOSTILE_LINES = [
    ("array of 500k zeros", "[" + ",".join(["0"] * 500_000) + "]"),
    ("170k \\u00e9 escapes", '"' + "\\u00e9" * 170_000 + '"'),
    ("1M-digit number", "1" + "7" * 1_000_000),
    ("1M '['", "[" * 1_000_000),
    ("query filter of 150k capabilities",
     '{"command":"query","filter":{"capabilities":[' + ",".join(['"pty"'] * 150_000) + "]}}"),
]


# Each attack returns (figure text, passed).

def attack_1(ctx, state):
    daemon = Daemon(ctx, "a1", ["--ttl", "2", "--heartbeat-interval", "0.5", "--http", "127.0.0.1:0"])
    state["a1"] = daemon
    ids = register_many(daemon.socket, 500, "heartbeating")
    beater = start_heartbeater(ctx, daemon, ids, 2, 0.5)
    state["a1-beater"] = beater
    time.sleep(1.0)
    socket_ms, socket_reply = timed_line(daemon.socket, KEYS_85K)
    address = status(daemon.socket).get("http")
    if not address:
        raise RuntimeError("status has no http address")
    http_ms, http_status, http_body = http_post(address, "/query", KEYS_85K.encode())
    time.sleep(2.5)  # more than a TTL: an entry that missed its heartbeats would be gone
    summary = status(daemon.socket)
    passed = (socket_ms < 100 and http_ms < 100 and error_code(socket_reply) is not None and http_status == 400
              and summary["evictions"] == 0 and summary["entries"] == 500)
    figure = (f"85,000-key object ({len(KEYS_85K):,} B): socket reply {socket_ms:.1f} ms "
              f"({error_code(socket_reply)}), HTTP POST /query reply {http_ms:.1f} ms ({http_status}) "
              f"[expect < 100 ms each, an error]; 500 heartbeating entries: {summary['entries']} present, "
              f"{summary['evictions']} evictions [expect 500, 0]")
    return figure, passed


def attack_2(ctx, state):
    daemon = state.get("a1") or Daemon(ctx, "a2")
    if "a1" not in state:
        register_many(daemon.socket, 500, "present")
    parts, passed = [], True
    for name, text in HOSTILE_LINES:
        elapsed, reply = timed_line(daemon.socket, text)
        code = error_code(reply)
        passed = passed and elapsed < 100 and code is not None
        parts.append(f"{name} {elapsed:.1f} ms ({code})")
    figure = "~1 MiB worst-case lines: " + ", ".join(parts) + " [expect < 100 ms each, an error]"
    beater = state.pop("a1-beater", None)
    if beater is not None:
        beats = stop_heartbeater(beater)
        after = status(daemon.socket)
        passed = passed and beats["refusals"] == 0 and after["evictions"] == 0
        figure += (f"; the 500 entries heartbeating meanwhile: heartbeats refused {beats['refusals']}, "
                   f"evictions {after['evictions']} [expect 0, 0]")
    daemon.stop()
    return figure, passed


def attack_3(ctx, state):
    ttl = 2.0
    daemon = Daemon(ctx, "a3", ["--ttl", str(ttl), "--heartbeat-interval", "0.5"])
    ids = register_many(daemon.socket, 1000, "heartbeating")
    beater = start_heartbeater(ctx, daemon, ids, 4, 0.5)
    time.sleep(1.0)
    silent = server_id("silent")
    client = Client(daemon.socket)
    reply = client.request("register", entry=entry(silent))
    client.close()
    if "error" in reply:
        raise RuntimeError(f"register of the silent entry refused: {reply['error']}")
    os.kill(daemon.pid, signal.SIGSTOP)
    time.sleep(4.0)
    os.kill(daemon.pid, signal.SIGCONT)
    resumed = time.monotonic()
    gone = None
    poller = Client(daemon.socket)
    while time.monotonic() - resumed < ttl + 2:
        if error_code(poller.request("getServer", serverId=silent)) == "not_found":
            gone = time.monotonic() - resumed
            break
        time.sleep(0.05)
    poller.close()
    time.sleep(1.0)
    after = status(daemon.socket)
    beats = stop_heartbeater(beater)
    daemon.stop()
    heartbeating_evicted = after["evictions"] - (1 if gone is not None else 0)
    passed = (heartbeating_evicted == 0 and after["entries"] == 1000 and beats["refusals"] == 0
              and gone is not None and gone <= ttl + 0.5)
    gone_text = f"{gone:.2f} s" if gone is not None else f"not within {ttl + 2:.0f} s"
    figure = (f"SIGSTOP 4 s with 1,000 entries heartbeating (ttl 2 s): heartbeating entries evicted "
              f"{heartbeating_evicted} (heartbeats refused {beats['refusals']}, {after['entries']} entries left) "
              f"[expect 0]; silent entry evicted {gone_text} after SIGCONT [expect <= {ttl + 0.5:.1f} s]")
    return figure, passed


def attack_4(ctx, state):
    name = f"{ctx.shm_prefix}-fifo"
    path = "/dev/shm" + name
    made = subprocess.run(SETPRIV + ["/usr/bin/mkfifo", "-m", "0666", path], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        raise RuntimeError(f"mkfifo as nobody failed: {made.stderr.strip()}")
    readers = [
        ("shmdump", [os.path.join(ctx.bin, "shmdump"), "--shm", name]),
        ("hostess --via shm list", [os.path.join(ctx.bin, "hostess"), "--socket", os.path.join(ctx.work, "absent.sock"),
                                     "--shm", name, "--via", "shm", "list"]),
        ("shm_reader.py list", [NOBODY_PYTHON, os.path.join(ctx.repo, "docs/examples/shm_reader.py"), "--shm", name, "list"]),
    ]
    parts, passed = [], True
    try:
        for label, command in readers:
            began = time.monotonic()
            try:
                done = subprocess.run(command, env=ctx.env, capture_output=True, text=True, timeout=5)
                elapsed, code = time.monotonic() - began, done.returncode
                said_fifo = "FIFO" in done.stderr
            except subprocess.TimeoutExpired:
                elapsed, code, said_fifo = time.monotonic() - began, None, False
            passed = passed and code not in (None, 0) and elapsed < 1
            parts.append(f"{label} failed in {elapsed * 1000:.0f} ms, exit {code if code is not None else 'none (killed at 5 s)'}"
                         + (" (names the FIFO)" if said_fifo else ""))
    finally:
        os.unlink(path)
    return f"FIFO planted by nobody at {path}: " + "; ".join(parts) + " [expect < 1 s, non-zero exit]", passed


def attack_5(ctx, state):
    daemon = Daemon(ctx, "a5")
    idle_rss = rss_mb(daemon.pid)
    burst = b"".join(b'{"id":%d,"command":"watch","timeout":30}\n' % n for n in range(200_000))
    flooders = [Client(daemon.socket) for _ in range(6)]
    sent = [0] * len(flooders)
    stop_at = time.monotonic() + 3.0

    def flood(index):
        sock = flooders[index].sock
        sock.settimeout(0.1)
        view = memoryview(burst)
        while sent[index] < len(burst) and time.monotonic() < stop_at:
            try:
                sent[index] += sock.send(view[sent[index]:sent[index] + (1 << 16)])
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                break

    threads = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(len(flooders))]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # the flooders read nothing: refusals pile up to the output high-water mark and stop there
    flooded_rss = rss_mb(daemon.pid)
    client = Client(daemon.socket)
    began = time.monotonic()
    reply = client.request("register", entry=entry(server_id("after-flood")), timeout=10)
    register_s = time.monotonic() - began
    client.close()
    after_rss = rss_mb(daemon.pid)
    for thread in threads:
        thread.join(5)
    for flooder in flooders:
        flooder.close()
    daemon.stop()
    lines_sent = sum(sent) // (len(burst) // 200_000)
    ok = "error" not in reply
    passed = ok and register_s < 1 and max(idle_rss, flooded_rss, after_rss) < 200
    figure = (f"watch flood (6 connections x 200,000 pipelined watches, ~{lines_sent:,} lines written in 3 s): "
              f"register {'answered' if ok else 'refused: ' + str(reply.get('error'))} in {register_s * 1000:.0f} ms "
              f"[expect < 1 s]; hostessd VmRSS {idle_rss:.0f} MB idle, {flooded_rss:.0f} MB flooded, "
              f"{after_rss:.0f} MB after the register [expect < 200 MB]")
    return figure, passed


def attack_6(ctx, state):
    client_timeout = 5.0
    daemon = Daemon(ctx, "a6", ["--max-connections", "500", "--client-timeout", str(client_timeout)])
    helper = ctx.helper("conns", daemon.socket, "500", "5", "15", nobody=True)
    ready = helper.stdout.readline()
    if not ready.startswith("ready"):
        helper.kill()
        raise RuntimeError(f"nobody's connections failed: {ready!r} {helper.stderr.read()[-400:]}")
    time.sleep(0.5)  # let hostessd accept (or refuse) all 500
    held = len([fd for fd in os.listdir(f"/proc/{daemon.pid}/fd")
                if os.readlink(f"/proc/{daemon.pid}/fd/{fd}").startswith("socket:")]) - 1
    done, took = ctx.hostess(daemon.socket, "status")
    out, err = helper.communicate(timeout=30)
    seen = json.loads(out.strip().splitlines()[-1])
    daemon.stop()
    accepted = [c for c in seen if "capacity" not in c["codes"] and "connect" not in c["codes"]]
    refused = len(seen) - len(accepted)
    closes = sorted(c["closedAfter"] for c in accepted if c["closedAfter"] is not None)
    still_open = len(accepted) - len(closes)
    timed_out = sum(1 for c in accepted if c["codes"].get("timeout"))
    passed = (len(accepted) <= 256 and done.returncode == 0 and still_open == 0 and closes
              and client_timeout - 0.5 <= closes[0] and closes[-1] <= client_timeout + 1.5)
    span = f"{closes[0]:.2f}-{closes[-1]:.2f} s (median {closes[len(closes) // 2]:.2f} s)" if closes else "n/a"
    figure = (f"connection slots (--max-connections 500): nobody's connections accepted {len(accepted)} "
              f"(refused {refused}; hostessd held {held}) [expect <= 256]; root's 'hostess status' meanwhile "
              f"{'succeeded' if done.returncode == 0 else 'FAILED exit ' + str(done.returncode)} in {took * 1000:.0f} ms "
              f"[expect success]; blank-line senders closed after {span}, {timed_out} with 'timeout', "
              f"{still_open} still open at 15 s [expect ~{client_timeout:.0f} s]")
    return figure, passed


def attack_7(ctx, state):
    daemon = Daemon(ctx, "a7")
    state["a7"] = daemon
    refusals = ctx.nobody_run("capchurn", daemon.socket, "57", "32", f"attack{uuid.uuid4().hex[:6]}-")
    client = Client(daemon.socket)
    name = f"root-fresh-{uuid.uuid4().hex[:8]}"
    reply = client.request("register", entry=entry(server_id("root-fresh"), [name]))
    client.close()
    ok = "error" not in reply
    passed = ok and not refusals
    first = f" (first: {refusals[0].get('code')}: {refusals[0].get('message')})" if refusals else ""
    figure = (f"capability pool: nobody registered and unregistered 57 entries x 32 fresh names, refused "
              f"{len(refusals)}{first} [expect 0]; root's register with a new name: "
              f"{'ok' if ok else 'REFUSED ' + json.dumps(reply.get('error'))} [expect ok]")
    return figure, passed


def attack_8(ctx, state):
    daemon = state.pop("a7", None) or Daemon(ctx, "a8")
    register_many(daemon.socket, 2, "reservable", "0x0008")
    client = Client(daemon.socket)
    held = client.request("reserve", reservation={"count": 2, "serverFilter": {"class": "0x0008"}, "priority": 0,
                                                  "requestedBy": "root"})
    client.close()
    if "error" in held:
        raise RuntimeError(f"root's reservation refused: {held['error']}")
    high = json.dumps({"id": 1, "command": "reserve",
                       "reservation": {"count": 1, "serverFilter": {"class": "0x0008"}, "priority": 1_000_000}})
    limit = json.dumps({"id": 2, "command": "reserve",
                        "reservation": {"count": 1, "serverFilter": {"class": "0x0008"}, "priority": 100}})
    replies = ctx.nobody_run("calls", daemon.socket, high, limit)
    client = Client(daemon.socket)
    root_after = ((client.request("getReservation", reservationId=held["result"]["reservation"]["id"]).get("result") or {})
                  .get("reservation") or {}).get("status")
    client.close()
    daemon.stop()
    high_code = error_code(replies[0]) or "granted"
    granted = (replies[1].get("result") or {}).get("reservation")
    length = granted["expiresAt"] - granted["createdAt"] if granted and granted.get("expiresAt") is not None else None
    passed = high_code == "forbidden" and length == 3_600_000
    figure = (f"reservations as nobody against root's (priority 0): priority 1,000,000 -> {high_code} "
              f"[expect forbidden]; priority 100 without a duration -> expiresAt - createdAt = "
              f"{f'{length:,} ms' if length is not None else 'refused: ' + json.dumps(replies[1].get('error'))} "
              f"[expect 3,600,000 ms] (root's reservation now {root_after})")
    return figure, passed


def attack_9(ctx, state):
    daemon = Daemon(ctx, "a9")
    identifier = server_id("frozen")
    client = Client(daemon.socket)
    reply = client.request("register", entry=entry(identifier))
    client.close()
    if "error" in reply:
        raise RuntimeError(f"register refused: {reply['error']}")
    daemon.stop(signal.SIGKILL)
    time.sleep(2.0)
    done, took = ctx.hostess(daemon.socket, "--shm", daemon.shm, "list")
    printed = identifier in done.stdout
    passed = done.returncode != 0 and not printed
    reason = shorten(done.stderr.strip().splitlines()[0], 200) if done.stderr.strip() else "no message"
    figure = (f"dead writer (kill -9, 2 s later 'hostess --socket SOCK --shm NAME list'): exit {done.returncode}, "
              f"frozen entry {'PRINTED' if printed else 'not printed'} in {took * 1000:.0f} ms "
              f"[expect non-zero, not printed] ({reason})")
    return figure, passed


def attack_10(ctx, state):
    ttl = 2.0
    daemon = Daemon(ctx, "a10", ["--ttl", str(ttl)])
    err_path = os.path.join(ctx.work, "keep-alive.err")
    with open(err_path, "wb") as err:
        keeper = ctx.remember(subprocess.Popen(
            [os.path.join(ctx.bin, "hostess"), "--socket", daemon.socket, "register", "--name", "held",
             "--class", "0x0004", "--owner", "root", "--keep-alive", "--give-up-after", "30"],
            env=ctx.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True))
    identifier = keeper.stdout.readline().strip()
    if not identifier:
        raise RuntimeError(f"register --keep-alive printed no id (exit {keeper.poll()})")
    time.sleep(0.5)
    daemon.stop(signal.SIGKILL)
    killed = time.monotonic()
    successor = Daemon(ctx, "a10", ["--ttl", str(ttl)], socket_path=daemon.socket, shm=daemon.shm)
    started = successor.started
    back = None
    while time.monotonic() - started < 10:
        log = successor.log()
        if f"updated {identifier}" in log or f"registered {identifier}" in log:
            back = time.monotonic()
            break
        time.sleep(0.01)
    kept = False
    if back is not None:
        time.sleep(2 * ttl)  # only heartbeats to the successor keep it now
        client = Client(successor.socket)
        kept = "error" not in client.request("getServer", serverId=identifier)
        client.close()
    keeper.send_signal(signal.SIGTERM)
    try:
        keeper.wait(5)
    except subprocess.TimeoutExpired:
        keeper.kill()
    successor.stop()
    with open(err_path, errors="replace") as f:
        said = [line.strip() for line in f if "is back" in line]
    passed = back is not None and back - started < 10 and kept
    figure = ("restart (kill -9, successor on the same socket and region): keep-alive entry registered again "
              + (f"{back - started:.2f} s after the successor started ({back - killed:.2f} s after kill -9)"
                 if back is not None else "NOT within 10 s")
              + f" [expect < 10 s]; still there {2 * ttl:.0f} s later: {'yes' if kept else 'no'}"
              + (f" ({shorten(said[0], 120)})" if said else ""))
    return figure, passed


ATTACKS = [attack_1, attack_2, attack_3, attack_4, attack_5, attack_6, attack_7, attack_8, attack_9, attack_10]


def run(arguments):
    options = dict(zip(arguments[::2], arguments[1::2]))
    ctx = Context(options["--bin"], options["--work"], options["--shm-prefix"], options["--repo"])
    only = {int(n) for n in options.get("--only", "").split(",") if n}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    passed = failed = 0
    state = {}
    current = None
    try:
        for number, attack in enumerate(ATTACKS, 1):
            if only and number not in only:
                continue
            current = number
            began = time.monotonic()
            try:
                figure, ok = attack(ctx, state)
            except Exception as problem:  # an attack that could not be carried out counts as failed
                figure, ok = f"could not run: {type(problem).__name__}: {problem}", False
            passed += ok
            failed += not ok
            print(f"[{number:2d}] {'PASS' if ok else 'FAIL'}  {figure}  ({time.monotonic() - began:.1f} s)", flush=True)
            current = None
    except SystemExit:  # SIGTERM: from attack-replay.sh's trap or its time limit
        print(f"[{current:2d}] FAIL  interrupted" if current else "interrupted", flush=True)
        print(f"{passed} passed, {failed + (1 if current else 0)} failed (interrupted)", flush=True)
        raise
    finally:
        for daemon in [v for v in state.values() if isinstance(v, Daemon)]:
            daemon.stop()
        ctx.cleanup()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, arguments = argv[0], argv[1:]
    if command == "run":
        return run(arguments)
    helpers = {"heartbeat": helper_heartbeat, "conns": helper_conns, "calls": helper_calls, "capchurn": helper_capchurn}
    if command not in helpers:
        print(__doc__, file=sys.stderr)
        return 2
    helpers[command](*arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
