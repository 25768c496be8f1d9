#!/usr/bin/env bash
# truman's habits, checked: every source formatted with the checked-in .clang-format (Debian's
# clang-format 14) and clean under the checked-in .clang-tidy (clang-tidy 14: bugprone-*,
# performance-*, concurrency-*, warnings as errors). Exits non-zero on the first finding.
#   scripts/lint.sh          check both
#   scripts/lint.sh --fix    reformat in place, then run clang-tidy
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format-14 -i "${sources[@]}"
else
  clang-format-14 --dry-run -Werror "${sources[@]}"
fi
echo "lint: ${#sources[@]} files formatted"
# clang-tidy needs the compile commands; configuring (not building) a tree writes them.
cmake -S . -B build-lint -DCMAKE_BUILD_TYPE=Debug >/dev/null
# GCC-only warning flags in the commands mean nothing to clang: not a finding.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run-clang-tidy-14 -p build-lint -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option \
  "$(pwd)/(core|daemon|api|client|cmd)/.*\.cpp$" >"$log" 2>&1 || status=$?
grep -E 'error:|warning:' "$log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u || true
if [ "$status" -ne 0 ]; then
  echo "lint: clang-tidy found problems (above)" >&2
  exit "$status"
fi
echo "lint: clang-tidy clean"
