#!/usr/bin/env bash
# scale.sh: trumand with many containers running (issue 13, "with 1000 containers running").
#
#   bench/scale.sh                          # Release build in build-rel/, levels 0 100 1000
#   LEVELS="0 100 1000" N=200 IDLE_S=10 BUILD=build-rel SKIP_BUILD=1 bench/scale.sh
#   TRUMAND=/path/to/other/trumand bench/scale.sh   # the same figures for another build
#
# A private trumand (own socket, state and run directories, --default-network none). At each
# level it holds that many `sleep` containers (network none) and measures, in this order:
#   - trumand's memory: VmRSS, and Pss / USS (Private_*) from smaps_rollup; the monitors' sum;
#   - idle CPU: trumand's utime+stime over IDLE_S seconds with nothing asked of it, and the
#     monitors' together over the same seconds;
#   - each verb on its own, N times (`api_lifecycle --verbs`): create, start, inspect, delete
#     of a /bin/true container (network none) and a list of all containers; median and p99.
# Then it removes every container, waits for /v1/info's pending_cleanup to reach 0 and
# measures trumand's memory again: is it returned?
# Every figure is printed with the load average; the results are kept in
# /tmp/truman-scale-results.txt. Everything is removed at the end, ^C and failures included:
# containers through the API (their monitors tear down cgroups and namespaces), then trumand,
# then anything left with our directories in its command line, by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
LEVELS=${LEVELS:-"0 100 1000"}
N=${N:-200}
IDLE_S=${IDLE_S:-10}
HOLD_CMD=${HOLD_CMD:-"sleep 36000"}

