// The memory block the injected library keeps inside the checkpointed
// program, and that the supervisor reads and writes from outside
// (process_vm_readv / process_vm_writev). Both sides are built from this one
// header in one build, so the layout is a plain struct; it never goes to disk
// as such (docs/process-image.md describes what does).
//
// How a checkpoint uses it (the supervisor drives; docs/process-tree.md,
// "the cut"):
//   supervisor: PTRACE_SEIZE + PTRACE_INTERRUPT every thread: the program
//       is stopped without a signal being delivered, so no system call of
//       it returns EINTR or early;
//   supervisor, per stopped thread: runs parasite_thread(slot) in it (rip
//       pointed at the entry, a scratch stack in this library, return into
//       parasite_trap's int3), which fills the thread's slot; the thread's
//       registers come from ptrace;
//   supervisor, in the main thread: runs parasite_process(arg), which
//       records process-wide state and, with bit 0 of arg, forks a frozen
//       copy of the process through a helper that exits at once (the copy
//       is an orphan of the job's init, never a child of the program or of
//       its parent) that only sleeps, and ends itself once the pid in the
//       bits above (the supervisor's, in no-namespace mode) is gone; its
//       pid (or -errno) goes to fork_pid;
//   supervisor, in the main thread, when it tracks written pages: runs
//       parasite_track(n), which registers the n ranges in track.ranges
//       with the library's own userfaultfd (created on first use) for
//       asynchronous write-protection (docs/transparent.md, "Incremental
//       checkpoints");
//   supervisor: puts every register back, detaches (the kernel restarts
//       interrupted calls itself), reads the memory from the frozen copy,
//       writes the image, kills the copy.

#pragma once

#include <stdint.h>

namespace ckpt::inject {

inline constexpr uint64_t kBlockMagic = 0x31424b504b43ull;  // "CKPKB1"
inline constexpr uint32_t kBlockVersion = 5;
// The block's name in the library's dynamic symbol table: the supervisor
// finds it in every process of a job from the library's load address.
inline constexpr const char* kBlockSymbol = "ckpt_inject_block";
inline constexpr int kMaxThreads = 4096;
// Recorded in images as "the checkpoint signal" (PROC_INFO.signal). Since
// checkpoints stop threads with ptrace, no signal is used or reserved.
inline constexpr int kDefaultSignal = 62;
inline constexpr uint64_t kParasiteStack = 64 << 10;
inline constexpr uint32_t kRseqSig = 0x53053053;  // glibc's RSEQ_SIG on x86_64

// The kernel's struct sigaction for rt_sigaction (not glibc's).
struct KSigaction {
  uint64_t handler, flags, restorer, mask;
};

struct ThreadSlot {
  int32_t tid;
  uint32_t seq;       // the checkpoint this slot was filled for
  uint64_t uc;        // the ucontext of the signal frame: rt_sigreturn with rsp = uc
  uint64_t fs;        // FS base (TLS)
  uint64_t tid_addr;  // prctl(PR_GET_TID_ADDRESS): glibc's pthread tid field
  uint64_t robust_head, robust_len;
  uint64_t rseq_addr;  // 0 if none registered
  uint32_t rseq_len, rseq_sig;
  // sigaltstack at the checkpoint (stack_t): goes into the signal frame
  // the supervisor builds, not into the image's THREAD record.
  uint64_t ss_sp, ss_size;
  uint32_t ss_flags, pad;
};

// Dirty-page tracking: the library's userfaultfd and the ranges the
// supervisor asks it to register. The descriptor sits at kTrackFd or above,
// close-on-exec, so the program's own descriptor numbers never change; a
// checkpoint neither saves nor restores it.
inline constexpr int kTrackFd = 1001;
inline constexpr uint32_t kMaxTrackRanges = 512;
struct Track {
  int32_t fd;         // the library's userfaultfd, -1 before the first use
  int32_t error;      // -errno of the last failure to create it, else 0
  uint64_t dev, ino;  // its identity: a descriptor the program put at that number is not it
  int32_t owner;      // getpid() of the process that made it: a forked child inherits the
                      // descriptor, but registering through it would reach the parent's memory
  int32_t pad;
  uint32_t count;    // ranges given in this call
  uint32_t created;  // 1: this call made a new userfaultfd (earlier registrations are gone)
  uint64_t ranges[kMaxTrackRanges][2];  // start, length
  int32_t results[kMaxTrackRanges];     // 0, or -errno (EBUSY: the program's own userfaultfd)
};

struct Block {
  uint64_t magic;
  uint32_t version;
  uint32_t signal;
  uint32_t request_seq;  // the checkpoint being taken: slots get this seq
  uint32_t release_seq, collect_seq, collected_seq;  // unused since version 3
  uint32_t slots_used, arrived, overflow, pad;
  uint32_t fork_seq;  // unused since version 3
  int32_t fork_pid;   // the copy's pid as the program sees it, or -errno
  // Where the supervisor points a stopped thread (this library's code).
  uint64_t parasite_thread, parasite_process, parasite_trap, parasite_stack_top;
  uint64_t parasite_track;
  uint64_t brk;
  uint64_t itimers[3][4];  // it_interval {sec, usec}, it_value {sec, usec}
  KSigaction actions[65];  // by signal number; [0] unused
  ThreadSlot slots[kMaxThreads];
  Track track;
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
