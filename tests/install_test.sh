#!/bin/sh
# Installs ckpt to a temporary prefix and builds consumers of it: with
# find_package(ckpt) (ckpt::ckpt and ckpt::ckpt_static, from C and C++) and
# with pkg-config (ckpt for C, ckpt-cxx for C++, dynamic and --static).
# Each must run without LD_LIBRARY_PATH and resume the one before it. The
# README's C++ snippet must compile without a warning.
# Usage: install_test.sh BUILD_DIR CONSUMER_DIR
set -eu
build=$1
consumer=$2
src=$(cd "$consumer/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -x "$tmp/prefix/bin/ckpt" || fail "no bin/ckpt"
"$tmp/prefix/bin/ckpt" --version
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1 | xargs dirname)
test -f "$libdir/libckpt.a" || fail "no static library in $libdir"
test -f "$tmp/prefix/share/modulefiles/ckpt/"*.lua || fail "no modulefile"

unset LD_LIBRARY_PATH
export CKPT_DIR="$tmp/job"
runs=0
# Runs PROGRAM, which restores the counter, adds one and checkpoints.
expect_next() {
  runs=$((runs + 1))
  got=$("$@" 2> "$tmp/err") || fail "$* failed: $(cat "$tmp/err")"
  test "$got" = "$runs" || fail "$*: printed '$got', expected $runs"
}
# True if PROGRAM needs libckpt.so.
dynamic() { readelf -d "$1" | grep -q 'NEEDED.*libckpt\.so'; }

cmake -S "$consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/cbuild" > "$tmp/build.log" || { cat "$tmp/build.log"; fail "CMake consumers"; }
for p in consumer consumer_c consumer_static consumer_c_static; do expect_next "$tmp/cbuild/$p"; done
dynamic "$tmp/cbuild/consumer" || fail "ckpt::ckpt is not the shared library"
! dynamic "$tmp/cbuild/consumer_static" || fail "ckpt::ckpt_static needs libckpt.so"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc "$consumer/main.c" $(pkg-config --cflags --libs ckpt) -o "$tmp/c"
expect_next "$tmp/c"
c++ "$consumer/main.cpp" $(pkg-config --cflags --libs ckpt-cxx) -o "$tmp/cxx"
expect_next "$tmp/cxx"
cc "$consumer/main.c" $(pkg-config --static --cflags --libs ckpt) -static -o "$tmp/c-static" 2> "$tmp/static.log" \
  || { cat "$tmp/static.log"; fail "static C link"; }
expect_next "$tmp/c-static"
c++ "$consumer/main.cpp" $(pkg-config --static --cflags --libs ckpt-cxx) -static -o "$tmp/cxx-static" \
  2> "$tmp/static.log" || { cat "$tmp/static.log"; fail "static C++ link"; }
expect_next "$tmp/cxx-static"
for p in c cxx; do dynamic "$tmp/$p" || fail "$p is not dynamic"; done
for p in c-static cxx-static; do ! dynamic "$tmp/$p" || fail "$p needs libckpt.so"; done

# The README's libckpt snippet, in a main(), with warnings as errors.
{
  echo '#include <cstdio>'
  echo '#include <vector>'
  awk '/^```c\+\+/{on=1; next} on && /^```/{exit} on && /^#include/' "$src/README.md"
  echo 'static void step(std::vector<double>&) {}'
  echo 'int main() {'
  echo '  const std::size_t n = 8; const long steps = 3;'
  awk '/^```c\+\+/{on=1; next} on && /^```/{exit} on && !/^#include/' "$src/README.md"
  echo '  return 0;'
  echo '}'
} > "$tmp/readme.cpp"
grep -q 'checkpoint_if_due' "$tmp/readme.cpp" || fail "no C++ snippet found in README.md"
c++ "$tmp/readme.cpp" $(pkg-config --cflags --libs ckpt-cxx) -Wall -Wextra -Werror -o "$tmp/readme" \
  || fail "the README's C++ snippet does not compile cleanly"
(cd "$tmp" && CKPT_DIR="$tmp/readme.d" ./readme 2> /dev/null) || fail "the README's snippet does not run"
echo "install test passed"
