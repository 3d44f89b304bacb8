// The Python package as real processes: the demos count.py and
// count_signal.py behave as stories S1 and S2 (SIGINT, SIGTERM, SIGUSR1,
// then a run that resumes), Ctrl-C twice ends as Python would without ckpt,
// and numpy arrays, bytes and objects come back (arrays in place).
// CKPT_PYTHON is the interpreter the package was built for; CKPT_PYTHONPATH
// the package assembled in the build tree (both set by CMake).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "support/process.h"

namespace ckpt {
namespace {

using test::Child;
using test::Exit;
using test::SpawnOptions;
using test::TempDir;

constexpr int kStopped = 85;

std::string python() { return CKPT_PYTHON; }
std::string source(const std::string& rel) { return std::string(CKPT_SOURCE_DIR) + "/" + rel; }

SpawnOptions in(const TempDir& t, const std::string& name) {
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / (name + ".out");
  o.stderr_path = t / (name + ".err");
  o.env = {"CKPT_DIR=", "PYTHONPATH=" CKPT_PYTHONPATH};
  return o;
}

std::vector<long> numbers(const std::string& path) {
  std::vector<long> out;
  for (const auto& l : test::lines(test::read_file(path))) out.push_back(std::atol(l.c_str()));
  return out;
}

void expect_run(const std::vector<long>& got, long first, long last) {
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), first);
  EXPECT_EQ(got.back(), last);
  for (size_t k = 1; k < got.size(); k++) ASSERT_EQ(got[k], got[k - 1] + 1);
}

// Waits until the program has printed at least n lines (Python starts slowly).
void wait_for_lines(const std::string& path, size_t n) {
  for (int k = 0; k < 200 && test::lines(test::read_file(path)).size() < n; k++)
    test::sleep_seconds(0.05);
}

// S1: saved at every iteration; SIGINT (Ctrl-C) or SIGTERM stops with 85
// and the output is complete (Python flushed it: SystemExit, not exit()).
TEST(Python, CountStopsAndResumes) {
  TempDir t;
  std::string prog = source("examples/count.py");
  long n = 0;
  for (int sig : {SIGINT, SIGTERM}) {
    std::string name = "run" + std::to_string(sig);
    Child c({python(), prog, "1000", "30"}, in(t, name));
    wait_for_lines(t / (name + ".out"), 3);
    c.signal(sig);
    Exit e = c.wait();
    EXPECT_EQ(e.code, kStopped) << test::read_file(t / (name + ".err"));
    EXPECT_NE(test::read_file(t / (name + ".err")).find("stopping (exit status 85)"),
              std::string::npos);
    auto got = numbers(t / (name + ".out"));
    ASSERT_GE(got.size(), 3u);
    expect_run(got, n + 1, got.back());
    n = got.back();
  }
  Exit e = test::run({python(), prog, std::to_string(n + 3), "1"}, in(t, "final"));
  EXPECT_EQ(e.code, 0) << test::read_file(t / "final.err");
  expect_run(numbers(t / "final.out"), n + 1, n + 3);
}

// Runs ARGV on a new terminal; once OUTPUT holds `after`, types Ctrl-C.
// Returns the exit status (or 128+signal) and what the terminal showed.
int on_terminal(const std::vector<std::string>& argv, const std::string& cwd, const char* after,
                std::string* output) {
  int fd;
  pid_t pid = forkpty(&fd, nullptr, nullptr, nullptr);
  if (pid < 0) return -1;  // no pseudo-terminals here
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    setenv("PYTHONPATH", CKPT_PYTHONPATH, 1);
    setenv("CKPT_DIR", "", 1);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  bool typed = after == nullptr;
  double end = test::now_seconds() + 60;
  while (test::now_seconds() < end) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char buf[512];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;  // EIO: the program is gone
      output->append(buf, size_t(n));
    }
    if (!typed && output->find(after) != std::string::npos) {
      typed = write(fd, "\x03", 1) == 1;  // the terminal sends SIGINT to the program
    }
  }
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The numbers a program showed on a terminal ("1\r\n2\r\n3\r\n^Cckpt: ...").
std::vector<long> terminal_numbers(const std::string& out) {
  std::vector<long> got;
  size_t at = 0;
  for (size_t nl; (nl = out.find("\r\n", at)) != std::string::npos; at = nl + 2) {
    std::string line = out.substr(at, nl - at);
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos)
      got.push_back(std::atol(line.c_str()));
  }
  return got;
}

