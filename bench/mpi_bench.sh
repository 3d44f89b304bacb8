#!/bin/bash
# libckpt's MPI mode at 4 and 8 ranks, with partner copies and with XOR
# sets: bandwidth to the fast level with its redundancy and to the durable
# level against parallel dd in the same directories, checkpoint_if_due()
# when nothing is due, and the restart after a lost node against dd of the
# node's bytes. Every 2 ranks are one "node" (CKPT_RANKS_PER_NODE=2).
#   bench/mpi_bench.sh BUILD_DIR [FAST_DIR [DURABLE_DIR [MIB [RUNS]]]]
set -eu
build=${1:?usage: $0 BUILD_DIR [FAST_DIR [DURABLE_DIR [MIB [RUNS]]]]}
fast=${2:-${TMPDIR:-/tmp}/ckpt-bench-fast}
durable=${3:-$PWD/ckpt-bench-durable}
mib=${4:-256}
runs=${5:-3}
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export CKPT_RANKS_PER_NODE=2
for scheme in ${CKPT_BENCH_SCHEMES:-partner xor}; do
  for n in 4 8; do
    rm -rf "$fast" "$durable"
    echo "== $scheme, $n ranks"
    CKPT_REDUNDANCY=$scheme mpirun -n "$n" --oversubscribe "${root[@]}" "$build/bench/mpi_bench" \
      --fast "$fast" --dir "$durable" --mib "$mib" --runs "$runs"
  done
done
rm -rf "$fast" "$durable"
