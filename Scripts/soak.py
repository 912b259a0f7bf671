#!/usr/bin/env python3
"""Scripts/soak.py: the work of Scripts/soak.sh (run that; it owns the cleanup trap and the ulimit).

One release hostessd (socket, shared memory, HTTP on loopback) with two peer hostessd (HTTP on loopback,
each polling the other two with --peer, so the three poll each other over loopback, no multicast). Then,
for --minutes after a warm-up:

- 1,000 socket clients (two client processes of 500 asyncio connections), 10 entries each: 10,000 entries
  heartbeated every heartbeatInterval (5 s, TTL 15 s), each client's ten heartbeats pipelined;
- queries through the socket (getServer, query by class), HTTP (GET /servers/{id}) and shared memory (the C
  reader Scripts/storm_creader.c and the Python reader docs/examples/shm_reader.py, looking up random ids);
- reservations churning (reserve 1-3 unreserved servers of a class for 2-10 s, cancel half of them early);
- a watch connection counting every change kind (evicted in particular);
- every 10 s: RSS and open descriptors of each hostessd, status (entries, evictions), live peers.

Guarantees checked (exit 1 when broken):
  S1 no false eviction: no heartbeat is answered not_found, and no entry is evicted (status.evictions,
     `evicted` changes), for an entry whose client's previous acknowledged heartbeat was sent less than TTL
     before (a client later than that is counted as late, not as a false eviction).
  S2 every request is answered: no socket/HTTP error other than reservation conflicts, no lost connection.
  S3 the main hostessd sees both peers live at every sample after the warm-up.
  S4 no torn shm read (the C and Python readers' checks, as in crash_storm.py).
  S5 bounded: RSS (VmRSS, RssAnon, RssShmem) and descriptors of the main hostessd are reported (first/last/max/
     slope); the soak fails when descriptors grow by more than 50 or RssAnon (the heap) by more than 50% from the first to the last sample after
     the warm-up (a leak), figures printed either way.
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from storm_common import (Conn, ConnClosed, Daemon, md_table, percentile, start_c_reader, start_python_reader,  # noqa: E402
                          stop_reader, wait_first_answer)

CLASSES = 16


def entry_id(client, j):
    return f"soak.local:c{client}-e{j}:0x{0x200 + client % CLASSES:04x}:root:no:none:{client:08x}-0000-4000-8000-{j:012x}"


def register_body(ident, client):
    return {"command": "register", "entry": {
        "id": ident, "terminals": {"in": {"direction": "input"}, "out": {"direction": "output", "multiplexing": "fanout"}},
        "capabilities": ["soak", f"g{client % 8}"], "metadata": {"client": client}}}


# ---------------- client worker process: N asyncio connections ----------------

async def client_task(k, sock, per, end, ttl, interval, st, ready, go):
    ids = [entry_id(k, j) for j in range(per)]
    async with st["sem"]:
        for attempt in range(50):
            try:
                reader, writer = await asyncio.open_unix_connection(sock, limit=1 << 20)
                break
            except OSError:
                await asyncio.sleep(0.1 + random.random() * 0.2)
        else:
            st["errors"].append(f"client {k}: cannot connect")
            st["ready_count"] += 1
            if st["ready_count"] == st["n"]:
                ready.set()
            return
        t = time.monotonic()
        for n, i in enumerate(ids):
            writer.write((json.dumps(dict(register_body(i, k), id=n)) + "\n").encode())
        await writer.drain()
        for _ in ids:
            reply = json.loads(await reader.readline())
            if "result" not in reply:
                st["errors"].append(f"register: {reply}")
    last = {i: t for i in ids}
    st["ready_count"] += 1
    if st["ready_count"] == st["n"]:
        ready.set()
    await go.wait()
    await asyncio.sleep(random.random() * interval)
    try:
        while time.monotonic() < end[0]:
            t = time.monotonic()
            for n, i in enumerate(ids):
                writer.write(('{"id":%d,"command":"heartbeat","serverId":"%s"}\n' % (n, i)).encode())
            await writer.drain()
            for i in ids:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("EOF")
                reply = json.loads(line)
                gap = t - last[i]
                st["max_gap"] = max(st["max_gap"], gap)
                if "result" in reply:
                    last[i] = t
                    continue
                code = reply["error"]["code"]
                if code == "not_found":
                    if gap < ttl:
                        st["false_evictions"].append(f"{i}: heartbeat not_found {gap:.2f} s after the previous acknowledged one")
                    else:
                        st["late"] += 1
                    writer.write((json.dumps(dict(register_body(i, k), id=999)) + "\n").encode())
                    await writer.drain()
                    json.loads(await reader.readline())
                    last[i] = time.monotonic()
                else:
                    st["errors"].append(f"heartbeat: {reply}")
            dt = time.monotonic() - t
            st["batches"] += 1
            st["heartbeats"] += len(ids)
            minute = int((time.time() - st["t0_wall"]) // 60)
            st["batch_lat"].setdefault(minute, []).append(dt)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - t)) * random.uniform(0.9, 1.0))
    except (ConnectionError, OSError, ValueError) as error:
        st["errors"].append(f"client {k}: connection lost: {error!r}")
    finally:
        writer.close()


async def clients_main(first, count, per, sock, seconds, ttl, interval, out, ready_file, go_file):
    st = {"errors": [], "false_evictions": [], "late": 0, "max_gap": 0.0, "batches": 0, "heartbeats": 0,
          "batch_lat": {}, "ready_count": 0, "n": count, "sem": asyncio.Semaphore(64), "t0_wall": 0.0}
    ready, go = asyncio.Event(), asyncio.Event()
    end_holder = [time.monotonic() + 10 ** 9]
    tasks = [asyncio.ensure_future(client_task(first + k, sock, per, end_holder, ttl, interval, st, ready, go))
             for k in range(count)]
    # end is read through a list so it can be set once everyone is registered
    await ready.wait()
    open(ready_file, "w").close()
    while not os.path.exists(go_file):
        await asyncio.sleep(0.05)
    st["t0_wall"] = float(open(go_file).read().strip() or time.time())
    end_holder[0] = time.monotonic() + seconds
    go.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    del st["sem"]
    st["batch_lat"] = {m: sorted(v) for m, v in st["batch_lat"].items()}
    json.dump(st, open(out, "w"))


# ---------------- coordinator ----------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_sample(pid):
    """(VmRSS kB, open descriptors, RssAnon kB, RssShmem kB)."""
    v = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:", "RssShmem:")):
                v[line.split(":")[0]] = int(line.split()[1])
    return v.get("VmRSS", 0), len(os.listdir(f"/proc/{pid}/fd")), v.get("RssAnon", 0), v.get("RssShmem", 0)


def slope(points):
    """Least-squares slope of (t seconds, v) per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(p[0] for p in points) / n
    mv = sum(p[1] for p in points) / n
    den = sum((p[0] - mt) ** 2 for p in points)
    return 60.0 * sum((p[0] - mt) * (p[1] - mv) for p in points) / den if den else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--entries-per-client", type=int, default=10)
    ap.add_argument("--client-processes", type=int, default=2)
    ap.add_argument("--ttl", type=float, default=15.0)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shm", required=True)
    ap.add_argument("--clients-worker", nargs=10, help=argparse.SUPPRESS)
    args = ap.parse_args()
    T = args.tmp
    ttl = args.ttl
    interval = ttl / 3
    seconds = args.minutes * 60

    sock = os.path.join(T, "main.sock")
    ports = [free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    capacity = args.clients * args.entries_per_client + 1024
    main_d = Daemon(["--socket", sock, "--shm", args.shm, "--http", f"127.0.0.1:{ports[0]}", "--ttl", str(ttl),
                     "--capacity", str(capacity), "--entry-bytes", "1024", "--max-connections", "4096",
                     "--peer", urls[1], "--peer", urls[2]], os.path.join(T, "main.log"))
    peers = []
    for n in (1, 2):
        others = [u for i, u in enumerate(urls) if i != n]
        peers.append(Daemon(["--socket", os.path.join(T, f"peer{n}.sock"), "--no-shm", "--http", f"127.0.0.1:{ports[n]}",
                             "--ttl", str(ttl), "--peer", others[0], "--peer", others[1]], os.path.join(T, f"peer{n}.log")))
    main_d.start()
    for p in peers:
        p.start()
    for d, s in [(main_d, sock)] + [(p, os.path.join(T, f"peer{n}.sock")) for n, p in zip((1, 2), peers)]:
        t, _ = wait_first_answer(s, proc=d.proc)
        if t is None:
            print(f"a hostessd did not start: see {d.log}", file=sys.stderr)
            return 1

    # each peer holds 50 entries of its own, heartbeated by a thread, so its announcements carry a summary
    stop = threading.Event()
    problems = []

    def peer_feeder(n):
        c = Conn(os.path.join(T, f"peer{n}.sock"))
        ids = [f"peer{n}.local:svc{j}:0x0300:root:no:none:{n:08x}-0000-4000-8000-{j:012x}" for j in range(50)]
        for i in ids:
            c.request({"command": "register", "entry": {"id": i, "capabilities": ["peer"]}})
        while not stop.wait(interval):
            for i in ids:
                r = c.request({"command": "heartbeat", "serverId": i})
                if "error" in r:
                    problems.append(f"peer{n} heartbeat: {r}")

    feeders = [threading.Thread(target=peer_feeder, args=(n,), daemon=True) for n in (1, 2)]
    for f in feeders:
        f.start()

    # clients
    ready_files, outs, client_procs = [], [], []
    go_file = os.path.join(T, "go")
    per_proc = args.clients // args.client_processes
    t_reg = time.monotonic()
    for i in range(args.client_processes):
        first = i * per_proc
        count = per_proc if i < args.client_processes - 1 else args.clients - first
        rf, out = os.path.join(T, f"ready{i}"), os.path.join(T, f"clients{i}.json")
        ready_files.append(rf)
        outs.append(out)
        client_procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "--minutes", "0", "--tmp", T, "--shm", args.shm,
                                              "--clients-worker", str(first), str(count), str(args.entries_per_client), sock,
                                              str(seconds), str(ttl), str(interval), out, rf, go_file]))
    while not all(os.path.exists(r) for r in ready_files):
        if any(p.poll() is not None for p in client_procs):
            print("a client process died during registration", file=sys.stderr)
            return 1
        time.sleep(0.1)
    t_reg = time.monotonic() - t_reg
    c = Conn(sock)
    st0 = c.request({"command": "status"})["result"]
    c.close()
    print(f"registered {st0['entries']} entries over {args.clients} connections in {t_reg:.1f} s", flush=True)

    # warm-up: the mesh settles (main sees both peers live) before anything is measured
    c = Conn(sock)
    t_mesh = time.monotonic()
    while True:
        live = sum(1 for p in c.request({"command": "listPeers"})["result"]["peers"] if p["state"] == "live")
        if live >= 2:
            break
        if time.monotonic() - t_mesh > 60:
            print("main hostessd does not see both peers live after 60 s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    c.close()
    print(f"main hostessd sees both peers live ({time.monotonic() - t_mesh:.1f} s after the clients registered)", flush=True)

    idfile = os.path.join(T, "ids.txt")
    all_ids = [entry_id(k, j) for k in range(args.clients) for j in range(args.entries_per_client)]
    with open(idfile, "w") as f:
        f.write("\n".join(all_ids) + "\n")
    shm_lat_c = os.path.join(T, "shm-c.lat")
    shm_lat_py = os.path.join(T, "shm-py.lat")
    os.environ.setdefault("STORM_READER_PAUSE_US", "200")
    readers = {"c": start_c_reader(T, args.shm, idfile, shm_lat_c), "python": start_python_reader(args.shm, idfile, shm_lat_py)}

    t0_wall = time.time()
    t0 = time.monotonic()
    with open(go_file + ".tmp", "w") as f:
        f.write(f"{t0_wall}")
    os.rename(go_file + ".tmp", go_file)
    end = t0 + seconds
    minute_of = lambda: int((time.time() - t0_wall) // 60)  # noqa: E731
    lat = {"socket": {}, "http": {}}
    errors = {"socket": 0, "http": 0}
    first_errors = []
    changes = {}
    evicted_ids = []
    res_stats = {"reserved": 0, "conflict": 0, "cancelled": 0, "other": 0}

    def socket_prober():
        c = Conn(sock)
        n = 0
        while time.monotonic() < end and not stop.is_set():
            n += 1
            if n % 10 == 0:
                body = {"command": "query", "filter": {"class": f"0x{0x200 + random.randrange(CLASSES):04x}", "capabilities": ["soak"]}}
            else:
                body = {"command": "getServer", "serverId": random.choice(all_ids)}
            t = time.perf_counter()
            try:
                r = c.request(body)
            except ConnClosed as error:
                errors["socket"] += 1
                first_errors.append(f"socket prober: {error}")
                c = Conn(sock)
                continue
            dt = time.perf_counter() - t
            lat["socket"].setdefault(minute_of(), []).append(dt)
            if "error" in r:
                errors["socket"] += 1
                first_errors.append(f"socket: {r['error']}")
            time.sleep(0.01)

    def http_prober():
        h = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
        while time.monotonic() < end and not stop.is_set():
            ident = random.choice(all_ids)
            t = time.perf_counter()
            try:
                h.request("GET", "/servers/" + urllib.parse.quote(ident, safe=":"))
                resp = h.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as error:
                errors["http"] += 1
                first_errors.append(f"http: {error!r}")
                h.close()
                h = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
                continue
            dt = time.perf_counter() - t
            lat["http"].setdefault(minute_of(), []).append(dt)
            if resp.status != 200 or json.loads(body).get("id") != ident:
                errors["http"] += 1
                first_errors.append(f"http {resp.status}: {body[:200]!r}")
            time.sleep(0.01)

    def churner():
        c = Conn(sock)
        held = []
        while time.monotonic() < end and not stop.is_set():
            if held and random.random() < 0.5:
                rid = held.pop(random.randrange(len(held)))
                r = c.request({"command": "cancelReservation", "reservationId": rid})
                if "result" in r:
                    res_stats["cancelled"] += 1
                elif r["error"]["code"] == "not_found" or "cancel" in r["error"]["message"] or "ended" in r["error"]["message"]:
                    pass  # expired meanwhile
                else:
                    res_stats["other"] += 1
            else:
                r = c.request({"command": "reserve", "reservation": {
                    "serverFilter": {"class": f"0x{0x200 + random.randrange(CLASSES):04x}", "unreserved": True},
                    "count": random.randint(1, 3), "duration": random.randint(2000, 10000), "requestedBy": "soak"}})
                if "result" in r:
                    res_stats["reserved"] += 1
                    held.append(r["result"]["reservation"]["id"])
                    held = held[-200:]
                elif r["error"]["code"] == "conflict":
                    res_stats["conflict"] += 1
                else:
                    res_stats["other"] += 1
                    first_errors.append(f"reserve: {r['error']}")
            time.sleep(0.05)

    def watcher():
        c = Conn(sock, timeout=60)
        rev = c.request({"command": "status"})["result"]["revision"]
        while time.monotonic() < end and not stop.is_set():
            r = c.request({"command": "watch", "sinceRevision": rev, "timeout": 5})
            rev = r["revision"]
            for ch in (r["result"].get("changes") or []):
                changes[ch["kind"]] = changes.get(ch["kind"], 0) + 1
                if ch["kind"] == "evicted":
                    evicted_ids.append(ch["id"])

    samples = []  # (t, rss_kb, fds, entries, evictions, live_peers, peer1 rss, peer2 rss)

    def sampler():
        c = Conn(sock)
        while True:
            t = time.monotonic() - t0
            rss, fds, anon, shmem = proc_sample(main_d.pid)
            s = c.request({"command": "status"})["result"]
            peers_r = c.request({"command": "listPeers"})["result"]["peers"]
            live = sum(1 for p in peers_r if p["state"] == "live")
            samples.append((t, rss, fds, s["entries"], s["evictions"], live, proc_sample(peers[0].pid)[0], proc_sample(peers[1].pid)[0],
                            anon, shmem, proc_sample(peers[0].pid)[1], proc_sample(peers[1].pid)[1]))
            print(f"t={t:5.0f}s rss={rss} kB (anon {anon}, shmem {shmem}) fds={fds} entries={s['entries']} evictions={s['evictions']} live peers={live}", flush=True)
            if time.monotonic() >= end or stop.is_set():
                return
            time.sleep(max(0.0, min(10.0, end - time.monotonic())))

    threads = [threading.Thread(target=f, daemon=True) for f in (socket_prober, http_prober, churner, watcher)]
    for th in threads:
        th.start()
    samp = threading.Thread(target=sampler, daemon=True)
    samp.start()
    try:
        samp.join()
        for th in threads:
            th.join(30)
        for p in client_procs:
            p.wait(timeout=120)
    finally:
        stop.set()
        reader_counts = {k: stop_reader(p) for k, p in readers.items()}
        c = Conn(sock)
        final = c.request({"command": "status"})["result"]
        c.close()
        for d in [main_d] + peers:
            d.stop()

    clients = [json.load(open(o)) for o in outs]
    false_ev = [x for cst in clients for x in cst["false_evictions"]]
    client_errors = [x for cst in clients for x in cst["errors"]]
    max_gap = max(cst["max_gap"] for cst in clients)
    late = sum(cst["late"] for cst in clients)
    heartbeats = sum(cst["heartbeats"] for cst in clients)
    batch_lat = {}
    for cst in clients:
        for m, v in cst["batch_lat"].items():
            batch_lat.setdefault(int(m), []).extend(v)

    def load_lat(path):
        out = {}
        if os.path.exists(path):
            for line in open(path):
                try:
                    ts, ns = line.split()
                except ValueError:
                    continue
                out.setdefault(int((float(ts) - t0_wall) // 60), []).append(int(ns) / 1e9)
        return out

    lat["shm (C)"] = load_lat(shm_lat_c)
    lat["shm (Python)"] = load_lat(shm_lat_py)
    lat["socket heartbeat batch (10 pipelined)"] = batch_lat

    print()
    print(f"## soak: {args.minutes:g} min, {args.clients} socket clients, {st0['entries']} entries heartbeated every "
          f"{interval:g} s (TTL {ttl:g} s), 2 peers polling over loopback")
    print()
    print("### Latency per minute (ms)")
    print()
    rows = []
    minutes = int(seconds // 60 + (1 if seconds % 60 else 0))
    for kind in ["socket", "http", "shm (C)", "shm (Python)", "socket heartbeat batch (10 pipelined)"]:
        for m in range(minutes):
            v = lat[kind].get(m, [])
            if not v:
                continue
            f = lambda p: f"{percentile(v, p) * 1000:.3f}"  # noqa: E731
            rows.append([kind, m + 1, len(v), f(50), f(99), f"{max(v) * 1000:.3f}"])
    print(md_table(["path", "minute", "n", "p50", "p99", "max"], rows))
    print()
    print("socket = getServer (9 of 10) and query by class (1 of 10) on one connection; http = GET /servers/{id} on one "
          "keep-alive connection; shm = one lookup (C: hostess_reader_lookup; Python: shm_reader.Region.get), every 16th/4th timed.")
    print()
    print("### hostessd resources, sampled every 10 s")
    print()
    pts = samples
    rss = [(s[0], s[1]) for s in pts]
    fds = [(s[0], s[2]) for s in pts]
    rows = [
        ["main RSS kB", pts[0][1], pts[-1][1], max(p[1] for p in pts), f"{slope(rss):+.1f} kB/min"],
        ["main RssAnon kB (heap)", pts[0][8], pts[-1][8], max(p[8] for p in pts), f"{slope([(p[0], p[8]) for p in pts]):+.1f} kB/min"],
        ["main RssShmem kB (region pages touched)", pts[0][9], pts[-1][9], max(p[9] for p in pts), f"{slope([(p[0], p[9]) for p in pts]):+.1f} kB/min"],
        ["main open descriptors", pts[0][2], pts[-1][2], max(p[2] for p in pts), f"{slope(fds):+.2f} /min"],
        ["peer 1 / peer 2 open descriptors", f"{pts[0][10]} / {pts[0][11]}", f"{pts[-1][10]} / {pts[-1][11]}",
         f"{max(p[10] for p in pts)} / {max(p[11] for p in pts)}", "–"],
        ["peer 1 RSS kB", pts[0][6], pts[-1][6], max(p[6] for p in pts), f"{slope([(p[0], p[6]) for p in pts]):+.1f} kB/min"],
        ["peer 2 RSS kB", pts[0][7], pts[-1][7], max(p[7] for p in pts), f"{slope([(p[0], p[7]) for p in pts]):+.1f} kB/min"],
    ]
    print(md_table(["measure", "first", "last", "max", "slope"], rows))
    print(f"\n{len(pts)} samples; entries min {min(p[3] for p in pts)} max {max(p[3] for p in pts)}; "
          f"live peers at main min {min(p[5] for p in pts)} max {max(p[5] for p in pts)}")
    print()
    print("### Guarantees and counts")
    print()
    rows = [
        ["S1 false evictions (heartbeat not_found within TTL)", len(false_ev)],
        ["S1 evictions (status.evictions at the end) / `evicted` changes seen", f"{final['evictions']} / {len(evicted_ids)}"],
        ["client heartbeats later than TTL (excused) / max gap between a client's heartbeats", f"{late} / {max_gap:.2f} s"],
        ["S2 socket / HTTP errors; client errors", f"{errors['socket']} / {errors['http']}; {len(client_errors)}"],
        ["S3 samples with fewer than 2 live peers", sum(1 for p in pts if p[5] < 2)],
        ["S4 torn shm reads C / Python (lookups)", f"{reader_counts['c'].get('torn', '?')} / {reader_counts['python'].get('torn', '?')} "
                                                    f"({reader_counts['c'].get('lookups', 0)} / {reader_counts['python'].get('lookups', 0)})"],
        ["heartbeats acknowledged", heartbeats],
        ["reservations made / cancelled / conflicts / other", f"{res_stats['reserved']} / {res_stats['cancelled']} / {res_stats['conflict']} / {res_stats['other']}"],
        ["changes seen by a watch", ", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "–"],
        ["requests handled by main hostessd", final["requests"]],
    ]
    print(md_table(["check", "value"], rows))
    print()
    fail = []
    if false_ev:
        fail.append(f"{len(false_ev)} false evictions, e.g. {false_ev[:3]}")
    if final["evictions"] and max_gap < ttl:
        fail.append(f"{final['evictions']} evictions though no client was ever {ttl} s late (evicted: {evicted_ids[:5]})")
    if errors["socket"] or errors["http"] or client_errors or res_stats["other"] or problems:
        fail.append(f"errors: {first_errors[:3]} {client_errors[:3]} {problems[:3]}")
    if any(p[5] < 2 for p in pts):
        fail.append("a sample saw fewer than 2 live peers")
    if any(reader_counts[k].get("torn", 1) for k in reader_counts):
        fail.append(f"torn reads: {reader_counts}")
    if len(pts) >= 3 and (pts[-1][2] - pts[0][2] > 50 or pts[-1][8] > 1.5 * pts[0][8]):
        fail.append("resources grew (see the table)")
    for k, cnt in reader_counts.items():
        for field in ("firstTorn", "firstException", "error"):
            if cnt.get(field):
                print(f"- {k} reader {field}: {cnt[field][:300]}")
    json.dump({"samples": samples, "readers": reader_counts, "final": final, "res": res_stats, "changes": changes,
               "errors": first_errors[:50], "client_errors": client_errors[:50]}, open(os.path.join(T, "result.json"), "w"))
    if fail:
        for f in fail:
            print(f"- FAIL: {f}")
        return 1
    print("PASS: 0 false evictions, every request answered, peers live, 0 torn, resources flat")
    return 0


if __name__ == "__main__":
    if "--clients-worker" in sys.argv:
        a = sys.argv[sys.argv.index("--clients-worker") + 1:]
        first, count, per, sock, seconds, ttl, interval, out, rf, gf = a[:10]
        asyncio.run(clients_main(int(first), int(count), int(per), sock, float(seconds), float(ttl), float(interval), out, rf, gf))
        sys.exit(0)
    sys.exit(main())
