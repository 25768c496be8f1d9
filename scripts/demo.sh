#!/usr/bin/env bash
# The README's first command: install what truman needs, build it, and run one fully isolated
# container from a fresh busybox root filesystem that prints what it sees.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target truman-demo
exec build/bin/truman-demo
