#include "control/restore_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "format/reader.h"
#include "restore/restore_abi.h"

namespace ckpt::control {
namespace {

using restore::kPage;

uint64_t mtime_ns(const struct stat& st) {
  return uint64_t(st.st_mtim.tv_sec) * 1000000000ull + uint64_t(st.st_mtim.tv_nsec);
}

Status pwrite_all(int fd, const void* p, size_t n, uint64_t off) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, c, n, off_t(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::make(Code::kIo, errno, "cannot unpack the image into memory");
    c += w;
    n -= size_t(w);
    off += uint64_t(w);
  }
  return Status::ok();
}

Status check_file(const std::string& path, uint64_t ino, uint64_t size, uint64_t mtime) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::make(Code::kMismatch, errno, "%s, used by the checkpointed program, is gone",
                        path.c_str());
  if (st.st_ino != ino || uint64_t(st.st_size) != size || mtime_ns(st) != mtime)
    return Status::make(Code::kMismatch, 0,
                        "%s changed since the checkpoint; restoring would mix old memory with "
                        "new code (reinstall the old version or start the job again)",
                        path.c_str());
  return Status::ok();
}

void write_err(int fd, const std::string& s) {
  std::string line = "ckpt: " + s + "\n";
  if (::write(fd, line.data(), line.size()) < 0) {
  }
}

// A number after `key` in an fdinfo text; 0 if absent.
uint64_t info_u64(const std::string& info, const char* key, int base) {
  size_t p = info.find(key);
  if (p == std::string::npos) return 0;
  return std::strtoull(info.c_str() + p + std::strlen(key), nullptr, base);
}

void info_pair(const std::string& info, const char* key, uint64_t* a, uint64_t* b) {
  *a = *b = 0;
  size_t p = info.find(key);
  unsigned long long x = 0, y = 0;
  if (p != std::string::npos &&
      std::sscanf(info.c_str() + p + std::strlen(key), " (%llu, %llu)", &x, &y) == 2) {
    *a = x;
    *b = y;
  }
}

int make_eventfd(const FdInfo& f) {
  int flags = EFD_CLOEXEC | ((f.open_flags & O_NONBLOCK) ? EFD_NONBLOCK : 0);
  if (info_u64(f.fdinfo, "eventfd-semaphore:", 10)) flags |= EFD_SEMAPHORE;
  int fd = ::eventfd(0, flags);
  uint64_t count = info_u64(f.fdinfo, "eventfd-count:", 16);
  if (fd >= 0 && count && ::write(fd, &count, 8) != 8) {
  }
  return fd;
}

// Armed as it was: the remaining time and the interval. An expiry not yet
// read (ticks > 0; the kernel then shows no remaining time, since a periodic
// timerfd is re-armed by the read) comes back as an immediate expiry.
int make_timerfd(const FdInfo& f) {
  int clock = int(info_u64(f.fdinfo, "clockid:", 10));
  int fd = ::timerfd_create(clock, TFD_CLOEXEC | ((f.open_flags & O_NONBLOCK) ? TFD_NONBLOCK : 0));
  if (fd < 0) return fd;
  uint64_t vs, vn, is, in;
  info_pair(f.fdinfo, "it_value:", &vs, &vn);
  info_pair(f.fdinfo, "it_interval:", &is, &in);
  itimerspec its = {};
  its.it_value = {time_t(vs), long(vn)};
  its.it_interval = {time_t(is), long(in)};
  if (info_u64(f.fdinfo, "ticks:", 10) > 0) {
    its.it_value = {0, 1};
    vn = 1;
  }
  if ((vs || vn) && ::timerfd_settime(fd, 0, &its, nullptr) != 0) {
  }
  return fd;
}

int make_epoll(const FdInfo& f) {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return fd;
  size_t pos = 0;
  while ((pos = f.fdinfo.find("tfd:", pos)) != std::string::npos) {
    int tfd;
    unsigned events;
    unsigned long long data;
    if (std::sscanf(f.fdinfo.c_str() + pos, "tfd: %d events: %x data: %llx", &tfd, &events, &data) == 3) {
      epoll_event ev = {};
      ev.events = events;
      ev.data.u64 = data;
      ::epoll_ctl(fd, EPOLL_CTL_ADD, tfd, &ev);
    }
    pos += 4;
  }
  return fd;
}

}  // namespace

