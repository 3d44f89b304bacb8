#!/bin/bash
# How long one checkpoint-requeue-resume cycle of `ckpt sbatch` takes, and
# where the time goes. Needs a Slurm (scripts/slurm.sh up); run as an
# ordinary user. The warning is sent with `scancel --batch -s USR1` so that
# the cycle, not the 30 s time-limit check, is measured.
#   bench/slurm_cycle.sh BUILD_DIR [app|transparent] [CYCLES]
set -u
B=$(cd "${1:?usage: $0 BUILD_DIR [app|transparent] [CYCLES]}" && pwd)
MODE=${2:-app}
CYCLES=${3:-3}
[ -n "${SLURM_CONF:-}" ] || export SLURM_CONF=${CKPT_SLURM_DIR:-/tmp/ckpt-slurm}/slurm.conf
W=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-cycle-XXXXXX")
id=
cleanup() {
  [ -n "$id" ] && scancel "$id" 2>/dev/null
  [ -n "$id" ] && for _ in $(seq 100); do [ -z "$(squeue -h -j "$id" -t R,PD 2>/dev/null)" ] && break; sleep 0.1; done
  rm -rf "$W"
}
trap cleanup EXIT
OUT=$W/d/job.out
now() { date +%s.%N; }
# ckpt-slurm lines carry HH:MM:SS.mmm; as seconds since midnight.
secs() { awk -F'[:.]' '{ printf "%.3f\n", $1*3600 + $2*60 + $3 + $4/1000 }'; }
stamp() {  # the time of the Nth (1-based) ckpt-slurm line matching a pattern
  grep "^ckpt-slurm: .* $2" "$OUT" | sed -n "${3}p" | awk '{print $2}' | secs
}
midnight() { date -d "$(date +%F) 00:00:00" +%s; }
nums() { local n; n=$(grep -c '^[0-9][0-9]*$' "$OUT" 2>/dev/null); echo "${n:-0}"; }

if [ "$MODE" = app ]; then
  id=$("$B/src/ckpt" sbatch --time=10 --app --dir "$W/d" -- "$B/examples/count-signal" 1000000 20) || exit 1
else
  id=$("$B/src/ckpt" sbatch --time=10 --dir "$W/d" -- "$B/tests/slurm/plain-count" 1000000 20) || exit 1
fi
t_submit=$(now)
until [ "$(nums)" -ge 5 ]; do sleep 0.01; done
echo "mode $MODE, job $id: submission to first output $(awk -v a="$(now)" -v b="$t_submit" 'BEGIN { printf "%.2f", a - b }') s"
m=$(midnight)
printf '%-6s %9s %9s %9s %9s %9s %9s\n' cycle signal ckpt+exit requeue queued restart total
for c in $(seq "$CYCLES"); do
  until [ "$(nums)" -ge $((5 + c * 10)) ]; do sleep 0.01; done
  t0=$(now)
  scancel --batch -s USR1 "$id"
  until grep -q " run $c (" "$OUT" 2>/dev/null; do sleep 0.01; done
  base=$(nums)
  until [ "$(nums)" -gt "$base" ]; do sleep 0.005; done
  t_resume=$(now)
  warn=$(stamp x "warning signal" "$c")
  ended=$(stamp x "program ended" "$c")
  req=$(stamp x "requeueing job" "$c")
  run=$(stamp x "run $c (" 1)
  awk -v m="$m" -v t0="$t0" -v w="$warn" -v e="$ended" -v q="$req" -v r="$run" -v z="$t_resume" -v c="$c" \
    'BEGIN { t0 -= m; z -= m; printf "%-6d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", c, w - t0, e - w, q - e, r - q, z - r, z - t0 }'
done
ls -l "$W/d" | grep '\.img$' | tail -1 | awk '{print "newest image: " $5 " bytes"}'
