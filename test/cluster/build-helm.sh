#!/usr/bin/env bash
# Builds the helm command line from its Go module (helm.sh/helm/v4, fetched
# through the Go module proxy and checked against the checksum database) into a
# cache folder outside the repository:
#
#   ${MLP_CLUSTER_CACHE:-$HOME/.cache/mlpipeline-cluster}/helm/<helm version>/helm
#
# A binary already present there is not rebuilt. The last line printed on
# standard output is the path of the binary.
#
# Environment:
#   MLP_CLUSTER_CACHE  root of the cache (default: $HOME/.cache/mlpipeline-cluster)
#   MLP_HELM_VERSION   the helm.sh/helm/v4 module version (default: v4.3.2)
#   MLP_CLUSTER_JOBS   go build -p value (default: number of CPUs)
#   MLP_CLUSTER_FORCE  set to 1 to rebuild even if the binary exists
set -euo pipefail

version="${MLP_HELM_VERSION:-v4.3.2}"
cache="${MLP_CLUSTER_CACHE:-$HOME/.cache/mlpipeline-cluster}/helm/$version"
bin="$cache/helm"

if [ -x "$bin" ] && [ "${MLP_CLUSTER_FORCE:-0}" != 1 ]; then
  echo "build-helm.sh: helm $version present" >&2
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    echo "build-helm.sh: go not found" >&2
    exit 1
  fi
fi

mkdir -p "$cache"
# go install names its output after the package, so it builds into a private
# folder first and the binary is moved into place only when complete.
staging="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

echo "build-helm.sh: building helm $version" >&2
start=$SECONDS
# helm's own go.mod pins its dependencies; "go install module@version" builds
# with exactly those, outside any module of ours.
CGO_ENABLED="${CGO_ENABLED:-0}" GOBIN="$staging" go install \
  -p "${MLP_CLUSTER_JOBS:-$(nproc 2>/dev/null || echo 2)}" -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v4/cmd/helm@$version"
mv -f "$staging/helm" "$bin"
echo "build-helm.sh: built helm $version in $((SECONDS - start))s" >&2
echo "$bin"
