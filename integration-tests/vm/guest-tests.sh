#!/bin/sh
# cella on pure cgroup v2: checks run as test.sh inside the VM of run-vm.sh (busybox sh, root,
# cgroup2 at /sys/fs/cgroup with every controller enabled at the root, the runtime at
# /bin/cella, the share at /mnt holding `rootfs/`, a busybox rootfs built on the host).
#
# Prints one line per check, "ok NAME" or "not ok NAME: details", and exits 1 when any fails.
# Runs the same against runc (run-vm.sh with CELLA=/usr/sbin/runc), which proves the checks.

rt=${CELLA_BIN:-/bin/cella}
cg=/sys/fs/cgroup
work=/run/cella-vm
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

# bundle NAME ARGS_JSON [RESOURCES_JSON] [CGROUPS_PATH] [NAMESPACES_JSON] [EXTRA_MOUNT_JSON]
#        [EXTRA_LINUX_JSON]
# writes $work/NAME/config.json: runc's spec with no terminal, the shared rootfs, and new
# pid, ipc, uts, mount, network and cgroup namespaces unless told otherwise. EXTRA_LINUX_JSON
# holds more members of "linux" ('"devices": [...]').
bundle() {
    b=$work/$1
    mkdir -p "$b"
    resources=${3:-"{}"}
    cgroups_path=""
    [ -n "${4:-}" ] && cgroups_path="\"cgroupsPath\": \"$4\","
    namespaces=${5:-'[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}]'}
    extra_mount=${6:+",$6"}
    extra_linux=${7:+"$7,"}
    cat >"$b/config.json" <<EOF
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": $2,
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
      "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
      "permitted": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"]
    },
    "noNewPrivileges": true
  },
  "root": {"path": "$work/rootfs", "readonly": false},
  "hostname": "cella-vm-test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]}$extra_mount
  ],
  "linux": {
    $cgroups_path $extra_linux
    "resources": $resources,
    "namespaces": $namespaces
  }
}
EOF
}

# The container's init pid from `state`.
state_pid() {
    "$rt" state "$1" 2>/dev/null | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' | head -n1
}

# Waits up to 20 s for the container to stop.
wait_stopped() {
    i=0
    while [ $i -lt 400 ]; do
        "$rt" state "$1" 2>/dev/null | grep -q '"status": *"stopped"' && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

mkdir -p "$work"
# The rootfs goes to tmpfs (tar keeps busybox's hard links): containers then run on an
# ordinary local filesystem, not on 9p.
mkdir -p "$work/rootfs" && tar -C /mnt/rootfs -cf - . | tar -C "$work/rootfs" -xf -
[ -x "$work/rootfs/bin/sh" ] || { echo "not ok setup: no rootfs at /mnt/rootfs"; exit 1; }
echo "# runtime: $("$rt" --version 2>&1 | head -n1); kernel $(uname -r)"
echo "# root cgroup controllers: $(cat $cg/cgroup.subtree_control)"

# (a) run with a cgroup namespace: the container sees itself at the root of the hierarchy,
# exits 0, and run removes its cgroup.
bundle a '["cat", "/proc/self/cgroup"]' '{}' /cella-vm/a
start=$(cut -d' ' -f1 /proc/uptime)
"$rt" run --bundle "$work/a" cella-vm-a >"$work/a.out" 2>"$work/a.err" </dev/null
rc=$?
end=$(cut -d' ' -f1 /proc/uptime)
echo "# run of cat took $(echo "$start $end" | awk '{printf "%d", ($2 - $1) * 1000}') ms"
check run-exit-0 0 "$rc" "stderr: $(one_line "$work/a.err")"
check run-cgroupns-root "0::/" "$(one_line "$work/a.out")"
absent run-removes-cgroup $cg/cella-vm/a

# (b) create with limits: the files of the container's cgroup hold them, seen from the VM.
bundle b '["sleep", "1000"]' '{
      "memory": {"limit": 67108864, "swap": 67108864},
      "pids": {"limit": 50},
      "cpu": {"quota": 50000, "period": 100000}
    }' /cella-vm/b
if "$rt" create --bundle "$work/b" cella-vm-b >"$work/b.out" 2>"$work/b.err" </dev/null; then
    ok create
    pid=$(state_pid cella-vm-b)
    check create-cgroup-of-init "0::/cella-vm/b" "$(cat /proc/"$pid"/cgroup 2>&1)" "pid '$pid'"
    check memory.max 67108864 "$(cat $cg/cella-vm/b/memory.max 2>&1)"
    check memory.swap.max 0 "$(cat $cg/cella-vm/b/memory.swap.max 2>&1)"
    check pids.max 50 "$(cat $cg/cella-vm/b/pids.max 2>&1)"
    check cpu.max "50000 100000" "$(cat $cg/cella-vm/b/cpu.max 2>&1)"
    if "$rt" start cella-vm-b 2>"$work/b.err"; then ok start; else not_ok start "$(one_line "$work/b.err")"; fi
    "$rt" kill cella-vm-b KILL 2>"$work/b.err" || not_ok kill "$(one_line "$work/b.err")"
    wait_stopped cella-vm-b || not_ok kill-stops "still $("$rt" state cella-vm-b 2>&1 | tr -d '\n')"
    if "$rt" delete cella-vm-b 2>"$work/b.err"; then ok delete; else not_ok delete "$(one_line "$work/b.err")"; fi
    # (c) delete removes the container's cgroup; its empty parent is the caller's business.
    absent delete-removes-cgroup $cg/cella-vm/b
