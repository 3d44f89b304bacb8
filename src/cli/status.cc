// ckpt status [--dir DIR] [--json]: the whole state of a job: running,
// resumable, or finished; its command, mode and interval (from DIR/job.state,
// written by ckpt run); the newest sound checkpoint; the last failure.
#include <signal.h>
#include <string.h>
#include <time.h>

#include <cstdio>

#include "cli/command.h"
#include "control/job_state.h"
#include "format/jobdir.h"

namespace ckpt::cli {
namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += char(c);
    else if (c == '\n') out += "\\n";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += char(c);
  }
  return out + "\"";
}

std::string quote_command(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) s += a;
    else {
      s += '\'';
      for (char c : a) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
      s += '\'';
    }
  }
  return s;
}

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return "signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
}

struct View {
  std::string state;   // running | resumable | finished | empty
  std::string reason;  // one line after it
  int pid = 0;
};

// The verdict, consistent with what `ckpt run` does next (control::resumable).
View judge(const format::JobDir& jd, bool has_state, const control::JobState& st, bool has_images) {
  View v;
  v.pid = jd.holder_pid();
  if (v.pid != 0) {
    v.state = "running";
    v.reason = v.pid > 0 ? "pid " + std::to_string(v.pid) : "";
    return v;
  }
  bool resume = control::resumable(jd.dir());
  v.state = resume ? "resumable" : has_images && !has_state ? "resumable" : "empty";
  if (!has_state) {
    v.reason = has_images ? "the program resumes from its newest checkpoint when started again"
                          : "no checkpoint yet";
    return v;
  }
  switch (st.phase) {
    case control::Phase::kFinished:
      v.state = "finished";
      v.reason = "the program exited with status " + std::to_string(st.exit_status) +
                 "; the next ckpt run starts over";
      break;
    case control::Phase::kStopped:
      v.reason = "stopped by a checkpoint; 'ckpt run' or 'ckpt restart' resumes it";
      break;
    case control::Phase::kKilled:
      v.reason = "killed by " + signal_text(st.signal) +
                 (resume ? "; 'ckpt run' or 'ckpt restart' resumes it from its newest checkpoint"
                         : " before its first checkpoint; the next ckpt run starts over");
      break;
    case control::Phase::kFailed:
      v.reason = "its last restart failed (see the last failure)";
      break;
    case control::Phase::kRunning:
      v.reason = "ckpt run ended without recording why (killed with SIGKILL?)";
      break;
  }
  if (!resume && st.phase != control::Phase::kFinished && v.state == "empty")
    v.reason += "; no checkpoint to resume from";
  return v;
}

}  // namespace

