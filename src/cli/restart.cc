// ckpt restart [--dir DIR]: resumes the newest complete image in DIR, as a
// new supervised job (so it can be checkpointed again).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/command.h"
#include "cli/progress.h"
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
  // Progress: the image is read once to check it, and its pages once more
  // by the restorer (a compressed one: unpacked, then read): about twice its size.
  struct stat st;
  uint64_t size = ::stat(gens.back().path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
  Progress progress(
      "restart", [] { return bytes_read_by_tree(int(::getpid())); }, 2 * size, o.quiet,
      [&sup] { return sup.restored(); });
  control::RestorePlan plan;
  for (size_t i = gens.size(); i-- > 0;) {
    plan = control::RestorePlan();
    s = control::prepare_restore(gens[i].path, &plan, ro);
    if (s.is_ok()) break;
    control::close_plan_fds(&plan);
    std::string aside;
    if (s.code() == Code::kCorrupt) {
      // As libckpt does: kept for inspection, out of the way of generations.
      std::string kept = gens[i].path + ".damaged";
      if (::rename(gens[i].path.c_str(), kept.c_str()) == 0) aside = "; set aside as " + kept;
    }
    if (s.code() != Code::kCorrupt || i == 0) {
      sup.record_failure(std::string("restart failed: ") + s.message() + aside, true);
      return fail("%s%s", s.message(), aside.c_str());
    }
    std::fprintf(stderr, "ckpt: %s%s; using the previous image\n", s.message(), aside.c_str());
  }
  // A namespace-mode image where namespaces cannot be had: said in full here
  // (a Status message is cut at 240 characters).
  if (plan.job.pid_ns) {
    control::Userns u = control::probe_userns();
    if (!u.ok) {
      control::close_plan_fds(&plan);
      std::string why = control::namespace_image_refusal(u);
      sup.record_failure("restart refused: " + why, true);
      return fail("%s", why.c_str());
    }
  }
  s = sup.launch_restored(plan);
  if (!s.is_ok()) return fail("%s", s.message());
  return sup.run();
}

std::function<int()> setup_restart(CLI::App* sub) {
  auto o = std::make_shared<control::SuperviseOptions>();
  auto a = std::make_shared<SuperviseArgs>();
  add_supervise_options(sub, o.get(), a.get());
  auto ro = std::make_shared<control::RestoreOptions>();
  sub->add_option("--allow-changed", ro->allow_changed,
                  "Restart although FILE (the executable or a library) changed since the "
                  "checkpoint; repeatable")
      ->type_name("FILE");
  sub->footer("Exit status: the resumed program's; 85 if stopped again by a checkpoint --stop.");
  return [o, a, ro] {
    if (!resolve_supervise_options(*a, o.get())) return kExitUsage;
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
