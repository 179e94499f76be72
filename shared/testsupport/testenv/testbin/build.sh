#!/usr/bin/env bash
# Builds the Kubernetes binaries that Keyport's tests run, from the Go module
# proxy. There is no download host for release binaries in Keyport's build
# environments, so we compile them from source instead.
#
# Usage: build.sh <what> <output-dir>, where <what> is one of
#   kube-apiserver  the API server that envtest starts
#   etcd            its store
#   kubectl         kubectl, for machines without one on PATH (the
#                   kubectl-keyport tests run it to find the plugin)
#   kube-node       kubelet, kube-controller-manager, kube-scheduler and
#                   kube-proxy: the rest of a single-node cluster
#   containerd      containerd, containerd-shim-runc-v2 and ctr
#   runc            runc (cgo: needs gcc, pkg-config and libseccomp-dev, which
#                   debian-deps.sh installs)
#   cni             the CNI plugins bridge, host-local, loopback and portmap,
#                   into <output-dir>/cni/
#
# Each group is built from a throw-away wrapper module under
# <output-dir>/.build/<what>/, so none of these projects ever enters Keyport's
# own go.mod. A group whose binaries all exist is not rebuilt.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
RUNC_VERSION="${RUNC_VERSION:-v1.5.3}"
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-v1.10.0}"

usage="usage: build.sh <kube-apiserver|etcd|kubectl|kube-node|containerd|runc|cni> <output-dir>"
what="${1:?$usage}"
out="$(mkdir -p "${2:?output dir}" && cd "$2" && pwd)"
work="$out/.build/$what"

log() { printf '[testbin] %s\n' "$*" >&2; }

# The binaries of each group, relative to the output directory.
case "$what" in
  kube-apiserver) outputs=(kube-apiserver) ;;
  etcd) outputs=(etcd) ;;
  kubectl) outputs=(kubectl) ;;
  kube-node) outputs=(kubelet kube-controller-manager kube-scheduler kube-proxy) ;;
  containerd) outputs=(containerd containerd-shim-runc-v2 ctr) ;;
  runc) outputs=(runc) ;;
  cni) outputs=(cni/bridge cni/host-local cni/loopback cni/portmap) ;;
  *)
    echo "unknown binary: $what ($usage)" >&2
    exit 2
    ;;
esac

missing=0
for f in "${outputs[@]}"; do
  [[ -x "$out/$f" ]] || missing=1
done
if (( ! missing )); then
  if [[ "${outputs[*]}" == "$what" ]]; then
    log "$what already built at $out/$what"
  else
    log "$what already built in $out: ${outputs[*]}"
  fi
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

# gomod_of <module>@<version>: the path of that module's go.mod in the module
# cache, downloading it first. Called before the wrapper's go.mod is written:
# go refuses to run in a directory whose go.mod is half written.
gomod_of() {
  go mod download -json "$1" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p'
}

# wrapper_module <module> <version> <package>...: writes the go.mod of the
# wrapper module, which requires <module> at <version> and takes its go line,
# and a tools.go that imports the packages to build, so that `go mod tidy`
# pins every module they need.
wrapper_module() {
  local module="$1" version="$2"
  shift 2
  local go_line
  go_line="$(sed -n 's/^go \(.*\)/\1/p' "$(gomod_of "$module@$version")")"
  {
    echo "module keyport.dev/testbin/$what"
    echo
    echo "go $go_line"
    echo
    echo "require $module $version"
  } > go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    printf '\t_ "%s"\n' "$@"
    printf ')\n'
  } > tools.go
}

resolve() {
  log "resolving modules"
  go mod tidy >/dev/null
}

# build_kubernetes <command>...: compiles the named commands of
# k8s.io/kubernetes (kube-apiserver, kubelet, ...) with a single `go build`,
# so that the packages they share are compiled once.
build_kubernetes() {
  local pkgs=("${@/#/k8s.io/kubernetes/cmd/}")
  local minor_patch="${KUBERNETES_VERSION#v1.}"       # 36.3
  local staging_version="v0.${minor_patch}"            # v0.36.3
  local kube_mod
  kube_mod="$(gomod_of "k8s.io/kubernetes@$KUBERNETES_VERSION")"
  wrapper_module k8s.io/kubernetes "$KUBERNETES_VERSION" "${pkgs[@]}"
  {
    echo
    # k8s.io/kubernetes replaces every staging module with a local path that
    # does not exist outside its repository; point each at its published
    # release instead.
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_mod"
    echo ")"
  } >> go.mod
  resolve
  local major="${KUBERNETES_VERSION#v}"
  major="${major%%.*}"
  local minor="${minor_patch%%.*}"
  local pkg=k8s.io/component-base/version
  log "compiling"
  CGO_ENABLED=0 go build -trimpath -o "$work/bin/" \
    -ldflags "-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor" \
    "${pkgs[@]}"
}