// S1 as a user sees it: 1 2 3 ^C, then 4 5 6, on a real terminal (the
// terminal, not the test, sends SIGINT to the program's process group).
TEST(Python, CountCtrlCOnATerminal) {
  TempDir t;
  std::string out;
  int code =
      on_terminal({python(), source("examples/count.py"), "100", "300"}, t.path(), "3\r\n", &out);
  EXPECT_EQ(code, kStopped) << out;
  EXPECT_NE(out.find("^C"), std::string::npos) << out;
  EXPECT_NE(out.find("stopping (exit status 85)"), std::string::npos) << out;
  auto first = terminal_numbers(out);
  ASSERT_GE(first.size(), 3u) << out;
  expect_run(first, 1, long(first.size()));
  long n = first.back();

  out.clear();
  code = on_terminal({python(), source("examples/count.py"), std::to_string(n + 3), "1"}, t.path(),
                     nullptr, &out);
  EXPECT_EQ(code, 0) << out;
  expect_run(terminal_numbers(out), n + 1, n + 3);
}

// S2: nothing saved until a signal; SIGTERM and SIGINT save what was
// printed and stop; SIGUSR1 saves and goes on; the next start resumes.
TEST(Python, CountSignalSavesOnSignal) {
  TempDir t;
  std::string prog = source("examples/count_signal.py");
  long n = 0;
  for (int sig : {SIGTERM, SIGINT}) {
    std::string name = "stop" + std::to_string(sig);
    Child c({python(), prog, "100000", "20"}, in(t, name));
    wait_for_lines(t / (name + ".out"), 3);
    c.signal(sig);
    Exit e = c.wait();
    EXPECT_EQ(e.code, kStopped) << test::read_file(t / (name + ".err"));
    auto got = numbers(t / (name + ".out"));
    ASSERT_FALSE(got.empty());
    expect_run(got, n + 1, got.back());
    n = got.back();
  }
  {
    Child c({python(), prog, "100000", "20"}, in(t, "usr1"));
    wait_for_lines(t / "usr1.out", 3);
    c.signal(SIGUSR1);
    wait_for_lines(t / "usr1.out", 8);
    c.signal(SIGKILL);  // what SIGUSR1 saved survives; nothing after it was saved
    c.wait();
    auto got = numbers(t / "usr1.out");
    ASSERT_GE(got.size(), 8u) << "the program went on after SIGUSR1";
    EXPECT_EQ(got.front(), n + 1);
  }
  // The next run starts right after the number SIGUSR1 saved, long
  // before the last one the killed run printed.
  Child c({python(), prog, "100000", "20"}, in(t, "final"));
  wait_for_lines(t / "final.out", 1);
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait().code, kStopped);
  auto usr1 = numbers(t / "usr1.out");
  auto final = numbers(t / "final.out");
  ASSERT_FALSE(final.empty());
  EXPECT_GE(final.front(), n + 4);
  EXPECT_LT(final.front(), usr1.back());
}

// Ctrl-C twice before a safe point: Python's own KeyboardInterrupt ends it
// (killed by SIGINT, as Python does), and nothing is saved.
TEST(Python, SecondCtrlCEndsAsWithoutCkpt) {
  TempDir t;
  Child c({python(), source("tests/python/spin.py"), "30"}, in(t, "twice"));
  wait_for_lines(t / "twice.out", 1);
  c.signal(SIGINT);
  test::sleep_seconds(0.2);
  c.signal(SIGINT);
  Exit e = c.wait(10);
  EXPECT_FALSE(e.timed_out);
  EXPECT_EQ(e.signal, SIGINT) << test::read_file(t / "twice.err");
  EXPECT_NE(test::read_file(t / "twice.err").find("KeyboardInterrupt"), std::string::npos);

  // Once: saved at the safe point, exit 85.
  Child once({python(), source("tests/python/spin.py"), "1"}, in(t, "once"));
  wait_for_lines(t / "once.out", 1);
  once.signal(SIGINT);
  Exit e2 = once.wait(10);
  EXPECT_EQ(e2.code, kStopped) << test::read_file(t / "once.err");
}

