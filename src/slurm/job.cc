#include "slurm/job.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace ckpt::slurm {
namespace {

enum class Arg { kNone, kRequired, kOptional };  // kOptional: only as --opt=VALUE

struct SbatchOption {
  const char* name;  // long name without "--"
  char letter;       // short form, 0 if none
  Arg arg;
};

// sbatch's options (Slurm 22.05). An option not here is refused before
// anything is submitted, as sbatch would refuse it after.
constexpr SbatchOption kSbatchOptions[] = {
    {"account", 'A', Arg::kRequired},
    {"acctg-freq", 0, Arg::kRequired},
    {"extra-node-info", 'B', Arg::kRequired},
    {"batch", 0, Arg::kRequired},
    {"bb", 0, Arg::kRequired},
    {"bbf", 0, Arg::kRequired},
    {"begin", 'b', Arg::kRequired},
    {"chdir", 'D', Arg::kRequired},
    {"cluster-constraint", 0, Arg::kRequired},
    {"clusters", 'M', Arg::kRequired},
    {"comment", 0, Arg::kRequired},
    {"constraint", 'C', Arg::kRequired},
    {"container", 0, Arg::kRequired},
    {"contiguous", 0, Arg::kNone},
    {"core-spec", 'S', Arg::kRequired},
    {"cores-per-socket", 0, Arg::kRequired},
    {"cpu-freq", 0, Arg::kRequired},
    {"cpus-per-gpu", 0, Arg::kRequired},
    {"cpus-per-task", 'c', Arg::kRequired},
    {"deadline", 0, Arg::kRequired},
    {"delay-boot", 0, Arg::kRequired},
    {"dependency", 'd', Arg::kRequired},
    {"distribution", 'm', Arg::kRequired},
    {"error", 'e', Arg::kRequired},
    {"exclude", 'x', Arg::kRequired},
    {"exclusive", 0, Arg::kOptional},
    {"export", 0, Arg::kRequired},
    {"export-file", 0, Arg::kRequired},
    {"nodefile", 'F', Arg::kRequired},
    {"get-user-env", 0, Arg::kOptional},
    {"gid", 0, Arg::kRequired},
    {"gpus", 'G', Arg::kRequired},
    {"gpu-bind", 0, Arg::kRequired},
    {"gpu-freq", 0, Arg::kRequired},
    {"gpus-per-node", 0, Arg::kRequired},
    {"gpus-per-socket", 0, Arg::kRequired},
    {"gpus-per-task", 0, Arg::kRequired},
    {"gres", 0, Arg::kRequired},
    {"gres-flags", 0, Arg::kRequired},
    {"hold", 'H', Arg::kNone},
    {"hint", 0, Arg::kRequired},
    {"ignore-pbs", 0, Arg::kNone},
    {"input", 'i', Arg::kRequired},
    {"job-name", 'J', Arg::kRequired},
    {"kill-on-invalid-dep", 0, Arg::kRequired},
    {"licenses", 'L', Arg::kRequired},
    {"mail-type", 0, Arg::kRequired},
    {"mail-user", 0, Arg::kRequired},
    {"mcs-label", 0, Arg::kRequired},
    {"mem", 0, Arg::kRequired},
    {"mem-per-cpu", 0, Arg::kRequired},
    {"mem-per-gpu", 0, Arg::kRequired},
    {"mem-bind", 0, Arg::kRequired},
    {"mincpus", 0, Arg::kRequired},
    {"nodes", 'N', Arg::kRequired},
    {"ntasks", 'n', Arg::kRequired},
    {"network", 0, Arg::kRequired},
    {"nice", 0, Arg::kOptional},
    {"no-kill", 'k', Arg::kOptional},
    {"no-requeue", 0, Arg::kNone},
    {"ntasks-per-core", 0, Arg::kRequired},
    {"ntasks-per-gpu", 0, Arg::kRequired},
    {"ntasks-per-node", 0, Arg::kRequired},
    {"ntasks-per-socket", 0, Arg::kRequired},
    {"overcommit", 'O', Arg::kNone},
    {"oversubscribe", 's', Arg::kNone},
    {"output", 'o', Arg::kRequired},
    {"open-mode", 0, Arg::kRequired},
    {"parsable", 0, Arg::kNone},
    {"partition", 'p', Arg::kRequired},
    {"power", 0, Arg::kRequired},
    {"prefer", 0, Arg::kRequired},
    {"priority", 0, Arg::kRequired},
    {"profile", 0, Arg::kRequired},
    {"propagate", 0, Arg::kOptional},
    {"qos", 'q', Arg::kRequired},
    {"quiet", 'Q', Arg::kNone},
    {"reboot", 0, Arg::kNone},
    {"requeue", 0, Arg::kNone},
    {"reservation", 0, Arg::kRequired},
    {"signal", 0, Arg::kRequired},
    {"sockets-per-node", 0, Arg::kRequired},
    {"spread-job", 0, Arg::kNone},
    {"switches", 0, Arg::kRequired},
    {"test-only", 0, Arg::kNone},
    {"thread-spec", 0, Arg::kRequired},
    {"threads-per-core", 0, Arg::kRequired},
    {"time", 't', Arg::kRequired},
    {"time-min", 0, Arg::kRequired},
    {"tmp", 0, Arg::kRequired},
    {"uid", 0, Arg::kRequired},
    {"use-min-nodes", 0, Arg::kNone},
    {"verbose", 'v', Arg::kNone},
    {"wait", 'W', Arg::kNone},
    {"wait-all-nodes", 0, Arg::kRequired},
    {"wckey", 0, Arg::kRequired},
    {"wrap", 0, Arg::kRequired},
    {"nodelist", 'w', Arg::kRequired},
    {"array", 'a', Arg::kRequired},
};

// Options that belong to one submission, not to the job: kept out of the
// script so that a chain's next job or a hand resubmission does not repeat them.
bool submit_only(std::string_view name) {
  for (const char* n :
       {"dependency", "hold", "begin", "wait", "test-only", "parsable", "quiet", "verbose"})
    if (name == n) return true;
  return false;
}

const SbatchOption* find_long(std::string_view name) {
  for (const auto& o : kSbatchOptions)
    if (name == o.name) return &o;
  return nullptr;
}
const SbatchOption* find_short(char c) {
  for (const auto& o : kSbatchOptions)
    if (o.letter == c) return &o;
  return nullptr;
}

bool parse_int(std::string_view s, long long lo, long long hi, long long* out) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

Status invalid(const char* fmt, const std::string& a, const std::string& b = {}) {
  return Status::make(Code::kInvalid, 0, fmt, a.c_str(), b.c_str());
}

// An sbatch option ckpt must refuse or interpret; name is the long name.
Status take_sbatch_option(const std::string& name, const std::string& value, Request* r) {
  if (name == "signal")
    return invalid("ckpt sets sbatch's --signal itself (B:USR1@LEAD); use --lead SECONDS%s", "");
  if (name == "open-mode" && value != "append")
    return invalid("--open-mode=%s would lose earlier runs' output; ckpt uses append", value);
  if (name == "wrap") return invalid("--wrap: give the program after '--' instead%s", "");
  if (name == "array")
    return invalid("job arrays (--array) are not supported by ckpt sbatch%s", "");
  if (name == "time") {
    r->time_limit = parse_time(value);
    if (r->time_limit < 0)
      return invalid("--time=%s: not a Slurm time (M, M:S, H:M:S, D-H:M:S)", value);
  }
  if (name == "output") r->output = value;
  if (name == "job-name") r->job_name = value;
  return Status::ok();
}

}  // namespace

