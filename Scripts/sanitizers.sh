#!/usr/bin/env bash
# Scripts/sanitizers.sh [--only thread|address|undefined] [--filter REGEX] [--skip REGEX]... [--no-build]
#
# The whole `swift test` under ThreadSanitizer and under AddressSanitizer (with LeakSanitizer), each in its own
# scratch path (.build-tsan, .build-asan), and UndefinedBehaviorSanitizer for the C targets (CShim/shim.c and the
# inline atomics of CShimAtomics.h, compiled by clang with -fsanitize=undefined,... -fno-sanitize-recover=all and
# run by Scripts/sanitizers/ubsan_cshim.c; the C reader Sources/CHostessReader is compiled with
# -fsanitize=address,undefined -fno-sanitize-recover=all by CReaderTests in every `swift test`, these two runs
# included, and its UBSan reports fail that test).
#
# Swift has no -sanitize=undefined on Linux ("unsupported option '-sanitize=undefined' for target
# 'x86_64-unknown-linux-gnu'"), so `swift build --sanitize=undefined` cannot build the package's Swift targets.
#
# Every sanitized process writes its reports to a file of its own (log_path=), in a world-writable directory
# (tests run some children as `nobody`): the test binary and every package product it starts (hostessd, hostess,
# shmdump, the beacon, the probe, the example server: built in the same scratch path, so sanitized too), whose
# stderr the tests capture. The script counts the reports in those files, by kind.
#
# Prints per sanitizer: tests run, passed, failed, skipped (with why), sanitizer reports (count, distinct kinds),
# the build's and the tests' wall time, the command. Exits 1 if any test failed or any report was written.
#
#   --only KIND     only this sanitizer (thread, address or undefined); default all three, one after the other
#   --filter REGEX  passed to `swift test --filter` (thread and address)
#   --skip REGEX    another `swift test --skip` besides the documented list below (repeatable)
#   --no-build      do not build first (the scratch path's build is current)
#   --keep-going    run the next sanitizer even when a build fails
#
# Output: .sanitizers/<kind>/{build.log,test.log,reports/} (ignored by git, under the repository).
set -uo pipefail
# Everything is in main, which bash reads whole before running it: editing this file while it runs is safe.
main() {

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

only=""
filter=""
extra_skips=()
build=1
keep_going=0
while (($#)); do
    case "$1" in
        --only) only="${2:?--only needs thread, address or undefined}"; shift 2 ;;
        --filter) filter="${2:?--filter needs a regular expression}"; shift 2 ;;
        --skip) extra_skips+=("${2:?--skip needs a regular expression}"); shift 2 ;;
        --no-build) build=0; shift ;;
        --keep-going) keep_going=1; shift ;;
        -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "sanitizers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$only" in "" | thread | address | undefined) ;; *) echo "sanitizers.sh: --only takes thread, address or undefined" >&2; exit 2 ;; esac

