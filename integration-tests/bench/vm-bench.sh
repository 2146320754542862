#!/usr/bin/env bash
# cella-bench on cgroup v2, inside the throwaway VM of integration-tests/vm (TCG-emulated, about
# 10x slower than the host: read the ratios, not the milliseconds).
#
#   sudo integration-tests/bench/vm-bench.sh [OUT.md] [-- cella-bench options]
#
# Needs the release builds of cella and cella-bench (scripts/bench.sh makes them, or
# `cargo build --release --bin cella --bin cella-bench -p cella -p integration-tests`) and
# what run-vm.sh needs (see integration-tests/vm/README.md). run-vm.sh puts only cella in the
# VM's initramfs; runc and crun (when installed) and cella-bench go through the 9p share
# with the shared libraries they link, and the guest copies them to a ramfs (on tmpfs runc
# copies its own binary at every start, which under TCG costs about 250 ms).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
out=$repo/integration-tests/bench/results/bench-vm-cgroup-v2.md
if [[ $# -gt 0 && $1 != -- ]]; then
    out=$(realpath -m "$1")
    shift
fi
[[ ${1:-} == -- ]] && shift
extra=("$@")

die() {
    echo "vm-bench: $*" >&2
    exit 2
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
cella=$target/release/cella
bench=$target/release/cella-bench
[[ -x $cella && -x $bench ]] \
    || die "build first: cargo build --release --bin cella --bin cella-bench" \
        "-p cella -p integration-tests"

share=$(mktemp -d "${TMPDIR:-/tmp}/cella-bench-vm.XXXXXX")
trap 'rm -rf "$share"' EXIT
mkdir -p "$share/bin" "$share/lib"
cp "$bench" "$share/bin/cella-bench"
runtimes=()
# youki is left out: the build this host needs (`--features v1`) has no cgroup v2 support.
for rt in runc crun; do
    path=$(command -v "$rt" || true)
    if [[ -z $path ]]; then
        echo "vm-bench: $rt not installed, left out" >&2
        continue
    fi
    cp "$path" "$share/bin/$rt"
    runtimes+=("--$rt" "/opt/cella-bench/$rt")
done
# Every library the binaries link, flat: the guest adds the ones its initramfs lacks.
for b in "$share"/bin/*; do
    ldd "$b" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | while read -r lib; do
        cp -nL "$lib" "$share/lib/" 2>/dev/null || true
    done
done

cat >"$share/test.sh" <<EOF
set -e
mkdir -p /opt/cella-bench
mount -t ramfs ramfs /opt/cella-bench
cp /mnt/bin/* /opt/cella-bench/
for lib in /mnt/lib/*; do
    [ -e "/lib/x86_64-linux-gnu/\${lib##*/}" ] || cp "\$lib" /lib/x86_64-linux-gnu/
done
/opt/cella-bench/cella-bench --cella /bin/cella ${runtimes[*]} --no-floor --timeout 120 \
    -n 10 --rounds 2 --concurrent 20 --out /mnt/result.md ${extra[*]}
EOF

CELLA=$cella CELLA_VM_TIMEOUT=${CELLA_VM_TIMEOUT:-1200} CELLA_VM_MEMORY=${CELLA_VM_MEMORY:-2048} \
    "$repo/integration-tests/vm/run-vm.sh" "$share"
mkdir -p "$(dirname "$out")"
{
    echo "<!-- cgroup v2 in a TCG-emulated VM (integration-tests/bench/vm-bench.sh): compare the"
    echo "     ratios; the milliseconds are those of an emulated CPU -->"
    cat "$share/result.md"
} >"$out"
echo "vm-bench: wrote $out" >&2