int64_t parse_time(std::string_view s) {
  if (s == "infinite" || s == "INFINITE" || s == "unlimited" || s == "UNLIMITED") return 0;
  long long days = 0;
  auto dash = s.find('-');
  if (dash != std::string_view::npos) {
    if (!parse_int(s.substr(0, dash), 0, 365000, &days)) return -1;
    s = s.substr(dash + 1);
  }
  long long f[3];
  int n = 0;
  while (n < 3) {
    auto colon = s.find(':');
    if (!parse_int(s.substr(0, colon), 0, 100000000, &f[n])) return -1;
    n++;
    if (colon == std::string_view::npos) break;
    s = s.substr(colon + 1);
    if (n == 3) return -1;
  }
  if (dash != std::string_view::npos) {  // D-H, D-H:M, D-H:M:S
    long long h = f[0], m = n > 1 ? f[1] : 0, sec = n > 2 ? f[2] : 0;
    return ((days * 24 + h) * 60 + m) * 60 + sec;
  }
  if (n == 1) return f[0] * 60;           // M
  if (n == 2) return f[0] * 60 + f[1];    // M:S
  return (f[0] * 60 + f[1]) * 60 + f[2];  // H:M:S
}

int default_lead(int64_t time_limit) {
  if (time_limit > 0 && time_limit < 180) return int(time_limit / 3);
  return 60;
}

