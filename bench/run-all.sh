#!/bin/bash
# bench/run-all.sh: every truman benchmark in one go, beside `crun run`, `runc run` and the
# kernel's floor (shared/bench/limit.c), measured alternately (truman batch, crun batch, runc
# batch, floor batch, repeated), with the load average next to every figure. Root only.
#
#   bench/run-all.sh                    # everything (about 5 minutes on 2 idle cores)
#   N=200 ROUNDS=4 bench/run-all.sh     # lifecycles per variant, split into ROUNDS batches
#   ONLY="latency throughput footprint floor core exec" bench/run-all.sh   # a subset
#   TRUMAND_ARGS="--worker-threads 16" bench/run-all.sh              # extra trumand flags
#
# Installs runc and crun from Debian if missing, builds the Release targets into build-rel/,
# starts a private trumand (own socket, state and run directories) and leaves nothing behind:
# containers, monitors, cgroups, runc/crun state and the daemon are cleaned up on exit, ^C
# included.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
N=${N:-200}
ROUNDS=${ROUNDS:-4}
TPUT_N=${TPUT_N:-96}      # lifecycles per throughput batch (6 per client at 16 clients)
TPUT_ROUNDS=${TPUT_ROUNDS:-2}
FLOOR_N=${FLOOR_N:-500}   # limit.c runs per batch (it is fast)
HOLD=${HOLD:-"100 500"}   # running containers for the footprint
ONLY=${ONLY:-"latency throughput footprint floor core exec"}
EXEC_N=${EXEC_N:-200}     # execs of /bin/true per runtime
LIMIT_C=${LIMIT_C:-/work/shared/bench/limit.c}

