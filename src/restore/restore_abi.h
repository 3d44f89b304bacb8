// The flat argument block that `ckpt restart` prepares for the restore
// program (ckpt-restore). Both sides are built together from this header, so
// the block is plain structs; it lives only in a memfd, never on disk.
//
//   memfd:  [RHeader, one page][page data ...][meta: RMap[] RThread[] RRun[] strings]
//
// The restorer is run as
//   ckpt-restore ARGS_FD ERR_FD EXE_FD IMAGE_FD OBJ_BASE READY_FD GO_FD
// READY_FD and GO_FD are the job's barrier (-1: none): once its memory is
// in place the restorer writes one byte to READY_FD and waits for end of
// file on GO_FD, so that no process of a job runs before every process's
// memory (shared memory included) is restored.
//
// Page data stored uncompressed is read by the restorer straight from the
// image file (verified before); only decompressed data goes into the memfd.
#pragma once

#include <stdint.h>

#include "inject/inject_abi.h"

namespace ckpt::restore {

// The restorer is linked at kRestorerBase; everything it uses lives in
// [kRestorerBase, kRestorerBase + kReservedSize). A program that has memory
// there cannot be restored (checked when the image is written and read).
inline constexpr uint64_t kRestorerBase = 0x3f0000000000ull;
inline constexpr uint64_t kReservedSize = 1ull << 30;
inline constexpr uint64_t kArgsArea = kRestorerBase + (256ull << 20);
inline constexpr uint64_t kParkArea = kRestorerBase + (512ull << 20);
inline constexpr uint64_t kStackArea = kRestorerBase + (640ull << 20);
inline constexpr uint64_t kThreadStack = 64ull << 10;  // per restored thread, while starting

inline constexpr uint64_t kArgsMagic = 0x3153475241504b43ull;  // "CKPARGS1"
inline constexpr uint32_t kArgsVersion = 4;
inline constexpr uint64_t kPage = 4096;

// Limits both sides check: `ckpt restart` refuses an image beyond them, and
// the restorer refuses a block beyond them again.
inline constexpr uint32_t kMaxThreads = uint32_t(inject::kMaxThreads);  // its tid table
inline constexpr uint64_t kMaxMeta = 128ull << 20;                      // the metadata it maps
// rt_sigreturn reads the ucontext and the siginfo after it: the part of a
// thread's signal frame that must be the program's own memory.
inline constexpr uint64_t kSigFrameSize = 432;
// _LINUX_CAPABILITY_VERSION_3, for capget/capset (the supervisor raises the
// capabilities the restorer needs; the restorer drops them).
inline constexpr uint32_t kCapVersion = 0x20080522;

// RMap.flags
inline constexpr uint32_t kMapShared = 1u << 0;
inline constexpr uint32_t kMapAnon = 1u << 1;       // no file behind it
inline constexpr uint32_t kMapGrowsDown = 1u << 2;  // the main stack
inline constexpr uint32_t kMapMemfd = 1u << 3;      // shared memory of a memfd / deleted file
inline constexpr uint32_t kMapHasData = 1u << 4;    // some pages come from the image
// Shared memory of the job (MappingInfo::object): mapped from a descriptor
// the restorer is given, OBJ_BASE + path_off, made once for every process
// that maps it; the process that saves its pages fills it.
inline constexpr uint32_t kMapObject = 1u << 5;
// A SysV shared memory segment of the job, attached whole with shmat at
// the mapping's start; path_off is its id (made again by the job's init).
inline constexpr uint32_t kMapSysv = 1u << 6;

// RSpecial.kind: the kernel's own mappings, moved back to where they were.
enum : uint32_t { kSpecialVvar = 1, kSpecialVvarVclock = 2, kSpecialVdso = 3, kSpecialCount = 4 };

// RHeader.flags
inline constexpr uint32_t kArgsSetTid = 1u << 0;    // recreate threads with their old tids (pid ns)
inline constexpr uint32_t kArgsDropCaps = 1u << 1;  // drop the capabilities exec gave us

struct RMap {
  uint64_t start, end, pgoff;
  uint32_t prot, flags;
  uint32_t path_off, path_len;  // into the string table; path_len 0 for anonymous
};

// RRun.flags
inline constexpr uint64_t kRunFromImage = 1u << 0;  // data_off is in the image file

struct RRun {
  uint64_t addr, len, data_off;  // data_off: in the memfd (page aligned) or the image
  uint64_t flags;
};

struct RSpecial {
  uint64_t start, end;  // 0, 0: the image had none of this kind
};

struct RHeader {
  uint64_t magic;
  uint32_t version, flags;
  uint64_t meta_off, meta_size;
  uint32_t nmaps, nthreads, nruns, ncloexec;
  uint64_t maps_off, threads_off, runs_off, strings_off, cloexec_off;  // within meta
  uint64_t mm[11];  // start_code end_code start_data end_data start_brk brk start_stack
                    // arg_start arg_end env_start env_end
  uint64_t auxv[64];
  uint32_t auxv_words, pad;
  RSpecial special[kSpecialCount];
  inject::KSigaction actions[65];
  uint64_t itimers[3][4];
  uint64_t sigpending;          // process-wide pending signals, raised again
  uint64_t thread_pending_off;  // within meta: u64 per thread, its own pending signals
  uint32_t nobjects;            // shared memory descriptors at OBJ_BASE.. (kMapObject)
  uint32_t pad2;
};

static_assert(sizeof(RHeader) <= kPage);

// The restored threads: threads[0] is the main thread.
using RThread = inject::ThreadSlot;

}  // namespace ckpt::restore
