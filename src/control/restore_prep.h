// Preparing a restart: read and check a process image, unpack it into the
// restorer's argument block (a memfd, restore_abi.h), and in the new process
// recreate descriptors, cwd, umask and rlimits before exec'ing ckpt-restore.
#pragma once

#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

struct RestorePlan {
  std::string image;
  uint64_t generation = 0;
  ProcInfo info;
  std::vector<FdInfo> fds;
  std::vector<ThreadInfo> threads;
  int args_fd = -1;   // the memfd; close-on-exec in the supervisor
  int image_fd = -1;  // the image, read by the restorer; close-on-exec too
  uint64_t memory_bytes = 0;
};

// Closes the plan's descriptors (after the restorer has them, or on failure).
void close_plan_fds(RestorePlan* plan);

struct RestoreOptions {
  // Files (executable, libraries) accepted even if their content changed
  // since the checkpoint (`ckpt restart --allow-changed FILE`), by the path
  // the image records.
  std::vector<std::string> allow_changed;
};

// Reads image_path completely, checking every checksum; kCorrupt for a
// damaged image, kMismatch for a changed library or executable, kInvalid for
// another user's image.
Status prepare_restore(const std::string& image_path, RestorePlan* plan,
                       const RestoreOptions& options = {});

// In the child after fork: never returns. err_fd receives one line on failure.
// report_fd: the write end of the new report pipe for the injected library.
[[noreturn]] void exec_restorer(const RestorePlan& plan, const std::string& restorer, int err_fd,
                                int report_fd);

}  // namespace ckpt::control
