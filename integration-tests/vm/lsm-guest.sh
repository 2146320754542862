#!/bin/sh
# AppArmor profiles applied to container processes: run inside the VM of run-vm.sh, whose
# Debian kernel has AppArmor enabled (securityfs at /sys/kernel/security, Debian's
# apparmor_parser in /bin when the host has the `apparmor` package).
#
# A profile that denies reading /etc/cella-secret is loaded; the same bundle reads the file
# without the profile and is refused with it, and /proc/self/attr/current names the profile;
# `exec --apparmor` and an exec --process with apparmorProfile confine an exec'd process; an
# unknown profile fails `create` with a message naming it and leaves no state or cgroup.
#
# Prints "ok NAME" or "not ok NAME: details" per check; exits 1 when any fails. runc 1.1.5
# passes the same checks except lsm-unknown-profile-message (its words differ).

work=/run/cella-vm-lsm
cgroup_parent=/cella-vm-lsm
. "$(dirname "$0")/guest-lib.sh"

# bundle NAME PROFILE SCRIPT: the container runs `sh -c SCRIPT` under PROFILE ("" for none).
bundle() {
    small_bundle "$1" "$3" "${2:+\"apparmorProfile\": \"$2\",}"
}

echo "# runtime: $("$rt" --version 2>&1 | head -n1); kernel $(uname -r)"
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" != Y ]; then
    not_ok lsm-apparmor-enabled "the guest kernel has AppArmor off"
    exit 1
fi
if ! command -v apparmor_parser >/dev/null; then
    not_ok lsm-apparmor-parser "no apparmor_parser in the VM (apt-get install apparmor on the host)"
    exit 1
fi
mkdir -p "$work"
copy_rootfs
echo "top secret" >"$work/rootfs/etc/cella-secret"

# Everything allowed but reading the secret (paths are the container's: it pivoted).
if apparmor_parser -K -r >"$work/parser.out" 2>&1 <<'EOF'
profile cella-test-aa flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /etc/cella-secret r,
}
EOF
then
    ok lsm-profile-loaded
else
    not_ok lsm-profile-loaded "$(tr '\n' '|' <"$work/parser.out")"
fi

probe='cat /proc/self/attr/current; cat /etc/cella-secret || echo denied'

bundle free "" "$probe"
out=$("$rt" run --bundle "$work/free" lsm-free 2>&1 </dev/null)
check lsm-no-profile-reads-secret "unconfined|top secret" "$(echo "$out" | tr '\n' '|' | sed 's/|$//')"

bundle conf cella-test-aa "$probe"
out=$("$rt" run --bundle "$work/conf" lsm-conf 2>&1 </dev/null)
case "$out" in
    "cella-test-aa (enforce)"*) ok lsm-attr-current-names-profile ;;
    *) not_ok lsm-attr-current-names-profile "$out" ;;
esac
case "$out" in
    *"top secret"*) not_ok lsm-profile-denies-secret "$out" ;;
    *denied*) ok lsm-profile-denies-secret ;;
    *) not_ok lsm-profile-denies-secret "$out" ;;
esac

# exec into an unconfined container, with the flag and with a process file.
bundle long "" "sleep 1000"
if "$rt" run -d --bundle "$work/long" lsm-long >"$work/out" 2>&1 </dev/null; then
    out=$("$rt" exec --apparmor cella-test-aa lsm-long sh -c "$probe" 2>&1 </dev/null)
    case "$out" in
        "cella-test-aa (enforce)"*denied*) ok lsm-exec-apparmor-flag ;;
        *) not_ok lsm-exec-apparmor-flag "$out" ;;
    esac
    cat >"$work/process.json" <<EOF
{"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "$probe"],
 "env": ["PATH=/bin"], "cwd": "/", "apparmorProfile": "cella-test-aa"}
EOF
    out=$("$rt" exec --process "$work/process.json" lsm-long 2>&1 </dev/null)
    case "$out" in
        "cella-test-aa (enforce)"*denied*) ok lsm-exec-process-profile ;;
        *) not_ok lsm-exec-process-profile "$out" ;;
    esac
    out=$("$rt" exec lsm-long cat /proc/self/attr/current 2>&1 </dev/null)
    check lsm-exec-without-profile unconfined "$out"
    "$rt" delete -f lsm-long >/dev/null 2>&1
else
    not_ok lsm-exec-apparmor-flag "run -d: $(tr '\n' '|' <"$work/out")"
fi

# An unknown profile: create fails naming it, and nothing is left.
bundle bad cella-test-missing "true"
if "$rt" create --bundle "$work/bad" lsm-bad >"$work/out" 2>&1 </dev/null; then
    not_ok lsm-unknown-profile-fails "create succeeded"
    "$rt" delete -f lsm-bad >/dev/null 2>&1
else
    ok lsm-unknown-profile-fails
    if grep -q 'cella-test-missing' "$work/out"; then
        ok lsm-unknown-profile-message
    else
        not_ok lsm-unknown-profile-message "$(tr '\n' '|' <"$work/out")"
    fi
    if "$rt" state lsm-bad >/dev/null 2>&1; then
        not_ok lsm-unknown-profile-no-state "state still answers"
    else
        ok lsm-unknown-profile-no-state
    fi
    [ -e $cg/cella-vm-lsm/bad ] && not_ok lsm-unknown-profile-no-cgroup "left" \
        || ok lsm-unknown-profile-no-cgroup
fi

for c in free conf; do "$rt" delete -f "lsm-$c" >/dev/null 2>&1; done
apparmor_parser -R >/dev/null 2>&1 <<'EOF'
profile cella-test-aa {
}
EOF
rmdir $cg/cella-vm-lsm/* $cg/cella-vm-lsm 2>/dev/null
[ -e $cg/cella-vm-lsm ] && not_ok lsm-no-cgroup-left "$(ls $cg/cella-vm-lsm)" || ok lsm-no-cgroup-left

[ $failed -eq 0 ]
