#!/usr/bin/env bash
# Builds ckpt and runs every test: the normal build as an ordinary user,
# then the ASan+UBSan and TSan builds. As root, the tests run as the
# unprivileged user "ckpttest" (created if missing), since users are not root,
# and more stages run: the multi-node cluster test (scripts/cluster.sh), the
# transparent tests where user namespaces are refused (scripts/nons.sh), and
# the build and main suite in a fresh Debian 13 root (scripts/userland.sh).
# Usage: scripts/test.sh [--quick]   (--quick: skip the sanitizer builds,
#   the fuzz run and the Debian 13 stage)
# CKPT_DEBIAN13=0 skips the Debian 13 stage, =1 runs it even with --quick.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

"$src/scripts/deps.sh"

if [ "$(id -u)" -eq 0 ]; then
  user=ckpttest
  id -u "$user" > /dev/null 2>&1 || useradd -m -s /bin/bash "$user"
  # The second user of the two-user tests (tests/twouser, run as root below).
  id -u ckpttest2 > /dev/null 2>&1 || useradd -m -s /bin/bash ckpttest2
  # A fresh directory per run: two runs at once must not share builds.
  work=$(mktemp -d /tmp/ckpt-test.XXXXXX)
  mkdir -p "$work/src"
  tar -C "$src" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$work/src" -xf -
  chown -R "$user:" "$work"
  chmod 0755 "$work"
  mkdir -p "$work/tmp"
  chown "$user:" "$work/tmp"
  as_user() { (cd "$work" && runuser -u "$user" -- /usr/bin/env -i HOME="/home/$user" \
                PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TMPDIR="$work/tmp" "$@"); }
  root=$work/src
else
  as_user() { "$@"; }
  root=$src
fi

# A real one-node Slurm for tests/slurm (they skip if it cannot start).
if [ "$(id -u)" -eq 0 ]; then
  "$src/scripts/slurm.sh" up > /dev/null || echo "== Slurm could not be started: the Slurm tests will skip"
  trap '"$src/scripts/cluster.sh" down 2> /dev/null; "$src/scripts/slurm.sh" down' EXIT
fi

failed=0
# One style for the whole tree (.clang-format; scripts/format.sh fixes it).
echo "== format"
"$src/scripts/format.sh" --check || { echo "== format: FAILED"; failed=1; }
run_suite() {  # NAME BUILD_DIR [CMAKE_ARGS...]
  local name=$1 build=$2 t=$SECONDS
  shift 2
  echo "== $name: build"
  as_user "$root/scripts/build.sh" "$build" "$@" > "$build.build.log" 2>&1 \
    || { tail -50 "$build.build.log"; echo "== $name: BUILD FAILED"; failed=1; return; }
  echo "== $name: test (built in $((SECONDS - t)) s)"
  t=$SECONDS
  if ! as_user env ${SUITE_ENV:-} bash -c "cd '$build' && ctest -j2 --output-on-failure --timeout 600 $CTEST_ARGS"; then
    echo "== $name: TESTS FAILED"
    failed=1
  fi
  echo "== $name: tests took $((SECONDS - t)) s"
}

build_base=${root%/src}
[ "$root" = "$src" ] && build_base=$src
CTEST_ARGS="-LE twouser" run_suite "release" "$build_base/build"
# Two users: root switches to ckpttest and ckpttest2 in each test's children,
# on the release build (readable by both: $work is 0755).
if [ "$(id -u)" -eq 0 ] && [ -x "$build_base/build/tests/twouser/twouser_tests" ]; then
  echo "== two users (as root, acting as ckpttest and ckpttest2)"
  (cd "$build_base/build" && ctest --output-on-failure --timeout 120 -L twouser) \
    || { echo "== two users: TESTS FAILED"; failed=1; }
