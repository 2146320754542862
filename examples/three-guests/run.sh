#!/usr/bin/env bash
# Runs three containers side by side, detached, each on its own busybox root filesystem, shows
# what each sees from inside and what the host sees, then stops and deletes them.
#
#   sudo examples/three-guests/run.sh
#   sudo CELLA=/usr/sbin/runc examples/three-guests/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

need_root
find_binaries

guests=(guest-a guest-b guest-c)
ids=()
logs=$(mktemp -d /tmp/cella-example-three-guests.XXXXXX)

cleanup() {
    local id
    for id in "${ids[@]}"; do
        "$CELLA" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 5 s for a line matching $2 in file $1.
wait_for_line() {
    local file=$1 pattern=$2 i
    for ((i = 0; i < 50; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Waits up to 5 s for container $1 to reach status $2.
wait_for_status() {
    local id=$1 status=$2 i
    for ((i = 0; i < 50; i++)); do
        [[ $(container_status "$CELLA" "$id") == "$status" ]] && return 0
        sleep 0.1
    done
    return 1
}

for guest in "${guests[@]}"; do
    "$CELLA_ROOTFS" busybox "$here/$guest/rootfs"
    rm -f "$here/$guest/rootfs"/i-am-*
    id="cella-example-$guest-$$"
    ids+=("$id")
    note "$CELLA run -d --bundle $here/$guest $id"
    # A detached container keeps the runtime's stdio: its output goes to the log file.
    if ! "$CELLA" run -d --bundle "$here/$guest" "$id" >"$logs/$guest.log" 2>&1 </dev/null; then
        cat "$logs/$guest.log" >&2
        die "could not start $guest"
    fi
done

echo
echo "--- seen from inside each guest (its output, written at start) ---"
for guest in "${guests[@]}"; do
    if ! wait_for_line "$logs/$guest.log" "my marker"; then
        cat "$logs/$guest.log" >&2
        die "$guest did not report within 5 s"
    fi
    cat "$logs/$guest.log"
done

echo
echo "--- seen from the host ---"
echo "\$ $CELLA list"
"$CELLA" list
pids=()
echo
for i in "${!guests[@]}"; do
    pid=$(container_pid "$CELLA" "${ids[$i]}")
    [[ -n $pid ]] || die "no pid in the state of ${ids[$i]}"
    pids+=("$pid")
    echo "${guests[$i]}: init is host pid $pid, uts namespace $(readlink "/proc/$pid/ns/uts")," \
        "pid namespace $(readlink "/proc/$pid/ns/pid")"
done
echo "host:    uts namespace $(readlink /proc/self/ns/uts), pid namespace $(readlink /proc/self/ns/pid)"
echo
echo "\$ ps -o pid,ppid,user,args -p $(IFS=,; echo "${pids[*]}")"
ps -o pid,ppid,user,args -p "$(IFS=,; echo "${pids[*]}")"
echo
echo "\$ ls $here/guest-*/rootfs/i-am-*   # each marker is only in its own root filesystem"
ls "$here"/guest-*/rootfs/i-am-*

echo
echo "--- stopping ---"
for id in "${ids[@]}"; do
    note "$CELLA kill $id KILL; $CELLA delete $id"
    "$CELLA" kill "$id" KILL
    wait_for_status "$id" stopped || die "$id did not stop within 5 s"
    "$CELLA" delete "$id"
done
echo "done: all three guests stopped and deleted"
