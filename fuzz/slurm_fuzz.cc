// Fuzz target: what ckpt reads from Slurm and from the files its batch
// script writes: time limits (parse_time), the job state file
// (parse_state), squeue's end time (parse_squeue_end_time), sbatch's and
// squeue's answers (sbatch_job_id, sbatch_reason, parse_queue_line); and the
// arguments of `ckpt sbatch` (words split at NUL bytes) through parse_args,
// check and batch_script.
#include <string>
#include <string_view>
#include <vector>

#include "lib/triggers.h"
#include "slurm/job.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)ckpt::slurm::parse_time(text);
  (void)ckpt::slurm::parse_state(text);
  (void)ckpt::lib::parse_squeue_end_time(text.c_str());
  (void)ckpt::slurm::sbatch_job_id(text);
  (void)ckpt::slurm::sbatch_reason(text);
  std::string state, left;
  ckpt::slurm::parse_queue_line(text, &state, &left);

  std::vector<std::string> args;
  std::string_view rest(text);
  while (!rest.empty() && args.size() < 1000) {
    size_t nul = rest.find('\0');
    args.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  ckpt::slurm::Request r;
  std::string warning;
  if (ckpt::slurm::parse_args(args, &r).is_ok() && ckpt::slurm::check(&r, &warning).is_ok()) {
    ckpt::slurm::Paths p = ckpt::slurm::paths_for(r, "/ckpt/dir", "/usr/bin/ckpt");
    (void)ckpt::slurm::batch_script(r, p, "fuzz");
  }
  return 0;
}
