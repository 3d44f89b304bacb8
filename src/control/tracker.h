// Dirty-page tracking without soft-dirty: which pages of the program were
// written since the last checkpoint. The injected library registers the
// program's private writable mappings with a userfaultfd of its own in
// asynchronous write-protect mode (inject_abi.h, Track); the supervisor
// asks the kernel with PAGEMAP_SCAN on /proc/PID/pagemap for the pages
// written since the last scan, which the same call protects again,
// atomically. docs/transparent.md, "Incremental checkpoints", says why and
// what the program can and cannot notice.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "inject/inject_abi.h"

namespace ckpt::control {

class Seized;
struct StoppedThread;

struct Span {
  uint64_t start = 0, end = 0;  // page aligned, [start, end)
};

// What one scan of one mapping found.
struct Written {
  bool tracked = false;     // false: not registered (new, moved, the program's own): all written
  std::vector<Span> pages;  // when tracked: written since the last scan, ascending
};

// The pagemap of a process, opened once per checkpoint.
class PagemapScanner {
 public:
  explicit PagemapScanner(pid_t pid);
  ~PagemapScanner();
  PagemapScanner(const PagemapScanner&) = delete;
  PagemapScanner& operator=(const PagemapScanner&) = delete;
  Status check() const;
  // The pages of [start, end) written since the last scan, which are
  // write-protected again by the same call. A range that is not (or no
  // longer) registered comes back untracked: never an error.
  Status scan(uint64_t start, uint64_t end, Written* out);

 private:
  int fd_ = -1;
  std::vector<uint8_t> vec_;
};

// Whether this kernel can track at all: "" if yes, else why not (one
// phrase, for `ckpt status` and `ckpt check`). Tried once in this process.
const std::string& tracking_unavailable();

// Runs the injected library's parasite_track in a stopped thread of pid to
// register `ranges` (any number, in batches). results[i]: 0 or -errno.
// *created: the library made a new userfaultfd (registrations before it are
// gone).
Status register_ranges(Seized* seized, StoppedThread& thread, pid_t pid, uint64_t block_addr,
                       const inject::Block& block, const std::vector<Span>& ranges,
                       std::vector<int>* results, bool* created);

// The injected library's userfaultfd in pid, if the descriptor at the
// number the library recorded is still it (the program may have closed it,
// or put a descriptor of its own there); -1 otherwise. It is never saved.
int own_track_fd(pid_t pid, uint64_t block_addr);

// One stopped process's written pages: for each of `ranges` (mappings that
// can be tracked: private and writable), the pages written since the last
// checkpoint; ranges not registered yet are registered now (all their
// pages count as written this time). Returns "" when the answers can be
// trusted, else why not (then the image must be full). Nothing is
// registered or scanned in a process that holds a userfaultfd of its own
// (a scan would take the program's own record of written pages).
std::string track_process(Seized* seized, pid_t pid, uint64_t block_addr,
                          const inject::Block& block, const std::vector<Span>& ranges,
                          std::vector<Written>* written);

}  // namespace ckpt::control
