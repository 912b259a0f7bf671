#!/usr/bin/env bash
# Measures socket lookups by a busy client while hostessd holds 10,000 idle connections, against the same
# lookups with none (the target: p99 with them under 2x the figure without). Builds hostess-bench and hostessd
# in release, then runs `hostess-bench --idle-connections 10000`, which starts its own hostessd on a private
# socket (no shared-memory region), registers 1,000 entries, then in 4 alternating rounds times 5,000 lookups
# with no idle connections and 5,000 with the idle ones held (opened, then closed after each round); each
# row pools its rounds' 20,000 samples. Stops the daemon at the end.
#   Scripts/idle-load.sh [--idle-connections N] [--entries N] [--quick] [--json] [--hostessd PATH]
# --hostessd measures another hostessd build with this bench (e.g. before and after a daemon change).
# Needs 10,000 + 256 open files in the bench and in hostessd: the bench raises its soft limit to the hard one
# (and, as root, the hard one too). Bounded: the bench stops itself after 120 s, `timeout` after 150 s.
# Exit status 0 when the run worked (the last line says whether the target is met), 1 when it failed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "idle-load: building in release" >&2
swift build -c release --product hostess-bench >&2
swift build -c release --product hostessd >&2

timeout 150 .build/release/hostess-bench --idle-connections 10000 "$@"
