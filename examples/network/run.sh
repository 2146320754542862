#!/usr/bin/env bash
# Built-in bridge networking, without touching this machine's own network: the script makes a
# network namespace "host" (where cella runs, and where its bridge, veths and nftables table
# appear) and a namespace "outside" linked to it by a veth, then
#   1. starts a web-ish server container (static address 10.77.0.10, port 8080 published),
#   2. runs a second container that fetches from the first by address (bridge traffic),
#   3. fetches from the outside namespace through the published port on the host's address,
#   4. deletes everything and shows that nothing is left.
#
#   sudo examples/network/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

need_root
find_binaries
ensure_packages iproute2 nftables busybox-static

tag=$$
host=cella-example-host-$tag
outside=cella-example-out-$tag
work=$(mktemp -d /tmp/cella-example-network.XXXXXX)
root=$work/state
# nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup hierarchies.
in_host() { nsenter --net=/run/netns/"$host" "$@"; }
cella() { in_host "$CELLA" --root "$root" "$@"; }

cleanup() {
    cella delete --force server >/dev/null 2>&1 || true
    ip netns del "$host" 2>/dev/null || true
    ip netns del "$outside" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

note "namespaces $host (runs cella) and $outside (a machine next to it, 192.0.2.2)"
ip netns add "$host"
ip netns add "$outside"
ip link add cx-h$tag netns "$host" type veth peer name cx-o$tag netns "$outside"
ip -n "$host" addr add 192.0.2.1/24 dev cx-h$tag
ip -n "$outside" addr add 192.0.2.2/24 dev cx-o$tag
for ns in "$host" "$outside"; do
    ip -n "$ns" link set lo up
done
ip -n "$host" link set cx-h$tag up
ip -n "$outside" link set cx-o$tag up

"$CELLA_ROOTFS" busybox "$work/rootfs"
# bundle NAME ANNOTATIONS-JSON ARGS...: a bundle sharing the rootfs.
bundle() {
    local name=$1 annotations=$2
    shift 2
    mkdir -p "$work/$name"
    (cd "$work/$name" && "$CELLA" spec)
    python3 - "$work/$name/config.json" "$work/rootfs" "$annotations" "$@" <<'PY'
import json, sys
path, rootfs, annotations, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = args
c["annotations"] = json.loads(annotations)
json.dump(c, open(path, "w"), indent=2)
PY
}

bundle server '{"cella.net.mode": "bridge", "cella.net.ip": "10.77.0.10",
                "cella.net.ports": "8080:80"}' \
    sh -c 'while true; do printf "hello from %s\n" "$(hostname -i 2>/dev/null || echo server)" | nc -l -p 80; done'
bundle client '{"cella.net.mode": "bridge"}' \
    sh -c 'ip -4 -o addr show eth0; ip route; nc 10.77.0.10 80 </dev/null'

note "cella run -d server (10.77.0.10, 8080 -> 80)"
cella run --detach --bundle "$work/server" server </dev/null >/dev/null
sleep 0.3

note "cella run client: a second container reaches the server by address"
cella run --bundle "$work/client" client

note "from $outside: busybox nc 192.0.2.1 8080 (the published port on the host's address)"
ip netns exec "$outside" busybox nc 192.0.2.1 8080 </dev/null

note "what cella made in $host"
in_host ip -br link
in_host nft list table ip cella
ls "$root/@network"/*/

note "cella delete --force server: no lease, no rule, the veth goes with the namespace"
cella delete --force server
sleep 0.2
in_host ip -br link
in_host nft list ruleset
ls -A "$root/@network"
