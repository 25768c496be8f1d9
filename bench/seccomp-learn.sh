#!/bin/bash
# bench/seccomp-learn.sh [N] [ROUNDS]: the cost of seccomp learning mode per system call.
# Runs bench/payload/syscall_loop.c (N getppid calls, then N one-byte reads, timed inside the
# container) in containers under the default profile and under "seccomp": {"learn": true},
# alternating, ROUNDS times each, against a private trumand; prints each run's ns per call.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
N=${1:-200000}
ROUNDS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "seccomp-learn.sh: needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/truman-learn.XXXXXX)
RUN=$(mktemp -d /run/tl.XXXXXX)
PID=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK" "$RUN"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -n "${SKIP_BUILD:-}" ] || cmake --build "$BUILD" -j2 --target trumand truman-monitor trumanctl >/dev/null
mkdir -p "$WORK/root/bin" "$WORK/root/dev" "$WORK/root/proc" "$WORK/root/tmp"
gcc -O2 -static -o "$WORK/root/bin/syscall_loop" "$ROOT/bench/payload/syscall_loop.c"
"$BUILD/bin/trumand" --socket "$RUN/s" --state-dir "$WORK/state" --run-dir "$RUN/run" \
    --log-level warn --default-network none 2>"$WORK/trumand.log" &
PID=$!
for _ in $(seq 100); do [ -S "$RUN/s" ] && break; sleep 0.05; done

# One container: create through the API (trumanctl has no run for a bare rootfs), start, wait,
# print its output, delete.
once() {
    local seccomp=$1 id
    id=$(curl -sS --unix-socket "$RUN/s" -H 'Content-Type: application/json' \
        -d "{\"rootfs\":\"$WORK/root\",\"cmd\":[\"/bin/syscall_loop\",\"$N\"],\"network\":\"none\",\"seccomp\":$seccomp}" \
        http://t/v1/containers | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
    curl -sS --unix-socket "$RUN/s" -X POST "http://t/v1/containers/$id/start" >/dev/null
    curl -sS --unix-socket "$RUN/s" -X POST "http://t/v1/containers/$id/wait" >/dev/null
    "$BUILD/bin/trumanctl" --socket "$RUN/s" logs "$id"
    curl -sS --unix-socket "$RUN/s" -X DELETE "http://t/v1/containers/$id" >/dev/null
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); N=$N per call kind"
for r in $(seq "$ROUNDS"); do
    echo "default  $(once '"default"')"
    echo "learn    $(once '{"learn":true}')"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
