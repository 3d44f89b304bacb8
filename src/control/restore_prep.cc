#include "control/restore_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <signal.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "control/ipc.h"
#include "control/pipes.h"
#include "control/sockets.h"
#include "format/chain.h"
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

// Where ordinary users may map memory: [mmap_min_addr, 2^47).
constexpr uint64_t kUserTop = 1ull << 47;
uint64_t mmap_floor() {
  static uint64_t v = [] {
    unsigned long long x = 65536;
    if (FILE* f = std::fopen("/proc/sys/vm/mmap_min_addr", "r")) {
      if (std::fscanf(f, "%llu", &x) != 1) x = 65536;
      std::fclose(f);
    }
    return std::max<uint64_t>(uint64_t(x), kPage);
  }();
  return v;
}
uint64_t max_map_count() {
  unsigned long long x = 65530;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%llu", &x) != 1) x = 65530;
    std::fclose(f);
  }
  return uint64_t(x);
}
constexpr size_t kMaxFds = 65536;
constexpr size_t kMaxProcesses = 65536;
constexpr int32_t kMaxFdNumber = 1 << 20;  // fs.nr_open's default

// The paths an image names come from /proc (readlink): absolute and
// canonical. Anything else ("../x", "a//b", an embedded NUL) was not written
// by ckpt.
bool canonical_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() >= 4096) return false;
  if (p.find('\0') != std::string::npos) return false;
  if (p.size() > 1 && p.back() == '/') return false;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i + 1);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i + 1, j - i - 1);
    if ((part.empty() && p.size() > 1) || part == "." || part == "..") return false;
    i = j;
  }
  return true;
}

// What a file the program had mapped (or ran) was at the checkpoint.
struct FileId {
  uint64_t ino, size, mtime;
  const ContentHash* hash;  // null: an older image, identity by inode only
};

