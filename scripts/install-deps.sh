#!/usr/bin/env bash
# The one list of what truman needs from Debian 12, for building, testing and running.
# Used by the README's commands and by .ci/run; safe to run again.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libboost-dev nlohmann-json3-dev libspdlog-dev libseccomp-dev libcap-dev
  libnl-3-dev libnl-route-3-dev libcli11-dev
  libnftables-dev
  libgtest-dev libgmock-dev googletest
  busybox-static iproute2 curl procps tmux
  dnsmasq-base
  clang libclang-rt-14-dev systemd
  clang-format clang-tidy
  libarchive-dev libssl-dev libcurl4-openssl-dev docker-registry skopeo umoci
  # htpasswd, for the image tests' basic-auth registry: docker-registry does not bring it.
  apache2-utils
)
# The contract tests' OpenAPI linter and validator run on node (>= 18; Debian's is 18). A
# node installed otherwise (e.g. a newer one with its own npm) is kept: Debian's npm package
# would conflict with it.
node_packages=(nodejs npm)
if [ "${1:-}" = "--print" ]; then printf '%s\n' "${packages[@]}" "${node_packages[@]}"; exit 0; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=("${node_packages[@]}"); fi
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # docker-registry's package would start a system registry: the image tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
