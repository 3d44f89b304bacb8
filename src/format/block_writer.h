// BlockWriter: writes a file's bytes in aligned blocks with O_DIRECT, on a
// thread of its own, so the disk is fed straight from a few reused buffers.
//
// Buffered writes copy every byte into freshly allocated page-cache pages
// and leave gigabytes dirty for the final fsync; on virtual machines that
// copy, not the disk, is the limit. Here a byte is copied once, into a block
// that is hot in the cache, and DMA'd from there. Where O_DIRECT is refused
// (tmpfs, some network file systems) or a write comes back short (a full
// disk), the file falls back to buffered writes and nothing else changes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "base/fs.h"

namespace ckpt::format {

class BlockWriter {
 public:
  static constexpr size_t kAlign = 4096;
  static constexpr size_t kBlock = 8 << 20;
  static constexpr int kBlocks = 3;  // one being filled, two being written

  // FD was opened with O_DIRECT; BlockWriter writes it from offset 0.
  BlockWriter(Fs* fs, int fd, const char* path);
  ~BlockWriter();  // abandons what is not written
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  bool ok() const { return mem_ != nullptr; }
  Status append(const void* p, size_t n);
  // Writes the rest (padded to kAlign), waits for every write, and cuts the
  // file back to SIZE, the number of bytes appended.
  Status finish(uint64_t size);

 private:
  void run();
  Status submit_locked(std::unique_lock<std::mutex>& lk);
  Status write_block(const uint8_t* p, size_t n);
  uint8_t* block(uint64_t seq) const { return mem_ + (seq % kBlocks) * kBlock; }

  Fs* fs_;
  int fd_;
  const char* path_;
  bool direct_ = true;  // cleared when the file falls back to buffered writes
  uint8_t* mem_ = nullptr;
  size_t fill_ = 0;  // bytes in the block being filled (number submitted_)

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t submitted_ = 0, done_ = 0;  // blocks handed over, blocks written
  size_t sizes_[kBlocks] = {};
  bool quit_ = false;
  Status error_;
  std::thread thread_;
};

}  // namespace ckpt::format
