#!/usr/bin/env bash
# Makes a local stand-in for the official Node image the Dockerfile starts
# from, for machines that can reach no container registry: Debian bookworm
# from debootstrap, plus this machine's own node, npm and Node headers, laid
# out as the official image lays them out (/usr/local/bin/node, npm under
# /usr/local/lib/node_modules, headers under /usr/local/include/node, a user
# "node" with uid and gid 1000). It is tagged with the name given, in the
# podman store given, and is made only when missing or when this machine's
# node version changed.
#
#   base-image.sh <image name> <podman root> <podman runroot>
#
# Environment:
#   MLP_DEBIAN_MIRROR  the Debian mirror (default: the first one apt uses here)
#   MLP_IMAGE_FORCE    set to 1 to make the image again even if present
#
# Needs root (debootstrap). The machine's CA certificates go into the image as
# NODE_EXTRA_CA_CERTS, so npm inside a build reaches the registry through an
# HTTPS proxy that the machine trusts; the official image relies on Node's own
# CA list instead.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: base-image.sh <image name> <podman root> <podman runroot>" >&2
  exit 2
fi
name="$1"
podman=(podman --root "$2" --runroot "$3" --runtime runc)

if [[ $(id -u) -ne 0 ]]; then
  echo "base-image.sh: run as root (debootstrap needs it)" >&2
  exit 1
fi

node_bin="$(readlink -f "$(command -v node)")"
node_version="$("$node_bin" --version)"
node_prefix="$(dirname "$(dirname "$node_bin")")"

present_version="$("${podman[@]}" image inspect --format '{{index .Labels "dev.mlpipeline.node-version"}}' "$name" 2>/dev/null || true)"
if [[ $present_version == "$node_version" && ${MLP_IMAGE_FORCE:-0} != 1 ]]; then
  echo "base-image.sh: $name present (node $node_version)" >&2
  exit 0
fi

# The mirror apt uses on this machine: deb822 sources first, then the
# one-line format.
debian_mirror() {
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
  if [[ -z $uri ]]; then
    uri="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror="${MLP_DEBIAN_MIRROR:-$(debian_mirror)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/mlpipeline-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "base-image.sh: debootstrap bookworm from $mirror" >&2
start=$SECONDS
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# What Debian's slim images leave out, and no image needs: package lists,
# documentation, manual pages, translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/*
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF

# Node where the official image has it.
install -D -m 755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
for pkg in npm corepack; do
  if [[ -d $node_prefix/lib/node_modules/$pkg ]]; then
    cp -a "$node_prefix/lib/node_modules/$pkg" "$rootfs/usr/local/lib/node_modules/"
  fi
done
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
if [[ -d $rootfs/usr/local/lib/node_modules/corepack ]]; then
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$rootfs/usr/local/bin/corepack"
fi
cp -a "$node_prefix/include/node" "$rootfs/usr/local/include/node"

install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/host-ca/ca-certificates.crt"

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

tar -C "$rootfs" --numeric-owner -c . |
  "${podman[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca/ca-certificates.crt' \
    --change "LABEL dev.mlpipeline.node-version=$node_version" \
    --change 'CMD ["node"]' \
    --message "stand-in for $name: Debian bookworm and node $node_version" \
    - "$name" >/dev/null

echo "base-image.sh: made $name (node $node_version) in $((SECONDS - start))s" >&2
