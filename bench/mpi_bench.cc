// Benchmark of libckpt's MPI mode, run under mpirun (bench/mpi_bench.sh
// runs it at 4 and 8 ranks):
//
//   mpirun -n N mpi_bench --dir DURABLE --fast FAST [--mib 256] [--runs 3]
//
// Figures (medians of --runs), each against the machine's own limit in the
// same run:
//   fast   checkpoint() of N x MIB: own image + partner copy on the fast
//          level, committed; against N parallel `dd conv=fsync` of MIB
//          each into FAST (the same bytes the ranks write for their own
//          images; the partner copies double what is written);
//   durable the background copy to DURABLE: from checkpoint() until
//          finish() has the durable manifest; against N parallel dd into
//          DURABLE;
//   due    checkpoint_if_due() when nothing is due: ns per call, every rank
//          calling it in a tight loop (the agreement included);
//   rebuild a lost node: the fast directory of "node" 1 (CKPT_RANKS_PER_NODE
//          ranks) and every durable image removed, then a new Checkpointer's
//          restore() until every rank has its data back (the lost ranks'
//          images rebuilt from partner copies or XOR sets, every image
//          checked and loaded); against dd of the lost node's bytes into
//          FAST by as many parallel writers.
// The redundancy scheme is the environment's (CKPT_REDUNDANCY).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <ckpt/mpi.hpp>

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// N parallel dd of `mib` MiB with a final fsync into dir: seconds.
double dd_parallel(const std::string& dir, int n, long mib) {
  std::string cmd = "cd '" + dir + "' && for i in $(seq " + std::to_string(n) +
                    "); do dd if=/dev/urandom of=dd.src.$i bs=1M count=" + std::to_string(mib) +
                    " status=none 2>/dev/null; done; sync; t0=$(date +%s.%N); for i in $(seq " +
                    std::to_string(n) +
                    "); do dd if=dd.src.$i of=dd.$i bs=1M conv=fsync status=none & done; wait; "
                    "t1=$(date +%s.%N); "
                    "rm -f dd.*; awk \"BEGIN{print $t1 - $t0}\"";
  FILE* p = popen(cmd.c_str(), "r");
  double t = -1;
  if (p) {
    if (fscanf(p, "%lf", &t) != 1) t = -1;
    pclose(p);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::string dir = "bench-durable", fast = "bench-fast";
  long mib = 256;
  int runs = 3;
  long calls = 20000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--dir") dir = argv[i + 1];
    else if (k == "--fast") fast = argv[i + 1];
    else if (k == "--mib") mib = atol(argv[i + 1]);
    else if (k == "--runs") runs = atoi(argv[i + 1]);
    else if (k == "--calls") calls = atol(argv[i + 1]);
  }
  std::vector<uint64_t> data(size_t(mib) << 17);  // mib MiB of 8-byte words
  uint64_t x = 88172645463325252ull + uint64_t(rank);
  for (auto& w : data) {  // xorshift: incompressible, different per rank
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  double bytes = double(mib) * 1048576.0 * size;

  ckpt::mpi::Options o = ckpt::mpi::options_from_env();
  o.dir = dir;
  o.fast_dir = fast;
  o.keep = 1;
  o.flush_every = 1;
  o.serial.quiet = true;
  o.serial.signals = {};
  auto owner = std::make_unique<ckpt::mpi::Checkpointer>(MPI_COMM_WORLD, o);
  ckpt::mpi::Checkpointer& ck = *owner;
  (void)ck.add("data", data);
  if (auto s = ck.start(); !s.is_ok()) {
    if (rank == 0) fprintf(stderr, "mpi_bench: %s\n", s.message());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::vector<double> t_fast, t_durable, t_dd_fast, t_dd_durable, ns_due;
  for (int r = 0; r < runs; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    ckpt::Status s = ck.checkpoint();
    MPI_Barrier(MPI_COMM_WORLD);
    double t1 = now();
    (void)ck.finish();  // waits for the flush, commits the durable manifest
    MPI_Barrier(MPI_COMM_WORLD);
    double t2 = now();
    if (!s.is_ok()) {
      if (rank == 0) fprintf(stderr, "mpi_bench: %s\n", s.message());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    t_fast.push_back(t1 - t0);
    t_durable.push_back(t2 - t0);
    if (rank == 0) {
      t_dd_fast.push_back(dd_parallel(ck.fast_dir(), size, mib));
      t_dd_durable.push_back(dd_parallel(dir, size, mib));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    // checkpoint_if_due() with nothing due.
    double c0 = now();
    long did = 0;
    for (long i = 0; i < calls; i++) did += ck.checkpoint_if_due();
    double c1 = now();
    double ns = (c1 - c0) * 1e9 / double(calls), worst = 0;
    MPI_Reduce(&ns, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    ns_due.push_back(worst);
    if (did && rank == 0) fprintf(stderr, "mpi_bench: a checkpoint was due during the loop\n");
  }
  (void)ck.finish();
  std::string my_fast = ck.fast_dir();
  owner.reset();  // lets go of the durable directory's lock

  // A lost node, rebuilt at restart.
  int per_node = o.ranks_per_node > 0 ? o.ranks_per_node : 1;
  std::vector<double> t_rebuild, t_dd_rebuild;
  int rebuilt = 0;
  bool lose = size >= 2 * per_node;
  for (int r = 0; r < runs && lose; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == per_node) {  // the first rank of node 1
      std::string cmd = "rm -rf '" + my_fast + "'";
      if (system(cmd.c_str()) != 0) fprintf(stderr, "mpi_bench: %s failed\n", cmd.c_str());
    }
    if (rank == 0) {
      std::string cmd = "rm -f '" + dir + "'/rank-*/*.img";
      if (system(cmd.c_str()) != 0) fprintf(stderr, "mpi_bench: %s failed\n", cmd.c_str());
    }
    std::fill(data.begin(), data.end(), 0);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    ckpt::mpi::RestoreInfo info;
    ckpt::Status s;
    {
      ckpt::mpi::Checkpointer again(MPI_COMM_WORLD, o);
      (void)again.add("data", data);
      s = again.restore(&info);
      MPI_Barrier(MPI_COMM_WORLD);
      t_rebuild.push_back(now() - t0);
    }
    if (!s.is_ok() || !info.restored) {
      if (rank == 0) fprintf(stderr, "mpi_bench: restore: %s\n", s.message());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    rebuilt = info.ranks_from_partner + info.ranks_from_xor;
    if (rank == 0) t_dd_rebuild.push_back(dd_parallel(fast, per_node, mib));
  }

  if (rank == 0) {
    double gib = bytes / (1u << 30);
    double f = median(t_fast), d = median(t_durable), df = median(t_dd_fast),
           dd = median(t_dd_durable);
    printf("ranks %d x %ld MiB (%.2f GiB), medians of %d runs\n", size, mib, gib, runs);
    printf(
        "fast level + %s: %.2f s, %.0f MiB/s of rank data; dd of the same bytes: %.2f s; "
        "ratio dd/ckpt %.2f\n",
        o.redundancy == "xor" ? "XOR sets" : "partner copy", f, bytes / 1048576 / f, df, df / f);
    printf(
        "durable level (checkpoint to durable manifest): %.2f s, %.0f MiB/s; dd: %.2f s; ratio "
        "dd/ckpt %.2f\n",
        d, bytes / 1048576 / d, dd, dd / d);
    printf("checkpoint_if_due() with nothing due: %.2f ns per call (slowest rank, %ld calls)\n",
           median(ns_due), calls);
    if (lose) {
      double rb = median(t_rebuild), ddr = median(t_dd_rebuild);
      printf(
          "lost node (%d ranks, %ld MiB each) to every rank restored: %.2f s (%d ranks rebuilt); "
          "dd of the node's bytes: %.2f s; ratio dd/rebuild %.2f\n",
          per_node, mib, rb, rebuilt, ddr, ddr / rb);
    }
  }
  MPI_Finalize();
  return 0;
}