// The checkpoint a stop signal asks for fails (read-only directory): the
// program ends as without ckpt, never with 85. Not as root (root writes
// into a read-only directory).
TEST(Python, FailedStopCheckpointEndsWithoutIt) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  for (int sig : {SIGINT, SIGTERM}) {
    TempDir t;
    std::string name = "fail" + std::to_string(sig);
    Child c({python(), source("tests/python/failstop.py")}, in(t, name));
    wait_for_lines(t / (name + ".out"), 1);
    c.signal(sig);
    Exit e = c.wait(10);
    chmod((t / "ckpt.d").c_str(), 0700);
    std::string err = test::read_file(t / (name + ".err"));
    EXPECT_EQ(e.signal, sig) << err;
    EXPECT_NE(err.find("stopping without it"), std::string::npos) << err;
    if (sig == SIGINT) {
      EXPECT_NE(err.find("KeyboardInterrupt"), std::string::npos) << err;
    }
  }
}

// numpy arrays (restored into the same memory), bytes and pickled objects.
TEST(Python, ArraysBytesAndObjects) {
  TempDir t;
  std::string prog = source("tests/python/state.py");
  Exit e = test::run({python(), prog, "save"}, in(t, "save"));
  ASSERT_EQ(e.code, 0) << test::read_file(t / "save.err");
  EXPECT_EQ(test::read_file(t / "save.out"), "saved 1\n");
  e = test::run({python(), prog, "load"}, in(t, "load"));
  ASSERT_EQ(e.code, 0) << test::read_file(t / "load.err");
  EXPECT_EQ(test::read_file(t / "load.out"),
            "restored 1\nin place True\ngrid True\nblob True\n"
            "obj {'step': 42, 'name': 'run', 'list': [1.5, None]}\n");

  // An array of another size than the saved one: a clear error, exit 1.
  e = test::run({python(), prog, "wrongsize"}, in(t, "wrongsize"));
  EXPECT_EQ(e.code, 1);
  std::string err = test::read_file(t / "wrongsize.err");
  EXPECT_NE(err.find("ckpt.Error: "), std::string::npos) << err;
  EXPECT_NE(err.find("grid"), std::string::npos) << err;

  e = test::run({python(), prog, "badarray"}, in(t, "badarray"));
  EXPECT_EQ(e.code, 0);
  EXPECT_NE(test::read_file(t / "badarray.out").find("C-contiguous"), std::string::npos);
}

// full_every: the second image holds the changed 64 KiB block only, and
// restores the changed array; full_every 0 is a clear error.
TEST(Python, IncrementsOfANumpyArray) {
  TempDir t;
  std::string prog = source("tests/python/increments.py");
  Exit e = test::run({python(), prog, "save"}, in(t, "save"));
  ASSERT_EQ(e.code, 0) << test::read_file(t / "save.err");
  EXPECT_EQ(test::read_file(t / "save.out"), "second/first below 3% True\n");
  e = test::run({python(), prog, "load"}, in(t, "load"));
  ASSERT_EQ(e.code, 0) << test::read_file(t / "load.err");
  EXPECT_EQ(test::read_file(t / "load.out"), "restored 2\ngrid True\n");
  e = test::run({python(), "-c", "import ckpt; ckpt.Checkpointer(full_every=0)"}, in(t, "bad"));
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(test::read_file(t / "bad.err").find("full_every must be at least 1"), std::string::npos)
      << test::read_file(t / "bad.err");
}

// The interval and the deadline, from the environment and from keywords.
TEST(Python, IntervalAndDeadline) {
  TempDir t;
  std::string prog = source("tests/python/triggers.py");
  SpawnOptions o = in(t, "interval");
  o.env.push_back("CKPT_INTERVAL=0.3");
  Exit e = test::run({python(), prog, "interval"}, o);
  EXPECT_EQ(e.code, 0) << test::read_file(t / "interval.err");
  EXPECT_EQ(test::read_file(t / "interval.out"),
            "not at once True\nafter the interval True 1\nkeyword over env True\n");

  o = in(t, "deadline");
  // Due about 1.5 s from now.
  o.env.push_back("CKPT_DEADLINE=" + std::to_string(time(nullptr) + 12));
  o.env.push_back("CKPT_MARGIN=10.5");
  e = test::run({python(), prog, "deadline"}, o);
  EXPECT_EQ(e.code, 0) << test::read_file(t / "deadline.err");
  EXPECT_EQ(test::read_file(t / "deadline.out"),
            "before the margin True\nat the margin True\nonce True\nkeyword deadline True\n");
}

}  // namespace
}  // namespace ckpt
