// What libckpt's MPI mode (src/mpi/) needs of a serial Checkpointer: its
// registered state written to, and loaded from, an exact path, and its
// triggers rearmed after a checkpoint taken outside of it. Not public API.
#pragma once

#include <cstdint>
#include <string>

#include <ckpt/ckpt.hpp>

namespace ckpt::lib {

struct Hooks {
  // Writes the registered state as one image at `path` (temporary file,
  // fsync, rename, directory fsync: docs/image-format.md).
  static Status write_state(Checkpointer& ck, const std::string& path, uint64_t generation);
  // Verifies the image at `path` and loads it into the registered state.
  static Status load_state(Checkpointer& ck, const std::string& path);
  // After a checkpoint: clears the signal flags and sets the next interval
  // and deadline times. True if a stop signal had asked for it.
  static bool rearm(Checkpointer& ck);
  // The deadline's time has come (a checkpoint is due because of it).
  static bool deadline_reached(const Checkpointer& ck);
  // The deadline is spent: another rank saw it first and all checkpointed.
  static void spend_deadline(Checkpointer& ck);
  // The options, changeable before start() (the MPI mode finds the Slurm
  // deadline once on rank 0 and gives it to every rank).
  static Options& options(Checkpointer& ck) { return ck.options_; }
};

}  // namespace ckpt::lib
