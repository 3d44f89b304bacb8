// Preparing a restart: read and check a job image (every process section
// and the tree as a whole), and unpack each process into its restorer's
// argument block (a memfd, restore_abi.h). tree_restore.h then builds the
// processes and their shared objects and execs ckpt-restore in each.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

// One live process of the job.
struct ProcessPlan {
  TaskInfo task;
  ProcInfo info;
  std::vector<FdInfo> fds;
  std::vector<ThreadInfo> threads;
  std::vector<uint64_t> objects;  // shared memory it maps: given at OBJ_BASE + index
  int args_fd = -1;               // its memfd; close-on-exec in the supervisor
  uint64_t memory_bytes = 0;
};

struct RestorePlan {
  std::string image;
  uint64_t generation = 0;
  JobInfo job;
  std::vector<TaskInfo> tasks;              // every process, zombies included; the root first
  std::vector<ProcessPlan> procs;           // the live ones, in task order
  std::vector<IpcObject> ipc;               // SysV objects (namespace mode)
  std::map<uint64_t, uint64_t> shm_size;    // shared memory object -> bytes
  std::map<uint64_t, int32_t> object_sysv;  // shared memory object -> SysV id, or -1
  int image_fd = -1;                        // the image, read by the restorers; close-on-exec too
  uint64_t memory_bytes = 0;
  const ProcInfo& root() const { return procs.front().info; }
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

// A regular file or device descriptor opened again as recorded (never
// created, never through a final symlink), a file cut back to its size at
// the checkpoint if it was open for writing and placed at its offset.
// Close-on-exec; -1 and *why on failure.
int reopen_file(const FdInfo& f, std::string* why);

// What exec_restorer takes from the job's builder (tree_restore.h).
struct RestorerRun {
  std::string restorer;           // ckpt-restore's path
  int err_fd = -1;                // one line on failure; closed by the restorer when done
  int report_fd = -1;             // the write end of the new report pipe for the injected library
  int ready_fd = -1, go_fd = -1;  // the job's barrier (restore_abi.h)
  // Objects made once for the job: a descriptor (held at a high number)
  // for a kPipe/kUnixPair/kSocket by inode (a pipe's two ends by
  // inode * 2 + 0 read, + 1 write), a shared open file description by id,
  // a shared memory object by id.
  const std::map<uint64_t, int>* pipe_ends = nullptr;
  const std::map<uint64_t, int>* sockets = nullptr;
  const std::map<uint64_t, int>* descriptions = nullptr;
  const std::map<uint64_t, int>* shared_memory = nullptr;
};

// In the process about to become p: its descriptors, cwd, umask, rlimits,
// then exec ckpt-restore. Never returns; on failure one line to err_fd.
[[noreturn]] void exec_restorer(const RestorePlan& plan, const ProcessPlan& p,
                                const RestorerRun& run);

}  // namespace ckpt::control
