// The Slurm part of `ckpt status`: what the batch script of `ckpt sbatch`
// recorded in DIR/slurm.state, and the job's time left from squeue.
#include <time.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "slurm/exec.h"
#include "slurm/job.h"

namespace ckpt::cli {

void print_slurm_status(const std::string& dir) {
  std::ifstream f(dir + "/slurm.state");
  if (!f) return;
  std::stringstream ss;
  ss << f.rdbuf();
  slurm::JobState st = slurm::parse_state(ss.str());
  if (st.job_id.empty()) return;
  std::string job = st.job_id;
  // A chain moves on to a new job id; follow it.
  if (!st.next_job_id.empty()) job = st.next_job_id;
  std::printf("slurm job:   %s (%s)", job.c_str(), st.mode.c_str());
  if (st.run > 0) {
    // Runs count from 1, as the script's lines and slurm.state's run= do;
    // a requeued job or a chained next job is the next run.
    int runs = st.run + (!st.next_job_id.empty() || st.state == "requeued" ? 1 : 0);
    std::printf(", run %d so far, %d restart%s", runs, runs - 1, runs == 2 ? "" : "s");
    if (st.max_restarts >= 0) std::printf(" of at most %d", st.max_restarts);
  }
  std::printf("\n");
  std::printf("slurm state: %s", st.state.c_str());
  if (!st.reason.empty() && st.reason != st.state) std::printf(": %s", st.reason.c_str());
  if (st.updated > 0) std::printf(" (%s)", human_age(uint64_t(st.updated) * 1000000000ull).c_str());
  std::printf("\n");
  if (st.last_checkpoint > 0)
    std::printf("last saved:  %s, at a warning\n",
                human_age(uint64_t(st.last_checkpoint) * 1000000000ull).c_str());
  // Time left, while Slurm still knows the job.
  if (!slurm::find_program("squeue").empty()) {
    std::string out;
    if (slurm::run_command({"squeue", "-h", "-j", job, "-o", "%T %L"}, &out, nullptr) == 0 &&
        !out.empty()) {
      std::string state, left;
      slurm::parse_queue_line(out, &state, &left);
      std::printf("queue:       %s", state.c_str());
      if (state == "RUNNING") std::printf(", %s left", left.c_str());
      std::printf("\n");
    }
  }
  if (!st.output.empty()) std::printf("output:      %s\n", st.output.c_str());
}

}  // namespace ckpt::cli
