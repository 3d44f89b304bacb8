// Checkpointing a running process from outside: stop its threads with
// ptrace (seize.h), record what only it can see through the injected
// library's parasite entries (inject_abi.h), read what the kernel shows in
// /proc, stream the memory into a new image of the job directory, resume.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/increment.h"
#include "format/jobdir.h"

namespace ckpt::control {

struct Target {
  pid_t pid = 0;                                  // as the supervisor sees it
  uint64_t block_addr = 0;                        // the injected library's Block in the target
  bool pid_ns = false;                            // runs in its own user+pid namespace
  uint64_t report_ino = 0;                        // the injected library's report pipe
  uint64_t stdio_dev[3] = {}, stdio_ino[3] = {};  // the supervisor's own 0, 1, 2
  // Per thread (as the supervisor sees it): the system call it was in at
  // the last checkpoint and where, so that a thread found again in
  // restart_syscall at the same place can be restarted with that call.
  struct Syscall {
    uint64_t rip = 0;
    long nr = -1;
  };
  std::map<pid_t, Syscall> last_syscall;
  // The newest image this supervisor wrote, for the next increment
  // (increment.h); generation 0 until there is one.
  ChainState chain;
  // How written pages are found: "" until the first checkpoint, then
  // "tracked: ..." or "full images: WHY" (for `ckpt status`).
  std::string tracking;
  int track_fd = -1;  // the injected library's userfaultfd in the program, if any
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
  std::vector<std::string> warnings;  // one line each, said at the checkpoint
};

Status checkpoint_process(Target& target, format::JobDir& dir, const DumpOptions& options,
                          DumpResult* result);

}  // namespace ckpt::control
