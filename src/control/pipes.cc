#include "control/pipes.h"

#include "control/sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

namespace ckpt::control {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

// Both ends of the FIFO at path (which must still be a FIFO: restart
// creates no file), without blocking: opened read-write first, then each
// end through /proc/self/fd.
bool open_fifo(const std::string& path, int ends[2], std::string* error) {
  Fd both(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
  struct stat st;
  if (both.get() < 0 || ::fstat(both.get(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    *error = "cannot reopen the FIFO " + path +
             (both.get() < 0 ? ": " + std::string(std::strerror(errno)) : ": no longer a FIFO");
    return false;
  }
  std::string self = "/proc/self/fd/" + std::to_string(both.get());
  ends[0] = ::open(self.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ends[1] = ::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (ends[0] < 0 || ends[1] < 0) {
    *error = "cannot reopen the FIFO " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

Status capture_pipe(pid_t pid, int pidfd, FdInfo* f, bool data, bool* read_end) {
  // A read end of the same pipe: a new one through /proc (opening a pipe
  // there works as opening a FIFO), or, where the pipe's inode is not ours
  // to open (one made by root before the job was started as this user), the
  // program's own descriptor. tee copies what is in flight without taking it.
  *read_end = false;
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(f->fd);
  Fd in(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  bool readable = in.get() >= 0;
  Fd own(in.get() >= 0 ? -1 : int(::syscall(SYS_pidfd_getfd, pidfd, f->fd, 0)));
  if (!readable && own.get() < 0)
    return Status::make(Code::kIo, errno, "cannot reach pipe %d of the program", f->fd);
  if (!readable) readable = (::fcntl(own.get(), F_GETFL) & O_ACCMODE) == O_RDONLY;
  int src = in.get() >= 0 ? in.get() : own.get();
  int size = ::fcntl(src, F_GETPIPE_SZ);
  f->size = size > 0 ? uint64_t(size) : 65536;
  f->queued.clear();
  // A write end alone: what is in flight is for a reader this process does
  // not hold; another descriptor of the job may be the read end.
  if (!data || !readable) return Status::ok();
  *read_end = true;
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return Status::make(Code::kIo, errno, "pipe");
  Fd r(p[0]), w(p[1]);
  if (::fcntl(w.get(), F_SETPIPE_SZ, int(f->size)) < 0)
    return Status::make(Code::kIo, errno, "cannot size a pipe like the program's (%llu bytes)",
                        (unsigned long long)f->size);
  ssize_t n = ::tee(src, w.get(), size_t(f->size), SPLICE_F_NONBLOCK);
  if (n < 0 && errno != EAGAIN) return Status::make(Code::kIo, errno, "cannot copy pipe %d", f->fd);
  if (n <= 0) return Status::ok();
  if (uint64_t(n) > kMaxQueued)
    return Status::make(Code::kUnsupported, 0,
                        "pipe %d holds %zd bytes in flight; ckpt saves at most %llu", f->fd, n,
                        (unsigned long long)kMaxQueued);
  std::string bytes(size_t(n), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t k = ::read(r.get(), bytes.data() + got, bytes.size() - got);
    if (k <= 0) return Status::make(Code::kIo, errno, "cannot read the copy of pipe %d", f->fd);
    got += size_t(k);
  }
  f->queued.push_back(std::move(bytes));
  return Status::ok();
}

Status list_unix_sockets(std::map<uint64_t, UnixSocket>* out) {
  Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (nl.get() < 0) return Status::make(Code::kIo, errno, "cannot open a sock_diag socket");
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req = {};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS;
  if (::send(nl.get(), &req, sizeof req, 0) != ssize_t(sizeof req))
    return Status::make(Code::kIo, errno, "cannot ask sock_diag for unix sockets");
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(nl.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::make(Code::kIo, errno, "cannot read sock_diag's answer");
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, uint32_t(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return Status::ok();
      if (h->nlmsg_type == NLMSG_ERROR)
        return Status::make(Code::kIo, 0, "sock_diag refused the query");
      auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
      UnixSocket s;
      s.type = m->udiag_type;
      s.state = m->udiag_state;
      int len = int(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (rtattr* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == UNIX_DIAG_PEER) {
          s.peer = *static_cast<uint32_t*>(RTA_DATA(a));
        } else if (a->rta_type == UNIX_DIAG_ICONS) {
          const uint32_t* icons = static_cast<const uint32_t*>(RTA_DATA(a));
          for (size_t k = 0; k < RTA_PAYLOAD(a) / 4; k++) s.pending.push_back(icons[k]);
        }
      (*out)[m->udiag_ino] = s;
    }
  }
}

Status capture_unix_pair(int pidfd, const UnixSocket& s, FdInfo* f) {
  f->peer = s.peer;
  f->sock_type = s.type;
  return peek_socket(pidfd, f, nullptr);
}

Status peek_socket(int pidfd, FdInfo* f, int* unsent) {
  f->queued.clear();
  Fd sock(int(::syscall(SYS_pidfd_getfd, pidfd, f->fd, 0)));
  if (sock.get() < 0)
    return Status::make(Code::kIo, errno, "cannot reach socket %d of the program", f->fd);
  if (unsent && ::ioctl(sock.get(), SIOCOUTQ, unsent) != 0) *unsent = 0;
  // Peek every queued message, from an offset that moves past what was
  // peeked (SO_PEEK_OFF, put back after: it belongs to the program's socket).
  int old = -1;
  socklen_t ol = sizeof old;
  (void)::getsockopt(sock.get(), SOL_SOCKET, SO_PEEK_OFF, &old, &ol);
  int zero = 0;
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) != 0)
    return Status::make(Code::kIo, errno, "cannot peek into socket %d", f->fd);
  Status st = Status::ok();
  std::string buf(1 << 16, '\0');
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += uint64_t(n);
    if (total > kMaxQueued) {
      st = Status::make(Code::kUnsupported, 0, "socket %d holds more than %llu bytes unread", f->fd,
                        (unsigned long long)kMaxQueued);
      break;
    }
    if (f->sock_type == SOCK_STREAM && !f->queued.empty())
      f->queued.back().append(buf.data(), size_t(n));
    else f->queued.emplace_back(buf.data(), size_t(n));
  }
  (void)::setsockopt(sock.get(), SOL_SOCKET, SO_PEEK_OFF, &old, sizeof old);
  return st;
}

bool build_pipes(const std::vector<FdInfo>& fds, int above, std::map<uint64_t, int>* pipe_ends,
                 std::map<uint64_t, int>* sockets_out, std::string* error) {
  auto high = [&](int fd) {
    int h = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
    ::close(fd);
    return h;
  };
  std::map<uint64_t, std::pair<int, int>> pipes;  // ino -> read end, write end
  std::map<uint64_t, int> sockets;                // ino -> our end
  for (const FdInfo& f : fds) {
    if (f.kind == FdKind::kPipe) {
      auto it = pipes.find(f.ino);
      if (it == pipes.end()) {
        int p[2];
        if (!f.path.empty() && f.path[0] == '/') {
          // A FIFO: the one at its path, so that a process that opens it
          // after the restart meets the same pipe.
          if (!open_fifo(f.path, p, error)) return false;
        } else if (::pipe2(p, O_CLOEXEC) != 0) {
          *error = std::string("cannot make a pipe: ") + std::strerror(errno);
          return false;
        }
        (void)::fcntl(p[1], F_SETPIPE_SZ, int(f.size));
        it = pipes.emplace(f.ino, std::make_pair(high(p[0]), high(p[1]))).first;
      }
      for (const std::string& q : f.queued)
        if (!write_all(it->second.second, q)) {
          *error = "cannot queue the bytes in flight of descriptor " + std::to_string(f.fd);
          return false;
        }
      (*pipe_ends)[f.ino << 1] = it->second.first;
      (*pipe_ends)[f.ino << 1 | 1] = it->second.second;
    } else if (f.kind == FdKind::kUnixPair && !sockets.count(f.ino)) {
      int sv[2];
      if (::socketpair(AF_UNIX, int(f.sock_type) | SOCK_CLOEXEC, 0, sv) != 0) {
        *error = std::string("cannot make a socket pair: ") + std::strerror(errno);
        return false;
      }
      sockets[f.ino] = high(sv[0]);
      sockets[f.peer] = high(sv[1]);
    }
  }
  // Other sockets: bound or listening again, or closed (sockets.h).
  for (const FdInfo& f : fds) {
    if (f.kind != FdKind::kSocket || f.sock_state == kSocketConnected || sockets.count(f.ino))
      continue;
    int s = make_socket(f, error);
    if (s < 0) return false;
    sockets[f.ino] = high(s);
  }
  // TCP connections between sockets of the job: connected again, through
  // the job's listener on the server's address if it has one.
  for (const FdInfo& f : fds) {
    if (f.kind != FdKind::kSocket || f.sock_state != kSocketConnected || sockets.count(f.ino))
      continue;
    const FdInfo* other = nullptr;
    for (const FdInfo& g : fds)
      if (g.kind == FdKind::kSocket && g.sock_state == kSocketConnected && g.ino != f.ino &&
          g.addr == f.peer_addr && g.peer_addr == f.addr)
        other = &g;
    if (!other) {
      *error = "a TCP connection of descriptor " + std::to_string(f.fd) + " has no other end";
      return false;
    }
    // The server: the end whose local port a listener of the job has.
    auto port = [](const std::string& a) {
      return a.size() >= sizeof(sockaddr_in)
                 ? reinterpret_cast<const sockaddr_in*>(a.data())->sin_port
                 : 0;
    };
    const FdInfo* server = other;
    const FdInfo* client = &f;
    int listener = -1;
    for (int k = 0; k < 2 && listener < 0; k++) {
      for (const FdInfo& l : fds)
        if (l.kind == FdKind::kSocket && l.sock_state == kSocketListening &&
            l.sock_family == server->sock_family && port(l.addr) == port(server->addr) &&
            sockets.count(l.ino)) {
          listener = sockets[l.ino];
          break;
        }
      if (listener < 0) std::swap(server, client);  // twice: back as it was
    }
    int c, sv;
    if (!make_tcp_pair(*client, *server, listener, &c, &sv, error)) return false;
    sockets[client->ino] = high(c);
    sockets[server->ino] = high(sv);
    // What each end had received and not read, sent again by the other.
    for (auto [from, to] : {std::make_pair(client, sockets[server->ino]),
                            std::make_pair(server, sockets[client->ino])})
      for (const std::string& q : from->queued)
        if (!q.empty() && ::send(to, q.data(), q.size(), MSG_NOSIGNAL) != ssize_t(q.size())) {
          *error = "cannot queue the unread data of descriptor " + std::to_string(from->fd);
          return false;
        }
  }
  // Datagrams that waited in a queue, sent again; then UDP sockets with a
  // default peer connected to it again (sockets.h).
  std::set<uint64_t> requeued;
  for (const FdInfo& f : fds)
    if (f.kind == FdKind::kSocket && f.sock_type == SOCK_DGRAM && !f.queued.empty() &&
        requeued.insert(f.ino).second && !requeue_datagrams(f, fds, sockets, error))
      return false;
  std::set<uint64_t> named;
  for (const FdInfo& f : fds) {
    if (f.kind != FdKind::kSocket || f.sock_state != kSocketDatagramPeer ||
        !named.insert(f.ino).second)
      continue;
    if (::connect(sockets[f.ino], reinterpret_cast<const sockaddr*>(f.peer_addr.data()),
                  socklen_t(f.peer_addr.size())) != 0) {
      *error = "cannot give UDP socket " + std::to_string(f.fd) +
               " its peer again: " + std::strerror(errno);
      return false;
    }
  }
  *sockets_out = sockets;
  std::set<uint64_t> sent;
  for (const FdInfo& f : fds) {
    if (f.kind != FdKind::kUnixPair || !sent.insert(f.ino).second) continue;
    for (const std::string& q : f.queued) {
      ssize_t n = ::send(sockets[f.peer], q.data(), q.size(), MSG_NOSIGNAL);
      if (n != ssize_t(q.size())) {
        *error = "cannot queue the unread data of descriptor " + std::to_string(f.fd);
        return false;
      }
    }
  }
  return true;
}

const char* check_pipes(const std::vector<FdInfo>& fds) {
  std::map<uint64_t, const FdInfo*> socks;
  std::map<uint64_t, uint64_t> pipe_bytes;
  for (const FdInfo& f : fds) {
    uint64_t total = 0;
    for (const std::string& q : f.queued) total += q.size();
    if (total > kMaxQueued) return "more bytes in flight than ckpt saves";
    if (f.kind == FdKind::kPipe) {
      unsigned mode = f.open_flags & O_ACCMODE;
      if (mode != O_RDONLY && mode != O_WRONLY) return "a pipe end neither read nor write";
      if (f.size < 4096 || f.size > (1u << 20)) return "an impossible pipe size";
      pipe_bytes[f.ino] += total;
      if (pipe_bytes[f.ino] > f.size) return "more bytes in a pipe than it holds";
    } else if (f.kind == FdKind::kUnixPair) {
      if (f.sock_type != SOCK_STREAM && f.sock_type != SOCK_DGRAM && f.sock_type != SOCK_SEQPACKET)
        return "a socket pair of an unknown type";
      if (f.peer == f.ino) return "a socket that is its own peer";
      auto [it, fresh] = socks.emplace(f.ino, &f);
      // Held by several descriptors: its queue is saved with one of them.
      if (!fresh && (it->second->peer != f.peer || it->second->sock_type != f.sock_type ||
                     (!f.queued.empty() && !it->second->queued.empty())))
        return "one socket recorded two ways";
      if (!fresh && !f.queued.empty()) it->second = &f;
    } else if ((!f.queued.empty() &&
                !(f.kind == FdKind::kSocket &&
                  (f.sock_state == kSocketConnected || f.sock_type == SOCK_DGRAM))) ||
               f.peer || (f.sock_type && f.kind != FdKind::kSocket) ||
               (!f.queued_from.empty() && f.kind != FdKind::kSocket)) {
      return "queued bytes on a descriptor that holds none";
    }
  }
  for (const auto& [ino, f] : socks) {
    auto p = socks.find(f->peer);
    if (p == socks.end()) return "a socket pair with one end missing";
    if (p->second->peer != ino || p->second->sock_type != f->sock_type)
      return "a socket pair whose ends disagree";
  }
  return nullptr;
}

}  // namespace ckpt::control
