#include <time.h>

#include <cstdarg>
#include <cstdio>

#include "cli/command.h"

namespace ckpt::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"status", "Show a job's state: running or not, newest checkpoint, its age and size",
       setup_status},
      {"list", "List the images in a checkpoint directory", setup_list},
      {"inspect", "Decode an image file: header, records, entries", setup_inspect},
      {"verify", "Check every image's checksums; nonzero exit if one is damaged", setup_verify},
      {"check", "Report what this kernel allows; nonzero exit if transparent mode cannot work",
       setup_check},
      {"run", "Run an unmodified program so that it can be checkpointed", setup_run},
      {"checkpoint", "Checkpoint a running job now (--stop: and end it)", setup_checkpoint},
      {"restart", "Resume a job from its newest complete image", setup_restart},
      {"sbatch", "Submit a Slurm job that checkpoints before its limit and requeues until done",
       setup_sbatch, run_sbatch},
      {"slurm-script", "Print the batch script that 'ckpt sbatch' would submit",
       setup_slurm_script, run_slurm_script},
  };
  return table;
}

int fail(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "ckpt: %s\n", buf);
  return kExitError;
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)n);
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string human_age(uint64_t created_ns) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = int64_t(ts.tv_sec);
  int64_t age = now - int64_t(created_ns / 1000000000ull);
  if (age < 0) age = 0;
  char buf[32];
  if (age < 120) std::snprintf(buf, sizeof buf, "%llds ago", (long long)age);
  else if (age < 7200) std::snprintf(buf, sizeof buf, "%lldmin ago", (long long)age / 60);
  else if (age < 172800) std::snprintf(buf, sizeof buf, "%lldh ago", (long long)age / 3600);
  else std::snprintf(buf, sizeof buf, "%lld days ago", (long long)age / 86400);
  return buf;
}

}  // namespace ckpt::cli