else
    not_ok create "$(one_line "$work/b.err")"
fi
"$rt" delete --force cella-vm-b >/dev/null 2>&1

# Without cgroupsPath, from the root cgroup: runc puts the container at /<id>.
bundle default '["sleep", "1000"]'
if "$rt" create --bundle "$work/default" cella-vm-default >/dev/null 2>"$work/default.err" </dev/null; then
    pid=$(state_pid cella-vm-default)
    check default-cgroup-path "0::/cella-vm-default" "$(cat /proc/"$pid"/cgroup 2>&1)"
else
    not_ok default-cgroup-path "create failed: $(one_line "$work/default.err")"
fi
"$rt" delete --force cella-vm-default >/dev/null 2>&1
absent delete-force-removes-cgroup $cg/cella-vm-default

# (d) kill --all KILL on a container sharing the VM's pid namespace (where --all matters:
# init's death does not take the other processes along) writes cgroup.kill and leaves no
# process. A kprobe on the kernel's handler of cgroup.kill writes shows that it was used.
bundle d '["sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000 & wait"]' '{}' /cella-vm/d \
    '[{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}]'
if "$rt" run -d --bundle "$work/d" cella-vm-d >/dev/null 2>"$work/d.err" </dev/null; then
    i=0
    while [ "$(wc -l <$cg/cella-vm/d/cgroup.procs)" -lt 4 ] && [ $i -lt 400 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    procs=$(cat $cg/cella-vm/d/cgroup.procs)
    tracing=/sys/kernel/tracing
    probe=""
    if echo 'p:cella_vm_kill cgroup_kill_write' >>$tracing/kprobe_events 2>/dev/null; then
        probe=$tracing/events/kprobes/cella_vm_kill
        echo >$tracing/trace
        echo 1 >$probe/enable
    fi
    "$rt" kill --all cella-vm-d KILL 2>"$work/d.err" || not_ok kill-all "$(one_line "$work/d.err")"
    if [ -n "$probe" ]; then
        echo 0 >$probe/enable
        hits=$(grep -c 'cella_vm_kill:' $tracing/trace)
        echo '-:cella_vm_kill' >>$tracing/kprobe_events
        if [ "$hits" -ge 1 ]; then
            ok kill-all-uses-cgroup.kill
        else
            not_ok kill-all-uses-cgroup.kill "no write to cgroup.kill (the kprobe saw none)"
        fi
    else
        not_ok kill-all-uses-cgroup.kill "cannot place a kprobe on cgroup_kill_write"
    fi
    i=0
    while [ -n "$(cat $cg/cella-vm/d/cgroup.procs 2>/dev/null)" ] && [ $i -lt 400 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    left=""
    for p in $procs; do
        # A zombie waiting for init to reap it is dead already.
        [ -e /proc/"$p" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null && left="$left $p"
    done
    check kill-all-no-process-left "4 killed, none left" \
        "$(echo "$procs" | wc -w) killed, ${left:-none} left" "cgroup.procs: $(cat $cg/cella-vm/d/cgroup.procs 2>&1 | tr '\n' ' ')"
    "$rt" delete cella-vm-d 2>"$work/d.err" || not_ok kill-all-delete "$(one_line "$work/d.err")"
else
    not_ok kill-all "run -d failed: $(one_line "$work/d.err")"
fi
"$rt" delete --force cella-vm-d >/dev/null 2>&1

# (e) memory.max 20M: a process touching 64M is OOM-killed, and run returns 128+SIGKILL.
bundle e '["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]' \
    '{"memory": {"limit": 20971520, "swap": 20971520}}' /cella-vm/e
ooms=$(dmesg | grep -c 'Memory cgroup out of memory')
"$rt" run --bundle "$work/e" cella-vm-e >"$work/e.out" 2>"$work/e.err" </dev/null
rc=$?
check oom-kill-exit-137 137 "$rc" "stderr: $(one_line "$work/e.err")"
check oom-kill-in-dmesg 1 "$(($(dmesg | grep -c 'Memory cgroup out of memory') - ooms))"
"$rt" delete --force cella-vm-e >/dev/null 2>&1

# (f) pids.max 10: the eleventh process cannot be forked.
# shellcheck disable=SC2016 # $(seq 20) is for the container's shell
bundle f '["sh", "-c", "for i in $(seq 20); do sleep 2 & done; wait"]' \
    '{"pids": {"limit": 10}}' /cella-vm/f
"$rt" run --bundle "$work/f" cella-vm-f >"$work/f.out" 2>"$work/f.err" </dev/null
rc=$?
if grep -q "can't fork" "$work/f.out" "$work/f.err"; then
    ok pids-limit-stops-forks
else
    not_ok pids-limit-stops-forks "no \"can't fork\" (exit $rc): $(one_line "$work/f.err")"
fi
"$rt" delete --force cella-vm-f >/dev/null 2>&1

# (g) runc's default spec mounts "cgroup" at /sys/fs/cgroup: on v2 that is cgroup2, rooted at
# the container's own cgroup by the cgroup namespace, so the container reads its own limits.
bundle g '["sh", "-c", "grep \" /sys/fs/cgroup \" /proc/mounts | cut -d\" \" -f3; cat /sys/fs/cgroup/pids.max"]' \
    '{"pids": {"limit": 42}}' /cella-vm/g \
    "" '{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}'
"$rt" run --bundle "$work/g" cella-vm-g >"$work/g.out" 2>"$work/g.err" </dev/null
rc=$?
check cgroup-mount "0 cgroup2|42" "$rc $(one_line "$work/g.out")" "stderr: $(one_line "$work/g.err")"
"$rt" delete --force cella-vm-g >/dev/null 2>&1

# (h) Device rules: v2 has no devices controller, the runtime attaches an eBPF program to the
# container's cgroup. A probe in the container tries device accesses and prints NAME=ok or
# NAME=<the error>; /dev/full says "No space left on device" only once the open passed the
# filter, and so does a block device with no disk behind it ("No such device or address").
# CAP_MKNOD is added for the probe's mknod calls.
cat >"$work/rootfs/cella-devprobe.sh" <<'PROBE'
try() {
    name=$1
    shift
    if err=$("$@" 2>&1 >/dev/null); then echo "$name=ok"; else echo "$name=${err##*: }"; fi
}
try read-null cat /dev/null
try read-zero head -c 1 /dev/zero
try write-full sh -c 'echo x >/dev/full'
try mknod-sda mknod /dev/sda b 8 0
try read-sda head -c 1 /dev/sda
try write-sda sh -c 'echo x >/dev/sda'
try mknod-kmsg mknod /dev/kmsg-copy c 1 11
try write-kmsg sh -c 'echo cella-vm-device-probe >/dev/kmsg-copy'
PROBE
with_mknod() { sed -i 's/"CAP_CHOWN",/"CAP_CHOWN", "CAP_MKNOD",/' "$work/$1/config.json"; }
probe_result() { tr '\n' ' ' <"$1" | sed 's/ $//'; }

# Only the default devices (null, zero, full, tty, random, urandom, console, pts, ptmx, tun)
# and mknod of anything. Created, then started after `create` exited: the program stays
# attached without the runtime.
bundle h '["sh", "/cella-devprobe.sh"]' '{}' /cella-vm/h
with_mknod h
if "$rt" create --bundle "$work/h" cella-vm-h >"$work/h.out" 2>"$work/h.err" </dev/null &&
    "$rt" start cella-vm-h 2>>"$work/h.err" && wait_stopped cella-vm-h; then
    check devices-default "read-null=ok read-zero=ok write-full=No space left on device \
mknod-sda=ok read-sda=Operation not permitted write-sda=Operation not permitted \
mknod-kmsg=ok write-kmsg=Operation not permitted" \
        "$(probe_result "$work/h.out")" "stderr: $(one_line "$work/h.err")"
else
    not_ok devices-default "create/start failed: $(one_line "$work/h.err")"
fi
"$rt" delete --force cella-vm-h >/dev/null 2>&1

# The config's rules (sda read-only) and a linux.devices entry (kmsg, 1:11), which the
# runtime allows. (A deny narrower than an earlier wildcard allow, "b 8:* rw" then "b 8:0 w",
# is left out: runc refuses it as v1 cannot express it, cella's filter enforces it.)
bundle i '["sh", "/cella-devprobe.sh"]' '{"devices": [
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}
    ]}' /cella-vm/i "" "" \
    '"devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]'
with_mknod i
"$rt" run --bundle "$work/i" cella-vm-i >"$work/i.out" 2>"$work/i.err" </dev/null
out=$(probe_result "$work/i.out")
check devices-config-rules "read-null=ok read-zero=ok write-full=No space left on device \
mknod-sda=ok read-sda=No such device or address write-sda=Operation not permitted \
mknod-kmsg=ok" "${out% write-kmsg=*}" "stderr: $(one_line "$work/i.err")"
# runc 1.1.5 does not allow linux.devices entries (write-kmsg=Operation not permitted).
check devices-linux-devices-allowed "write-kmsg=ok" "$(grep '^write-kmsg=' "$work/i.out")"
"$rt" delete --force cella-vm-i >/dev/null 2>&1
rm -f "$work/rootfs/cella-devprobe.sh"

# Nothing of ours is left in the hierarchy.
rmdir $cg/cella-vm 2>/dev/null
left=$(find $cg -maxdepth 1 -name 'cella-vm*' | tr '\n' ' ')
if [ -z "$left" ]; then ok no-cgroup-left; else not_ok no-cgroup-left "$left"; fi

echo "# guest checks: $passed ok, $failed not ok"
[ "$failed" -eq 0 ]
