#!/usr/bin/env bash
# The fleet directory at scale: a private etcd (Debian's etcd-server, one member on loopback) and N release
# hostessd --directory on one machine, each with its own socket, shared-memory region and HTTP port. Reports
# the time until every Hostess lists the N-1 others as live; etcd's steady load over --measure-seconds (gRPC
# calls by method, puts, watch events, lease renewals, fsyncs, CPU as % of one core, RSS, gRPC bytes) and the
# daemons' CPU and memory; and, in 5 rounds, the time from one more Hostess's spawn until all N list it as
# live and from its SIGTERM until all N no longer list it (min / median / max over the N, and the total).
# Prints the figures as Markdown on stdout (progress on stderr). The work is Scripts/fleet_scale.py.
#   Scripts/fleet-scale.sh [--hostesses N] [--interval S] [--hold H] [--measure-seconds M] [--build]
#                          [--etcd-port P] [--http-base B] [--keep]
# Defaults: 100 Hostesses, --announce-interval 5, --announce-hold 4 (lease TTL 20 s), 30 s of measurement.
# Loopback only: etcd on 127.0.0.1:P and P+1 (default 61379, 61380), hostessd #i on 127.0.0.1:B+i (default
# 61400; the newcomer takes B+N): above Linux's default ephemeral range (32768-60999), so that the daemons'
# own connections to etcd cannot take them; all of them are checked free first. Bounded: every phase has its
# own limit, and the whole run is stopped after about 17 minutes. Cleans up on exit, whatever happens: stops
# every process it started (by pid, recorded in the temporary directory), removes its shared-memory regions
# (/dev/shm/hostess-scale-TAG-*, TAG this run's) and the temporary directory, which it keeps (and names) when
# the run failed or a daemon logged a warning or an error, or with --keep.
# Without --build it uses the release binaries already in .build/release/ of this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
command_line="Scripts/fleet-scale.sh${*:+ $*}"

hostesses=100
interval=5
hold=4
measure=30
build=0
keep=0
etcd_port=61379
http_base=61400
usage() { echo "usage: Scripts/fleet-scale.sh [--hostesses N] [--interval S] [--hold H] [--measure-seconds M] [--build] [--etcd-port P] [--http-base B] [--keep]" >&2; exit 2; }
need_value() { [ $# -ge 2 ] || { echo "fleet-scale: $1 needs a value" >&2; usage; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --hostesses) need_value "$@"; hostesses="$2"; shift 2 ;;
        --interval) need_value "$@"; interval="$2"; shift 2 ;;
        --hold) need_value "$@"; hold="$2"; shift 2 ;;
        --measure-seconds) need_value "$@"; measure="$2"; shift 2 ;;
        --etcd-port) need_value "$@"; etcd_port="$2"; shift 2 ;;
        --http-base) need_value "$@"; http_base="$2"; shift 2 ;;
        --build) build=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fleet-scale: unknown argument '$1'" >&2; usage ;;
    esac
done
is_int() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
is_int "$hostesses" && [ "$hostesses" -ge 2 ] && [ "$hostesses" -le 1000 ] || { echo "fleet-scale: --hostesses: expected 2 to 1000, found '$hostesses'" >&2; exit 2; }
is_num "$interval" || { echo "fleet-scale: --interval: expected seconds, found '$interval'" >&2; exit 2; }
is_int "$hold" && [ "$hold" -ge 1 ] || { echo "fleet-scale: --hold: expected a whole number from 1, found '$hold'" >&2; exit 2; }
is_num "$measure" || { echo "fleet-scale: --measure-seconds: expected seconds, found '$measure'" >&2; exit 2; }
is_int "$etcd_port" && [ "$etcd_port" -ge 1024 ] && [ "$etcd_port" -le 65534 ] || { echo "fleet-scale: --etcd-port: expected 1024 to 65534" >&2; exit 2; }
is_int "$http_base" && [ "$http_base" -ge 1024 ] && [ $((http_base + hostesses)) -le 65535 ] || { echo "fleet-scale: --http-base: expected a port from 1024 with room for $((hostesses + 1)) ports" >&2; exit 2; }
if [ "$etcd_port" -ge "$http_base" ] && [ "$etcd_port" -le $((http_base + hostesses)) ] || { [ $((etcd_port + 1)) -ge "$http_base" ] && [ $((etcd_port + 1)) -le $((http_base + hostesses)) ]; }; then
    echo "fleet-scale: etcd's ports $etcd_port, $((etcd_port + 1)) overlap the Hostesses' $http_base..$((http_base + hostesses))" >&2; exit 2
