// Helpers for tests that run real processes: spawn with stdout/stderr in
// files, signal, wait with a timeout; temporary directories.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ckpt::test {

struct Exit {
  int code = -1;   // exit status, or -1 if killed by a signal
  int signal = 0;  // the signal that ended it
  bool timed_out = false;
};

struct SpawnOptions {
  std::string cwd;                       // empty: inherit
  std::vector<std::string> env;          // "NAME=value" added to (or replacing in) the environment
  std::string stdout_path, stderr_path;  // empty: /dev/null
  std::string stdin_path;                // empty: /dev/null
  bool append = false;                   // append to the output files
  long fsize_limit = -1;                 // RLIMIT_FSIZE in bytes (SIGXFSZ ignored)
};

class Child {
 public:
  Child(const std::vector<std::string>& argv, const SpawnOptions& options);
  ~Child();  // kills a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig);
  Exit wait(double timeout_seconds = 60);
  // Without waiting: true once the child has ended (then *e is how).
  bool try_wait(Exit* e);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  Exit exit_;  // once reaped
};

Exit run(const std::vector<std::string>& argv, const SpawnOptions& options,
         double timeout_seconds = 60);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
std::vector<std::string> lines(const std::string& text);

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Paths of built programs (CKPT_BUILD_DIR is set by CTest).
std::string build_dir();
std::string build_path(const std::string& relative);
std::string ckpt_bin();  // the ckpt command
// A test program of tests/transparent (t_count, libt_tiny.so, ...).
std::string program(const std::string& name);

// Time since the epoch with sub-second resolution.
double now_seconds();
void sleep_seconds(double s);

}  // namespace ckpt::test
