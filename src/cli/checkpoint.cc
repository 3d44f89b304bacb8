// ckpt checkpoint [--dir DIR] [--stop]: asks the job's supervisor to write an
// image now; returns once it is complete and durable.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "cli/command.h"
#include "cli/progress.h"
#include "control/protocol.h"
#include "format/jobdir.h"

namespace ckpt::cli {

std::function<int()> setup_checkpoint(CLI::App* sub) {
  auto dir = std::make_shared<std::string>();
  auto stop = std::make_shared<bool>(false);
  add_dir_option(sub, dir.get());
  sub->add_flag("--stop", *stop,
                "End the program after the checkpoint (`ckpt run` then exits with status 85)");
  auto quiet = std::make_shared<bool>(false);
  sub->add_flag("--quiet", *quiet, "No progress display on a terminal")->envname("CKPT_QUIET");
  return [dir, stop, quiet] {
    format::JobDir jd;
    Status s = jd.open(*dir, false);
    if (!s.is_ok()) return fail("%s", s.message());
    int fd;
    s = control::connect_control(jd.dir(), &fd);
    if (!s.is_ok()) return fail("%s", s.message());
    s = control::send_line(fd, *stop ? "checkpoint stop" : "checkpoint");
    std::string reply;
    {
      // Progress: the image being written grows in DIR; the newest complete
      // one is the estimate of its size.
      auto gens = jd.list();
      struct stat st;
      uint64_t estimate =
          !gens.empty() && ::stat(gens.back().path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
      if (estimate == 0 && jd.holder_pid() > 0) estimate = resident_bytes_below(jd.holder_pid());
      auto seen = std::make_shared<uint64_t>(0);
      std::string d = jd.dir();
      Progress progress(
          "checkpoint",
          [d, seen] {
            if (DIR* dp = ::opendir(d.c_str())) {
              while (dirent* e = ::readdir(dp)) {
                std::string n = e->d_name;
                struct stat fst;
                if (n.size() > 8 && n.rfind(".ckpt-", 0) == 0 &&
                    n.compare(n.size() - 8, 8, ".img.tmp") == 0 &&
                    ::stat((d + "/" + n).c_str(), &fst) == 0 && uint64_t(fst.st_size) > *seen)
                  *seen = uint64_t(fst.st_size);
              }
              ::closedir(dp);
            }
            return *seen;
          },
          estimate, *quiet);
      if (s.is_ok()) s = control::recv_line(fd, &reply, -1);
    }
    ::close(fd);
    if (!s.is_ok()) return fail("%s", s.message());
    control::Reply r;
    if (!control::parse_reply(reply, &r))
      return fail("unexpected answer from the job: %s", reply.c_str());
    if (!r.ok) return fail("checkpoint failed: %s", r.error.c_str());
    if (::isatty(1))
      std::printf("checkpoint %llu: %s, %s, paused %.3f s, total %.3f s%s\n",
                  (unsigned long long)r.generation, r.path.c_str(), human_bytes(r.bytes).c_str(),
                  r.pause_s, r.total_s, *stop ? "; program stopped" : "");
    else std::printf("%s\n", r.path.c_str());
    return 0;
  };
}

}  // namespace ckpt::cli
