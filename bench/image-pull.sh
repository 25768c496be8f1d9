#!/bin/bash
# Pull + unpack of one image from a private registry: truman vs containerd's `ctr image pull`
# vs `skopeo copy` + `umoci unpack`, alternating, N runs each; then the first container start
# from the just-pulled image vs from the built-in busybox (trumanctl run --rm IMAGE true).
#
# The image: 5 layers of LAYER_MIB MiB of random bytes each (incompressible: gzip changes
# nothing, so the bytes moved are the bytes written) on a busybox base, built with umoci,
# pushed with skopeo to Debian's docker-registry on 127.0.0.1 (its storage in a temp dir,
# in the page cache for every tool alike). Every tool pulls it cold: truman after `rmi`
# (its gc deletes the layers and blobs), containerd with a fresh root and state each run
# (started privately, its own socket; its start is not timed), skopeo/umoci into new dirs.
# All three keep the compressed blobs and the unpacked layers; truman and containerd fsync
# what they publish.
#
# Needs root, docker-registry, skopeo, umoci, containerd (install with a policy-rc.d that
# exits 101 so that Debian does not start the system's), busybox-static.
#   BIN=build/bin N=5 LAYER_MIB=20 bench/image-pull.sh
set -euo pipefail

BIN=${BIN:-$(dirname "$0")/../build/bin}
BIN=$(cd "$BIN" && pwd)
N=${N:-5}
LAYER_MIB=${LAYER_MIB:-20}
BUSYBOX=${BUSYBOX:-/bin/busybox}
W=$(mktemp -d /tmp/truman-bench-pull.XXXXXX)
PIDS=()

cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    for m in $(awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "no $1" >&2; exit 1; }

# The registry.
PORT=$(free_port)
mkdir -p "$W/registry"
cat > "$W/registry/config.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/registry/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
EOF
docker-registry serve "$W/registry/config.yml" > "$W/registry/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
REF=127.0.0.1:$PORT/bench/pull:1

# The image: busybox, then 5 layers of random data.
L=$W/layout
umoci init --layout "$L" && umoci new --image "$L:img"
umoci unpack --image "$L:img" "$W/b0" >/dev/null
mkdir -p "$W/b0/rootfs/bin"
cp "$BUSYBOX" "$W/b0/rootfs/bin/busybox"
for a in sh true echo; do ln -s busybox "$W/b0/rootfs/bin/$a"; done
umoci repack --image "$L:img" "$W/b0"
for i in 1 2 3 4 5; do
    mkdir -p "$W/l$i/data"
    head -c $((LAYER_MIB * 1024 * 1024)) /dev/urandom > "$W/l$i/data/blob$i"
    tar -C "$W/l$i" -cf "$W/l$i.tar" data
    umoci raw add-layer --image "$L:img" "$W/l$i.tar"
    rm -rf "$W/l$i" "$W/l$i.tar"
done
umoci config --image "$L:img" --config.cmd /bin/true
skopeo copy --quiet --dest-tls-verify=false "oci:$L:img" "docker://$REF"
echo "image: $REF, 1 busybox layer + 5 x $LAYER_MIB MiB random, $N runs per tool, alternating"

# trumand, private.
mkdir -p "$W/truman"
"$BIN/trumand" --socket "$W/truman/sock" --state-dir "$W/truman/state" --run-dir "$W/truman/run" \
    --log-level warn --default-network none > "$W/truman/log" 2>&1 &
PIDS+=($!)
wait_for "$W/truman/sock"
CTL="$BIN/trumanctl --socket $W/truman/sock"

declare -A T
run_truman() {
    local t0 t1
    t0=$(now); $CTL pull "$REF" > /dev/null; t1=$(now)
    T[truman]+="$(echo "$t1 - $t0" | bc) "
    # First start from the just-pulled image, then from busybox.
    t0=$(now); $CTL run --rm "$REF" true; t1=$(now)
    T[start_pulled]+="$(echo "$t1 - $t0" | bc) "
    t0=$(now); $CTL run --rm busybox true; t1=$(now)
    T[start_busybox]+="$(echo "$t1 - $t0" | bc) "
    $CTL rmi "$REF" > /dev/null
}

run_containerd() {
    local d=$W/containerd t0 t1 pid
    rm -rf "$d"; mkdir -p "$d"
    printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n[grpc]\n  address = "%s/sock"\n' \
        "$d" "$d" "$d" > "$d/config.toml"
    containerd --config "$d/config.toml" > "$d/log" 2>&1 &
    pid=$!
    wait_for "$d/sock"
    sleep 0.5
    t0=$(now); ctr --address "$d/sock" image pull --plain-http "$REF" > /dev/null; t1=$(now)
    T[containerd]+="$(echo "$t1 - $t0" | bc) "
    kill "$pid"; wait "$pid" 2>/dev/null || true
    for m in $(awk -v w="$d" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
    rm -rf "$d"
}

run_skopeo_umoci() {
    local d=$W/su t0 t1
    rm -rf "$d"; mkdir -p "$d"
    t0=$(now)
    skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$d/layout:img"
    umoci unpack --image "$d/layout:img" "$d/bundle" > /dev/null
    t1=$(now)
    T[skopeo_umoci]+="$(echo "$t1 - $t0" | bc) "
    rm -rf "$d"
}

for r in $(seq "$N"); do
    run_truman
    run_containerd
    run_skopeo_umoci
    echo "run $r done" >&2
done

stats() {  # median and mean of the seconds given
    printf '%s\n' $1 | sort -n | awk '{a[NR]=$1; s+=$1} END {
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2;
        printf "median %.3f s  mean %.3f s  min %.3f  max %.3f  (n=%d)", m, s/NR, a[1], a[NR], NR}'
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for k in truman containerd skopeo_umoci start_pulled start_busybox; do
    printf '%-14s %s\n' "$k" "$(stats "${T[$k]}")"
done
