#!/usr/bin/env python3
"""Scripts/crash_storm.py: the work of Scripts/crash-storm.sh (run that; it owns the cleanup trap).

A write storm over C socket connections (register, heartbeat, re-register, unregister, markInUse,
markAvailable, reserve, cancelReservation), each request sent one at a time per connection and its reply
recorded. Each round, at a random moment, hostessd is killed with SIGKILL and started again on the same
socket, shared-memory name and reservations file. Swift (shmdump), C (Scripts/storm_creader.c) and
Python (docs/examples/shm_reader.py) readers read the region the whole time.

Guarantees checked after every restart, on the restarted daemon's first `listAll` / `listReservations`,
before any client writes again (docs/operations.md §4, docs/shm-layout.md §5.1 and §10.2,
docs/protocol.md §16.3):

  G1 no lost entry: an id whose last acknowledged operation left it registered (register, heartbeat,
     markInUse/markAvailable on it), and whose last acknowledged register/heartbeat was sent less than
     TTL - 1 s before the kill, is in the restarted daemon's guest book. (hostessd publishes each
     request's change to the region before it writes the reply; the successor adopts the region.)
  G2 no resurrection: an id whose last acknowledged operation was its unregister is not in it.
  G3 terminal marks survive: the adopted entry's terminal `in` has exactly the connectome ids the
     acknowledged markInUse/markAvailable left (adoption keeps connectedTo).
  G4 reservations survive: every reservation whose reserve was acknowledged and whose cancel was not is
     active after the restart with the same id and token; an acknowledged cancel is not active; tokens
     granted after a restart are larger than every token seen before.
  G5 revisions do not go back: the first answer's revision is >= every revision acknowledged before.
  G6 no false eviction after the restart: a heartbeat of an entry that G1 expects present, within TTL of
     its last acknowledged refresh (or of the restart), is never answered not_found.
  G8 holds agree: after the restart, every entry's reservedBy names an active reservation that lists it,
     and every active reservation's serverIds are entries whose reservedBy is that reservation.
  G7 no torn read: every answer a reader accepted as consistent is: an entry's id equals the key looked
     up, its name's fields agree with its members, inUse agrees with connectedTo, a list's serials strictly
     increase and no id is listed twice; the C/Python readers' `corrupt` outcomes count as torn, and
     `shmdump --check` must never report a problem.

A request without a reply when the daemon died is "in flight": either outcome is accepted for its id. A
worker can have more than one: the dying daemon closes its client descriptors before its listening socket,
so a worker may reconnect into the backlog and send one more request, which is reset and never handled.

How the daemon dies: by default SIGKILL from outside at a uniformly random moment of the round; in
--failpoint-fraction of the rounds (default 0.25) it SIGKILLs itself in the middle of a random publication
(HOSTESS_FAILPOINT, docs/shm-layout.md §5.3), the worst moment for readers; with --restart-kill-fraction F
(default 0) the successor is also SIGKILLed 0-30 ms after its start, i.e. during adoption, in a fraction F of
the restarts (this finds the reservation loss reproduced by Scripts/repro-reservation-loss.py).
"""

import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from storm_common import (Conn, ConnClosed, Daemon, SwiftReader, md_table, percentile, start_c_reader,  # noqa: E402
                          start_python_reader, stop_reader, wait_first_answer)

TERMINALS = {"in": {"direction": "input", "multiplexing": "fanout"}, "out": {"direction": "output"}}


def temp_regions():
    return {n for n in os.listdir("/dev/shm") if n.startswith(".hostess-new-")}


def open_by_anyone(path):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                        return True
                except OSError:
                    pass
        except OSError:
            pass
    return False


def make_id(worker, index, pinned=False):
    kind = "p" if pinned else "e"
    return f"storm.local:w{worker}-{kind}{index}:0x{0x100 + worker:04x}:root:no:none:{worker:08x}-0000-4000-8000-{index + (1 << 20 if pinned else 0):012x}"


