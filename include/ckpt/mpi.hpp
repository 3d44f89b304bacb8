// libckpt's MPI mode (target ckpt::mpi): one checkpoint of all ranks.
//
//   MPI_Init(&argc, &argv);
//   ckpt::mpi::Checkpointer ck(MPI_COMM_WORLD);   // options: ckpt::mpi::Options
//   ck.add("step", step);
//   ck.add("grid", local_grid);                    // each rank its own data
//   if (auto s = ck.restore(); !s) { /* one line, the same on every rank */ }
//   while (step < n) {
//     exchange_halos(); compute();
//     step++;                   // the saved step is the next one to compute
//     ck.checkpoint_if_due();   // every rank calls it at the same safe points
//   }
//   ck.finish();                // waits for the durable copy
//   MPI_Finalize();
//
// Every rank writes its own image to a fast node-local level, sends a copy
// to a partner rank on another node (or computes XOR parity with its set),
// and rank 0 commits the generation with
// a manifest once every rank's data and copy are durable. A background
// thread copies the images to the durable (shared) level. Restart takes the
// newest generation complete for every rank from the fastest level holding
// it, rebuilding a lost node's data from the partner copies. Format and
// protocol: docs/mpi.md.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <ckpt/ckpt.hpp>

namespace ckpt::mpi {

struct Options {
  // The durable level: a directory every node sees (empty: $CKPT_DIR, else
  // ckpt.d). Its rank-NNNNN/ subdirectories and manifests.
  std::string dir;
  // The fast level, node-local (empty: $CKPT_FAST_DIR, else $TMPDIR, else
  // /tmp). The job's images go under FAST/ckpt-mpi-UID-KEY/node-NAME/.
  std::string fast_dir;
  // Copy every n-th generation to the durable level in the background
  // (0: never; the fast level and its partner copies only).
  int flush_every = 1;
  int keep = 2;  // committed generations kept on each level
  // How the fast level survives a lost node: "partner" (a full copy of
  // every image on another node) or "xor" (XOR sets: each rank keeps a
  // parity block of 1/(n-1) of its image, n = xor_nodes nodes per set; one
  // lost node per set is rebuilt). docs/mpi.md.
  std::string redundancy = "partner";
  int xor_nodes = 4;
  // checkpoint_if_due() agrees across ranks about this often (seconds): it
  // starts a non-blocking allreduce and reads it one period later.
  double agree_seconds = 0.05;
  // Testing on one machine: pretend every `ranks_per_node` consecutive ranks
  // are one node (0: the host name decides).
  int ranks_per_node = 0;
  // The serial options: interval, signals, deadline, compression, quiet.
  ckpt::Options serial = ckpt::options_from_env();
};

// With the environment applied: CKPT_DIR, CKPT_FAST_DIR, CKPT_FLUSH_EVERY,
// CKPT_KEEP, CKPT_REDUNDANCY, CKPT_XOR_NODES, CKPT_AGREE_SECONDS,
// CKPT_RANKS_PER_NODE, and the serial ones.
Options options_from_env(Options base = {});

struct RestoreInfo {
  bool restored = false;
  uint64_t generation = 0;
  // Where this rank's image came from: "fast", "partner", "xor", "durable"
  // or "".
  std::string source;
  int ranks_from_partner = 0;  // over all ranks: copies from another node
  int ranks_from_xor = 0;      // rebuilt from their XOR sets
  int ranks_from_durable = 0;
};

class Checkpointer {
 public:
  // comm is duplicated; MPI must be initialised before restore()/start().
  explicit Checkpointer(MPI_Comm comm, Options options = options_from_env());
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Registration, as in ckpt::Checkpointer (before restore()).
  template <class T>
  Status add(std::string_view name, T& value) {
    return state_.add(name, value);
  }
  Status add_buffer(std::string_view name, void* p, size_t n) {
    return state_.add_buffer(name, p, n);
  }
  Status add_callbacks(std::string_view name, std::function<Status(Writer&)> save,
                       std::function<Status(Reader&)> load) {
    return state_.add_callbacks(name, std::move(save), std::move(load));
  }

  // Collective. Loads the newest generation complete for every rank (none
  // found is not an error) and starts the triggers. The same Status on
  // every rank.
  Status restore(RestoreInfo* info = nullptr);
  Status start();
  // Collective: a new generation of all ranks; OK on every rank once it is
  // committed on the fast level with its partner copies.
  Status checkpoint();
  // Collective at the same safe points on every rank. A signal, interval or
  // deadline seen by any rank checkpoints all ranks at the same call; when
  // nothing is due it costs a counter most calls and a non-blocking
  // allreduce started and tested every agree_seconds. True if it
  // checkpointed. A stop signal seen by any rank ends every rank (exit
  // status 85) once the generation is durable.
  bool checkpoint_if_due() {
    if (++calls_ < next_agree_) return false;
    return agree_slow();
  }
  // Collective: waits for the background flush and commits the newest
  // durable generation. Called by the destructor if not called before.
  Status finish();

  const Status& last_status() const { return last_; }
  uint64_t generation() const { return generation_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  uint64_t durable_generation() const;  // newest committed on the durable level (rank 0)
  std::string fast_dir() const;         // this node's fast directory

  struct Impl;

 private:
  bool agree_slow();

  ckpt::Checkpointer state_;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
  uint64_t calls_ = 0, next_agree_ = 1;
  uint64_t generation_ = 0;
  Status last_;
};

}  // namespace ckpt::mpi