Status parse_args(const std::vector<std::string>& args, Request* r) {
  size_t i = 0;
  // The value of an option: "--name=VALUE" or the next word.
  auto value_of = [&](const std::string& a, size_t eq, std::string* v) -> Status {
    if (eq != std::string::npos) {
      *v = a.substr(eq + 1);
      return Status::ok();
    }
    if (i + 1 >= args.size()) return invalid("%s needs a value", a);
    *v = args[++i];
    return Status::ok();
  };
  for (; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "--") {
      i++;
      break;
    }
    if (a.empty() || a[0] != '-' || a == "-") break;  // the program
    if (a == "-h" || a == "--help") {
      r->help = true;
      continue;
    }
    if (a.size() > 2 && a[1] == '-') {
      auto eq = a.find('=');
      std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      std::string v;
      long long n;
      if (name == "lead") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        if (!parse_int(v, 1, 65535, &n))
          return invalid("--lead %s: give whole seconds, 1 to 65535", v);
        r->lead = int(n);
      } else if (name == "max-restarts") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        if (!parse_int(v, 0, 100000, &n))
          return invalid("--max-restarts %s: give a count, 0 or more", v);
        r->max_restarts = int(n);
      } else if (name == "chain") {
        v = eq == std::string::npos ? "afterany" : a.substr(eq + 1);
        if (v == "afterany") r->chain = Chain::kAfterAny;
        else if (v == "singleton") r->chain = Chain::kSingleton;
        else return invalid("--chain=%s: use afterany or singleton", v);
      } else if (name == "app") {
        if (eq != std::string::npos) return invalid("%s takes no value", a);
        r->app = true;
      } else if (name == "app-signal") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        std::string sig = v.rfind("SIG", 0) == 0 ? v.substr(3) : v;
        if (sig.empty() ||
            sig.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+") != std::string::npos)
          return invalid("--app-signal %s: give a signal name such as TERM, INT or USR1", v);
        r->app_signal = sig;
      } else if (name == "mpi") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        if (v.empty() ||
            v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
          return invalid("--mpi %s: give one of srun --mpi=list's types, such as pmix", v);
        r->srun_mpi = v;
      } else if (name == "dir") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        if (v.empty()) return invalid("--dir needs a directory%s", "");
        r->dir = v;
      } else if (name == "interval") {
        CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
        char* end = nullptr;
        double d = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || !(d > 0))
          return invalid("--interval %s: give seconds, more than 0", v);
        r->interval = d;
      } else if (const SbatchOption* o = find_long(name)) {
        std::vector<std::string> words = {a};
        if (o->arg == Arg::kNone && eq != std::string::npos)
          return invalid("sbatch's %s takes no value", "--" + name);
        if (o->arg == Arg::kRequired) {
          CKPT_RETURN_IF_ERROR(value_of(a, eq, &v));
          if (eq == std::string::npos) words.push_back(v);
        } else if (eq != std::string::npos) {
          v = a.substr(eq + 1);
        }
        CKPT_RETURN_IF_ERROR(take_sbatch_option(name, v, r));
        auto& dst = submit_only(name) ? r->submit_only_args : r->sbatch_args;
        if (name != "parsable") dst.insert(dst.end(), words.begin(), words.end());
      } else {
        return invalid("unknown option %s (neither ckpt's nor sbatch's; see 'ckpt sbatch --help')",
                       "--" + name);
      }
      continue;
    }
    // Short options: "-t 5", "-t5"; flags may not be bundled with others.
    const SbatchOption* o = find_short(a[1]);
    if (!o)
      return invalid("unknown option %s (neither ckpt's nor sbatch's; see 'ckpt sbatch --help')",
                     a);
    std::vector<std::string> words = {a};
    std::string v;
    if (o->arg == Arg::kRequired) {
      if (a.size() > 2) {
        v = a.substr(2);
      } else {
        if (i + 1 >= args.size()) return invalid("%s needs a value", a);
        v = args[++i];
        words.push_back(v);
      }
    } else if (a.size() > 2) {
      if (o->arg == Arg::kNone)
        return invalid("unknown option %s (short options cannot be bundled)", a);
      v = a.substr(2);
    }
    CKPT_RETURN_IF_ERROR(take_sbatch_option(o->name, v, r));
    auto& dst = submit_only(o->name) ? r->submit_only_args : r->sbatch_args;
    dst.insert(dst.end(), words.begin(), words.end());
  }
  r->program.assign(args.begin() + long(std::min(i, args.size())), args.end());
  if (r->program.empty() && !r->help)
    return invalid("no program given: ckpt sbatch [OPTIONS] -- PROGRAM [ARGS...]%s", "");
  if (r->chain == Chain::kNone) {
    for (const auto& w : r->sbatch_args)
      if (w == "--no-requeue")
        return invalid(
            "--no-requeue: ckpt requeues the job; add --chain for dependent jobs instead%s", "");
  }
  return Status::ok();
}

