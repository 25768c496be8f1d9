#!/bin/bash
# bench/trace-lifecycle.sh [N] [api_lifecycle options...]: where the time of a lifecycle goes.
# Records kernel tracepoints (process fork/exec/exit, sched_switch, syscalls) system-wide with
# perf while api_lifecycle runs N lifecycles against a private trumand, then prints per-phase
# medians, fsyncs and CPU / run-queue / blocked time per process (bench/trace_lifecycle.py).
# Tracing costs a little per syscall: use it for the split, run-all.sh for the figures.
# trumand runs with --default-network none, so the machine's own namespace never gets truman's
# bridge; BRIDGE=1 runs it instead with the default bridge inside a network namespace of this
# script's own (removed at the end), to split a lifecycle on the bridge:
#   BRIDGE=1 bench/trace-lifecycle.sh 20                  # on the default bridge
#   BRIDGE=1 bench/trace-lifecycle.sh 20 --network none   # the same daemon, loopback only
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
N=${1:-20}
shift || true
[ "$(id -u)" = 0 ] || { echo "trace-lifecycle.sh: needs root" >&2; exit 1; }
command -v perf >/dev/null || { echo "trace-lifecycle.sh: needs perf (linux-perf)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/truman-trace.XXXXXX)
RUN=$(mktemp -d /run/tt.XXXXXX)
PID=
NS=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$PID" ]; then
        "$BUILD/bin/api_lifecycle" --socket "$RUN/s" --remove-all >/dev/null 2>&1
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    [ -n "$NS" ] && ip netns del "$NS"
    rm -rf "$WORK" "$RUN"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cmake --build "$BUILD" -j2 --target trumand truman-monitor api_lifecycle >/dev/null
IN_NS=()
DEFAULT_NETWORK=none
if [ -n "${BRIDGE:-}" ]; then
    NS=tmtrace$$
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    IN_NS=(nsenter "--net=/run/netns/$NS")
    DEFAULT_NETWORK=truman
fi
"${IN_NS[@]}" "$BUILD/bin/trumand" --socket "$RUN/s" --state-dir "$WORK/state" \
    --run-dir "$RUN/run" --log-level warn --default-network "$DEFAULT_NETWORK" \
    2>"$WORK/trumand.log" &
PID=$!
for _ in $(seq 100); do [ -S "$RUN/s" ] && break; sleep 0.05; done
"$BUILD/bin/api_lifecycle" --socket "$RUN/s" -n 3 -w 0 "$@" >/dev/null  # warm caches
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -a -o "$WORK/perf.data" \
    -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit \
    -e sched:sched_process_fork -e sched:sched_process_exec -e sched:sched_process_exit \
    -e sched:sched_switch -- "$BUILD/bin/api_lifecycle" --socket "$RUN/s" -n "$N" -w 0 "$@"
perf script -i "$WORK/perf.data" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null >"$WORK/perf.txt"
python3 "$ROOT/bench/trace_lifecycle.py" "$WORK/perf.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
