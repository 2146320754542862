#!/usr/bin/env bash
# From an image to containers: packs a busybox root filesystem as an OCI image layout (one gzip
# layer, a config with entrypoint, env, workdir and user), makes a bundle of it with
# `cella-rootfs bundle`, runs it, then makes two overlay clones with `cella-rootfs clone`, runs a
# container in each (each writes into its own clone) and removes everything with
# `cella-rootfs remove`.
#
#   sudo examples/image/run.sh
#   sudo CELLA=/usr/sbin/runc examples/image/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"

need_root
find_binaries

work=$(mktemp -d /tmp/cella-example-image.XXXXXX)
ids=()
cleanup() {
    local id dir
    for id in "${ids[@]}"; do
        "$CELLA" delete --force "$id" >/dev/null 2>&1 || true
    done
    # Clones first: the base bundle is their lower layer.
    for dir in "$work"/clone-* "$work/bundle"; do
        if [[ -e $dir ]]; then
            "$CELLA_ROOTFS" remove "$dir" >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# blob FILE: moves FILE into the layout under its digest, prints "digest size".
blob() {
    local digest size
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$work/layout/blobs/sha256/$digest"
    echo "$digest $size"
}

note "packing a busybox root filesystem as the OCI image $work/layout:demo"
"$CELLA_ROOTFS" busybox "$work/tree"
mkdir -p "$work/tree/srv/app" "$work/layout/blobs/sha256"
echo "a file of the image" >"$work/tree/srv/app/README"
chown -R 1000:1000 "$work/tree/srv/app"
tar --numeric-owner -C "$work/tree" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -6 "$work/layer.tar"
read -r layer layer_size < <(blob "$work/layer.tar.gz")
cat >"$work/config" <<JSON
{"architecture": "amd64", "os": "linux",
 "config": {"Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo \"\$GREETING from \$(pwd) as \$(id)\"; cat README; { echo written >\"\$GREETING\"; } 2>/dev/null; ls"],
            "Env": ["GREETING=hello"], "WorkingDir": "/srv/app", "User": "user"},
 "rootfs": {"type": "layers", "diff_ids": ["sha256:$diff_id"]}}
JSON
read -r config config_size < <(blob "$work/config")
cat >"$work/manifest" <<JSON
{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:$config", "size": $config_size},
 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": "sha256:$layer", "size": $layer_size}]}
JSON
read -r manifest manifest_size < <(blob "$work/manifest")
cat >"$work/layout/index.json" <<JSON
{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
 "digest": "sha256:$manifest", "size": $manifest_size,
 "annotations": {"org.opencontainers.image.ref.name": "demo"}}]}
JSON
echo '{"imageLayoutVersion": "1.0.0"}' >"$work/layout/oci-layout"
rm -rf "$work/tree"

note "$CELLA_ROOTFS bundle --image $work/layout:demo --out $work/bundle"
"$CELLA_ROOTFS" bundle --image "$work/layout:demo" --out "$work/bundle"
note "config.json process (from the image config):"
sed -n '/"process"/,/"cwd"/p' "$work/bundle/config.json"

id="cella-example-image-$$"
ids+=("$id")
note "$CELLA run --bundle $work/bundle $id"
"$CELLA" run --bundle "$work/bundle" "$id" </dev/null
"$CELLA" delete --force "$id" >/dev/null 2>&1 || true

for n in 1 2; do
    clone="$work/clone-$n"
    note "$CELLA_ROOTFS clone $work/bundle $clone"
    "$CELLA_ROOTFS" clone "$work/bundle" "$clone"
    # The default config mounts the root read-only: a clone's writes may land in its upper
    # dir. GREETING names the file the image's command writes.
    sed -i 's/"readonly": true/"readonly": false/; s/"GREETING=hello"/"GREETING=clone-'"$n"'"/' \
        "$clone/config.json"
    id="cella-example-image-clone-$n-$$"
    ids+=("$id")
    note "$CELLA run --bundle $clone $id (lists what it sees in /srv/app)"
    "$CELLA" run --bundle "$clone" "$id" </dev/null
    "$CELLA" delete --force "$id" >/dev/null 2>&1 || true
done
note "on the host: each clone's upper dir has its own file, the base has none"
ls "$work"/clone-*/upper/srv/app "$work/bundle/rootfs/srv/app"
note "mounts of the clones:"
grep "$work" /proc/self/mountinfo | awk '{print $5, $9}'

for dir in "$work"/clone-* "$work/bundle"; do
    note "$CELLA_ROOTFS remove $dir"
    "$CELLA_ROOTFS" remove "$dir"
done
if grep -q "$work" /proc/self/mountinfo; then
    die "mounts left under $work"
fi
note "no mount left under $work"
