#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (issue 18's standing reliability suite), outside `swift test`.
#
#   Scripts/fuzz.sh [--seconds N] [--runs N] [--jobs J] [--build-only] [--list] [TARGET...]
#
# Default: every target, 60 s each. `--runs N` stops each target after N executions instead (and after
# --seconds, if both are given, whichever comes first). `--jobs J` runs J fuzzing processes per target
# (libFuzzer's -fork mode); the machine has two cores, so the default is 1.
#
# Each target is Scripts/fuzz/targets/NAME.swift, a harness exporting LLVMFuzzerTestOneInput with an oracle
# beyond "no crash" where one exists. It is compiled with `swiftc -sanitize=fuzzer,address` and linked
# against the package's own modules, which are built here from Sources/ (each one a static library
# compiled with -sanitize=fuzzer,address, so libFuzzer gets coverage and trace-cmp of the code under test,
# not only of the harness), in dependency order, cached in .build/fuzz/modules and rebuilt when one of
# their sources changes. Nothing here touches Package.swift or `swift test`.
#
# Seeds are in Scripts/fuzz/corpus/NAME (committed); the corpus fuzzing grows is in .build/fuzz/corpus/NAME.
# Dictionaries are Scripts/fuzz/dict/NAME.dict. A crashing, leaking, slow (-timeout) or oversized
# (-rss_limit_mb) input is kept under .build/fuzz/artifacts/, and the script exits 1.
#
# Prints one line per target: executions, execs/s, corpus size, coverage (cov/ft), crashes, leaks, and the
# slowest input's time (libFuzzer's stat::slowest_unit_time_sec).
set -euo pipefail
# Everything is in main, which bash reads whole before running it: editing this file while it runs is safe.
main() {
cd "$(dirname "$0")/.."
root=$PWD

seconds=""
runs=""
jobs=1
build_only=0
requested=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        --list) requested+=("--list"); shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) requested+=("$1"); shift ;;
    esac
done
if [ -z "$seconds" ] && [ -z "$runs" ]; then seconds=60; fi

# MARK: - Targets
# name | modules it links (dependency order) | -max_len | -timeout (s) | support files (Scripts/fuzz/support/)
# max_len is the real limit of the input: a name (Limits.nameBytes 512), an announcement datagram
# (Announcement.maximumBytes 1200), an entry (Limits.entryWireBytes 64 KiB) for JSON documents, the HTTP
# request line + header block limits (8 KiB + 16 KiB) plus a body, etc. The timeout is a ceiling on one
# input at that size under ASan: these parsers are linear, so anything near it is a super-linear input.
targets=(
    "servername|HostessModel|512|2"
    "command|HostessModel CShim HostessSystem HostessHTTP HostessLoop HostessMesh HostessProbing HostessRegion HostessDirectory HostessDaemon|65536|5"
    "json|HostessModel|65536|5"
    "line-framing|HostessModel CShim HostessSystem HostessHTTP HostessLoop HostessMesh HostessProbing HostessRegion HostessDirectory HostessDaemon|65536|5"
    "http-request|CShim HostessSystem HostessHTTP|32768|5"
    "http-response|CShim HostessSystem HostessHTTP|32768|5"
    "http-framing|HostessModel CShim HostessSystem HostessHTTP HostessLoop HostessMesh HostessProbing HostessRegion HostessDirectory HostessDaemon|65536|5"
    "announcement|HostessModel CShim HostessSystem HostessMesh|1200|2"
    "etcd|HostessModel CShim HostessSystem HostessHTTP HostessDirectory|65536|5"
    "probe|HostessModel CShim HostessSystem HostessProbing|4096|2"
    "manifest|HostessModel HostessWiring|65536|5"
    "wiring|HostessModel HostessWiring|65536|5"
    "region-swift|HostessModel CShim HostessSystem HostessRegion|65536|5|region"
    "region-c|HostessModel CShim HostessSystem HostessRegion CHostessReader|65536|5|region"
)

if [ "${requested[0]:-}" = "--list" ]; then
    for t in "${targets[@]}"; do echo "${t%%|*}"; done
    exit 0
fi

