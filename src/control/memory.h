// The memory of a stopped process: how each mapping is saved, which pages
// go into the image, and how they are read: from the process while it is
// stopped, or from its frozen copy while it runs on (inject_abi.h).
// Shared memory (one object that several mappings or processes map) is
// saved once, by its object id (process_image.h, MappingInfo::object).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ckpt/status.hpp>

#include "control/identity.h"
#include "control/process_image.h"
#include "control/procfs.h"
#include "control/seize.h"
#include "format/writer.h"

namespace ckpt::control {

inline constexpr uint64_t kPage = 4096;

uint64_t mtime_ns(const struct stat& st);

// Files identified by content: the executable and every file with code
// mapped (libraries), up to kMaxHashed bytes; data files mapped read-only
// are identified by inode, size and mtime (hashing them could mean reading
// gigabytes at every new supervisor).
inline constexpr uint64_t kMaxHashed = 1ull << 30;
using CodeFiles = std::set<std::pair<uint64_t, uint64_t>>;  // dev, ino

// Finds the code files of pid and hashes them before the job is stopped,
// so that inside the pause they are found in the cache; adds them to *code.
void warm_hashes(pid_t pid, CodeFiles* code);

// The content hash of the file at `path`, if it is still the file `st`
// describes (the one mapped or run). Cached by identity (identity.h), so
// each library is read once per supervisor. Without it (an unreadable
// file), restart identifies the file by inode, size and mtime only.
void hash_file(const std::string& path, const struct stat& st, bool* has, ContentHash* hash);

// How each mapping is saved.
struct MappingPlan {
  MappingInfo info;
  enum { kNone, kPresent, kPrivateCopies, kAll } pages = kNone;
  uint64_t shm_dev = 0, shm_ino = 0;  // kMemfd: the shared object's identity
};

Status plan_mapping(const MapLine& m, const CodeFiles& code, MappingPlan* p);

// Every signal frame must lie in writable memory that the image saves. A
// frame just below the main stack's lowest page grows that mapping down, as
// the kernel would have grown it for a signal.
Status place_frames(const std::vector<SignalFrame>& frames, std::vector<MappingPlan>* plans);

// Reads the chosen pages of a process (the parked program, or its frozen
// copy): which pages (from the page map), and their bytes, either streamed
// straight into the image or, for the few the frozen copy cannot hold as they
// were (shared memory), into a Snapshot first while the program waits.
class PageWriter {
 public:
  PageWriter(pid_t pid, format::ImageWriter* w) : pid_(pid), w_(w) {
    mem_fd_ = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    map_fd_ = ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~PageWriter() {
    if (mem_fd_ >= 0) ::close(mem_fd_);
    if (map_fd_ >= 0) ::close(map_fd_);
  }
  Status check() const {
    if (mem_fd_ < 0 || map_fd_ < 0)
      return Status::make(Code::kIo, errno, "cannot open the program's /proc memory files");
    return Status::ok();
  }
  uint64_t bytes() const { return bytes_; }
  // Signal frames built for the threads (seize.h): they are written into
  // the image's copy of the stacks, never into the program.
  void set_frames(const std::vector<SignalFrame>* frames) { frames_ = frames; }

  // The runs of pages of one mapping that go into the image. Skipped: pages
  // never touched, and for private file mappings pages still shared with the file.
  Status runs(const MappingPlan& p, std::vector<PagesInfo>* out) {
    if (p.pages == MappingPlan::kNone) return Status::ok();
    if (p.pages == MappingPlan::kAll) {
      out->push_back({p.info.start, p.info.end - p.info.start});
      return Status::ok();
    }
    uint64_t run_start = 0, run_len = 0;
    const uint64_t batch = 65536;
    std::vector<uint64_t> entries;
    for (uint64_t a = p.info.start; a < p.info.end; a += batch * kPage) {
      uint64_t n = std::min(batch, (p.info.end - a) / kPage);
      entries.resize(n);
      ssize_t r = ::pread(map_fd_, entries.data(), n * 8, off_t(a / kPage * 8));
      if (r != ssize_t(n * 8))
        return Status::make(Code::kIo, r < 0 ? errno : EIO, "cannot read the program's page map");
      for (uint64_t k = 0; k < n; k++) {
        uint64_t e = entries[k];
        bool present = e >> 63 & 1, swapped = e >> 62 & 1, file = e >> 61 & 1;
        bool keep = p.pages == MappingPlan::kPresent ? (present || swapped)
                                                     : ((present && !file) || swapped);
        uint64_t addr = a + k * kPage;
        if (!keep && !in_frame(addr, addr + kPage)) continue;
        if (run_len && run_start + run_len == addr) {
          run_len += kPage;
        } else {
          if (run_len) out->push_back({run_start, run_len});
          run_start = addr;
          run_len = kPage;
        }
      }
    }
    if (run_len) out->push_back({run_start, run_len});
    return Status::ok();
  }

  bool in_frame(uint64_t lo, uint64_t hi) const {
    if (frames_)
      for (const SignalFrame& f : *frames_)
        if (f.start < hi && f.start + f.bytes.size() > lo) return true;
    return false;
  }

  // Copies a run into dst (len bytes), with the signal frames put in.
  Status read(const PagesInfo& run, uint8_t* dst) {
    CKPT_RETURN_IF_ERROR(read_raw(run, dst));
    if (!frames_) return Status::ok();
    for (const SignalFrame& f : *frames_) {
      uint64_t lo = std::max(f.start, run.addr);
      uint64_t hi = std::min(f.start + f.bytes.size(), run.addr + run.len);
      if (lo < hi)
        std::memcpy(dst + (lo - run.addr), f.bytes.data() + (lo - f.start), size_t(hi - lo));
    }
    return Status::ok();
  }

  // A process whose memory is gone (it was killed: the frozen copy by
  // someone else's kill -9 of the job, say) reads as end of file: that is
  // a failed checkpoint, never pages of zeros in an image that looks whole.
  Status read_raw(const PagesInfo& run, uint8_t* dst) {
    for (uint64_t done = 0; done < run.len;) {
      // /proc/PID/mem first: process_vm_readv pins the pages it reads, and
      // pinning a page the frozen copy shares with the program makes the
      // kernel give the copy a copy of it first (a COW "unshare"): every
      // page copied twice, memory doubled for the checkpoint's length, and
      // a TLB flush per page. /proc/PID/mem only takes a reference (its
      // bounce page is cheap next to that): 20-25 % less CPU measured at
      // 1 GiB. process_vm_readv stays as the fallback.
      size_t want = size_t(std::min<uint64_t>(run.len - done, 1ull << 30));
      ssize_t r = ::pread(mem_fd_, dst + done, want, off_t(run.addr + done));
      if (r > 0) {
        done += uint64_t(r);
        continue;
      }
      if (r == 0 || errno == ESRCH) return gone();
      iovec local = {dst + done, want};
      iovec remote = {reinterpret_cast<void*>(run.addr + done), want};
      r = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (r < 0 && errno == ESRCH) return gone();
      if (r <= 0) {
        // A page that cannot be read (beyond the end of a mapped file, say)
        // is saved as zeros: the program would get SIGBUS there anyway.
        // (The piece asked for may end or begin inside a page.)
        uint64_t at = run.addr + done;
        r = ssize_t(std::min<uint64_t>(kPage - at % kPage, run.len - done));
        std::memset(dst + done, 0, size_t(r));
      }
      done += uint64_t(r);
    }
    return Status::ok();
  }
  Status gone() const {
    return Status::make(Code::kIo, 0,
                        "process %d ended while its memory was being read (killed?): the "
                        "checkpoint is abandoned",
                        int(pid_));
  }

  // A PAGES record and its bytes, from a snapshot or (src null) read now,
  // straight into the writer's blocks where it can (ImageWriter::data_from).
  Status emit(const PagesInfo& run, const uint8_t* src) {
    CKPT_RETURN_IF_ERROR(emit_head(run));
    return emit_body(run, src);
  }
  Status emit_head(const PagesInfo& run) {
    auto rec = encode(run);
    return w_->record(format::kProcPages, rec.data(), rec.size());
  }
  // The bytes of (part of) a run as data records: an increment writes a
  // run's written pieces this way (increment.h).
  Status emit_body(const PagesInfo& run, const uint8_t* src) {
    if (src) {
      CKPT_RETURN_IF_ERROR(w_->data(src, size_t(run.len)));
    } else {
      CKPT_RETURN_IF_ERROR(w_->data_from(run.len, [&](uint8_t* dst, uint64_t off, size_t n) {
        return read(PagesInfo{run.addr + off, n}, dst);
      }));
    }
    bytes_ += run.len;
    return Status::ok();
  }

 private:
  pid_t pid_;
  format::ImageWriter* w_;
  int mem_fd_ = -1, map_fd_ = -1;
  uint64_t bytes_ = 0;
  const std::vector<SignalFrame>* frames_ = nullptr;
};

// A process's frozen copy (inject_abi.h): an orphan that its helper left
// to `parent` (the job's init, or in no-namespace mode whoever reaps
// orphans), found by its pid inside the namespace, and killed when the
// checkpoint ends.
class FrozenCopy {
 public:
  ~FrozenCopy() { end(); }
  FrozenCopy() = default;
  FrozenCopy(const FrozenCopy&) = delete;
  FrozenCopy& operator=(const FrozenCopy&) = delete;

