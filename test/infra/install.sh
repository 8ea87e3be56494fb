#!/usr/bin/env bash
# Installs what the integration tests need on Debian bookworm, as root: the
# Debian packages below, then the test control plane's binaries and helm, built
# from Go modules into a cache outside the repository (test/cluster/build.sh,
# test/cluster/build-helm.sh).
# Idempotent: packages already present are not touched, and the package lists
# are refreshed only when something is missing. The system's MariaDB service is
# never started: the tests run their own mariadbd on 127.0.0.1.
set -euo pipefail

# podman builds and runs the image test's containers (runc as the runtime,
# netavark and iptables for their network and published ports); debootstrap
# makes the test's local Debian base image.
# chromium is the browser the UI tests drive (through playwright-core).
PACKAGES=(mariadb-server mariadb-client python3-sklearn shellcheck
  podman runc netavark iptables debootstrap chromium)

if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root (it calls apt-get install)" >&2
  exit 1
fi

install_packages() {
  missing=()
  for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done

  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install.sh: all packages present"
    return 0
  fi

  # Debian's maintainer scripts would start mariadb on install; policy-rc.d
  # exit 101 tells invoke-rc.d not to. Only installed when none exists, and
  # removed afterwards, so a machine's own policy is left alone.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  cleanup() { if [[ $own_policy -eq 1 ]]; then rm -f "$policy"; fi; }
  trap cleanup EXIT

  export DEBIAN_FRONTEND=noninteractive

  # The package lists are refreshed only when they cannot resolve the packages,
  # or when an install from stale lists fails (a mirror dropped an old version).
  updated=0
  if ! apt-get install -y --no-install-recommends --dry-run "${missing[@]}" >/dev/null 2>&1; then
    apt-get update
    updated=1
  fi

  echo "install.sh: installing ${missing[*]}"
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    if [[ $updated -eq 1 ]]; then
      exit 1
    fi
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

install_packages
"$(dirname "${BASH_SOURCE[0]}")/../cluster/build.sh"
"$(dirname "${BASH_SOURCE[0]}")/../cluster/build-helm.sh"