Status check(Request* r, std::string* warning) {
  warning->clear();
  if (r->lead < 0) r->lead = default_lead(r->time_limit);
  if (r->time_limit > 0) {
    if (r->lead >= r->time_limit)
      return Status::make(Code::kInvalid, 0,
                          "--lead %d s is not shorter than the time limit (%lld s): the "
                          "checkpoint would have to start before the job does",
                          r->lead, (long long)r->time_limit);
    if (r->lead + 30 >= r->time_limit)
      *warning = "Slurm checks time limits every 30 s: with --lead " + std::to_string(r->lead) +
                 " and a limit of " + std::to_string(r->time_limit) +
                 " s the warning comes at its first check, 0 to 30 s into each run";
  } else if (r->time_limit < 0) {
    *warning = "no --time given: the partition's default limit applies (the warning comes " +
               std::to_string(r->lead) + " to " + std::to_string(r->lead + 30) + " s before it)";
  }
  if (!r->app && !r->srun_mpi.empty())
    return Status::make(
        Code::kInvalid, 0,
        "--mpi needs --app: ckpt run cannot checkpoint MPI programs transparently; use "
        "libckpt's MPI mode (docs/mpi.md)");
  if (!r->app && r->interval > 0 && r->interval < 1)
    return Status::make(Code::kInvalid, 0, "--interval below 1 s would checkpoint without pause");
  return Status::ok();
}

