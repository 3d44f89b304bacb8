#include "control/tracker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "base/uffd_abi.h"
#include "control/procfs.h"
#include "control/seize.h"

namespace ckpt::control {
namespace {

constexpr size_t kRegions = 4096;  // page regions per PAGEMAP_SCAN call

}  // namespace

PagemapScanner::PagemapScanner(pid_t pid) : vec_(kRegions * sizeof(uffd::PageRegion)) {
  fd_ = ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
}

PagemapScanner::~PagemapScanner() {
  if (fd_ >= 0) ::close(fd_);
}

Status PagemapScanner::check() const {
  if (fd_ < 0) return Status::make(Code::kIo, errno, "cannot open the program's page map");
  return Status::ok();
}

Status PagemapScanner::scan(uint64_t start, uint64_t end, Written* out) {
  out->tracked = true;
  out->pages.clear();
  auto* regions = reinterpret_cast<uffd::PageRegion*>(vec_.data());
  for (uint64_t at = start; at < end;) {
    uffd::PmScanArg arg = {};
    arg.size = sizeof arg;
    arg.flags = uffd::kScanWpMatching | uffd::kScanCheckWpasync;
    arg.start = at;
    arg.end = end;
    arg.vec = uint64_t(uintptr_t(regions));
    arg.vec_len = kRegions;
    arg.category_mask = uffd::kPageIsWritten;
    arg.return_mask = uffd::kPageIsWritten;
    long n = ::ioctl(fd_, uffd::kPagemapScan, &arg);
    if (n < 0 && errno == EPERM) {
      // Not registered for asynchronous write-protection (a mapping made,
      // moved or re-made since, or one the program registered itself): the
      // caller counts every page as written. Pages already scanned in this
      // range stay protected, which is harmless.
      out->tracked = false;
      out->pages.clear();
      return Status::ok();
    }
    if (n < 0) return Status::make(Code::kIo, errno, "PAGEMAP_SCAN on the program's page map");
    for (long i = 0; i < n; i++) {
      if (!out->pages.empty() && out->pages.back().end == regions[i].start)
        out->pages.back().end = regions[i].end;
      else out->pages.push_back({regions[i].start, regions[i].end});
    }
    if (arg.walk_end <= at) return Status::make(Code::kIo, 0, "PAGEMAP_SCAN made no progress");
    at = arg.walk_end;
  }
  return Status::ok();
}

const std::string& tracking_unavailable() {
  static const std::string why = [] {
    const char* off = std::getenv("CKPT_TEST_NO_TRACKING");
    if (off && *off == '1') return std::string("turned off (CKPT_TEST_NO_TRACKING=1)");
    int u = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | uffd::kUserModeOnly));
    if (u < 0) return std::string("userfaultfd refused: ") + std::strerror(errno);
    std::string no;
    uffd::Api api = {uffd::kApi, uffd::kFeatureWpAsync | uffd::kFeatureWpUnpopulated, 0};
    const size_t len = 2 * 4096;
    void* mem = MAP_FAILED;
    int pm = -1;
    if (::ioctl(u, uffd::kIoctlApi, &api) != 0) {
      no = errno == EINVAL ? "the kernel lacks userfaultfd WP_ASYNC (Linux 6.7)"
                           : std::string("UFFDIO_API: ") + std::strerror(errno);
    } else {
      mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      uffd::Register reg = {uint64_t(uintptr_t(mem)), len, uffd::kRegisterModeWp, 0};
      pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
      if (mem == MAP_FAILED || ::ioctl(u, uffd::kIoctlRegister, &reg) != 0) {
        no = std::string("cannot register memory for write-protection: ") + std::strerror(errno);
      } else {
        std::memset(mem, 1, len);
        uffd::PageRegion r[2];
        uffd::PmScanArg arg = {};
        arg.size = sizeof arg;
        arg.flags = uffd::kScanWpMatching | uffd::kScanCheckWpasync;
        arg.start = reg.start;
        arg.end = reg.start + len;
        arg.vec = uint64_t(uintptr_t(r));
        arg.vec_len = 2;
        arg.category_mask = arg.return_mask = uffd::kPageIsWritten;
        if (pm < 0 || ::ioctl(pm, uffd::kPagemapScan, &arg) < 0) {
          no = errno == ENOTTY || errno == EINVAL
                   ? "the kernel lacks PAGEMAP_SCAN (Linux 6.7)"
                   : std::string("PAGEMAP_SCAN: ") + std::strerror(errno);
        } else {
          static_cast<volatile char*>(mem)[4096] = 2;
          arg.walk_end = 0;
          long n = ::ioctl(pm, uffd::kPagemapScan, &arg);
          if (!(n == 1 && r[0].start == reg.start + 4096 && r[0].end == reg.start + len))
            no = "PAGEMAP_SCAN did not report exactly the page written";
        }
      }
    }
    if (pm >= 0) ::close(pm);
    if (mem != MAP_FAILED) ::munmap(mem, len);
    ::close(u);
    return no;
  }();
  return why;
}

