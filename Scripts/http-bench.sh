#!/usr/bin/env bash
# Measures the HTTP interface under wrk: GET /servers/{id} (random ids), POST /query (class + two
# capabilities + a free terminal, about 1% of entries) and GET /servers?class= (one class, 1/16 of the
# entries) at 10,000 entries, with 1 and with 64 connections; and beside them etcd's JSON gateway on the same
# data (Debian's etcd-server, started privately on loopback): the same ids as keys under /hostess/CLASS/,
# the same value bytes (each entry's JSON as GET /servers/{id} answers it), a range of one key (random keys),
# one transaction reading the keys POST /query matches, and a prefix range of one class, with the ratio
# Hostess / etcd. With one connection it also runs the floor: Scripts/http-floor.c, a blocking C server that
# answers every request with a fixed response of the same size as a GET /servers/{id} reply, with no parsing
# and no lookup (compiled with cc or clang; skipped when neither is there).
#   Scripts/http-bench.sh [--entries N] [--duration SECONDS]
# Builds hostessd in release, starts it on a private socket and 127.0.0.1 (a free port), registers the
# entries over the socket, runs wrk (installing Debian's wrk and etcd-server when missing, as root), prints
# one line per run (requests/s and latency percentiles), and stops what it started. Loopback only; a few
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
entries=10000
duration=10
while [ $# -gt 0 ]; do
    case "$1" in
        --entries) entries="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        *) echo "usage: Scripts/http-bench.sh [--entries N] [--duration SECONDS]" >&2; exit 2 ;;
    esac
done
if ! command -v wrk >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "http-bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2
fi
echo "http-bench: building hostessd in release" >&2
swift build -c release --product hostessd >&2

if ! command -v etcd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "http-bench: installing etcd-server" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server) >&2 || true
fi

work=$(mktemp -d /tmp/hostess-http-bench-XXXXXX)
daemon_pid=""
etcd_pid=""
floor_pid=""
cleanup() {
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
    if [ -n "$floor_pid" ]; then kill "$floor_pid" 2>/dev/null || true; wait "$floor_pid" 2>/dev/null || true; fi
    if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

.build/release/hostessd --socket "$work/hostess.sock" --shm "/hostess-http-bench-$$" --capacity $((entries + 100)) \
    --ttl 3600 --http 127.0.0.1:0 >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do [ -S "$work/hostess.sock" ] && break; sleep 0.05; done

# Register the entries over the socket (pipelined) and learn the HTTP port and the ids.
python3 - "$work/hostess.sock" "$entries" "$work" <<'PY'
import json, socket, sys
path, count, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX); s.connect(path)
f = s.makefile("rwb")
ids = []
caps = ["cap%d" % i for i in range(8)]
pending = 0
def drain():
    global pending
    for _ in range(pending):
        reply = json.loads(f.readline())
        if "error" in reply: sys.exit("register failed: %s" % reply)
    pending = 0
