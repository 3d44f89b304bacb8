// ckpt restart [--dir DIR]: resumes the newest complete image in DIR, as a
// new supervised job (so it can be checkpointed again).
#include <unistd.h>

#include <cstdlib>

#include "cli/command.h"
#include "cli/transparent.h"
#include "control/userns.h"
#include "format/jobdir.h"

namespace ckpt::cli {

int restart_job(control::SuperviseOptions o, const control::RestoreOptions& ro) {
  control::Supervisor sup(o);
  Status s = sup.open_job();
  if (!s.is_ok()) return fail("%s", s.message());
  auto gens = sup.job().list();
  if (gens.empty()) return fail("no checkpoint in %s to restart from", sup.job().dir().c_str());
  control::RestorePlan plan;
  for (size_t i = gens.size(); i-- > 0;) {
    plan = control::RestorePlan();
    s = control::prepare_restore(gens[i].path, &plan, ro);
    if (s.is_ok()) break;
    control::close_plan_fds(&plan);
    if (s.code() != Code::kCorrupt || i == 0) return fail("%s", s.message());
    std::fprintf(stderr, "ckpt: %s; using the previous image\n", s.message());
  }
  // A namespace-mode image where namespaces cannot be had: said in full here
  // (a Status message is cut at 240 characters).
  if (plan.info.pid_ns) {
    control::Userns u = control::probe_userns();
    if (!u.ok) {
      control::close_plan_fds(&plan);
      return fail("%s", control::namespace_image_refusal(u).c_str());
    }
  }
  s = sup.launch_restored(plan);
  if (!s.is_ok()) return fail("%s", s.message());
  return sup.run();
}

std::function<int()> setup_restart(CLI::App* sub) {
  auto o = std::make_shared<control::SuperviseOptions>();
  o->dir = format::default_dir();
  auto sig = std::make_shared<std::string>("USR1");
  auto stop_sig = std::make_shared<std::string>();
  add_supervise_options(sub, o.get(), sig.get(), stop_sig.get());
  auto ro = std::make_shared<control::RestoreOptions>();
  sub->add_option("--allow-changed", ro->allow_changed,
                  "Restart although FILE (the executable or a library) changed since the "
                  "checkpoint; repeatable")
      ->type_name("FILE");
  sub->footer("Exit status: the resumed program's; 85 if stopped again by a checkpoint --stop.");
  return [o, sig, stop_sig, ro] {
    o->ckpt_signal = parse_signal(*sig);
    o->stop_signal = parse_signal(*stop_sig);
    if (o->ckpt_signal < 0 || o->stop_signal < 0) return fail("unknown signal name");
    // By the path the image records, as /proc showed it: canonical.
    for (std::string& f : ro->allow_changed)
      if (char* real = ::realpath(f.c_str(), nullptr)) {
        f = real;
        std::free(real);
      }
    return restart_job(*o, *ro);
  };
}

}  // namespace ckpt::cli
