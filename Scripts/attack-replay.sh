#!/usr/bin/env bash
# Replays the attacks of issue 10 ("one user must not be able to stop the Hostess") against private hostessd
# processes built in release, and prints one figure line per attack (what was measured, the value, PASS or
# FAIL against the expectation), then `N passed, N failed`. Exit status 1 if any attack failed.
#   Scripts/attack-replay.sh [--only 1,3,...]        (as root: the attacks from another user run as nobody)
# The attacks: an 85,000-key object over the socket and HTTP with 500 entries heartbeating; ~1 MiB worst-case
# lines per decoder; SIGSTOP with 1,000 entries heartbeating; a FIFO at a region name; a watch flood; nobody
# filling the connection slots with blank lines; capability-name churn; reservation priority and duration;
# reading a dead writer's region; a --keep-alive registration across kill -9 and restart.
# Each hostessd has its own socket in a private mktemp -d directory (mode 0755, so that nobody can connect)
# and its own region name /hostess-attack-RANDOM-*; both, and every process started, are cleaned up on
# exit. Only Unix sockets and 127.0.0.1 are used. About a minute after the build; bounded at 285 s.
# The driver is Scripts/attack_replay.py (Python 3 standard library).
set -euo pipefail
cd "$(dirname "$0")/.."
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        *) echo "usage: Scripts/attack-replay.sh [--only 1,3,...]" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "attack-replay: run as root (the attacks from another user run as nobody through setpriv)" >&2
    exit 2
fi
for tool in /usr/bin/setpriv /usr/bin/python3 /usr/bin/mkfifo timeout; do
    command -v "$tool" >/dev/null || { echo "attack-replay: $tool is needed" >&2; exit 2; }
done

echo "attack-replay: building hostessd, hostess and shmdump (release)" >&2
for product in hostessd hostess shmdump; do
    swift build -c release --product "$product" >&2
done
bin="$PWD/.build/release"

work=$(mktemp -d /tmp/hostess-attack-XXXXXX)
chmod 755 "$work"
tag=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
shm_prefix="/hostess-attack-$tag"
driver_pid=""
cleanup() {
    if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
        kill -TERM "$driver_pid" 2>/dev/null || true
        wait "$driver_pid" 2>/dev/null || true
    fi
    # Whatever the driver started and did not stop: only processes whose command line names this run's
    # scratch directory (a recorded pid may have been reused meanwhile).
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$work"; then
                kill -CONT "$pid" 2>/dev/null || true
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$work/pids"
    fi
    rm -f "/dev/shm/hostess-attack-$tag"*
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy nobody can read (the checkout may not be readable by other users).
cp Scripts/attack_replay.py "$work/attack_replay.py"
chmod 644 "$work/attack_replay.py"
version=$("$bin/hostessd" --version)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "attack-replay: $version at $commit, scratch $work, regions $shm_prefix-*" >&2

status=0
timeout --kill-after=10 285 /usr/bin/python3 "$work/attack_replay.py" run --bin "$bin" --work "$work" \
    --shm-prefix "$shm_prefix" --repo "$PWD" ${only:+--only "$only"} &
driver_pid=$!
wait "$driver_pid" || status=$?
driver_pid=""
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "attack-replay: the attacks did not finish within 285 s" >&2
fi
exit "$status"
