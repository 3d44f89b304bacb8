#!/usr/bin/env bash
# Installs the packages ckpt needs to build and test, if missing. The names
# resolve on Debian 12, Debian 13 and Ubuntu 24.04 (use the unversioned
# names: libclang-rt-dev, not libclang-rt-14-dev).
# Needs root (or sudo) only when something is missing.
# Usage: scripts/deps.sh [--required]   (--required: leave out the extras)
set -euo pipefail

# Build and the main tests: a missing one stops here.
required=(
  g++ gfortran cmake make pkg-config
  libzstd-dev libxxhash-dev libcli11-dev
  libgtest-dev libbenchmark-dev
  python3 python3-numpy perl gawk util-linux sqlite3 xz-utils findutils
  python3-dev python3-pybind11 pybind11-dev python3-setuptools python3-wheel python3-venv
  lmod clang-format man-db groff-base
)
# Optional parts (the fuzz build: clang and its libFuzzer runtime; libckpt's
# MPI mode and the multi-node cluster: Open MPI, iproute2): each
# one that cannot be installed is named in a warning, and the rest goes on.
optional=(
  clang libclang-rt-dev
  openmpi-bin libopenmpi-dev iproute2
)
[ "${1:-}" = "--required" ] && optional=()

missing() {  # PACKAGE... -> the ones not installed
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t need < <(missing "${required[@]}")
mapfile -t extra < <(missing "${optional[@]+"${optional[@]}"}")
[ ${#need[@]} -eq 0 ] && [ ${#extra[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo > /dev/null; then
    if [ ${#need[@]} -eq 0 ]; then
      echo "deps: warning: the optional ${extra[*]} are missing (need root to install); going on" >&2
      exit 0
    fi
    echo "deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  sudo=sudo
fi
install() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$@" > /dev/null
}
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  install "${need[@]}"
fi
if [ ${#extra[@]} -gt 0 ]; then
  echo "deps: installing the extras ${extra[*]}"
  if ! install "${extra[@]}" 2> /dev/null; then
    for p in "${extra[@]}"; do
      install "$p" 2> /dev/null || echo "deps: warning: cannot install $p (optional: fuzzing needs it); going on" >&2
    done
  fi
fi
exit 0
