#!/usr/bin/env bash
# Fuzzes the HTTP interface against its own specification: schemathesis (from PyPI) generates requests from
# docs/openapi.yaml (examples, coverage, random fuzzing, stateful sequences) and checks that no answer is a
# 5xx and that every status, content type, header and body conforms to the document.
#   Scripts/http-fuzz.sh [--seconds N]      (default 150; the run is bounded by it)
# Builds hostessd, starts it on a private socket and 127.0.0.1 (a free port) with a few entries, prints
# schemathesis's summary, and stops what it started. Writes are not signed here, so they are checked as
# 401 answers; signed writes are fuzzed by the Swift test suite (HTTPTests, 150 seeded mutations).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=150
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        *) echo "usage: Scripts/http-fuzz.sh [--seconds N]" >&2; exit 2 ;;
    esac
done
if ! python3 -c 'import schemathesis' 2>/dev/null; then
    echo "http-fuzz: installing schemathesis" >&2
    python3 -m pip install -q schemathesis 2>/dev/null || python3 -m pip install -q --break-system-packages schemathesis
fi
swift build --product hostessd --product hostess >&2

work=$(mktemp -d /tmp/hostess-http-fuzz-XXXXXX)
daemon_pid=""
cleanup() {
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
.build/debug/hostessd --socket "$work/hostess.sock" --shm "/hostess-http-fuzz-$$" --ttl 3600 --http 127.0.0.1:0 >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do [ -S "$work/hostess.sock" ] && break; sleep 0.05; done
hostess() { .build/debug/hostess --socket "$work/hostess.sock" "$@"; }
hostess register --name gpu-renderer --class 0x0002 --owner root --capability gpu --capability h264 \
    --terminal input:input:none --terminal output:output:fanout >/dev/null
for name in printer-a printer-b scanner; do hostess register --name "$name" --class 0x0001 --owner root --capability a4 >/dev/null; done
hostess reserve --count 1 --class 0x0001 --duration 3600 >/dev/null
port=$(hostess --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["http"].rsplit(":",1)[1])')
# Every generated index is set below the revision (Scripts/http_fuzz_hooks.py), so blocking reads answer at once.
PYTHONPATH="$PWD/Scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=http_fuzz_hooks st run docs/openapi.yaml --url "http://127.0.0.1:$port" --max-time "$seconds" --workers 1 --request-timeout 40 \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