Status prepare_restore(const std::string& image_path, bool set_tid, RestorePlan* plan) {
  plan->image = image_path;
  format::ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(image_path));
  plan->generation = r.header().generation;
  if (r.header().kind != format::Kind::kProcess)
    return Status::make(Code::kInvalid, 0,
                        "%s holds application state (libckpt), not a process: the program "
                        "restores it itself when started again",
                        image_path.c_str());
  int mfd = ::memfd_create("ckpt-restore", MFD_CLOEXEC);
  if (mfd < 0) return Status::make(Code::kIo, errno, "memfd_create");
  plan->args_fd = mfd;

  std::vector<MappingInfo> maps;
  std::vector<restore::RRun> runs;
  std::vector<bool> has_data;
  bool have_info = false;
  uint64_t cursor = kPage;
  std::vector<uint8_t> payload;
  format::RecordInfo ri;
  bool end = false;
  for (;;) {
    CKPT_RETURN_IF_ERROR(r.next(&ri, &end));
    if (end || ri.type == format::kEnd) break;
    auto bad = [&](const char* what) {
      return Status::make(Code::kCorrupt, 0, "%s: %s at offset %llu", image_path.c_str(), what,
                          (unsigned long long)ri.offset);
    };
    if (ri.type == format::kData) return bad("data without a PAGES record");
    CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
    switch (ri.type) {
      case format::kProcInfo:
        if (!decode(payload, &plan->info)) return bad("bad process record");
        if (plan->info.uid != ::getuid())
          return Status::make(Code::kInvalid, 0,
                              "%s is the image of another user's process (uid %u); only its "
                              "owner can restart it",
                              image_path.c_str(), plan->info.uid);
        have_info = true;
        break;
      case format::kProcThread: {
        ThreadInfo t;
        if (!decode(payload, &t)) return bad("bad thread record");
        plan->threads.push_back(t);
        break;
      }
      case format::kProcFd: {
        FdInfo f;
        if (!decode(payload, &f)) return bad("bad descriptor record");
        plan->fds.push_back(f);
        break;
      }
      case format::kProcMapping: {
        MappingInfo m;
        if (!decode(payload, &m)) return bad("bad mapping record");
        if (!maps.empty() && m.start < maps.back().end) return bad("overlapping mappings");
        if (m.end > restore::kRestorerBase && m.start < restore::kRestorerBase + restore::kReservedSize)
          return bad("a mapping in the restorer's reserved range");
        if (m.kind == MapKind::kFile) CKPT_RETURN_IF_ERROR(check_file(m.path, m.ino, m.size, m.mtime_ns));
        maps.push_back(std::move(m));
        has_data.push_back(false);
        break;
      }
      case format::kProcPages: {
        PagesInfo p;
        if (!decode(payload, &p)) return bad("bad pages record");
        if (maps.empty() || p.addr < maps.back().start || p.addr + p.len > maps.back().end ||
            maps.back().kind == MapKind::kSpecial)
          return bad("pages outside their mapping");
        if (!runs.empty() && runs.back().addr + runs.back().len > p.addr)
          return bad("overlapping pages");
        runs.push_back({p.addr, p.len, cursor});
        has_data.back() = true;
        // The pages are decoded straight into the memfd, mapped here.
        if (::ftruncate(mfd, off_t(cursor + p.len)) != 0)
          return Status::make(Code::kIo, errno, "cannot unpack the image into memory");
        void* win = ::mmap(nullptr, size_t(p.len), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, off_t(cursor));
        if (win == MAP_FAILED) return Status::make(Code::kIo, errno, "cannot map the unpacked image");
        Status st;
        uint64_t got = 0;
        while (st.is_ok() && got < p.len) {
          st = r.next(&ri, &end);
          if (st.is_ok() && (end || ri.type != format::kData)) st = bad("missing page data");
          if (st.is_ok() && ri.raw > p.len - got) st = bad("too much page data");
          if (st.is_ok()) st = r.read_payload(ri, static_cast<uint8_t*>(win) + got);
          got += ri.raw;
        }
        ::munmap(win, size_t(p.len));
        CKPT_RETURN_IF_ERROR(st);
        cursor += p.len;
        plan->memory_bytes += p.len;
        break;
      }
      default:
        if (!(ri.flags & format::kFlagSkippable))
          return Status::make(Code::kUnsupported, 0,
                              "%s needs a newer ckpt (unknown record type %u)", image_path.c_str(),
                              ri.type);
    }
  }
  if (!have_info) return Status::make(Code::kCorrupt, 0, "%s has no process record", image_path.c_str());
  if (plan->threads.empty())
    return Status::make(Code::kCorrupt, 0, "%s has no threads", image_path.c_str());
  if (!plan->info.exe.empty() && plan->info.exe_ino)
    CKPT_RETURN_IF_ERROR(
        check_file(plan->info.exe, plan->info.exe_ino, plan->info.exe_size, plan->info.exe_mtime_ns));

  // The metadata, after the page data.
  restore::RHeader h;
  std::memset(&h, 0, sizeof h);
  h.magic = restore::kArgsMagic;
  h.version = restore::kArgsVersion;
  h.flags = (set_tid || plan->info.pid_ns) ? restore::kArgsSetTid | restore::kArgsDropCaps : 0;
  std::vector<uint8_t> meta;
  std::string strings(1, '\0');
  std::vector<restore::RMap> rmaps;
  for (size_t i = 0; i < maps.size(); i++) {
    const MappingInfo& m = maps[i];
    if (m.kind == MapKind::kSpecial) {
      if (m.special >= 1 && m.special < restore::kSpecialCount)
        h.special[m.special] = {m.start, m.end};
      continue;
    }
    restore::RMap rm = {};
    rm.start = m.start;
    rm.end = m.end;
    rm.pgoff = m.pgoff;
    rm.prot = m.prot;
    rm.flags = m.flags;
    if (m.kind == MapKind::kAnon) rm.flags |= restore::kMapAnon;
    if (m.kind == MapKind::kMemfd) rm.flags |= restore::kMapMemfd;
    if (has_data[i]) rm.flags |= restore::kMapHasData;
    if (m.kind == MapKind::kFile) {
      rm.path_off = uint32_t(strings.size());
      rm.path_len = uint32_t(m.path.size());
      strings += m.path;
      strings.push_back('\0');
    }
    rmaps.push_back(rm);
  }
  auto append = [&](const void* p, size_t n) {
    size_t off = meta.size();
    meta.insert(meta.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    while (meta.size() % 8) meta.push_back(0);
    return uint64_t(off);
  };
  h.nmaps = uint32_t(rmaps.size());
  h.maps_off = append(rmaps.data(), rmaps.size() * sizeof(restore::RMap));
  std::vector<restore::RThread> rthreads;
  for (const ThreadInfo& t : plan->threads) rthreads.push_back(t.slot);
  h.nthreads = uint32_t(rthreads.size());
  h.threads_off = append(rthreads.data(), rthreads.size() * sizeof(restore::RThread));
  std::vector<uint64_t> pending;
  for (const ThreadInfo& t : plan->threads) pending.push_back(t.sigpending);
  h.thread_pending_off = append(pending.data(), pending.size() * 8);
  h.nruns = uint32_t(runs.size());
  h.runs_off = append(runs.data(), runs.size() * sizeof(restore::RRun));
  std::vector<int32_t> cloexec;
  for (const FdInfo& f : plan->fds)
    if (f.cloexec) cloexec.push_back(f.fd);
  h.ncloexec = uint32_t(cloexec.size());
  h.cloexec_off = append(cloexec.data(), cloexec.size() * 4);
  h.strings_off = append(strings.data(), strings.size());
  h.meta_off = cursor;
  h.meta_size = meta.size();
  std::memcpy(h.mm, plan->info.mm, sizeof h.mm);
  size_t words = std::min<size_t>(plan->info.auxv.size(), 64);
  if (words) std::memcpy(h.auxv, plan->info.auxv.data(), words * 8);  // data() may be null
  h.auxv_words = uint32_t(words);
  h.exe_fd = ~0u;
  std::memcpy(h.actions, plan->info.actions, sizeof h.actions);
  std::memcpy(h.itimers, plan->info.itimers, sizeof h.itimers);
  h.sigpending = plan->info.sigpending;
  CKPT_RETURN_IF_ERROR(pwrite_all(mfd, meta.data(), meta.size(), cursor));
  CKPT_RETURN_IF_ERROR(pwrite_all(mfd, &h, sizeof h, 0));
  return Status::ok();
}

