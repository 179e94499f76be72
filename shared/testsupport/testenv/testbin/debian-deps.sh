#!/usr/bin/env bash
# Makes sure the Debian packages that the test node needs are installed:
#
#   gcc, libc6-dev, pkg-config,   to build runc, which needs cgo and links
#   libseccomp-dev                libseccomp (found through pkg-config)
#   libseccomp2                   runc loads it at run time
#   iproute2                      `ip` makes the node's network namespace
#   iptables                      kube-proxy (iptables mode) and the CNI bridge
#                                 and portmap plugins call iptables at run time
#
# As root it installs what is missing with apt-get; otherwise it fails with
# the command to run.
set -euo pipefail

packages=(gcc libc6-dev pkg-config libseccomp-dev libseccomp2 iptables iproute2)

log() { printf '[testbin] %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null; then
  log "not a Debian system: make sure these (or their equivalents) are installed: ${packages[*]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
  log "Debian packages for the test node present: ${packages[*]}"
  exit 0
fi

if (( EUID != 0 )); then
  echo "[testbin] missing Debian packages for the test node: ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

log "installing Debian packages for the test node: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends "${missing[@]}"
