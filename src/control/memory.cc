#include "control/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "restore/restore_abi.h"

namespace ckpt::control {

uint64_t mtime_ns(const struct stat& st) {
  return uint64_t(st.st_mtim.tv_sec) * 1000000000ull + uint64_t(st.st_mtim.tv_nsec);
}

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

void warm_hashes(pid_t pid, CodeFiles* out) {
  CodeFiles& code = *out;
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
}

Status plan_mapping(const MapLine& m, const CodeFiles& code, MappingPlan* p) {
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
    p->pages = MappingPlan::kPresent;
    return Status::ok();
  }
  bool deleted = m.path.ends_with(" (deleted)");
  struct stat st;
  bool same = !deleted && ::stat(m.path.c_str(), &st) == 0 && st.st_ino == m.ino &&
              major(st.st_dev) == m.dev_major && minor(st.st_dev) == m.dev_minor;
  if (!same || m.path.starts_with("/memfd:") || m.path.starts_with("/dev/zero") ||
      m.path.starts_with("/SYSV")) {
    // Nothing to map back from: keep every page.
    i.kind = m.shared ? MapKind::kMemfd : MapKind::kAnon;
    i.flags |= m.shared ? restore::kMapMemfd : 0;
    i.pgoff = m.shared ? m.pgoff : 0;
    p->pages = MappingPlan::kAll;
    if (m.shared) {
      p->shm_dev = makedev(m.dev_major, m.dev_minor);
      p->shm_ino = m.ino;
    }
    return Status::ok();
  }
  i.kind = MapKind::kFile;
  i.dev = st.st_dev;
  i.ino = st.st_ino;
  i.size = uint64_t(st.st_size);
  i.mtime_ns = mtime_ns(st);
  if (code.count({uint64_t(st.st_dev), uint64_t(st.st_ino)}))
    hash_file(m.path, st, &i.has_hash, &i.hash);
  p->pages = m.shared ? MappingPlan::kNone : MappingPlan::kPrivateCopies;
  return Status::ok();
}

Status place_frames(const std::vector<SignalFrame>& frames, std::vector<MappingPlan>* plans) {
  for (const SignalFrame& f : frames) {
    uint64_t lo = f.start, hi = f.start + f.bytes.size();
    bool placed = false;
    for (MappingPlan& p : *plans) {
      MappingInfo& m = p.info;
      if (!(m.prot & PROT_WRITE) || p.pages == MappingPlan::kNone) continue;
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

bool FrozenCopy::find(pid_t parent, pid_t inner) {
  if (parent == 0) {
    pid_ = inner;
    return ::kill(inner, 0) == 0;
  }
  for (pid_t kid : list_children(parent))
    if (inner_pid("/proc/" + std::to_string(kid) + "/status") == inner) {
      pid_ = kid;
      return true;
    }
  return false;
}

void FrozenCopy::end() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  // Ours to reap only if we are its parent; its init (or whoever reaps
  // orphans) does it otherwise.
  while (::waitpid(pid_, nullptr, __WALL | WNOHANG) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

uint64_t snapshot_budget() {
  std::string info;
  if (!read_text("/proc/meminfo", &info).is_ok()) return 0;
  const char* p = std::strstr(info.c_str(), "MemAvailable:");
  if (!p) return 0;
  return std::strtoull(p + 13, nullptr, 10) * 1024 / 2;
}

}  // namespace ckpt::control
