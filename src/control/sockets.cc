#include "control/sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "control/pipes.h"

namespace ckpt::control {
namespace {

std::string describe(const sockaddr_storage& a, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in->sin6_port));
  }
  if (a.ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<const sockaddr_un*>(&a);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return "(unnamed)";
    if (un->sun_path[0] == 0) return "@" + std::string(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "?";
}

int get_int(int fd, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  return ::getsockopt(fd, SOL_SOCKET, opt, &v, &l) == 0 ? v : -1;
}

// Every datagram queued for the socket s, with its sender's address, peeked
// from an offset that moves past what was peeked (SO_PEEK_OFF skips whole
// datagrams; put back after: the socket is the program's).
Status peek_datagrams(int s, FdInfo* f) {
  f->queued.clear();
  f->queued_from.clear();
  int old = -1;
  socklen_t ol = sizeof old;
  (void)::getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &old, &ol);
  int zero = 0;
  if (::setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) != 0)
    return Status::make(Code::kIo, errno, "cannot peek into socket %d", f->fd);
  Status st = Status::ok();
  std::string buf(1 << 16, '\0');
  uint64_t total = 0;
  for (;;) {
    sockaddr_storage from = {};
    iovec io = {buf.data(), buf.size()};
    msghdr m = {};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    ssize_t n = ::recvmsg(s, &m, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // nothing more (an empty datagram peeks as 0)
    total += uint64_t(n) + 1;
    if (total > kMaxQueued || f->queued.size() >= (1u << 16)) {
      st = Status::make(Code::kUnsupported, 0, "socket %d holds more than %llu bytes unread", f->fd,
                        (unsigned long long)kMaxQueued);
      break;
    }
    f->queued.emplace_back(buf.data(), size_t(n));
    bool named = m.msg_namelen > sizeof(sa_family_t) && m.msg_namelen <= sizeof from;
    f->queued_from.emplace_back(
        named ? std::string(reinterpret_cast<const char*>(&from), m.msg_namelen) : std::string());
  }
  (void)::setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof old);
  return st;
}

bool unix_path_name(const FdInfo& f) {
  return f.sock_family == AF_UNIX && f.addr.size() > offsetof(sockaddr_un, sun_path) &&
         f.addr[offsetof(sockaddr_un, sun_path)] != '\0';
}

}  // namespace

