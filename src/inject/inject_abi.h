// The memory block the injected library keeps inside the checkpointed
// program, and that the supervisor reads and writes from outside
// (process_vm_readv / process_vm_writev). Both sides are built from this one
// header in one build, so the layout is a plain struct; it never goes to disk
// as such (docs/process-image.md describes what does).
//
// Protocol for checkpoint number `seq` (the supervisor drives it):
//   supervisor: slots_used = arrived = 0, request_seq = seq, tgkill(every thread)
//   each thread (signal handler): takes a slot, records its own state,
//       arrived++, then polls until release_seq >= seq
//   supervisor: when arrived == number of live threads: collect_seq = seq
//   thread in slot 0: records process-wide state; if fork_seq == seq, forks
//       a frozen copy of the process (CLONE_PARENT: a sibling, never the
//       program's child) that only sleeps, and puts its pid (or -errno) in
//       fork_pid; then collected_seq = seq
//   supervisor: reads the block and the memory (from the frozen copy, once
//       the program is released), writes the image, release_seq = seq, and
//       kills the copy
#pragma once

#include <stdint.h>

namespace ckpt::inject {

inline constexpr uint64_t kBlockMagic = 0x31424b504b43ull;  // "CKPKB1"
inline constexpr uint32_t kBlockVersion = 2;
inline constexpr int kMaxThreads = 4096;
// glibc numbering: SIGRTMIN is 34, SIGRTMAX 64. 62 is rarely used by programs.
inline constexpr int kDefaultSignal = 62;
inline constexpr uint32_t kRseqSig = 0x53053053;  // glibc's RSEQ_SIG on x86_64

// The kernel's struct sigaction for rt_sigaction (not glibc's).
struct KSigaction {
  uint64_t handler, flags, restorer, mask;
};

struct ThreadSlot {
  int32_t tid;
  uint32_t seq;         // the checkpoint this slot was filled for
  uint64_t uc;          // the ucontext of the signal frame: rt_sigreturn with rsp = uc
  uint64_t fs;          // FS base (TLS)
  uint64_t tid_addr;    // prctl(PR_GET_TID_ADDRESS): glibc's pthread tid field
  uint64_t robust_head, robust_len;
  uint64_t rseq_addr;   // 0 if none registered
  uint32_t rseq_len, rseq_sig;
};

struct Block {
  uint64_t magic;
  uint32_t version;
  uint32_t signal;
  uint32_t request_seq, release_seq, collect_seq, collected_seq;
  uint32_t slots_used, arrived, overflow, pad;
  uint32_t fork_seq;  // the checkpoint that wants a frozen copy
  int32_t fork_pid;   // the copy's pid as the program sees it, or -errno
  uint64_t brk;
  uint64_t itimers[3][4];  // it_interval {sec, usec}, it_value {sec, usec}
  KSigaction actions[65];  // by signal number; [0] unused
  ThreadSlot slots[kMaxThreads];
};

// What the library writes to CKPT_INJECT_FD each time it is loaded (at
// start, and again after every exec of the program: the descriptor stays
// open). The supervisor keeps only reports from the program's own pid.
inline constexpr uint32_t kReportMagic = 0x52504b43;  // "CKPR"
inline constexpr int kReportFd = 1000;  // where `ckpt run` puts the descriptor, if it can
struct Report {
  uint32_t magic;
  int32_t pid;  // getpid() as the program sees it
  uint64_t block_addr;
};

// Offset of the part the supervisor reads on every poll.
inline constexpr uint64_t kBlockHeaderSize = __builtin_offsetof(Block, slots);

}  // namespace ckpt::inject
