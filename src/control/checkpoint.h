// Checkpointing a running job from outside, in named phases: *seize* every
// process of the job with ptrace (tree.h), *collect* what each one is
// (process.h: the parasite entries; memory.h; fds.h), *copy* what its
// frozen copy cannot hold (shared memory), *release* the job, *write* the
// image (JOB, TASK, then a section per process) from the frozen copies,
// *commit*. A failure undoes what was done; release always runs.
// docs/process-tree.md says why each phase is as it is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/fds.h"
#include "control/increment.h"
#include "control/process.h"
#include "format/jobdir.h"

namespace ckpt::control {

struct Target {
  pid_t pid = 0;            // the job's root (the program), as the supervisor sees it
  pid_t init = 0;           // namespace mode: the job's init as we see it; else 0
  pid_t keeper = 0;         // no-namespace mode: the job's init (supervisor.cc, job_init); else 0
  uint64_t block_addr = 0;  // the root's injected library Block (0: not loaded yet)
  bool pid_ns = false;      // runs in its own user+pid namespace
  FdContext fds;            // ckpt's own descriptors and `ckpt run`'s stdio
  SyscallMemo last_syscall;
  // The newest image this supervisor wrote, for the next increment
  // (increment.h); generation 0 until there is one.
  ChainState chain;
  // How written pages are found: "" until the first checkpoint, then
  // "tracked: ..." or "full images: WHY" (for `ckpt status`).
  std::string tracking;
};

struct DumpOptions {
  int zstd_level = 0;
  int keep = 2;        // complete images kept in the directory
  bool direct = true;  // O_DIRECT for big images (format::direct_from_env)
  // For a checkpoint that stops the job: keep the program parked until the
  // image is durable, then kill this process (the job), so that nothing the
  // program does after the snapshot happens twice once it is restarted. If
  // the checkpoint fails the program goes on.
  pid_t end_on_success = 0;
  // A socket connected outside the job: fail the checkpoint (true), or
  // save it to come back closed, with a warning (false).
  bool refuse_external = false;
  // Every how many checkpoints a full image is written; the others are
  // increments on the previous image (1: every one is full).
  int full_every = 8;
};

struct DumpResult {
  std::string path;
  uint64_t generation = 0;
  uint64_t file_bytes = 0, memory_bytes = 0;
  bool increment = false;      // the image refers to earlier ones
  uint64_t written_bytes = 0;  // page bytes the image holds itself
  double pause_s = 0, total_s = 0;
  uint32_t processes = 0;             // in the job (zombies included)
  std::vector<std::string> warnings;  // one line each, said at the checkpoint
};

Status checkpoint_job(Target& target, format::JobDir& dir, const DumpOptions& options,
                      DumpResult* result);

}  // namespace ckpt::control