  // parent 0: the copy is in our own pid namespace (inner is its pid).
  bool find(pid_t parent, pid_t inner);
  pid_t pid() const { return pid_; }
  void end();

 private:
  pid_t pid_ = -1;
};

// Memory we may use for a snapshot: half of what the kernel says is available.
uint64_t snapshot_budget();

// A copy in our memory of the pages the frozen copy does not hold as they
// were (shared memory, MADV_DONTFORK, MADV_WIPEONFORK). Sized from those
// runs once the program is parked, faulted in at once (MAP_POPULATE), filled
// while it waits; written parts are given back run by run.
class Snapshot {
 public:
  ~Snapshot() {
    if (base_) ::munmap(base_, size_);
  }
  void reserve(uint64_t bytes) {
    size_ = (bytes + kPage - 1) & ~(kPage - 1);
    void* b = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_NORESERVE, -1, 0);
    base_ = b == MAP_FAILED ? nullptr : static_cast<uint8_t*>(b);
  }
  uint64_t size() const { return base_ ? size_ : 0; }
  uint8_t* take(uint64_t len) {
    uint8_t* p = base_ + used_;
    used_ += len;
    return p;
  }
  // Gives big runs back early (a small one is not worth the TLB flush).
  void done(uint8_t* p, uint64_t len) {
    if (len >= (1u << 20)) ::madvise(p, size_t(len), MADV_DONTNEED);
  }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0, used_ = 0;
};

}  // namespace ckpt::control
