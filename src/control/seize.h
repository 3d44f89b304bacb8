// Stopping a process for a checkpoint without the program noticing: every
// thread is seized with ptrace and interrupted (no signal is delivered, so
// no system call returns EINTR or early), its registers are read, and code
// of the injected library (the parasite entries, inject_abi.h) is run in it
// to record what only the process itself can see. docs/process-tree.md,
// "the cut", says why ptrace and not a signal.
//
// All ptrace requests must come from the thread that seized: the
// supervisor's main thread.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::control {

struct StoppedThread {
  pid_t tid = 0;                // as the supervisor sees it
  user_regs_struct regs{};      // as stopped (restart codes not yet applied)
  std::vector<uint8_t> xstate;  // NT_X86_XSTATE: FPU, SSE, AVX... (xsave layout)
  uint64_t sigmask = 0;         // blocked signals
};

class Seized {
 public:
  Seized() = default;
  ~Seized() { release(); }
  Seized(const Seized&) = delete;
  Seized& operator=(const Seized&) = delete;

  // Seizes and stops every thread of pid, including threads created while
  // this runs. The main thread (tid == pid) comes first.
  Status stop(pid_t pid);
  std::vector<StoppedThread>& threads() { return threads_; }

  // Runs entry(arg) in a stopped thread on the given stack, with every
  // signal blocked; the entry returns into trap (an int3). The thread's
  // registers and mask are put back after. *ret: what entry returned.
  Status call(StoppedThread& t, uint64_t entry, uint64_t arg, uint64_t stack_top, uint64_t trap,
              int64_t* ret);
  // call() in two halves, so that threads of several processes run their
  // entries at the same time: start() sets the entry going; finish() waits
  // for it if it started, and puts the thread back as it was in any case.
  Status start(StoppedThread& t, uint64_t entry, uint64_t arg, uint64_t stack_top, uint64_t trap);
  Status finish(StoppedThread& t, uint64_t trap, Status started, int64_t* ret);

  // Lets every thread go on: interrupted system calls continue as if the
  // process had never stopped.
  void release();
  // Kills the process while every thread is still stopped, so that it does
  // nothing more, and collects the deaths the kernel reports to us as its
  // tracer (its parent is told only after that). Our own child (parent) is
  // left for our own waitpid to reap.
  void kill_stopped(bool parent);

 private:
  Status stop_thread(pid_t tid);
  pid_t pid_ = 0;
  std::vector<StoppedThread> threads_;
};

// The registers a restored thread must start from: an interrupted system
// call is made to run again (rip back onto the syscall instruction). A call
// the kernel would continue with restart_syscall (relative sleeps) is issued
// again as the original call, since a new process has no restart block;
// known_nr names that call when the thread was already in restart_syscall
// (-1 if unknown).
user_regs_struct restart_regs(const user_regs_struct& stopped, long known_nr);

// A signal frame (rt_sigframe: ucontext, then the xsave area) that
// rt_sigreturn turns into exactly this thread state, laid out below the
// stack pointer's red zone. *uc is the address rt_sigreturn wants in rsp.
struct SignalFrame {
  uint64_t start = 0;  // address of the first byte
  std::vector<uint8_t> bytes;
  uint64_t uc = 0;
};
Status build_frame(const user_regs_struct& regs, const std::vector<uint8_t>& xstate,
                   uint64_t sigmask, uint64_t ss_sp, uint32_t ss_flags, uint64_t ss_size,
                   SignalFrame* out);

}  // namespace ckpt::control
