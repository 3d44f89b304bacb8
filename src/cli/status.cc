#include "cli/command.h"
#include "format/jobdir.h"
#include "format/reader.h"

namespace ckpt::cli {

std::function<int()> setup_status(CLI::App* sub) {
  auto dir = std::make_shared<std::string>(format::default_dir());
  sub->add_option("--dir", *dir, "Checkpoint directory ($CKPT_DIR, else ckpt.d)");
  return [dir] {
    format::JobDir jd;
    Status s = jd.open(*dir, false);
    if (!s.is_ok()) return fail("%s", s.message());
    std::printf("directory:   %s\n", jd.dir().c_str());
    int pid = jd.holder_pid();
    if (pid > 0) std::printf("state:       running (pid %d)\n", pid);
    else if (pid < 0) std::printf("state:       running\n");
    else std::printf("state:       not running\n");
    print_slurm_status(jd.dir());
    auto gens = jd.list();
    if (gens.empty()) {
      std::printf("checkpoints: none\n");
      return 0;
    }
    format::ImageReader r;
    const auto& newest = gens.back();
    s = r.open(newest.path);
    std::printf("checkpoints: %zu complete\n", gens.size());
    if (!s.is_ok()) {
      std::printf("newest:      generation %llu: %s\n", (unsigned long long)newest.number,
                  s.message());
      return kExitError;
    }
    std::printf("newest:      generation %llu, %s, %s (%s)\n", (unsigned long long)newest.number,
                r.header().kind == format::Kind::kApp ? "application state" : "process image",
                human_bytes(r.file_size()).c_str(), human_age(r.header().created_ns).c_str());
    return 0;
  };
}

}  // namespace ckpt::cli