build=$root/.build/fuzz
mods=$build/modules
bins=$build/bin
mkdir -p "$mods" "$bins" "$build/artifacts" "$build/logs" "$build/corpus"

# Module maps for the C targets, as SwiftPM would generate them.
mkdir -p "$mods/CShim" "$mods/CHostessReader"
cat >"$mods/CShim/module.modulemap" <<EOF
module CShim {
    header "$root/CShim/include/CShim.h"
    link "crypto"
    export *
}
EOF
cat >"$mods/CHostessReader/module.modulemap" <<EOF
module CHostessReader {
    header "$root/Sources/CHostessReader/include/hostess_reader.h"
    export *
}
EOF

swift_flags=(-sanitize=fuzzer,address -parse-as-library -O -swift-version 6 -enable-testing -suppress-warnings
    -I "$mods" -Xcc -fmodule-map-file="$mods/CShim/module.modulemap"
    -Xcc -fmodule-map-file="$mods/CHostessReader/module.modulemap"
    -module-cache-path "$build/module-cache")
c_flags=(-O1 -g -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)

# Whether $1 (an output) is older than any file under the directories that follow, or missing.
stale() {
    local out=$1; shift
    [ -e "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -type f -print -quit)" ]
}

# Builds one module (cached).
build_module() {
    local m=$1
    case "$m" in
        CShim)
            if stale "$mods/libCShim.a" CShim; then
                echo "fuzz.sh: building CShim" >&2
                clang "${c_flags[@]}" -I CShim/include -c CShim/shim.c -o "$mods/CShim.o"
                ar rcs "$mods/libCShim.a" "$mods/CShim.o"
            fi ;;
        CHostessReader)
            if stale "$mods/libCHostessReader.a" Sources/CHostessReader; then
                echo "fuzz.sh: building CHostessReader" >&2
                clang "${c_flags[@]}" -std=c11 -I Sources/CHostessReader/include -c Sources/CHostessReader/hostess_reader.c \
                    -o "$mods/CHostessReader.o"
                ar rcs "$mods/libCHostessReader.a" "$mods/CHostessReader.o"
            fi ;;
        *)
            if stale "$mods/lib$m.a" "Sources/$m"; then
                echo "fuzz.sh: building $m" >&2
                local sources
                mapfile -t sources < <(find "Sources/$m" -name '*.swift' | sort)
                swiftc "${swift_flags[@]}" -wmo -module-name "$m" -emit-module -emit-module-path "$mods/$m.swiftmodule" \
                    -emit-library -static -o "$mods/lib$m.a" "${sources[@]}"
            fi ;;
    esac
}

# Builds a target's harness (after its modules); $1 name, $2 modules, $3 support files.
build_target() {
    local name=$1 modules=$2 support=$3 m s
    local harness=Scripts/fuzz/targets/$name.swift
    [ -f "$harness" ] || { echo "fuzz.sh: no harness $harness" >&2; return 1; }
    local sources=("$harness")
    for s in $support; do sources+=("Scripts/fuzz/support/$s.swift"); done
    local libs=()
    for m in $modules; do build_module "$m"; done
    # Link in reverse dependency order for the static archives.
    local reversed=()
    for m in $modules; do reversed=("$m" "${reversed[@]}"); done
    for m in "${reversed[@]}"; do libs+=("$mods/lib$m.a"); done
    local newest=$harness
    for s in "${sources[@]}"; do [ "$s" -nt "$newest" ] && newest=$s; done
    for m in $modules; do [ "$mods/lib$m.a" -nt "$newest" ] && newest=$mods/lib$m.a; done
    if [ ! -x "$bins/$name" ] || [ "$newest" -nt "$bins/$name" ]; then
        echo "fuzz.sh: building target $name" >&2
        swiftc "${swift_flags[@]}" -module-name "fuzz_${name//-/_}" "${sources[@]}" "${libs[@]}" -lcrypto -o "$bins/$name" 2> >(grep -v "Cannot export local symbol" >&2)
    fi
}

