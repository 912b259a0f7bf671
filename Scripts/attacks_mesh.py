#!/usr/bin/env python3
"""The mesh and directory attacks of Scripts/attacks.sh, against private release hostessd (standard library only).

  attacks_mesh.py run --bin DIR --work DIR --shm-prefix /NAME [--repo DIR] [--only 11,12,13]

[11] spoofed announcements: a Hostess in a signed mesh polls a peer (--peer) that serves, one after another,
     an unsigned announcement, a forged MAC, an unknown key, a stale timestamp, malformed JSON and 64 KiB; then
     a true one, then an older sequence replayed and a goodbye with a forged MAC. Held when every spoof is
     dropped under its reason and none is listed, the true one is listed, and the replay and the forged
     goodbye change nothing.
[12] a flooded fleet directory: a stand-in etcd (Tests/HostessIntegrationTests/Support/fake_etcd.py) whose
     prefix holds 2,000 true entries, 500 under another Hostess's key and 500 junk keys. Held when hostessd
     keeps answering in under 0.5 s, lists at most its table's 1,024 peers, drops every misfiled entry, and stays
     under 256 MB.
[13] forged probe reports: a real hostess-beacon on 10 ports of 127.0.0.1, and as nobody, knowing the probe
     hash (it travels in clear), one connection each: a report before the hash, a wrong hash, a line over 4,096
     bytes, a report with a forged MAC, a report replayed from another connection (another nonce), a report
     altered after signing, and a true report followed by a forged PROBE_COMPLETE. (The forger is given the
     passphrase only to make the lines a sniffer could have captured on another connection, and that true
     report.) Held when the beacon closes every one without TERMINATE, counts each refused, takes none, and
     keeps the report of the real probe that follows.

Prints one line per attack: `[NN] PASS|FAIL  figure  (seconds)`, then `N passed, N failed`. Only loopback.
"""
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

EMPTY_DIGEST = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
KEY_ID, SECRET = "mesh-1", "attack-mesh-secret-0123456789abcdef"


# ---------------------------------------------------------------------------------------------------------
# Helpers