class Item:
    __slots__ = ("present", "refreshed", "conns")

    def __init__(self):
        self.present = False
        self.refreshed = 0.0  # monotonic send time of the last acknowledged register/heartbeat
        self.conns = frozenset()


class Worker(threading.Thread):
    def __init__(self, index, socket_path, entries, pinned, ttl, stats):
        super().__init__(daemon=True)
        self.index = index
        self.socket_path = socket_path
        self.ids = [make_id(index, i) for i in range(entries)]
        self.pinned = [make_id(index, i, True) for i in range(pinned)]
        self.items = {i: Item() for i in self.ids + self.pinned}
        self.res = {p: None for p in self.pinned}  # pinned id -> (reservation id, token) acknowledged active
        self.ttl = ttl
        self.stats = stats
        self.lock = threading.Lock()
        self.run_event = threading.Event()  # set: storm; clear: hold still
        self.parked = threading.Event()  # set while the worker holds still
        self.quit = False
        self.inflight = []  # (op, id, extra, sent) sent without a reply since the last restart
        self.max_revision = 0
        self.max_token = 0
        self.conn = None
        self.conn_seq = 0
        self.ops = {}  # (op, outcome) -> count
        self.false_evictions = []
        self.restart_time = 0.0
        self.round = 0
        self.history = {}
        self.breaks = []

    # -- bookkeeping --
    def count(self, op, outcome):
        key = (op, outcome)
        self.ops[key] = self.ops.get(key, 0) + 1

    def req(self, op, ident, body, extra=None):
        """Sends one request; returns the reply, or None when the connection broke (then in flight)."""
        sent = time.monotonic()
        try:
            reply = self.conn.request(body)
        except ConnClosed as error:
            self.breaks.append((self.round, round(time.monotonic(), 4), op, str(error), bool(self.inflight)))
            # A list: a worker can see its connection end (the dying daemon closes client descriptors before its
            # listening socket), reconnect into the still-open backlog and have a second request go unanswered.
            self.inflight.append((op, ident, extra, sent))
            self.count(op, "no reply (in flight at the kill)")
            self.conn.close()
            self.conn = None
            return None, sent
        self.max_revision = max(self.max_revision, reply.get("revision", 0))
        outcome = "ok" if "result" in reply else reply["error"]["code"]
        if op in ("reserve", "cancelReservation"):
            rid = reply["result"]["reservation"]["id"] if "result" in reply else extra
            self.history.setdefault(ident, []).append((op, outcome, rid, round(time.time() % 100, 3)))
        self.count(op, outcome)
        return reply, sent

    def step(self):
        now = time.monotonic()
        # Heartbeat the stalest present entry when it is older than 2 s (TTL is 15 s).
        stalest = None
        for ident, item in self.items.items():
            if item.present and (stalest is None or item.refreshed < self.items[stalest].refreshed):
                stalest = ident
        if stalest is not None and now - self.items[stalest].refreshed > 2.0:
            return self.heartbeat(stalest)
        r = random.random()
        if r < 0.08 and self.pinned:
            p = random.choice(self.pinned)
            if not self.items[p].present:
                return self.register(p)
            return self.cancel(p) if self.res[p] else self.reserve(p)
        ident = random.choice(self.ids)
        item = self.items[ident]
        if not item.present:
            return self.register(ident)
        r = random.random()
        if r < 0.25:
            return self.heartbeat(ident)
        if r < 0.45:
            return self.unregister(ident)
        if r < 0.55:
            return self.register(ident)
        if r < 0.80:
            self.conn_seq += 1
            return self.mark_in_use(ident, f"c{self.index}-{self.conn_seq}")
        if item.conns:
            return self.mark_available(ident, random.choice(sorted(item.conns)))
        return self.heartbeat(ident)

    def register(self, ident):
        reply, sent = self.req("register", ident, {"command": "register", "entry": {
            "id": ident, "terminals": TERMINALS, "capabilities": ["storm"], "metadata": {"w": self.index}}})
        if reply and "result" in reply:
            item = self.items[ident]
            if not reply["result"]["created"] and not item.present:
                self.stats["surprises"].append(f"register of {ident} said created=false though it was absent")
            if reply["result"]["created"]:
                item.conns = frozenset()
            item.present, item.refreshed = True, sent
            got = frozenset(reply["result"]["entry"]["terminals"]["in"]["connectedTo"])
            if got != item.conns:
                self.stats["surprises"].append(f"register of {ident}: connectedTo {sorted(got)} expected {sorted(item.conns)}")
                item.conns = got

    def heartbeat(self, ident):
        reply, sent = self.req("heartbeat", ident, {"command": "heartbeat", "serverId": ident})
        if reply is None:
            return
        item = self.items[ident]
        if "result" in reply:
            item.refreshed = sent
        elif reply["error"]["code"] == "not_found":
            # G6: the entry was expected and refreshed within TTL (or adopted less than TTL ago).
            base = max(item.refreshed, self.restart_time)
            if item.present and sent - base < self.ttl - 1.0:
                self.false_evictions.append(f"{ident}: heartbeat not_found {sent - item.refreshed:.2f} s after its last refresh, "
                                            f"{sent - self.restart_time:.2f} s after the restart")
            item.present, item.conns = False, frozenset()
            for p, r in self.res.items():
                if p == ident:
                    self.res[p] = None

    def unregister(self, ident):
        reply, _ = self.req("unregister", ident, {"command": "unregister", "serverId": ident})
        if reply is not None:
            self.items[ident].present = False
            self.items[ident].conns = frozenset()

    def mark_in_use(self, ident, cid):
        reply, _ = self.req("markInUse", ident, {"command": "markInUse", "serverId": ident, "terminal": "in", "connectomeId": cid}, cid)
        if reply and "result" in reply:
            self.items[ident].conns = frozenset(reply["result"]["entry"]["terminals"]["in"]["connectedTo"])

    def mark_available(self, ident, cid):
        reply, _ = self.req("markAvailable", ident, {"command": "markAvailable", "serverId": ident, "terminal": "in", "connectomeId": cid}, cid)
        if reply and "result" in reply:
            self.items[ident].conns = frozenset(reply["result"]["entry"]["terminals"]["in"]["connectedTo"])

    def reserve(self, p):
        reply, _ = self.req("reserve", p, {"command": "reserve", "reservation": {
            "serverFilter": {"serverIds": [p]}, "count": 1, "duration": 3_600_000, "requestedBy": f"storm-w{self.index}"}})
        if reply and "result" in reply:
            r = reply["result"]["reservation"]
            if r["token"] <= self.stats["max_token_before_restart"]:
                self.stats["token_regressions"].append(f"token {r['token']} <= {self.stats['max_token_before_restart']}")
            self.res[p] = (r["id"], r["token"])

    def cancel(self, p):
        rid = self.res[p][0]
        reply, _ = self.req("cancelReservation", p, {"command": "cancelReservation", "reservationId": rid}, rid)
        if reply is not None:
            self.res[p] = None

    def run(self):
        while not self.quit:
            if not self.run_event.is_set():
                self.parked.set()  # only ever set here, after seeing run_event clear
                self.run_event.wait(0.05)
                continue
            if self.conn is None:
                try:
                    self.conn = Conn(self.socket_path, timeout=10)
                except OSError:
                    time.sleep(0.001)  # the daemon is down: the coordinator will clear run_event
                    continue
            self.step()

    # -- after a restart: compare the model with what the daemon holds, then adopt what it holds --
    def reconcile(self, observed, active, kill_time, tally):
        inflight = self.inflight
        self.inflight = []
        if self.conn is not None:  # a connection to the dead daemon: never reuse it
            self.conn.close()
            self.conn = None
        for ident, item in self.items.items():
            allowed = {(item.present, item.conns)}
            for op, on, extra, _sent in inflight:
                if on != ident:
                    continue
                if op == "register":
                    allowed.add((True, item.conns if item.present else frozenset()))
                elif op == "unregister":
                    allowed.add((False, frozenset()))
                elif op == "markInUse" and item.present:
                    allowed.add((True, item.conns | {extra}))
                elif op == "markAvailable" and item.present:
                    allowed.add((True, item.conns - {extra}))
            entry = observed.get(ident)
            got = (entry is not None, frozenset(entry["terminals"]["in"]["connectedTo"]) if entry else frozenset())
            fresh = kill_time - item.refreshed < self.ttl - 1.0
            if got not in allowed:
                if not got[0] and all(a[0] for a in allowed):
                    if fresh:
                        tally["lost"].append(f"{ident} (acknowledged, refreshed {kill_time - item.refreshed:.2f} s before the kill)")
                    else:
                        tally["excused"] += 1
                elif got[0] and not any(a[0] for a in allowed):
                    tally["resurrected"].append(f"{ident} (acknowledged unregister)")
                else:
                    want = set().union(*(a[1] for a in allowed))
                    need = set.intersection(*(set(a[1]) for a in allowed))
                    if need - got[1]:
                        tally["marks_lost"].append(f"{ident}: {sorted(need - got[1])} missing from {sorted(got[1])}")
                    if got[1] - want:
                        tally["marks_resurrected"].append(f"{ident}: {sorted(got[1] - want)} back in {sorted(got[1])}")
            item.present, item.conns = got
            if got[0]:
                item.refreshed = max(item.refreshed, kill_time)  # adopted: one TTL from the restart
        for p in self.pinned:
            held = [r for r in active if p in r.get("serverIds", [])]
            expected = self.res[p]
            in_flight = any(f[1] == p and f[0] in ("reserve", "cancelReservation") for f in inflight)
            if expected and not in_flight:
                if not any(r["id"] == expected[0] and r["token"] == expected[1] for r in held):
                    tally["reservations_lost"].append(f"round {self.round}: {expected[0]} on {p}: got {[(r['id'], r['token']) for r in held]}")
            if not expected and held and not in_flight:
                tally["reservations_resurrected"].append(f"round {self.round}: {[r['id'] for r in held]} on {p} after an acknowledged cancel "
                                                         f"(last ops on it: {self.history.get(p, [])[-4:]}, in flight: {inflight})")
            self.res[p] = (held[0]["id"], held[0]["token"]) if held else None
            for r in held:
                self.max_token = max(self.max_token, r["token"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seconds-per-round", type=float, default=2.0)
    ap.add_argument("--entries", type=int, default=24, help="ids per connection")
    ap.add_argument("--pinned", type=int, default=2, help="reservable ids per connection")
    ap.add_argument("--ttl", type=float, default=15.0)
    ap.add_argument("--restart-kill-fraction", type=float, default=0.0,
                    help="fraction of restarts in which the new hostessd is itself killed 0-30 ms after its start "
                         "(during adoption, usually) and started once more")
    ap.add_argument("--failpoint-fraction", type=float, default=0.25,
                    help="fraction of rounds in which hostessd kills itself with SIGKILL in the middle of a random "
                         "publication (HOSTESS_FAILPOINT=after-first-half:N or mid-second-half:N) instead of being killed "
                         "from outside at a random moment")
    ap.add_argument("--sabotage-round", type=int, default=0,
                    help="self-test: remove the region before this round's restart, so G1 must fail")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shm", required=True)
    args = ap.parse_args()

    sock = os.path.join(args.tmp, "hostess.sock")
    log = os.path.join(args.tmp, "hostessd.log")
    daemon_args = ["--socket", sock, "--shm", args.shm, "--ttl", str(args.ttl), "--capacity", "4096"]
    stats = {"surprises": [], "token_regressions": [], "max_token_before_restart": 0}
    workers = [Worker(i, sock, args.entries, args.pinned, args.ttl, stats) for i in range(args.connections)]
    idfile = os.path.join(args.tmp, "ids.txt")
    with open(idfile, "w") as f:
        for w in workers:
            for i in w.items:
                f.write(i + "\n")
    all_ids = [i for w in workers for i in w.items]

    d = Daemon(daemon_args, log)
    d.start()
    t_first, _ = wait_first_answer(sock, proc=d.proc)
    if t_first is None:
        print("hostessd did not answer", file=sys.stderr)
        return 1
    readers = {"c": start_c_reader(args.tmp, args.shm, idfile), "python": start_python_reader(args.shm, idfile)}
    swift = SwiftReader(args.shm, all_ids)
    swift.start()
    for w in workers:
        w.start()

    tally = {"lost": [], "resurrected": [], "marks_lost": [], "marks_resurrected": [], "reservations_lost": [],
             "reservations_resurrected": [], "excused": 0, "revision_regressions": [], "holds_inconsistent": []}
    forensics = os.path.join(args.tmp, "forensics")
    os.makedirs(forensics, exist_ok=True)

    def snap(label):
        """Keeps a copy of the reservations file (STORM_FORENSICS=1)."""
        if os.environ.get("STORM_FORENSICS") == "1" and os.path.exists(sock + ".reservations"):
            with open(sock + ".reservations", "rb") as src, open(os.path.join(forensics, label), "wb") as dst:
                dst.write(src.read())

    first_answer = []  # spawn -> first answered status
    double_kills, leftovers = [], []
    kill_times = []
    failpoint_deaths = []
    failpoint_round = False
    from_kill = []
    adopted_counts = []
    inflight_total = 0
    wall0 = time.monotonic()
    try:
        for rnd in range(1, args.rounds + 1):
            for w in workers:
                w.run_event.set()
            if failpoint_round:
                limit = time.monotonic() + 3 * args.seconds_per_round
                while d.proc.poll() is None and time.monotonic() < limit:
                    time.sleep(0.002)
                if d.proc.poll() is not None:
                    failpoint_deaths.append(rnd)
            else:
                time.sleep(random.uniform(0.15, args.seconds_per_round))
            kill_time = time.monotonic()
            kill_times.append((rnd, round(kill_time, 4)))
            d.kill9()
            for w in workers:
                w.run_event.clear()
            for w in workers:
                w.parked.clear()
            for w in workers:
                if not w.parked.wait(30):
                    raise RuntimeError(f"worker {w.index} did not hold still after the kill")
            # every worker holds still now; nothing writes until the check below is done
            max_rev = max(w.max_revision for w in workers)
            stats["max_token_before_restart"] = max([stats["max_token_before_restart"]] + [r[1] for w in workers for r in w.res.values() if r])
            snap(f"{rnd:03d}-a-after-kill")
            if rnd == args.sabotage_round:
                os.unlink("/dev/shm" + args.shm)
            failpoint_round = random.random() < args.failpoint_fraction
            env = ({"HOSTESS_FAILPOINT": f"{random.choice(['after-first-half', 'mid-second-half'])}:{random.randint(20, 600)}"}
                   if failpoint_round else None)
            d.start(env)
            if random.random() < args.restart_kill_fraction:
                before = temp_regions()
                time.sleep(random.uniform(0, 0.03))
                d.kill9()
                double_kills.append(rnd)
                snap(f"{rnd:03d}-b-after-successor-killed")
                # a successor killed during adoption leaves its temporary region (docs/shm-layout.md §2.2): remove
                # the one it left, recognised as new since its start and open by no process
                for name in temp_regions() - before:
                    if not open_by_anyone("/dev/shm/" + name):
                        leftovers.append(name)
                        os.unlink("/dev/shm/" + name)
                d.start(env)
            spawned = d.started
            t, status = wait_first_answer(sock, proc=d.proc)
            if t is None:
                raise RuntimeError(f"round {rnd}: the restarted hostessd did not answer within 30 s")
            first_answer.append(t)
            snap(f"{rnd:03d}-c-after-first-answer")
            from_kill.append(time.monotonic() - kill_time)
            if status["revision"] < max_rev:
                tally["revision_regressions"].append(f"round {rnd}: first answer at revision {status['revision']} < acknowledged {max_rev}")
            adopted_counts.append(status["result"]["entries"])
            c = Conn(sock)
            listing = c.request({"command": "listAll"})
            res = c.request({"command": "listReservations", "status": "active"})
            c.close()
            observed = {e["id"]: e for e in listing["result"]["entries"]}
            active = res["result"]["reservations"]
            # G8: holds agree with the restored reservations
            by_id = {r["id"]: r for r in active}
            for e in observed.values():
                h = e.get("reservedBy")
                if h is not None and (h not in by_id or e["id"] not in by_id[h]["serverIds"]):
                    tally["holds_inconsistent"].append(f"round {rnd}: {e['id']} reservedBy {h}, which is not an active reservation holding it")
            for r in active:
                for sid in r["serverIds"]:
                    if sid not in observed or observed[sid].get("reservedBy") != r["id"]:
                        tally["holds_inconsistent"].append(f"round {rnd}: reservation {r['id']} lists {sid}, whose reservedBy is "
                                                           f"{observed.get(sid, {}).get('reservedBy', 'absent')}")
            for w in workers:
                inflight_total += len(w.inflight)
                w.round = rnd
                w.reconcile(observed, active, kill_time, tally)
                w.restart_time = spawned
                for r in w.res.values():
                    if r:
                        stats["max_token_before_restart"] = max(stats["max_token_before_restart"], r[1])
            if rnd % 10 == 0:
                print(f"round {rnd}/{args.rounds}: {len(observed)} entries adopted, first answer {t * 1000:.1f} ms, "
                      f"lost {len(tally['lost'])}, resurrected {len(tally['resurrected'])}", flush=True)
        # a last stretch of storm on the last daemon, so G6 is checked after the last restart too
        for w in workers:
            w.run_event.set()
        time.sleep(args.seconds_per_round)
    finally:
        for w in workers:
            w.quit = True
            w.run_event.set()
        for w in workers:
            w.join(15)
        swift_counts = swift.stop()
        reader_counts = {k: stop_reader(p) for k, p in readers.items()}
        reader_counts["swift"] = swift_counts
        d.stop()
    wall = time.monotonic() - wall0

    ops = {}
    for w in workers:
        for k, v in w.ops.items():
            ops[k] = ops.get(k, 0) + v
    false_ev = [x for w in workers for x in w.false_evictions]
    double_breaks = [(w.index, b) for w in workers for b in w.breaks if b[4]]
    with open(log, errors="replace") as f:
        log_text = f.read()
    restore_failures = log_text.count("could not restore")
    moved_aside = log_text.count("moved it aside")

    print()
    print(f"## crash-storm: {args.rounds} rounds, {args.connections} connections, kill -9 at a random moment within "
          f"{args.seconds_per_round} s per round, TTL {args.ttl} s ({wall:.0f} s wall)")
    print()
    print("### Acknowledged operations (socket replies) by outcome")
    print()
    rows = []
    for op in ["register", "heartbeat", "unregister", "markInUse", "markAvailable", "reserve", "cancelReservation"]:
        outs = {o: n for (p, o), n in ops.items() if p == op}
        acked = sum(n for o, n in outs.items() if not o.startswith("no reply"))
        rows.append([op, acked, outs.get("ok", 0), ", ".join(f"{o} {n}" for o, n in sorted(outs.items()) if o not in ("ok",)) or "–"])
    print(md_table(["operation", "acknowledged", "ok", "other outcomes"], rows))
    print()
    print("### Guarantees")
    print()
    g = [
        ["G1 acknowledged entries lost after restart", len(tally["lost"])],
        ["G2 acknowledged unregisters resurrected", len(tally["resurrected"])],
        ["G3 acknowledged terminal marks lost / resurrected", f"{len(tally['marks_lost'])} / {len(tally['marks_resurrected'])}"],
        ["G4 acknowledged reservations lost / cancelled ones back / token regressions",
         f"{len(tally['reservations_lost'])} / {len(tally['reservations_resurrected'])} / {len(stats['token_regressions'])}"],
        ["G5 revision regressions at first answer", len(tally["revision_regressions"])],
        ["G8 entries' reservedBy disagreeing with the restored active reservations", len(tally["holds_inconsistent"])],
        ["G6 false evictions after restart (heartbeat not_found)", len(false_ev)],
        ["G7 torn reader results: Swift / C / Python",
         f"{reader_counts['swift'].get('torn', '?')} / {reader_counts['c'].get('torn', '?')} / {reader_counts['python'].get('torn', '?')}"],
        ["shmdump --check problems", reader_counts["swift"].get("checkFailed", "?")],
        ["requests in flight at a kill (outcome unknown, either accepted)", inflight_total],
        ["  of them sent on a reconnection into the dying daemon's backlog (reset, never handled)", len(double_breaks)],
        ["present entries not refreshed within TTL-1 s at a kill (excused)", tally["excused"]],
        ["rounds ended by a self-SIGKILL in the middle of a publication (HOSTESS_FAILPOINT)", len(failpoint_deaths)],
        ["restarts whose new hostessd was killed 0-30 ms after its start / temporary regions it left (removed)",
         f"{len(double_kills)} / {len(leftovers)}"],
        ["'could not restore' / regions moved aside in the log", f"{restore_failures} / {moved_aside}"],
        ["other surprises", len(stats["surprises"])],
    ]
    print(md_table(["check", "count"], g))
    print()
    print("### Restart to first answer (spawn of the new hostessd to its first `status` reply)")
    print()
    ms = lambda xs, p: f"{percentile(xs, p) * 1000:.1f}"  # noqa: E731
    print(md_table(["measure", "n", "min ms", "median ms", "p99 ms", "max ms"], [
        ["spawn → first answer", len(first_answer), ms(first_answer, 0), ms(first_answer, 50), ms(first_answer, 99), ms(first_answer, 100)],
        ["kill → first answer", len(from_kill), ms(from_kill, 0), ms(from_kill, 50), ms(from_kill, 99), ms(from_kill, 100)],
    ]))
    print()
    print(f"Entries adopted per restart: min {min(adopted_counts)}, median {percentile(adopted_counts, 50)}, max {max(adopted_counts)}")
    print()
    print("### Readers (running throughout, across every kill and restart)")
    print()
    rr = []
    for k in ("swift", "c", "python"):
        c = reader_counts[k]
        rr.append([k, c.get("lookups", 0), c.get("found", 0), c.get("notFound", 0), c.get("lists", c.get("queries", 0)),
                   c.get("listEntries", c.get("queryEntries", 0)), c.get("busy", 0), c.get("opens", c.get("runs", 0)),
                   c.get("torn", "?"), c.get("exceptions", c.get("failedRuns", 0))])
    print(md_table(["reader", "lookups", "found", "not found", "lists", "entries listed", "busy", "opens/runs", "torn", "exceptions/failed runs"], rr))
    print()
    problems = (tally["lost"] + tally["resurrected"] + tally["marks_lost"] + tally["marks_resurrected"] + tally["reservations_lost"]
                + tally["reservations_resurrected"] + stats["token_regressions"] + tally["revision_regressions"] + false_ev
                + tally["holds_inconsistent"])
    torn = sum(int(reader_counts[k].get("torn", 1) or 0) for k in reader_counts) + int(reader_counts["swift"].get("checkFailed", 0))
    for k in reader_counts:
        for field in ("firstTorn", "firstException", "firstFailure", "error"):
            if reader_counts[k].get(field):
                print(f"- {k} reader {field}: {reader_counts[k][field][:400]}")
    for p in problems[:40]:
        print(f"- VIOLATION: {p}")
    for s in stats["surprises"][:20]:
        print(f"- surprise: {s}")
    json.dump({"breaks": {w.index: w.breaks for w in workers}, "kill_times": kill_times, "tally": tally, "readers": reader_counts, "first_answer": first_answer, "from_kill": from_kill,
               "ops": {f"{a}/{b}": n for (a, b), n in ops.items()}, "false_evictions": false_ev, "stats": stats},
              open(os.path.join(args.tmp, "result.json"), "w"), indent=1, default=list)
    if problems or torn:
        print("\nFAIL: a guarantee was broken")
        return 1
    print("\nPASS: 0 lost, 0 resurrected, 0 torn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
