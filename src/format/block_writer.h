// BlockWriter: writes a file's bytes in aligned blocks with O_DIRECT, on a
// thread of its own, so the disk is fed straight from a few reused buffers.
//
// Buffered writes copy every byte into freshly allocated page-cache pages
// and leave gigabytes dirty for the final fsync; on virtual machines that
// copy, not the disk, is the limit. Here a byte is put once into a block
// (copied, or read there straight from another process: space()/advance())
// and DMA'd from there. Where O_DIRECT is refused (tmpfs, some network file
// systems) or a write comes back short (a full disk), the file falls back
// to buffered writes and nothing else changes.
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
  // One being filled, one held back while a record header in it waits for
  // its checksum (hold()), two being written.
  static constexpr int kBlocks = 4;

  // FD was opened with O_DIRECT; BlockWriter writes it from offset 0.
  BlockWriter(Fs* fs, int fd, const char* path);
  ~BlockWriter();  // abandons what is not written
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  bool ok() const { return mem_ != nullptr; }
  // Bytes appended so far.
  uint64_t size() const { return cur_ * kBlock + fill_; }
  Status append(const void* p, size_t n);
  // The free part of the block being filled (*room > 0 bytes), to be filled
  // in place; advance(n) then counts n of them as appended.
  uint8_t* space(size_t* room) {
    *room = kBlock - fill_;
    return block(cur_) + fill_;
  }
  Status advance(size_t n);
  // Between hold() and release(), full blocks are kept back instead of
  // written, so that bytes appended after hold() (at most one block's worth)
  // may still be changed with patch(): a record header whose checksum is
  // known only once its payload is in.
  void hold() { held_ = true; }
  Status release();
  void patch(uint64_t offset, const void* p, size_t n);
  // Writes the rest (padded to kAlign), waits for every write, and cuts the
  // file back to SIZE, the number of bytes appended.
  Status finish(uint64_t size);

 private:
  void run();
  Status submit_locked(std::unique_lock<std::mutex>& lk, uint64_t upto);
  Status write_block(const uint8_t* p, size_t n);
  uint8_t* block(uint64_t seq) const { return mem_ + (seq % kBlocks) * kBlock; }

  Fs* fs_;
  int fd_;
  const char* path_;
  bool direct_ = true;  // cleared when the file falls back to buffered writes
  uint8_t* mem_ = nullptr;
  uint64_t cur_ = 0;  // the block being filled
  size_t fill_ = 0;   // bytes in it
  bool held_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t submitted_ = 0, done_ = 0;  // blocks handed over, blocks written
  size_t last_size_ = kBlock;          // of the last block, once finish() hands it over
  bool quit_ = false;
  Status error_;
  std::thread thread_;
};

}  // namespace ckpt::format