std::function<int()> setup_status(CLI::App* sub) {
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  add_dir_option(sub, dir.get());
  sub->add_flag("--json", *json, "Print one JSON object (for scripts)");
  return [dir, json] {
    format::JobDir jd;
    Status s = jd.open(*dir, false);
    if (s.code() == Code::kNotFound)
      return fail("no checkpoint directory %s (nothing has run with it; see --dir)", dir->c_str());
    if (!s.is_ok()) return fail("%s", s.message());
    control::JobState st;
    Status ss = control::read_job_state(jd.dir(), &st);
    bool has_state = ss.is_ok();
    if (!has_state && ss.code() != Code::kNotFound) return fail("%s", ss.message());

    // The newest sound image, with the damaged ones counted on the way.
    auto gens = jd.list();
    int damaged = 0;
    const format::Generation* newest = nullptr;
    ImageSummary sum;
    for (size_t i = gens.size(); i-- > 0;) {
      if (quick_check(gens[i].path, &sum).is_ok()) {
        newest = &gens[i];
        break;
      }
      damaged++;
    }
    View v = judge(jd, has_state, st, newest != nullptr);
    int64_t now = int64_t(::time(nullptr));
    int64_t age = newest ? now - int64_t(sum.header.created_ns / 1000000000ull) : 0;
    const char* kind = !newest                                 ? ""
                       : sum.header.kind == format::Kind::kApp ? "application state"
                                                               : "process image";
    std::string mode =
        !has_state  ? (newest && sum.header.kind == format::Kind::kApp ? "libckpt" : "unknown")
        : st.pid_ns ? "namespace"
                    : "plain";

    if (*json) {
      std::string j = "{";
      j += "\"directory\":" + json_string(jd.dir());
      j += ",\"state\":" + json_string(v.state) + ",\"reason\":" + json_string(v.reason);
      if (v.pid > 0) j += ",\"pid\":" + std::to_string(v.pid);
      if (has_state) {
        j += ",\"phase\":" + json_string(control::phase_name(st.phase));
        if (st.phase == control::Phase::kFinished)
          j += ",\"exit_status\":" + std::to_string(st.exit_status);
        if (st.phase == control::Phase::kKilled) j += ",\"signal\":" + std::to_string(st.signal);
        j += ",\"command\":[";
        for (size_t i = 0; i < st.command.size(); i++)
          j += (i ? "," : "") + json_string(st.command[i]);
        j += "]";
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", st.interval_s);
        j += std::string(",\"interval_s\":") + buf;
        j += ",\"keep\":" + std::to_string(st.keep);
        j += ",\"compress\":" + std::to_string(st.compress);
        j += ",\"runs\":" + std::to_string(st.runs);
      }
      j += ",\"mode\":" + json_string(mode);
      if (has_state) j += ",\"tracking\":" + json_string(st.tracking);
      j += ",\"checkpoints\":" + std::to_string(gens.size());
      j += ",\"damaged\":" + std::to_string(damaged);
      if (newest) {
        j += ",\"newest\":{\"generation\":" + std::to_string(newest->number) +
             ",\"path\":" + json_string(newest->path) +
             ",\"kind\":" + json_string(sum.header.kind == format::Kind::kApp ? "app" : "process") +
             ",\"bytes\":" + std::to_string(sum.file_bytes) +
             ",\"created\":" + std::to_string(sum.header.created_ns / 1000000000ull) +
             ",\"age_s\":" + std::to_string(age) + "}";
      } else {
        j += ",\"newest\":null";
      }
      if (has_state && !st.last_failure.empty())
        j += ",\"last_failure\":{\"message\":" + json_string(st.last_failure) +
             ",\"time\":" + std::to_string(st.last_failure_time) + "}";
      else j += ",\"last_failure\":null";
      j += "}\n";
      std::fputs(j.c_str(), stdout);
      return 0;
    }

    std::printf("directory:   %s\n", jd.dir().c_str());
    std::printf("state:       %s%s%s\n", v.state.c_str(), v.reason.empty() ? "" : ": ",
                v.reason.c_str());
    if (has_state) {
      std::printf("command:     %s\n", quote_command(st.command).c_str());
      std::printf(
          "mode:        transparent, %s\n",
          st.pid_ns ? "own user+pid namespace (pids kept across restarts)"
                    : "no namespace (a tree's pids kept by walking the pid counter, tids change)");
      if (!st.tracking.empty()) std::printf("dirty pages: %s\n", st.tracking.c_str());
      if (st.interval_s > 0) std::printf("interval:    every %g s\n", st.interval_s);
      else std::printf("interval:    none (checkpoints on request or signal)\n");
      std::printf("runs:        %d\n", st.runs);
    } else if (mode == "libckpt") {
      std::printf("mode:        libckpt (the program saves its own state)\n");
    }
    print_slurm_status(jd.dir());
    if (gens.empty()) std::printf("checkpoints: none\n");
    else if (damaged)
      std::printf("checkpoints: %zu complete, %d of them damaged\n", gens.size(), damaged);
    else std::printf("checkpoints: %zu complete\n", gens.size());
    if (newest)
      std::printf("newest:      generation %llu, %s, %s (%s)\n", (unsigned long long)newest->number,
                  kind, human_bytes(sum.file_bytes).c_str(),
                  human_age(sum.header.created_ns).c_str());
    else if (!gens.empty()) std::printf("newest:      none sound ('ckpt verify' says why)\n");
    if (has_state && !st.last_failure.empty())
      std::printf("last error:  %s (%s)\n", st.last_failure.c_str(),
                  human_age(uint64_t(st.last_failure_time) * 1000000000ull).c_str());
    return 0;
  };
}

}  // namespace ckpt::cli
