#!/bin/sh
# SELinux labels applied to containers: run inside the VM of run-vm.sh booted with
# CELLA_VM_APPEND="security=selinux selinux=1 enforcing=0", whose initramfs carries the
# host's load_policy and Debian's reference policy (package selinux-policy-default).
#
# The policy is loaded in permissive mode (the busybox guest has no file labels, so
# enforcing would stop everything), which still makes the kernel check every context: a
# process label must be valid to be written, and a context= mount option to be mounted.
# Checked: process.selinuxLabel is the label of the container's program
# (/proc/self/attr/current); linux.mountLabel labels the container's tmpfs mounts (context=
# in mountinfo) but not proc; `exec --process-label` labels an exec'd process; a label the
# policy does not know fails `create` with its name and leaves no state or cgroup.
#
# Prints "ok NAME" or "not ok NAME: details" per check; exits 1 when any fails.

work=/run/cella-vm-selinux
cgroup_parent=/cella-vm-selinux
. "$(dirname "$0")/guest-lib.sh"
label=system_u:system_r:initrc_t:s0
file_label=system_u:object_r:tmpfs_t:s0

# bundle NAME LABEL MOUNT_LABEL SCRIPT ("" for no label), with a /tmp tmpfs.
bundle() {
    small_bundle "$1" "$4" "${2:+\"selinuxLabel\": \"$2\",}" \
        "${3:+\"mountLabel\": \"$3\",}" \
        ',{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}'
}

echo "# runtime: $("$rt" --version 2>&1 | head -n1); kernel $(uname -r)"
mount -t selinuxfs selinuxfs /sys/fs/selinux 2>/dev/null
if [ ! -e /sys/fs/selinux/enforce ]; then
    not_ok selinux-enabled "no selinuxfs: boot with security=selinux selinux=1"
    exit 1
fi
mkdir -p "$work"
if load_policy >"$work.load" 2>&1; then
    ok selinux-policy-loaded
else
    not_ok selinux-policy-loaded "$(tr '\n' '|' <"$work.load")"
    exit 1
fi
check selinux-permissive 0 "$(cat /sys/fs/selinux/enforce)"
mkdir -p "$work"
copy_rootfs

# The attr file ends in a NUL byte; no backslashes here, the text also goes into JSON.
attr="tr -d '[:cntrl:]' </proc/self/attr/current; echo"
bundle plain "" "" "$attr"
out=$("$rt" run --bundle "$work/plain" se-plain 2>&1 </dev/null)
case "$out" in
    "$label") not_ok selinux-no-label-keeps-own "$out" ;;
    *:*) ok selinux-no-label-keeps-own ;;
    *) not_ok selinux-no-label-keeps-own "$out" ;;
esac

bundle lab "$label" "$file_label" "$attr; grep -E ' /(tmp|proc) ' /proc/self/mountinfo"
out=$("$rt" run --bundle "$work/lab" se-lab 2>&1 </dev/null)
check selinux-process-label "$label" "$(echo "$out" | head -n1)" "$out"
tmp_line=$(echo "$out" | grep ' /tmp ')
case "$tmp_line" in
    *context=*"$file_label"*) ok selinux-mount-label-on-tmpfs ;;
    *) not_ok selinux-mount-label-on-tmpfs "$out" ;;
esac
proc_line=$(echo "$out" | grep ' /proc ')
case "$proc_line" in
    *context=*) not_ok selinux-no-mount-label-on-proc "$proc_line" ;;
    "") not_ok selinux-no-mount-label-on-proc "no /proc line: $out" ;;
    *) ok selinux-no-mount-label-on-proc ;;
esac

bundle long "" "" "sleep 1000"
if "$rt" run -d --bundle "$work/long" se-long >"$work/out" 2>&1 </dev/null; then
    out=$("$rt" exec --process-label "$label" se-long sh -c "$attr" 2>&1 </dev/null)
    check selinux-exec-process-label "$label" "$out"
    "$rt" delete -f se-long >/dev/null 2>&1
else
    not_ok selinux-exec-process-label "run -d: $(tr '\n' '|' <"$work/out")"
fi

bad=system_u:system_r:cella_no_such_t:s0
bundle bad "$bad" "" "true"
if "$rt" create --bundle "$work/bad" se-bad >"$work/out" 2>&1 </dev/null; then
    not_ok selinux-invalid-label-fails "create succeeded"
    "$rt" delete -f se-bad >/dev/null 2>&1
else
    ok selinux-invalid-label-fails
    grep -q cella_no_such_t "$work/out" && ok selinux-invalid-label-message \
        || not_ok selinux-invalid-label-message "$(tr '\n' '|' <"$work/out")"
    "$rt" state se-bad >/dev/null 2>&1 && not_ok selinux-invalid-label-no-state "state answers" \
        || ok selinux-invalid-label-no-state
fi

rmdir $cg/cella-vm-selinux/* $cg/cella-vm-selinux 2>/dev/null
[ -e $cg/cella-vm-selinux ] && not_ok selinux-no-cgroup-left "$(ls $cg/cella-vm-selinux)" \
    || ok selinux-no-cgroup-left

[ $failed -eq 0 ]
