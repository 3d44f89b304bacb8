#include "control/fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "control/pipes.h"
#include "control/procfs.h"
#include "control/sockets.h"

namespace ckpt::control {
namespace {

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

// A unix socket bound to a relative path is bound again at restart from
// the absolute one (the process's working directory then).
Status absolute_socket_path(pid_t pid, FdInfo* f) {
  constexpr size_t kPathAt = offsetof(sockaddr_un, sun_path);
  if (f->sock_family != AF_UNIX || f->addr.size() <= kPathAt + 1 || f->addr[kPathAt] == 0 ||
      f->addr[kPathAt] == '/')
    return Status::ok();
  std::string rel(f->addr.data() + kPathAt,
                  strnlen(f->addr.data() + kPathAt, f->addr.size() - kPathAt));
  char cwd[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
  if (n <= 0)
    return Status::make(Code::kIo, errno, "cannot read the working directory of pid %d", int(pid));
  std::string abs = std::string(cwd, size_t(n)) + "/" + rel;
  sockaddr_un a = {};
  if (abs.size() >= sizeof a.sun_path)
    return Status::make(Code::kUnsupported, 0,
                        "descriptor %d is a unix socket bound to %s, a path too long to bind "
                        "again from its working directory",
                        f->fd, rel.c_str());
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, abs.data(), abs.size());
  f->addr.assign(reinterpret_cast<const char*>(&a), kPathAt + abs.size() + 1);
  return Status::ok();
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
    else if (have && S_ISREG(st.st_mode) && f.path[0] == '/' && !f.path.ends_with(" (deleted)"))
      f.kind = FdKind::kFile;
    else if (have && S_ISCHR(st.st_mode) && f.path.starts_with("/dev/")) f.kind = FdKind::kDevice;
    else if (f.path == "anon_inode:[eventfd]") f.kind = FdKind::kEventfd;
    else if (f.path == "anon_inode:[timerfd]") f.kind = FdKind::kTimerfd;
    else if (f.path == "anon_inode:[eventpoll]") f.kind = FdKind::kEpoll;
    else if (have && S_ISFIFO(st.st_mode) && (f.path.starts_with("pipe:[") || f.path[0] == '/'))
      f.kind = FdKind::kPipe;  // a pipe, or a FIFO (by its path)
    else if (have && S_ISSOCK(st.st_mode))
      f.kind = FdKind::kUnixPair;  // if its peer is ours too; decided below
    else f.kind = FdKind::kOther;
    if (f.kind != FdKind::kEventfd && f.kind != FdKind::kTimerfd && f.kind != FdKind::kEpoll)
      f.fdinfo.clear();
    out->push_back(std::move(f));
  }
  return Status::ok();
}

bool connections_pending(const std::vector<pid_t>& pids) {
  std::set<uint64_t> ours;
  for (pid_t pid : pids) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      char target[64];
      ssize_t n = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = 0;
      unsigned long long ino;
      if (std::sscanf(target, "socket:[%llu]", &ino) == 1) ours.insert(ino);
    }
    ::closedir(d);
  }
  if (ours.empty()) return false;
  // TCP: a listening socket's receive queue in /proc/net/tcp{,6} is the
  // number of connections waiting to be accepted.
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    FILE* f = std::fopen(table, "r");
    if (!f) continue;
    char line[512];
    bool pending = false;
    while (!pending && std::fgets(line, sizeof line, f)) {
      unsigned state = 0;
      unsigned long tx = 0, rx = 0;
      unsigned long long inode = 0;
      // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (std::sscanf(line, "%*s %*s %*s %x %lx:%lx %*s %*s %*s %*s %llu", &state, &tx, &rx,
                      &inode) == 4 &&
          state == 0x0A /* LISTEN */ && rx > 0 && ours.count(inode))
        pending = true;
    }
    std::fclose(f);
    if (pending) return true;
  }
  std::map<uint64_t, UnixSocket> all;
  if (!list_unix_sockets(&all).is_ok()) return false;
  for (uint64_t ino : ours) {
    auto it = all.find(ino);
    if (it != all.end() && !it->second.pending.empty()) return true;
  }
  return false;
}

