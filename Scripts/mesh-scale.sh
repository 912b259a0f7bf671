#!/usr/bin/env bash
# The mesh at scale: N release hostessd --announce in network namespaces on one bridge (5, 10, 20 by
# default), each Hostess's CPU and announcement traffic per minute. Needs root (ip netns); creates and
# removes its own namespaces only. Bounded: about (20 s + 6 s) per count, `timeout` after 10 minutes.
#   Scripts/mesh-scale.sh [--counts 5,10,20] [--seconds 20] [--interval 1]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "mesh-scale: building hostessd in release" >&2
swift build -c release --product hostessd >&2
timeout 600 python3 Scripts/mesh_scale.py "$(swift build -c release --show-bin-path)/hostessd" "$@"
