#!/usr/bin/env bash
# Scripts/crash-storm.sh [--rounds N (100)] [--connections C (8)] [--seconds-per-round S (2)]
#
# A write storm over C socket connections against a release hostessd, killed with SIGKILL at a random
# moment every round and started again on the same socket, shared-memory name and reservations file, N
# rounds, while Swift (shmdump), C (Scripts/storm_creader.c) and Python (docs/examples/shm_reader.py)
# readers read the region throughout. The guarantees checked are listed in Scripts/crash_storm.py (G1-G8);
# more options there (--failpoint-fraction, --restart-kill-fraction, --entries, --pinned, --ttl).
# Prints Markdown tables; exits 1 when a guarantee is broken. Builds nothing: run `swift build -c release`
# first. Everything it creates (processes, socket, region, temp dir) is removed on any exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
[[ -x $root/.build/release/hostessd && -x $root/.build/release/shmdump ]] || { echo "crash-storm: run 'swift build -c release' first" >&2; exit 2; }

tmp=$(mktemp -d /tmp/crash-storm.XXXXXX)
shm="/crash-storm-$$"
group=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $group ]]; then
        kill -TERM -- "-$group" 2>/dev/null || true
        sleep 0.5
        kill -KILL -- "-$group" 2>/dev/null || true
    fi
    rm -f "/dev/shm${shm}" /dev/shm"${shm}".* 2>/dev/null || true
    if [[ ${KEEP_TMP:-} == 1 ]]; then echo "crash-storm: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# setsid: the storm, its hostessd and its readers form one process group, removed as one by the trap.
setsid python3 "$here/crash_storm.py" --tmp "$tmp" --shm "$shm" "$@" &
group=$!
set +e
wait "$group"
status=$?
set -e
if [[ $status -ne 0 && -f $tmp/hostessd.log ]]; then
    echo "--- last lines of hostessd's log ---" >&2
    tail -n 20 "$tmp/hostessd.log" >&2
fi
exit "$status"
