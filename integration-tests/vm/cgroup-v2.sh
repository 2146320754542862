#!/usr/bin/env bash
# Runs the cgroup v2 checks (guest-tests.sh) in the VM by hand, as the Rust test
# integration-tests/tests/vm_cgroup_v2.rs does: a share with test.sh and a busybox rootfs made
# by `cella-rootfs busybox`, then run-vm.sh. Exits with the checks' status.
#
#   integration-tests/vm/cgroup-v2.sh                       # the workspace's debug cella
#   CELLA=/usr/sbin/runc integration-tests/vm/cgroup-v2.sh  # the same checks against runc
#
# CELLA_ROOTFS is the rootfs tool (default ${CARGO_TARGET_DIR:-target}/debug/cella-rootfs);
# run-vm.sh documents the other variables.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../target}
rootfs_tool=${CELLA_ROOTFS:-$target/debug/cella-rootfs}
[[ -x $rootfs_tool ]] || {
    echo "cgroup-v2: $rootfs_tool is missing: cargo build -p rootfs-tools, or set CELLA_ROOTFS" >&2
    exit 2
}

share=$(mktemp -d "${TMPDIR:-/tmp}/cella-test-vm-XXXXXX")
trap 'rm -rf "$share"' EXIT
cp "$here/guest-tests.sh" "$share/test.sh"
cp "$here/guest-lib.sh" "$share/guest-lib.sh"
"$rootfs_tool" busybox "$share/rootfs"
"$here/run-vm.sh" "$share"
