#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager for the local test
# control plane from the Go module in test/cluster/go, into a cache folder
# outside the repository:
#
#   ${MLP_CLUSTER_CACHE:-$HOME/.cache/mlpipeline-cluster}/<kubernetes version>/
#
# A binary already present there is not rebuilt. The last line printed on
# standard output is the cache folder.
#
# Environment:
#   MLP_CLUSTER_CACHE  root of the cache (default: $HOME/.cache/mlpipeline-cluster)
#   MLP_CLUSTER_JOBS   go build -p value (default: number of CPUs)
#   MLP_CLUSTER_FORCE  set to 1 to rebuild even if the binaries exist
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/go"

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "build.sh: go not found" >&2
    exit 1
  fi
fi

export GOFLAGS=-mod=mod
export CGO_ENABLED="${CGO_ENABLED:-0}"

cd "$mod"
k8s_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
cache="${MLP_CLUSTER_CACHE:-$HOME/.cache/mlpipeline-cluster}/$k8s_version"
mkdir -p "$cache"

minor="${k8s_version#v*.}"
minor="${minor%%.*}"
major="${k8s_version#v}"
major="${major%%.*}"
vpkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
jobs="${MLP_CLUSTER_JOBS:-$(nproc 2>/dev/null || echo 2)}"

build() {
  local name="$1" pkg="$2" ldflags="$3"
  if [ -x "$cache/$name" ] && [ "${MLP_CLUSTER_FORCE:-0}" != 1 ]; then
    echo "build.sh: $name present" >&2
    return
  fi
  echo "build.sh: building $name ($pkg)" >&2
  local start=$SECONDS
  go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$cache/$name.tmp.$$" "$pkg"
  mv -f "$cache/$name.tmp.$$" "$cache/$name"
  echo "build.sh: built $name in $((SECONDS - start))s" >&2
}

build etcd ./cmd/etcd "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"

printf '%s\n%s\n' "kubernetes=$k8s_version" "etcd=$etcd_version" >"$cache/versions.txt"
echo "$cache"