# Tests skipped under a sanitizer, each with its reason (a regular expression for `swift test --skip`, a tab, why).
# Keep this list minimal: a test is here only when its bound cannot hold under the sanitizer's slowdown, never
# because of a report.
# Both: an exit test that requires its child to die of SIGSEGV; the sanitizers' SEGV handler (handle_segv=1,
# which the runs keep so that any other crash is reported with its stack) reports it and exits 1 instead.
both_skips=(
    $'RegionSecurityTests/writeThroughReaderFaults\(\)\tan exit test that expects death by SIGSEGV: the sanitizer catches the SEGV, reports it and exits 1'
)
thread_skips=(
    "${both_skips[@]}"
    $'StallTests/sigstop\(\)\t1,000 entries heartbeating every 0.5 s with --ttl 2, and the silent one must be gone within ttl + 1 = 3 s of SIGCONT: one getServer to the TSan hostessd took >4 s (gone at 8.7 s)'
    $'WatchLimitTests/flood\(\)\t120,000 pipelined watches, then a register within 2 s and RSS < 200 MB: TSan\'s shadow memory alone outgrows 200 MB and the register had no reply within 10 s'
    $'RegionTests/torture\(\)\ta throughput floor (reads > 1000 in the torture\'s few seconds): 102 under TSan; its consistency checks (0 inconsistent reads) passed'
    $'RegionTests/equivalence\(\tthe 300-step workload registers entries that never heartbeat, under hostessd\'s default 15 s TTL: under TSan it outlasts the TTL, and an entry evicted between the socket\'s reply and the region\'s read differs'
    $'CLIHabitsTests/reserveAndCancel\(\)\t"endedAt ... (now)" needs the next hostess command within 1 s of the cancel: "(1 s ago)" under TSan'
    $'CReaderTests/randomWorkloads\(\tas RegionTests/equivalence: entries that never heartbeat under the default 15 s TTL, evicted between the C read and the Swift read of the same step under TSan'
    $'HostileInputTests/keysOverSocket\(\)\tthe 85,000-key line must be refused within 1 s (about 20 ms in a debug build): 4.5 s under TSan'
    $'HostileInputTests/worstCaseLines\(\tevery 1 MiB hostile line answered within 2 s (200 entries registered first): 3.8 s, and no reply within 10 s for one shape, under TSan'
    $'InboundStreamTests/writeTimeout\(\)\ta peer that does not read is closed within 4 s of a 0.3 s write timeout: 7.6 s under TSan, with up to 64 MiB of replies queued'
    $'EntryDecoderTests/linearTime\(\tas LinearParsingTests: the ratio holds, but each 1 MiB reply within 1 s: the many-entries reply took 1.2 s under TSan'
    $'LinearParsingTests/hostileDocument\(\tbesides the linearity ratio (4 times the input in at most 8 times the time, which holds), each 1 MiB document within 1 s: the long array took 1.5 s under TSan'
    $'DocumentedCTests/readSectionAndWait\(\)\tthe 4th register is sent 300 ms after the thread starts, while the test compiles (cc) and runs its C program, which must still see 3 entries: any slowdown of that compile lets it see 4'
)
address_skips=(
    "${both_skips[@]}"
    $'WatchLimitTests/flood\(\)\tRSS < 200 MB after 120,000 pipelined watches: 511 MB under ASan, whose shadow memory and quarantine (freed blocks held back) are resident too, and the register took 3.4 s (bound 2 s)'
)

suppressions="$root/Scripts/sanitizers/tsan.supp"
out="$root/.sanitizers"
status=0
summary=()

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