Status register_ranges(Seized* seized, StoppedThread& thread, pid_t pid, uint64_t block_addr,
                       const inject::Block& block, const std::vector<Span>& ranges,
                       std::vector<int>* results, bool* created) {
  results->assign(ranges.size(), -EINVAL);
  *created = false;
  if (!block.parasite_track) return Status::make(Code::kUnsupported, 0, "no parasite_track");
  const uint64_t track = block_addr + offsetof(inject::Block, track);
  for (size_t done = 0; done < ranges.size();) {
    uint32_t n = uint32_t(std::min<size_t>(ranges.size() - done, inject::kMaxTrackRanges));
    uint64_t pairs[inject::kMaxTrackRanges][2];
    for (uint32_t i = 0; i < n; i++) {
      pairs[i][0] = ranges[done + i].start;
      pairs[i][1] = ranges[done + i].end - ranges[done + i].start;
    }
    CKPT_RETURN_IF_ERROR(
        mem_write(pid, track + offsetof(inject::Track, ranges), pairs, n * sizeof pairs[0]));
    int64_t ret = 0;
    CKPT_RETURN_IF_ERROR(seized->call(thread, block.parasite_track, n, block.parasite_stack_top,
                                      block.parasite_trap, &ret));
    if (ret < 0)
      return Status::make(Code::kUnsupported, int(-ret),
                          "the program cannot have a userfaultfd for tracking");
    inject::Track t;
    CKPT_RETURN_IF_ERROR(mem_read(pid, track, &t, offsetof(inject::Track, ranges)));
    *created |= t.created != 0;
    int32_t res[inject::kMaxTrackRanges];
    CKPT_RETURN_IF_ERROR(
        mem_read(pid, track + offsetof(inject::Track, results), res, n * sizeof res[0]));
    for (uint32_t i = 0; i < n; i++) (*results)[done + i] = res[i];
    done += n;
  }
  return Status::ok();
}

int own_track_fd(pid_t pid, uint64_t block_addr) {
  inject::Track head;
  if (!mem_read(pid, block_addr + offsetof(inject::Block, track), &head,
                offsetof(inject::Track, ranges))
           .is_ok() ||
      head.fd < 0)
    return -1;
  struct stat st;
  std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(head.fd);
  if (::stat(link.c_str(), &st) != 0 || uint64_t(st.st_dev) != head.dev ||
      uint64_t(st.st_ino) != head.ino)
    return -1;
  return head.fd;
}

namespace {

bool uses_own_userfaultfd(pid_t pid, int ours) {
  std::string base = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(base.c_str());
  if (!d) return true;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || std::atoi(e->d_name) == ours) continue;
    char target[64];
    ssize_t n = ::readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
    if (n > 0 && std::string(target, size_t(n)) == "anon_inode:[userfaultfd]") found = true;
  }
  ::closedir(d);
  return found;
}

}  // namespace

std::string track_process(Seized* seized, pid_t pid, uint64_t block_addr,
                          const inject::Block& block, const std::vector<Span>& ranges,
                          std::vector<Written>* written) {
  written->assign(ranges.size(), Written());
  if (!tracking_unavailable().empty()) return tracking_unavailable();
  if (uses_own_userfaultfd(pid, own_track_fd(pid, block_addr)))
    return "the program uses userfaultfd itself";
  PagemapScanner scanner(pid);
  if (!scanner.check().is_ok()) return "cannot open the program's page map";
  std::vector<Span> fresh;
  for (size_t i = 0; i < ranges.size(); i++) {
    if (Status s = scanner.scan(ranges[i].start, ranges[i].end, &(*written)[i]); !s)
      return std::string("PAGEMAP_SCAN failed: ") + s.message();
    if (!(*written)[i].tracked) fresh.push_back(ranges[i]);
  }
  if (fresh.empty()) return "";
  std::vector<int> results;
  bool created = false;
  Status s = register_ranges(seized, seized->threads()[0], pid, block_addr, block, fresh, &results,
                             &created);
  if (!s.is_ok()) return s.message();
  // Protect what was just registered: from now on, writes are recorded.
  Written ignored;
  for (size_t k = 0; k < fresh.size(); k++)
    if (results[k] == 0 && !scanner.scan(fresh[k].start, fresh[k].end, &ignored).is_ok())
      return "PAGEMAP_SCAN failed on memory just registered";
  return "";
}

}  // namespace ckpt::control