fi
# A node lost on a real multi-node Slurm: scripts/cluster.sh (as root) starts
# 3 slurmd in network namespaces; the test's jobs run as $user; the cluster
# is taken down after (also on failure: the EXIT trap).
if [ "$(id -u)" -eq 0 ] && [ -x "$build_base/build/tests/mpi/heat" ]; then
  echo "== multinode (scripts/cluster.sh: 3 Slurm nodes in network namespaces, jobs as $user)"
  t=$SECONDS
  if "$src/scripts/cluster.sh" up 3 > /dev/null; then
    (cd "$build_base/build" && CKPT_TEST_USER=$user ctest --output-on-failure --timeout 600 -L multinode) \
      || { echo "== multinode: TESTS FAILED"; failed=1; }
  else
    echo "== multinode: scripts/cluster.sh up FAILED"
    failed=1
  fi
  "$src/scripts/cluster.sh" down
  echo "== multinode: $((SECONDS - t)) s"
elif [ "$(id -u)" -eq 0 ]; then
  echo "== multinode: skipped (no MPI build: tests/mpi/heat was not built)"
fi
# Every job in the no-namespace mode: user namespaces refused (a chroot).
if [ "$(id -u)" -eq 0 ] && [ -x "$build_base/build/tests/transparent/transparent_tests" ]; then
  echo "== no-namespace mode (transparent tests in a chroot, where user namespaces are refused)"
  t=$SECONDS
  "$src/scripts/nons.sh" "$build_base/build" "$user" || { echo "== no-namespace mode: TESTS FAILED"; failed=1; }
  echo "== no-namespace mode: $((SECONDS - t)) s"
fi
if [ "$(id -u)" -eq 0 ] && [ "${CKPT_DEBIAN13:-$((1 - quick))}" = 1 ]; then
  echo "== Debian 13 (a fresh debootstrap root entered with pivot_root: deps, build, main suite)"
  t=$SECONDS
  # The kill -9 torture and the pip install run in the release suite; here
  # the point is the build and the main suite on another glibc and g++.
  "$src/scripts/userland.sh" -LE 'slurm|twouser|mpi' -E 'Torture|python_pip_install' \
    || { echo "== Debian 13: FAILED"; failed=1; }
  echo "== Debian 13: $((SECONDS - t)) s"
fi
if [ $quick -eq 0 ]; then
  # Slurm jobs and MPI jobs run in the release suite only: the Slurm jobs'
  # timing is what they test, and Open MPI's own runtime is not instrumented.
  # The tortures run 10 kill rounds here and under TSan (50 in the release
  # suite): CI took 4871 s of its 5400 with 20.
  SUITE_ENV="CKPT_TORTURE_TRIALS=10" \
  CTEST_ARGS="-E install_and_consume -LE 'slurm|twouser|mpi'" run_suite "asan+ubsan" "$build_base/build-asan" \
    -DCKPT_SANITIZE=address -DCKPT_BUILD_BENCH=OFF
  # The transparent tests run the ckpt command (its control server and the
  # dump's pipelined writer threads) sanitized; the programs, the injected
  # library and the restorer are not. halt_on_error: a race in a supervisor
  # that is then killed -9 would otherwise go unnoticed.
  # TransparentRegression.CheckpointRightAfterRestart ran past its 120 s
  # under TSan: its program (0.6 s of work) ends before a TSan supervisor's
  # first checkpoint, and the test then polls `ckpt checkpoint` thousands of
  # times. It passes in the release, ASan and no-namespace suites; left out
  # here until the test scales its program's work under sanitizers.
  SUITE_ENV="TSAN_OPTIONS=halt_on_error=1 CKPT_TORTURE_TRIALS=10" \
  CTEST_ARGS="-R 'Lib|Format|Transparent' -E 'CheckpointRightAfterRestart' -LE 'slurm|twouser'" run_suite \
    "tsan (library, async and pipelined writers, ckpt run's control server)" "$build_base/build-tsan" \
    -DCKPT_SANITIZE=thread -DCKPT_BUILD_BENCH=OFF
fi
if [ $quick -eq 0 ]; then
  echo "== fuzz: ${CKPT_FUZZ_SECONDS:-15} s smoke run of each target"
  as_user env CKPT_BUILD="$build_base/build" CKPT_FUZZ_BUILD="$build_base/build-fuzz" "$root/scripts/fuzz.sh" "${CKPT_FUZZ_SECONDS:-15}" \
    || { echo "== fuzz: FAILED"; failed=1; }
fi
echo "== total: $SECONDS s"
if [ $failed -eq 0 ]; then echo "== all suites passed"; else echo "== SOME SUITES FAILED"; fi
exit $failed
