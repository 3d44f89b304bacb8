// DIR/job.state: what `ckpt run` and `ckpt restart` record about their job,
// for `ckpt status` and for the next `ckpt run` (resume, or start over).
//
//   ckpt-job-state 1          first line: the format and its version
//   phase=running             running | finished | stopped | killed | failed
//   ...                       key=value lines (see write_job_state)
//   arg=PROGRAM               the command, one line per word; "\\" and
//   arg=ARG...                newlines escaped as \\ and \n
//
// Written whole each time: temp file, fsync, rename, fsync of the directory;
// mode 0600. A reader ignores keys it does not know; a newer version is
// refused, an absent file is kNotFound.
#pragma once

#include <ckpt/status.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::control {

enum class Phase {
  kRunning,   // a supervisor holds the directory (or died without a word: see status)
  kFinished,  // the program exited by itself: exit_status
  kStopped,   // a checkpoint stopped it (--stop, the stop signal): resumable
  kKilled,    // a signal killed it (signal): resumable from its newest checkpoint
  kFailed,    // a restart failed (last_failure): resumable once the cause is fixed
};
const char* phase_name(Phase p);

struct JobState {
  Phase phase = Phase::kRunning;
  std::vector<std::string> command;
  bool pid_ns = false;  // the program runs in its own user+pid namespace
  double interval_s = 0;
  int keep = 0, compress = 0;
  int exit_status = -1;           // kFinished: the program's exit status
  int signal = 0;                 // kKilled: the signal that ended it
  int runs = 0;                   // 1 for the first run, 2 after the first restart, ...
  uint64_t first_generation = 0;  // images of this run start here (older: a run before --fresh)
  int supervisor_pid = 0;
  int64_t started = 0, updated = 0;  // unix time of the first run's start, of this record
  std::string tracking;              // how written pages are found (DumpResult), one line
  std::string last_failure;          // the last failed checkpoint or restart, one line
  int64_t last_failure_time = 0;
};

inline constexpr int kJobStateVersion = 1;

std::string job_state_path(const std::string& dir);
Status write_job_state(const std::string& dir, const JobState& st);
Status read_job_state(const std::string& dir, JobState* st);
// The text form (exposed for tests).
std::string format_job_state(const JobState& st);
Status parse_job_state(const std::string& text, JobState* st);

// Whether `ckpt run` should resume the run in dir rather than start one:
// dir holds a complete image of a run that did not finish (a run recorded as
// finished, or a run started with --fresh that has no image yet, starts over).
bool resumable(const std::string& dir);

}  // namespace ckpt::control
