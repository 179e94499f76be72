#!/usr/bin/env bash
# Builds the control-plane binaries that envtest needs (kube-apiserver, etcd)
# from the Go module proxy. There is no download host for envtest binaries in
# Keyport's build environments, so we compile them from source instead.
#
# Usage: build.sh <kube-apiserver|etcd> <output-dir>
#
# Each binary is built from a throw-away wrapper module under
# <output-dir>/.build/, so neither k8s.io/kubernetes nor etcd ever enters
# Keyport's own go.mod. A binary that already exists is not rebuilt.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"

what="${1:?usage: build.sh <kube-apiserver|etcd> <output-dir>}"
out="$(mkdir -p "${2:?output dir}" && cd "$2" && pwd)"
work="$out/.build/$what"

log() { printf '[testbin] %s\n' "$*" >&2; }

if [[ -x "$out/$what" ]]; then
  log "$what already built at $out/$what"
  exit 0
fi

rm -rf "$work"
mkdir -p "$work"
cd "$work"

# A heartbeat so a long, quiet compile never looks like a hang.
start=$(date +%s)
( while sleep 30; do log "still building $what ($(( $(date +%s) - start ))s elapsed)..."; done ) &
heartbeat=$!
trap 'kill $heartbeat 2>/dev/null || true' EXIT

case "$what" in
  kube-apiserver)
    log "building kube-apiserver $KUBERNETES_VERSION from the Go module proxy (about 4 minutes on 2 cores)"
    minor_patch="${KUBERNETES_VERSION#v1.}"           # 36.3
    staging_version="v0.${minor_patch}"                # v0.36.3
    kube_mod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module keyport.dev/testbin/kube-apiserver"
      echo
      echo "go $(sed -n 's/^go \(.*\)/\1/p' "$kube_mod")"
      echo
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      echo
      # k8s.io/kubernetes replaces every staging module with a local path that
      # does not exist outside its repository; point each at its published
      # release instead.
      echo "replace ("
      sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_mod"
      echo ")"
    } > go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
    log "resolving modules"
    go mod tidy >/dev/null
    major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
    minor="${minor_patch%%.*}"
    pkg=k8s.io/component-base/version
    log "compiling"
    CGO_ENABLED=0 go build -trimpath -o "$out/kube-apiserver.tmp" \
      -ldflags "-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor" \
      k8s.io/kubernetes/cmd/kube-apiserver
    ;;
  etcd)
    log "building etcd $ETCD_VERSION from the Go module proxy (about 35 seconds)"
    cat > go.mod <<MOD
module keyport.dev/testbin/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    log "resolving modules"
    go mod tidy >/dev/null
    log "compiling"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3
    ;;
  *)
    echo "unknown binary: $what (want kube-apiserver or etcd)" >&2
    exit 2
    ;;
esac

mv "$out/$what.tmp" "$out/$what"
log "built $out/$what in $(( $(date +%s) - start ))s"
