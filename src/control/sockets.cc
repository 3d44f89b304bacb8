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
  ::close(s);
  if (f->sock_family != AF_UNIX && f->sock_family != AF_INET && f->sock_family != AF_INET6)
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
  } else if (connected) {
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

const char* check_socket(const FdInfo& f) {
  if (f.sock_family != AF_UNIX && f.sock_family != AF_INET && f.sock_family != AF_INET6)
    return "a socket of an unknown family";
  if (f.sock_type != SOCK_STREAM && f.sock_type != SOCK_DGRAM && f.sock_type != SOCK_SEQPACKET)
    return "a socket of an unknown type";
  if (f.sock_state > kSocketConnected) return "a socket in an unknown state";
  if (f.sock_state == kSocketConnected &&
      ((f.sock_family != AF_INET && f.sock_family != AF_INET6) || f.sock_type != SOCK_STREAM ||
       f.addr.size() < sizeof(sa_family_t) || f.peer_addr.size() < sizeof(sa_family_t) ||
       f.peer_addr.size() > sizeof(sockaddr_storage) ||
       reinterpret_cast<const sockaddr*>(f.addr.data())->sa_family != f.sock_family ||
       reinterpret_cast<const sockaddr*>(f.peer_addr.data())->sa_family != f.sock_family))
    return "a TCP connection that is not one";
  if (f.addr.size() > sizeof(sockaddr_storage)) return "a socket address too long";
  if (f.sock_state != kSocketConnected && !f.peer_addr.empty())
    return "a peer address on a socket that is not connected";
  if ((f.sock_state == kSocketBound || f.sock_state == kSocketListening) &&
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
