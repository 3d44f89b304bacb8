#!/bin/bash
# A node lost mid-run on a real multi-node Slurm (scripts/cluster.sh): the
# heat stencil, 6 ranks over 3 nodes, submitted with `ckpt sbatch --app
# --mpi=pmix -N2-3`, checkpoints every 10 steps to the node-local level
# with its redundancy (partner copies, or XOR sets with CKPT_REDUNDANCY=xor),
# and nothing on the durable level (CKPT_FLUSH_EVERY=0: only the redundancy
# can save it). Node n2 is killed (slurmd, every process, its node-local
# /tmp); Slurm sees the node fail and requeues the job on the 2 remaining
# nodes with the same rank count; it resumes from the redundancy and ends
# bit-identical to an uninterrupted run.
#
# Run as root; the jobs run as CKPT_TEST_USER (ckpttest). Starts the cluster
# when it is not up (and then takes it down at the end).
#   tests/mpi/multinode_test.sh BUILD_DIR SOURCE_DIR
# Environment: CKPT_REDUNDANCY (partner|xor), CKPT_MULTINODE_BALLAST (MiB per
# rank added to the image, default 0), CKPT_MULTINODE_TIMES (a file that gets
# the timing line). Exit 77 (skipped) when the cluster cannot run here.
set -u
build=$1 src=$2
user=${CKPT_TEST_USER:-ckpttest}
scheme=${CKPT_REDUNDANCY:-partner}
ballast=${CKPT_MULTINODE_BALLAST:-0}
cluster=$src/scripts/cluster.sh
say() { echo "multinode_test: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "skipped: needs root to start scripts/cluster.sh"; exit 77; }
id "$user" >/dev/null 2>&1 || { say "skipped: no user $user"; exit 77; }
export SLURM_CONF=/var/tmp/ckpt-cluster/slurm.conf
started=0
if ! "$cluster" status; then
  "$cluster" up 3 >/dev/null
  rc=$?
  [ $rc = 77 ] && exit 77
  [ $rc = 0 ] || { say "FAILED: scripts/cluster.sh up"; exit 1; }
  started=1
fi
# Shared by all nodes (not under /tmp: every node has its own).
work=$(mktemp -d /var/tmp/ckpt-multinode-XXXXXX)
chown "$user" "$work"
chmod 0755 "$work"
job=""
finish() {
  [ -n "$job" ] && scancel "$job" 2>/dev/null
  "$cluster" revive-node n2 >/dev/null 2>&1
  [ $started = 1 ] && "$cluster" down
}
fail() {
  say "FAILED: $*"
  say "job output:"; sed 's/^/  /' "$work/d/job.out" >&2 2>/dev/null
  say "slurmctld log (tail):"; tail -20 /var/tmp/ckpt-cluster/log/slurmctld.log 2>/dev/null | sed 's/^/  /' >&2
  trap - EXIT
  finish
  say "kept $work"
  exit 1
}
trap 'finish; rm -rf "$work"' EXIT
as_user() {
  runuser -u "$user" -- env -i HOME=/tmp PATH=/usr/bin:/bin SLURM_CONF=$SLURM_CONF \
    CKPT_REDUNDANCY=$scheme CKPT_FLUSH_EVERY=0 "$@"
}
now() { date +%s.%N; }
heat=$build/tests/mpi/heat
args=(--n 60 --steps 300 --every 10 --sleep-ms 30 --ballast "$ballast")
# Big images: fewer checkpoints (generation 5 is still the one lost).
[ "$ballast" -gt 0 ] && args=(--n 60 --steps 120 --every 20 --sleep-ms 30 --ballast "$ballast")

cd "$work" || exit 1
as_user CKPT_DIR=$work/ref.d timeout 300 srun -N3 -n6 "$heat" "${args[@]}" --every 0 --out "$work/ref.bin" \
  >"$work/ref.log" 2>&1 || fail "the uninterrupted run failed: $(tail -3 "$work/ref.log")"

job=$(as_user "$build/src/ckpt" sbatch --app --mpi=pmix -N2-3 -n6 --overcommit --dir "$work/d" -- \
  "$heat" "${args[@]}" --out "$work/out.bin" --times "$work/times" 2>"$work/sbatch.err") ||
  fail "ckpt sbatch: $(cat "$work/sbatch.err")"
# Generation 5 committed on n2 (its manifest), then the node dies.
for _ in $(seq 1200); do
  ls /var/tmp/ckpt-cluster/local/n2/ckpt-mpi-*/node-n2/manifest-000000000005 >/dev/null 2>&1 && break
  sleep 0.1
done
ls /var/tmp/ckpt-cluster/local/n2/ckpt-mpi-*/node-n2/manifest-000000000005 >/dev/null 2>&1 ||
  fail "generation 5 was not committed on n2 in 120 s"
t_kill=$(now)
"$cluster" kill-node n2 2>/dev/null || fail "kill-node"
# Until the job is done: when Slurm requeued it (it left RUNNING) and when
# it ran again.
t_requeued="" t_running=""
for _ in $(seq 2400); do
  st=$(squeue -h -j "$job" -o %T 2>/dev/null)
  [ -z "$st" ] && break
  [ -z "$t_requeued" ] && [ "$st" != RUNNING ] && t_requeued=$(now)
  [ -n "$t_requeued" ] && [ -z "$t_running" ] && [ "$st" = RUNNING ] && t_running=$(now)
  sleep 0.1
done
[ -z "$st" ] || fail "job $job still $st after 240 s"
out=$work/d/job.out
grep -q "program finished in run 2" "$out" || fail "the job did not finish in its second run"
grep -q "run 2 of job $job on .*: requeued by Slurm" "$out" || fail "no line for Slurm's requeue"
restored=$(grep -o "restored generation .* of 6 ranks.*" "$out")
case $scheme in
  xor) echo "$restored" | grep -q "([1-9][0-9]* rebuilt from XOR sets, 0 from the durable level)" ;;
  *) echo "$restored" | grep -q "([1-9][0-9]* from partner copies, 0 from the durable level)" ;;
