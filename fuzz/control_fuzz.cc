// Fuzz target: what comes in on a job's control socket. The bytes are sent
// through a socket pair and read back line by line with recv_line, as the
// supervisor reads requests and `ckpt checkpoint` reads replies; each line
// goes to parse_request and parse_reply, and a reply that parses must
// survive format_reply unchanged.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "control/protocol.h"

using ckpt::control::Reply;

namespace {

void check_line(const std::string& line) {
  bool stop;
  (void)ckpt::control::parse_request(line, &stop);
  Reply r, again;
  if (!ckpt::control::parse_reply(line, &r)) return;
  if (!ckpt::control::parse_reply(ckpt::control::format_reply(r), &again) || again.ok != r.ok ||
      again.generation != r.generation || again.bytes != r.bytes || again.path != r.path ||
      again.error != r.error)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;  // the socket buffer holds it all
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  int sndbuf = 1 << 18;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (write(sv[0], data, size) == ssize_t(size)) {
    shutdown(sv[0], SHUT_WR);
    std::string line;
    for (int i = 0; i < 100000 && ckpt::control::recv_line(sv[1], &line, 0).is_ok(); i++)
      check_line(line);
  }
  close(sv[0]);
  close(sv[1]);
  check_line(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
