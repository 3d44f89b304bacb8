// The job's control socket: DIR/control, a unix stream socket inside the
// 0700 job directory. One request line, one reply line:
//   request:  "checkpoint\n" | "checkpoint stop\n"
//   reply:    "ok GENERATION BYTES PAUSE_SECONDS TOTAL_SECONDS PATH\n"
//           | "error MESSAGE\n"
// The supervisor answers only peers with its own uid (SO_PEERCRED).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <ckpt/status.hpp>

namespace ckpt::control {

std::string control_path(const std::string& dir);
// Binds and listens (removing a stale socket); the fd is non-blocking, close-on-exec.
Status listen_control(const std::string& dir, int* fd);
// kNotFound if no supervisor listens there.
Status connect_control(const std::string& dir, int* fd);
// Accepts one connection; refuses (closes) peers of another uid.
Status accept_control(int listen_fd, int* fd);
Status send_line(int fd, const std::string& line);
// Reads one line (without the newline), waiting at most timeout_ms (-1: forever).
Status recv_line(int fd, std::string* line, int timeout_ms);

// A request line; false for anything else. *stop: "checkpoint stop".
bool parse_request(std::string_view line, bool* stop);

struct Reply {
  bool ok = false;
  uint64_t generation = 0, bytes = 0;
  double pause_s = 0, total_s = 0;
  std::string path;   // ok: the image, may hold spaces
  std::string error;  // not ok: the message
};
std::string format_reply(const Reply& r);
// False for a line that is neither "ok ..." nor "error ...".
bool parse_reply(std::string_view line, Reply* r);

}  // namespace ckpt::control
