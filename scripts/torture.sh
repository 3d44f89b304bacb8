#!/usr/bin/env bash
# The long crash-consistency run: 1000 kill -9s during libckpt checkpoints
# (TRIALS to change it) plus the power-loss and corruption suites.
# Usage: scripts/torture.sh [TRIALS]   (after scripts/build.sh)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${CKPT_BUILD:-$src/build}
[ -x "$build/tests/ckpt_tests" ] || "$src/scripts/build.sh" "$build"
export CKPT_BUILD_DIR=$build CKPT_TORTURE_TRIALS=${1:-1000}
exec "$build/tests/ckpt_tests" --gtest_filter='Torture.*:Format.Every*:Demo/BigState.*'