Status capture_socket(int pidfd, FdInfo* f, std::string* outside) {
  outside->clear();
  int s = int(::syscall(SYS_pidfd_getfd, pidfd, f->fd, 0));
  if (s < 0) return Status::make(Code::kIo, errno, "cannot reach socket %d of the program", f->fd);
  f->sock_family = uint32_t(get_int(s, SO_DOMAIN));
  f->sock_type = uint32_t(get_int(s, SO_TYPE));
  bool listening = get_int(s, SO_ACCEPTCONN) == 1;
  // A TCP socket of the job leaves its address in TIME_WAIT when the job is
  // killed; only with SO_REUSEADDR set on it can the restart bind that
  // address again at once (the one option a checkpoint changes in the
  // program's sockets).
  if ((f->sock_family == AF_INET || f->sock_family == AF_INET6) && f->sock_type == SOCK_STREAM) {
    int one = 1;
    (void)::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  sockaddr_storage local = {}, peer = {};
  socklen_t ll = sizeof local, pl = sizeof peer;
  bool named =
      ::getsockname(s, reinterpret_cast<sockaddr*>(&local), &ll) == 0 && ll > sizeof(sa_family_t);
  bool connected = ::getpeername(s, reinterpret_cast<sockaddr*>(&peer), &pl) == 0;
  // Datagrams waiting to be read, kept with their senders' addresses.
  bool known = f->sock_family == AF_UNIX || f->sock_family == AF_INET || f->sock_family == AF_INET6;
  bool datagram = f->sock_type == SOCK_DGRAM;
  Status peeked = datagram && known ? peek_datagrams(s, f) : Status::ok();
  ::close(s);
  CKPT_RETURN_IF_ERROR(peeked);
  if (!known)
    return Status::make(Code::kUnsupported, 0,
                        "descriptor %d is a socket of family %u, which ckpt cannot restore", f->fd,
                        f->sock_family);
  if (named) f->addr.assign(reinterpret_cast<const char*>(&local), ll);
  if (f->sock_family != AF_UNIX && named) {
    // An unbound inet socket shows the wildcard address, port 0.
    uint16_t port = f->sock_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                              : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port;
    if (port == 0) f->addr.clear();
  }
  if (listening) {
    f->sock_state = kSocketListening;
  } else if (connected && datagram && f->sock_family != AF_UNIX) {
    // UDP's connect only names a default peer: it is named again at restart.
    f->sock_state = kSocketDatagramPeer;
    f->addr.assign(reinterpret_cast<const char*>(&local), ll);
    f->peer_addr.assign(reinterpret_cast<const char*>(&peer), pl);
  } else if (connected) {
    f->queued.clear();
    f->queued_from.clear();
    const char* kind = f->sock_family == AF_UNIX     ? "unix"
                       : f->sock_type == SOCK_STREAM ? "TCP"
                                                     : "UDP";
    *outside = std::string(kind) + " " + (named ? describe(local, ll) : "(unnamed)") + " -> " +
               describe(peer, pl);
    f->sock_state = kSocketClosed;
    f->addr.assign(reinterpret_cast<const char*>(&local), ll);
    f->peer_addr.assign(reinterpret_cast<const char*>(&peer), pl);
  } else {
    f->sock_state = f->addr.empty() ? kSocketFresh : kSocketBound;
  }
  return Status::ok();
}

int make_socket(const FdInfo& f, std::string* error) {
  auto fail = [&](const std::string& what) {
    std::string where;
    if (!f.addr.empty() && f.addr.size() <= sizeof(sockaddr_storage)) {
      sockaddr_storage a = {};
      std::memcpy(&a, f.addr.data(), f.addr.size());
      where = " (" + describe(a, socklen_t(f.addr.size())) + ")";
    }
    *error = "cannot restore socket " + std::to_string(f.fd) + where + ": " + what + ": " +
             std::strerror(errno);
    return -1;
  };
  int type = int(f.sock_type) | SOCK_CLOEXEC;
  if (f.sock_state == kSocketClosed && f.sock_family == AF_UNIX) {
    // Connected to a peer that is gone: reads see end of file, writes EPIPE.
    int sv[2];
    if (::socketpair(AF_UNIX, type, 0, sv) != 0) return fail("socketpair");
    ::close(sv[1]);
    return sv[0];
  }
  int s = ::socket(int(f.sock_family), type, 0);
  if (s < 0) return fail("socket");
  if (f.sock_state == kSocketClosed) {
    ::shutdown(s, SHUT_RDWR);
    return s;
  }
  if (!f.addr.empty()) {
    int one = 1;
    (void)::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (unix_path_name(f)) {
      // The old socket's file is still there: replaced only if it is a
      // socket of this user. Restart makes no other kind of file.
      const char* p = f.addr.data() + offsetof(sockaddr_un, sun_path);
      std::string path(p, strnlen(p, f.addr.size() - offsetof(sockaddr_un, sun_path)));
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
          ::close(s);
          errno = EEXIST;
          return fail(path + " is no longer a socket of this user");
        }
        ::unlink(path.c_str());
      }
    }
    // The killed job may still be letting go of the address: wait a little.
    int r = -1;
    for (int waited_ms = 0; waited_ms < 3000; waited_ms += 20) {
      r = ::bind(s, reinterpret_cast<const sockaddr*>(f.addr.data()), socklen_t(f.addr.size()));
      if (r == 0 || errno != EADDRINUSE) break;
      ::usleep(20000);
    }
    if (r != 0) {
      ::close(s);
      return fail("bind to its address");
    }
  }
  // (A UDP socket's default peer is named again by requeue_datagrams' caller.)
  if (f.sock_state == kSocketListening && ::listen(s, SOMAXCONN) != 0) {
    ::close(s);
    return fail("listen");
  }
  return s;
}