void exec_restorer(const RestorePlan& plan, const std::string& restorer, int err_fd,
                   int report_fd) {
  int maxfd = 2;
  for (const FdInfo& f : plan.fds) maxfd = std::max(maxfd, f.fd);
  int high = maxfd + 1;
  int a = ::fcntl(plan.args_fd, F_DUPFD, high);
  int e = ::fcntl(err_fd, F_DUPFD, high);
  // The program's executable, for /proc/self/exe (the restorer closes it).
  int x = -1;
  if (!plan.info.exe.empty()) {
    int t = ::open(plan.info.exe.c_str(), O_RDONLY | O_CLOEXEC);
    if (t >= 0) {
      x = ::fcntl(t, F_DUPFD, high);
      ::close(t);
    }
  }
  int report = ::fcntl(report_fd, F_DUPFD_CLOEXEC, high);
  int stdio[3];
  for (int k = 0; k < 3; k++) stdio[k] = ::fcntl(k, F_DUPFD_CLOEXEC, high);
  if (a < 0 || e < 0) {
    write_err(err_fd, "cannot prepare descriptors for the restorer");
    _exit(127);
  }
  std::vector<bool> target(size_t(high), false);
  // Epoll sets last: their interest lists name the other descriptors.
  std::vector<const FdInfo*> order;
  for (const FdInfo& f : plan.fds)
    if (f.kind != FdKind::kEpoll) order.push_back(&f);
  for (const FdInfo& f : plan.fds)
    if (f.kind == FdKind::kEpoll) order.push_back(&f);
  for (const FdInfo* fp : order) {
    const FdInfo& f = *fp;
    int src = -1;
    bool opened = false;
    unsigned flags = f.open_flags & ~unsigned(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
    bool writable = (f.open_flags & O_ACCMODE) != O_RDONLY;
    switch (f.kind) {
      case FdKind::kInherited:
        src = stdio[f.fd];
        break;
      case FdKind::kReport:
        src = report;
        break;
      case FdKind::kFile:
      case FdKind::kDevice:
        src = ::open(f.path.c_str(), int(flags) | O_CLOEXEC);
        opened = true;
        if (src < 0) {
          write_err(e, "cannot reopen " + f.path + " as descriptor " + std::to_string(f.fd) +
                                ": " + std::strerror(errno));
          _exit(127);
        }
        break;
      case FdKind::kEventfd:
      case FdKind::kTimerfd:
      case FdKind::kEpoll:
        src = f.kind == FdKind::kEventfd   ? make_eventfd(f)
              : f.kind == FdKind::kTimerfd ? make_timerfd(f)
                                           : make_epoll(f);
        opened = true;
        if (src < 0) {
          write_err(e, "cannot recreate descriptor " + std::to_string(f.fd) + " (" + f.path +
                           "): " + std::strerror(errno));
          _exit(127);
        }
        break;
      case FdKind::kOther:
        src = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        opened = true;
        write_err(e, "warning: descriptor " + std::to_string(f.fd) + " (" + f.path +
                              ") cannot be restored; it now refers to /dev/null");
        break;
    }
    struct stat st;
    if (src >= 0 && (f.kind == FdKind::kFile || f.kind == FdKind::kInherited) &&
        ::fstat(src, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == f.ino) {
      // Output written after the checkpoint would be written again: cut it.
      if (writable && uint64_t(st.st_size) > f.size && ::ftruncate(src, off_t(f.size)) != 0) {
        write_err(e, "cannot cut " + f.path + " back to its size at the checkpoint");
        _exit(127);
      }
      if (!(f.open_flags & O_APPEND)) ::lseek(src, off_t(f.pos), SEEK_SET);
    } else if (f.kind == FdKind::kFile && src >= 0) {
      ::lseek(src, off_t(f.pos), SEEK_SET);
    }
    if (src != f.fd && ::dup3(src, f.fd, 0) < 0) {
      write_err(e, "cannot restore descriptor " + std::to_string(f.fd));
      _exit(127);
    }
    if (src == f.fd) ::fcntl(f.fd, F_SETFD, 0);
    if (opened && src != f.fd) ::close(src);
    target[size_t(f.fd)] = true;
  }
  for (int fd = 0; fd < high; fd++)
    if (!target[size_t(fd)]) ::close(fd);
  // a and e are the lowest numbers >= high; everything above them goes.
  int top = std::max(std::max(a, e), x);
  ::close_range(unsigned(top + 1), ~0u, 0);
  if (::chdir(plan.info.cwd.c_str()) != 0) {
    write_err(e, "cannot enter the program's working directory " + plan.info.cwd + ": " +
                     std::strerror(errno));
    _exit(127);
  }
  ::umask(mode_t(plan.info.umask));
  for (int res = 0; res < 16; res++) {
    struct rlimit rl = {plan.info.rlimits[res][0], plan.info.rlimits[res][1]};
    if (::setrlimit(__rlimit_resource(res), &rl) != 0) {
      // A hard limit cannot be raised without privilege: keep ours, apply the soft one.
      struct rlimit cur;
      if (::getrlimit(__rlimit_resource(res), &cur) == 0) {
        rl.rlim_max = cur.rlim_max;
        if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
        (void)::setrlimit(__rlimit_resource(res), &rl);
      }
    }
  }
  std::string sa = std::to_string(a), se = std::to_string(e), sx = std::to_string(x);
  char* argv[] = {const_cast<char*>(restorer.c_str()), sa.data(), se.data(),
                  x >= 0 ? sx.data() : nullptr, nullptr};
  char* envp[] = {nullptr};
  ::execve(restorer.c_str(), argv, envp);
  write_err(e, "cannot run the restorer " + restorer + ": " + std::strerror(errno));
  _exit(127);
}

}  // namespace ckpt::control