class Client:
    """A line-protocol client on a Unix socket, every read bounded."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def request(self, command, timeout=10.0, **parameters):
        self.sock.settimeout(timeout)
        self.sock.sendall(json.dumps({"id": 1, "command": command, **parameters}).encode() + b"\n")
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("hostessd closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.sock.close()


class Daemon:
    """A release hostessd on its own socket and region, stopped by stop()."""

    def __init__(self, ctx, tag, arguments):
        self.socket = os.path.join(ctx.work, f"{tag}.sock")
        self.log_path = os.path.join(ctx.work, f"{tag}.log")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [os.path.join(ctx.bin, "hostessd"), "--socket", self.socket, "--shm", f"{ctx.shm_prefix}-{tag}"] + arguments,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        ctx.remember(self.process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hostessd {tag} exited at start: {self.log()[-2000:]}")
            try:
                Client(self.socket, timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError(f"hostessd {tag} did not start within 10 s")
        self.http = self.request("status")["result"]["http"]

    def request(self, command, timeout=10.0, **parameters):
        client = Client(self.socket, timeout)
        try:
            return client.request(command, timeout, **parameters)
        finally:
            client.close()

    def peers(self):
        return self.request("listPeers")["result"]["peers"]

    def metrics(self):
        host, port = self.http.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                piece = s.recv(1 << 16)
                if not piece:
                    break
                data += piece
        samples = {}
        for line in data.split(b"\r\n\r\n", 1)[-1].decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Context:
    def __init__(self, options):
        self.bin = options["--bin"]
        self.work = options["--work"]
        self.shm_prefix = options["--shm-prefix"]
        self.repo = options.get("--repo", os.getcwd())
        self.processes = []

    def remember(self, process):
        self.processes.append(process)
        with open(os.path.join(self.work, "pids"), "a") as pids:
            pids.write(f"{process.pid}\n")

    def cleanup(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def within(seconds, condition):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def announcement(hostess_id, sequence, timestamp_ms=None, ttl=60, key_id=KEY_ID):
    body = {
        "type": "HOSTESS_ANNOUNCEMENT", "version": 1, "timestamp": timestamp_ms or int(time.time() * 1000), "fqdn": "spoof.local",
        "hostessId": hostess_id, "endpoint": "http://127.0.0.1:9", "serverCount": 0, "ttl": ttl, "sequence": sequence,
        "digest": EMPTY_DIGEST, "capabilities": [], "connectionMethods": [], "summaryTruncated": False,
    }
    if key_id is not None:
        body["keyId"] = key_id
    return json.dumps(body, separators=(",", ":")).encode()


def signed(payload, secret=SECRET):
    return payload + b"\n" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest().encode()


class FakePeer:
    """A Hostess that is not one: serves whatever `body` holds at GET /announcement, on 127.0.0.1."""

    def __init__(self):
        peer = self
        self.body = b""

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = peer.body
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


# ---------------------------------------------------------------------------------------------------------
# The attacks; each returns (figure text, passed)


def attack_11(ctx):
    secret_file = os.path.join(ctx.work, "mesh.secret")
    with open(secret_file, "w") as f:
        f.write(f"{KEY_ID} {SECRET}\n")
    os.chmod(secret_file, 0o600)
    fake = FakePeer()
    daemon = Daemon(ctx, "mesh", ["--http", "127.0.0.1:0", "--mesh-secret-file", secret_file, "--peer", f"http://127.0.0.1:{fake.port}",
                                  "--announce-interval", "0.2"])
    try:
        spoofed = str(uuid.uuid4())
        now = int(time.time() * 1000)
        spoofs = [
            ("unsigned", announcement(spoofed, 1, key_id=None)),
            ("bad_signature", signed(announcement(spoofed, 2), SECRET + "-not-it")),
            ("unknown_key", signed(announcement(spoofed, 3, key_id="nobody-s-key"), "whatever")),
            ("stale", signed(announcement(spoofed, 4, timestamp_ms=now - 600_000))),
            ("malformed", signed(b'{"type":"HOSTESS_ANNOUNCEMENT","version":1,' + b'"x":' * 40)),
            ("too_large", b"{" + b" " * 65534 + b"}"),
        ]
        problems, counted = [], {}
        for reason, body in spoofs:
            metric = f'hostess_mesh_packets_dropped_total{{reason="{reason}"}}'
            before = daemon.metrics().get(metric, 0)
            fake.body = body
            if not within(5, lambda: daemon.metrics().get(metric, 0) > before):
                problems.append(f"{reason} was not dropped as {reason}")
            counted[reason] = int(daemon.metrics().get(metric, 0) - before)
            if daemon.peers():
                problems.append(f"after {reason}: listed {daemon.peers()}")
        # The true one is taken: the checks are not refusing everything.
        true_id = str(uuid.uuid4())
        fake.body = signed(announcement(true_id, 1000))
        started = time.monotonic()
        listed = within(5, lambda: [p["hostessId"] for p in daemon.peers()] == [true_id])
        listed_after = time.monotonic() - started
        if not listed:
            problems.append(f"the true announcement was not listed: {daemon.peers()}")
        replayed = 'hostess_mesh_packets_dropped_total{reason="replayed"}'
        before = daemon.metrics().get(replayed, 0)
        fake.body = signed(announcement(true_id, 999))
        if not within(5, lambda: daemon.metrics().get(replayed, 0) > before):
            problems.append("an older sequence was not dropped as replayed")
        forged_goodbye = 'hostess_mesh_packets_dropped_total{reason="bad_signature"}'
        before = daemon.metrics().get(forged_goodbye, 0)
        fake.body = signed(announcement(true_id, 2000, ttl=0), SECRET + "-not-it")
        if not within(5, lambda: daemon.metrics().get(forged_goodbye, 0) > before):
            problems.append("a forged goodbye was not dropped")
        peers = daemon.peers()
        if [(p["hostessId"], p["state"], p["sequence"]) for p in peers] != [(true_id, "live", 1000)]:
            problems.append(f"after the replay and the forged goodbye: {peers}")
        figure = (f"{len(spoofs)} spoofs dropped by reason ({', '.join(f'{k} {v}' for k, v in counted.items())}), none listed; "
                  f"the true one listed in {listed_after:.2f} s; replayed and forged goodbye changed nothing")
        return (figure if not problems else "; ".join(problems)), not problems
    finally:
        daemon.stop()
        fake.stop()


def attack_12(ctx):
    entries = [[str(uuid.uuid4())] * 2 for _ in range(2000)]
    entries += [[str(uuid.uuid4()), str(uuid.uuid4())] for _ in range(500)]
    entries += [[f"not-a-hostess-id-{i}", str(uuid.uuid4())] for i in range(500)]
    port_file = os.path.join(ctx.work, "fake-etcd.port")
    script = os.path.join(ctx.repo, "Tests/HostessIntegrationTests/Support/fake_etcd.py")
    entries_file = os.path.join(ctx.work, "fake-etcd.entries")
    with open(entries_file, "w") as f:
        json.dump(entries, f)
    fake = subprocess.Popen([sys.executable, script, port_file, "entries", "@" + entries_file],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx.remember(fake)
    try:
        if not within(10, lambda: os.path.exists(port_file)):
            return "the stand-in etcd did not start", False
        with open(port_file) as f:
            port = int(f.read())
        daemon = Daemon(ctx, "flood", ["--http", "127.0.0.1:0", "--directory", f"etcd://127.0.0.1:{port}", "--announce-interval", "1"])
        try:
            slowest, deadline = 0.0, time.monotonic() + 6
            while time.monotonic() < deadline:
                began = time.monotonic()
                daemon.request("status", timeout=5)
                slowest = max(slowest, time.monotonic() - began)
                time.sleep(0.05)
            peers = daemon.peers()
            samples = daemon.metrics()
            misfiled = int(samples.get('hostess_mesh_packets_dropped_total{reason="misfiled"}', 0))
            full = int(samples.get('hostess_mesh_packets_dropped_total{reason="table_full"}', 0))
            rss = daemon.rss_mb()
            state = daemon.request("status")["result"].get("directory", {}).get("state")
            held = slowest < 0.5 and 1000 <= len(peers) <= 1024 and misfiled == 500 and rss < 256 and state == "connected"
            figure = (f"3,000 keys: {len(peers)} peers listed (table 1,024), {misfiled} misfiled and {full} table_full dropped, "
                      f"500 junk keys ignored; slowest status {slowest * 1000:.0f} ms; RSS {rss:.0f} MB; directory {state}")
            return figure, held
        finally:
            daemon.stop()
    finally:
        fake.kill()
        fake.wait()


# The forger of attack 13, run as nobody: one connection per forgery to the beacon's first port, each printing
# a JSON line {"forgery", "answered", "closed"}: what the beacon wrote back, and whether it then closed.
FORGER = r"""
import hashlib, hmac, json, socket, sys, time
port, probe_hash, passphrase = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def mac(nonce, text):
    return hmac.new(passphrase.encode(), nonce.encode() + b"\n" + text, hashlib.sha256).hexdigest()

