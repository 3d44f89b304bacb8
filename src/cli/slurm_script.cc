// ckpt slurm-script: prints the batch script that `ckpt sbatch` submits, for
// people who want to read or edit it. Same arguments; needs no Slurm.
#include "cli/command.h"

namespace ckpt::cli {

std::function<int()> setup_slurm_script(CLI::App* sub) {
  sub->footer("Run 'ckpt slurm-script --help' for its options (as ckpt sbatch's).");
  return [] { return sbatch_main({}, false); };
}

int run_slurm_script(const std::vector<std::string>& args) { return sbatch_main(args, false); }

}  // namespace ckpt::cli
