// ckpt run [--dir DIR] [--interval SECONDS] -- PROGRAM [ARGS...]
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>

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

void add_supervise_options(CLI::App* sub, control::SuperviseOptions* o, SuperviseArgs* a) {
  add_dir_option(sub, &o->dir);
  sub->add_option("--interval", a->interval, "Checkpoint every SECONDS (0: never; default 0)")
      ->envname("CKPT_INTERVAL")
      ->type_name("SECONDS");
  sub->add_option("--keep", a->keep, "Keep the newest N complete images (default 2)")
      ->envname("CKPT_KEEP")
      ->type_name("N");
  sub->add_option("--compress,--zstd", a->compress,
                  "Compress images with zstd at this level, 1 to 19 (0: off, the default)")
      ->envname("CKPT_COMPRESS")
      ->type_name("LEVEL");
  sub->add_option("--signal", a->signal,
                  "Signal to ckpt that checkpoints and continues (default USR1; none: off)")
      ->envname("CKPT_SIGNAL")
      ->type_name("SIG");
  sub->add_option("--stop-signal", a->stop_signal,
                  "Signal to ckpt that checkpoints and stops, exit status 85 (default none)")
      ->envname("CKPT_STOP_SIGNAL")
      ->type_name("SIG");
  sub->add_flag("--quiet", o->quiet, "No progress display on a terminal")->envname("CKPT_QUIET");
}

bool resolve_supervise_options(const SuperviseArgs& a, control::SuperviseOptions* o) {
  if (!a.interval.empty()) {
    char* end = nullptr;
    double v = std::strtod(a.interval.c_str(), &end);
    if (*end != '\0' || !(v >= 0 && v <= 31536000)) {
      usage("--interval %s: give seconds, from 0 (never) to 31536000", a.interval.c_str());
      return false;
    }
    o->interval_s = v;
  }
  if (!a.keep.empty() && !parse_number("--keep", a.keep, 1, 1000, &o->keep)) return false;
  if (!a.compress.empty() && !parse_number("--compress", a.compress, 0, 19, &o->zstd_level))
    return false;
  o->ckpt_signal = parse_signal(a.signal);
  o->stop_signal = parse_signal(a.stop_signal);
  for (const std::string* name : {&a.signal, &a.stop_signal})
    if (parse_signal(*name) < 0) {
      usage("unknown signal %s (give a name such as USR1, TERM, INT, or a number)", name->c_str());
      return false;
    }
  if (o->ckpt_signal > 0 && o->ckpt_signal == o->stop_signal) {
    usage("--signal and --stop-signal are both %s: give two different signals", a.signal.c_str());
    return false;
  }
  for (int sig : {o->ckpt_signal, o->stop_signal})
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) {
      usage("signal %d cannot be used to ask for a checkpoint", sig);
      return false;
    }
  return true;
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
  auto a = std::make_shared<SuperviseArgs>();
  auto argv = std::make_shared<std::vector<std::string>>();
  auto fresh = std::make_shared<bool>(false);
  add_supervise_options(sub, o.get(), a.get());
  sub->add_flag("--fresh", *fresh, "Start over even if DIR holds a resumable run");
  sub->add_option("PROGRAM", *argv, "The program and its arguments (after --)")
      ->required()
      ->type_name("");
  sub->footer(
      "If DIR holds a checkpoint of a run that has not finished (it was stopped by a checkpoint,\n"
      "killed by a signal, or its restart failed), that run is resumed instead; --fresh starts\n"
      "over. Only the program's own exit marks a run finished.\n"
      "Exit status: the program's; 85 if it was stopped by `ckpt checkpoint --stop` or the stop "
      "signal.");
  return [o, a, argv, fresh] {
    if (!resolve_supervise_options(*a, o.get())) return kExitUsage;
    if (!*fresh && control::resumable(o->dir)) return restart_job(*o);
    return supervise_fresh(*o, *argv);
  };
}

}  // namespace ckpt::cli
