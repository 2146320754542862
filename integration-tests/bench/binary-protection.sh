#!/usr/bin/env bash
# What protecting the runtime's own binary (CVE-2019-5736) costs at container start: the
# median, in ms per container, of ROUNDS interleaved `run /bin/true` of a busybox bundle for
# each variant (one container of each variant per round, in a rotating order, so machine noise
# hits all alike).
#
#   sudo integration-tests/bench/binary-protection.sh [NAME=COMMAND ...]
#
# Default variants:
#   cella            $CELLA as built (release build recommended: target/release/cella)
#   cella-ro-mount   a copy of $CELLA run from a read-only bind mount of itself (the binary
#                    installed on a read-only mount: nothing left to protect at start)
#   runc             $RUNC (Debian's runc 1.1.5 copies itself to a sealed memfd every start)
# Extra variants are NAME=COMMAND pairs; COMMAND is word-split, may start with VAR=VALUE
# words (every variant runs through env(1)) and is given `--root DIR run ...`, e.g.
# 'cella-debug=RUST_LOG=debug /path/to/cella'.
#
# Environment: CELLA (default: $CARGO_TARGET_DIR or target, release/cella), RUNC
# (/usr/sbin/runc; skipped when missing), ROUNDS (default 30), BUSYBOX (/bin/busybox, static).
#
# A second table times `run` of a missing bundle: the runtime's start-up with the protection
# but no container, so no cgroup noise. (Container starts here are bimodal: on cgroup v1 a
# cgroup attach that comes after an idle moment waits for an RCU grace period, ~13 ms.)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
CELLA=${CELLA:-$target/release/cella}
RUNC=${RUNC:-/usr/sbin/runc}
ROUNDS=${ROUNDS:-30}
BUSYBOX=${BUSYBOX:-/bin/busybox}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$CELLA" ] || { echo "no cella at $CELLA: cargo build --release --bin cella" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }

work=$(mktemp -d /tmp/cella-test-bench-XXXXXX)
names=()
cmds=()
ro_bin=$work/ro/cella
cleanup() {
    local i state cmd
    for i in "${!cmds[@]}"; do
        state=$work/state-$i
        [ -d "$state" ] || continue
        # shellcheck disable=SC2206 # the command is deliberately word-split
        cmd=(env ${cmds[$i]})
        for id in "$state"/*; do
            [ -e "$id" ] || continue
            "${cmd[@]}" --root "$state" delete --force "${id##*/}" >/dev/null 2>&1 || true
        done
    done
    if grep -q " $ro_bin " /proc/self/mountinfo; then
        umount -l "$ro_bin" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A busybox bundle running /bin/true, the default spec otherwise (all namespaces but user).
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys"
cp "$BUSYBOX" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
(cd "$bundle" && "$CELLA" spec)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$bundle/config.json" \
    >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

names+=(cella)
cmds+=("$CELLA")
mkdir -p "$work/ro"
cp "$CELLA" "$ro_bin"
mount --bind "$ro_bin" "$ro_bin"
mount -o remount,bind,ro "$ro_bin"
names+=(cella-ro-mount)
cmds+=("$ro_bin")
if [ -x "$RUNC" ]; then
    names+=(runc)
    cmds+=("$RUNC")
fi
for spec in "$@"; do
    names+=("${spec%%=*}")
    cmds+=("${spec#*=}")
done

declare -A samples startup
count=${#names[@]}
for ((round = 0; round < ROUNDS; round++)); do
    # Rotated each round: a container's teardown (cgroup removal, RCU grace periods) slows
    # the next start, and no variant should always come after the same one.
    for ((k = 0; k < count; k++)); do
        i=$(((k + round) % count))
        name=${names[$i]}
        state=$work/state-$i
        mkdir -p "$state"
        # Every variant through env(1), so NAME=VALUE prefixes cost all variants the same.
        # shellcheck disable=SC2206 # the command is deliberately word-split
        cmd=(env ${cmds[$i]})
        id=cella-test-bench-$i-$round
        t0=$EPOCHREALTIME
        if ! "${cmd[@]}" --root "$state" run --bundle "$bundle" "$id" </dev/null >/dev/null 2>"$work/err"; then
            echo "$name: run failed:" >&2
            cat "$work/err" >&2
            exit 1
        fi
        t1=$EPOCHREALTIME
        samples[$name]+="$((${t1/./} - ${t0/./})) "
        "${cmd[@]}" --root "$state" delete --force "$id" >/dev/null 2>&1 || true
        # The protection alone: `run` of a bundle that does not exist gets through the
        # protection (it comes before the bundle is read) and fails without a container.
        t0=$EPOCHREALTIME
        "${cmd[@]}" --root "$state" run --bundle "$work/none" "$id" </dev/null >/dev/null 2>&1 || true
        t1=$EPOCHREALTIME
        startup[$name]+="$((${t1/./} - ${t0/./})) "
    done
done

table() {
    local -n data=$1
    printf '%-20s %10s %10s %10s   (%s, %s rounds, ms)\n' variant median min max "$2" "$ROUNDS"
    for name in "${names[@]}"; do
        local sorted n med
        mapfile -t sorted < <(tr ' ' '\n' <<<"${data[$name]}" | grep . | sort -n)
        n=${#sorted[@]}
        if ((n % 2)); then
            med=${sorted[n / 2]}
        else
            med=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
        fi
        printf '%-20s %10.2f %10.2f %10.2f\n' "$name" \
            "$(bc -l <<<"$med / 1000")" "$(bc -l <<<"${sorted[0]} / 1000")" \
            "$(bc -l <<<"${sorted[n - 1]} / 1000")"
    done
}
table samples "run /bin/true"
table startup "start-up only: run of a missing bundle"
