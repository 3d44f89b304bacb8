#!/bin/sh
# Installs ckpt to a temporary prefix and builds a consumer with
# find_package(ckpt) and one with pkg-config; both must run and resume.
set -eu
build=$1
consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -x "$tmp/prefix/bin/ckpt"
"$tmp/prefix/bin/ckpt" --version

cmake -S "$consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/cbuild" > "$tmp/build.log"
cd "$tmp"
export LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu"
export CKPT_DIR="$tmp/job"
test "$("$tmp/cbuild/consumer" 2>/dev/null)" = 1
test "$("$tmp/cbuild/consumer" 2>/dev/null)" = 2

libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
export PKG_CONFIG_PATH="$libdir"
cc "$consumer/main.c" $(pkg-config --cflags --libs ckpt) -o "$tmp/cconsumer"
test "$("$tmp/cconsumer" 2>/dev/null)" = 3
echo "install test passed"