std::string shell_quote(std::string_view s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_-+=./:,@%") == std::string_view::npos)
    return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

Paths paths_for(const Request& r, const std::string& abs_dir, const std::string& ckpt_exe) {
  Paths p;
  p.dir = abs_dir;
  while (p.dir.size() > 1 && p.dir.back() == '/') p.dir.pop_back();
  p.script = p.dir + "/job.sbatch";
  p.output = r.output.empty() ? p.dir + "/job.out" : r.output;
  p.state = p.dir + "/slurm.state";
  p.ckpt = ckpt_exe;
  return p;
}

namespace {

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "#SBATCH" lines from the user's sbatch options, one option per line.
std::string sbatch_lines(const std::vector<std::string>& args) {
  std::string out;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    std::string line = "#SBATCH " + a;
    bool has_value_word = false;
    if (a.size() == 2 && a[0] == '-' && a[1] != '-') {
      const SbatchOption* o = find_short(a[1]);
      has_value_word = o && o->arg == Arg::kRequired;
    } else if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos) {
      const SbatchOption* o = find_long(a.substr(2));
      has_value_word = o && o->arg == Arg::kRequired;
    }
    if (has_value_word && i + 1 < args.size()) {
      const std::string& v = args[++i];
      line += v.find_first_of(" \t") == std::string::npos ? " " + v : " \"" + v + "\"";
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string batch_script(const Request& r, const Paths& p, std::string_view version) {
  const bool chain = r.chain != Chain::kNone;
  const char* mode = !chain ? "requeue" : r.chain == Chain::kAfterAny ? "afterany" : "singleton";
  std::string name = r.job_name.empty()
                         ? "ckpt-" + base_name(r.program.empty() ? "job" : r.program[0])
                         : r.job_name;
  std::string prog;
  for (const auto& w : r.program) prog += " " + shell_quote(w);

  std::string s;
  s += "#!/bin/bash\n";
  s += "# Written by ckpt " + std::string(version) +
       " (ckpt sbatch). It runs the program below so\n";
  s += "# that it checkpoints before the time limit and resumes, run after run, until\n";
  s += "# it finishes. To submit it again by hand: sbatch " + p.script + "\n";
  if (r.output.empty()) s += "#SBATCH --output=" + p.output + "\n";
  if (r.job_name.empty()) s += "#SBATCH --job-name=" + name + "\n";
  s += "#SBATCH --open-mode=append\n";
  s += "#SBATCH --signal=B:USR1@" + std::to_string(r.lead) + "\n";
  s += sbatch_lines(r.sbatch_args);
  s += "\n";
  s += "CKPT=" + shell_quote(p.ckpt) + "\n";
  s += "export CKPT_DIR=" + shell_quote(p.dir) + "\n";
  s += "STATE=" + shell_quote(p.state) + "\n";
  s += "SCRIPT=" + shell_quote(p.script) + "\n";
  s += "OUT=" + shell_quote(p.output) + "\n";
  s += "MODE=" + std::string(mode) + "\n";
  s += "MAX_RESTARTS=" + std::to_string(r.max_restarts) + "\n";
  // Runs are numbered from 1 everywhere: here, in slurm.state, in ckpt status.
  s += chain ? "run=${CKPT_SLURM_RUN:-1}  # set by the previous job of the chain\n"
             : "run=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))\n";
  s += R"SH(
say() { echo "ckpt-slurm: $(date +%H:%M:%S.%3N) $*"; }
# The job's state for `ckpt status`: key=value lines, replaced atomically.
record() {  # STATE REASON [NEXT_JOB_ID]
  local t="$STATE.$$.tmp"
  { echo "job_id=$SLURM_JOB_ID"; echo "run=$run"; echo "state=$1"; echo "reason=$2"
    echo "next_job_id=${3:-}"; echo "mode=$MODE"; echo "max_restarts=$MAX_RESTARTS"
    echo "output=$OUT"; echo "last_checkpoint=$last_ckpt"; echo "updated=$(date +%s)"
  } >"$t" 2>/dev/null && mv -f "$t" "$STATE" 2>/dev/null || rm -f "$t" 2>/dev/null
}
last_ckpt=$(sed -n 's/^last_checkpoint=//p' "$STATE" 2>/dev/null)

warned=0
left=""
trap 'warned=1' USR1
# ckpt's own lines in the output: this one on the first run, one per requeue,
# and the last word; the program's output is everything else.
[ "$run" = 1 ] && say "run 1 of job $SLURM_JOB_ID on $(hostname); requeued up to $MAX_RESTARTS times"
# A run that ended without this script's requeue (it was still "running"):
# Slurm requeued the job itself: after a node failure, or by hand.
[ "$run" != 1 ] && [ "$(sed -n 's/^state=//p' "$STATE" 2>/dev/null)" = running ] &&
  say "run $run of job $SLURM_JOB_ID on $(hostname): requeued by Slurm (after a node failure, or by hand); resuming from the newest complete checkpoint"
record running "run $run started"
# srun reports a step that exits non-zero; 85 is a checkpoint that stopped the
# program on purpose, said once below.
quiet_85() { grep --line-buffered -v '^srun: error: .*: Exited with exit code 85$' >&2; }
)SH";
  if (r.app) {
    s += "# The program uses libckpt: it saves its state on SIG" + r.app_signal +
         " and exits with status 85.\n";
    if (!r.srun_mpi.empty())
      s += "# An MPI program (libckpt's MPI mode): every rank gets the signal, all save one "
           "generation.\n";
    s += "srun" + (r.srun_mpi.empty() ? std::string() : " --mpi=" + r.srun_mpi) + prog +
         " 2> >(quiet_85) &\n";
  } else {
    std::string interval;
    if (r.interval > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " --interval %g", r.interval);
      interval = buf;
    }
    s += "# Transparent: ckpt run starts the program, or resumes it from the newest image in "
         "CKPT_DIR.\n";
    s += "# Several tasks (independent ones: a sweep) get a directory each, CKPT_DIR/task-N,\n";
    s += "# N = SLURM_PROCID, and are resumed task by task; one that finished is not run again.\n";
    s += R"SH(task_dir() { echo "$CKPT_DIR/task-$SLURM_PROCID"; }
task_finished() {  # prints the exit status of a task that finished
  local st
  st=$("$CKPT" status --dir "$(task_dir)" --json 2>/dev/null) || return 1
  case $st in *'"state":"finished"'*) st=${st#*'"exit_status":'}; echo "${st%%[!0-9]*}" ;; *) return 1 ;; esac
}
ckpt_task() {
  local rc
  rc=$(task_finished) && exit "$rc"
)SH";
    s += "  exec \"$CKPT\" run --dir \"$(task_dir)\"" + interval + " -- \"$@\"\n}\n";
    s += R"SH(ckpt_task_stop() {
  task_finished >/dev/null && exit 0
  exec "$CKPT" checkpoint --dir "$(task_dir)" --stop >/dev/null
}
export CKPT
export -f task_dir task_finished ckpt_task ckpt_task_stop
# --mpi=none: no PMI variables, which would make each task look like a rank
# of an MPI job to ckpt run (MpiDefault=pmi2 sets PMI_SIZE).
if [ "${SLURM_NTASKS:-1}" -gt 1 ]; then
  srun --mpi=none bash -c 'ckpt_task "$@"' ckpt-task)SH";
    s += prog + " 2> >(quiet_85) &\n";
    s += "else\n";
    s += "  srun \"$CKPT\" run --dir \"$CKPT_DIR\"" + interval + " --" + prog +
         " 2> >(quiet_85) &\n";
    s += "fi\n";
  }
  s += R"SH(step=$!
