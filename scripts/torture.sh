#!/usr/bin/env bash
# The long crash-consistency run: 1000 kill -9s during libckpt checkpoints
# and 1000 of the `ckpt run` supervisor while it writes process images
# (TRIALS to change both), plus the power-loss and corruption suites, and
# 5000 random bit flips in a real process image (CKPT_CORRUPTION_TRIALS).
# Usage: scripts/torture.sh [TRIALS]   (after scripts/build.sh; as an ordinary
# user, like the users of `ckpt run`). CKPT_TORTURE_SEED repeats the
# transparent run's random choices.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${CKPT_BUILD:-$src/build}
[ -x "$build/tests/ckpt_tests" ] && [ -x "$build/tests/transparent/transparent_torture_tests" ] \
  || "$src/scripts/build.sh" "$build"
export CKPT_BUILD_DIR=$build CKPT_TORTURE_TRIALS=${1:-1000}
status=0
"$build/tests/ckpt_tests" --gtest_filter='Torture.*:Format.Every*:Demo/BigState.*' || status=1
"$build/tests/transparent/transparent_torture_tests" --gtest_filter='TransparentTorture.*' || status=1
CKPT_CORRUPTION_TRIALS=${CKPT_CORRUPTION_TRIALS:-5000} \
  "$build/tests/transparent/hostile_tests" --gtest_filter='TransparentCorruption.*' || status=1
exit $status