esac || fail "not restored from the $scheme copies: '$restored'"
cmp -s "$work/out.bin" "$work/ref.bin" || fail "the result differs from the uninterrupted run"
# The timeline; "resumed" is rank 0 after restore() in the second run.
t_started=$(awk '$1 == "started" {t = $2} END {printf "%.3f", t / 1e9}' "$work/times")
t_restored=$(awk '$1 == "restored" {t = $3} END {printf "%.3f", t / 1e9}' "$work/times")
line=$(awk -v k="$t_kill" -v q="$t_requeued" -v r="$t_running" -v s="$t_started" -v d="$t_restored" \
  -v scheme="$scheme" -v mib="$ballast" 'BEGIN {
    printf "%s, %d MiB ballast per rank: node lost -> job requeued %.1f s (Slurm notices: SlurmdTimeout), in the queue %.1f s, launch to MPI_Init done %.1f s, restore() %.2f s; lost node to resumed computation without the queue %.1f s",
      scheme, mib, q - k, r - q, s - r, d - s, (d - k) - (r - q) }')
# The storage's own speed in the same run: dd (fsync) of the lost node's
# image bytes (its 2 ranks' ballast) into a node-local directory.
dd_line=""
if [ "$ballast" -gt 0 ]; then
  t0=$(now)
  dd if=/dev/zero of=/var/tmp/ckpt-cluster/local/n1/dd.tmp bs=1M count=$((2 * ballast)) \
    conv=fsync status=none
  t1=$(now)
  rm -f /var/tmp/ckpt-cluster/local/n1/dd.tmp
  dd_line=$(awk -v a="$t0" -v b="$t1" -v s="$t_started" -v d="$t_restored" -v mib=$((2 * ballast)) \
    'BEGIN { printf "; dd of the lost node'"'"'s %d MiB %.2f s, dd/restore() %.2f", mib, b - a, (b - a) / (d - s) }')
fi
line="$line$dd_line"
say "ok: $restored"
say "$line"
[ -n "${CKPT_MULTINODE_TIMES:-}" ] && echo "$line" >>"$CKPT_MULTINODE_TIMES"
exit 0
