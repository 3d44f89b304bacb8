// The processes of a job at a checkpoint: found from the root down (and, in
// namespace mode, the orphans the job's init adopted), each stopped with
// ptrace before its children are listed, so that the tree cannot change
// behind the walk (docs/process-tree.md, "closure"). Zombies are recorded,
// not stopped: their exit status is what their parent will collect.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"
#include "control/seize.h"

namespace ckpt::control {

struct JobProcess {
  pid_t pid = 0;                   // as the supervisor sees it
  TaskInfo task;                   // as the job sees it (pids inside its namespace)
  std::unique_ptr<Seized> seized;  // null for a zombie
  std::string name;                // "python3 (pid 7)", for messages
  bool zombie() const { return task.state == TaskState::kZombie; }
};

// Stops every process of the job rooted at `root`. init: the job's init as
// we see it (namespace mode), whose other children are orphans of the job;
// 0 without a namespace, where the supervisor adopts them (a subreaper) and
// passes itself as `reaper`. A zombie the init or the reaper has to collect
// is nobody's in the job, and is left out. The root comes first, parents
// before children.
Status seize_job(pid_t root, pid_t init, pid_t reaper, std::vector<JobProcess>* out);

// What the job's processes must be for a restart to rebuild the tree:
// nullptr, or why not (one line, naming the process).
std::string check_tree(const std::vector<JobProcess>& job);

// "NAME (pid N)" for a process as the user knows it.
std::string process_name(pid_t outer, pid_t inner);

}  // namespace ckpt::control
