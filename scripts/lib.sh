# Shared helpers for cella's scripts and examples. Source it; it changes nothing by itself.
# shellcheck shell=bash

# The repository root: this file lives in <repo>/scripts.
CELLA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CELLA_MIN_RUST=1.85

die() {
    echo "error: $*" >&2
    exit 1
}

note() {
    echo "==> $*" >&2
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$(basename "$0") must run as root (containers need it): try sudo $0"
}

# Prints the path of a binary built from this repository, preferring release over debug, and
# honouring CARGO_TARGET_DIR. Fails with the cargo command that builds it.
default_binary() {
    local name=$1 package=$2 dir profile best=""
    # The newest build wins: a stale release binary must not shadow today's debug one.
    for dir in "${CARGO_TARGET_DIR:-}" "$CELLA_REPO/target"; do
        [[ -n $dir ]] || continue
        for profile in release debug; do
            if [[ -x $dir/$profile/$name && ( -z $best || $dir/$profile/$name -nt $best ) ]]; then
                best=$dir/$profile/$name
            fi
        done
    done
    if [[ -n $best ]]; then
        echo "$best"
        return 0
    fi
    die "$name is not built: run 'cargo build --release -p $package' in $CELLA_REPO" \
        "(or set the path in the environment)"
}

# Checks that a runtime or tool given by path or by name can be run.
need_executable() {
    local what=$1 path=$2
    command -v "$path" >/dev/null 2>&1 || die "$what '$path' not found or not executable"
}

# Installs the Debian packages that are missing. apt runs only when something is missing, so a
# machine that has everything (CI) needs no network.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) -eq 0 ]] || die "missing packages ${missing[*]}: run as root or install them"
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get here"
    note "installing ${missing[*]}"
    # Packages such as docker.io start their daemon on installation, and a host dockerd rewrites
    # iptables: a policy-rc.d that denies every start (as Docker images have) prevents it.
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# cella test-all.sh: no service starts during package installation\nexit 101\n' \
            >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    ((rc == 0)) && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" || rc=$?; }
    ((own_policy)) && rm -f "$policy"
    return "$rc"
}

# Whether version $1 (x.y[.z]) is at least $2.
version_at_least() {
    [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]
}

cargo_version() {
    cargo --version 2>/dev/null | awk '{print $2}'
}

# Makes cargo (>= CELLA_MIN_RUST) available, with rustfmt and clippy when asked
# (ensure_cargo fmt clippy). Uses ~/.cargo/bin when present, else rustup's official installer.
ensure_cargo() {
    if [[ -d $HOME/.cargo/bin && :$PATH: != *:$HOME/.cargo/bin:* ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    local have
    have=$(cargo_version || true)
    if [[ -z $have ]] || ! version_at_least "$have" "$CELLA_MIN_RUST"; then
        if command -v rustup >/dev/null; then
            note "cargo ${have:-missing}: updating the stable toolchain with rustup"
            rustup toolchain install stable --profile minimal || die "rustup could not install Rust"
            rustup default stable
        else
            note "cargo ${have:-missing}: installing Rust with rustup (https://rustup.rs)"
            command -v curl >/dev/null || die "Rust >= $CELLA_MIN_RUST is needed and curl is missing"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
                | sh -s -- -y --profile minimal --default-toolchain stable \
                || die "could not download Rust: install Rust >= $CELLA_MIN_RUST" \
                    "(https://rustup.rs) and put cargo on PATH"
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
        have=$(cargo_version || true)
        [[ -n $have ]] && version_at_least "$have" "$CELLA_MIN_RUST" \
            || die "cargo ${have:-missing} is older than $CELLA_MIN_RUST"
    fi
    local component
    for component in "$@"; do
        if ! cargo "$component" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null || die "cargo $component is missing and rustup is not here"
            note "adding the $component component"
            rustup component add "$component" || die "could not add the $component component"
        fi
    done
}

# Prints the init PID of a container from the runtime's `state` JSON.
container_pid() {
    local runtime=$1 id=$2
    "$runtime" state "$id" | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' | head -n1
}

# Prints the status of a container from the runtime's `state` JSON (nothing if it is gone).
container_status() {
    local runtime=$1 id=$2
    "$runtime" state "$id" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p' | head -n1
}

# Sets CELLA and CELLA_ROOTFS (kept when given in the environment, else the newest builds of
# this checkout) and checks that both run: what every example needs first.
find_binaries() {
    CELLA=${CELLA:-$(default_binary cella cella)}
    CELLA_ROOTFS=${CELLA_ROOTFS:-$(default_binary cella-rootfs rootfs-tools)}
    need_executable runtime "$CELLA"
    need_executable cella-rootfs "$CELLA_ROOTFS"
}
