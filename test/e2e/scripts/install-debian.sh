#!/usr/bin/env bash
# Installs the Debian packages the e2e cluster needs, once: runc (the OCI runtime containerd's shim calls),
# busybox-static (the test image's only binary), gcc and libc6-dev (the static pause program), openssl (the cluster's
# certificates). Idempotent and quiet when everything is present.
set -euo pipefail

need=()
[ -x /usr/sbin/runc ] || need+=(runc)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || need+=(busybox-static)
command -v openssl >/dev/null || need+=(openssl)
# The pause image's program is linked statically against glibc.
command -v cc >/dev/null || need+=(gcc)
dpkg-query -W -f='${Status}' libc6-dev 2>/dev/null | grep -q 'install ok installed' || need+=(libc6-dev)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "[e2e setup] missing Debian packages ${need[*]}; install them as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "[e2e setup] apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
