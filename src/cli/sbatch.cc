// ckpt sbatch / ckpt slurm-script: a batch script that checkpoints before the
// time limit and requeues (or chains) until the program finishes. The script
// itself is made by slurm/job.cc; this file checks what needs the machine
// (Slurm on the PATH, the program, the directory) and submits.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "ckpt_version.h"
#include "cli/command.h"
#include "format/jobdir.h"
#include "slurm/exec.h"
#include "slurm/job.h"

namespace ckpt::cli {
namespace {

const char kUsage[] =
    "Usage: ckpt %s [SBATCH OPTIONS] [CKPT OPTIONS] [--] PROGRAM [ARGS...]\n"
    "\n"
    "%s\n"
    "\n"
    "The program checkpoints before the job's time limit, the job is requeued\n"
    "(or the next job of a chain is submitted), and each new run resumes from\n"
    "the newest checkpoint, until the program finishes. Output is appended.\n"
    "It stops after --max-restarts, or when a checkpoint failed, and says why\n"
    "in the output (lines starting 'ckpt-slurm:').\n"
    "\n"
    "ckpt options:\n"
    "  --dir DIR            checkpoint directory ($CKPT_DIR, else ckpt.d); the\n"
    "                       script is DIR/job.sbatch, the output DIR/job.out\n"
    "  --lead SECONDS       warn this long before the limit (default 60; a third\n"
    "                       of limits under 3 min); Slurm checks every 30 s, so the\n"
    "                       warning comes LEAD to LEAD+30 s before the end\n"
    "  --max-restarts N     requeue at most N times (default 20)\n"
    "  --chain[=afterany|singleton]  dependent jobs instead of requeue\n"
    "  --app                the program uses libckpt: send it a signal and let it\n"
    "                       save (exit status 85); default: transparent, under\n"
    "                       'ckpt run' and 'ckpt checkpoint --stop'\n"
    "  --app-signal SIG     the signal for --app (default INT: libckpt saves and\n"
    "                       stops with status 85; TERM works too)\n"
    "  --mpi TYPE           with --app: an MPI program using libckpt's MPI mode,\n"
    "                       started by srun --mpi=TYPE (pmix for Open MPI)\n"
    "  --interval SECONDS   transparent mode: also checkpoint every so often\n"
    "\n"
    "sbatch options (--time, --partition, --ntasks, --output, ...) are checked\n"
    "and passed on; --signal, --open-mode=truncate, --wrap and --array are not\n"
    "allowed (ckpt sets the first two).\n";

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return path;
  std::string out = cwd;
  std::string rest = path;
  while (rest.rfind("./", 0) == 0) rest = rest.substr(2);
  if (rest == ".") return out;
  return out + "/" + rest;
}

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "ckpt";
  buf[n] = '\0';
  return buf;
}

bool write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << text;
    f.flush();
    if (!f) return false;
  }
  chmod(tmp.c_str(), mode);
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

std::string sbatch_help(bool submit) {
  char buf[sizeof kUsage + 256];
  std::snprintf(buf, sizeof buf, kUsage, submit ? "sbatch" : "slurm-script",
                submit ? "Submits PROGRAM as a Slurm job and prints its job id."
                       : "Prints the batch script that 'ckpt sbatch' would submit.");
  return std::string(buf) + "\n" + docs_footer(submit ? "sbatch" : "slurm-script") + "\n";
}

int sbatch_main(const std::vector<std::string>& args, bool submit) {
  const char* name = submit ? "sbatch" : "slurm-script";
  slurm::Request req;
  Status s = slurm::parse_args(args, &req);
  if (req.help) {
    std::fputs(sbatch_help(submit).c_str(), stdout);
    return 0;
  }
  if (!s.is_ok()) return usage("%s: %s", name, s.message());
  std::string warning;
  s = slurm::check(&req, &warning);
  if (!s.is_ok()) return usage("%s: %s", name, s.message());
  if (submit) {
    for (const char* tool : {"sbatch", "srun", "scontrol", "scancel", "squeue"})
      if (slurm::find_program(tool).empty())
        return fail(
            "Slurm's %s is not on the PATH: ckpt sbatch needs a Slurm cluster's "
            "commands ('ckpt slurm-script' prints the script without them)",
            tool);
    if (slurm::find_program(req.program[0]).empty())
      return fail("%s: %s", req.program[0].c_str(),
                  req.program[0].find('/') != std::string::npos ? "not an executable file"
                                                                : "not found on the PATH");
  }
  std::string dir = absolute(req.dir.empty() ? format::default_dir() : req.dir);
  slurm::Paths paths = slurm::paths_for(req, dir, self_exe());
  if (!req.output.empty() && req.output.find('/') == std::string::npos)
    paths.output = absolute(req.output);
  std::string script = slurm::batch_script(req, paths, CKPT_VERSION_STRING);
  if (!submit) {
    if (!warning.empty()) std::fprintf(stderr, "ckpt: slurm-script: note: %s\n", warning.c_str());
    std::fputs(script.c_str(), stdout);
    return 0;
  }

  // The checkpoint directory: created private, and it must be writable.
  format::JobDir jd;
  s = jd.open(dir, true);
  if (!s.is_ok()) return fail("cannot use the checkpoint directory: %s", s.message());
  if (access(dir.c_str(), W_OK) != 0)
    return fail("the checkpoint directory %s is not writable", dir.c_str());
  std::string out_dir = paths.output.substr(0, paths.output.rfind('/'));
  if (out_dir.empty()) out_dir = "/";
  if (access(out_dir.c_str(), W_OK) != 0)
    return fail("the job's output %s cannot be written: %s is not writable", paths.output.c_str(),
                out_dir.c_str());
  if (!write_file(paths.script, script, 0700))
    return fail("cannot write the batch script %s", paths.script.c_str());

  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), req.submit_only_args.begin(), req.submit_only_args.end());
  argv.push_back(paths.script);
  std::string out, err;
  int rc = slurm::run_command(argv, &out, &err);
  if (rc != 0) return fail("sbatch refused the job: %s", slurm::sbatch_reason(err).c_str());
  std::string id = slurm::sbatch_job_id(out);
  if (id.empty()) {  // --test-only: nothing was submitted
    std::fputs(err.c_str(), stderr);
    return 0;
  }
  write_file(paths.state,
             "job_id=" + id + "\nrun=0\nstate=submitted\nreason=submitted\nmode=" +
                 std::string(req.chain == slurm::Chain::kNone ? "requeue" : "chain") +
                 "\nmax_restarts=" + std::to_string(req.max_restarts) + "\noutput=" + paths.output +
                 "\n",
             0600);
  std::printf("%s\n", id.c_str());
  if (!warning.empty()) std::fprintf(stderr, "ckpt: sbatch: note: %s\n", warning.c_str());
  std::fprintf(stderr, "ckpt: sbatch: job %s submitted; script %s, output %s\n", id.c_str(),
               paths.script.c_str(), paths.output.c_str());
  return 0;
}

std::function<int()> setup_sbatch(CLI::App* sub) {
  sub->footer("Run 'ckpt sbatch --help' for its options (sbatch's options pass through).");
  return [] { return sbatch_main({}, true); };
}

int run_sbatch(const std::vector<std::string>& args) { return sbatch_main(args, true); }

}  // namespace ckpt::cli
