#!/usr/bin/env bash
# From nothing to the Iris pipeline running on a local kind cluster:
#
#   deploy/kind/up.sh
#
# creates the kind cluster, builds the image from the repository's Dockerfile
# and loads it into the node, starts MariaDB (seeded with the Iris tables) and
# SeaweedFS (an S3-compatible store) for development, creates the Secrets,
# installs the Helm chart, applies the MySQL Iris pipeline, starts a run, and
# prints how to open the UI. Running it again updates what is there; the
# credentials created the first time are kept.
#
#   deploy/kind/up.sh --print-manifests
#
# prints what it would apply (the development services, the Secrets with fresh
# credentials, the rendered chart and the pipeline) as one YAML stream, and
# needs helm only.
#
# Needs docker, kind, kubectl and helm on PATH (or named by the variables below).
#
# Environment:
#   CLUSTER_NAME  kind cluster (default: mlpipeline)
#   NAMESPACE     where everything goes (default: mlpipeline)
#   IMAGE         image name and tag (default: mlpipeline-operator:dev, as values.yaml says)
#   DOCKER, KIND, KUBECTL, HELM  the commands to use
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

CLUSTER_NAME="${CLUSTER_NAME:-mlpipeline}"
NAMESPACE="${NAMESPACE:-mlpipeline}"
IMAGE="${IMAGE:-mlpipeline-operator:dev}"
DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"
KUBECTL="${KUBECTL:-kubectl}"
HELM="${HELM:-helm}"

RELEASE=mlpipeline
PIPELINE=iris-mysql
BUCKET=models

log() { printf 'up.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: install it, or name it with the variable of the same name"
  done
}

k() { "$KUBECTL" --context "kind-$CLUSTER_NAME" "$@"; }

# 32 hexadecimal characters from the kernel's random source.
random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# A key of an existing Secret, decoded; empty when there is none (or no cluster).
existing_secret_value() {
  [[ $mode == install ]] || return 0
  k -n "$NAMESPACE" get secret "$1" -o "jsonpath={.data.$2}" 2>/dev/null | base64 --decode 2>/dev/null || true
}

# Credentials: the ones in the cluster when there are some, since MariaDB keeps
# the password it was first started with; fresh ones otherwise.
load_credentials() {
  root_password="$(existing_secret_value mariadb root-password)"
  db_password="$(existing_secret_value mariadb password)"
  s3_access_key="$(existing_secret_value mlpipeline-s3 AWS_ACCESS_KEY_ID)"
  s3_secret_key="$(existing_secret_value mlpipeline-s3 AWS_SECRET_ACCESS_KEY)"
  ui_token="$(existing_secret_value mlpipeline-ui-token token)"
  root_password="${root_password:-$(random_hex)}"
  db_password="${db_password:-$(random_hex)}"
  s3_access_key="${s3_access_key:-$(random_hex)}"
  s3_secret_key="${s3_secret_key:-$(random_hex)}"
  ui_token="${ui_token:-$(random_hex)}"
}

# A Secret with one string value per "key=value" argument. The values here are
# hexadecimal or URLs built from them, so they need no YAML quoting beyond '...'.
secret_yaml() {
  local name="$1" pair
  shift
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\ntype: Opaque\nstringData:\n' "$name" "$NAMESPACE"
  for pair in "$@"; do
    printf "  %s: '%s'\n" "${pair%%=*}" "${pair#*=}"
  done
}

# Everything the development set-up needs besides the chart, in order.
dev_manifests() {
  local db_url="mysql://mlp:$db_password@mariadb.$NAMESPACE.svc:3306/ml"
  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NAMESPACE"
  secret_yaml mariadb "root-password=$root_password" "password=$db_password"
  # The deployment's results database, and the Secret the pipeline names (connectionSecretRef rds).
  secret_yaml mlpipeline-db "url=$db_url"
  secret_yaml rds "url=$db_url"
  secret_yaml mlpipeline-s3 "AWS_ACCESS_KEY_ID=$s3_access_key" "AWS_SECRET_ACCESS_KEY=$s3_secret_key"
  secret_yaml mlpipeline-ui-token "token=$ui_token"
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: seaweedfs-s3\n  namespace: %s\ntype: Opaque\nstringData:\n  s3.json: |\n' "$NAMESPACE"
  printf '    {"identities": [{"name": "mlpipeline", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n' \
    "$s3_access_key" "$s3_secret_key"
  printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: iris-seed\n  namespace: %s\ndata:\n  seed.sql: |\n' "$NAMESPACE"
  sed 's/^/    /' "$root/examples/mysql/seed.sql"
  in_namespace "$here/mariadb.yaml"
  in_namespace "$here/seaweedfs.yaml"
}

