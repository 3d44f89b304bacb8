#!/bin/bash
# The Lmod modulefile installed with the prefix: after `module load ckpt`,
# with nothing else set, `ckpt`, `man ckpt`, `pkg-config ckpt`,
# find_package(ckpt) and `import ckpt` work. Needs Debian's lmod (exit 77:
# skipped without it).
# Usage: module_test.sh BUILD_DIR SOURCE_DIR PYTHON
set -eu
build=$1
src=$2
python=${3:-}
init=/usr/share/lmod/lmod/init/bash
[ -f "$init" ] || { echo "module test: no lmod ($init); skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"

# A clean environment: what a user has before loading the module.
env -i HOME="$tmp" PATH=/usr/bin:/bin TMP="$tmp" SRC="$src" PY="$python" INIT="$init" \
  bash --norc --noprofile -eu <<'SCRIPT'
fail() { echo "module test: $*" >&2; exit 1; }
cd "$TMP"
export LMOD_ALLOW_ROOT_USE=yes  # the suite may run as root locally
source "$INIT"
module use "$TMP/prefix/share/modulefiles"
module load ckpt || fail "module load ckpt failed"
module -t list 2>&1 | grep -q '^ckpt/' || fail "ckpt is not loaded"

[ "$(command -v ckpt)" = "$TMP/prefix/bin/ckpt" ] || fail "ckpt on PATH is $(command -v ckpt)"
ckpt --version > /dev/null || fail "ckpt --version"

# man: the prefix's pages are found, and the system's still are.
case ":$MANPATH:" in *":$TMP/prefix/share/man:"*) ;; *) fail "MANPATH is '$MANPATH'";; esac
if command -v man > /dev/null; then
  if [ -f "$TMP/prefix/share/man/man1/ckpt.1" ]; then
    [ "$(man -w ckpt)" = "$TMP/prefix/share/man/man1/ckpt.1" ] || fail "man -w ckpt: $(man -w ckpt)"
  else
    echo "module test: no man page installed yet; man ckpt not checked"
  fi
  if [ -e /usr/share/man/man1/ls.1.gz ]; then man -w ls > /dev/null || fail "system man pages lost"; fi
fi

# pkg-config and a C program that runs (rpath, no LD_LIBRARY_PATH).
pkg-config --exists ckpt || fail "pkg-config ckpt"
cc "$SRC/tests/consumer/main.c" $(pkg-config --cflags --libs ckpt) -o c
[ "$(CKPT_DIR=job ./c 2> /dev/null)" = 1 ] || fail "C consumer"

# find_package(ckpt) with no CMAKE_PREFIX_PATH given.
cmake -S "$SRC/tests/consumer" -B cbuild > cmake.log 2>&1 || { cat cmake.log; fail "find_package(ckpt)"; }
cmake --build cbuild --target consumer > build.log 2>&1 || { cat build.log; fail "CMake consumer build"; }
[ "$(CKPT_DIR=job ./cbuild/consumer 2> /dev/null)" = 2 ] || fail "CMake consumer"

# import ckpt, and the Python demo.
if [ -n "$PY" ]; then
  where=$("$PY" -c 'import ckpt; print(ckpt.__file__)') || fail "import ckpt"
  case "$where" in "$TMP/prefix/"*) ;; *) fail "import ckpt found $where";; esac
  [ "$(CKPT_DIR=pyjob "$PY" "$SRC/examples/count.py" 3 1 2> /dev/null | tr '\n' ' ')" = "1 2 3 " ] \
    || fail "count.py"
fi

module unload ckpt
command -v ckpt > /dev/null && fail "ckpt still on PATH after unload"
echo "module test passed"
SCRIPT
