// One stopped process of a job at a checkpoint: its injected library's
// block (found through the library's symbol table, so that every process
// of the job has one), the parasite calls that record what only the
// process can see (inject_abi.h), its threads' signal frames, and the
// process-wide state /proc shows.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"
#include "control/seize.h"
#include "inject/inject_abi.h"

namespace ckpt::control {

// Per thread (as the supervisor sees it): the system call it was in at the
// last checkpoint and where, so that a thread found again in
// restart_syscall at the same place can be restarted with that call.
struct LastSyscall {
  uint64_t rip = 0;
  long nr = -1;
};
using SyscallMemo = std::map<pid_t, LastSyscall>;

// The address of the injected library's block in pid, once the library is
// loaded and initialised; kNotFound otherwise (not yet, or never: a static
// program, or LD_PRELOAD removed).
Status find_block(pid_t pid, uint64_t* addr);

// True if a thread of the stopped process is still inside the restorer (a
// restarted job about to return into its frames): its state is not the
// program's yet.
bool in_restorer(const Seized& seized);

struct Recorded {
  uint64_t block_addr = 0;
  std::unique_ptr<inject::Block> block;  // header and the slots used
  uint32_t seq = 0;
  std::vector<SignalFrame> frames;  // one per thread, for the image's copy of its stack
};

// One stopped process to record: the parasite entries run in each of its
// threads (the process entry with want_copy forks the frozen copy), and
// each thread's signal frame is built from its registers.
struct ToRecord {
  Seized* seized = nullptr;
  pid_t pid = 0;
  bool want_copy = false;
  Recorded* out = nullptr;
};

// Records every process of the list, their entries running at the same time
// (each process's threads one after the other: they share its parasite
// stack). watch: for the frozen copies, a pid whose end ends the copy too
// (the supervisor's, in no-namespace mode; 0: none, the namespace ends with
// the supervisor). On failure the first error is returned, and each
// process whose process entry ran still has its block read (fork_pid says
// whether it made a copy).
Status record_processes(const std::vector<ToRecord>& list, pid_t watch, SyscallMemo* memo);

// PROC_INFO and THREAD records of the recorded process.
Status gather_info(pid_t pid, bool pid_ns, const Recorded& r, ProcInfo* pi,
                   std::vector<ThreadInfo>* threads);

}  // namespace ckpt::control
