#!/bin/bash
# Transparent checkpointing benchmark: checkpoint wall time against
# `dd conv=fsync` of the same number of bytes in the same directory, the
# program's pause, image size, and restart time (until the resumed program's
# first heartbeat). Usage: bench/transparent/run.sh BUILD_DIR [WORK_DIR] [SIZES_MIB...]
set -u
BUILD=${1:?build directory}; shift
WORK=${1:-${TMPDIR:-/tmp}/ckpt-bench}; shift || true
SIZES=${*:-256 1024}
CK=$BUILD/src/ckpt
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK" && chmod 700 "$WORK"
cc -O2 -o "$WORK/heartbeat" "$HERE/heartbeat.c" || exit 1
ns() { date +%s%N; }
max_gap_ms() {  # FILE FROM_NS TO_NS: the longest gap between beats in [FROM, TO + 2 s]
  awk -v a="$2" -v b="$3" '$1=="beat" && $2>=a-100000000 && $2<=b+2000000000 {
    if (p) { g=$2-p; if (g>m) m=g } p=$2 } END { printf "%.0f", m/1e6 }' "$1"
}
printf "%-6s %-12s %10s %10s %8s %10s %8s %10s %10s\n" MiB data ckpt_s dd_s ratio pause_ms image_MiB restart_s zstd
for mib in $SIZES; do
  for kind in random compressible; do
    D=$WORK/job; rm -rf "$D" "$WORK/out"
    "$CK" run --dir "$D" -- "$WORK/heartbeat" "$mib" "$kind" > "$WORK/out" 2>/dev/null &
    sup=$!
    until grep -q ready "$WORK/out" 2>/dev/null; do sleep 0.1; done
    sleep 0.5
    t0=$(ns); "$CK" checkpoint --dir "$D" > /dev/null || echo "checkpoint failed"; t1=$(ns)
    sleep 0.5
    img=$(ls "$D"/ckpt-*.img | tail -1); bytes=$(stat -c %s "$img")
    pause=$(max_gap_ms "$WORK/out" "$t0" "$t1")
    kill -9 -- $(pgrep -P $sup) $sup 2>/dev/null; wait $sup 2>/dev/null
    sync; t2=$(ns)
    # the same bytes (the image, from the page cache: zeros would flatter a thin-provisioned disk)
    cat "$img" > /dev/null
    dd if="$img" of="$WORK/dd.bin" bs=1M conv=fsync status=none
    t3=$(ns); rm -f "$WORK/dd.bin"
    # restart: from the ckpt restart command to the first heartbeat after it
    lines=$(wc -l < "$WORK/out")
    "$CK" restart --dir "$D" >> "$WORK/out" 2>/dev/null &
    sup=$!
    t4=$(ns)
    first=""
    for i in $(seq 1 600); do
      first=$(awk -v t="$t4" '$1=="beat" && $2>t {print $2; exit}' "$WORK/out")
      [ -n "$first" ] && break; sleep 0.05
    done
    kill -9 -- $(pgrep -P $sup) $sup 2>/dev/null; wait $sup 2>/dev/null
    # zstd level 1 checkpoint of the same program, wall time only
    rm -rf "$D"; : > "$WORK/out"
    "$CK" run --dir "$D" --zstd 1 -- "$WORK/heartbeat" "$mib" "$kind" > "$WORK/out" 2>/dev/null &
    sup=$!
    until grep -q ready "$WORK/out" 2>/dev/null; do sleep 0.1; done
    t5=$(ns); "$CK" checkpoint --dir "$D" > /dev/null; t6=$(ns)
    zimg=$(stat -c %s "$(ls "$D"/ckpt-*.img | tail -1)")
    kill -9 -- $(pgrep -P $sup) $sup 2>/dev/null; wait $sup 2>/dev/null
    awk -v m="$mib" -v k="$kind" -v c=$((t1-t0)) -v d=$((t3-t2)) -v p="$pause" -v b="$bytes" \
        -v r=$(( ${first:-$t4} - t4 )) -v z=$((t6-t5)) -v zb="$zimg" 'BEGIN {
      printf "%-6s %-12s %10.2f %10.2f %8.2f %10s %8.0f %10.2f %5.2fs/%.0fMiB\n", m, k, c/1e9, d/1e9,
             d/c, p, b/1048576, r/1e9, z/1e9, zb/1048576 }'
  done
done
rm -rf "$WORK/job" "$WORK/out"
echo "ratio = dd time / checkpoint time (1.0: checkpoint at the disk's fsync'd bandwidth)"
