#include "control/fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "control/pipes.h"
#include "control/procfs.h"
#include "control/sockets.h"

namespace ckpt::control {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

class PidFd {
 public:
  explicit PidFd(pid_t pid) : fd_(int(::syscall(SYS_pidfd_open, pid, 0))) {}
  ~PidFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  PidFd(const PidFd&) = delete;
  PidFd& operator=(const PidFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The open file descriptions the job's regular files share: every
// descriptor of one description gets its id (the first one's position + 1);
// a description only one descriptor holds keeps 0.
void find_shared_descriptions(const std::vector<ProcessFds>& job) {
  struct Seen {
    pid_t pid;
    FdInfo* f;
    uint64_t id;
  };
  std::vector<Seen> seen;
  std::map<uint64_t, int> holders;
  uint64_t next = 1;
  for (const ProcessFds& p : job)
    for (FdInfo& f : *p.fds) {
      if (f.kind != FdKind::kFile) continue;
      uint64_t id = 0;
      for (const Seen& s : seen)
        if (s.f->dev == f.dev && s.f->ino == f.ino &&
            ::syscall(SYS_kcmp, s.pid, p.pid, KCMP_FILE, s.f->fd, f.fd) == 0) {
          id = s.id;
          break;
        }
      if (!id) id = next++;
      f.ofd = id;
      holders[id]++;
      seen.push_back({p.pid, &f, id});
    }
  for (const Seen& s : seen)
    if (holders[s.id] < 2) s.f->ofd = 0;
}

}  // namespace

Status list_fds(pid_t pid, const FdContext& t, std::vector<FdInfo>* out) {
  std::string base = "/proc/" + std::to_string(pid);
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
  return Status::ok();
}

Status capture_shared(const std::vector<ProcessFds>& job, bool refuse_external,
                      std::vector<std::string>* warnings) {
  std::set<uint64_t> socket_inos, pipes_read, sockets_seen;
  for (const ProcessFds& p : job)
    for (const FdInfo& f : *p.fds)
      if (f.kind == FdKind::kUnixPair) socket_inos.insert(f.ino);
  std::map<uint64_t, UnixSocket> unix_sockets;
  if (!socket_inos.empty()) CKPT_RETURN_IF_ERROR(list_unix_sockets(&unix_sockets));
  std::map<uint64_t, const FdInfo*> first_socket;  // one socket held by several descriptors
  for (const ProcessFds& p : job) {
    PidFd pidfd(p.pid);
    for (FdInfo& f : *p.fds) {
      if (f.kind != FdKind::kPipe && f.kind != FdKind::kUnixPair) continue;
      if (pidfd.get() < 0) return Status::make(Code::kIo, errno, "pidfd_open");
      if (f.kind == FdKind::kPipe) {
        bool read_end = false;
        CKPT_RETURN_IF_ERROR(
            capture_pipe(p.pid, pidfd.get(), &f, !pipes_read.count(f.ino), &read_end));
        if (read_end) pipes_read.insert(f.ino);
        continue;
      }
      auto it = unix_sockets.find(f.ino);
      if (it != unix_sockets.end() && it->second.peer && socket_inos.count(it->second.peer)) {
        // Queued data once per socket, however many descriptors hold it.
        if (sockets_seen.insert(f.ino).second) {
          CKPT_RETURN_IF_ERROR(capture_unix_pair(pidfd.get(), it->second, &f));
        } else {
          f.peer = it->second.peer;
          f.sock_type = it->second.type;
        }
        continue;
      }
      f.kind = FdKind::kSocket;
      if (auto same = first_socket.find(f.ino); same != first_socket.end()) {
        FdInfo copy = *same->second;
        copy.fd = f.fd;
        copy.open_flags = f.open_flags;
        copy.cloexec = f.cloexec;
        f = copy;
        continue;
      }
      std::string outside;
      CKPT_RETURN_IF_ERROR(capture_socket(pidfd.get(), &f, &outside));
      first_socket[f.ino] = &f;
      if (outside.empty()) continue;
      std::string what = "descriptor " + std::to_string(f.fd) + " of " + p.name + " is a " +
                         outside + ", a connection outside the job";
      if (refuse_external)
        return Status::make(Code::kUnsupported, 0,
                            "%s: not checkpointed (with --external=close it would come back "
                            "closed)",
                            what.c_str());
      warnings->push_back(what + ": it will come back closed after a restart");
    }
  }
  find_shared_descriptions(job);
  return Status::ok();
}

}  // namespace ckpt::control