[ "$(id -u)" = 0 ] || { echo "scale.sh: needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/truman-scale.XXXXXX)
RUN=$(mktemp -d /run/ts.XXXXXX)
SOCK=$RUN/truman.sock
STATE=$WORK/state
RESULTS=$WORK/results.txt
TRUMAND_PID=
: >"$RESULTS"
TRUMAND=${TRUMAND:-$BUILD/bin/trumand}
API="$BUILD/bin/api_lifecycle --socket $SOCK"

log() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Our processes only: found by our unique directories in their command line.
our_pids() {  # [WORD]: those whose command line also has WORD
    ps -eo pid=,args= | grep -F -- "$STATE" | grep -F -- "${1:-}" | awk '{print $1}' || true
}

start_trumand() {
    "$TRUMAND" --socket "$SOCK" --state-dir "$STATE" --run-dir "$RUN/run" \
        --log-level "${TRUMAND_LOG_LEVEL:-warn}" --default-network none ${TRUMAND_ARGS:-} \
        2>>"$WORK/trumand.log" &
    TRUMAND_PID=$!
    for _ in $(seq 200); do
        [ -S "$SOCK" ] && return 0
        kill -0 "$TRUMAND_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "trumand did not come up:" >&2
    cat "$WORK/trumand.log" >&2
    return 1
}

stop_trumand() {
    [ -n "$TRUMAND_PID" ] || return 0
    kill -TERM "$TRUMAND_PID" 2>/dev/null || true
    wait "$TRUMAND_PID" 2>/dev/null || true
    TRUMAND_PID=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +eu
    if [ -d "$STATE" ]; then
        if [ -z "$TRUMAND_PID" ] || ! kill -0 "$TRUMAND_PID" 2>/dev/null; then
            TRUMAND_PID=
            start_trumand >/dev/null 2>&1
        fi
        [ -n "$TRUMAND_PID" ] && "$API" --remove-all >/dev/null 2>&1
        stop_trumand
    fi
    for p in $(our_pids) $(ps -eo pid=,args= | grep -F -- "$RUN" | awk '{print $1}'); do
        [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null
    done
    if grep -qF -e "$WORK" -e "$RUN" /proc/self/mountinfo; then
        echo "scale.sh: mounts left under $WORK or $RUN, not removing them:" >&2
        grep -F -e "$WORK" -e "$RUN" /proc/self/mountinfo >&2
    else
        [ -s "$RESULTS" ] && cp "$RESULTS" "${RESULTS_COPY:-/tmp/truman-scale-results.txt}"
        rm -rf "$WORK" "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${SKIP_BUILD:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"${JOBS:-2}" --target trumand truman-monitor api_lifecycle >/dev/null
fi

# --- limits ----------------------------------------------------------------------------------
# trumand keeps one pidfd per live monitor and a connection per client; the shell's limit
# is what it inherits. Each container is 2 processes (monitor, sleep) against pid_max; each
# makes one v1 cgroup directory per hierarchy; trumand has one inotify instance in all.
top=${LEVELS##* }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ $((top * 3 + 2000)) -gt "$pid_max" ]; then
    echo "scale.sh: kernel.pid_max $pid_max is too low for $top containers" >&2
    exit 1
fi

mem_of() {  # PID -> "rss pss uss" in KiB
    awk '/^VmRSS/ {print $2}' "/proc/$1/status" | tr '\n' ' '
    awk '/^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2} END {print p, u}' "/proc/$1/smaps_rollup"
}
monitors_mem() {  # "count pss uss" summed over our monitors, in one awk
    local files=()
    for p in $(our_pids truman-monitor); do files+=("/proc/$p/smaps_rollup"); done
    [ ${#files[@]} -gt 0 ] || { echo "0 0 0"; return; }
    awk 'FNR == 1 {n++} /^Pss:/ {p += $2} /^Private_(Clean|Dirty):/ {u += $2}
         END {print n, p, u}' "${files[@]}" 2>/dev/null
}
ticks() {  # PID... -> utime+stime summed, clock ticks
    local p t=0 a
    for p in "$@"; do
        a=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
        t=$((t + ${a:-0}))
    done
    echo "$t"
}
pending_cleanup() {
    curl -s --unix-socket "$SOCK" http://localhost/v1/info | sed -n 's/.*"pending_cleanup":\([0-9]*\).*/\1/p'
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

start_trumand
HZ=$(getconf CLK_TCK)
log "truman at scale, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), $TRUMAND"
log "levels: $LEVELS running '$HOLD_CMD' (network none); $N samples per verb; idle CPU over $IDLE_S s"
log "limits: open files $(ulimit -n), pid_max $pid_max, inotify instances $(cat /proc/sys/fs/inotify/max_user_instances)"
log "load average at start: $(load)"

running=0
for level in $LEVELS; do
    if [ "$level" -gt "$running" ]; then
        l0=$(load)
        $API --hold $((level - running)) --network none $(printf -- '--cmd %s ' $HOLD_CMD) |
            sed 's/^/   /' | tee -a "$RESULTS"
        running=$level
        log "   (load $l0 -> $(load))"
        sleep 2
    fi
    log ""
    log "== $level running"
    read -r rss pss uss < <(mem_of "$TRUMAND_PID")
    read -r mn mpss muss < <(monitors_mem)
    log "$(printf '   trumand RSS %s MiB, PSS %s, USS %s; %d monitors PSS %s MiB, USS %s  (load %s)' \
        "$(mib "$rss")" "$(mib "$pss")" "$(mib "$uss")" "$mn" "$(mib "$mpss")" "$(mib "$muss")" "$(load)")"
    mapfile -t monitors < <(our_pids truman-monitor)
    t0=$(ticks "$TRUMAND_PID"); m0=$(ticks "${monitors[@]}")
    sleep "$IDLE_S"
    t1=$(ticks "$TRUMAND_PID"); m1=$(ticks "${monitors[@]}")
    log "$(awk -v t=$((t1 - t0)) -v m=$((m1 - m0)) -v hz="$HZ" -v s="$IDLE_S" -v l="$(load)" 'BEGIN {
        printf "   idle CPU over %d s: trumand %.0f ms (%.2f%%), monitors together %.0f ms  (load %s)",
            s, t * 1000 / hz, t * 100 / hz / s, m * 1000 / hz, l }')"
    l0=$(load)
    $API --verbs "$N" --network none --label "$level running" \
        --samples "$WORK/verbs.$level" | sed 's/^/   /' | tee -a "$RESULTS"
    log "   (load $l0 -> $(load))"
done

log ""
l0=$(load)
$API --remove-all | sed 's/^/   /' | tee -a "$RESULTS"
for _ in $(seq 600); do
    [ "$(pending_cleanup)" = 0 ] && break
    sleep 0.1
done
sleep 3  # trumand trims its heap once removals have stopped for a moment
read -r rss pss uss < <(mem_of "$TRUMAND_PID")
log "$(printf '== all removed (pending_cleanup %s): trumand RSS %s MiB, PSS %s, USS %s  (load %s -> %s)' \
    "$(pending_cleanup)" "$(mib "$rss")" "$(mib "$pss")" "$(mib "$uss")" "$l0" "$(load)")"
log "   monitors left: $(our_pids truman-monitor | wc -l)"
