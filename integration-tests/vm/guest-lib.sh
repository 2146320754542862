# Shared by the guest scripts (sourced, busybox sh): the runtime and cgroup paths, the check
# helpers that print "ok NAME" / "not ok NAME: details", and small bundles. A script sets
# $work (its scratch directory) and $cgroup_parent before calling small_bundle.

rt=${CELLA_BIN:-/bin/cella}
cg=/sys/fs/cgroup
passed=0
failed=0

ok() {
    echo "ok $1"
    passed=$((passed + 1))
}
not_ok() {
    echo "not ok $1: $2"
    failed=$((failed + 1))
}
# check NAME EXPECTED ACTUAL [CONTEXT]
check() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1" "expected '$2', got '$3'${4:+ ($4)}"
    fi
}
# absent NAME PATH: the check passes when PATH does not exist.
absent() {
    if [ -e "$2" ]; then
        not_ok "$1" "$2 is left"
    else
        ok "$1"
    fi
}
one_line() {
    tr '\n' '|' <"$1" | sed 's/|$//'
}
# yes NAME COMMAND...: passes when the command succeeds.
yes() {
    name=$1
    shift
    if "$@" >"$work/out" 2>&1; then ok "$name"; else not_ok "$name" "$(one_line "$work/out")"; fi
}
# fails_with NAME PHRASE COMMAND...: passes when the command fails saying PHRASE.
fails_with() {
    name=$1
    phrase=$2
    shift 2
    if "$@" >"$work/out" 2>&1; then
        not_ok "$name" "succeeded"
    elif grep -q "$phrase" "$work/out"; then
        ok "$name"
    else
        not_ok "$name" "no '$phrase' in: $(one_line "$work/out")"
    fi
}

# The container's init pid and status from `state`.
state_pid() {
    "$rt" state "$1" 2>/dev/null | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' | head -n1
}
status() {
    "$rt" state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p' | head -n1
}

# Copies the share's busybox rootfs to $work/rootfs on tmpfs (tar keeps busybox's hard
# links): containers then run on an ordinary local filesystem, not on 9p.
copy_rootfs() {
    mkdir -p "$work/rootfs" && tar -C /mnt/rootfs -cf - . | tar -C "$work/rootfs" -xf -
    [ -x "$work/rootfs/bin/sh" ] || { echo "not ok setup: no rootfs at /mnt/rootfs"; exit 1; }
}

# small_bundle NAME SCRIPT [PROCESS_MEMBERS] [LINUX_MEMBERS] [MORE_MOUNTS]
# writes $work/NAME/config.json: `sh -c SCRIPT` as root without a terminal, with
# no_new_privs, /proc and a /dev tmpfs, new pid, ipc, uts and mount namespaces, and the
# cgroup $cgroup_parent/NAME. PROCESS_MEMBERS and LINUX_MEMBERS are more JSON members, each
# ending in a comma ('"apparmorProfile": "x",'); MORE_MOUNTS more mounts, each after a comma.
small_bundle() {
    mkdir -p "$work/$1"
    cat >"$work/$1/config.json" <<EOF
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "$2"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/",
    ${3:-}
    "noNewPrivileges": true
  },
  "root": {"path": "$work/rootfs", "readonly": false},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}${5:-}
  ],
  "linux": {
    ${4:-}
    "cgroupsPath": "$cgroup_parent/$1",
    "namespaces": [{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]
  }
}
EOF
}
