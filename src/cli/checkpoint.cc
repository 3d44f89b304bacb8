// ckpt checkpoint [--dir DIR] [--stop]: asks the job's supervisor to write an
// image now; returns once it is complete and durable.
#include <unistd.h>

#include <cstdlib>

#include "cli/command.h"
#include "control/protocol.h"
#include "format/jobdir.h"

namespace ckpt::cli {

std::function<int()> setup_checkpoint(CLI::App* sub) {
  auto dir = std::make_shared<std::string>();
  auto stop = std::make_shared<bool>(false);
  add_dir_option(sub, dir.get());
  sub->add_flag("--stop", *stop,
                "End the program after the checkpoint (`ckpt run` then exits with status 85)");
  return [dir, stop] {
    format::JobDir jd;
    Status s = jd.open(*dir, false);
    if (!s.is_ok()) return fail("%s", s.message());
    int fd;
    s = control::connect_control(jd.dir(), &fd);
    if (!s.is_ok()) return fail("%s", s.message());
    s = control::send_line(fd, *stop ? "checkpoint stop" : "checkpoint");
    std::string reply;
    if (s.is_ok()) s = control::recv_line(fd, &reply, -1);
    ::close(fd);
    if (!s.is_ok()) return fail("%s", s.message());
    control::Reply r;
    if (!control::parse_reply(reply, &r)) return fail("unexpected answer from the job: %s", reply.c_str());
    if (!r.ok) return fail("checkpoint failed: %s", r.error.c_str());
    if (::isatty(1))
      std::printf("checkpoint %llu: %s, %s, paused %.3f s, total %.3f s%s\n",
                  (unsigned long long)r.generation, r.path.c_str(), human_bytes(r.bytes).c_str(),
                  r.pause_s, r.total_s, *stop ? "; program stopped" : "");
    else
      std::printf("%s\n", r.path.c_str());
    return 0;
  };
}

}  // namespace ckpt::cli