bool make_tcp_pair(const FdInfo& client, const FdInfo& server, int listener, int* cfd, int* sfd,
                   std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = "cannot connect socket " + std::to_string(client.fd) + " again: " + what + ": " +
             std::strerror(errno);
    return false;
  };
  int family = int(client.sock_family);
  int temp = -1;
  if (listener < 0) {
    temp = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    (void)::setsockopt(temp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (temp < 0 ||
        ::bind(temp, reinterpret_cast<const sockaddr*>(server.addr.data()),
               socklen_t(server.addr.size())) != 0 ||
        ::listen(temp, 1) != 0) {
      if (temp >= 0) ::close(temp);
      return fail("listen on " +
                  describe(*reinterpret_cast<const sockaddr_storage*>(server.addr.data()),
                           socklen_t(server.addr.size())));
    }
    listener = temp;
  }
  // The client end on its old port; the killed job's connection on the same
  // addresses may linger in TIME_WAIT, which the kernel lets a new
  // connection reuse after a second. Failing that, from a new port (the one
  // thing of the connection the program could notice).
  int c = -1;
  bool ok = false;
  for (int attempt = 0; attempt < 2 && !ok; attempt++) {
    if (c >= 0) ::close(c);
    c = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) break;
    int one = 1;
    (void)::setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    std::string local = client.addr;
    if (attempt == 1 && local.size() >= sizeof(sockaddr_in))
      reinterpret_cast<sockaddr_in*>(local.data())->sin_port = 0;  // same offset in sockaddr_in6
    if (::bind(c, reinterpret_cast<const sockaddr*>(local.data()), socklen_t(local.size())) != 0)
      continue;
    for (int waited_ms = 0;; waited_ms += 20) {
      if (::connect(c, reinterpret_cast<const sockaddr*>(client.peer_addr.data()),
                    socklen_t(client.peer_addr.size())) == 0) {
        ok = true;
        break;
      }
      if ((errno != EADDRNOTAVAIL && errno != EADDRINUSE) || waited_ms >= 1500) break;
      ::usleep(20000);
    }
  }
  int s = ok ? ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  int err = errno;
  if (temp >= 0) ::close(temp);
  if (s < 0) {
    if (c >= 0) ::close(c);
    errno = err;
    return fail("connect");
  }
  *cfd = c;
  *sfd = s;
  return true;
}

bool requeue_datagrams(const FdInfo& f, const std::vector<FdInfo>& fds,
                       const std::map<uint64_t, int>& sockets, std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = "cannot queue again the unread datagrams of descriptor " + std::to_string(f.fd) +
             ": " + what + ": " + std::strerror(errno);
    return false;
  };
  auto mine = sockets.find(f.ino);
  if (mine == sockets.end()) {
    errno = ENOENT;
    return fail("no socket");
  }
  sockaddr_storage to = {};
  socklen_t tl = sizeof to;
  if (::getsockname(mine->second, reinterpret_cast<sockaddr*>(&to), &tl) != 0)
    return fail("getsockname");
  // Bound to the wildcard address: reached on loopback.
  if (to.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&to);
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (to.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&to);
    if (IN6_IS_ADDR_UNSPECIFIED(&in->sin6_addr)) in->sin6_addr = in6addr_loopback;
  }
  for (size_t k = 0; k < f.queued.size(); k++) {
    const std::string& from = k < f.queued_from.size() ? f.queued_from[k] : std::string();
    int src = -1;
    bool temp = false;
    if (!from.empty())
      for (const FdInfo& g : fds)
        if (g.kind == FdKind::kSocket && g.sock_type == SOCK_DGRAM &&
            g.sock_family == f.sock_family && g.addr == from) {
          auto it = sockets.find(g.ino);
          if (it != sockets.end()) src = it->second;
          break;
        }
    if (src < 0) {
      src = ::socket(int(f.sock_family), SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (src < 0) return fail("socket");
      temp = true;
      bool path = f.sock_family == AF_UNIX && from.size() > offsetof(sockaddr_un, sun_path) &&
                  from[offsetof(sockaddr_un, sun_path)] != '\0';
      if (!from.empty() && !path)
        (void)::bind(src, reinterpret_cast<const sockaddr*>(from.data()), socklen_t(from.size()));
    }
    const std::string& q = f.queued[k];
    ssize_t n = ::sendto(src, q.data(), q.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                         reinterpret_cast<const sockaddr*>(&to), tl);
    int err = errno;
    if (temp) ::close(src);
    errno = err;
    if (n != ssize_t(q.size())) return fail("send");
  }
  return true;
}

