#!/bin/sh
# `pip install --no-build-isolation .` from a copy of the source tree, into
# a virtual environment that sees Debian's packages (setuptools, pybind11,
# numpy; nothing from PyPI), then the Python demo runs from elsewhere.
# Usage: pip_test.sh SOURCE_DIR PYTHON
set -eu
src=$1
python=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "pip test: $*" >&2; exit 1; }

# The sources only: no build directories, no .git.
mkdir "$tmp/src"
(cd "$src" && tar --exclude='./build*' --exclude=./.git --exclude='./out' -cf - .) | tar -xf - -C "$tmp/src"
"$python" -m venv --system-site-packages "$tmp/venv" || fail "python3 -m venv (python3-venv)"
"$tmp/venv/bin/pip" install --no-build-isolation --no-index "$tmp/src" > "$tmp/pip.log" 2>&1 \
  || { cat "$tmp/pip.log"; fail "pip install failed"; }
rm -rf "$tmp/src"

cd "$tmp"
where=$("$tmp/venv/bin/python" -c 'import ckpt; print(ckpt.__file__)')
case "$where" in "$tmp/venv/"*) ;; *) fail "import ckpt found $where";; esac
out=$(CKPT_DIR="$tmp/job" "$tmp/venv/bin/python" "$src/examples/count.py" 2 1 2> /dev/null | tr '\n' ' ')
[ "$out" = "1 2 " ] || fail "count.py printed '$out'"
out=$(CKPT_DIR="$tmp/job" "$tmp/venv/bin/python" "$src/examples/count.py" 4 1 2> /dev/null | tr '\n' ' ')
[ "$out" = "3 4 " ] || fail "count.py did not resume: '$out'"
echo "pip test passed"
