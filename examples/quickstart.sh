#!/usr/bin/env bash
# From a fresh Debian machine to a first container: installs what the build needs (only what is
# missing), makes sure Rust is there, builds cella and cella-rootfs in release mode (nothing is
# installed system-wide: the binaries stay in target/release) and runs examples/hello.
#
#   sudo examples/quickstart.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$here/../scripts/lib.sh"

need_root
ensure_packages busybox-static build-essential pkg-config libseccomp-dev git curl ca-certificates
ensure_cargo

note "building cella and cella-rootfs (release)"
cargo build --release --manifest-path "$CELLA_REPO/Cargo.toml" -p cella -p rootfs-tools

target=${CARGO_TARGET_DIR:-$CELLA_REPO/target}
export CELLA=${CELLA:-$target/release/cella}
export CELLA_ROOTFS=$target/release/cella-rootfs
note "running examples/hello with $CELLA"
exec "$here/hello/run.sh"
