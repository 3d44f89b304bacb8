#!/usr/bin/env bash
# Incremental checkpoints: for a program of MIB MiB (random data), the first
# (full) checkpoint, then the checkpoint after 1 % and after 10 % of its
# pages changed: image bytes, time, and the program's pause (longest gap
# between its 10 ms heartbeats, less one period); measured in the same run:
# dd of the same bytes (conv=fsync and oflag=direct) and memcpy; the peak
# drop of MemAvailable during each checkpoint (extra memory; noisy on a
# shared machine). Medians of RUNS. WRITE_RATE: % of the pages the program
# also writes per second during all of it (default 1).
# Usage: bench/increment_bench.sh BUILD_DIR [SIZES_MIB (256,1024)] [RUNS (3)] [DIR]
set -euo pipefail
build=$(cd "${1:?usage: increment_bench.sh BUILD_DIR [SIZES] [RUNS] [DIR]}" && pwd)
sizes=${2:-256,1024}
runs=${3:-3}
work=${4:-${TMPDIR:-/tmp}}
rate=${WRITE_RATE:-1}
ckpt=$build/src/ckpt
changer=$build/bench/programs/changer
now() { date +%s.%N; }
avail() { awk '/MemAvailable/ {print $2 * 1024}' /proc/meminfo; }
# Samples MemAvailable every 10 ms until $1 exists; prints the lowest seen.
sample_low() {
  local low; low=$(avail)
  while [ ! -e "$1" ]; do
    local a; a=$(avail)
    [ "$a" -lt "$low" ] && low=$a
    sleep 0.01
  done
  echo "$low"
}
median() { python3 -c 'import sys,statistics; print(statistics.median([float(x) for x in sys.argv[1:]]))' "$@"; }
# The longest heartbeat gap (s) in lines FROM..TO of OUT, less one period.
pause_of() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
lines = open(sys.argv[1]).read().split('\n')[int(sys.argv[2]):int(sys.argv[3])]
t = [int(l.split()[1]) for l in lines if l.startswith('hb ')]
print(max([(b - a) / 1e9 for a, b in zip(t, t[1:])] or [0]) - 0.010)
PY
}
# One checkpoint of job dir $1 whose program writes to $2: "seconds pause extra_bytes".
measure() {
  local jobdir=$1 out=$2 before after t0 t1 base low flag
  before=$(wc -l < "$out")
  flag=$(mktemp -u)
  base=$(avail)
  sample_low "$flag" > "$flag.low" &
  local sampler=$!
  t0=$(now)
  "$ckpt" checkpoint --dir "$jobdir" > /dev/null
  t1=$(now)
  touch "$flag"; wait $sampler
  low=$(cat "$flag.low"); rm -f "$flag" "$flag.low"
  sleep 0.3
  after=$(wc -l < "$out")
  echo "$(echo "$t1 - $t0" | bc) $(pause_of "$out" "$before" "$after") $((base - low))"
}
newest() { ls "$1"/ckpt-*.img | tail -1; }
wait_line() { until grep -q "^$2\$" "$1"; do sleep 0.02; done; }

printf '| MiB | dd fsync s | dd direct s | memcpy GB/s | full s (x dd fsync) | full pause ms | full extra MiB | 1 %%: bytes (of full) | 1 %%: s | 1 %%: pause ms | 10 %%: bytes (of full) | 10 %%: s | 10 %%: pause ms | incr extra MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for mib in ${sizes//,/ }; do
  declare -a DDF=() DDD=() MC=() FT=() FP=() FX=() B1=() T1=() P1=() B10=() T10=() P10=() IX=()
  for r in $(seq "$runs"); do
    d=$(mktemp -d -p "$work" incr-bench.XXXXXX)
    t0=$(now); dd if=/dev/urandom of="$d/src" bs=8M count=$((mib / 8)) status=none; 
    t0=$(now); dd if="$d/src" of="$d/dd" bs=8M conv=fsync status=none; t1=$(now)
    DDF+=("$(echo "$t1 - $t0" | bc)"); rm -f "$d/dd"
    t0=$(now); dd if="$d/src" of="$d/dd" bs=8M oflag=direct conv=fsync status=none; t1=$(now)
    DDD+=("$(echo "$t1 - $t0" | bc)"); rm -f "$d/dd" "$d/src"
    echo "0 0" > "$d/control"
    setsid "$ckpt" run --dir "$d/job" --keep 10 --full-every 100 --quiet -- "$changer" "$mib" "$d/control" "$rate" > "$d/out" 2> "$d/err" &
    sup=$!
    wait_line "$d/out" ready
    MC+=("$(awk '/^memcpy/ {print $2 / 1e9}' "$d/out")")
    sleep 0.5
    read -r s p x < <(measure "$d/job" "$d/out"); FT+=("$s"); FP+=("$p"); FX+=("$x")
    full=$(stat -c %s "$(newest "$d/job")")
    echo "1 1" > "$d/control"; wait_line "$d/out" "done 1"; sleep 0.2
    read -r s p x < <(measure "$d/job" "$d/out"); T1+=("$s"); P1+=("$p"); IX+=("$x")
    B1+=("$(echo "scale=4; $(stat -c %s "$(newest "$d/job")") / $full" | bc)")
    echo "2 10" > "$d/control"; wait_line "$d/out" "done 2"; sleep 0.2
    read -r s p x < <(measure "$d/job" "$d/out"); T10+=("$s"); P10+=("$p")
    B10+=("$(echo "scale=4; $(stat -c %s "$(newest "$d/job")") / $full" | bc)")
    kill -9 -- "-$sup" 2> /dev/null || true
    wait "$sup" 2> /dev/null || true
    rm -rf "$d"
  done
  ddf=$(median "${DDF[@]}"); ddd=$(median "${DDD[@]}"); ft=$(median "${FT[@]}")
  printf '| %s | %.2f | %.2f | %.1f | %.2f (%.1f) | %.0f | %.0f | %.2f %% | %.2f | %.0f | %.1f %% | %.2f | %.0f | %.0f |\n' \
    "$mib" "$ddf" "$ddd" "$(median "${MC[@]}")" "$ft" "$(echo "$ft / $ddf" | bc -l)" \
    "$(echo "$(median "${FP[@]}") * 1000" | bc -l)" "$(echo "$(median "${FX[@]}") / 1048576" | bc -l)" \
    "$(echo "$(median "${B1[@]}") * 100" | bc -l)" "$(median "${T1[@]}")" \
    "$(echo "$(median "${P1[@]}") * 1000" | bc -l)" \
    "$(echo "$(median "${B10[@]}") * 100" | bc -l)" "$(median "${T10[@]}")" \
    "$(echo "$(median "${P10[@]}") * 1000" | bc -l)" "$(echo "$(median "${IX[@]}") / 1048576" | bc -l)"
done
