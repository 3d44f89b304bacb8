// ckpt checkpoint [--dir DIR] [--stop]: asks the job's supervisor to write an
// image now; returns once it is complete and durable.
#include <unistd.h>

#include <cstdlib>

#include "cli/command.h"
#include "control/protocol.h"
#include "format/jobdir.h"

namespace ckpt::cli {

std::function<int()> setup_checkpoint(CLI::App* sub) {
  auto dir = std::make_shared<std::string>(format::default_dir());
  auto stop = std::make_shared<bool>(false);
  sub->add_option("--dir", *dir, "Checkpoint directory ($CKPT_DIR, else ckpt.d)");
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
    if (reply.rfind("ok ", 0) == 0) {
      unsigned long long gen = 0, bytes = 0;
      double pause = 0, total = 0;
      char path[4096] = {};
      std::sscanf(reply.c_str() + 3, "%llu %llu %lf %lf %4095[^\n]", &gen, &bytes, &pause, &total, path);
      if (::isatty(1))
        std::printf("checkpoint %llu: %s, %s, paused %.3f s, total %.3f s%s\n", gen, path,
                    human_bytes(bytes).c_str(), pause, total, *stop ? "; program stopped" : "");
      else
        std::printf("%s\n", path);
      return 0;
    }
    if (reply.rfind("error ", 0) == 0) return fail("checkpoint failed: %s", reply.c_str() + 6);
    return fail("unexpected answer from the job: %s", reply.c_str());
  };
}

}  // namespace ckpt::cli
