#!/usr/bin/env bash
# Formats the C and C++ sources with the tree's .clang-format.
# Usage: scripts/format.sh [--check] [FILE...]
#   --check: change nothing; list the files that need formatting, exit 1 if any.
#   No FILE: every source file of the tree.
# The style is clang-format 14's (Debian 12); other versions format some
# constructs differently, so without version 14 the check is skipped.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
check=0
[ "${1:-}" = "--check" ] && { check=1; shift; }

cf=""
for c in clang-format-14 clang-format; do
  if command -v "$c" > /dev/null && "$c" --version | grep -q "version 14\."; then cf=$c; break; fi
done
if [ -z "$cf" ]; then
  echo "format: clang-format 14 not found; formatting not checked" >&2
  exit 0
fi

cd "$src"
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find include src tests bench fuzz examples \
    -name '*.c' -o -name '*.cc' -o -name '*.h' -o -name '*.hpp' | sort)
fi
if [ "$check" -eq 0 ]; then
  "$cf" -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  "$cf" --dry-run -Werror "$f" > /dev/null 2>&1 || { echo "format: $f needs scripts/format.sh"; bad=1; }
done
exit $bad
