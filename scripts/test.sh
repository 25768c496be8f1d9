#!/usr/bin/env bash
# All of truman's tests: build, run unit and integration tests (as root, real kernel), then the
# unit tests again under AddressSanitizer + UBSan. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build-asan -DTRUMAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs" --target truman_unit_tests truman_integration_tests
# Unit tests, and the container tests (label "sanitize"): LeakSanitizer checks that creating
# and destroying containers leaks nothing in the parent.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -L 'unit|sanitize' --output-on-failure -j"$jobs")

# The request-path fuzzer (clang, libFuzzer + ASan + UBSan), bounded by TRUMAN_FUZZ_SECONDS.
tests/fuzz/run.sh

# -g1: line tables are enough for a backtrace of a failing test, and build faster than -g.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build -j"$jobs"
# The full suite last, so that its summary line is the last thing CI prints.
cd build && ctest --output-on-failure --timeout 600