case "$what" in
  kube-apiserver)
    log "building kube-apiserver $KUBERNETES_VERSION from the Go module proxy (about 4 minutes on 2 cores)"
    build_kubernetes kube-apiserver
    ;;
  kubectl)
    log "building kubectl $KUBERNETES_VERSION from the Go module proxy (about 2 minutes on 2 cores after kube-apiserver, whose packages it shares)"
    build_kubernetes kubectl
    ;;
  kube-node)
    log "building kubelet, kube-controller-manager, kube-scheduler and kube-proxy $KUBERNETES_VERSION from the Go module proxy (about 5 minutes on 2 cores, 2 after kube-apiserver, whose packages it shares)"
    build_kubernetes kubelet kube-controller-manager kube-scheduler kube-proxy
    ;;
  etcd)
    log "building etcd $ETCD_VERSION from the Go module proxy (about 35 seconds)"
    wrapper_module go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
    resolve
    log "compiling"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3
    ;;
  containerd)
    log "building containerd $CONTAINERD_VERSION from the Go module proxy (about 2 minutes on 2 cores)"
    cmds=(containerd containerd-shim-runc-v2 ctr)
    wrapper_module github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" \
      "${cmds[@]/#/github.com/containerd/containerd/v2/cmd/}"
    resolve
    log "compiling"
    # Without cgo, like containerd's own static release. The tags leave out the
    # snapshotters that the test node does not use (it uses overlayfs):
    # btrfs is C against the btrfs headers (without cgo it would drop out
    # anyway; no_btrfs says so), devmapper and zfs need host tools and pools.
    # urfave_cli_no_docs drops the man-page generator, as upstream does.
    CGO_ENABLED=0 go build -trimpath -o "$work/bin/" \
      -tags "no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
      "${cmds[@]/#/github.com/containerd/containerd/v2/cmd/}"
    ;;
  runc)
    log "building runc $RUNC_VERSION from the Go module proxy (about 20 seconds)"
    # runc cannot be built without cgo: its nsenter package is C that runs
    # before the Go runtime starts, to join the container's namespaces. The
    # seccomp tag (seccomp filters in pods) links libseccomp through pkg-config.
    if ! command -v gcc >/dev/null || ! pkg-config --exists libseccomp 2>/dev/null; then
      echo "[testbin] runc needs gcc, pkg-config and libseccomp-dev: run 'make node-deps' (shared/testsupport/testenv/testbin/debian-deps.sh)" >&2
      exit 1
    fi
    wrapper_module github.com/opencontainers/runc "$RUNC_VERSION" github.com/opencontainers/runc
    resolve
    log "compiling"
    # No version to stamp: runc embeds its VERSION file. Upstream's third
    # default tag, libpathrs, needs a Rust library; without it runc uses its
    # pure-Go path resolution.
    CGO_ENABLED=1 go build -trimpath -o "$work/bin/" \
      -tags "seccomp urfave_cli_no_docs" \
      -ldflags "-s -w" \
      github.com/opencontainers/runc
    ;;
  cni)
    log "building the CNI plugins $CNI_PLUGINS_VERSION from the Go module proxy (about 15 seconds)"
    plugins=(main/bridge ipam/host-local main/loopback meta/portmap)
    wrapper_module github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" \
      "${plugins[@]/#/github.com/containernetworking/plugins/plugins/}"
    resolve
    log "compiling"
    CGO_ENABLED=0 go build -trimpath -o "$work/bin/" \
      -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
      "${plugins[@]/#/github.com/containernetworking/plugins/plugins/}"
    ;;
esac

# Moved into place only once the whole group is built, so that a failed or
# interrupted build leaves nothing that looks finished.
for f in "${outputs[@]}"; do
  mkdir -p "$(dirname "$out/$f")"
  mv "$work/bin/${f##*/}" "$out/$f"
done
log "built $what in $(( $(date +%s) - start ))s: ${outputs[*]}"