selected=()
if [ ${#requested[@]} -eq 0 ]; then
    selected=("${targets[@]}")
else
    for want in "${requested[@]}"; do
        found=""
        for t in "${targets[@]}"; do [ "${t%%|*}" = "$want" ] && found=$t; done
        [ -n "$found" ] || { echo "fuzz.sh: unknown target $want (try --list)" >&2; exit 2; }
        selected+=("$found")
    done
fi

for t in "${selected[@]}"; do
    IFS='|' read -r name modules _ _ support <<<"$t"
    build_target "$name" "$modules" "$support"
done
[ $build_only -eq 1 ] && exit 0

failed=0
printf '%-14s %12s %9s %7s %7s %8s %8s %6s %10s\n' target executions execs/s corpus cov ft crashes leaks slowest-ms
for t in "${selected[@]}"; do
    IFS='|' read -r name modules max_len timeout _ <<<"$t"
    work=$build/corpus/$name
    mkdir -p "$work"
    seeds=Scripts/fuzz/corpus/$name
    options=(-max_len="$max_len" -timeout="$timeout" -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1
        -detect_leaks=1 -artifact_prefix="$build/artifacts/$name-" -use_value_profile=1)
    [ -n "$seconds" ] && options+=(-max_total_time="$seconds")
    [ -n "$runs" ] && options+=(-runs="$runs")
    [ -f "Scripts/fuzz/dict/$name.dict" ] && options+=(-dict="Scripts/fuzz/dict/$name.dict")
    [ "$jobs" -gt 1 ] && options+=(-fork="$jobs" -ignore_crashes=0)
    log=$build/logs/$name.log
    corpora=("$work")
    [ -d "$seeds" ] && corpora+=("$seeds")
    set +e
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 SWIFT_BACKTRACE=enable=no "$bins/$name" "${options[@]}" "${corpora[@]}" >"$log" 2>&1
    rc=$?
    set -e
    executions=$( (grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
    rate=$( (grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
    # The slowest input: libFuzzer's own figure is in whole seconds, so the corpus grown (every input that
    # found something new) is replayed one by one, which times each in milliseconds.
    slowest_s=$( (grep -oE 'stat::slowest_unit_time_sec: *[0-9]+' "$log" || true) | awk '{if ($2>m) m=$2} END {print m+0}')
    slowest=$(find "$work" "${corpora[@]:1}" -type f -print0 | SWIFT_BACKTRACE=enable=no xargs -0 -r -n 256 "$bins/$name" -runs=1 2>&1 |
        sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' | sort -n | tail -1 || true)
    slowest=$(( ${slowest:-0} > slowest_s * 1000 ? ${slowest:-0} : slowest_s * 1000 ))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    if [ "$jobs" -gt 1 ]; then
        executions=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
        elapsed=$( (grep -o 'time: [0-9]*s' "$log" || true) | tail -1 | tr -dc 0-9)
        elapsed=${elapsed:-0}
        rate=$(( executions / (elapsed > 0 ? elapsed : 1) ))
    fi
    # The region targets' planted objects, when libFuzzer ended them without their atexit handlers.
    for object in /dev/shm/hostess-fuzz-*; do
        [ -e "$object" ] || continue
        kill -0 "${object##*-}" 2>/dev/null || rm -f "$object"
    done
    corpus=$(find "$work" -type f | wc -l)
    leaks=$(grep -c 'ERROR: LeakSanitizer' "$log" || true)
    crashes=$(grep -cE 'ERROR: AddressSanitizer|ERROR: libFuzzer|Fatal error|ALARM: working on the last Unit|out-of-memory' "$log" || true)
    crashes=$(( crashes - 0 ))
    printf '%-14s %12s %9s %7s %7s %8s %8s %6s %10s\n' "$name" "$executions" "$rate" "$corpus" "${cov:-?}" "${ft:-?}" "$crashes" "$leaks" "$slowest"
    if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ] || [ "$leaks" -ne 0 ]; then
        failed=1
        echo "fuzz.sh: $name failed (exit $rc); log $log; artifacts:" >&2
        ls "$build/artifacts" | grep "^$name-" >&2 || true
        grep -m20 -E 'ERROR|SUMMARY|Fatal error|Test unit written|#[0-9]+ +in ' "$log" >&2 || true
    fi
done
exit $failed
}

main "$@"
