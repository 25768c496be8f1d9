#!/bin/bash
# The network benchmark: the API lifecycle (create, start, wait, delete) of /bin/true
# on the default bridge network against `network: none` (loopback only), in one alternating
# run, with trumand inside a network namespace of this script's own (its bridge, forwarding
# and nftables table never touch the machine's namespace), and vs `podman run --network
# bridge` (netavark) when podman is installed: podman runs inside the same namespace, its
# storage, run and network-config directories private to this run (--root, --runroot,
# --tmpdir, --network-config-dir), on a busybox image imported from trumand's own busybox
# layer (never pulled); its bridge podman0 and its firewall rules stay in the namespace.
#
#   bench/network-lifecycle.sh                    # N=200 ROUNDS=4, BUILD=build-rel
#   BUILD=build N=100 ROUNDS=5 bench/network-lifecycle.sh
#
# Prints the pooled median and p90 of each variant and keeps the raw samples (ms: total
# create start wait delete) under $WORK. Cleans up after itself, ^C included: containers
# through the API, then trumand (by its PID), then the namespace.
set -euo pipefail

BUILD=${BUILD:-build-rel}
N=${N:-200}
ROUNDS=${ROUNDS:-4}
PER=$((N / ROUNDS))
WORK=$(mktemp -d /tmp/truman-netbench.XXXXXX)
NS=tmbench$$
SOCK=$WORK/trumand.sock
TRUMAND_PID=
have_podman=
PODMAN=(nsenter "--net=/run/netns/$NS" podman --root "$WORK/podman/root"
    --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
    --network-config-dir "$WORK/podman/networks" --cgroup-manager cgroupfs
    --events-backend none --network-backend netavark)

cleanup() {
    trap - EXIT INT TERM
    set +e
    if [ -n "$TRUMAND_PID" ]; then
        "$BUILD/bin/api_lifecycle" --socket "$SOCK" --remove-all >/dev/null 2>&1
        kill -TERM "$TRUMAND_PID" 2>/dev/null
        wait "$TRUMAND_PID" 2>/dev/null
    fi
    if [ -n "$have_podman" ]; then
        "${PODMAN[@]}" rm -af >/dev/null 2>&1
        "${PODMAN[@]}" rmi -af >/dev/null 2>&1
        # Its overlay storage may still be mounted (a run cut short): unmount before rm.
        grep -o " $WORK/podman[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$WORK/podman"
    fi
    ip netns del "$NS" 2>/dev/null
    echo "samples and trumand's log: $WORK"
}
trap cleanup EXIT INT TERM

[ -x "$BUILD/bin/trumand" ] && [ -x "$BUILD/bin/api_lifecycle" ] || {
    echo "build $BUILD first (trumand, truman-monitor, api_lifecycle)" >&2
    exit 1
}
ip netns add "$NS"
ip -n "$NS" link set lo up
nsenter --net="/run/netns/$NS" "$BUILD/bin/trumand" --socket "$SOCK" --state-dir "$WORK/state" \
    --run-dir "$WORK/run" --default-network truman --log-level warn 2>>"$WORK/trumand.log" &
TRUMAND_PID=$!
for _ in $(seq 200); do
    [ -S "$SOCK" ] && break
    sleep 0.05
done
[ -S "$SOCK" ] || { cat "$WORK/trumand.log" >&2; exit 1; }

API="$BUILD/bin/api_lifecycle --socket $SOCK"
$API -n 20 --network default >/dev/null # warm-up: image, bridge, caches
$API -n 20 --network none >/dev/null
if command -v podman >/dev/null && podman --version >/dev/null 2>&1; then
    # trumand's built-in busybox image, one layer in its store: the same tree, imported.
    layer=
    for l in "$WORK"/state/images/layers/*/diff; do
        [ -x "$l/bin/true" ] && layer=$l && break
    done
    [ -n "$layer" ] || { echo "no busybox layer in $WORK/state/images/layers" >&2; exit 1; }
    mkdir -p "$WORK/podman"
    have_podman=1
    tar -C "$layer" -c . | "${PODMAN[@]}" import - localhost/tmbench-busybox >/dev/null 2>>"$WORK/podman.log"
    for _ in 1 2 3; do # warm-up: its network, its storage
        "${PODMAN[@]}" run --rm --network bridge localhost/tmbench-busybox true 2>>"$WORK/podman.log"
    done
fi
for round in $(seq "$ROUNDS"); do
    $API -n "$PER" -w 0 --network default --samples "$WORK/bridge.txt" >/dev/null
    $API -n "$PER" -w 0 --network none --samples "$WORK/none.txt" >/dev/null
    if [ -n "$have_podman" ]; then
        for _ in $(seq "$PER"); do
            s=$(date +%s%N)
            "${PODMAN[@]}" run --rm --network bridge localhost/tmbench-busybox true >/dev/null 2>>"$WORK/podman.log"
            echo "$((($(date +%s%N) - s) / 1000))e-3" >>"$WORK/podman.txt"
        done
    fi
done

summary() { # file label
    sort -g -k1,1 "$1" | awk -v label="$2" '{ v[NR] = $1 } END {
        printf "%-28s n=%d  median %.2f ms  p90 %.2f ms\n", label, NR, v[int((NR + 1) / 2)], v[int(NR * 0.9)] }'
}
echo "load $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS alternating rounds of $PER"
summary "$WORK/bridge.txt" "truman, default bridge"
summary "$WORK/none.txt" "truman, network none"
[ -n "$have_podman" ] && summary "$WORK/podman.txt" "podman run --network bridge"
[ -n "$have_podman" ] || echo "podman: not installed here, not measured"
