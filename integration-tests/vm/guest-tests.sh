#!/bin/sh
# cella on pure cgroup v2: checks run as test.sh inside the VM of run-vm.sh (busybox sh, root,
# cgroup2 at /sys/fs/cgroup with every controller enabled at the root, the runtime at
# /bin/cella, the share at /mnt holding `rootfs/`, a busybox rootfs built on the host).
#
# Prints one line per check, "ok NAME" or "not ok NAME: details", and exits 1 when any fails.
# Runs the same against runc (run-vm.sh with CELLA=/usr/sbin/runc), which proves the checks.

work=/run/cella-vm
. "$(dirname "$0")/guest-lib.sh"

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
copy_rootfs
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
# ==== BEGIN linux.resources checks: every field on cgroup v2, from the VM and from inside ====
# The v1 counterpart is integration-tests/tests/resources.rs. Each container gets runc's
# default `cgroup` mount, so a probe reads its own cgroup's files inside (cgroup namespace:
# the mount is rooted at the container's cgroup). Names start with "res-".

res_cgroup_mount='{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}'
# runc 1.1 lacks a few fields (burst, idle, hugetlb reservations): under it the checks expect
# what runc does, which proves the probes (RUNC-DIFFERENCES.md lists them).
res_cella=""
"$rt" --version 2>/dev/null | head -n1 | grep -q '^cella' && res_cella=1

# res_has_line VALUE WANT: VALUE (lines joined by '|') is WANT or has it as one of its lines.
res_has_line() {
    [ "$1" = "$2" ] && return 0
    case "|$1|" in *"|$2|"*) return 0 ;; esac
    return 1
}

# res_probe NAME RESOURCES_JSON "FILE..." : creates and starts /cella-vm/res-NAME, whose probe
# prints FILE=<content, lines joined by '|'> for each FILE (read inside, through the cgroup
# mount), Cpus_allowed_list=..., then "ready", and sleeps. Returns 1 (after a not ok) when the
# container did not get that far.
res_probe() {
    n=res-$1
    # One line of words, whatever the caller's layout.
    files=$(echo "$3" | tr '\n' ' ')
    cat >"$work/rootfs/probe-$n.sh" <<EOF
#!/bin/sh
for f in $files; do
    echo "\$f=\$(tr '\n' '|' </sys/fs/cgroup/\$f 2>&1 | sed 's/|\$//')"
done
echo "Cpus_allowed_list=\$(grep Cpus_allowed_list /proc/self/status | cut -f2)"
echo ready
exec sleep 1000
EOF
    chmod +x "$work/rootfs/probe-$n.sh"
    bundle "$n" "[\"/probe-$n.sh\"]" "$2" "/cella-vm/$n" "" "$res_cgroup_mount"
    if ! "$rt" create --bundle "$work/$n" "cella-vm-$n" >"$work/$n.out" 2>"$work/$n.err" </dev/null; then
        not_ok "$n-create" "$(one_line "$work/$n.err")"
        return 1
    fi
    if ! "$rt" start "cella-vm-$n" 2>>"$work/$n.err"; then
        not_ok "$n-start" "$(one_line "$work/$n.err")"
        return 1
    fi
    i=0
    while ! grep -q '^ready' "$work/$n.out" && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    grep -q '^ready' "$work/$n.out" && return 0
    not_ok "$n-probe" "no ready: $(one_line "$work/$n.out") $(one_line "$work/$n.err")"
    return 1
}