asked=0
ckpt_rc=0
# wait returns early when the trap fires; then ask for the checkpoint and
# wait again: requeueing before the step has ended would kill the checkpoint.
while :; do
  if [ "$warned" = 1 ] && [ "$asked" = 0 ]; then
    asked=1
    left=$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null)
    record checkpointing "time limit near"
)SH";
  if (r.app) s += "    scancel -s " + r.app_signal + " \"$SLURM_JOB_ID\" || ckpt_rc=$?\n";
  else
    s += R"SH(    if [ "${SLURM_NTASKS:-1}" -gt 1 ]; then
      # Each task's request on its own node: a step over the same tasks.
      srun --overlap --mpi=none bash -c ckpt_task_stop; ckpt_rc=$?
    else
      "$CKPT" checkpoint --dir "$CKPT_DIR" --stop >/dev/null; ckpt_rc=$?
    fi
)SH";
  s +=
      R"SH(    [ "$ckpt_rc" = 0 ] || say "the checkpoint request FAILED (status $ckpt_rc); the job will not be requeued"
)SH";
  s += R"SH(  fi
  wait "$step"
  rc=$?
  [ "$warned" = 1 ] && [ "$asked" = 0 ] && continue
  kill -0 "$step" 2>/dev/null || break
done
saved="run $run: checkpoint saved at the warning${left:+ ($left left)}"

