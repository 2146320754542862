#!/usr/bin/env bash
# Builds a busybox root filesystem and runs one container on it in the foreground: the
# container prints its own view of the system (hostname, user, PID 1, processes, files, mounts).
#
#   sudo examples/hello/run.sh                 # runs target/release/cella (or target/debug)
#   sudo CELLA=/usr/sbin/runc examples/hello/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

need_root
find_binaries

"$CELLA_ROOTFS" busybox "$here/rootfs"

id="cella-example-hello-$$"
# `run` deletes the container when it exits; this covers failures and interrupts.
trap '"$CELLA" delete --force "$id" >/dev/null 2>&1 || true' EXIT

note "$CELLA run --bundle $here $id"
"$CELLA" run --bundle "$here" "$id"