// A file the program had mapped (or ran): opened as the restorer will open
// it, never through a final symlink, never created; it must be a regular
// file with the same content: the same inode, size and mtime (the fast
// path), or else the same size and content hash (a copy made with `cp -p`,
// a move, a reinstall of the same version). `allowed`: the user said so.
Status check_file(const std::string& path, const FileId& id, const RestoreOptions& options,
                  int oflags = O_RDONLY) {
  int fd = ::open(path.c_str(), oflags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
    return Status::make(Code::kMismatch, errno, "%s, used by the checkpointed program, is gone",
                        path.c_str());
  if (fd < 0)
    return Status::make(Code::kInvalid, errno,
                        "%s, used by the checkpointed program, cannot be opened as it was%s",
                        path.c_str(), errno == ELOOP ? " (it is now a symbolic link)" : "");
  struct stat st;
  int r = ::fstat(fd, &st);
  if (r != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::make(Code::kInvalid, 0, "%s is not a regular file: refused", path.c_str());
  }
  bool same = st.st_ino == id.ino && uint64_t(st.st_size) == id.size && mtime_ns(st) == id.mtime;
  if (!same && id.hash && uint64_t(st.st_size) == id.size) {
    ContentHash h;
    same = content_hash(fd, st, &h).is_ok() && h == *id.hash;
  }
  ::close(fd);
  for (const std::string& a : options.allow_changed) same |= a == path;
  if (!same)
    return Status::make(Code::kMismatch, 0,
                        "%s changed since the checkpoint; restoring would mix old memory with "
                        "new code (put the old version back, start the job again, or "
                        "`ckpt restart --allow-changed %s` if you know it is compatible)",
                        path.c_str(), path.c_str());
  return Status::ok();
}

// A descriptor's file, opened as exec_restorer will open it (without
// O_CREAT/O_TRUNC, not through a final symlink) to find out now, before
// anything is touched, whether it can be; nothing is written.
Status check_fd_file(const FdInfo& f) {
  unsigned flags = f.open_flags & unsigned(O_ACCMODE);
  int fd = ::open(f.path.c_str(), int(flags) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return Status::make(Code::kInvalid, errno, "cannot reopen %s as descriptor %d%s",
                        f.path.c_str(), f.fd, errno == ELOOP ? " (it is now a symbolic link)" : "");
  struct stat st;
  int r = ::fstat(fd, &st);
  ::close(fd);
  bool ok = r == 0 && (f.kind == FdKind::kFile ? S_ISREG(st.st_mode) : S_ISCHR(st.st_mode));
  if (!ok)
    return Status::make(Code::kInvalid, 0, "%s (descriptor %d) is no longer a %s: refused",
                        f.path.c_str(), f.fd, f.kind == FdKind::kFile ? "regular file" : "device");
  return Status::ok();
}

// Index of the mapping that holds [addr, addr + n), or -1.
long find_mapping(const std::vector<MappingInfo>& maps, uint64_t addr, uint64_t n) {
  auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                             [](uint64_t a, const MappingInfo& m) { return a < m.start; });
  if (it == maps.begin()) return -1;
  --it;
  if (addr + n < addr || addr + n > it->end) return -1;
  return long(it - maps.begin());
}

uint64_t pipe_key(const FdInfo& f) {
  return f.ino << 1 | ((f.open_flags & O_ACCMODE) == O_RDONLY ? 0 : 1);
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

// The three below recreate a descriptor from its fdinfo text. Each returns
// the new descriptor, or -1 with errno set and *why saying which step failed;
// a descriptor recreated only in part (a count, a timer or an interest lost)
// would change what the program sees, so it is a failure, never a warning.
int fail_fd(int fd, const char* step, const char** why) {
  int err = errno;
  if (fd >= 0) ::close(fd);
  errno = err;
  *why = step;
  return -1;
}

int make_eventfd(const FdInfo& f, const char** why) {
  int flags = EFD_CLOEXEC | ((f.open_flags & O_NONBLOCK) ? EFD_NONBLOCK : 0);
  if (info_u64(f.fdinfo, "eventfd-semaphore:", 10)) flags |= EFD_SEMAPHORE;
  int fd = ::eventfd(0, flags);
  if (fd < 0) return fail_fd(fd, "eventfd", why);
  uint64_t count = info_u64(f.fdinfo, "eventfd-count:", 16);
  if (count && ::write(fd, &count, 8) != 8) return fail_fd(fd, "its count", why);
  return fd;
}

// Armed as it was: the remaining time and the interval. An expiry not yet
// read (ticks > 0; the kernel then shows no remaining time, since a periodic
// timerfd is re-armed by the read) comes back as an immediate expiry.
int make_timerfd(const FdInfo& f, const char** why) {
  int clock = int(info_u64(f.fdinfo, "clockid:", 10));
  int fd = ::timerfd_create(clock, TFD_CLOEXEC | ((f.open_flags & O_NONBLOCK) ? TFD_NONBLOCK : 0));
  if (fd < 0) return fail_fd(fd, "timerfd_create", why);
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
  if ((vs || vn) && ::timerfd_settime(fd, 0, &its, nullptr) != 0)
    return fail_fd(fd, "its timer", why);
  return fd;
}

// `replaced`: descriptors that come back as /dev/null (kOther, warned about
// already); an interest in one of them cannot be kept and is dropped with
// them. `inherited`: stdio from `ckpt restart`, which may now be a file that
// epoll refuses (EPERM); such an interest is dropped too.
int make_epoll(const FdInfo& f, const std::vector<int>& replaced, const std::vector<int>& inherited,
               const char** why) {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return fail_fd(fd, "epoll_create1", why);
  size_t pos = 0;
  while ((pos = f.fdinfo.find("tfd:", pos)) != std::string::npos) {
    int tfd;
    unsigned events;
    unsigned long long data;
    if (std::sscanf(f.fdinfo.c_str() + pos, "tfd: %d events: %x data: %llx", &tfd, &events,
                    &data) != 3) {
      errno = EINVAL;
      return fail_fd(fd, "its interest list", why);
    }
    pos += 4;
    if (std::find(replaced.begin(), replaced.end(), tfd) != replaced.end()) continue;
    epoll_event ev = {};
    ev.events = events;
    ev.data.u64 = data;
    if (::epoll_ctl(fd, EPOLL_CTL_ADD, tfd, &ev) != 0 &&
        !(errno == EPERM && std::find(inherited.begin(), inherited.end(), tfd) != inherited.end()))
      return fail_fd(fd, "an interest of its list", why);
  }
  return fd;
}

// Each returns why a record cannot be from ckpt, or nullptr. Everything is
// checked before anything is opened, mapped or written.
const char* check_info(const ProcInfo& i, uint64_t floor) {
  if (!canonical_path(i.cwd)) return "a working directory that is not absolute and canonical";
  if (!i.exe.empty() && !canonical_path(i.exe))
    return "an executable path that is not absolute and canonical";
  if (i.signal < 1 || i.signal > 64 || i.signal == SIGKILL || i.signal == SIGSTOP)
    return "an impossible checkpoint signal";
  if (i.umask & ~0777u) return "an impossible umask";
  for (uint64_t a : i.mm)
    if (a < floor || a >= kUserTop) return "a process layout (mm) outside the user address space";
  const uint64_t* m = i.mm;
  if (m[0] > m[1] || m[2] > m[3] || m[4] > m[5] || m[7] > m[8] || m[9] > m[10])
    return "a reversed range in the process layout (mm)";
  for (const auto& rl : i.rlimits)
    if (rl[0] > rl[1]) return "a soft resource limit above its hard limit";
  if (i.auxv.size() > 64 || i.auxv.size() % 2) return "an impossible auxiliary vector";
  return nullptr;
}

const char* check_fd(const FdInfo& f, const std::vector<FdInfo>& before) {
  if (f.fd < 0 || f.fd >= kMaxFdNumber) return "an impossible descriptor number";
  for (const FdInfo& o : before) {
    if (o.fd == f.fd) return "a descriptor recorded twice";
    if (f.kind == FdKind::kReport && o.kind == FdKind::kReport) return "two report pipes";
  }
  // The kernel never shows these in fdinfo: only a crafted image has them.
  // Restart never creates, truncates or makes a temporary file.
  unsigned tmpfile_bit = unsigned(O_TMPFILE) & ~unsigned(O_DIRECTORY);
  if (f.open_flags & (unsigned(O_CREAT | O_TRUNC | O_EXCL) | tmpfile_bit))
    return "a descriptor to be opened with O_CREAT, O_TRUNC, O_EXCL or O_TMPFILE";
  switch (f.kind) {
    case FdKind::kFile:
      if (!canonical_path(f.path)) return "a file path that is not absolute and canonical";
      break;
    case FdKind::kDevice:
      if (!canonical_path(f.path) || f.path.rfind("/dev/", 0) != 0)
        return "a device that is not under /dev";
      break;
    case FdKind::kInherited:
      if (f.fd > 2) return "an inherited descriptor other than 0, 1, 2";
      break;
    case FdKind::kOther:
    case FdKind::kEventfd:
    case FdKind::kTimerfd:
    case FdKind::kEpoll:
    case FdKind::kReport:
    case FdKind::kPipe:
      if (f.path[0] == '/' && !canonical_path(f.path))
        return "a FIFO path that is not absolute and canonical";
      break;
    case FdKind::kUnixPair: break;
    case FdKind::kSocket:
      if (const char* why = check_socket(f)) return why;
      break;
    default: return "an unknown kind of descriptor";
  }
  return nullptr;
}

// The restorer writes a thread's tid field and rseq area, and returns into
// its signal frame: all three must be inside the program's own writable
// memory, never the restorer's or the kernel's.
bool in_writable(const std::vector<MappingInfo>& maps, uint64_t addr, uint64_t n) {
  long i = find_mapping(maps, addr, n);
  return i >= 0 && maps[size_t(i)].kind != MapKind::kSpecial && (maps[size_t(i)].prot & PROT_WRITE);
}

const char* check_threads(const std::vector<ThreadInfo>& threads,
                          const std::vector<MappingInfo>& maps) {
  std::vector<int32_t> tids;
  for (const ThreadInfo& t : threads) {
    const inject::ThreadSlot& s = t.slot;
    if (s.tid <= 0 || s.tid > (1 << 22)) return "an impossible thread id";
    tids.push_back(s.tid);
    if (!in_writable(maps, s.uc, restore::kSigFrameSize))
      return "a thread's signal frame outside its memory";
    if (s.tid_addr && !in_writable(maps, s.tid_addr, 4))
      return "a thread's tid field outside its memory";
    if (s.rseq_addr &&
        (s.rseq_len < 32 || s.rseq_len > 4096 || !in_writable(maps, s.rseq_addr, 32)))
      return "a thread's rseq area outside its memory";
  }
  std::sort(tids.begin(), tids.end());
  if (std::adjacent_find(tids.begin(), tids.end()) != tids.end())
    return "a thread id recorded twice";
  return nullptr;
}

// A compressed DATA record and where it is unpacked in the memfd.
struct Packed {
  format::RecordInfo ri;
  uint64_t at;
};

// Unpacks every compressed record into the memfd on every core: restart
// time of a compressed image was single-threaded decompression.
Status unpack_all(const format::ImageReader& r, const std::vector<Packed>& packed, int mfd) {
  if (packed.empty()) return Status::ok();
  unsigned cores = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::vector<Status> errors(cores);
  auto work = [&](unsigned k) {
    format::ImageReader::Unpacker u;
    for (size_t i = next++; i < packed.size() && errors[k].is_ok(); i = next++) {
      const Packed& p = packed[i];
      uint64_t span = (p.ri.raw + kPage - 1) & ~(kPage - 1);
      void* win =
          ::mmap(nullptr, size_t(span), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, off_t(p.at));
      if (win == MAP_FAILED) {
        errors[k] = Status::make(Code::kIo, errno, "cannot map the unpacked image");
        break;
      }
      errors[k] = r.unpack_payload(p.ri, win, &u);
      ::munmap(win, size_t(span));
      if (!errors[k].is_ok()) next = packed.size();  // the others stop too
    }
  };
  std::vector<std::thread> threads;
  for (unsigned k = 1; k < cores; k++) threads.emplace_back(work, k);
  work(0);
  for (std::thread& t : threads) t.join();
  for (const Status& e : errors) CKPT_RETURN_IF_ERROR(e);
  return Status::ok();
}

// Reads the records of one process section, then (finish_section) checks
// it as a whole and writes its restorer's argument block.
struct Section {
  ProcessPlan* proc = nullptr;
  int mfd = -1;  // proc->args_fd
  std::vector<MappingInfo> maps;
  std::vector<restore::RRun> runs;
  std::vector<bool> has_data;
  bool have_special[restore::kSpecialCount] = {};
  uint64_t cursor = kPage;
  std::vector<Packed> packed;
};

Status finish_section(const format::ImageReader& r, const std::string& image_path,
                      const RestoreOptions& options, RestorePlan* plan, Section* sec) {
  ProcessPlan* cur = sec->proc;
  std::vector<MappingInfo>& maps = sec->maps;
  std::vector<restore::RRun>& runs = sec->runs;
  const std::vector<bool>& has_data = sec->has_data;
  CKPT_RETURN_IF_ERROR(unpack_all(r, sec->packed, sec->mfd));
  if (cur->threads.empty())
    return Status::make(Code::kCorrupt, 0, "%s has no threads", image_path.c_str());
  if (const char* why = check_threads(cur->threads, maps))
    return Status::make(Code::kCorrupt, 0, "%s: %s", image_path.c_str(), why);
  if (cur->info.block_addr && find_mapping(maps, cur->info.block_addr, 8) < 0)
    return Status::make(Code::kCorrupt, 0, "%s: the injected library's block is outside memory",
                        image_path.c_str());
  for (const FdInfo& f : cur->fds)
    if (f.kind == FdKind::kFile || f.kind == FdKind::kDevice)
      CKPT_RETURN_IF_ERROR(check_fd_file(f));
  if (!cur->info.exe.empty() && cur->info.exe_ino)
    CKPT_RETURN_IF_ERROR(check_file(cur->info.exe,
                                    {cur->info.exe_ino, cur->info.exe_size, cur->info.exe_mtime_ns,
                                     cur->info.has_exe_hash ? &cur->info.exe_hash : nullptr},
                                    options));

  // The metadata, after the page data.
  restore::RHeader h;
  std::memset(&h, 0, sizeof h);
  h.magic = restore::kArgsMagic;
  h.version = restore::kArgsVersion;
  h.flags = cur->info.pid_ns ? restore::kArgsSetTid | restore::kArgsDropCaps : 0;
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
    if (m.kind == MapKind::kMemfd && !m.object) rm.flags |= restore::kMapMemfd;
    // One object is either a SysV segment, attached by id, or memory made
    // once for the job, never both.
    if (m.object) {
      auto [kind, fresh] = plan->object_sysv.emplace(m.object, m.sysv_id);
      if (!fresh && kind->second != m.sysv_id)
        return Status::make(Code::kCorrupt, 0, "%s: shared memory that is two objects",
                            image_path.c_str());
    }
    if (m.sysv_id >= 0) {
      auto o = std::find_if(plan->ipc.begin(), plan->ipc.end(), [&](const IpcObject& x) {
        return x.kind == IpcKind::kSharedMemory && x.id == m.sysv_id;
      });
      if (o == plan->ipc.end() || m.end - m.start != (o->size + kPage - 1) / kPage * kPage)
        return Status::make(Code::kCorrupt, 0,
                            "%s: a mapping of a SysV segment that the image does not make",
                            image_path.c_str());
      rm.flags |= restore::kMapSysv;
      rm.path_off = uint32_t(m.sysv_id);
    } else if (m.object) {
      // Made once for the job (tree_restore.h), given at OBJ_BASE + index.
      auto at = std::find(cur->objects.begin(), cur->objects.end(), m.object);
      if (at == cur->objects.end()) at = cur->objects.insert(at, m.object);
      rm.flags |= restore::kMapObject;
      rm.path_off = uint32_t(at - cur->objects.begin());
      uint64_t& size = plan->shm_size[m.object];
      size = std::max(size, m.pgoff + (m.end - m.start));
    }
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
  for (const ThreadInfo& t : cur->threads) rthreads.push_back(t.slot);
  h.nthreads = uint32_t(rthreads.size());
  h.threads_off = append(rthreads.data(), rthreads.size() * sizeof(restore::RThread));
  std::vector<uint64_t> pending;
  for (const ThreadInfo& t : cur->threads) pending.push_back(t.sigpending);
  h.thread_pending_off = append(pending.data(), pending.size() * 8);
  h.nruns = uint32_t(runs.size());
  h.runs_off = append(runs.data(), runs.size() * sizeof(restore::RRun));
  std::vector<int32_t> cloexec;
  for (const FdInfo& f : cur->fds)
    if (f.cloexec) cloexec.push_back(f.fd);
  h.ncloexec = uint32_t(cloexec.size());
  h.cloexec_off = append(cloexec.data(), cloexec.size() * 4);
  h.strings_off = append(strings.data(), strings.size());
  if (meta.size() > restore::kMaxMeta)
    return Status::make(Code::kCorrupt, 0, "%s: more metadata than the restorer takes (128 MiB)",
                        image_path.c_str());
  h.nobjects = uint32_t(cur->objects.size());
  h.meta_off = sec->cursor;
  h.meta_size = meta.size();
  std::memcpy(h.mm, cur->info.mm, sizeof h.mm);
  size_t words = std::min<size_t>(cur->info.auxv.size(), 64);
  if (words) std::memcpy(h.auxv, cur->info.auxv.data(), words * 8);  // data() may be null
  h.auxv_words = uint32_t(words);
  std::memcpy(h.actions, cur->info.actions, sizeof h.actions);
  std::memcpy(h.itimers, cur->info.itimers, sizeof h.itimers);
  h.sigpending = cur->info.sigpending;
  CKPT_RETURN_IF_ERROR(pwrite_all(sec->mfd, meta.data(), meta.size(), sec->cursor));
  CKPT_RETURN_IF_ERROR(pwrite_all(sec->mfd, &h, sizeof h, 0));
  return Status::ok();
}

// The job as a whole (docs/process-tree.md, decision 5, step 1): a tree
// with one root, every parent present, no pid twice, no cycle, sessions and
// groups led by processes of the job, one process section per live task in
// task order, and descriptors whose shared objects agree. An image without
// a JOB record is a job of one process.
const char* check_job(RestorePlan* plan) {
  if (plan->tasks.empty()) {
    if (plan->job.processes) return "a job record without its tasks";
    if (plan->procs.size() != 1) return "several processes without a job record";
    TaskInfo t;
    t.pid = plan->procs[0].info.pid;
    plan->tasks.push_back(t);
    plan->job.processes = 1;
    plan->job.root = t.pid;
    plan->job.pid_ns = plan->procs[0].info.pid_ns;
  }
  if (plan->tasks.size() != plan->job.processes) return "fewer tasks than the job has";
  std::map<int32_t, const TaskInfo*> by_pid;
  for (const TaskInfo& t : plan->tasks)
    if (!by_pid.emplace(t.pid, &t).second) return "two processes with one pid";
  if (plan->tasks[0].pid != plan->job.root || plan->tasks[0].state != TaskState::kLive)
    return "a job whose first task is not its root";
  size_t k = 0;
  for (const TaskInfo& t : plan->tasks) {
    if (t.ppid > 1 && !by_pid.count(t.ppid)) return "a process whose parent is not in the job";
    if (t.ppid > 1 && by_pid[t.ppid]->state != TaskState::kLive)
      return "a process whose parent has exited";
    if (t.sid > 0 && !by_pid.count(t.sid)) return "a session whose leader is not in the job";
    if (t.pgid > 0 && !by_pid.count(t.pgid))
      return "a process group whose leader is not in the job";
    // Walking up the parents must end at the init or ckpt, in fewer steps
    // than there are processes.
    const TaskInfo* up = &t;
    for (size_t steps = 0; up->ppid > 1; steps++) {
      if (steps > plan->tasks.size()) return "a cycle of parents";
      up = by_pid[up->ppid];
    }
    if (t.state != TaskState::kLive) continue;
    if (k >= plan->procs.size() || plan->procs[k].info.pid != t.pid)
      return "process sections that do not match the tasks";
    plan->procs[k++].task = t;
  }
  if (k != plan->procs.size()) return "more process sections than live tasks";
  for (const ProcessPlan& p : plan->procs)
    if (p.info.pid_ns != plan->job.pid_ns) return "processes of one job in different modes";
  // Shared objects across the processes.
  std::vector<FdInfo> all;
  std::map<uint64_t, const FdInfo*> ofds;
  for (const ProcessPlan& p : plan->procs)
    for (const FdInfo& f : p.fds) {
      all.push_back(f);
      if (!f.ofd) continue;
      auto [it, fresh] = ofds.emplace(f.ofd, &f);
      if (!fresh && (it->second->path != f.path || it->second->open_flags != f.open_flags ||
                     it->second->pos != f.pos))
        return "one open file description recorded two ways";
    }
  if (const char* why = check_pipes(all)) return why;
  for (const auto& [id, size] : plan->shm_size)
    if (size > (1ull << 44)) return "an impossible size of shared memory";
  return nullptr;
}

}  // namespace

Status prepare_restore(const std::string& image_path, RestorePlan* plan,
                       const RestoreOptions& options) {
  plan->image = image_path;
  format::ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(image_path, /*owned_only=*/true));
  plan->generation = r.header().generation;
  if (r.header().kind != format::Kind::kProcess)
    return Status::make(Code::kInvalid, 0,
                        "%s holds application state (libckpt), not a process: the program "
                        "restores it itself when started again",
                        image_path.c_str());
  // The file the reader checks is the file the restorer reads.
  plan->image_fd = ::fcntl(r.fd(), F_DUPFD_CLOEXEC, 3);
  if (plan->image_fd < 0)
    return Status::make(Code::kIo, errno, "cannot keep %s open", image_path.c_str());

  std::unique_ptr<Section> sec;
  bool have_job = false;
  const uint64_t floor = mmap_floor();
  const uint64_t map_cap = max_map_count();
  struct sysinfo si = {};
  uint64_t memory_cap = ~0ull;
  if (::sysinfo(&si) == 0)
    memory_cap =
        (uint64_t(si.totalram) + uint64_t(si.totalswap)) * std::max<uint64_t>(si.mem_unit, 1);
  std::vector<uint8_t> payload, ref_buf;
  format::BaseSet bases;
  if (r.header().version >= format::kVersion) bases.add_self(&r);
  format::RecordInfo ri;
  bool end = false;
  for (;;) {
    CKPT_RETURN_IF_ERROR(r.next(&ri, &end));
    if (end) break;
    if (ri.type == format::kEnd) {
      // Its payload too is checksummed: a flip there is damage like any other.
      CKPT_RETURN_IF_ERROR(r.check_payload(ri));
      break;
    }
    auto bad = [&](const char* what) {
      return Status::make(Code::kCorrupt, 0, "%s: %s at offset %llu", image_path.c_str(), what,
                          (unsigned long long)ri.offset);
    };
    // A record that does not decode: which record and field, and where.
    auto undecodable = [&](const Status& s) { return bad(s.message()); };
    if (ri.type == format::kData) return bad("data without a PAGES record");
    bool head = ri.type == format::kProcJob || ri.type == format::kProcTask ||
                ri.type == format::kProcIpc || ri.type == format::kBase;
    if (!sec && !head && ri.type != format::kProcInfo) return bad("no process record first");
    if (sec && head) return bad("a job record after a process section");
    CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
    ProcessPlan* cur = sec ? sec->proc : nullptr;
    switch (ri.type) {
      case format::kProcJob:
        if (have_job || !plan->tasks.empty()) return bad("a job record that is not first");
        if (Status s = decode(payload, &plan->job); !s) return undecodable(s);
        have_job = true;
        break;
      case format::kProcTask: {
        if (!have_job) return bad("a task record without a job record");
        TaskInfo t;
        if (Status s = decode(payload, &t); !s) return undecodable(s);
        if (plan->tasks.size() >= plan->job.processes) return bad("more tasks than the job has");
        plan->tasks.push_back(t);
        break;
      }
      case format::kProcIpc: {
        if (!have_job || !plan->job.pid_ns)
          return bad("a SysV object in an image without a job namespace");
        IpcObject o;
        if (Status s = decode(payload, &o); !s) return undecodable(s);
        if (const char* why = check_ipc(o)) return bad(why);
        for (const IpcObject& other : plan->ipc)
          if (other.kind == o.kind && other.id == o.id) return bad("a SysV id twice");
        if (plan->ipc.size() >= 65536) return bad("more SysV objects than ckpt restores");
        plan->ipc.push_back(std::move(o));
        break;
      }
      case format::kBase: {
        format::BaseRef b;
        if (Status s = format::decode_base(payload, &b); !s) return undecodable(s);
        if (b.generation >= r.header().generation) return bad("a base that is not older");
        if (bases.size() >= 4096) return bad("more than 4096 bases");
        if (Status s = bases.add(image_path, b, /*owned_only=*/true); !s)
          return Status::make(Code::kCorrupt, 0, "%s: %s", image_path.c_str(), s.message());
        break;
      }
      case format::kProcInfo:
        if (sec) {
          CKPT_RETURN_IF_ERROR(finish_section(r, image_path, options, plan, sec.get()));
          sec.reset();
        }
        if (plan->procs.size() >= kMaxProcesses) return bad("more processes than ckpt restores");
        plan->procs.emplace_back();
        sec = std::make_unique<Section>();
        sec->proc = cur = &plan->procs.back();
        sec->mfd = ::memfd_create("ckpt-restore", MFD_CLOEXEC);
        if (sec->mfd < 0) return Status::make(Code::kIo, errno, "memfd_create");
        cur->args_fd = sec->mfd;
        if (Status s = decode(payload, &cur->info); !s) return undecodable(s);
        if (cur->info.uid != ::getuid())
          return Status::make(Code::kInvalid, 0,
                              "%s is the image of another user's process (uid %u); only its "
                              "owner can restart it",
                              image_path.c_str(), cur->info.uid);
        if (const char* why = check_info(cur->info, floor)) return bad(why);
        break;
      case format::kProcThread: {
        ThreadInfo t;
        if (Status s = decode(payload, &t); !s) return undecodable(s);
        if (cur->threads.size() >= restore::kMaxThreads)
          return bad("more threads than ckpt restores (4096)");
        cur->threads.push_back(t);
        break;
      }
      case format::kProcFd: {
        FdInfo f;
        if (Status s = decode(payload, &f); !s) return undecodable(s);
        if (cur->fds.size() >= kMaxFds) return bad("more descriptors than ckpt restores (65536)");
        if (const char* why = check_fd(f, cur->fds)) return bad(why);
        cur->fds.push_back(f);
        break;
      }
      case format::kProcMapping: {
        MappingInfo m;
        if (Status s = decode(payload, &m); !s) return undecodable(s);
        if (sec->maps.size() >= map_cap)
          return bad("more mappings than the kernel allows (vm.max_map_count)");
        if (m.start % kPage || m.end % kPage || m.start >= m.end)
          return bad("a mapping that is empty, reversed or not page aligned");
        if (m.start < floor || m.end > kUserTop)
          return bad("a mapping outside the user address space");
        if (!sec->maps.empty() && m.start < sec->maps.back().end)
          return bad("overlapping mappings");
        if (m.end > restore::kRestorerBase &&
            m.start < restore::kRestorerBase + restore::kReservedSize)
          return bad("a mapping in the restorer's reserved range");
        if (m.prot & ~uint32_t(PROT_READ | PROT_WRITE | PROT_EXEC))
          return bad("unknown protection bits");
        if (m.flags & ~(restore::kMapShared | restore::kMapGrowsDown | restore::kMapMemfd))
          return bad("unknown mapping flags");
        if (m.object && !(m.flags & restore::kMapShared))
          return bad("a private mapping of shared memory");
        if ((m.flags & restore::kMapMemfd) &&
            (m.kind != MapKind::kMemfd || !(m.flags & restore::kMapShared)))
          return bad("memfd flag on a mapping that is not shared memory");
        if (m.pgoff % kPage || m.pgoff > (1ull << 60)) return bad("a bad file offset in a mapping");
        switch (m.kind) {
          case MapKind::kAnon:
          case MapKind::kMemfd: break;
          case MapKind::kFile:
            if (!canonical_path(m.path))
              return bad("a mapped file's path is not absolute and canonical");
            CKPT_RETURN_IF_ERROR(check_file(
                m.path, {m.ino, m.size, m.mtime_ns, m.has_hash ? &m.hash : nullptr}, options,
                (m.flags & restore::kMapShared) && (m.prot & PROT_WRITE) ? O_RDWR : O_RDONLY));
            break;
          case MapKind::kSpecial:
            if (m.special < 1 || m.special >= restore::kSpecialCount ||
                sec->have_special[m.special])
              return bad("an unknown or repeated kernel mapping");
            sec->have_special[m.special] = true;
            break;
          default: return bad("an unknown kind of mapping");
        }
        sec->maps.push_back(std::move(m));
        sec->has_data.push_back(false);
        break;
      }
      case format::kProcPages: {
        PagesInfo p;
        if (Status s = decode(payload, &p); !s) return undecodable(s);
        if (p.addr % kPage || p.len % kPage || p.len == 0) return bad("pages not page aligned");
        if (sec->maps.empty() || p.addr < sec->maps.back().start || p.addr + p.len < p.addr ||
            p.addr + p.len > sec->maps.back().end || sec->maps.back().kind == MapKind::kSpecial)
          return bad("pages outside their mapping");
        if (plan->memory_bytes + p.len > memory_cap)
          return bad("more memory than this machine has (RAM and swap)");
        if (!sec->runs.empty() && sec->runs.back().addr + sec->runs.back().len > p.addr)
          return bad("overlapping pages");
        sec->has_data.back() = true;
        // Each DATA record becomes a run of its own: stored bytes are checked
        // here and read by the restorer straight from the image into place;
        // compressed ones are unpacked into the memfd.
        uint64_t got = 0;
        while (got < p.len) {
          CKPT_RETURN_IF_ERROR(r.next(&ri, &end));
          if (!end && ri.type == format::kDataRef) {
            // Pages an earlier image holds (format/chain.h): checked there
            // and copied into the memfd, as unpacked data is.
            format::DataRef d;
            CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
            if (Status s = format::decode_data_ref(payload, &d); !s) return undecodable(s);
            if (d.len > p.len - got) return bad("too much page data");
            ref_buf.resize(d.len);
            if (Status s = bases.read(d, ref_buf.data(), ri.offset); !s)
              return Status::make(Code::kCorrupt, 0, "%s: %s", image_path.c_str(), s.message());
            CKPT_RETURN_IF_ERROR(pwrite_all(sec->mfd, ref_buf.data(), d.len, sec->cursor));
            sec->runs.push_back({p.addr + got, d.len, sec->cursor, 0});
            sec->cursor += (d.len + kPage - 1) & ~(kPage - 1);
            got += d.len;
            continue;
          }
          if (end || ri.type != format::kData) return bad("missing page data");
          if (ri.raw == 0 || ri.raw > p.len - got) return bad("too much page data");
          if (!(ri.flags & format::kFlagZstd)) {
            if (ri.stored != ri.raw) return bad("bad page data length");
            CKPT_RETURN_IF_ERROR(r.check_payload(ri));
            sec->runs.push_back({p.addr + got, ri.raw, ri.offset + format::kRecordHeaderSize,
                                 restore::kRunFromImage});
          } else {
            uint64_t span = (ri.raw + kPage - 1) & ~(kPage - 1);
            if (::ftruncate(sec->mfd, off_t(sec->cursor + span)) != 0)
              return Status::make(Code::kIo, errno, "cannot unpack the image into memory");
            sec->packed.push_back({ri, sec->cursor});  // unpacked below, on every core
            sec->runs.push_back({p.addr + got, ri.raw, sec->cursor, 0});
            sec->cursor += span;
          }
          got += ri.raw;
        }
        plan->memory_bytes += p.len;
        cur->memory_bytes += p.len;
        break;
      }
      default:
        if (!(ri.flags & format::kFlagSkippable))
          return Status::make(Code::kUnsupported, 0,
                              "%s needs a newer ckpt (unknown record type %u)", image_path.c_str(),
                              ri.type);
    }
  }
  if (!sec) return Status::make(Code::kCorrupt, 0, "%s has no process record", image_path.c_str());
  CKPT_RETURN_IF_ERROR(finish_section(r, image_path, options, plan, sec.get()));
  if (const char* why = check_job(plan))
    return Status::make(Code::kCorrupt, 0, "%s: %s", image_path.c_str(), why);
  return Status::ok();
}