def report(nonce, forged_port, key=None):
    members = json.dumps({"results": [{"success": True, "ip": "127.0.0.1", "port": forged_port, "latency": 0.001}],
                          "testedMatrix": {"ips": ["127.0.0.1"], "portRange": [forged_port, forged_port], "totalTests": 1,
                                           "successfulTests": 1}}, separators=(",", ":"))[1:-1].encode()
    body = b'{"type":"PROBE_RESULTS",' + members
    tag = mac(nonce, body) if key is None else hmac.new(key.encode(), nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return body + b',"mac":"' + tag.encode() + b'"}\n'

class Connection:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=8)
        self.data = b""
    def send(self, line):
        self.s.sendall(line)
    def line(self):
        while b"\n" not in self.data:
            piece = self.s.recv(65536)
            if not piece:
                break
            self.data += piece
        line, _, self.data = self.data.partition(b"\n")
        return line.decode(errors="replace")
    def closed(self):
        # Whether the beacon closes within 8 s (a reset counts).
        try:
            while True:
                piece = self.s.recv(65536)
                if not piece:
                    return True
                self.data += piece
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    def hello(self):
        self.send(json.dumps({"type": "PROBE", "hash": probe_hash}, separators=(",", ":")).encode() + b"\n")
        return json.loads(self.line())["nonce"]

def outcome(name, connection, answered=""):
    closed = connection.closed()
    print(json.dumps({"forgery": name, "answered": answered + connection.data.decode(errors="replace"), "closed": closed}), flush=True)