# The distinct kinds of the reports in directory $1: "N report(s): K1 ×n1, K2 ×n2" (or "0 reports").
count_reports() {
    local dir="$1"
    local files=("$dir"/*)
    [[ -e "${files[0]}" ]] || { echo "0 reports"; return; }
    # One report per "WARNING: ThreadSanitizer: KIND", "ERROR: AddressSanitizer: KIND", "ERROR: LeakSanitizer:
    # detected memory leaks", or "runtime error: ..." (UBSan) line.
    # A file with none of those lines (the run-time's own complaint, e.g. an unreadable suppressions file) counts
    # as one report of kind "other: FIRST LINE".
    local file
    for file in "$dir"/*; do
        grep -aqE '(WARNING|ERROR): (ThreadSanitizer|AddressSanitizer|LeakSanitizer):|runtime error:' "$file" && continue
        # The statistics of suppressions used, which a process without any other report writes at exit.
        grep -avE '^(-+|Suppressions used:|  count +bytes template| +[0-9]+ +[0-9]+ .*|ThreadSanitizer: Matched [0-9]+ suppressions.*|[0-9]+ +[^ ]+|)$' "$file" | grep -aq . ||
            continue
        echo "other: $(head -c 100 "$file" | head -1)" >>"$dir/../unclassified"
    done
    { cat "$dir"/* | grep -aoE '(WARNING|ERROR): (ThreadSanitizer|AddressSanitizer|LeakSanitizer): [A-Za-z-]+( [a-z-]+)?|runtime error: [a-z -]+' |
        sed -E 's/^(WARNING|ERROR): //; s/detected memory$/detected memory leaks/'
      [[ -f "$dir/../unclassified" ]] && cat "$dir/../unclassified"; } | sort | uniq -c | sort -rn |
        awk '{ n = $1; $1 = ""; sub(/^ /, ""); total += n; kinds = kinds (kinds ? ", " : "") $0 " ×" n }
             END { if (!total) print "0 reports"; else printf "%d report%s: %s\n", total, total == 1 ? "" : "s", kinds }'
}

# Counts from a swift test log: "run passed failed". The run is Swift Testing's closing line ("Test run with N
# tests in M suites passed|failed after …"); the failed are the distinct tests with a "✘ Test NAME failed" or
# "✘ Test NAME recorded an issue" line (a parameterized test counts once, as in the closing line).
count_tests() {
    local log="$1"
    local run failed
    run=$(grep -aoE 'Test run with [0-9]+ tests?' "$log" | tail -1 | grep -oE '[0-9]+')
    [[ -n "$run" ]] || run=0
    failed=$(grep -aoE '^(✘|􀢄) Test ".*" (failed after|recorded an issue|with [0-9]+ test cases? failed)' "$log" |
        sed -E 's/" (failed after|recorded an issue|with [0-9]+ test cases? failed)$//' | sort -u | wc -l)
    echo "$run $((run - failed)) $failed"
}

run_swift() {
    local kind="$1" scratch="$2"
    shift 2
    local skips=("$@")
    local dir="$out/$kind"
    rm -rf "$dir"
    mkdir -p "$dir/reports"
    chmod 1777 "$dir/reports"
    chmod o+x "$out" "$dir"

    local build_seconds="-"
    if ((build)); then
        echo "== $kind: swift build --build-tests --sanitize=$kind --scratch-path $scratch (log: $dir/build.log)"
        local b0=$(now)
        if ! swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" >"$dir/build.log" 2>&1; then
            tail -30 "$dir/build.log"
            echo "== $kind: BUILD FAILED"
            summary+=("$kind: build failed (see $dir/build.log)")
            status=1
            ((keep_going)) || return 1
            return 0
        fi
        build_seconds=$(elapsed "$b0" "$(now)")
    fi

    local args=(test --skip-build --sanitize="$kind" --scratch-path "$scratch")
    [[ -n "$filter" ]] && args+=(--filter "$filter")
    local skip_names=()
    local entry
    for entry in "${skips[@]}" "${extra_skips[@]}"; do
        [[ -n "$entry" ]] || continue
        args+=(--skip "${entry%%$'\t'*}")
        skip_names+=("${entry%%$'\t'*}")
    done

    local reports="$dir/reports"
    case "$kind" in
    thread)
        # halt_on_error=0: collect every report, not just the first. second_deadlock_stack: both stacks of a
        # lock-order inversion. history_size=4: older accesses' stacks survive longer (default 2). The suppressions
        # file names each false positive with why.
        export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$reports/tsan:suppressions=$suppressions"
        ;;
    address)
        # detect_leaks=1: LeakSanitizer at each sanitized process's exit (it works with Swift on Linux).
        # halt_on_error=0 needs -fsanitize-recover=address, which swift does not compile with: the first
        # ASan error ends the process, and its report is in the file.
        export ASAN_OPTIONS="detect_leaks=1:halt_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan"
        export LSAN_OPTIONS="report_objects=1:suppressions=$root/Scripts/sanitizers/lsan.supp"
        ;;
    esac
    echo "== $kind: swift ${args[*]} (log: $dir/test.log)"
    local t0=$(now)
    swift "${args[@]}" >"$dir/test.log" 2>&1
    local rc=$?
    local test_seconds=$(elapsed "$t0" "$(now)")
    unset TSAN_OPTIONS ASAN_OPTIONS LSAN_OPTIONS

    read -r run passed failed < <(count_tests "$dir/test.log")
    local found
    found=$(count_reports "$reports")
    # Reports the suppressions files silenced (by process exit statistics), for the summary.
    local suppressed
    suppressed=$(cat "$reports"/* 2>/dev/null | awk '/^Suppressions used:/ { s = 1; next } /^ThreadSanitizer: Matched/ { s = 2; next }
        s == 1 && $1 ~ /^[0-9]+$/ { n += $1 } s == 2 && $1 ~ /^[0-9]+$/ { n += $1 } /^-+$/ { s = 0 } END { print n + 0 }')

    local line="$kind: $run tests run, $passed passed, $failed failed, ${#skip_names[@]} skipped; $found ($suppressed suppressed); build ${build_seconds} s, tests ${test_seconds} s (swift test exit $rc)"
    echo "== $line"
    if ((failed > 0)); then
        grep -aoE '^(✘|􀢄) Test .* (failed after|recorded an issue at [^ ]+)' "$dir/test.log" | cut -c1-220 | sort -u | sed 's/^/   /' | head -40
    fi
    if ((rc != 0 && failed == 0)); then
        echo "   swift test exited $rc with no failed test counted (a crash, or a sanitizer's exit code): tail of $dir/test.log"
        tail -15 "$dir/test.log" | sed 's/^/   /'
    fi
    for entry in "${skips[@]}"; do
        [[ -n "$entry" ]] && echo "   skipped ${entry%%$'\t'*}: ${entry#*$'\t'}"
    done
    summary+=("$line")
    if ((rc != 0 || failed > 0)) || [[ "$found" != "0 reports" ]]; then status=1; fi
}

run_undefined() {
    local dir="$out/undefined"
    rm -rf "$dir"
    mkdir -p "$dir/reports"
    local clang=/opt/swift/usr/bin/clang
    [[ -x "$clang" ]] || clang=$(command -v clang) || { echo "== undefined: no clang"; summary+=("undefined: no clang"); status=1; return; }
    # undefined: every UB check clang has; integer: also unsigned wrap-around and implicit truncations (not
    # undefined in C, but never intended in the shim); nullability: _Nonnull violations. No recovery: the first
    # report aborts the driver.
    local flags=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer
        -fsanitize=undefined,float-divide-by-zero,integer,nullability,implicit-conversion -fno-sanitize-recover=all)
    local cmd=("$clang" "${flags[@]}" -ICShim/include CShim/shim.c Scripts/sanitizers/ubsan_cshim.c -lcrypto -o "$dir/ubsan_cshim")
    echo "== undefined: ${cmd[*]}"
    local t0=$(now)
    if ! "${cmd[@]}" >"$dir/build.log" 2>&1; then
        cat "$dir/build.log"
        summary+=("undefined: build failed (see $dir/build.log)")
        status=1
        return
    fi
    # The C reader also compiles cleanly with these flags (its runtime coverage is CReaderTests' driver).
    "$clang" "${flags[@]}" -ISources/CHostessReader/include -c Sources/CHostessReader/hostess_reader.c -o "$dir/hostess_reader.o" >>"$dir/build.log" 2>&1 ||
        { cat "$dir/build.log"; summary+=("undefined: hostess_reader.c does not compile with ${flags[*]}"); status=1; }
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$dir/reports/ubsan" "$dir/ubsan_cshim" >"$dir/test.log" 2>&1
    local rc=$?
    local seconds=$(elapsed "$t0" "$(now)")
    local found
    found=$(count_reports "$dir/reports")
    local line="undefined (C targets): ubsan_cshim exit $rc ($(tail -1 "$dir/test.log")); $found; ${seconds} s"
    echo "== $line"
    summary+=("$line")
    if ((rc != 0)) || [[ "$found" != "0 reports" ]]; then status=1; cat "$dir/test.log"; cat "$dir"/reports/* 2>/dev/null | head -40; fi
}

mkdir -p "$out"
if [[ -z "$only" || "$only" == thread ]]; then run_swift thread .build-tsan "${thread_skips[@]}" || { ((keep_going)) || only=stop; }; fi
if [[ -z "$only" || "$only" == address ]]; then run_swift address .build-asan "${address_skips[@]}"; fi
if [[ -z "$only" || "$only" == undefined ]]; then run_undefined; fi

echo
echo "== sanitizers: summary"
for line in "${summary[@]}"; do echo "   $line"; done
echo "   reports: $out/<kind>/reports/ (one file per reporting process); logs: $out/<kind>/{build,test}.log"
exit $status
}

main "$@"