if [ "$rc" = 85 ] && [ "$ckpt_rc" = 0 ]; then
  last_ckpt=$(date +%s)
  if [ "$((run - 1))" -ge "$MAX_RESTARTS" ]; then
    say "$saved; NOT resubmitted: $((run - 1)) restarts reached --max-restarts $MAX_RESTARTS (to go on: sbatch $SCRIPT)"
    record stopped "$((run - 1)) restarts reached --max-restarts $MAX_RESTARTS"
    exit 85
  fi
)SH";
  if (!chain) {
    s += R"SH(  say "$saved; requeueing job $SLURM_JOB_ID for run $((run + 1))"
  record requeued "checkpoint saved"
  if ! msg=$(scontrol requeue "$SLURM_JOB_ID" 2>&1); then
    say "requeue FAILED: $msg; NOT requeued (to go on: sbatch $SCRIPT)"
    record failed "requeue failed: $msg"
    exit 1
  fi
  exit 0
)SH";
  } else {
    std::string dep = r.chain == Chain::kAfterAny ? "afterany:$SLURM_JOB_ID" : "singleton";
    s += "  if ! next=$(sbatch --parsable --dependency=" + dep +
         " --export=ALL,CKPT_SLURM_RUN=$((run + 1)) \"$SCRIPT\" 2>&1); then\n";
    s += R"SH(    say "submitting the next job FAILED: $next (to go on: sbatch $SCRIPT)"
    record failed "next job not submitted: $next"
    exit 1
  fi
  next=${next%%;*}
  say "$saved; next job of the chain: $next, run $((run + 1)) (starts when job $SLURM_JOB_ID ends)"
  record chained "checkpoint saved" "$next"
  exit 0
)SH";
  }
  s += R"SH(fi
if [ "$rc" = 0 ]; then
  say "program finished in run $run ($((run - 1)) restarts); done"
  record done "program finished"
  exit 0
fi
if [ "$asked" = 1 ]; then
  say "checkpoint FAILED (program exit status $rc, checkpoint request status $ckpt_rc); NOT requeued; the newest complete checkpoint stays in $CKPT_DIR"
  record failed "checkpoint failed (exit status $rc)"
else
  say "program FAILED (exit status $rc); NOT requeued"
  record failed "program exit status $rc"
fi
exit "$rc"
)SH";
  return s;
}

JobState parse_state(std::string_view text) {
  JobState st;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = line.substr(0, eq);
    std::string v(line.substr(eq + 1));
    long long n;
    if (k == "job_id") st.job_id = v;
    else if (k == "next_job_id") st.next_job_id = v;
    else if (k == "state") st.state = v;
    else if (k == "reason") st.reason = v;
    else if (k == "mode") st.mode = v;
    else if (k == "output") st.output = v;
    else if (k == "run" && parse_int(v, 0, 1000000000, &n)) st.run = int(n);
    else if (k == "max_restarts" && parse_int(v, 0, 1000000000, &n)) st.max_restarts = int(n);
    else if (k == "updated" && parse_int(v, 0, INT64_MAX, &n)) st.updated = n;
    else if (k == "last_checkpoint" && parse_int(v, 0, INT64_MAX, &n)) st.last_checkpoint = n;
  }
  return st;
}

std::string sbatch_job_id(std::string_view out) {
  return std::string(out.substr(0, out.find_first_of(";\n")));
}

std::string sbatch_reason(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  auto nl = s.rfind('\n');  // sbatch prints its reason last
  if (nl != std::string_view::npos) s = s.substr(nl + 1);
  for (std::string_view prefix : {"sbatch: error: ", "sbatch: "})
    if (s.substr(0, prefix.size()) == prefix) s.remove_prefix(prefix.size());
  return std::string(s);
}

void parse_queue_line(std::string_view out, std::string* state, std::string* left) {
  while (!out.empty() && out.back() == '\n') out.remove_suffix(1);
  auto sp = out.find(' ');
  *state = out.substr(0, sp);
  *left = sp == std::string_view::npos ? std::string() : std::string(out.substr(sp + 1));
}

}  // namespace ckpt::slurm