const char* check_socket(const FdInfo& f) {
  if (f.sock_family != AF_UNIX && f.sock_family != AF_INET && f.sock_family != AF_INET6)
    return "a socket of an unknown family";
  if (f.sock_type != SOCK_STREAM && f.sock_type != SOCK_DGRAM && f.sock_type != SOCK_SEQPACKET)
    return "a socket of an unknown type";
  if (f.sock_state > kSocketDatagramPeer) return "a socket in an unknown state";
  auto family_of = [](const std::string& a) {
    return a.size() >= sizeof(sa_family_t) ? reinterpret_cast<const sockaddr*>(a.data())->sa_family
                                           : sa_family_t(AF_UNSPEC);
  };
  if (f.sock_state == kSocketDatagramPeer &&
      ((f.sock_family != AF_INET && f.sock_family != AF_INET6) || f.sock_type != SOCK_DGRAM ||
       f.peer_addr.size() > sizeof(sockaddr_storage) || family_of(f.addr) != f.sock_family ||
       family_of(f.peer_addr) != f.sock_family))
    return "a UDP socket's peer that is not one";
  if (!f.queued_from.empty() && f.sock_type != SOCK_DGRAM)
    return "senders' addresses on a socket that is not a datagram socket";
  for (const std::string& a : f.queued_from)
    if (a.size() > sizeof(sockaddr_storage) || (!a.empty() && family_of(a) != f.sock_family))
      return "a queued datagram's sender of another family";
  if (f.sock_state == kSocketConnected &&
      ((f.sock_family != AF_INET && f.sock_family != AF_INET6) || f.sock_type != SOCK_STREAM ||
       f.addr.size() < sizeof(sa_family_t) || f.peer_addr.size() < sizeof(sa_family_t) ||
       f.peer_addr.size() > sizeof(sockaddr_storage) ||
       reinterpret_cast<const sockaddr*>(f.addr.data())->sa_family != f.sock_family ||
       reinterpret_cast<const sockaddr*>(f.peer_addr.data())->sa_family != f.sock_family))
    return "a TCP connection that is not one";
  if (f.addr.size() > sizeof(sockaddr_storage)) return "a socket address too long";
  if (f.sock_state != kSocketConnected && f.sock_state != kSocketDatagramPeer &&
      !f.peer_addr.empty())
    return "a peer address on a socket that is not connected";
  if ((f.sock_state == kSocketBound || f.sock_state == kSocketListening ||
       f.sock_state == kSocketDatagramPeer) &&
      (f.addr.size() < sizeof(sa_family_t) ||
       reinterpret_cast<const sockaddr*>(f.addr.data())->sa_family != f.sock_family))
    return "a socket address of another family";
  if (unix_path_name(f)) {
    std::string path(f.addr.data() + offsetof(sockaddr_un, sun_path),
                     strnlen(f.addr.data() + offsetof(sockaddr_un, sun_path),
                             f.addr.size() - offsetof(sockaddr_un, sun_path)));
    if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos ||
        path.find("/./") != std::string::npos)
      return "a socket path that is not absolute and canonical";
  }
  return nullptr;
}

}  // namespace ckpt::control
