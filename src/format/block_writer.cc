#include "format/block_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <cstring>

namespace ckpt::format {

BlockWriter::BlockWriter(Fs* fs, int fd, const char* path) : fs_(fs), fd_(fd), path_(path) {
  void* m =
      ::mmap(nullptr, kBlocks * kBlock, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return;
  mem_ = static_cast<uint8_t*>(m);
  thread_ = std::thread([this] { run(); });
}

BlockWriter::~BlockWriter() {
  if (thread_.joinable()) {
    {
      std::lock_guard lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  if (mem_) ::munmap(mem_, kBlocks * kBlock);
}

void BlockWriter::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return quit_ || done_ < submitted_; });
    if (quit_) return;
    uint64_t seq = done_;
    size_t n = seq + 1 == submitted_ ? last_size_ : kBlock;
    lk.unlock();
    Status s = write_block(block(seq), n);
    lk.lock();
    if (!s.is_ok()) {
      error_ = s;
      quit_ = true;
      cv_.notify_all();
      return;
    }
    done_ = seq + 1;
    cv_.notify_all();
  }
}

Status BlockWriter::write_block(const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = fs_->write(fd_, p, n);
    if (r == -EINTR) continue;
    if (r == -EINVAL && direct_) {
      // O_DIRECT refused after all: go on with buffered writes.
      int flags = ::fcntl(fd_, F_GETFL);
      if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) < 0)
        return write_error(errno, "cannot write", path_);
      direct_ = false;
      continue;
    }
    if (r < 0) return write_error(int(-r), "cannot write", path_);
    if (r == 0) return write_error(ENOSPC, "cannot write", path_);
    p += r;
    n -= size_t(r);
    if (n > 0 && direct_ && size_t(r) % kAlign != 0) {
      // A short write (a full disk, a quota) leaves the rest unaligned.
      int flags = ::fcntl(fd_, F_GETFL);
      if (flags >= 0 && ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) == 0) direct_ = false;
    }
  }
  return Status::ok();
}

// Hands the blocks before UPTO to the thread and waits until the block
// being filled is free.
Status BlockWriter::submit_locked(std::unique_lock<std::mutex>& lk, uint64_t upto) {
  if (upto > submitted_) {
    submitted_ = upto;
    cv_.notify_all();
  }
  cv_.wait(lk, [&] { return quit_ || cur_ - done_ < uint64_t(kBlocks); });
  return error_;
}

Status BlockWriter::advance(size_t n) {
  fill_ += n;
  if (fill_ < kBlock) return Status::ok();
  cur_++;
  fill_ = 0;
  std::unique_lock lk(mu_);
  return submit_locked(lk, held_ ? submitted_ : cur_);
}

Status BlockWriter::release() {
  held_ = false;
  std::unique_lock lk(mu_);
  return submit_locked(lk, cur_);
}

void BlockWriter::patch(uint64_t offset, const void* p, size_t n) {
  const uint8_t* src = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; i++) block((offset + i) / kBlock)[(offset + i) % kBlock] = src[i];
}

Status BlockWriter::append(const void* p, size_t n) {
  if (!mem_) return Status::make(Code::kIo, ENOMEM, "cannot allocate write buffers");
  const uint8_t* src = static_cast<const uint8_t*>(p);
  while (n > 0) {
    size_t room;
    uint8_t* dst = space(&room);
    size_t k = std::min(n, room);
    std::memcpy(dst, src, k);
    src += k;
    n -= k;
    CKPT_RETURN_IF_ERROR(advance(k));
  }
  return Status::ok();
}

Status BlockWriter::finish(uint64_t size) {
  if (!mem_) return Status::make(Code::kIo, ENOMEM, "cannot allocate write buffers");
  held_ = false;
  bool padded = false;
  if (fill_ % kAlign != 0) {
    size_t pad = kAlign - fill_ % kAlign;
    std::memset(block(cur_) + fill_, 0, pad);
    fill_ += pad;
    padded = true;
  }
  {
    std::unique_lock lk(mu_);
    uint64_t upto = cur_;
    if (fill_ > 0) {
      last_size_ = fill_;
      upto = cur_ + 1;
    }
    if (upto > submitted_) submitted_ = upto;
    cv_.notify_all();
    cv_.wait(lk, [&] { return quit_ || done_ == submitted_; });
    CKPT_RETURN_IF_ERROR(error_);
  }
  if (padded) {
    int r = fs_->truncate(fd_, size);
    if (r < 0) return write_error(-r, "cannot truncate", path_);
  }
  return Status::ok();
}

}  // namespace ckpt::format
