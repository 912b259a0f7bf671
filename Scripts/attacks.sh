#!/usr/bin/env bash
# The standing attack suite: every attack of the robustness issue (Scripts/attack-replay.sh, [1]–[10]: one
# user trying to stop or starve the Hostess) and the mesh and directory ones (Scripts/attacks_mesh.py,
# [11] spoofed announcements to a signed mesh, [12] a flooded fleet directory, [13] forged probe reports to a
# beacon), against private release hostessd, hostess-beacon and hostess-probe. Prints one line per attack,
# `[NN] held|broke  figure  (seconds)`, then a count; exit status 1 when any broke. The cheap cases of these
# attacks also run in `swift test` (AbuseTests, MeshTests, HostileDirectoryTests, ProbingTests).
#   Scripts/attacks.sh [--only 1,11,...]        (as root: the attacks from another user run as nobody)
# Only Unix sockets and 127.0.0.1 are used; every process, socket, region and directory started is removed on
# exit. About two minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        *) echo "usage: Scripts/attacks.sh [--only 1,11,...]" >&2; exit 2 ;;
    esac
done
replay_only="" mesh_only="" run_replay=1 run_mesh=1
if [ -n "$only" ]; then
    for number in ${only//,/ }; do
        case "$number" in
            ''|*[!0-9]*) echo "attacks: --only takes attack numbers, found '$number'" >&2; exit 2 ;;
        esac
        if [ "$number" -le 10 ]; then replay_only+="${replay_only:+,}$number"; else mesh_only+="${mesh_only:+,}$number"; fi
    done
    [ -n "$replay_only" ] || run_replay=0
    [ -n "$mesh_only" ] || run_mesh=0
fi

work=$(mktemp -d /tmp/hostess-attacks-XXXXXX)
tag=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
driver_pid=""
cleanup() {
    if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then kill -TERM "$driver_pid" 2>/dev/null || true; wait "$driver_pid" 2>/dev/null || true; fi
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$work"; then kill -KILL "$pid" 2>/dev/null || true; fi
        done <"$work/pids"
    fi
    rm -f "/dev/shm/hostess-attacks-$tag"*
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

: >"$work/results"
status=0
if [ "$run_replay" = 1 ]; then
    Scripts/attack-replay.sh ${replay_only:+--only "$replay_only"} | tee -a "$work/results" || status=1
else
    for product in hostessd hostess shmdump; do swift build -c release --product "$product" >&2; done
fi
if [ "$run_mesh" = 1 ]; then
    for product in hostess-beacon hostess-probe; do swift build -c release --product "$product" >&2; done
    timeout --kill-after=10 240 /usr/bin/python3 Scripts/attacks_mesh.py run --bin "$PWD/.build/release" --work "$work" \
        --shm-prefix "/hostess-attacks-$tag" --repo "$PWD" ${mesh_only:+--only "$mesh_only"} >"$work/mesh" &
    driver_pid=$!
    wait "$driver_pid" || status=1
    driver_pid=""
    tee -a "$work/results" <"$work/mesh"
fi

echo
echo "| attack | outcome | figure |"
echo "|---:|---|---|"
grep -E '^\[ ?[0-9]+\] (PASS|FAIL)' "$work/results" | sed -E 's/^\[ ?([0-9]+)\] PASS  (.*)$/| \1 | held | \2 |/; s/^\[ ?([0-9]+)\] FAIL  (.*)$/| \1 | **broke** | \2 |/'
held=$(grep -cE '^\[ ?[0-9]+\] PASS' "$work/results" || true)
broke=$(grep -cE '^\[ ?[0-9]+\] FAIL' "$work/results" || true)
echo
echo "$held held, $broke broke"
[ "$broke" = 0 ] && [ "$status" = 0 ]