Status capture_shared(const std::vector<ProcessFds>& job, bool refuse_external,
                      std::vector<std::string>* warnings) {
  std::set<uint64_t> socket_inos, pipes_read, sockets_seen;
  for (const ProcessFds& p : job)
    for (const FdInfo& f : *p.fds)
      if (f.kind == FdKind::kUnixPair) socket_inos.insert(f.ino);
  std::map<uint64_t, UnixSocket> unix_sockets;
  if (!socket_inos.empty()) CKPT_RETURN_IF_ERROR(list_unix_sockets(&unix_sockets));
  // The pairs the job holds both ends of. sock_diag shows a socket's peer
  // from one side only for some connections (an accepted one whose client
  // end still points at it, say): a pair is taken from either side, and
  // kept only if both sides agree.
  std::map<uint64_t, uint64_t> pair_of;
  for (uint64_t ino : socket_inos) {
    auto it = unix_sockets.find(ino);
    if (it == unix_sockets.end() || !it->second.peer || !socket_inos.count(it->second.peer))
      continue;
    uint64_t peer = it->second.peer;
    auto [a, fresh_a] = pair_of.emplace(ino, peer);
    auto [b, fresh_b] = pair_of.emplace(peer, ino);
    if ((!fresh_a && a->second != peer) || (!fresh_b && b->second != ino))
      a->second = b->second = 0;
  }
  for (auto it = pair_of.begin(); it != pair_of.end();)
    it = it->second ? std::next(it) : pair_of.erase(it);
  std::map<uint64_t, const FdInfo*> first_socket;  // one socket held by several descriptors
  struct Connected {
    FdInfo* f;
    std::string what;
    int unsent = 0;
  };
  std::vector<Connected> connected;
  std::vector<std::pair<FdInfo*, const FdInfo*>> dups;
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
      auto pair = pair_of.find(f.ino);
      if (it != unix_sockets.end() && pair != pair_of.end()) {
        UnixSocket us = it->second;
        us.peer = pair->second;
        // Queued data once per socket, however many descriptors hold it.
        if (sockets_seen.insert(f.ino).second) {
          CKPT_RETURN_IF_ERROR(capture_unix_pair(pidfd.get(), us, &f));
        } else {
          f.peer = us.peer;
          f.sock_type = us.type;
        }
        continue;
      }
      f.kind = FdKind::kSocket;
      if (auto same = first_socket.find(f.ino); same != first_socket.end()) {
        dups.push_back({&f, same->second});  // recorded like the first, below
        continue;
      }
      std::string outside;
      CKPT_RETURN_IF_ERROR(capture_socket(pidfd.get(), &f, &outside));
      CKPT_RETURN_IF_ERROR(absolute_socket_path(p.pid, &f));
      first_socket[f.ino] = &f;
      if (outside.empty()) continue;
      Connected c = {&f,
                     "descriptor " + std::to_string(f.fd) + " of " + p.name + " is a " + outside};
      if (f.sock_type == SOCK_STREAM && f.sock_family != AF_UNIX)
        CKPT_RETURN_IF_ERROR(peek_socket(pidfd.get(), &f, &c.unsent));
      connected.push_back(std::move(c));
    }
  }
  // A TCP connection whose two ends the job holds comes back connected,
  // with what each end had not read yet; data still in a send queue (the
  // receiver's window full) cannot be read: the checkpoint is taken again
  // a moment later (kBusy). Any other connection comes back closed.
  for (Connected& c : connected) {
    FdInfo& f = *c.f;
    bool ours = false;
    for (const Connected& d : connected)
      if (d.f != c.f && f.sock_type == SOCK_STREAM && f.sock_family != AF_UNIX &&
          d.f->addr == f.peer_addr && d.f->peer_addr == f.addr) {
        ours = true;
        if (c.unsent > 0)
          return Status::make(Code::kBusy, 0, "%s, with %d bytes not yet delivered", c.what.c_str(),
                              c.unsent);
      }
    if (ours) {
      f.sock_state = kSocketConnected;
      continue;
    }
    f.addr.clear();  // it comes back unbound and closed
    f.peer_addr.clear();
    f.queued.clear();
    std::string what = c.what + ", a connection outside the job";
    if (refuse_external)
      return Status::make(Code::kUnsupported, 0,
                          "%s: not checkpointed (with --external=close it would come back "
                          "closed)",
                          what.c_str());
    warnings->push_back(what + ": it will come back closed after a restart");
  }
  for (auto [f, first] : dups) {
    FdInfo copy = *first;
    copy.fd = f->fd;
    copy.open_flags = f->open_flags;
    copy.cloexec = f->cloexec;
    *f = copy;
  }
  find_shared_descriptions(job);
  return Status::ok();
}

}  // namespace ckpt::control