[ "$(id -u)" = 0 ] || { echo "run-all.sh: needs root" >&2; exit 1; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

# --- state of this run, all of it private --------------------------------------------------
WORK=$(mktemp -d /tmp/truman-bench.XXXXXX)
# On a tmpfs, like the default /run/truman (the monitor's control sockets live there).
RUN=$(mktemp -d /run/tb.XXXXXX)
SOCK=$RUN/truman.sock
STATE=$WORK/state
TRUMAND_PID=
LIMIT_PIDS=()
CORE_PIDS=()
RESULTS=$WORK/results.txt
: >"$RESULTS"

log() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Only our own processes are ever killed: found by our unique directories in their command
# line, killed by PID.
pids_mentioning() {
    local dir=$1 p
    for p in /proc/[0-9]*; do
        { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir" && echo "${p#/proc/}"
    done
    return 0
}

start_trumand() {
    "$BUILD/bin/trumand" --socket "$SOCK" --state-dir "$STATE" --run-dir "$RUN/run" \
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
    set +e
    # Containers outlive trumand: remove them through the API (a restarted daemon finds any
    # it lost), so that their monitors destroy cgroups and namespaces properly.
    if [ -d "$STATE" ]; then
        if [ -z "$TRUMAND_PID" ] || ! kill -0 "$TRUMAND_PID" 2>/dev/null; then
            TRUMAND_PID=
            [ -x "$BUILD/bin/trumand" ] && start_trumand >/dev/null 2>&1
        fi
        [ -n "$TRUMAND_PID" ] && "$BUILD/bin/api_lifecycle" --socket "$SOCK" --remove-all >/dev/null 2>&1
        stop_trumand
    fi
    # runc and crun containers of an interrupted batch (their state is under $RUN).
    for id in $(runc --root "$RUN/runc" list -q 2>/dev/null); do
        runc --root "$RUN/runc" delete -f "$id" >/dev/null 2>&1
    done
    for id in $(crun --root "$RUN/crun" list -q 2>/dev/null); do
        unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; crun --root '$RUN/crun' delete -f '$id'" >/dev/null 2>&1
    done
    # Anything still running with our directories in its command line (a monitor whose
    # daemon could not be restarted, a spawn_loop, a runtime).
    for dir in "$STATE" "$RUN"; do
        for p in $(pids_mentioning "$dir"); do [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null; done
    done
    # limit.c removes its cgroups itself unless it was interrupted.
    for p in "${LIMIT_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
        for d in /sys/fs/cgroup/*/limit-"$p"-*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    done
    # core_lifecycle's containers are named b<its pid>-<n>, under its parent cgroup truman-bench.
    for p in "${CORE_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
        for d in /sys/fs/cgroup/*/truman-bench/b"$p"-*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    done
    for d in /sys/fs/cgroup/*/truman-bench; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    # The image and container trees hold no mounts (overlays live in the containers' own
    # mount namespaces), but check before removing anything.
    if grep -qF -e "$WORK" -e "$RUN" /proc/self/mountinfo; then
        echo "run-all.sh: mounts left under $WORK or $RUN, not removing them:" >&2
        grep -F -e "$WORK" -e "$RUN" /proc/self/mountinfo >&2
    else
        [ -s "$RESULTS" ] && cp "$RESULTS" "${RESULTS_COPY:-/tmp/truman-bench-results.txt}"
        rm -rf "$WORK" "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
# bash runs a trap only once the foreground command is done: long steps run in the
# background (run_bg) so that ^C or SIGTERM stops them at once.
CHILD=
run_bg() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}
trap '[ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null; exit 130' INT TERM

# --- tools and build -------------------------------------------------------------------------
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v crun >/dev/null || missing+=(crun)
command -v gcc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target trumand truman-monitor core_lifecycle api_lifecycle api_exec spawn_loop >/dev/null
gcc -O2 -Wall -o "$WORK/limit" "$LIMIT_C"
API="$BUILD/bin/api_lifecycle --socket $SOCK"
SPAWN=$BUILD/bin/spawn_loop

start_trumand
# The built-in busybox image, made by trumand at start-up: one layer in the image store.
IMAGE=
for layer in "$STATE"/images/layers/*/diff; do
    [ -x "$layer/bin/true" ] && IMAGE=$layer && break
done
[ -n "$IMAGE" ] || { echo "no busybox image layer in $STATE/images/layers" >&2; exit 1; }

# The OCI bundle for runc and crun: `runc spec`, /bin/true, no terminal, the same busybox
# tree as truman's image (read-only, as runc's default), namespaces pid ipc uts mount network.
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE"
(cd "$BUNDLE" && runc spec)
python3 - "$BUNDLE/config.json" "$IMAGE" <<'EOF'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["root"] = {"path": rootfs, "readonly": True}
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]
json.dump(c, open(path, "w"), indent=2)
EOF
RUNC="runc --root $RUN/runc run --bundle $BUNDLE tb-{}"
# Hybrid cgroups: crun would use the controller-less cgroup2 at /sys/fs/cgroup/unified and
# fail; in a private mount namespace without it, crun uses the v1 controllers like runc.
CRUN_SH="umount /sys/fs/cgroup/unified && exec \"\$@\""
CRUN_LOOP=(unshare -m sh -c "$CRUN_SH" sh "$SPAWN")
CRUN="crun --root $RUN/crun run --bundle $BUNDLE tb-{}"

run_limit() {  # limit.c on truman's busybox image; its PID is kept to clean its cgroups
    "$WORK/limit" -r "$IMAGE" "$@" &
    CHILD=$!
    LIMIT_PIDS+=("$CHILD")
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}
stats() {  # FILE [COLUMN] -> "median p99 count"
    awk -v c="${2:-1}" '{print $c}' "$1" | sort -g |
        awk '{a[NR]=$1} END {printf "%.2f %.2f %d\n", a[int(.5*(NR-1)+.5)+1], a[int(.99*(NR-1)+.5)+1], NR}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
field() { sed -n "s/.*$1  *\([0-9.]*\).*/\1/p"; }  # the number after a word in a result line

log "truman benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)"
log "trumand $BUILD/bin/trumand (Release), $(runc --version | head -1), $(crun --version | head -1)"
log "load average at start: $(load)"

# --- footprint of the idle daemon (first: nothing has run yet) ---------------------------------
mem_of() {  # PID -> "rss pss uss" in KiB (uss: pages only this process maps)
    awk '/^VmRSS/ {print $2}' "/proc/$1/status" | tr '\n' ' '
    awk '/^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2} END {print p, u}' "/proc/$1/smaps_rollup"
}
monitors_mem() {  # sum over our monitors: "count rss pss uss"
    local n=0 rss=0 pss=0 uss=0 p r s u
    for p in $(pids_mentioning "$STATE/containers"); do
        { grep -q truman-monitor "/proc/$p/cmdline"; } 2>/dev/null || continue
        read -r r s u < <(mem_of "$p" 2>/dev/null) || continue
        [ -n "$u" ] || continue
        n=$((n + 1)); rss=$((rss + r)); pss=$((pss + s)); uss=$((uss + u))
    done
    echo "$n $rss $pss $uss"
}
if wants footprint; then
    sleep 1
    read -r IDLE_RSS IDLE_PSS IDLE_USS < <(mem_of "$TRUMAND_PID")
    log ""
    log "== footprint: idle trumand: RSS $IDLE_RSS KiB, PSS $IDLE_PSS KiB, USS $IDLE_USS KiB  (load $(load))"
fi

# --- lifecycle latency, interleaved ------------------------------------------------------------
if wants latency; then
    per=$((N / ROUNDS))
    log ""
    log "== lifecycle latency of /bin/true, $N per variant in $ROUNDS interleaved batches of $per"
    for r in $(seq "$ROUNDS"); do
        l0=$(load)
        run_bg $API -n "$per" --samples "$WORK/lat.default" >/dev/null
        run_bg $API -n "$per" --network none --samples "$WORK/lat.none" >/dev/null
        run_bg "${CRUN_LOOP[@]}" -n "$per" --samples "$WORK/lat.crun" -- $CRUN >/dev/null
        run_bg $SPAWN -n "$per" --samples "$WORK/lat.runc" -- $RUNC >/dev/null
        echo "   batch $r/$ROUNDS done (load $l0 -> $(load))" | tee -a "$RESULTS"
    done
    read -r d_med d_p99 _ < <(stats "$WORK/lat.default")
    read -r z_med z_p99 _ < <(stats "$WORK/lat.none")
    read -r c_med c_p99 _ < <(stats "$WORK/lat.crun")
    read -r r_med r_p99 _ < <(stats "$WORK/lat.runc")
    log "$(printf '%-36s median %7s ms  p99 %7s ms' 'truman API, default isolation' "$d_med" "$d_p99")"
    log "$(printf '%-36s median %7s ms  p99 %7s ms' 'truman API, network none' "$z_med" "$z_p99")"
    log "$(printf '%-36s median %7s ms  p99 %7s ms' 'crun run' "$c_med" "$c_p99")"
    log "$(printf '%-36s median %7s ms  p99 %7s ms' 'runc run' "$r_med" "$r_p99")"
    log "   truman/crun: default $(ratio "$d_med" "$c_med"), none $(ratio "$z_med" "$c_med")   (target <= 0.40)"
    log "   truman/runc: default $(ratio "$d_med" "$r_med"), none $(ratio "$z_med" "$r_med")"
    for v in default none; do
        read -r cm _ < <(stats "$WORK/lat.$v" 2)
        read -r sm _ < <(stats "$WORK/lat.$v" 3)
        read -r wm _ < <(stats "$WORK/lat.$v" 4)
        read -r xm _ < <(stats "$WORK/lat.$v" 5)
        log "   per-step medians ($v): create $cm  start $sm  wait $wm  delete $xm ms"
    done
    log "   load average after: $(load)"
    LAT_DEFAULT=$d_med LAT_NONE=$z_med
fi

# --- the floor ---------------------------------------------------------------------------------
if wants floor; then
    log ""
    log "== the floor (limit.c, n=$FLOOR_N per batch), interleaved with truman (network none), load $(load)"
    : >"$WORK/floor.txt"
    for r in $(seq "$ROUNDS"); do
        run_bg $API -n $((N / ROUNDS)) --network none --samples "$WORK/floor.truman" >/dev/null
        run_limit -n "$FLOOR_N" -q -N -M -G v1 -P >>"$WORK/floor.txt"
        run_limit -n "$FLOOR_N" -q -N -M -G v1 >>"$WORK/floor.txt"
        run_limit -n "$FLOOR_N" -q -N >>"$WORK/floor.txt"
    done
    read -r t_med _ < <(stats "$WORK/floor.truman")
    # The median of the batch medians (limit.c prints one per batch).
    fl() { grep -F -- "$1" "$WORK/floor.txt" | grep -v -- "${2:-@@}" | field median | sort -g |
        awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] / 1000}'; }
    f_mon=$(fl "monitor> pid+mnt+uts+ipc+net cgroup-v1x10 oci-mounts")
    f_oci=$(fl "pid+mnt+uts+ipc+net cgroup-v1x10 oci-mounts" "monitor>")
    f_net=$(fl "pid+mnt+uts+ipc+net " "oci-mounts")
    log "   floor pid+mnt+uts+ipc+net:                          median $f_net ms"
    log "   floor + OCI mounts + v1 cgroups:                     median $f_oci ms"
    log "   floor + OCI mounts + v1 cgroups through a monitor:   median $f_mon ms"
    log "   truman API, network none (same batches):           median $t_med ms"
    log "   truman/floor(monitor) $(ratio "$t_med" "$f_mon")   (target <= 2.0), load $(load)"
fi

# --- throughput, interleaved -------------------------------------------------------------------
if wants throughput; then
    log ""
    log "== throughput: /bin/true lifecycles completed per second, $TPUT_N per batch, $TPUT_ROUNDS interleaved rounds"
    for c in 1 4 16; do
        l0=$(load)
        for kind in truman crun runc floor; do : >"$WORK/tput.$kind.$c"; done
        for r in $(seq "$TPUT_ROUNDS"); do
            run_bg $API -n "$TPUT_N" -c "$c" -w 2 >"$WORK/out"
            sed -n 's/.* \([0-9.]*\) containers\/s/\1/p' "$WORK/out" >>"$WORK/tput.truman.$c"
            run_bg "${CRUN_LOOP[@]}" -n "$TPUT_N" -c "$c" -- $CRUN >"$WORK/out"
            sed -n 's/.* \([0-9.]*\) runs\/s/\1/p' "$WORK/out" >>"$WORK/tput.crun.$c"
            run_bg $SPAWN -n "$TPUT_N" -c "$c" -- $RUNC >"$WORK/out"
            sed -n 's/.* \([0-9.]*\) runs\/s/\1/p' "$WORK/out" >>"$WORK/tput.runc.$c"
            run_limit -n $((TPUT_N * 2)) -c "$c" -q -N -M -G v1 -P >"$WORK/out"
            sed -n 's/.*=> *\([0-9.]*\) containers\/s.*/\1/p' "$WORK/out" >>"$WORK/tput.floor.$c"
        done
        # Equal-size batches: the pooled rate is the harmonic mean of the batch rates.
        hm() { awk '{s += 1/$1; n++} END {printf "%.1f", n/s}' "$1"; }
        t=$(hm "$WORK/tput.truman.$c"); cr=$(hm "$WORK/tput.crun.$c"); rr=$(hm "$WORK/tput.runc.$c"); fr=$(hm "$WORK/tput.floor.$c")
        log "$(printf '   %2d at once: truman %7s/s  crun %7s/s  runc %7s/s  floor(monitor) %7s/s   truman/crun %s  truman/runc %s  (load %s -> %s)' \
            "$c" "$t" "$cr" "$rr" "$fr" "$(ratio "$t" "$cr")" "$(ratio "$t" "$rr")" "$l0" "$(load)")"
    done
    log "   target: truman/crun >= 2.0 at 16 at once"
fi

# --- footprint with running containers ---------------------------------------------------------
if wants footprint; then
    log ""
    log "== footprint with running 'sleep 1000' containers (default isolation)"
    running=0
    declare -A FP
    mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
    for h in $HOLD; do
        run_bg $API --hold $((h - running)) >/dev/null
        running=$h
        sleep 2
        read -r drss dpss duss < <(mem_of "$TRUMAND_PID")
        read -r mn mrss mpss muss < <(monitors_mem)
        log "$(printf '   %3d running: trumand RSS %s PSS %s USS %s MiB; %d monitors RSS %s PSS %s USS %s MiB (each RSS %d PSS %d USS %d KiB)  (load %s)' \
            "$h" "$(mib "$drss")" "$(mib "$dpss")" "$(mib "$duss")" "$mn" "$(mib "$mrss")" "$(mib "$mpss")" "$(mib "$muss")" \
            $((mrss / mn)) $((mpss / mn)) $((muss / mn)) "$(load)")"
        FP[$h]="$drss $dpss $duss $mrss $mpss $muss"
    done
    set -- $HOLD
    lo=$1 hi=${!#}
    read -r a1 a2 a3 a4 a5 a6 <<<"${FP[$lo]}"
    read -r b1 b2 b3 b4 b5 b6 <<<"${FP[$hi]}"
    d=$((hi - lo))
    log "   per running container (trumand's growth + one monitor, $lo -> $hi): RSS $(( (b1 + b4 - a1 - a4) / d )) KiB, PSS $(( (b2 + b5 - a2 - a5) / d )) KiB, USS $(( (b3 + b6 - a3 - a6) / d )) KiB   (target < 2048 KiB)"
    log "   (RSS counts the shared libraries' pages once per monitor; PSS splits them; USS is what one more monitor adds)"
    log "   trumand idle: RSS $IDLE_RSS KiB   (target < 10240 KiB)"
    $API --remove-all | tee -a "$RESULTS"
fi

# --- exec into a running container ------------------------------------------------------------
# api_exec: create + start (answered after the exit) + inspect of an exec of /bin/true through
# the API, alternating one by one with `crun exec` and `runc exec` into a `sleep` container of
# the same bundle (their own, started here). The whole loop runs in the mount namespace of
# CRUN_SH, where crun finds the v1 controllers; runc does not mind.
if wants exec; then
    log ""
    log "== exec of /bin/true into a running container, n=$EXEC_N each, alternating, load $(load)"
    EXEC_BUNDLE=$WORK/exec-bundle
    mkdir -p "$EXEC_BUNDLE"
    python3 - "$BUNDLE/config.json" "$EXEC_BUNDLE/config.json" <<'EOF2'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sleep", "100000"]
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF2
    unshare -m sh -c "$CRUN_SH" sh crun --root "$RUN/crun" run -d --bundle "$EXEC_BUNDLE" tb-exec </dev/null >/dev/null
    runc --root "$RUN/runc" run -d --bundle "$EXEC_BUNDLE" tb-exec </dev/null >/dev/null
    unshare -m sh -c "$CRUN_SH" sh "$BUILD/bin/api_exec" --socket "$SOCK" --rootfs "$IMAGE" \
        -n "$EXEC_N" -w 20 --compare "crun --root $RUN/crun exec tb-exec /bin/true" \
        --compare "runc --root $RUN/runc exec tb-exec /bin/true" >"$WORK/out" &
    CHILD=$!
    wait "$CHILD"
    CHILD=
    tee -a "$RESULTS" <"$WORK/out"
    t=$(grep -F 'truman exec' "$WORK/out" | field median)
    c=$(grep -F 'crun exec' "$WORK/out" | field median)
    r=$(grep -F 'runc exec' "$WORK/out" | field median)
    log "   truman/crun $(ratio "$t" "$c")  truman/runc $(ratio "$t" "$r")   (target <= 0.50 x crun), load $(load)"
    unshare -m sh -c "$CRUN_SH" sh crun --root "$RUN/crun" delete -f tb-exec >/dev/null 2>&1 || true
    runc --root "$RUN/runc" delete -f tb-exec >/dev/null 2>&1 || true
fi

# --- core-only split ---------------------------------------------------------------------------
if wants core; then
    log ""
    log "== core only (no daemon, no monitor): create/start/wait/destroy in one process, load $(load)"
    : >"$WORK/out"
    for net in none loopback; do
        "$BUILD/bin/core_lifecycle" -n "$N" --net "$net" --cgroups >>"$WORK/out" &
        CHILD=$!
        CORE_PIDS+=("$CHILD")
        wait "$CHILD"
        CHILD=
    done
    tee -a "$RESULTS" <"$WORK/out"
fi

log ""
log "load average at the end: $(load)"
echo "(results kept in ${RESULTS_COPY:-/tmp/truman-bench-results.txt})"
