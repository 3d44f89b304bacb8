// The supervisor: `ckpt run` and `ckpt restart` become it. It stays the
// parent of the program, holds the job directory's lock, answers the control
// socket, checkpoints on request, on a signal or on a timer, forwards other
// signals, and exits with the program's exit status.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/checkpoint.h"
#include "control/job_state.h"
#include "control/restore_prep.h"
#include "format/jobdir.h"
#include "format/writer.h"

namespace ckpt::control {

// `ckpt run` exits with this after `ckpt checkpoint --stop` (ckpt::kExitStopped).
inline constexpr int kExitStopped = 85;

struct SuperviseOptions {
  std::string dir;
  double interval_s = 0;  // periodic checkpoints; 0: none
  int keep = 2;           // complete images kept in the directory
  int full_every = 8;     // a full image every N checkpoints, increments between (1: all full)
  int ckpt_signal = 10;   // SIGUSR1: checkpoint and continue
  int stop_signal = 0;    // checkpoint and stop; 0: none
  int zstd_level = 0;
  bool quiet = false;
  // Run the program in its own user+pid namespace so that a restart gets
  // the same pid and tids; falls back (with a warning) where unavailable.
  bool pid_ns = true;
  // A connection outside the job at a checkpoint: fail it (true), or save
  // the socket to come back closed and warn (false). `--external`.
  bool refuse_external = false;
  bool direct = format::direct_from_env();  // CKPT_DIRECT, read once
};

// Paths of ckpt-restore and libckpt-inject.so, next to the ckpt binary or
// where `make install` puts them.
std::string helper_path(const char* name);

class Supervisor {
 public:
  explicit Supervisor(const SuperviseOptions& options);
  ~Supervisor();

  // Opens (creates) the job directory, takes its lock, creates the socket.
  Status open_job();
  format::JobDir& job() { return dir_; }
  Status launch(const std::vector<std::string>& argv);
  Status launch_restored(RestorePlan& plan);
  // Runs until the program ends; returns the exit status for `ckpt`.
  int run();
  // True once a restarted program runs on its own (the restorer is done).
  bool restored() const { return restored_; }
  // Records a failure (one line) in the job's state file, for `ckpt status`.
  void record_failure(const std::string& what, bool restart_failed = false);

 private:
  // Starts exec_child in a new process (in a new user+pid namespace when
  // want_ns, as the namespace's second process, under a tiny init).
  // in_init (namespace mode): run in the init instead of forking
  // exec_child, returns the program's pid (-1: failed, said why);
  // inner_root: the program's pid inside the namespace (0: the only child).
  Status spawn(const std::function<void()>& exec_child, bool want_ns, bool keep_caps,
               const std::function<pid_t()>& in_init = nullptr, pid_t inner_root = 0);
  // stop: the job ends once the image is durable, without running on.
  Status checkpoint(DumpResult* result, bool stop = false);
  void handle_client();
  // Writes DIR/mode, one line: "namespace" (pids and tids kept across a
  // restart) or "no-namespace: WHY" (they change), for `ckpt status`.
  void record_mode();
  std::string mode_why_;  // why the job runs without a namespace
  int finish(int wait_status);
  void end_job();  // kills every process of the job (its init ends it)

  SuperviseOptions options_;
  format::JobDir dir_;
  Target target_;
  pid_t child_ = -1;  // our child: the program, or the namespace's init
  int listen_fd_ = -1;
  int report_fd_ = -1;  // the injected library reports its Block here (inject::Report)
  void read_reports();
  int restore_fd_ = -1;  // the restore path's messages (warnings, or why it failed)
  bool restore_failed_ = false;
  std::atomic<bool> restored_{false};             // read by the progress line's thread
  void drain_restore_messages(bool echo = true);  // echo: copy them to stderr
  std::string restore_message_;                   // the restore path's last words, if it failed
  int sig_fd_ = -1, timer_fd_ = -1;
  int status_fd_ = -1;  // namespace mode: the init reports the program's wait status here
  bool stopping_ = false;
  std::set<std::string> warned_;  // warnings said already (once per job)
  JobState state_;                // what DIR/job.state says (control/job_state.h)
  bool had_state_ = false;
  void save_state();
};

}  // namespace ckpt::control
