#!/usr/bin/env bash
# Measures the HTTP interface under wrk: GET /servers/{id} (random ids) and POST /query (class + two
# capabilities + a free terminal, about 1% of entries) at 10,000 entries, with 1 and with 64 connections.
#   Scripts/http-bench.sh [--entries N] [--duration SECONDS]
# Builds hostessd in release, starts it on a private socket and 127.0.0.1 (a free port), registers the
# entries over the socket, runs wrk (installing Debian's wrk when missing, as root), prints one line per run
# (requests/s and latency percentiles), and stops what it started. Loopback only; about a minute.
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

work=$(mktemp -d /tmp/hostess-http-bench-XXXXXX)
daemon_pid=""
cleanup() {
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
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
printf '| endpoint | connections | requests/s | p50 | p90 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
for script in get query; do
    for connections in 1 64; do
        threads=1; [ "$connections" -gt 1 ] && threads=2
        path=$([ "$script" = get ] && echo / || echo /query)
        out=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/$script.lua" "http://127.0.0.1:$port$path" 2>&1)
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
        name=$([ "$script" = get ] && echo "GET /servers/{id}" || echo "POST /query")
        printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$connections" "$rps" "$p50" "$p90" "$p99"
        [ -z "$errors" ] || echo "http-bench: $name with $connections connections: $errors" >&2
    done
done