fi

# What it needs.
command -v python3 >/dev/null 2>&1 || { echo "fleet-scale: python3 is missing" >&2; exit 1; }
etcd_bin=$(command -v etcd 2>/dev/null || true)
[ -n "$etcd_bin" ] || { [ -x /usr/bin/etcd ] && etcd_bin=/usr/bin/etcd; } || true
[ -n "$etcd_bin" ] && [ -x "$etcd_bin" ] || { echo "fleet-scale: etcd is missing (Debian: apt-get install etcd-server)" >&2; exit 1; }
if [ "$build" = 1 ]; then
    echo "fleet-scale: building hostessd and hostess in release" >&2
    swift build -c release --product hostessd >&2
    swift build -c release --product hostess >&2
fi
bin="$repo/.build/release"
for tool in hostessd hostess; do
    [ -x "$bin/$tool" ] || { echo "fleet-scale: $bin/$tool is missing; build it with --build (or swift build -c release --product $tool)" >&2; exit 1; }
done
# Each daemon keeps a few descriptors; etcd one or two per daemon (the watch and the exchanges under way);
# this script one connection per daemon. Raise the soft limit as far as the hard one allows.
want=$((hostesses * 8 + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then ulimit -n "$want"; else ulimit -n "$hard"; fi
    [ "$(ulimit -n)" -ge $((hostesses * 3 + 256)) ] || { echo "fleet-scale: the open-file limit ($(ulimit -n)) is too low for $hostesses Hostesses" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/hostess-fleet-scale-XXXXXX)
tag=$(basename "$work" | sed 's/.*-//' | tr 'A-Z' 'a-z')
runner_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
        kill -TERM "$runner_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$runner_pid" 2>/dev/null || true
    fi
    # Whatever the runner left (killed before its own cleanup): only processes of this run, known by pid and
    # by the temporary directory on their command line.
    if [ -f "$work/pids" ]; then
        local pid left=()
        while read -r pid _; do
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$work"; then
                kill -TERM "$pid" 2>/dev/null && left+=("$pid")
            fi
        done <"$work/pids"
        if [ ${#left[@]} -gt 0 ]; then
            for _ in $(seq 1 50); do
                local alive=0
                for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
                [ "$alive" = 0 ] && break
                sleep 0.1
            done
            for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
        fi
    fi
    rm -f /dev/shm/hostess-scale-"$tag"-*
    if [ "$keep" = 1 ] || [ -f "$work/KEEP" ] || { [ "$status" != 0 ] && compgen -G "$work/*.log" >/dev/null; }; then
        rm -rf "$work/etcd"
        echo "fleet-scale: kept $work (logs: h*.log, newcomer-*.log, etcd.log; KEEP says why)" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The run's own bound: its phases' limits (etcd 30 s, /health 60 s, joining 120 s, settling <= 30 s, the
# measurement, 5 rounds of at most 2 x max(60, 2 x TTL + 10) s and a few seconds each), plus a margin.
ttl=$(python3 -c "import math,sys; print(math.ceil(float(sys.argv[1]) * int(sys.argv[2])))" "$interval" "$hold")
round_bound=$(( (ttl * 2 + 10 > 60 ? ttl * 2 + 10 : 60) * 2 + 25 ))
bound=$(( 30 + 60 + 120 + 30 + ${measure%.*} + 30 + 5 * round_bound + 120 ))
echo "fleet-scale: $hostesses Hostesses, interval $interval s, hold $hold (TTL $ttl s), $measure s of measurement; work in $work; at most $bound s" >&2
timeout --kill-after=10 "$bound" python3 "$repo/Scripts/fleet_scale.py" --hostessd "$bin/hostessd" --hostess "$bin/hostess" --etcd "$etcd_bin" \
    --work "$work" --tag "$tag" --hostesses "$hostesses" --interval "$interval" --hold "$hold" --measure-seconds "$measure" \
    --etcd-port "$etcd_port" --http-base "$http_base" --command-line "$command_line" &
runner_pid=$!
status=0
wait "$runner_pid" || status=$?
runner_pid=""
[ "$status" = 124 ] && echo "fleet-scale: stopped after $bound s (the run's bound)" >&2
exit "$status"
