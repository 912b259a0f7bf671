#!/usr/bin/env bash
# Runs hostess-bench in release beside a private redis-server, and prints the table (or --json rows).
#   Scripts/bench.sh [--quick] [--json] [--entries 1000,10000,100000]
# Installs Debian's redis-server when it is missing (as root); if Redis cannot run, its rows say
# "skipped" with the reason. Stops everything it started. Budget: at most 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "bench: building in release" >&2
swift build -c release --product hostess-bench >&2
swift build -c release --product hostessd >&2

work=$(mktemp -d /tmp/hostess-bench-redis-XXXXXX)
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

redis_args=()
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "bench: installing redis-server" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2 || true
fi
if command -v redis-server >/dev/null 2>&1; then
    redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --save "" --appendonly no \
        --daemonize no --dir "$work" >"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do [ -S "$work/redis.sock" ] && break; sleep 0.05; done
    if [ -S "$work/redis.sock" ]; then
        redis_args=(--redis-socket "$work/redis.sock")
    else
        redis_args=(--redis-skip "redis-server did not start: $(tail -n 1 "$work/redis.log")")
    fi
else
    redis_args=(--redis-skip "redis-server is not installed and could not be installed")
fi

timeout 300 .build/release/hostess-bench "${redis_args[@]}" "$@"
