#!/usr/bin/env bash
# Unpack speed: cella-rootfs bundle against Debian's umoci 0.4.7, on an OCI image layout with one
# gzip layer of about 200 MiB (random-ish but compressible files). Runs are interleaved (umoci,
# cella-rootfs, umoci, ...) and the medians printed. Needs root (both chown), umoci
# (apt-get install -y umoci), python3 and gzip.
#
#   sudo rootfs-tools/bench/unpack.sh [RUNS]       (default 3)
#
# CELLA_ROOTFS=path picks the binary (default: a release build, made here); CELLA_BENCH_DIR=dir
# keeps the image there between invocations (default: a temp dir removed at the end).
set -euo pipefail

runs=${1:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

for tool in umoci python3 gzip sha256sum; do
    command -v "$tool" >/dev/null || { echo "unpack.sh: $tool is missing" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "unpack.sh: run as root" >&2; exit 1; }

if [[ -z ${CELLA_ROOTFS:-} ]]; then
    (cd "$repo" && cargo build --release --quiet -p rootfs-tools --bin cella-rootfs)
    CELLA_ROOTFS=${CARGO_TARGET_DIR:-$repo/target}/release/cella-rootfs
fi

if [[ -n ${CELLA_BENCH_DIR:-} ]]; then
    work=$CELLA_BENCH_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/cella-bench-unpack.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
layout=$work/layout

# make_image: files of 8 KiB to 1 MiB, each part base64 of random bytes (incompressible beyond
# base64's 6 bits a byte) and part repeated lines, in 40 directories; one tar, gzip -6.
make_image() {
    local tree=$work/tree
    rm -rf "$tree" "$layout"
    python3 - "$tree" <<'PY'
import base64, os, random, sys
root = sys.argv[1]
rng = random.Random(20240601)
total, target, i = 0, 320 << 20, 0
while total < target:
    d = os.path.join(root, f"dir{i % 40:02d}")
    os.makedirs(d, exist_ok=True)
    size = rng.choice([8, 16, 32, 64, 128, 256, 512, 1024]) << 10
    noise = base64.b64encode(rng.randbytes(size * 5 // 8))
    line = f"file {i} line of repeated text {rng.random()}\n".encode()
    data = (noise + line * (size // len(line) + 1))[:size]
    with open(os.path.join(d, f"f{i:06d}"), "wb") as f:
        f.write(data)
    total += size
    i += 1
PY
    mkdir -p "$layout/blobs/sha256"
    tar --sort=name --numeric-owner --owner=0 --group=0 -C "$tree" -cf "$work/layer.tar" .
    local diff_id
    diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    gzip -6 -c "$work/layer.tar" >"$work/layer.tar.gz"
    rm -rf "$tree" "$work/layer.tar"
    local layer size
    layer=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
    size=$(stat -c %s "$work/layer.tar.gz")
    mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer"

    blob() { # blob FILE -> prints "digest size", moves FILE into the layout
        local digest
        digest=$(sha256sum "$1" | cut -d' ' -f1)
        echo "$digest $(stat -c %s "$1")"
        mv "$1" "$layout/blobs/sha256/$digest"
    }
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$diff_id" >"$work/config"
    read -r config config_size < <(blob "$work/config")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$config" "$config_size" "$layer" "$size" >"$work/manifest"
    read -r manifest manifest_size < <(blob "$work/manifest")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
        "$manifest" "$manifest_size" >"$layout/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
}

[[ -f $layout/index.json ]] || make_image
layer_mib=$(du -sm "$layout/blobs" | cut -f1)
echo "image: $layout ($layer_mib MiB of blobs, one gzip layer)"

# time_ms COMMAND...: wall time of the command in milliseconds.
time_ms() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

median() {
    sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}

umoci_times=() cella_times=()
for ((i = 1; i <= runs; i++)); do
    rm -rf "$work/umoci-bundle" "$work/cella-bundle"
    sync
    umoci_times+=("$(time_ms umoci unpack --image "$layout:bench" "$work/umoci-bundle")")
    sync
    cella_times+=("$(time_ms "$CELLA_ROOTFS" bundle --quiet --image "$layout:bench" --out "$work/cella-bundle")")
    echo "run $i: umoci ${umoci_times[-1]} ms, cella-rootfs ${cella_times[-1]} ms"
done
files=$(find "$work/cella-bundle/rootfs" -type f | wc -l)
rm -rf "$work/umoci-bundle" "$work/cella-bundle"

umoci_median=$(printf '%s\n' "${umoci_times[@]}" | median)
cella_median=$(printf '%s\n' "${cella_times[@]}" | median)
echo "files: $files"
echo "median of $runs: umoci $umoci_median ms, cella-rootfs $cella_median ms"