c = Connection(); c.send(report("00" * 16, port)); outcome("report_before_hash", c)
c = Connection(); c.send(json.dumps({"type": "PROBE", "hash": "ab" * 32}).encode() + b"\n"); outcome("wrong_hash", c)
c = Connection(); c.send(b"x" * 5000 + b"\n"); outcome("over_4096_bytes", c)
c = Connection(); nonce = c.hello(); c.send(report(nonce, port, key="not-the-passphrase-" + "0" * 16)); outcome("forged_mac", c, "BEACON ")
c = Connection(); old = c.hello(); c.s.close()
c = Connection(); c.hello(); c.send(report(old, port)); outcome("replayed_from_another_connection", c, "BEACON ")
c = Connection(); nonce = c.hello(); line = report(nonce, port).replace(b'"latency":0.001', b'"latency":0.002'); c.send(line); outcome("tampered_after_signing", c, "BEACON ")
c = Connection(); nonce = c.hello(); c.send(report(nonce, port)); c.send(json.dumps({"type": "PROBE_COMPLETE", "mac": "cd" * 32}).encode() + b"\n"); outcome("forged_complete", c, "BEACON ")
"""


def attack_13(ctx):
    ports = (32600, 32609)
    passphrase, probe_hash = os.urandom(24).hex(), os.urandom(32).hex()
    response = hashlib.sha256((probe_hash + passphrase).encode()).hexdigest()
    common = {"PATH": "/usr/bin:/bin", "PORT_RANGE_START": str(ports[0]), "PORT_RANGE_END": str(ports[1]), "PROBE_HASH": probe_hash,
              "PASSPHRASE": passphrase, "HOSTESS_SOCKET": os.path.join(ctx.work, "no-hostessd.sock")}
    beacon = subprocess.Popen([os.path.join(ctx.bin, "hostess-beacon")], env=dict(common, BEACON_ADDRESSES="127.0.0.1"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ctx.remember(beacon)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in beacon.stdout), daemon=True)
    reader.start()
    try:
        if not within(10, lambda: any(line.get("type") == "BEACON_READY" for line in lines)):
            return "the beacon did not get ready", False
        ready = next(line for line in lines if line.get("type") == "BEACON_READY")
        if ready.get("skipped"):
            return f"ports {ports[0]}-{ports[1]} of 127.0.0.1 are in use here ({ready})", False
        # The forgeries, as nobody: connecting needs no privilege, and the forger knows the probe hash (sent in clear).
        forger = subprocess.run(["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", FORGER,
                                 str(ports[0]), probe_hash, passphrase], capture_output=True, timeout=90, cwd="/")
        forgeries = [json.loads(line) for line in forger.stdout.decode().splitlines() if line.startswith("{")]
        problems = []
        if forger.returncode != 0 or len(forgeries) != 7:
            problems.append(f"the forger ran {len(forgeries)} of 7 forgeries (exit {forger.returncode}): {forger.stderr.decode()[-300:]}")
        for forgery in forgeries:
            if not forgery["closed"] or "TERMINATE" in forgery["answered"]:
                problems.append(f"{forgery['forgery']}: closed {forgery['closed']}, answered {forgery['answered'][:120]!r}")
        taken = [line for line in lines if line.get("type") == "BEACON_RESULTS"]
        if taken:
            problems.append(f"a forged report was taken: {taken[0]}")
        # The real probe, after them: its report is the one the beacon keeps.
        began = time.monotonic()
        probe = subprocess.run([os.path.join(ctx.bin, "hostess-probe")], capture_output=True, timeout=60,
                               env=dict(common, TARGET_IPS="127.0.0.1", EXPECTED_RESPONSE_HASH=response))
        took = time.monotonic() - began
        summary = json.loads(probe.stdout.decode().splitlines()[-1]) if probe.stdout.strip() else {}
        real = sorted(r["port"] for r in summary.get("results", []))
        within(10, lambda: any(line.get("type") == "BEACON_DONE" for line in lines))
        taken = [line for line in lines if line.get("type") == "BEACON_RESULTS"]
        kept = sorted(r["port"] for r in taken[0]["results"]) if taken else None
        done = next((line for line in lines if line.get("type") == "BEACON_DONE"), {})
        if probe.returncode != 0 or real != list(range(ports[0], ports[1] + 1)):
            problems.append(f"the real probe: exit {probe.returncode}, ports {real}")
        if kept != real:
            problems.append(f"the beacon kept ports {kept}, the real probe found {real}")
        refused = done.get("refused", 0)
        if refused < len(forgeries):
            problems.append(f"the beacon counted {refused} refused connections for {len(forgeries)} forgeries")
        figure = (f"{len(forgeries)} forged connections as nobody ({', '.join(f['forgery'] for f in forgeries)}): every one closed "
                  f"without TERMINATE, {refused} counted refused, none taken; the real probe's report ({len(real)} ports, {took:.2f} s) "
                  f"is the one the beacon kept")
        return (figure if not problems else "; ".join(problems)), not problems
    finally:
        if beacon.poll() is None:
            beacon.stdin.close()
            try:
                beacon.wait(5)
            except subprocess.TimeoutExpired:
                beacon.kill()
                beacon.wait()


ATTACKS = {11: attack_11, 12: attack_12, 13: attack_13}


def main(argv):
    if not argv or argv[0] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    options = dict(zip(argv[1::2], argv[2::2]))
    ctx = Context(options)
    only = {int(n) for n in options.get("--only", "").split(",") if n}
    passed = failed = 0
    try:
        for number, attack in ATTACKS.items():
            if only and number not in only:
                continue
            began = time.monotonic()
            try:
                figure, ok = attack(ctx)
            except Exception as problem:  # an attack that could not be carried out counts as failed
                figure, ok = f"could not run: {type(problem).__name__}: {problem}", False
            passed += ok
            failed += not ok
            print(f"[{number:2d}] {'PASS' if ok else 'FAIL'}  {figure}  ({time.monotonic() - began:.1f} s)", flush=True)
    finally:
        ctx.cleanup()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