bool cut_to_checkpoint(const FdInfo& f, int fd, std::string* why) {
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != f.ino) return true;
  // Output written after the checkpoint would be written again: cut it,
  // but only in the very file (device and inode) the program had open for
  // writing, and only the bytes beyond its size then.
  bool writable = (f.open_flags & O_ACCMODE) != O_RDONLY;
  if (writable && uint64_t(st.st_dev) == f.dev && uint64_t(st.st_size) > f.size &&
      ::ftruncate(fd, off_t(f.size)) != 0) {
    *why = "cannot cut " + f.path + " back to its size at the checkpoint";
    return false;
  }
  if (!(f.open_flags & O_APPEND)) ::lseek(fd, off_t(f.pos), SEEK_SET);
  return true;
}

int reopen_file(const FdInfo& f, std::string* why) {
  unsigned flags = f.open_flags & ~unsigned(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
  // Never created or truncated (flags), never through a final symlink,
  // never blocking (a FIFO put in a file's place); then the recorded flags.
  int fd = ::open(f.path.c_str(), int(flags) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *why = "cannot reopen " + f.path + " as descriptor " + std::to_string(f.fd) + ": " +
           std::strerror(errno);
    return -1;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 ||
      !(f.kind == FdKind::kFile ? S_ISREG(st.st_mode) : S_ISCHR(st.st_mode))) {
    ::close(fd);
    *why = f.path + " (descriptor " + std::to_string(f.fd) +
           ") is no longer what it was at the checkpoint: refused";
    return -1;
  }
  ::fcntl(fd, F_SETFL, int(flags));
  if (f.kind == FdKind::kFile) {
    if (st.st_ino == f.ino) {
      if (!cut_to_checkpoint(f, fd, why)) {
        ::close(fd);
        return -1;
      }
    } else {
      ::lseek(fd, off_t(f.pos), SEEK_SET);
    }
  }
  return fd;
}

void close_plan_fds(RestorePlan* plan) {
  for (ProcessPlan& p : plan->procs) {
    if (p.args_fd >= 0) ::close(p.args_fd);
    p.args_fd = -1;
  }
  if (plan->image_fd >= 0) ::close(plan->image_fd);
  plan->image_fd = -1;
}

void exec_restorer(const RestorePlan& plan, const ProcessPlan& p, const RestorerRun& run) {
  int maxfd = 2;
  for (const FdInfo& f : p.fds) maxfd = std::max(maxfd, f.fd);
  int high = maxfd + 1;
  int a = ::fcntl(p.args_fd, F_DUPFD, high);
  int e = ::fcntl(run.err_fd, F_DUPFD, high);
  int img = plan.image_fd >= 0 ? ::fcntl(plan.image_fd, F_DUPFD, high) : -1;
  int ready = run.ready_fd >= 0 ? ::fcntl(run.ready_fd, F_DUPFD, high) : -1;
  int go = run.go_fd >= 0 ? ::fcntl(run.go_fd, F_DUPFD, high) : -1;
  // The program's executable, for /proc/self/exe (the restorer closes it).
  int x = -1;
  if (!p.info.exe.empty()) {
    int t = ::open(p.info.exe.c_str(), O_RDONLY | O_CLOEXEC);
    if (t >= 0) {
      x = ::fcntl(t, F_DUPFD, high);
      ::close(t);
    }
  }
  int report = ::fcntl(run.report_fd, F_DUPFD_CLOEXEC, high);
  int stdio[3];
  for (int k = 0; k < 3; k++) stdio[k] = ::fcntl(k, F_DUPFD_CLOEXEC, high);
  if (a < 0 || e < 0) {
    write_err(run.err_fd, "cannot prepare descriptors for the restorer");
    _exit(127);
  }
  // Shared memory for the restorer, at consecutive numbers above all of ours.
  int obj_base = std::max({a, e, img, ready, go, x, report, stdio[0], stdio[1], stdio[2]}) + 1;
  for (const auto* m : {run.pipe_ends, run.sockets, run.descriptions, run.shared_memory})
    if (m)
      for (const auto& [key, fd] : *m) obj_base = std::max(obj_base, fd + 1);
  for (size_t k = 0; k < p.objects.size(); k++) {
    auto it = run.shared_memory ? run.shared_memory->find(p.objects[k])
                                : decltype(run.shared_memory->end()){};
    if (!run.shared_memory || it == run.shared_memory->end() ||
        ::dup2(it->second, obj_base + int(k)) < 0) {
      write_err(e, "cannot pass shared memory to the restorer");
      _exit(127);
    }
  }
  std::string why;
  std::vector<bool> target(size_t(high), false);
  // Epoll sets last: their interest lists name the other descriptors.
  std::vector<const FdInfo*> order;
  for (const FdInfo& f : p.fds)
    if (f.kind != FdKind::kEpoll) order.push_back(&f);
  for (const FdInfo& f : p.fds)
    if (f.kind == FdKind::kEpoll) order.push_back(&f);
  std::vector<int> replaced, inherited;
  for (const FdInfo& f : p.fds) {
    if (f.kind == FdKind::kOther) replaced.push_back(f.fd);
    if (f.kind == FdKind::kInherited) inherited.push_back(f.fd);
  }
  for (const FdInfo* fp : order) {
    const FdInfo& f = *fp;
    int src = -1;
    bool opened = false;
    unsigned flags = f.open_flags & ~unsigned(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
    switch (f.kind) {
      case FdKind::kInherited: src = stdio[f.fd]; break;
      case FdKind::kReport: src = report; break;
      case FdKind::kFile:
      case FdKind::kDevice:
        if (f.ofd && run.descriptions && run.descriptions->count(f.ofd)) {
          src = run.descriptions->at(f.ofd);  // opened, placed and cut once for the job
          break;
        }
        src = reopen_file(f, &why);
        opened = true;
        if (src < 0) {
          write_err(e, why);
          _exit(127);
        }
        break;
      case FdKind::kEventfd:
      case FdKind::kTimerfd:
      case FdKind::kEpoll: {
        const char* why = "";
        src = f.kind == FdKind::kEventfd   ? make_eventfd(f, &why)
              : f.kind == FdKind::kTimerfd ? make_timerfd(f, &why)
                                           : make_epoll(f, replaced, inherited, &why);
        opened = true;
        if (src < 0) {
          write_err(e, "cannot recreate descriptor " + std::to_string(f.fd) + " (" + f.path + ", " +
                           why + "): " + std::strerror(errno));
          _exit(127);
        }
        break;
      }
      case FdKind::kPipe:
      case FdKind::kUnixPair:
      case FdKind::kSocket: {
        const std::map<uint64_t, int>* m = f.kind == FdKind::kPipe ? run.pipe_ends : run.sockets;
        uint64_t key = f.kind == FdKind::kPipe ? pipe_key(f) : f.ino;
        auto it = m ? m->find(key) : std::map<uint64_t, int>::const_iterator{};
        if (!m || it == m->end()) {
          write_err(e, "descriptor " + std::to_string(f.fd) + " (" + f.path + ") was not rebuilt");
          _exit(127);
        }
        src = it->second;
        ::fcntl(src, F_SETFL, int(flags));
        break;
      }
      case FdKind::kOther:
        src = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        opened = true;
        write_err(e, "warning: descriptor " + std::to_string(f.fd) + " (" + f.path +
                         ") cannot be restored; it now refers to /dev/null");
        break;
    }
    if (f.kind == FdKind::kInherited && !cut_to_checkpoint(f, src, &why)) {
      write_err(e, why);
      _exit(127);
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
  // What the restorer is given; everything else above goes (the job's
  // objects are close-on-exec too).
  int top = std::max({a, e, x, img, ready, go, obj_base + int(p.objects.size()) - 1});
  for (int fd = high; fd <= top; fd++) {
    bool keep = fd == a || fd == e || fd == x || fd == img || fd == ready || fd == go ||
                (fd >= obj_base && fd < obj_base + int(p.objects.size()));
    if (!keep) ::close(fd);
  }
  ::close_range(unsigned(top + 1), ~0u, 0);
  if (::chdir(p.info.cwd.c_str()) != 0) {
    write_err(e, "cannot enter the program's working directory " + p.info.cwd + ": " +
                     std::strerror(errno));
    _exit(127);
  }
  ::umask(mode_t(p.info.umask));
  for (int res = 0; res < 16; res++) {
    struct rlimit rl = {p.info.rlimits[res][0], p.info.rlimits[res][1]};
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
  std::string sa = std::to_string(a), se = std::to_string(e), sx = std::to_string(x),
              si = std::to_string(img), so = std::to_string(obj_base), sr = std::to_string(ready),
              sg = std::to_string(go);
  char* argv[] = {const_cast<char*>(run.restorer.c_str()),
                  sa.data(),
                  se.data(),
                  sx.data(),
                  si.data(),
                  so.data(),
                  sr.data(),
                  sg.data(),
                  nullptr};
  char* envp[] = {nullptr};
  ::execve(run.restorer.c_str(), argv, envp);
  write_err(e, "cannot run the restorer " + run.restorer + ": " + std::strerror(errno));
  _exit(127);
}

}  // namespace ckpt::control
