#include "control/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ckpt::control {
namespace {

// sun_path holds 108 bytes; longer directories go through /proc/self/fd.
Status make_addr(const std::string& dir, sockaddr_un* a, int* dir_fd) {
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  *dir_fd = -1;
  std::string path = control_path(dir);
  if (path.size() < sizeof a->sun_path) {
    std::memcpy(a->sun_path, path.c_str(), path.size());
    return Status::ok();
  }
  *dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dir_fd < 0) return Status::make(Code::kIo, errno, "cannot open %s", dir.c_str());
  std::snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/control", *dir_fd);
  return Status::ok();
}

// The next space-separated word of *s, consumed with its space.
std::string_view word(std::string_view* s) {
  size_t sp = s->find(' ');
  std::string_view w = s->substr(0, sp);
  *s = sp == std::string_view::npos ? std::string_view() : s->substr(sp + 1);
  return w;
}

bool parse_u64(std::string_view w, uint64_t* v) {
  auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), *v);
  return !w.empty() && ec == std::errc() && p == w.data() + w.size();
}

bool parse_seconds(std::string_view w, double* v) {
  auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), *v, std::chars_format::fixed);
  return !w.empty() && ec == std::errc() && p == w.data() + w.size() && std::isfinite(*v) &&
         *v >= 0;
}

}  // namespace

std::string control_path(const std::string& dir) { return dir + "/control"; }

Status listen_control(const std::string& dir, int* fd) {
  sockaddr_un a;
  int dir_fd;
  CKPT_RETURN_IF_ERROR(make_addr(dir, &a, &dir_fd));
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return Status::make(Code::kIo, errno, "cannot create a socket");
  ::unlink(control_path(dir).c_str());  // we hold the job lock: a leftover is stale
  mode_t old = ::umask(077);
  int r = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  ::umask(old);
  if (dir_fd >= 0) ::close(dir_fd);
  if (r != 0 || ::listen(s, 8) != 0) {
    if (r == 0) err = errno;
    ::close(s);
    return Status::make(Code::kIo, err, "cannot create the control socket %s",
                        control_path(dir).c_str());
  }
  *fd = s;
  return Status::ok();
}

Status connect_control(const std::string& dir, int* fd) {
  sockaddr_un a;
  int dir_fd;
  CKPT_RETURN_IF_ERROR(make_addr(dir, &a, &dir_fd));
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::make(Code::kIo, errno, "cannot create a socket");
  int r = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  if (dir_fd >= 0) ::close(dir_fd);
  if (r != 0) {
    ::close(s);
    if (err == ENOENT || err == ECONNREFUSED)
      return Status::make(
          Code::kNotFound, 0,
          "no job is running for %s (start one with `ckpt run --dir %s -- PROGRAM`)", dir.c_str(),
          dir.c_str());
    return Status::make(Code::kIo, err, "cannot reach the job of %s", dir.c_str());
  }
  // The job must be ours too: a socket another user put in its place would
  // otherwise answer for it (and could claim a checkpoint was made).
  ucred cred;
  socklen_t len = sizeof cred;
  if (::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
    ::close(s);
    return Status::make(Code::kInvalid, 0,
                        "the control socket of %s is served by another user (uid %u): refused",
                        dir.c_str(), unsigned(cred.uid));
  }
  *fd = s;
  return Status::ok();
}

Status accept_control(int listen_fd, int* fd) {
  int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return Status::make(Code::kIo, errno, "accept failed");
  ucred cred;
  socklen_t len = sizeof cred;
  if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
    ::close(c);
    return Status::make(Code::kInvalid, 0, "refused a control connection from another user");
  }
  *fd = c;
  return Status::ok();
}

Status send_line(int fd, const std::string& line) {
  std::string s = line + "\n";
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::make(Code::kIo, errno, "cannot send on the control socket");
    done += size_t(n);
  }
  return Status::ok();
}

Status recv_line(int fd, std::string* line, int timeout_ms) {
  line->clear();
  for (;;) {
    pollfd p = {fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Status::make(Code::kIo, ETIMEDOUT, "no answer on the control socket");
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::make(Code::kIo, errno, "control socket");
    if (n == 0) return Status::make(Code::kIo, 0, "the job closed the connection (it ended?)");
    if (c == '\n') return Status::ok();
    if (line->size() > 4096) return Status::make(Code::kInvalid, 0, "control line too long");
    line->push_back(c);
  }
}

bool parse_request(std::string_view line, bool* stop) {
  *stop = line == "checkpoint stop";
  return line == "checkpoint" || *stop;
}

std::string format_reply(const Reply& r) {
  if (!r.ok) return "error " + r.error;
  char buf[400];  // fixed notation of any double: up to 309 digits, the point, 3 decimals
  int n = std::snprintf(buf, sizeof buf, "ok %llu %llu ", (unsigned long long)r.generation,
                        (unsigned long long)r.bytes);
  std::string s(buf, size_t(n));
  for (double d : {r.pause_s, r.total_s}) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed, 3);
    s.append(buf, ec == std::errc() ? p : buf);
    s += ' ';
  }
  return s + r.path;
}

bool parse_reply(std::string_view line, Reply* r) {
  *r = Reply();
  if (line.substr(0, 6) == "error ") {
    r->error = line.substr(6);
    return true;
  }
  if (line.substr(0, 3) != "ok ") return false;
  line.remove_prefix(3);
  if (!parse_u64(word(&line), &r->generation) || !parse_u64(word(&line), &r->bytes) ||
      !parse_seconds(word(&line), &r->pause_s) || !parse_seconds(word(&line), &r->total_s) ||
      line.empty())
    return false;
  r->path = line;
  r->ok = true;
  return true;
}

}  // namespace ckpt::control
