// ckpt run [--dir DIR] [--interval SECONDS] -- PROGRAM [ARGS...]
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/command.h"
#include "cli/transparent.h"
#include "format/jobdir.h"

namespace ckpt::cli {

int parse_signal(const std::string& name) {
  if (name.empty() || name == "none") return 0;
  if (name[0] >= '0' && name[0] <= '9') {
    int n = std::atoi(name.c_str());
    return n > 0 && n < 65 ? n : -1;
  }
  std::string s = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int i = 1; i < 32; i++) {
    const char* abbrev = sigabbrev_np(i);
    if (abbrev && s == abbrev) return i;
  }
  return -1;
}

void add_supervise_options(CLI::App* sub, control::SuperviseOptions* o, std::string* sig,
                           std::string* stop_sig) {
  sub->add_option("--dir", o->dir, "Checkpoint directory ($CKPT_DIR, else ckpt.d)");
  sub->add_option("--interval", o->interval_s, "Checkpoint every SECONDS (0: never)");
  sub->add_option("--signal", *sig, "Signal to ckpt that checkpoints and continues (default USR1)");
  sub->add_option("--stop-signal", *stop_sig,
                  "Signal to ckpt that checkpoints and stops, exit status 85 (default none)");
  sub->add_option("--zstd", o->zstd_level, "Compress images with zstd at this level (0: off)");
  sub->add_option_function<std::string>(
         "--external", [o](const std::string& v) { o->refuse_external = v == "refuse"; },
         "A connection outside the job at a checkpoint: close (comes back closed after a "
         "restart, with a warning; the default) or refuse (the checkpoint fails naming it)")
      ->check(CLI::IsMember({"close", "refuse"}))
      ->envname("CKPT_EXTERNAL");
}

static int supervise_fresh(control::SuperviseOptions o, const std::vector<std::string>& argv) {
  control::Supervisor sup(o);
  Status s = sup.open_job();
  if (!s.is_ok()) return fail("%s", s.message());
  s = sup.launch(argv);
  if (!s.is_ok()) return fail("%s", s.message());
  return sup.run();
}

std::function<int()> setup_run(CLI::App* sub) {
  auto o = std::make_shared<control::SuperviseOptions>();
  o->dir = format::default_dir();
  auto sig = std::make_shared<std::string>("USR1");
  auto stop_sig = std::make_shared<std::string>();
  auto argv = std::make_shared<std::vector<std::string>>();
  add_supervise_options(sub, o.get(), sig.get(), stop_sig.get());
  sub->add_option("PROGRAM", *argv, "The program and its arguments (after --)")->required();
  sub->footer(
      "If DIR holds a complete image of an unfinished run, that run is resumed instead.\n"
      "Exit status: the program's; 85 if it was stopped by `ckpt checkpoint --stop` or the stop "
      "signal.");
  return [o, sig, stop_sig, argv] {
    o->ckpt_signal = parse_signal(*sig);
    o->stop_signal = parse_signal(*stop_sig);
    if (o->ckpt_signal < 0) return fail("unknown signal %s", sig->c_str());
    if (o->stop_signal < 0) return fail("unknown signal %s", stop_sig->c_str());
    format::JobDir jd;
    if (jd.open(o->dir, false).is_ok() && !jd.list().empty() &&
        ::access((jd.dir() + "/finished").c_str(), F_OK) != 0)
      return restart_job(*o);
    return supervise_fresh(*o, *argv);
  };
}

}  // namespace ckpt::cli
