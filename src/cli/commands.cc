#include <errno.h>
#include <time.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "cli/command.h"
#include "format/jobdir.h"

namespace ckpt::cli {

namespace {

// ckpt help [COMMAND]: the same text as `ckpt [COMMAND] --help`.
std::function<int()> setup_help(CLI::App* sub) {
  auto topic = std::make_shared<std::string>();
  sub->add_option("COMMAND", *topic, "The command to explain");
  CLI::App* root = sub->get_parent();
  return [root, topic] {
    if (topic->empty()) {
      // root->help() would give this command's help: it is the one selected.
      std::fputs(root->get_formatter()->make_help(root, "ckpt", CLI::AppFormatMode::Normal).c_str(),
                 stdout);
      return 0;
    }
    for (const Command& c : commands()) {
      if (*topic != c.name) continue;
      if (c.run_raw) return c.run_raw({"--help"});
      std::fputs(root->get_subcommand(c.name)->help("ckpt").c_str(), stdout);
      return 0;
    }
    return usage("help: unknown command '%s' (see 'ckpt help')", topic->c_str());
  };
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"status",
       "Show a job's state: running, resumable or finished, its command, newest sound checkpoint "
       "and last failure",
       setup_status},
      {"list", "List the images in a checkpoint directory, damaged ones marked", setup_list},
      {"inspect", "Decode an image file: header, records, entries", setup_inspect},
      {"verify", "Check every image's checksums; nonzero exit if one is damaged", setup_verify},
      {"check", "Report what this kernel allows; nonzero exit if transparent mode cannot work",
       setup_check},
      {"run", "Run an unmodified program so that it can be checkpointed", setup_run},
      {"checkpoint", "Checkpoint a running job now (--stop: and end it)", setup_checkpoint},
      {"restart", "Resume a job from its newest complete image", setup_restart},
      {"sbatch", "Submit a Slurm job that checkpoints before its limit and requeues until done",
       setup_sbatch, run_sbatch, [] { return sbatch_help(true); }},
      {"slurm-script", "Print the batch script that 'ckpt sbatch' would submit", setup_slurm_script,
       run_slurm_script, [] { return sbatch_help(false); }},
      {"help", "Show the help of ckpt or of one of its commands", setup_help},
  };
  return table;
}

// One "ckpt: ..." line on stderr; returns status.
static int say(int status, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::fprintf(stderr, "ckpt: %s\n", buf);
  return status;
}

int fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = say(kExitError, fmt, ap);
  va_end(ap);
  return r;
}

int usage(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = say(kExitUsage, fmt, ap);
  va_end(ap);
  return r;
}

bool parse_number(const char* option, const std::string& text, long lo, long hi, int* out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    usage("%s %s: give a whole number from %ld to %ld", option, text.c_str(), lo, hi);
    return false;
  }
  *out = int(v);
  return true;
}

void add_dir_option(CLI::App* sub, std::string* dir) {
  *dir = format::default_dir();
  sub->add_option("--dir", *dir, "Checkpoint directory ($CKPT_DIR, else ckpt.d)")->type_name("DIR");
}

std::string docs_footer(const char* name) {
  std::string page = name ? std::string("ckpt-") + name : "ckpt";
  return "Manual: man " + page +
         (name ? "; every setting and its environment variable: man ckpt." : ".");
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