for i in range(count):
    cls = "0x%04x" % (i % 16)
    uid = "00000000-0000-4000-8000-%012x" % i
    eid = "bench.example:srv-%d:%s:root:no:none:%s" % (i, cls, uid)
    chosen = [caps[(i // 16 + k) % 8] for k in range(4)]
    entry = {"id": eid, "capabilities": chosen,
             "terminals": {"in": {"direction": "input", "multiplexing": "none"},
                           "out": {"direction": "output", "multiplexing": "fanout"}}}
    f.write((json.dumps({"id": i, "command": "register", "entry": entry}) + "\n").encode())
    ids.append(eid)
    pending += 1
    if pending == 500:  # pipelined in batches: hostessd stops reading a client that does not read its replies
        f.flush(); drain()
f.flush(); drain()
f.write(b'{"id":"s","command":"status"}\n'); f.flush()
status = json.loads(f.readline())["result"]
open(work + "/port", "w").write(status["http"].rsplit(":", 1)[1])
from urllib.parse import quote
with open(work + "/ids.lua", "w") as out:
    out.write("ids = {\n" + ",\n".join('"/servers/%s"' % quote(i, safe="") for i in ids) + "\n}\n")
PY
port=$(cat "$work/port")
cat >"$work/get.lua" <<LUA
dofile("$work/ids.lua")
math.randomseed(7)
request = function() return wrk.format("GET", ids[math.random(#ids)]) end
LUA
cat >"$work/query.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"class":"0x0003","capabilities":["cap3","cap6"],"availableTerminals":1}'
LUA
matches=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"class":"0x0003","capabilities":["cap3","cap6"],"availableTerminals":1}' \
    "http://127.0.0.1:$port/query" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "http-bench: $entries entries, POST /query matches $matches; wrk ${duration}s per run, 1 thread (2 for 64 connections)" >&2
cat >"$work/class.lua" <<'LUA'
request = function() return wrk.format("GET", "/servers?class=0x0003") end
LUA

# etcd beside it: the same keys and value bytes, through its JSON gateway.
etcd_port=""
if command -v etcd >/dev/null 2>&1; then
    read -r etcd_port peer_port < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket(); a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
    etcd --name bench --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "bench=http://127.0.0.1:$peer_port" \
        --quota-backend-bytes $((1 << 30)) --max-txn-ops 4096 >"$work/etcd.log" 2>&1 &
    etcd_pid=$!
    for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q true && break; sleep 0.1; done
    python3 - "$port" "$etcd_port" "$work" <<'PY' || etcd_port=""
import base64, http.client, json, sys
port, etcd_port, work = sys.argv[1], sys.argv[2], sys.argv[3]
hostess = http.client.HTTPConnection("127.0.0.1", int(port))
etcd = http.client.HTTPConnection("127.0.0.1", int(etcd_port))
b64 = lambda data: base64.b64encode(data).decode()
ids = [line.strip().strip('",')[len("/servers/"):] for line in open(work + "/ids.lua") if line.startswith('"')]
keys = []
for quoted in ids:
    hostess.request("GET", "/servers/" + quoted); value = hostess.getresponse().read()
    entry = json.loads(value)
    key = ("/hostess/%s/%s" % (entry["class"], entry["id"])).encode()
    etcd.request("POST", "/v3/kv/put", json.dumps({"key": b64(key), "value": b64(value)}))
    reply = etcd.getresponse(); reply.read()
    if reply.status != 200: sys.exit("etcd put: HTTP %d" % reply.status)
    keys.append(key)
with open(work + "/etcd_keys.lua", "w") as out:
    out.write("bodies = {\n" + ",\n".join("'%s'" % json.dumps({"key": b64(k)}) for k in keys) + "\n}\n")
# POST /query's matches, fetched from etcd by key in one transaction: a range of the same keys.
hostess.request("POST", "/query", '{"class":"0x0003","capabilities":["cap3","cap6"],"availableTerminals":1}', {"Content-Type": "application/json"})
matched = json.loads(hostess.getresponse().read())
txn = {"success": [{"request_range": {"key": b64(("/hostess/%s/%s" % (e["class"], e["id"])).encode())}} for e in matched]}
open(work + "/etcd_txn_body", "w").write(json.dumps(txn))
etcd.request("POST", "/v3/kv/txn", json.dumps(txn))
answer = json.loads(etcd.getresponse().read())
found = sum(int(r.get("response_range", {}).get("count", 0)) for r in answer.get("responses", []))
if found != len(matched): sys.exit("etcd txn returned %d of the %d keys" % (found, len(matched)))
prefix = b"/hostess/0x0003/"
end = prefix[:-1] + bytes([prefix[-1] + 1])
open(work + "/etcd_class_body", "w").write(json.dumps({"key": b64(prefix), "range_end": b64(end)}))
etcd.request("POST", "/v3/kv/range", open(work + "/etcd_class_body").read())
print("http-bench: etcd holds %d keys; the class prefix range returns %s" % (len(keys), json.loads(etcd.getresponse().read()).get("count")), file=sys.stderr)
PY
    cat >"$work/etcd_get.lua" <<LUA
dofile("$work/etcd_keys.lua")
math.randomseed(7)
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format("POST", "/v3/kv/range", nil, bodies[math.random(#bodies)]) end
LUA
    cat >"$work/etcd_txn.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$(cat "$work/etcd_txn_body" 2>/dev/null)'
LUA
    cat >"$work/etcd_class.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$(cat "$work/etcd_class_body" 2>/dev/null)'
LUA
else
    echo "http-bench: etcd is not installed and could not be installed; its rows are skipped" >&2
fi

# The floor: a C server answering a fixed response as long as one GET /servers/{id} reply.
floor_port=""
compiler=$(command -v cc || command -v clang || true)
if [ -n "$compiler" ] && "$compiler" -O2 -o "$work/http-floor" Scripts/http-floor.c; then
    reply_bytes=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port$(sed -n 2p "$work/ids.lua" | tr -d '",')")
    "$work/http-floor" "$reply_bytes" >"$work/floor_port" &
    floor_pid=$!
    for _ in $(seq 1 100); do [ -s "$work/floor_port" ] && break; sleep 0.05; done
    floor_port=$(cat "$work/floor_port")
    cat >"$work/floor.lua" <<'LUA'
request = function() return wrk.format("GET", "/servers/x") end
LUA
else
    echo "http-bench: no C compiler (cc or clang); the floor row is skipped" >&2
fi

# One wrk run: prints its row and leaves its requests/s in $rps.
run() {
    local name=$1 script=$2 connections=$3 target=$4 threads=1
    [ "$connections" -gt 1 ] && threads=2
    local out
    out=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/$script.lua" "$target" 2>&1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    local p50 p90 p99 errors
    p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$connections" "$rps" "$p50" "$p90" "$p99"
    [ -z "$errors" ] || echo "http-bench: $name with $connections connections: $errors" >&2
}
printf '| endpoint | connections | requests/s | p50 | p90 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
ratios=()
for connections in 1 64; do
    run "GET /servers/{id}" get "$connections" "http://127.0.0.1:$port/"; hostess_one=$rps
    if [ "$connections" = 1 ] && [ -n "$floor_port" ]; then
        run "floor: C server, fixed $reply_bytes-byte reply" floor 1 "http://127.0.0.1:$floor_port/"
        ratios+=("one key, 1 connection: Hostess at $(python3 -c "print(round(100 * $hostess_one / $rps))")% of the floor")
    fi
    if [ -n "$etcd_port" ]; then
        run "etcd range, one key" etcd_get "$connections" "http://127.0.0.1:$etcd_port/v3/kv/range"
        ratios+=("one key, $connections connections: Hostess $(python3 -c "print(round($hostess_one / $rps, 2))")× etcd")
    fi
    run "POST /query" query "$connections" "http://127.0.0.1:$port/query"; hostess_query=$rps
    if [ -n "$etcd_port" ]; then
        run "etcd txn, the same $matches keys" etcd_txn "$connections" "http://127.0.0.1:$etcd_port/v3/kv/txn"
        ratios+=("query ($matches keys), $connections connections: Hostess $(python3 -c "print(round($hostess_query / $rps, 2))")× etcd")
    fi
    run "GET /servers?class=0x0003" class "$connections" "http://127.0.0.1:$port/"; hostess_class=$rps
    if [ -n "$etcd_port" ]; then
        run "etcd prefix range, one class" etcd_class "$connections" "http://127.0.0.1:$etcd_port/v3/kv/range"
        ratios+=("one class, $connections connections: Hostess $(python3 -c "print(round($hostess_class / $rps, 2))")× etcd")
    fi
done
for ratio in "${ratios[@]}"; do echo "http-bench: $ratio" >&2; done
