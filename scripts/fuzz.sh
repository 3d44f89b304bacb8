#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS
# (default 60: the CI smoke run; give 3600 or more for a long run).
# Crashes go to build-fuzz/crashes/TARGET/ and make the script fail; turn
# each into a file under fuzz/regressions/TARGET/ (replayed on every run)
# and a test. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(image_fuzz app_restore_fuzz process_image_fuzz control_fuzz slurm_fuzz chain_fuzz)
build=${CKPT_FUZZ_BUILD:-$src/build-fuzz}

command -v clang++ > /dev/null || { echo "fuzz: clang++ is missing (apt-get install clang libclang-rt-dev)" >&2; exit 1; }
cmake -S "$src" -B "$build" -DCKPT_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$build.build.log" 2>&1 || { tail -30 "$build.build.log"; exit 1; }

# Seeds: real images (built by the normal build, if there is one).
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
normal=${CKPT_BUILD:-$src/build}
if [ -x "$normal/tests/make_fuzz_seeds" ]; then
  "$normal/tests/make_fuzz_seeds" "$seeds" > /dev/null
fi
# Real process images: a small program under `ckpt run`, checkpointed
# (uncompressed and zstd), then stopped.
real_images() {
  local ckpt=$normal/src/ckpt prog=$normal/tests/transparent/t_count job level
  [ -x "$ckpt" ] && [ -x "$prog" ] || return 0
  for level in 0 3; do
    job=$(mktemp -d)
    "$ckpt" run --dir "$job" --zstd "$level" -- "$prog" 600 > /dev/null 2>&1 &
    local pid=$!
    sleep 1
    if "$ckpt" checkpoint --dir "$job" --stop > /dev/null 2>&1; then
      for d in process_image_fuzz image_fuzz; do
        mkdir -p "$seeds/$d"
        cp "$job"/ckpt-*.img "$seeds/$d/real-zstd$level.img" 2> /dev/null || true
      done
    else
      kill "$pid" 2> /dev/null || true
    fi
    wait "$pid" || true
    rm -rf "$job"
  done
}
real_images
# A real chain for chain_fuzz: a full image and an increment on it, as one
# input (u32 length of the base, the base, the increment).
real_chain() {
  local ckpt=$normal/src/ckpt prog=$normal/tests/transparent/t_dirty job
  [ -x "$ckpt" ] && [ -x "$prog" ] || return 0
  job=$(mktemp -d)
  "$ckpt" run --dir "$job" -- "$prog" 1 600 plain > /dev/null 2>&1 &
  local pid=$!
  sleep 1
  if "$ckpt" checkpoint --dir "$job" > /dev/null 2>&1 &&
     "$ckpt" checkpoint --dir "$job" --stop > /dev/null 2>&1; then
    mkdir -p "$seeds/chain_fuzz"
    python3 - "$job"/ckpt-000000000001.img "$job"/ckpt-000000000002.img "$seeds/chain_fuzz/real" <<'PY'
import struct, sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
open(sys.argv[3], 'wb').write(struct.pack('<I', len(a)) + a + b)
PY
  else
    kill "$pid" 2> /dev/null || true
  fi
  wait "$pid" || true
  rm -rf "$job"
}
real_chain

status=0
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  crashes=$build/crashes/$t
  mkdir -p "$corpus" "$crashes"
  cp -n "$seeds/$t"/* "$corpus"/ 2> /dev/null || true
  regressions=$src/fuzz/regressions/$t
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$build/fuzz/$t" "$regressions"/* > "$build/$t.regressions.log" 2>&1 \
      || { echo "fuzz: $t: a regression input fails again (see $build/$t.regressions.log)"; status=1; }
  fi
  log=$build/$t.log
  if "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" > "$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz: $t: ${execs:-?} executions in ${seconds}s, no crash (corpus $(ls "$corpus" | wc -l) inputs)"
  else
    echo "fuzz: $t: CRASH, input in $crashes/ (log: $log)"
    grep -m5 -E 'ERROR|SUMMARY' "$log" || true
    status=1
  fi
done
exit $status
