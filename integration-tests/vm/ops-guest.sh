#!/bin/sh
# ps, pause/resume, update and events on pure cgroup v2: run as test.sh inside the VM of
# run-vm.sh (busybox sh, root, cgroup2 at /sys/fs/cgroup with every controller enabled at the
# root, the runtime at /bin/cella, the share at /mnt holding `rootfs/`, a busybox rootfs).
#
#   share=$(mktemp -d /tmp/cella-test-vm-XXXXXX); cp ops-guest.sh $share/test.sh; cp guest-lib.sh $share/
#   cella-rootfs busybox $share/rootfs; run-vm.sh $share [; CELLA=/usr/sbin/runc run-vm.sh $share]
#
# Prints "ok NAME" or "not ok NAME: details" per check; exits 1 when any fails. Needs the VM
# harness (run-vm.sh) of the vm branch.
#
# Measured: cella passes every check (about 12 s per VM run). Debian's runc 1.1.5 passes them
# too, except events-oom in about one run out of four: its stream ends on `cgroup.events`
# "populated 0" and sometimes never reads the OOM kill from `memory.events`.

work=/run/cella-vm-ops
cgroup_parent=/cella-vm-ops
. "$(dirname "$0")/guest-lib.sh"

# bundle NAME SCRIPT RESOURCES_JSON: the container runs `sh -c SCRIPT` in /cella-vm-ops/NAME.
bundle() {
    small_bundle "$1" "$2" "" "\"resources\": $3,"
}
counter() { cat "$work/rootfs/tmp/cnt-$1" 2>/dev/null; }

mkdir -p "$work"
copy_rootfs
echo "# runtime: $("$rt" --version 2>&1 | head -n1); kernel $(uname -r)"

# (a) a counter loop with a sleeping child.
bundle a 'sleep 1000 & i=0; while true; do i=$((i+1)); echo $i > /tmp/cnt-a; sleep 0.05; done' \
    '{"memory": {"limit": 67108864}, "pids": {"limit": 50}}'
yes run-a "$rt" run -d --bundle "$work/a" ops-a </dev/null
pid=$(state_pid ops-a)
sleep 1
ps_json=$("$rt" ps --format json ops-a 2>&1)
case "$ps_json" in *"$pid"*) ok ps-json-has-init ;; *) not_ok ps-json-has-init "$ps_json (pid $pid)" ;; esac
"$rt" ps ops-a >"$work/ps" 2>&1
# busybox ps ignores -ef; its header names PID too. Short-lived `sleep 0.05` children come
# and go, so only the header and the init's row are certain.
if head -n1 "$work/ps" | grep -qw PID && grep -q "^ *$pid " "$work/ps"; then
    ok ps-table
else
    not_ok ps-table "$(tr '\n' '|' <"$work/ps")"
fi

yes pause "$rt" pause ops-a
check pause-status paused "$(status ops-a)"
# Frozen, the short-lived `sleep 0.05` children hold still: ps lists exactly the cgroup.
procs=$(tr '\n' ' ' <$cg/cella-vm-ops/a/cgroup.procs)
check ps-json-is-cgroup "[$(echo $procs | tr ' ' ',')]" "$("$rt" ps --format json ops-a 2>&1)"
check pause-cgroup.freeze 1 "$(cat $cg/cella-vm-ops/a/cgroup.freeze)"
grep -q "frozen 1" $cg/cella-vm-ops/a/cgroup.events && ok pause-frozen || not_ok pause-frozen "$(cat $cg/cella-vm-ops/a/cgroup.events)"
n1=$(counter a)
sleep 0.5
check pause-counter-stops "$n1" "$(counter a)"
fails_with pause-twice "container not running" "$rt" pause ops-a
yes resume "$rt" resume ops-a
check resume-status running "$(status ops-a)"
check resume-cgroup.freeze 0 "$(cat $cg/cella-vm-ops/a/cgroup.freeze)"
sleep 0.5
[ "$(counter a)" -gt "$n1" ] && ok resume-counter-goes-on || not_ok resume-counter-goes-on "$n1 then $(counter a)"
fails_with resume-twice "container not paused" "$rt" resume ops-a