# res_check NAME FILE WANT: FILE of /cella-vm/res-NAME holds WANT seen from the VM and inside.
res_check() {
    host=$(tr '\n' '|' <"$cg/cella-vm/res-$1/$2" 2>&1 | sed 's/|$//')
    inside=$(grep -F "$2=" "$work/res-$1.out" | head -n1)
    inside=${inside#"$2="}
    if res_has_line "$host" "$3" && res_has_line "$inside" "$3"; then
        ok "res-$1/$2"
    else
        not_ok "res-$1/$2" "expected '$3', VM '$host', inside '$inside'"
    fi
}

# res_done NAME: kill, delete, and the cgroup is gone.
res_done() {
    "$rt" kill "cella-vm-res-$1" KILL 2>/dev/null
    wait_stopped "cella-vm-res-$1"
    "$rt" delete "cella-vm-res-$1" 2>"$work/res-$1.err" \
        || not_ok "res-$1-delete" "$(one_line "$work/res-$1.err")"
    absent "res-$1-removes-cgroup" "$cg/cella-vm/res-$1"
    "$rt" delete --force "cella-vm-res-$1" >/dev/null 2>&1
}

# res_fails NAME RESOURCES_JSON NEEDLE...: `run` of true fails, its error names one of the
# NEEDLEs, and no cgroup is left.
res_fails() {
    n=res-$1
    resources=$2
    shift 2
    bundle "$n" '["true"]' "$resources" "/cella-vm/$n"
    if "$rt" run --bundle "$work/$n" "cella-vm-$n" >"$work/$n.out" 2>"$work/$n.err" </dev/null; then
        not_ok "$n" "run succeeded"
    else
        named=""
        for needle in "$@"; do grep -qF "$needle" "$work/$n.err" && named=1; done
        if [ -n "$named" ]; then ok "$n"; else not_ok "$n" "no '$*' in: $(one_line "$work/$n.err")"; fi
    fi
    "$rt" delete --force "cella-vm-$n" >/dev/null 2>&1
    absent "$n-leaves-no-cgroup" "$cg/cella-vm/$n"
}

resource_checks() {
    res_start=$(cut -d' ' -f1 /proc/uptime)
    # Memory: the spec's swap is memory+swap, memory.swap.max is swap alone (96M - 64M); the
    # reservation is memory.low. v1-only fields (swappiness, disableOOMKiller, kernel,
    # kernelTCP) have no v2 file: accepted, not applied. Hugepages, with reservations; the
    # blkio weight 500 becomes io.weight 1 + (500 - 10) * 9999 / 990 = 4950 (no BFQ here).
    # unified keys are written as given, after the converted values, so they win (pids.max).
    if res_probe memory '{
          "memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296,
                     "swappiness": 10, "disableOOMKiller": true, "kernel": 52428800,
                     "kernelTCP": 41943040, "useHierarchy": true, "checkBeforeUpdate": true},
          "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
          "blockIO": {"weight": 500, "leafWeight": 300},
          "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]},
          "pids": {"limit": 10},
          "unified": {"memory.high": "50M", "pids.max": "33", "cpu.weight.nice": "5"}
        }' "memory.max memory.low memory.swap.max memory.high hugetlb.2MB.max hugetlb.2MB.rsvd.max
            io.weight pids.max cpu.weight.nice"; then
        res_check memory memory.max 67108864
        res_check memory memory.low 33554432
        res_check memory memory.swap.max 33554432
        res_check memory hugetlb.2MB.max 4194304
        # runc 1.1 does not set reservation limits (runc issue 3859).
        res_check memory hugetlb.2MB.rsvd.max "$([ -n "$res_cella" ] && echo 4194304 || echo max)"
        res_check memory io.weight "default 4950"
        res_check memory memory.high 52428800
        res_check memory pids.max 33
        res_check memory cpu.weight.nice 5
        if [ -n "$res_cella" ]; then
            # Not applied, but said: one warning per field.
            missing=""
            for w in memory.swappiness memory.disableOOMKiller memory.kernel memory.kernelTCP blockIO.leafWeight network; do
                grep -qF "$w" "$work/res-memory.err" || missing="$missing $w"
            done
            check res-memory-v1-only-fields-warned "" "$missing" "stderr: $(one_line "$work/res-memory.err")"
        fi
    fi
    res_done memory

    # CPU: shares 512 -> cpu.weight 1 + (512 - 2) * 9999 / 262142 = 20; quota and period ->
    # cpu.max; burst; cpuset (the VM's last CPU); real-time fields are v1 only. pids -1 is
    # "max".
    cpus=$(grep -c '^processor' /proc/cpuinfo)
    last=$((cpus - 1))
    if res_probe cpu '{"cpu": {"shares": 512, "quota": 25000, "period": 50000, "burst": 5000,
          "cpus": "'"$last"'", "mems": "0", "realtimeRuntime": 20000, "realtimePeriod": 500000},
          "pids": {"limit": -1}}' \
        "cpu.weight cpu.max cpu.max.burst cpuset.cpus cpuset.mems pids.max"; then
        res_check cpu cpu.weight 20
        res_check cpu cpu.max "25000 50000"
        # runc 1.1 ignores burst (runc 1.2 added it).
        res_check cpu cpu.max.burst "$([ -n "$res_cella" ] && echo 5000 || echo 0)"
        res_check cpu cpuset.cpus $last
        res_check cpu cpuset.mems 0
        res_check cpu pids.max max
        check res-cpu/Cpus_allowed_list "Cpus_allowed_list=$last" "$(grep Cpus_allowed_list "$work/res-cpu.out")"
    fi
    res_done cpu

    # cpu.idle 1 (runc 1.1 ignores it); a quota alone gets the default period.
    if res_probe idle '{"cpu": {"idle": 1, "quota": 30000}}' "cpu.idle cpu.max"; then
        res_check idle cpu.idle "$([ -n "$res_cella" ] && echo 1 || echo 0)"
        res_check idle cpu.max "30000 100000"
    fi
    res_done idle

    # What cannot be applied fails, naming the file or field.
    res_fails unified-unknown-file '{"unified": {"memory.cella_nope": "1"}}' memory.cella_nope
    res_fails rdma-unknown-device '{"rdma": {"cella_nodev": {"hcaHandles": 3, "hcaObjects": 100}}}' rdma.max
    res_fails cpuset-beyond-cpus '{"cpu": {"cpus": "'"$cpus"'"}}' cpuset.cpus
    res_fails swap-below-memory '{"memory": {"limit": 67108864, "swap": 33554432}}' memory.swap memory+swap
    res_fails io-max-unknown-device \
        '{"blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 254, "rate": 1048576}]}}' io.max
    # A per-device weight needs BFQ, which this kernel's VM does not load: cella refuses it;
    # runc 1.1 drops it silently.
    if [ -n "$res_cella" ] && [ ! -e $cg/io.bfq.weight ]; then
        res_fails weight-device-without-bfq \
            '{"blockIO": {"weightDevice": [{"major": 254, "minor": 254, "weight": 400}]}}' io.bfq.weight
    fi

    # io.max on a real block device, if the VM has one.
    disk=""
    for d in /sys/block/*/dev; do [ -e "$d" ] && disk=$(cat "$d") && break; done
    if [ -n "$disk" ]; then
        if res_probe io "{\"blockIO\": {
              \"throttleReadBpsDevice\": [{\"major\": ${disk%:*}, \"minor\": ${disk#*:}, \"rate\": 1048576}],
              \"throttleWriteBpsDevice\": [{\"major\": ${disk%:*}, \"minor\": ${disk#*:}, \"rate\": 2097152}],
              \"throttleReadIOPSDevice\": [{\"major\": ${disk%:*}, \"minor\": ${disk#*:}, \"rate\": 100}],
              \"throttleWriteIOPSDevice\": [{\"major\": ${disk%:*}, \"minor\": ${disk#*:}, \"rate\": 200}]}}" io.max; then
            res_check io io.max "$disk rbps=1048576 wbps=2097152 riops=100 wiops=200"
        fi
        res_done io
    else
        echo "# skipped res-io/io.max with a real device: the VM has no block device"
    fi

    # Enforcement: an OOM kill shows in memory.events of the stopped container; delete then
    # removes its cgroup.
    bundle oom '["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]' \
        '{"memory": {"limit": 20971520, "swap": 20971520}}' /cella-vm/res-oom
    if "$rt" create --bundle "$work/oom" cella-vm-res-oom >/dev/null 2>"$work/oom.err" </dev/null \
        && "$rt" start cella-vm-res-oom 2>>"$work/oom.err"; then
        wait_stopped cella-vm-res-oom
        kills=$(sed -n 's/^oom_kill //p' $cg/cella-vm/res-oom/memory.events 2>&1)
        if [ "${kills:-0}" -ge 1 ] 2>/dev/null; then ok res-oom-kill-counted; else
            not_ok res-oom-kill-counted "memory.events: $(one_line $cg/cella-vm/res-oom/memory.events)"; fi
        "$rt" delete cella-vm-res-oom 2>"$work/oom.err" || not_ok res-oom-delete "$(one_line "$work/oom.err")"
    else
        not_ok res-oom-kill-counted "create/start failed: $(one_line "$work/oom.err")"
    fi
    "$rt" delete --force cella-vm-res-oom >/dev/null 2>&1
    absent res-oom-delete-removes-cgroup $cg/cella-vm/res-oom

    # A spinner under a 10% quota is throttled; delete --force of the running container (with
    # two more processes) removes its cgroup and leaves no process.
    bundle spin '["sh", "-c", "sleep 1000 & sleep 1000 & while :; do :; done"]' \
        '{"cpu": {"quota": 10000, "period": 100000}}' /cella-vm/res-spin
    if "$rt" run -d --bundle "$work/spin" cella-vm-res-spin >/dev/null 2>"$work/spin.err" </dev/null; then
        sleep 1
        throttled=$(sed -n 's/^nr_throttled //p' $cg/cella-vm/res-spin/cpu.stat)
        if [ "${throttled:-0}" -gt 0 ] 2>/dev/null; then ok res-cpu-quota-throttles; else
            not_ok res-cpu-quota-throttles "cpu.stat: $(one_line $cg/cella-vm/res-spin/cpu.stat)"; fi
        procs=$(cat $cg/cella-vm/res-spin/cgroup.procs)
        "$rt" delete --force cella-vm-res-spin 2>"$work/spin.err" \
            || not_ok res-delete-force-running "$(one_line "$work/spin.err")"
        absent res-delete-force-running-removes-cgroup $cg/cella-vm/res-spin
        left=""
        for p in $procs; do
            [ -e /proc/"$p" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null && left="$left $p"
        done
        check res-delete-force-running-kills-all "3 processes, none left" \
            "$(echo "$procs" | wc -w) processes, ${left:-none} left"
    else
        not_ok res-cpu-quota-throttles "run -d failed: $(one_line "$work/spin.err")"
    fi
    "$rt" delete --force cella-vm-res-spin >/dev/null 2>&1
    res_end=$(cut -d' ' -f1 /proc/uptime)
    echo "# resource checks took $(echo "$res_start $res_end" | awk '{printf "%d", ($2 - $1) * 1000}') ms"
}
resource_checks
# ==== END linux.resources checks ====

# Nothing of ours is left in the hierarchy.
rmdir $cg/cella-vm 2>/dev/null
left=$(find $cg -maxdepth 1 -name 'cella-vm*' | tr '\n' ' ')
if [ -z "$left" ]; then ok no-cgroup-left; else not_ok no-cgroup-left "$left"; fi

echo "# guest checks: $passed ok, $failed not ok"
[ "$failed" -eq 0 ]
