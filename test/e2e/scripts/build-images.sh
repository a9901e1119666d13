#!/usr/bin/env bash
# Builds the two container images the e2e node needs as OCI archives, without a registry or a Docker engine:
#   pause.tar   keymount.local/pause:e2e    the sandbox image (test/e2e/images/pause.c, linked statically)
#   busybox.tar keymount.local/busybox:e2e  Debian's static busybox with its applets as symlinks
# into ${KEYMOUNT_E2E_CACHE:-/var/cache/keymount-e2e}/images-<key>/, keyed by busybox's package version and this
# script's and pause.c's contents. Prints the directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KEYMOUNT_E2E_CACHE:-/var/cache/keymount-e2e}"
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
key=$(cat "$0" "$here/../images/pause.c" | sha256sum | cut -c1-12)
dest="$cache/images-${busybox_version//[:+~]/_}-$key"
if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sha256 and size of a file, as "sha256:<hex> <bytes>".
describe() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1) $(stat -c %s "$1")"; }

# oci_archive <name:tag> <rootfs dir> <cmd json array> <out.tar>
oci_archive() {
  local ref=$1 rootfs=$2 cmd=$3 out=$4 layout="$work/layout-${1//[\/:]/_}"
  mkdir -p "$layout/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$layout/layer.tar" .
  read -r layer_digest layer_size < <(describe "$layout/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$cmd" "$layer_digest" >"$layout/config.json"
  read -r config_digest config_size < <(describe "$layout/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$layout/manifest.json"
  read -r manifest_digest manifest_size < <(describe "$layout/manifest.json")
  for blob in layer.tar config.json manifest.json; do
    local digest
    digest=$(sha256sum "$layout/$blob" | cut -d' ' -f1)
    mv "$layout/$blob" "$layout/blobs/sha256/$digest"
  done
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$ref" "${ref##*:}" >"$layout/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out" oci-layout index.json blobs
}

mkdir -p "$work/pause" "$work/busybox/bin" "$work/out"
cc -static -Os -s -o "$work/pause/pause" "$here/../images/pause.c"
oci_archive keymount.local/pause:e2e "$work/pause" '["/pause"]' "$work/out/pause.tar"

cp /bin/busybox "$work/busybox/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/busybox/bin/$applet"
done
mkdir -p "$work/busybox/tmp" "$work/busybox/etc"
oci_archive keymount.local/busybox:e2e "$work/busybox" '["/bin/sh"]' "$work/out/busybox.tar"

echo "busybox-static $busybox_version, pause.c $key" >"$work/out/.complete"
mkdir -p "$cache"
rm -rf "$dest"
mv "$work/out" "$dest"
echo "$dest"
