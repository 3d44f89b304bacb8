// Restarting a job: its shared objects are made once, then its processes
// are created with their old pids (clone3 set_tid in the job's own user+pid
// namespace; without one, by bringing the pid counter round, one process at
// a time: pid_counter.h), parents before children, each in its session and process
// group; zombies exit with their recorded status; every live process then
// execs ckpt-restore (restore_prep.h). docs/process-tree.md, decision 5.
#pragma once

#include <sys/types.h>

#include <string>

#include "control/restore_prep.h"

namespace ckpt::control {

struct TreeRun {
  std::string restorer;
  int err_fd = -1, report_fd = -1, ready_fd = -1, go_fd = -1;
};

// In the job's init (the namespace's pid 1, or the keeper without one):
// builds the whole tree and returns the root's pid, or -1 after writing one
// line to err_fd (the processes made so far end when the init exits).
pid_t build_tree(const RestorePlan& plan, const TreeRun& run);

// Without a namespace: this process becomes the job's only process.
[[noreturn]] void become_process(const RestorePlan& plan, const TreeRun& run);

}  // namespace ckpt::control