# The release, the chart and its values, for helm template and helm upgrade alike.
chart_args=(
  "$RELEASE" "$root/charts/mlpipeline-operator"
  --namespace "$NAMESPACE"
  --values "$here/values.yaml"
  --set "image.repository=${IMAGE%:*}"
  --set "image.tag=${IMAGE##*:}"
  --set "s3.bucket=$BUCKET"
  --set "s3.endpoint=http://seaweedfs.$NAMESPACE.svc:8333"
)

# A manifest file whose objects name no namespace, with $NAMESPACE added.
in_namespace() {
  printf -- '---\n'
  awk -v ns="$NAMESPACE" '{ print } /^metadata:$/ { print "  namespace: " ns }' "$1"
}

print_manifests() {
  require "$HELM"
  load_credentials
  dev_manifests
  "$HELM" template "${chart_args[@]}" --include-crds
  in_namespace "$root/examples/mysql/iris-mysql.yaml"
}

install() {
  require "$DOCKER" "$KIND" "$KUBECTL" "$HELM"

  if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "kind cluster $CLUSTER_NAME exists"
  else
    log "creating kind cluster $CLUSTER_NAME"
    "$KIND" create cluster --name "$CLUSTER_NAME" --config "$here/cluster.yaml" --wait 120s
  fi

  log "building $IMAGE"
  "$DOCKER" build -t "$IMAGE" "$root"
  "$KIND" load docker-image "$IMAGE" --name "$CLUSTER_NAME"

  log "starting MariaDB and SeaweedFS in namespace $NAMESPACE"
  load_credentials
  dev_manifests | k apply -f -
  k -n "$NAMESPACE" rollout status deployment/mariadb deployment/seaweedfs --timeout=300s
  # weed shell talks to the master inside the pod; creating a bucket that exists is refused, which is fine.
  k -n "$NAMESPACE" exec deployment/seaweedfs -- \
    sh -c "echo 's3.bucket.create -name $BUCKET' | weed shell -master=localhost:9333" >/dev/null || true

  log "installing the chart"
  "$HELM" --kube-context "kind-$CLUSTER_NAME" upgrade --install "${chart_args[@]}"
  k -n "$NAMESPACE" rollout status "deployment/$RELEASE-controller" "deployment/$RELEASE-ui" --timeout=300s

  log "applying the Iris pipeline and starting a run"
  in_namespace "$root/examples/mysql/iris-mysql.yaml" | k apply -f -
  k -n "$NAMESPACE" annotate --overwrite mlpipeline "$PIPELINE" "mlpipeline.dev/run-now=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

  cat <<INSTRUCTIONS

The Iris pipeline runs now and every 2 minutes. Watch it:
  kubectl --context kind-$CLUSTER_NAME -n $NAMESPACE get mlpipeline $PIPELINE --watch
  kubectl --context kind-$CLUSTER_NAME -n $NAMESPACE get jobs,pods

Open the UI:
  kubectl --context kind-$CLUSTER_NAME -n $NAMESPACE port-forward service/$RELEASE-ui 8080:80
  then browse http://127.0.0.1:8080/ (actions ask for the token:
  kubectl --context kind-$CLUSTER_NAME -n $NAMESPACE get secret mlpipeline-ui-token -o jsonpath='{.data.token}' | base64 --decode)

The predictions are in MariaDB:
  kubectl --context kind-$CLUSTER_NAME -n $NAMESPACE exec -it deployment/mariadb -- \\
    sh -c 'mariadb -umlp -p"\$MARIADB_PASSWORD" ml -e "SELECT run_id, label, COUNT(*) FROM predictions GROUP BY 1, 2"'

Remove everything:
  kind delete cluster --name $CLUSTER_NAME
INSTRUCTIONS
}

mode=install
case "${1:-}" in
  '') ;;
  --print-manifests) mode=print ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument $1 (see --help)" ;;
esac

if [[ $mode == print ]]; then
  print_manifests
else
  install
fi