yes update-flags "$rt" update --memory 100M --pids-limit 30 --cpu-quota 20000 --cpu-period 100000 ops-a
check update-memory.max 104857600 "$(cat $cg/cella-vm-ops/a/memory.max)"
check update-pids.max 30 "$(cat $cg/cella-vm-ops/a/pids.max)"
check update-cpu.max "20000 100000" "$(cat $cg/cella-vm-ops/a/cpu.max)"
yes update-quota-only "$rt" update --cpu-quota 30000 ops-a
check update-quota-keeps-period "30000 100000" "$(cat $cg/cella-vm-ops/a/cpu.max)"
echo '{"memory": {"limit": 52428800, "swap": 62914560}, "pids": {"limit": 41}}' >"$work/res.json"
yes update-resources-stdin sh -c "'$rt' update -r - ops-a <'$work/res.json'"
check update-stdin-memory.max 52428800 "$(cat $cg/cella-vm-ops/a/memory.max)"
check update-stdin-swap.max 10485760 "$(cat $cg/cella-vm-ops/a/memory.swap.max 2>&1)"
check update-stdin-pids.max 41 "$(cat $cg/cella-vm-ops/a/pids.max)"
# memory.checkBeforeUpdate: a limit below the usage is refused (v2 would OOM-kill instead),
# and the old limit stays.
echo '{"memory": {"limit": 65536, "checkBeforeUpdate": true}}' >"$work/low.json"
fails_with update-check-before-update checkBeforeUpdate \
    sh -c "'$rt' update -r - ops-a <'$work/low.json'"
check update-check-before-update-keeps-limit 52428800 "$(cat $cg/cella-vm-ops/a/memory.max)"

"$rt" events --stats ops-a >"$work/stats" 2>&1
stats=$(cat "$work/stats")
case "$stats" in '{"type":"stats","id":"ops-a","data":{"cpu":{"usage":{"total":'*) ok stats-envelope ;; *) not_ok stats-envelope "$stats" ;; esac
usage=$(echo "$stats" | sed -n 's/.*"memory":{"cache":[0-9]*,"usage":{"limit":52428800,"usage":\([0-9]*\).*/\1/p')
[ -n "$usage" ] && [ "$usage" -gt 0 ] && ok stats-memory-usage || not_ok stats-memory-usage "$stats"
current=$(echo "$stats" | sed -n 's/.*"pids":{"current":\([0-9]*\),"limit":41}.*/\1/p')
# sh and sleep 1000 always; the loop's short sleep comes and goes between two reads, so
# the figure must be 2 or 3 (and pids.current a moment later agrees within that range).
case "$current" in
    2 | 3) ok stats-pids-current ;;
    *) not_ok stats-pids-current "expected 2 or 3 (sh, sleep 1000, maybe the loop's sleep), got '$current' ($stats)" ;;
esac
swap_limit=$(echo "$stats" | sed -n 's/.*"swap":{"limit":\([0-9]*\).*/\1/p')
check stats-swap-is-memory-plus-swap 62914560 "$swap_limit"

"$rt" events --interval 200ms ops-a >"$work/stream" 2>&1 &
events=$!
sleep 1.1
kill "$events"
wait "$events" 2>/dev/null
lines=$(grep -c '^{"type":"stats","id":"ops-a"' "$work/stream")
[ "$lines" -ge 2 ] && ok events-stream || not_ok events-stream "$lines lines: $(head -c 300 "$work/stream")"

yes kill-a "$rt" kill ops-a KILL
yes delete-a "$rt" delete --force ops-a

# (b) OOM: the shell's variable grows until memory.max (20M) kills it; events says so and
# ends with the container.
bundle b 'while [ ! -e /tmp/go-b ]; do sleep 0.05; done; s=0123456789abcdef; while :; do s=$s$s; done' \
    '{"memory": {"limit": 20971520, "swap": 20971520}}'
yes run-b "$rt" run -d --bundle "$work/b" ops-b </dev/null
"$rt" events --interval 1s ops-b >"$work/oom" 2>&1 &
events=$!
# Time for the event stream to register (a Go runtime starts slowly under TCG).
sleep 2
touch "$work/rootfs/tmp/go-b"
i=0
while [ $i -lt 200 ] && ! grep -q '"type":"oom"' "$work/oom"; do sleep 0.1; i=$((i + 1)); done
check events-oom '{"type":"oom","id":"ops-b"}' "$(grep '"type":"oom"' "$work/oom" | head -n1)" \
    "events printed: $(cut -c1-60 "$work/oom" | tr '\n' '|'); status $(status ops-b); $(grep oom_kill $cg/cella-vm-ops/b/memory.events)"
i=0
while [ $i -lt 100 ] && kill -0 "$events" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$events" 2>/dev/null; then
    not_ok events-ends-with-container "still running"
    kill "$events"
else
    ok events-ends-with-container
fi
check oom-status stopped "$(status ops-b)"
yes delete-b "$rt" delete ops-b
rmdir $cg/cella-vm-ops 2>/dev/null
[ -e $cg/cella-vm-ops ] && not_ok no-cgroup-left "$(ls $cg/cella-vm-ops)" || ok no-cgroup-left

[ $failed -eq 0 ]
