#include "control/dump.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "control/pipes.h"
#include "control/process_image.h"
#include "control/procfs.h"
#include "control/seize.h"
#include "control/sockets.h"
#include "control/tracker.h"
#include "format/chain.h"
#include "format/writer.h"
#include "restore/restore_abi.h"

namespace ckpt::control {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kCopyChunk = 8u << 20;

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

uint64_t parse_hex_u64(const std::string& s) {
  return s.empty() ? 0 : std::strtoull(s.c_str(), nullptr, 16);
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

uint64_t mtime_ns(const struct stat& st) {
  return uint64_t(st.st_mtim.tv_sec) * 1000000000ull + uint64_t(st.st_mtim.tv_nsec);
}

// The content hash of the file at `path`, if it is still the file `st`
// describes (the one mapped or run). Cached by identity (identity.h), so
// each library is read once per supervisor. Without it (an unreadable
// file), restart identifies the file by inode, size and mtime only.
void hash_file(const std::string& path, const struct stat& st, bool* has, ContentHash* hash) {
  *has = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return;
  struct stat now;
  if (::fstat(fd, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino &&
      now.st_size == st.st_size && mtime_ns(now) == mtime_ns(st))
    *has = content_hash(fd, now, hash).is_ok();
  ::close(fd);
}

// Files identified by content: the executable and every file with code
// mapped (libraries), up to kMaxHashed bytes; data files mapped read-only
// are identified by inode, size and mtime (hashing them could mean reading
// gigabytes at every new supervisor).
constexpr uint64_t kMaxHashed = 1ull << 30;
using CodeFiles = std::set<std::pair<uint64_t, uint64_t>>;  // dev, ino

// Finds the code files and hashes them before the program is stopped, so
// that inside the pause they are found in the cache.
CodeFiles warm_hashes(pid_t pid) {
  CodeFiles code;
  std::vector<MapLine> maps;
  std::vector<std::string> paths;
  char buf[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) paths.emplace_back(buf, size_t(n));
  if (read_maps(pid, &maps).is_ok())
    for (const MapLine& m : maps)
      if (m.x && !m.path.empty() && m.path[0] == '/') paths.push_back(m.path);
  for (const std::string& p : paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > kMaxHashed)
      continue;
    if (!code.insert({uint64_t(st.st_dev), uint64_t(st.st_ino)}).second) continue;
    bool has;
    ContentHash h;
    hash_file(p, st, &has, &h);
  }
  return code;
}

// How each mapping is saved.
struct Plan {
  MappingInfo info;
  enum { kNone, kPresent, kPrivateCopies, kAll } pages = kNone;
};

Status plan_mapping(const MapLine& m, const CodeFiles& code, Plan* p) {
  MappingInfo& i = p->info;
  i.start = m.start;
  i.end = m.end;
  i.pgoff = m.pgoff;
  i.prot = (m.r ? PROT_READ : 0) | (m.w ? PROT_WRITE : 0) | (m.x ? PROT_EXEC : 0);
  i.flags = m.shared ? restore::kMapShared : 0;
  i.path = m.path;
  if (m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") {
    i.kind = MapKind::kSpecial;
    i.special = m.path == "[vdso]"   ? restore::kSpecialVdso
                : m.path == "[vvar]" ? restore::kSpecialVvar
                                     : restore::kSpecialVvarVclock;
    return Status::ok();
  }
  if (m.path.empty() || m.path[0] == '[') {
    i.kind = MapKind::kAnon;
    if (m.path == "[stack]") i.flags |= restore::kMapGrowsDown;
    p->pages = Plan::kPresent;
    return Status::ok();
  }
  bool deleted = ends_with(m.path, " (deleted)");
  struct stat st;
  bool same = !deleted && ::stat(m.path.c_str(), &st) == 0 && st.st_ino == m.ino &&
              major(st.st_dev) == m.dev_major && minor(st.st_dev) == m.dev_minor;
  if (!same || starts_with(m.path, "/memfd:") || starts_with(m.path, "/dev/zero") ||
      starts_with(m.path, "/SYSV")) {
    // Nothing to map back from: keep every page.
    i.kind = m.shared ? MapKind::kMemfd : MapKind::kAnon;
    i.flags |= m.shared ? restore::kMapMemfd : 0;
    i.pgoff = m.shared ? m.pgoff : 0;
    p->pages = Plan::kAll;
    return Status::ok();
  }
  i.kind = MapKind::kFile;
  i.dev = st.st_dev;
  i.ino = st.st_ino;
  i.size = uint64_t(st.st_size);
  i.mtime_ns = mtime_ns(st);
  if (code.count({uint64_t(st.st_dev), uint64_t(st.st_ino)}))
    hash_file(m.path, st, &i.has_hash, &i.hash);
  p->pages = m.shared ? Plan::kNone : Plan::kPrivateCopies;
  return Status::ok();
}

// Reads the chosen pages of a process (the parked program, or its frozen
// copy): which pages (from the page map), and their bytes, either streamed
// straight into the image or, for the few the frozen copy cannot hold as they
// were (shared memory), into a Snapshot first while the program waits.
class PageWriter {
 public:
  PageWriter(pid_t pid, format::ImageWriter* w) : pid_(pid), w_(w) {
    mem_fd_ = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    map_fd_ = ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
    buf_[0].reset(new uint8_t[kCopyChunk]);
    buf_[1].reset(new uint8_t[kCopyChunk]);
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
  Status runs(const Plan& p, std::vector<PagesInfo>* out) {
    if (p.pages == Plan::kNone) return Status::ok();
    if (p.pages == Plan::kAll) {
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
        bool keep =
            p.pages == Plan::kPresent ? (present || swapped) : ((present && !file) || swapped);
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
  void read(const PagesInfo& run, uint8_t* dst) {
    read_raw(run, dst);
    if (!frames_) return;
    for (const SignalFrame& f : *frames_) {
      uint64_t lo = std::max(f.start, run.addr);
      uint64_t hi = std::min(f.start + f.bytes.size(), run.addr + run.len);
      if (lo < hi)
        std::memcpy(dst + (lo - run.addr), f.bytes.data() + (lo - f.start), size_t(hi - lo));
    }
  }

  void read_raw(const PagesInfo& run, uint8_t* dst) {
    for (uint64_t done = 0; done < run.len;) {
      // process_vm_readv copies directly; /proc/PID/mem goes through a bounce
      // page but also reads pages the program cannot (PROT_NONE).
      size_t want = size_t(std::min<uint64_t>(run.len - done, 1ull << 30));
      iovec local = {dst + done, want};
      iovec remote = {reinterpret_cast<void*>(run.addr + done), want};
      ssize_t r = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (r > 0) {
        done += uint64_t(r);
        continue;
      }
      r = ::pread(mem_fd_, dst + done, size_t(run.len - done), off_t(run.addr + done));
      if (r <= 0) {
        // A page that cannot be read (beyond the end of a mapped file, say)
        // is saved as zeros: the program would get SIGBUS there anyway.
        std::memset(dst + done, 0, kPage);
        r = ssize_t(kPage);
      }
      done += uint64_t(r);
    }
  }

  // A PAGES record and its bytes, from a snapshot or (src null) read now.
  Status emit(const PagesInfo& run, const uint8_t* src) {
    CKPT_RETURN_IF_ERROR(emit_head(run));
    return emit_body(run, src);
  }
  Status emit_head(const PagesInfo& run) {
    auto rec = encode(run);
    return w_->record(format::kProcPages, rec.data(), rec.size());
  }
  // The bytes of (part of) a run, as data records.
  Status emit_body(const PagesInfo& run, const uint8_t* src) {
    if (src) {
      CKPT_RETURN_IF_ERROR(w_->data(src, size_t(run.len)));
    } else {
      // The next piece is read on a second thread while this one is
      // checksummed and handed to the writer.
      uint64_t pieces = (run.len + kCopyChunk - 1) / kCopyChunk;
      auto piece = [&](uint64_t k) {
        uint64_t off = k * kCopyChunk;
        return PagesInfo{run.addr + off, std::min<uint64_t>(kCopyChunk, run.len - off)};
      };
      read(piece(0), buf_[0].get());
      for (uint64_t k = 0; k < pieces; k++) {
        std::thread next;
        if (k + 1 < pieces)
          next = std::thread([&, k] { read(piece(k + 1), buf_[(k + 1) % 2].get()); });
        Status s = w_->data(buf_[k % 2].get(), size_t(piece(k).len));
        if (next.joinable()) next.join();
        CKPT_RETURN_IF_ERROR(s);
      }
    }
    bytes_ += run.len;
    return Status::ok();
  }

 private:
  pid_t pid_;
  format::ImageWriter* w_;
  int mem_fd_ = -1, map_fd_ = -1;
  std::unique_ptr<uint8_t[]> buf_[2];
  uint64_t bytes_ = 0;
  const std::vector<SignalFrame>* frames_ = nullptr;
};

// The program's frozen copy (inject_abi.h), found among its parent's
// children by its pid inside the namespace, and killed when the dump ends.
class FrozenCopy {
 public:
  ~FrozenCopy() { end(); }
  FrozenCopy() = default;
  FrozenCopy(const FrozenCopy&) = delete;
  FrozenCopy& operator=(const FrozenCopy&) = delete;

  bool find(pid_t program, pid_t inner) {
    std::vector<std::string> f;
    if (!read_stat_fields(program, &f).is_ok() || f.size() < 5) return false;
    pid_t parent = pid_t(std::atoi(f[4].c_str()));  // proc(5): 4 is the ppid
    for (pid_t task : list_tasks(parent)) {
      std::string kids;
      std::string dir = "/proc/" + std::to_string(parent) + "/task/" + std::to_string(task);
      if (!read_text(dir + "/children", &kids).is_ok()) continue;
      for (const char* p = kids.c_str(); *p;) {
        char* end;
        long kid = std::strtol(p, &end, 10);
        if (end == p) break;
        p = end;
        if (kid > 0 && kid != program &&
            inner_pid("/proc/" + std::to_string(kid) + "/status") == inner) {
          pid_ = pid_t(kid);
          return true;
        }
      }
    }
    return false;
  }
  pid_t pid() const { return pid_; }
  void end() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    // Ours to reap only without a namespace (its init reaps it otherwise).
    while (::waitpid(pid_, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Memory we may use for a snapshot: half of what the kernel says is available.
uint64_t snapshot_budget() {
  std::string info;
  if (!read_text("/proc/meminfo", &info).is_ok()) return 0;
  const char* p = std::strstr(info.c_str(), "MemAvailable:");
  if (!p) return 0;
  return std::strtoull(p + 13, nullptr, 10) * 1024 / 2;
}

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
  void done(uint8_t* p, uint64_t len) { ::madvise(p, size_t(len), MADV_DONTNEED); }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0, used_ = 0;
};

// Pipes with their bytes in flight; unix sockets whose peer the process
// holds too, with their unread data. Other sockets stay kOther.
Status capture_pipes(pid_t pid, const DumpOptions& options, std::vector<FdInfo>* fds,
                     std::vector<std::string>* warnings) {
  std::set<uint64_t> socket_inos, pipes_seen;
  for (const FdInfo& f : *fds)
    if (f.kind == FdKind::kUnixPair) socket_inos.insert(f.ino);
  std::map<uint64_t, UnixSocket> unix_sockets;
  if (!socket_inos.empty()) CKPT_RETURN_IF_ERROR(list_unix_sockets(&unix_sockets));
  int pidfd = -1;
  Status s = Status::ok();
  for (FdInfo& f : *fds) {
    if (!s.is_ok()) break;
    if (f.kind != FdKind::kPipe && f.kind != FdKind::kUnixPair) continue;
    if (pidfd < 0) pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      s = Status::make(Code::kIo, errno, "pidfd_open");
      break;
    }
    if (f.kind == FdKind::kPipe) {
      bool read_end = false;
      s = capture_pipe(pid, pidfd, &f, !pipes_seen.count(f.ino), &read_end);
      if (read_end) pipes_seen.insert(f.ino);
    } else {
      auto it = unix_sockets.find(f.ino);
      if (it != unix_sockets.end() && it->second.peer && socket_inos.count(it->second.peer)) {
        s = capture_unix_pair(pidfd, it->second, &f);
        continue;
      }
      f.kind = FdKind::kSocket;
      std::string outside;
      s = capture_socket(pidfd, &f, &outside);
      if (!s.is_ok() || outside.empty()) continue;
      std::string comm;
      (void)read_text("/proc/" + std::to_string(pid) + "/comm", &comm);
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
      std::string what = "descriptor " + std::to_string(f.fd) + " of " + comm + " is a " + outside +
                         ", a connection outside the job";
      if (options.refuse_external)
        s = Status::make(Code::kUnsupported, 0,
                         "%s: not checkpointed (with --external=close it "
                         "would come back closed)",
                         what.c_str());
      else warnings->push_back(what + ": it will come back closed after a restart");
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return s;
}

Status gather_fds(const Target& t, const DumpOptions& options, std::vector<FdInfo>* out,
                  std::vector<std::string>* warnings) {
  std::string base = "/proc/" + std::to_string(t.pid);
  DIR* d = ::opendir((base + "/fd").c_str());
  if (!d) return Status::make(Code::kIo, errno, "cannot list the program's descriptors");
  std::vector<int> fds;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') fds.push_back(std::atoi(e->d_name));
  ::closedir(d);
  std::sort(fds.begin(), fds.end());
  for (int fd : fds) {
    FdInfo f;
    f.fd = fd;
    std::string link = base + "/fd/" + std::to_string(fd);
    char target[4096];
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n < 0) continue;  // closed meanwhile
    target[n] = 0;
    f.path = target;
    std::string info;
    if (read_text(base + "/fdinfo/" + std::to_string(fd), &info).is_ok()) {
      f.fdinfo = info.size() < 60000 ? info : info.substr(0, 60000);
      unsigned long long pos = 0;
      unsigned flags = 0;
      const char* p = std::strstr(info.c_str(), "pos:");
      if (p) pos = std::strtoull(p + 4, nullptr, 10);
      p = std::strstr(info.c_str(), "flags:");
      if (p) flags = unsigned(std::strtoul(p + 6, nullptr, 8));
      f.pos = pos;
      f.cloexec = (flags & O_CLOEXEC) ? 1 : 0;
      f.open_flags = flags & ~unsigned(O_CLOEXEC);
    }
    struct stat st;
    bool have = ::stat(link.c_str(), &st) == 0;
    if (have) {
      f.dev = st.st_dev;
      f.ino = st.st_ino;
      f.size = uint64_t(st.st_size);
    }
    // The injected library's userfaultfd (tracker.h): ckpt's own, never
    // saved or restored.
    if (fd == t.track_fd && f.path == "anon_inode:[userfaultfd]") continue;
    if (have && S_ISFIFO(st.st_mode) && t.report_ino && st.st_ino == t.report_ino)
      f.kind = FdKind::kReport;
    else if (fd <= 2 && have && st.st_dev == t.stdio_dev[fd] && st.st_ino == t.stdio_ino[fd])
      f.kind = FdKind::kInherited;
    else if (have && S_ISREG(st.st_mode) && f.path[0] == '/' && !ends_with(f.path, " (deleted)"))
      f.kind = FdKind::kFile;
    else if (have && S_ISCHR(st.st_mode) && starts_with(f.path, "/dev/")) f.kind = FdKind::kDevice;
    else if (f.path == "anon_inode:[eventfd]") f.kind = FdKind::kEventfd;
    else if (f.path == "anon_inode:[timerfd]") f.kind = FdKind::kTimerfd;
    else if (f.path == "anon_inode:[eventpoll]") f.kind = FdKind::kEpoll;
    else if (have && S_ISFIFO(st.st_mode) && starts_with(f.path, "pipe:[")) f.kind = FdKind::kPipe;
    else if (have && S_ISSOCK(st.st_mode))
      f.kind = FdKind::kUnixPair;  // if its peer is ours too; decided below
    else f.kind = FdKind::kOther;
    if (f.kind != FdKind::kEventfd && f.kind != FdKind::kTimerfd && f.kind != FdKind::kEpoll)
      f.fdinfo.clear();
    out->push_back(std::move(f));
  }
  return capture_pipes(t.pid, options, out, warnings);
}

Status gather_info(const Target& t, const inject::Block& b, uint32_t seq, ProcInfo* pi) {
  std::string base = "/proc/" + std::to_string(t.pid);
  pi->uid = ::getuid();
  pi->pid = inner_pid(base + "/status");
  if (pi->pid <= 0) pi->pid = t.pid;
  pi->signal = b.signal;
  pi->block_addr = t.block_addr;
  pi->seq = seq;
  pi->pid_ns = t.pid_ns ? 1 : 0;
  std::vector<std::string> f;
  CKPT_RETURN_IF_ERROR(read_stat_fields(t.pid, &f));
  if (f.size() < 52) return Status::make(Code::kIo, 0, "short /proc/%d/stat", int(t.pid));
  auto num = [&](int i) { return uint64_t(std::strtoull(f[size_t(i)].c_str(), nullptr, 10)); };
  // start_code end_code start_data end_data start_brk brk start_stack arg_start arg_end env_start
  // env_end
  pi->mm[0] = num(26);
  pi->mm[1] = num(27);
  pi->mm[2] = num(45);
  pi->mm[3] = num(46);
  pi->mm[4] = num(47);
  pi->mm[5] = b.brk;
  pi->mm[6] = num(28);
  pi->mm[7] = num(48);
  pi->mm[8] = num(49);
  pi->mm[9] = num(50);
  pi->mm[10] = num(51);
  std::string um = status_field(base + "/status", "Umask");
  pi->umask = uint32_t(std::strtoul(um.c_str(), nullptr, 8));
  char buf[4096];
  ssize_t n = ::readlink((base + "/cwd").c_str(), buf, sizeof buf - 1);
  if (n < 0) return Status::make(Code::kIo, errno, "cannot read the program's working directory");
  pi->cwd.assign(buf, size_t(n));
  n = ::readlink((base + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) pi->exe.assign(buf, size_t(n));
  struct stat st;
  if (!pi->exe.empty() && ::stat(pi->exe.c_str(), &st) == 0) {
    pi->exe_ino = st.st_ino;
    pi->exe_size = uint64_t(st.st_size);
    pi->exe_mtime_ns = mtime_ns(st);
    if (uint64_t(st.st_size) <= kMaxHashed)
      hash_file(pi->exe, st, &pi->has_exe_hash, &pi->exe_hash);
  }
  std::memcpy(pi->actions, b.actions, sizeof pi->actions);
  std::memcpy(pi->itimers, b.itimers, sizeof pi->itimers);
  for (int r = 0; r < 16; r++) {
    struct rlimit rl;
    if (::prlimit(t.pid, __rlimit_resource(r), nullptr, &rl) == 0) {
      pi->rlimits[r][0] = rl.rlim_cur;
      pi->rlimits[r][1] = rl.rlim_max;
    } else {
      pi->rlimits[r][0] = pi->rlimits[r][1] = RLIM_INFINITY;
    }
  }
  pi->sigpending = parse_hex_u64(status_field(base + "/status", "ShdPnd"));
  std::string auxv;
  CKPT_RETURN_IF_ERROR(read_text(base + "/auxv", &auxv));
  for (size_t i = 0; i + 8 <= auxv.size() && pi->auxv.size() < 128; i += 8) {
    uint64_t w;
    std::memcpy(&w, auxv.data() + i, 8);
    pi->auxv.push_back(w);
  }
  return Status::ok();
}

// Every signal frame must lie in writable memory that the image saves. A
// frame just below the main stack's lowest page grows that mapping down, as
// the kernel would have grown it for a signal.
Status place_frames(const std::vector<SignalFrame>& frames, std::vector<Plan>* plans) {
  for (const SignalFrame& f : frames) {
    uint64_t lo = f.start, hi = f.start + f.bytes.size();
    bool placed = false;
    for (Plan& p : *plans) {
      MappingInfo& m = p.info;
      if (!(m.prot & PROT_WRITE) || p.pages == Plan::kNone) continue;
      if (lo >= m.start && hi <= m.end) {
        placed = true;
        break;
      }
      if ((m.flags & restore::kMapGrowsDown) && hi <= m.end && lo < m.start &&
          m.start - lo <= (1u << 20)) {
        m.start = lo & ~(kPage - 1);
        placed = true;
        break;
      }
    }
    if (!placed)
      return Status::make(Code::kUnsupported, 0,
                          "no room below a thread's stack pointer (%#llx) for its saved registers",
                          (unsigned long long)f.uc);
  }
  return Status::ok();
}

// The stop: every thread seized and interrupted (seize.h); each runs the
// injected library's thread parasite, the main thread the process parasite
// (with want_copy, it forks the frozen copy). Then each thread's signal
// frame is built from its registers, for the image's copy of its stack.
Status stop_and_record(Target& t, Seized* seized, bool want_copy, inject::Block* block,
                       uint32_t* seq, std::vector<SignalFrame>* frames) {
  // A thread still in the restorer's last steps (a restarted program whose
  // threads are about to return into their frames) is caught again a moment
  // later: its state is the restorer's, not the program's.
  for (int tries = 0;; tries++) {
    CKPT_RETURN_IF_ERROR(seized->stop(t.pid));
    bool in_restorer = false;
    for (const StoppedThread& th : seized->threads()) {
      auto inside = [](uint64_t a) {
        return a >= restore::kRestorerBase && a < restore::kRestorerBase + restore::kReservedSize;
      };
      in_restorer |= inside(th.regs.rip) || inside(th.regs.rsp);
    }
    if (!in_restorer) break;
    seized->release();
    if (tries == 2000)
      return Status::make(Code::kIo, 0, "the restarted program did not leave the restorer in 10 s");
    timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  CKPT_RETURN_IF_ERROR(mem_read(t.pid, t.block_addr, block, inject::kBlockHeaderSize));
  if (block->magic != inject::kBlockMagic || block->version != inject::kBlockVersion)
    return Status::make(Code::kUnsupported, 0,
                        "the program's injected library does not answer (version mismatch?)");
  std::vector<StoppedThread>& th = seized->threads();
  if (th.size() > size_t(inject::kMaxThreads))
    return Status::make(Code::kUnsupported, 0, "more than %d threads", inject::kMaxThreads);
  *seq = block->request_seq + 1;
  CKPT_RETURN_IF_ERROR(
      mem_write(t.pid, t.block_addr + offsetof(inject::Block, request_seq), seq, 4));
  uint64_t stack = block->parasite_stack_top, trap = block->parasite_trap;
  for (size_t i = 0; i < th.size(); i++) {
    int64_t ret = 0;
    CKPT_RETURN_IF_ERROR(seized->call(th[i], block->parasite_thread, i, stack, trap, &ret));
    if (ret != 0)
      return Status::make(Code::kIo, 0, "thread %d could not record its state", int(th[i].tid));
  }
  int64_t ret = 0;
  CKPT_RETURN_IF_ERROR(
      seized->call(th[0], block->parasite_process, want_copy ? 1 : 0, stack, trap, &ret));
  size_t n = inject::kBlockHeaderSize + th.size() * sizeof(inject::ThreadSlot);
  CKPT_RETURN_IF_ERROR(mem_read(t.pid, t.block_addr, block, n));
  block->slots_used = uint32_t(th.size());
  std::map<pid_t, Target::Syscall> seen;
  for (size_t i = 0; i < th.size(); i++) {
    inject::ThreadSlot& slot = block->slots[i];
    const user_regs_struct& r = th[i].regs;
    long known = -1;
    auto it = t.last_syscall.find(th[i].tid);
    if (it != t.last_syscall.end() && it->second.rip == r.rip) known = it->second.nr;
    if (long(r.orig_rax) >= 0)
      seen[th[i].tid] = {r.rip, long(r.orig_rax) == 219 ? known : long(r.orig_rax)};
    SignalFrame f;
    CKPT_RETURN_IF_ERROR(build_frame(restart_regs(r, known), th[i].xstate, th[i].sigmask,
                                     slot.ss_sp, slot.ss_flags, slot.ss_size, &f));
    slot.uc = f.uc;
    frames->push_back(std::move(f));
  }
  t.last_syscall = std::move(seen);
  return Status::ok();
}

// The injected library's userfaultfd, if the descriptor at the number it
// recorded is still it (the program may have closed it or put its own
// there); -1 otherwise.
int own_track_fd(const Target& t) {
  inject::Track head;
  if (!mem_read(t.pid, t.block_addr + offsetof(inject::Block, track), &head,
                offsetof(inject::Track, ranges))
           .is_ok() ||
      head.fd < 0)
    return -1;
  struct stat st;
  std::string link = "/proc/" + std::to_string(t.pid) + "/fd/" + std::to_string(head.fd);
  if (::stat(link.c_str(), &st) != 0 || uint64_t(st.st_dev) != head.dev ||
      uint64_t(st.st_ino) != head.ino)
    return -1;
  return head.fd;
}

// Whether the program holds a userfaultfd of its own (not the injected
// library's): then ckpt neither registers nor scans anything, as a scan
// would take the program's own record of written pages (docs/transparent.md).
bool uses_own_userfaultfd(const Target& t) {
  std::string base = "/proc/" + std::to_string(t.pid) + "/fd";
  DIR* d = ::opendir(base.c_str());
  if (!d) return true;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || std::atoi(e->d_name) == t.track_fd) continue;
    char target[64];
    ssize_t n = ::readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
    if (n > 0 && std::string(target, size_t(n)) == "anon_inode:[userfaultfd]") found = true;
  }
  ::closedir(d);
  return found;
}

// Dirty pages (tracker.h), asked while every thread is stopped: for each
// mapping that can be tracked (private and writable), the pages written
// since the last checkpoint; mappings not yet registered are registered
// now (all their pages count as written this time). Returns "" when the
// answers can be trusted, else why not (then the image is full).
std::string track_pages(Target& t, Seized& seized, const inject::Block& block,
                        const std::vector<Plan>& plans, const DumpOptions& options,
                        std::vector<bool>* candidate, std::vector<Written>* written) {
  candidate->assign(plans.size(), false);
  written->assign(plans.size(), Written());
  if (options.full_every <= 1) return "turned off (--full-every 1)";
  if (!tracking_unavailable().empty()) return tracking_unavailable();
  if (uses_own_userfaultfd(t)) return "the program uses userfaultfd itself";
  PagemapScanner scanner(t.pid);
  if (!scanner.check().is_ok()) return "cannot open the program's page map";
  std::vector<Span> fresh;
  std::vector<size_t> fresh_plan;
  for (size_t i = 0; i < plans.size(); i++) {
    const Plan& p = plans[i];
    if ((p.info.flags & restore::kMapShared) || !(p.info.prot & PROT_WRITE) ||
        p.pages == Plan::kNone || p.pages == Plan::kAll ||
        (p.info.kind != MapKind::kAnon && p.info.kind != MapKind::kFile))
      continue;
    (*candidate)[i] = true;
    if (Status s = scanner.scan(p.info.start, p.info.end, &(*written)[i]); !s)
      return std::string("PAGEMAP_SCAN failed: ") + s.message();
    if (!(*written)[i].tracked) {
      fresh.push_back({p.info.start, p.info.end});
      fresh_plan.push_back(i);
    }
  }
  if (!fresh.empty()) {
    std::vector<int> results;
    bool created = false;
    Status s = register_ranges(&seized, seized.threads()[0], t.pid, t.block_addr, block, fresh,
                               &results, &created);
    if (!s.is_ok()) return s.message();
    // Protect what was just registered: from now on, writes are recorded.
    Written ignored;
    for (size_t k = 0; k < fresh.size(); k++)
      if (results[k] == 0 && !scanner.scan(fresh[k].start, fresh[k].end, &ignored).is_ok())
        return "PAGEMAP_SCAN failed on memory just registered";
  }
  t.track_fd = own_track_fd(t);
  return "";
}

}  // namespace

Status checkpoint_process(Target& t, format::JobDir& dir, const DumpOptions& options,
                          DumpResult* result) {
  double t0 = now_s();
  auto block = std::make_unique<inject::Block>();
  uint64_t resident = 0;
  {
    std::string rss = status_field("/proc/" + std::to_string(t.pid) + "/status", "VmRSS");
    resident = std::strtoull(rss.c_str(), nullptr, 10) * 1024;
  }
  // The memory is read from a frozen copy-on-write copy of the program, so
  // that it runs again as soon as the copy exists; unless the job ends with
  // this checkpoint (then nothing needs to run).
  bool hold = options.end_on_success > 0;
  CodeFiles code = warm_hashes(t.pid);
  Seized seized;
  uint32_t seq = 0;
  std::vector<SignalFrame> frames;
  CKPT_RETURN_IF_ERROR(stop_and_record(t, &seized, !hold, block.get(), &seq, &frames));
  FrozenCopy copy;
  bool frozen = !hold && block->fork_pid > 0 && copy.find(t.pid, block->fork_pid);
  t.track_fd = own_track_fd(t);

  // One process for now: its children would not come back with it.
  for (pid_t task : list_tasks(t.pid)) {
    std::string kids;
    (void)read_text(
        "/proc/" + std::to_string(t.pid) + "/task/" + std::to_string(task) + "/children", &kids);
    if (!kids.empty()) {
      int kid = std::atoi(kids.c_str());
      std::string comm;
      (void)read_text("/proc/" + std::to_string(kid) + "/comm", &comm);
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
      return Status::make(Code::kUnsupported, 0,
                          "the program has a child process (%s); ckpt checkpoints a single "
                          "process for now: run the computation itself under `ckpt run`",
                          comm.c_str());
    }
  }
  ProcInfo pi;
  CKPT_RETURN_IF_ERROR(gather_info(t, *block, seq, &pi));
  std::vector<ThreadInfo> threads;
  for (uint32_t i = 0; i < block->slots_used; i++) {
    ThreadInfo ti;
    ti.slot = block->slots[i];
    if (ti.slot.seq != seq) return Status::make(Code::kIo, 0, "a thread's record is incomplete");
    threads.push_back(ti);
  }
  // Signals pending for one thread (it blocks them), found by its tid as the
  // program sees it (NSpid's last field).
  for (pid_t outer : list_tasks(t.pid)) {
    std::string st =
        "/proc/" + std::to_string(t.pid) + "/task/" + std::to_string(outer) + "/status";
    int inner = inner_pid(st);
    uint64_t pending = parse_hex_u64(status_field(st, "SigPnd"));
    for (ThreadInfo& ti : threads)
      if (ti.slot.tid == inner) ti.sigpending = pending;
  }
  // The main thread first.
  auto main_it = std::find_if(threads.begin(), threads.end(),
                              [&](const ThreadInfo& x) { return x.slot.tid == pi.pid; });
  if (main_it == threads.end())
    return Status::make(Code::kUnsupported, 0,
                        "the program's main thread has exited; such programs are not supported");
  std::iter_swap(threads.begin(), main_it);

  std::vector<MapLine> maps;
  CKPT_RETURN_IF_ERROR(read_maps(t.pid, &maps));
  std::vector<Plan> plans;
  for (const MapLine& m : maps) {
    if (m.path == "[vsyscall]") continue;
    if (m.start >= restore::kRestorerBase &&
        m.end <= restore::kRestorerBase + restore::kReservedSize)
      continue;  // the restorer's leftovers after a restart
    if (m.end > restore::kRestorerBase && m.start < restore::kRestorerBase + restore::kReservedSize)
      return Status::make(Code::kUnsupported, 0,
                          "the program has memory at %#llx, which the restorer needs",
                          (unsigned long long)m.start);
    Plan p;
    CKPT_RETURN_IF_ERROR(plan_mapping(m, code, &p));
    plans.push_back(std::move(p));
  }
  CKPT_RETURN_IF_ERROR(place_frames(frames, &plans));
  std::vector<FdInfo> fds;
  std::vector<std::string> warnings;
  CKPT_RETURN_IF_ERROR(gather_fds(t, options, &fds, &warnings));

  format::ImageWriter w;
  format::WriterOptions wo;
  wo.zstd_level = options.zstd_level;
  wo.direct = options.direct && resident >= format::kDirectFrom;
  uint64_t gen = dir.next_generation();
  std::string path = dir.image_path(gen);
  PageWriter pw(t.pid, &w);
  pw.set_frames(&frames);
  Status s = pw.check();
  std::vector<std::vector<PagesInfo>> runs(plans.size());
  for (size_t i = 0; s.is_ok() && i < plans.size(); i++) s = pw.runs(plans[i], &runs[i]);
  // What the frozen copy does not hold as it was is copied while the
  // program waits: shared memory (the program goes on changing it) and
  // mappings a fork leaves out or wipes (MADV_DONTFORK, MADV_WIPEONFORK).
  std::vector<bool> parked(plans.size(), !frozen);
  std::unique_ptr<PageWriter> from_copy;
  if (frozen && s.is_ok()) {
    std::vector<uint64_t> exempt;
    from_copy = std::make_unique<PageWriter>(copy.pid(), &w);
    from_copy->set_frames(&frames);
    frozen = read_fork_exempt(t.pid, &exempt).is_ok() && from_copy->check().is_ok();
    for (size_t i = 0; frozen && i < plans.size(); i++)
      parked[i] = (plans[i].info.flags & restore::kMapShared) ||
                  std::find(exempt.begin(), exempt.end(), plans[i].info.start) != exempt.end();
    if (!frozen) parked.assign(plans.size(), true);
  }
  if (!frozen) copy.end();

  // Written pages since the last checkpoint (tracker.h), asked while the
  // program is stopped. The scan protects the pages again, so what the
  // previous image does not hold is lost to the chain if this checkpoint
  // fails: the chain is taken now and given back only by a committed image.
  ChainState prev = std::move(t.chain);
  t.chain = ChainState();
  std::vector<bool> candidate;
  std::vector<Written> written;
  std::string track_why =
      s.is_ok() ? track_pages(t, seized, *block, plans, options, &candidate, &written) : "";
  t.tracking = track_why.empty()
                   ? "tracked: userfaultfd write-protection and PAGEMAP_SCAN"
                   : "full images: " + track_why;
  bool incr = s.is_ok() && track_why.empty() && prev.generation > 0 &&
              prev.increments + 1 < options.full_every;
  for (size_t k = 0; incr && k < prev.sources.size(); k++) {
    struct stat st;
    incr = ::stat(dir.image_path(prev.sources[k].generation).c_str(), &st) == 0;
  }
  // Each run of a tracked mapping, split into pages written and pages the
  // previous images hold; the pages of signal frames are always written.
  std::vector<std::vector<std::vector<Piece>>> pieces(plans.size());
  std::vector<int64_t> base_of(prev.sources.size(), -1);
  std::vector<format::BaseRef> bases;
  for (size_t i = 0; incr && i < plans.size(); i++) {
    if (!candidate[i] || !written[i].tracked || (frozen && parked[i])) continue;
    std::vector<Span>& wp = written[i].pages;
    for (const SignalFrame& f : frames) {
      uint64_t lo = std::max(f.start & ~(kPage - 1), plans[i].info.start);
      uint64_t hi = std::min((f.start + f.bytes.size() + kPage - 1) & ~(kPage - 1),
                             plans[i].info.end);
      if (lo < hi) wp.push_back({lo, hi});
    }
    std::sort(wp.begin(), wp.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
    std::vector<Span> merged;
    for (const Span& x : wp)
      if (!merged.empty() && x.start <= merged.back().end)
        merged.back().end = std::max(merged.back().end, x.end);
      else
        merged.push_back(x);
    wp = std::move(merged);
    pieces[i].resize(runs[i].size());
    for (size_t j = 0; j < runs[i].size(); j++) {
      split_run(runs[i][j].addr, runs[i][j].len, wp, prev, &pieces[i][j]);
      for (const Piece& pc : pieces[i][j])
        if (pc.ref && base_of[pc.source] < 0) {
          base_of[pc.source] = int64_t(bases.size());
          bases.push_back(prev.sources[pc.source]);
        }
    }
  }
  incr = incr && !bases.empty();
  wo.increment = incr;
  if (s.is_ok()) s = w.open(path, format::Kind::kProcess, gen, wo);
  CKPT_RETURN_IF_ERROR(s);
  auto rec = encode(pi);
  s = w.record(format::kProcInfo, rec.data(), rec.size());
  for (size_t i = 0; s.is_ok() && i < threads.size(); i++) {
    rec = encode(threads[i]);
    s = w.record(format::kProcThread, rec.data(), rec.size());
  }
  for (size_t i = 0; s.is_ok() && i < fds.size(); i++) {
    rec = encode(fds[i]);
    s = w.record(format::kProcFd, rec.data(), rec.size());
  }
  for (size_t k = 0; s.is_ok() && incr && k < bases.size(); k++) {
    rec = format::encode_base(bases[k]);
    s = w.record(format::kBase, rec.data(), rec.size());
  }
  Snapshot snap;
  std::vector<uint8_t*> bufs;
  if (frozen && s.is_ok()) {
    uint64_t total = 0;
    for (size_t i = 0; i < plans.size(); i++)
      for (const PagesInfo& r : runs[i]) total += parked[i] ? r.len : 0;
    if (total > snapshot_budget())
      return Status::make(Code::kNoSpace, ENOMEM,
                          "the program's shared memory (%llu MiB) does not fit in memory twice",
                          (unsigned long long)(total >> 20));
    if (total > 0) snap.reserve(total);
    if (total > 0 && snap.size() == 0)
      return Status::make(Code::kIo, ENOMEM, "cannot allocate %llu MiB for shared memory",
                          (unsigned long long)(total >> 20));
    for (size_t i = 0; i < plans.size(); i++)
      for (const PagesInfo& r : runs[i])
        if (parked[i]) {
          bufs.push_back(snap.take(r.len));
          pw.read(r, bufs.back());
        }
    seized.release();
  }
  double t1 = now_s();
  size_t k = 0;
  uint64_t referred = 0;
  for (size_t i = 0; s.is_ok() && i < plans.size(); i++) {
    rec = encode(plans[i].info);
    s = w.record(format::kProcMapping, rec.data(), rec.size());
    for (size_t j = 0; s.is_ok() && j < runs[i].size(); j++) {
      if (incr && !pieces[i].empty()) {
        // An increment's run: data for the pages written, data_ref records
        // for the rest (format/chain.h).
        PageWriter* from = frozen ? from_copy.get() : &pw;
        s = pw.emit_head(runs[i][j]);
        for (size_t k = 0; s.is_ok() && k < pieces[i][j].size(); k++) {
          const Piece& pc = pieces[i][j][k];
          if (!pc.ref) {
            s = from->emit_body({pc.addr, pc.len}, nullptr);
            continue;
          }
          rec = format::encode_data_ref(
              {uint32_t(base_of[pc.source]), pc.offset, pc.skip, pc.len});
          s = w.record(format::kDataRef, rec.data(), rec.size());
          referred += pc.len;
        }
      } else if (!frozen) {
        s = pw.emit(runs[i][j], nullptr);  // straight from the parked program
      } else if (parked[i]) {
        s = pw.emit(runs[i][j], bufs[k]);
        snap.done(bufs[k], runs[i][j].len);
        k++;
      } else {
        s = from_copy->emit(runs[i][j], nullptr);
      }
    }
  }
  copy.end();
  // The memory is saved: the program may run while the image is made durable.
  if (!hold) seized.release();
  if (!frozen) t1 = now_s();
  if (s.is_ok()) s = w.commit();
  if (!s.is_ok()) {
    w.abort();
    return s;  // q's destructor lets the program go on
  }
  if (hold) {
    // Never released: killed while parked, the program does nothing more.
    seized.kill_stopped(options.end_on_success == t.pid);
    ::kill(options.end_on_success, SIGKILL);
  }
  // What the next increment builds on: where each page of this image is.
  if (track_why.empty() && index_image(path, &t.chain).is_ok())
    t.chain.increments = incr ? prev.increments + 1 : 0;
  else
    t.chain = ChainState();
  dir.prune(options.keep);
  result->path = path;
  result->generation = gen;
  result->file_bytes = w.bytes_written();
  result->increment = incr;
  result->written_bytes = pw.bytes() + (from_copy ? from_copy->bytes() : 0);
  result->memory_bytes = result->written_bytes + referred;
  result->pause_s = t1 - t0;
  result->warnings = std::move(warnings);
  result->total_s = now_s() - t0;
  return Status::ok();
}

}  // namespace ckpt::control
