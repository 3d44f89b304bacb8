#include "control/job_state.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "format/jobdir.h"

namespace ckpt::control {
namespace {

const char kMagic[] = "ckpt-job-state";

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      i++;
      out += s[i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kRunning: return "running";
    case Phase::kFinished: return "finished";
    case Phase::kStopped: return "stopped";
    case Phase::kKilled: return "killed";
    case Phase::kFailed: return "failed";
  }
  return "?";
}

std::string job_state_path(const std::string& dir) { return dir + "/job.state"; }

std::string format_job_state(const JobState& st) {
  char buf[64];
  std::string s = std::string(kMagic) + " " + std::to_string(kJobStateVersion) + "\n";
  s += std::string("phase=") + phase_name(st.phase) + "\n";
  s += std::string("mode=") + (st.pid_ns ? "namespace" : "plain") + "\n";
  std::snprintf(buf, sizeof buf, "%g", st.interval_s);
  s += std::string("interval=") + buf + "\n";
  s += "keep=" + std::to_string(st.keep) + "\n";
  s += "compress=" + std::to_string(st.compress) + "\n";
  s += "exit_status=" + std::to_string(st.exit_status) + "\n";
  s += "signal=" + std::to_string(st.signal) + "\n";
  s += "runs=" + std::to_string(st.runs) + "\n";
  s += "first_generation=" + std::to_string(st.first_generation) + "\n";
  s += "supervisor_pid=" + std::to_string(st.supervisor_pid) + "\n";
  s += "started=" + std::to_string(st.started) + "\n";
  s += "updated=" + std::to_string(st.updated) + "\n";
  s += "tracking=" + escape(st.tracking) + "\n";
  s += "last_failure=" + escape(st.last_failure) + "\n";
  s += "last_failure_time=" + std::to_string(st.last_failure_time) + "\n";
  for (const auto& a : st.command) s += "arg=" + escape(a) + "\n";
  return s;
}

Status parse_job_state(const std::string& text, JobState* out) {
  JobState st;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (first) {
      first = false;
      int version = 0;
      if (line.rfind(std::string(kMagic) + " ", 0) != 0 ||
          (version = std::atoi(line.c_str() + sizeof kMagic)) <= 0)
        return Status::make(Code::kCorrupt, 0, "not a ckpt job state file");
      if (version > kJobStateVersion)
        return Status::make(Code::kUnsupported, 0,
                            "job state version %d is newer than this ckpt's (%d)", version,
                            kJobStateVersion);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    long long n = std::atoll(v.c_str());
    if (k == "phase") {
      for (Phase p :
           {Phase::kRunning, Phase::kFinished, Phase::kStopped, Phase::kKilled, Phase::kFailed})
        if (v == phase_name(p)) st.phase = p;
    } else if (k == "mode") st.pid_ns = v == "namespace";
    else if (k == "interval") st.interval_s = std::atof(v.c_str());
    else if (k == "keep") st.keep = int(n);
    else if (k == "compress") st.compress = int(n);
    else if (k == "exit_status") st.exit_status = int(n);
    else if (k == "signal") st.signal = int(n);
    else if (k == "runs") st.runs = int(n);
    else if (k == "first_generation") st.first_generation = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "supervisor_pid") st.supervisor_pid = int(n);
    else if (k == "started") st.started = n;
    else if (k == "updated") st.updated = n;
    else if (k == "tracking") st.tracking = unescape(v);
    else if (k == "last_failure") st.last_failure = unescape(v);
    else if (k == "last_failure_time") st.last_failure_time = n;
    else if (k == "arg") st.command.push_back(unescape(v));
  }
  if (first) return Status::make(Code::kCorrupt, 0, "empty job state file");
  *out = st;
  return Status::ok();
}

Status write_job_state(const std::string& dir, const JobState& st) {
  std::string path = job_state_path(dir), tmp = dir + "/.job.state.new";
  std::string text = format_job_state(st);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::make(Code::kIo, errno, "cannot write %s", tmp.c_str());
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = ok ? errno : err;
    ::unlink(tmp.c_str());
    return Status::make(Code::kIo, err, "cannot write %s", path.c_str());
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

Status read_job_state(const std::string& dir, JobState* st) {
  std::string path = job_state_path(dir);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return Status::make(errno == ENOENT ? Code::kNotFound : Code::kIo, errno, "cannot read %s",
                        path.c_str());
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20))
    text.append(buf, size_t(n));
  ::close(fd);
  return parse_job_state(text, st);
}

bool resumable(const std::string& dir) {
  format::JobDir jd;
  if (!jd.open(dir, false).is_ok()) return false;
  auto gens = jd.list();
  JobState st;
  Status s = read_job_state(jd.dir(), &st);
  if (!s.is_ok()) return !gens.empty();  // images of a run that recorded nothing
  if (st.phase == Phase::kFinished) return false;
  for (const auto& g : gens)
    if (g.number >= st.first_generation) return true;
  return false;
}

}  // namespace ckpt::control
