#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, clippy, build, unit and integration tests.
# Installs the Debian packages the tests need when some are missing (apt is skipped when all are
# present), makes sure cargo is there, runs every step even when one fails, and ends with a
# summary. Integration tests run as root against the binaries built in the build step.
#
#   sudo scripts/test-all.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

cd "$CELLA_REPO"
[[ $(id -u) -eq 0 ]] || note "not root: integration tests that need root will fail"
# containerd: the engine tests (integration-tests/tests/engine_containerd*.rs); protobuf-compiler:
# protoc for the k8s-cri crate's build script (their CRI client).
ensure_packages busybox-static libseccomp-dev pkg-config runc iproute2 strace gcc libc6-dev \
    qemu-system-x86 linux-image-amd64 cpio xz-utils binutils umoci apparmor \
    selinux-policy-default podman conmon slirp4netns docker.io containerd protobuf-compiler \
    nftables
ensure_cargo fmt clippy

target=${CARGO_TARGET_DIR:-$CELLA_REPO/target}
# The runtime and rootfs tool under test, for integration tests and examples; override to test
# another runtime (CELLA=/usr/sbin/runc).
export CELLA=${CELLA:-$target/debug/cella}
export CELLA_ROOTFS=${CELLA_ROOTFS:-$target/debug/cella-rootfs}
# The integration tests' name for it.
export CELLA_RUNTIME=${CELLA_RUNTIME:-$CELLA}

steps=() results=() times=()
failed=0

# run_step NAME TIMEOUT COMMAND...: runs a step under a time limit and records its outcome.
run_step() {
    local name=$1 limit=$2 start rc=0
    shift 2
    note "$name: $*"
    start=$SECONDS
    timeout --kill-after=30s "$limit" "$@" || rc=$?
    steps+=("$name")
    times+=("$((SECONDS - start))s")
    if ((rc == 0)); then
        results+=("ok")
    elif ((rc == 124)); then
        results+=("FAILED (timed out after $limit)")
        failed=1
    else
        results+=("FAILED (exit $rc)")
        failed=1
    fi
    return "$rc"
}

skip_step() {
    steps+=("$1") results+=("skipped: $2") times+=("-")
    failed=1
}

# Limits add up to 54 minutes, within CI's hour on 2 cores; a normal run takes a few minutes.
run_step fmt 2m cargo fmt --all --check || true
run_step clippy 12m cargo clippy --workspace --all-targets -- -D warnings || true
engines=(--test engine_containerd --test engine_containerd_cri --test engine_podman
    --test engine_docker)
if run_step build 12m cargo build --workspace; then
    run_step test 22m cargo test --workspace || true
    # The engine suites once more right after the first (a second run in a row must work,
    # nothing of the first may be left), then against runc, which proves the suites.
    run_step engines-again 3m cargo test -p integration-tests "${engines[@]}" || true
    run_step engines-runc 3m env CELLA_RUNTIME=/usr/sbin/runc \
        cargo test -p integration-tests "${engines[@]}" || true
else
    skip_step test "the build failed"
fi

echo
echo "=== summary ==="
for i in "${!steps[@]}"; do
    printf '  %-14s %-6s %s\n' "${steps[$i]}" "${times[$i]}" "${results[$i]}"
done
if ((failed)); then
    echo "FAILED"
    exit 1
fi
echo "all passed"
