// A Slurm job that checkpoints before its time limit and goes on until its
// program finishes: the arguments of `ckpt sbatch` / `ckpt slurm-script`,
// their checks, and the batch script they make. Pure functions: nothing here
// runs Slurm or touches the disk (see cli/sbatch.cc for that).
//
// How the script works (docs/slurm.md has the why):
//   - `#SBATCH --signal=B:USR1@LEAD`: Slurm signals the batch shell LEAD to
//     LEAD+30 s before the limit (slurmctld checks limits every 30 s).
//   - The program runs as `srun … &` and the shell waits, so its trap fires.
//   - On USR1 the shell asks for a checkpoint (app mode: `scancel -s SIG` to
//     the steps; transparent mode: `ckpt checkpoint --stop`), WAITS for the
//     step to end (requeueing first would kill a checkpoint being written),
//     and only when the program stopped with status 85 (saved) requeues the
//     job, or submits the next job of a chain.
//   - It stops when the program finishes, after --max-restarts, or when a
//     checkpoint failed, and says why in the output (lines "ckpt-slurm: …").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::slurm {

enum class Chain { kNone, kAfterAny, kSingleton };

struct Request {
  // ckpt's own options.
  std::string dir;  // empty: $CKPT_DIR, else ckpt.d
  int lead = -1;    // seconds before the limit; -1: default_lead()
  int max_restarts = 20;
  Chain chain = Chain::kNone;
  bool app = false;                // the program uses libckpt: only signal it
  std::string app_signal = "INT";  // what it is sent in app mode (a libckpt stop signal)
  std::string srun_mpi;            // --mpi=TYPE: srun's MPI plugin (app mode, ckpt::mpi programs)
  double interval = 0;             // transparent mode: `ckpt run --interval`
  bool help = false;
  std::vector<std::string> program;  // PROGRAM ARGS...

  // sbatch's options, in order, as given.
  std::vector<std::string> sbatch_args;
  // Picked out of them.
  int64_t time_limit = -1;  // seconds; -1: not given
  std::string output;       // --output, empty: not given
  std::string job_name;     // --job-name, empty: not given
  // Options only for the first submission (not written into the script).
  std::vector<std::string> submit_only_args;
};

// Parses the arguments after `ckpt sbatch`: ckpt's options and sbatch's, in
// any order, then `--` (optional when PROGRAM does not start with '-'),
// then PROGRAM ARGS. Unknown options, options ckpt sets itself (--signal,
// --open-mode=truncate, --wrap, --array) and bad numbers are errors.
Status parse_args(const std::vector<std::string>& args, Request* out);

// Slurm's time formats: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S".
// Seconds; 0 for "infinite"/"unlimited"; -1 if malformed.
int64_t parse_time(std::string_view s);

// The lead used when --lead is not given: 60 s, or a third of a limit
// shorter than 3 minutes.
int default_lead(int64_t time_limit);

// Checks that need no Slurm and fills in the default lead. `warning` gets a
// note for the user (may stay empty).
Status check(Request* r, std::string* warning);

// Where things go; absolute paths.
struct Paths {
  std::string dir;     // the checkpoint directory
  std::string script;  // DIR/job.sbatch
  std::string output;  // --output, else DIR/job.out
  std::string state;   // DIR/slurm.state, written by the script
  std::string ckpt;    // the ckpt executable the script calls
};
Paths paths_for(const Request& r, const std::string& abs_dir, const std::string& ckpt_exe);

// The batch script (bash). `version` goes into its header comment.
std::string batch_script(const Request& r, const Paths& p, std::string_view version);

// The shell quoting of one word ('…' with embedded quotes escaped).
std::string shell_quote(std::string_view s);

// The state file the script writes: key=value lines.
struct JobState {
  std::string job_id, next_job_id, state, reason, mode, output;
  int run = -1;  // 1 for the first run; -1 unknown
  int max_restarts = -1;
  int64_t updated = 0;          // unix time
  int64_t last_checkpoint = 0;  // unix time of the last saved checkpoint
};
JobState parse_state(std::string_view text);

// What Slurm's commands print, as ckpt reads it.
// `sbatch --parsable`: "JOBID" or "JOBID;CLUSTER"; empty for --test-only.
std::string sbatch_job_id(std::string_view out);
// sbatch's reason for a refusal: its last line, without "sbatch: error: ".
std::string sbatch_reason(std::string_view err);
// `squeue -o "%T %L"`: the state and the time left.
void parse_queue_line(std::string_view out, std::string* state, std::string* left);

}  // namespace ckpt::slurm
