#!/bin/bash
# Builds a busybox image archive offline, for the engine tests (no registry is reachable).
#
#   make-image.sh OUT.tar NAME:TAG [CELLA_ROOTFS]
#
# The archive is both an OCI image layout (oci-layout, index.json, blobs/sha256/...) and a
# docker archive (manifest.json with RepoTags next to index.json), so `ctr images import`,
# `podman load` and `docker load` all accept it. One uncompressed layer holds the rootfs built
# by `cella-rootfs busybox` (Debian's busybox-static); the image's default command is `sh`, or
# the JSON array in $CELLA_IMAGE_CMD (e.g. '["sleep","1000000"]' for a CRI pause image).
# The archive is reproducible: fixed mtimes, sorted entries, numeric owners.
set -euo pipefail

die() { echo "make-image: $*" >&2; exit 2; }
(($# >= 2)) || die "usage: make-image.sh OUT.tar NAME:TAG [CELLA_ROOTFS]"
out=$1
ref=$2
tool=${3:-cella-rootfs}
cmd=${CELLA_IMAGE_CMD:-'["sh"]'}
[[ $ref == *:* ]] || die "the reference $ref has no tag (NAME:TAG)"
command -v "$tool" >/dev/null || die "$tool not found (cargo build -p rootfs-tools)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cella-test-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$tool" busybox "$work/rootfs" >/dev/null
mkdir -p "$work/image/blobs/sha256"

# The layer: the rootfs as a tar, entries relative to it (./bin/..., as image builders write).
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$work/rootfs" -cf "$work/layer.tar" .
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar")
mv "$work/layer.tar" "$work/image/blobs/sha256/$layer"

blob() { # writes stdin as a blob; prints "DIGEST SIZE"
    local tmp=$work/blob digest
    cat >"$tmp"
    digest=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$work/image/blobs/sha256/$digest"
    echo "$digest $(stat -c %s "$work/image/blobs/sha256/$digest")"
}

read -r config config_size < <(printf '%s' '{"architecture":"amd64","os":"linux",'\
'"created":"1970-01-01T00:00:00Z",'\
'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],'\
'"Cmd":'"$cmd"',"WorkingDir":"/"},'\
'"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer"'"]},'\
'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"cella make-image.sh"}]}' | blob)

read -r manifest manifest_size < <(printf '%s' '{"schemaVersion":2,'\
'"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'\
'"digest":"sha256:'"$config"'","size":'"$config_size"'},'\
'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'\
'"digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' | blob)

name=${ref%:*}
tag=${ref##*:}
# containerd names the image after io.containerd.image.name; podman and others after the
# ref.name annotation (the tag alone, or the full reference).
printf '%s' '{"schemaVersion":2,"manifests":[{'\
'"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"digest":"sha256:'"$manifest"'","size":'"$manifest_size"','\
'"annotations":{"io.containerd.image.name":"'"$ref"'",'\
'"org.opencontainers.image.ref.name":"'"$tag"'"}}]}' >"$work/image/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/image/oci-layout"
# The docker-archive view of the same blobs.
printf '%s' '[{"Config":"blobs/sha256/'"$config"'",'\
'"RepoTags":["'"$ref"'"],"Layers":["blobs/sha256/'"$layer"'"]}]' >"$work/image/manifest.json"
: "$name"

tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$work/image" -cf "$out.tmp" .
mv "$out.tmp" "$out"
