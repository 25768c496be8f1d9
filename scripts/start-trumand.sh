#!/usr/bin/env bash
# The README's main command: install what truman needs, build it (Release), and run trumand in
# the foreground on /run/truman.sock. The default image, busybox, is made on its first start.
# Extra arguments go to trumand (e.g. --socket /tmp/t.sock --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$(nproc)" --target trumand truman-monitor trumanctl
echo "trumand starting; from another shell: export PATH=$PWD/build-release/bin:\$PATH; trumanctl run --rm busybox echo hello" >&2
exec build-release/bin/trumand "$@"
