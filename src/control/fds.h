// The descriptors of the processes of a job: what each one is (FdKind), and
// which are one object shared by several descriptors or processes: a pipe
// (by inode, its bytes in flight saved once), a unix socket pair whose ends
// the job holds, a socket, an open file description shared across dup and
// fork (one offset; found with kcmp). docs/process-tree.md, decision 2.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

// What tells ckpt's own descriptors and `ckpt run`'s stdio apart.
struct FdContext {
  uint64_t report_ino = 0;                        // the injected library's report pipe
  uint64_t stdio_dev[3] = {}, stdio_ino[3] = {};  // the supervisor's own 0, 1, 2
};

// The descriptors of one stopped process, each with its kind.
Status list_fds(pid_t pid, const FdContext& context, std::vector<FdInfo>* out);

// One process's descriptors, for the job-wide pass.
struct ProcessFds {
  pid_t pid = 0;     // as the supervisor sees it
  std::string name;  // for messages
  std::vector<FdInfo>* fds = nullptr;
};

// Connections waiting in the accept queue of a listening unix socket of the
// job (pids as the supervisor sees them): a moment later the server will
// have accepted them; saved now, their queued requests would be lost.
bool connections_pending(const std::vector<pid_t>& pids);

// Over the whole stopped job: pipes with their bytes in flight (once per
// pipe), unix sockets whose peer the job holds (with their unread data),
// other sockets (bound, listening; connected outside the job: refused or
// recorded closed with a warning, as refuse_external says), and the open
// file descriptions shared by several descriptors (FdInfo::ofd).
Status capture_shared(const std::vector<ProcessFds>& job, bool refuse_external,
                      std::vector<std::string>* warnings);

}  // namespace ckpt::control
