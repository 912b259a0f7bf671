#!/usr/bin/env bash
# Scripts/soak.sh --minutes N [--clients 1000] [--entries-per-client 10]
#
# A soak of a release hostessd on loopback: 1,000 socket clients heartbeating 10,000 entries, queries through
# shared memory, the socket and HTTP, reservations churning, two peer hostessd polling each other and the
# main one with --peer over loopback (no multicast). Samples RSS and descriptors every 10 s, prints latency
# percentiles per minute and the figures as Markdown tables; exits 1 when a guarantee (Scripts/soak.py,
# S1-S5) is broken. Everything it creates (processes, sockets, region, temp dir) is removed on any exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
[[ -x $root/.build/release/hostessd ]] || { echo "soak: run 'swift build -c release' first" >&2; exit 2; }
[[ " $* " == *" --minutes "* ]] || { echo "usage: Scripts/soak.sh --minutes N" >&2; exit 2; }

# 1,000 clients plus the daemons' descriptors: raise the limit for this shell and its children only.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) >= 4096 )) || { echo "soak: needs ulimit -n >= 4096 (have $(ulimit -n))" >&2; exit 2; }

tmp=$(mktemp -d /tmp/soak.XXXXXX)
shm="/soak-$$"
group=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $group ]]; then
        kill -TERM -- "-$group" 2>/dev/null || true
        sleep 1
        kill -KILL -- "-$group" 2>/dev/null || true
    fi
    rm -f "/dev/shm${shm}" /dev/shm"${shm}".* 2>/dev/null || true
    if [[ ${KEEP_TMP:-} == 1 ]]; then echo "soak: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

setsid python3 "$here/soak.py" --tmp "$tmp" --shm "$shm" "$@" &
group=$!
set +e
wait "$group"
status=$?
set -e
if [[ $status -ne 0 ]]; then
    for log in "$tmp"/*.log; do [[ -f $log ]] && { echo "--- last lines of $(basename "$log") ---" >&2; tail -n 8 "$log" >&2; }; done
fi
exit "$status"
