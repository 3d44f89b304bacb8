// Constants of the ckpt image file format. The format is described, with
// the reason for each choice, in docs/image-format.md; keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ckpt::format {

// "\x89CKPT\r\n\x1a": a non-ASCII first byte and a CR/LF pair catch files
// mangled by text-mode transfers, as PNG's signature does.
inline constexpr uint8_t kMagic[8] = {0x89, 'C', 'K', 'P', 'T', '\r', '\n', 0x1a};
// Version 2 adds base and data_ref records (incremental images); version 3
// lets a data_ref name a data record of its own file (pages two processes
// of a job hold alike, saved once). A file is written with the lowest
// version that has what it holds, so older readers read what they can.
inline constexpr uint32_t kVersion = 3;
inline constexpr uint32_t kVersionIncrement = 2;
inline constexpr uint32_t kVersionPlain = 1;
inline constexpr size_t kFileHeaderSize = 64;
inline constexpr size_t kRecordHeaderSize = 40;

// What an image holds.
enum class Kind : uint32_t {
  kApp = 1,      // state registered with libckpt
  kProcess = 2,  // a whole process (transparent checkpointing)
};

// Record types. 1-255: common to every kind; 256-511: libckpt;
// 512-1023: process images.
enum RecordType : uint32_t {
  kData = 1,          // a chunk of the current entry's bytes
  kEnd = 2,           // commit marker: the last record of a complete file
  kBase = 3,          // version 2: an image this one takes data from (format/chain.h)
  kDataRef = 4,       // version 2: data that is a slice of a data record of a base
  kAppEntry = 256,    // libckpt: starts a registered entry
  kAppProgram = 257,  // libckpt: program name and host, for `ckpt inspect`
  // Process images (docs/process-image.md).
  kProcInfo = 512,     // process-wide state; the first record of a process image
  kProcThread = 513,   // one thread
  kProcMapping = 514,  // one memory mapping
  kProcPages = 515,    // address and length of saved pages; DATA records follow
  kProcFd = 516,       // one file descriptor
  kProcJob = 517,      // a job of several processes: first record (docs/process-tree.md)
  kProcTask = 518,     // one process of the job: pid, parent, group, session, state
  kProcIpc = 519,      // a SysV semaphore set or message queue of the job (control/ipc.h)
};

// Record flags.
inline constexpr uint32_t kFlagZstd = 1u << 0;       // payload is one zstd frame
inline constexpr uint32_t kFlagSkippable = 1u << 1;  // readers may skip if type unknown
inline constexpr uint32_t kKnownFlags = kFlagZstd | kFlagSkippable;

// Caps that keep a damaged or hostile length from asking for absurd memory.
inline constexpr uint64_t kMaxChunkRaw = 64ull << 20;   // a DATA record, uncompressed
inline constexpr uint64_t kMaxMetaRecord = 1ull << 20;  // any other record
inline constexpr size_t kDefaultChunk = 8ull << 20;

// libckpt entry kinds (kAppEntry payload).
enum class EntryKind : uint32_t { kBytes = 1, kVector = 2, kString = 3, kCallback = 4 };

// A kAppEntry record: kind: u32, elem: u32, size: u64, name_len: u32,
// name[name_len] (docs/image-format.md). Encoded by encode_entry (writer.h),
// decoded by decode_entry (reader.h): libckpt's restore and `ckpt inspect`
// both use them.
struct AppEntry {
  EntryKind kind = EntryKind::kBytes;
  uint32_t elem = 0;  // element size of a vector
  uint64_t size = 0;  // bytes of data in the DATA records that follow
  std::string name;
};

}  // namespace ckpt::format
