#!/bin/bash
# A node lost mid-run on a real multi-node Slurm (scripts/cluster.sh): the
# heat stencil on 6 ranks over 3 nodes checkpoints every 10 steps; node n2
# is killed (slurmd, every process, its node-local /tmp); the job is
# launched again on the 2 remaining nodes with the same rank count and
# resumes from the partner copies (the durable images are removed first, so
# only the partners can save it), ending bit-identical to an uninterrupted
# run. Run as root (it starts the cluster); the jobs run as CKPT_TEST_USER.
#   tests/mpi/multinode_test.sh BUILD_DIR SOURCE_DIR
# Exit 77 (skipped) when the cluster cannot run here.
set -u
build=$1 src=$2
user=${CKPT_TEST_USER:-ckpttest}
say() { echo "multinode_test: $*" >&2; }
fail() { say "FAILED: $*"; trap - EXIT; say "logs in $work"; exit 1; }
[ "$(id -u)" = 0 ] || { say "skipped: needs root to start scripts/cluster.sh"; exit 77; }
id "$user" >/dev/null 2>&1 || { say "skipped: no user $user"; exit 77; }
"$src/scripts/cluster.sh" up 3 >/dev/null
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || fail "scripts/cluster.sh up failed"
export SLURM_CONF=/var/tmp/ckpt-cluster/slurm.conf
# Shared by all nodes (not under /tmp: every node has its own).
work=$(mktemp -d /var/tmp/ckpt-multinode-XXXXXX)
chown "$user" "$work"
trap 'rm -rf "$work"' EXIT  # kept on failure: see fail()
as_user() { runuser -u "$user" -- env -i HOME=/tmp PATH=/usr/bin:/bin SLURM_CONF=$SLURM_CONF "$@"; }
heat=$build/tests/mpi/heat
args=(--n 60 --steps 300 --every 10 --sleep-ms 30)

cd "$work" || exit 1
as_user CKPT_DIR=$work/ref.d timeout 300 srun -N3 -n6 --overcommit "$heat" --n 60 --steps 300 --out "$work/ref.bin" \
  >"$work/ref.log" 2>&1 || fail "the uninterrupted run failed: $(tail -3 "$work/ref.log")"

as_user CKPT_DIR=$work/d timeout 300 srun -N3 -n6 --overcommit "$heat" "${args[@]}" --out "$work/out.bin" \
  >"$work/run1.log" 2>&1 &
run=$!
for _ in $(seq 600); do
  [ -e /var/tmp/ckpt-cluster/local/n2/ckpt-mpi-*/node-n2/manifest-000000000005 ] 2>/dev/null && break
  ls /var/tmp/ckpt-cluster/local/n2/ckpt-mpi-*/node-n2/manifest-000000000005 >/dev/null 2>&1 && break
  sleep 0.1
done
ls /var/tmp/ckpt-cluster/local/n1/ckpt-mpi-*/node-n1/ | grep -q manifest || fail "no generation committed: $(tail -5 "$work/run1.log")"
t_kill=$(date +%s.%N)
"$src/scripts/cluster.sh" kill-node n2 || fail "kill-node"
wait $run && fail "the job went on without node n2"
# Only the partner copies may save it.
rm -f "$work"/d/rank-*/*.img
as_user CKPT_DIR=$work/d timeout 300 srun -N2 -n6 --overcommit -x n2 "$heat" "${args[@]}" --out "$work/out.bin" \
  >"$work/run2.log" 2>&1 || fail "the resumed run failed: $(tail -5 "$work/run2.log")"
grep -q "from partner copies, 0 from the durable level" "$work/run2.log" || fail "not from the partners: $(cat "$work/run2.log")"
grep -q "restored generation .* of 6 ranks ([1-9] from partner copies" "$work/run2.log" ||
  fail "no rank rebuilt from a partner: $(cat "$work/run2.log")"
cmp -s "$work/out.bin" "$work/ref.bin" || fail "the result differs from the uninterrupted run"
say "ok: $(grep -o 'restored generation.*' "$work/run2.log"); node lost at $t_kill"
"$src/scripts/cluster.sh" up 3 >/dev/null  # n2 back for the next test
exit 0
