#!/usr/bin/env bash
# Installs the Debian 12 packages ckpt needs to build and test, if missing.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(g++ gfortran cmake make pkg-config libzstd-dev libxxhash-dev libcli11-dev
          libgtest-dev libbenchmark-dev python3 python3-numpy util-linux clang libclang-rt-14-dev
          man-db groff-base)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
