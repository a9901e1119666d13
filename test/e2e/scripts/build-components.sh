#!/usr/bin/env bash
# Builds the Kubernetes components the e2e suite runs, from the Go module proxy, into a cache outside the repo:
#   ${KEYMOUNT_E2E_CACHE:-/var/cache/keymount-e2e}/<component>-<version>/
# Versions come from the wrapper modules' go.mod files under test/e2e/go/, so a pin change builds afresh and
# anything already built is reused. Prints one line per component with the time it took.
#
#   build-components.sh [component...]     components: kube etcd containerd (default: all)
#
# GOFLAGS from the environment is honoured (use GOFLAGS=-p=1 on a shared machine); builds run at nice 19.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go_root="$here/../go"
cache="${KEYMOUNT_E2E_CACHE:-/var/cache/keymount-e2e}"
mkdir -p "$cache"

log() { printf '[e2e build] %s\n' "$*" >&2; }

# Prints the version a wrapper module pins for a required module.
pinned() { (cd "$go_root/$1" && go list -m -f '{{.Version}}' "$2"); }

# build <component> <version> <wrapper dir> <ldflags> <packages...>: go build into $cache/<component>-<version>/bin.
build() {
  local component=$1 version=$2 module=$3 ldflags=$4
  shift 4
  local dest="$cache/$component-$version"
  if [ -f "$dest/.complete" ]; then
    log "$component $version: cached in $dest"
    return
  fi
  local tmp="$dest.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  log "$component $version: building $* (cold builds take minutes; GOFLAGS='${GOFLAGS:-}')"
  local started=$SECONDS
  (cd "$go_root/$module" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/bin/" "$@")
  echo "$(date -u +%FT%TZ) built in $((SECONDS - started))s with $(go version | cut -d' ' -f3) GOFLAGS='${GOFLAGS:-}'" >"$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$component $version: built in $((SECONDS - started))s into $dest"
}

build_kube() {
  local v minor ver=k8s.io/component-base/version
  v=$(pinned kube k8s.io/kubernetes)
  minor=${v#v1.}
  minor=${minor%%.*}
  build kube "$v" kube \
    "-X $ver.gitVersion=$v -X $ver.gitMajor=1 -X $ver.gitMinor=$minor -X $ver.gitTreeState=clean -X $ver.buildDate=1970-01-01T00:00:00Z" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local v
  v=$(pinned etcd go.etcd.io/etcd/server/v3)
  build etcd "$v" etcd "" go.etcd.io/etcd/server/v3
  # go build names the binary after the module path's last element without its major version ("server").
  [ -f "$cache/etcd-$v/bin/etcd" ] || mv "$cache/etcd-$v/bin/server" "$cache/etcd-$v/bin/etcd"
}

build_containerd() {
  local v
  v=$(pinned containerd github.com/containerd/containerd/v2)
  build containerd "$v" containerd \
    "-X github.com/containerd/containerd/v2/version.Version=$v" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd containerd kube)
for c in "${components[@]}"; do
  case "$c" in
    kube) build_kube ;;
    etcd) build_etcd ;;
    containerd) build_containerd ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
done
