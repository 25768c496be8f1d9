#!/usr/bin/env bash
# Build the request-path fuzzer with clang (libFuzzer + ASan + UBSan) and run it for a bounded
# time from the checked-in seed corpus. Exits non-zero on any crash, sanitizer report or leak.
#   TRUMAN_FUZZ_SECONDS  how long to fuzz (default 60; 0 only builds and replays the corpus)
#   TRUMAN_FUZZ_BUILD    build directory (default build-fuzz at the repository root)
# New inputs found go to a scratch corpus in the build directory, not into the repository;
# copy interesting ones into tests/fuzz/corpus/ by hand. A crash leaves crash-<sha1> in the
# build directory: reproduce with  build-fuzz/truman_fuzz_request <that file>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${TRUMAN_FUZZ_BUILD:-$root/build-fuzz}
seconds=${TRUMAN_FUZZ_SECONDS:-60}

CXX=${FUZZ_CXX:-clang++} cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

fuzzer=$build/truman_fuzz_request
scratch=$build/corpus
mkdir -p "$scratch"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

log=$build/fuzz.log
# Run one fuzzer invocation from the build dir (crash files land there); on failure print
# its whole report, else only its summary.
fuzz() {
    if ! (cd "$build" && "$fuzzer" "$@") >"$log" 2>&1; then
        cat "$log"
        echo "fuzz: FAILED (inputs that crashed: $build/crash-*)" >&2
        exit 1
    fi
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|INFO: seed corpus)' \
        "$log" || true
}

# Every seed once: a regression in a known input fails fast with its name.
fuzz -runs=0 "$here/corpus"
if [ "$seconds" -gt 0 ]; then
    # -timeout catches hangs; a 1 MiB body cap means no input should need much memory.
    fuzz -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$scratch" "$here/corpus"
fi
echo "fuzz: request path fuzzed for ${seconds} s, no crash"
