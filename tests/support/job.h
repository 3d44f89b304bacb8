// A job under `ckpt run` for end-to-end tests of transparent checkpointing:
// a reference run, then runs checkpointed and killed with SIGKILL, restarted,
// and their output compared with the reference.
#pragma once

#include <string>
#include <vector>

#include "control/userns.h"
#include "support/process.h"

namespace ckpt::test {

// Whether jobs here run in namespace mode (pids and tids kept), and if not why.
const control::Userns& userns();
#define SKIP_WITHOUT_NAMESPACES() \
  if (!userns().ok)               \
  GTEST_SKIP() << "needs namespace mode; here the job runs in no-namespace mode: " << userns().why
#define SKIP_WITH_NAMESPACES()                                                            \
  if (userns().ok)                                                                        \
  GTEST_SKIP() << "tests the no-namespace mode; user namespaces are available here (the " \
                  "no-namespace CI stage runs it in a chroot)"

void sleep_s(double s);

struct Job {
  TempDir tmp;
  std::string dir = tmp / "job";
  std::string out = tmp / "out";
  std::string err = tmp / "err";
  SpawnOptions opts() const {
    SpawnOptions o;
    o.stdout_path = out;
    o.stderr_path = err;
    o.append = true;
    o.cwd = tmp.path();
    return o;
  }
  Exit ckpt(const std::vector<std::string>& args, double timeout = 60) {
    std::vector<std::string> argv = {ckpt_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o = opts();
    o.stdout_path = tmp / "ckpt.out";
    o.stderr_path = tmp / "ckpt.err";
    return run(argv, o, timeout);
  }
  std::string ckpt_err() { return read_file(tmp / "ckpt.err"); }
};

std::string reference(const std::vector<std::string>& argv, const std::string& cwd = "");

// Starts argv under `ckpt run` (cycle 0) or `ckpt restart`, checkpoints after
// `delay` seconds, then kills the whole job with SIGKILL.
void checkpoint_and_kill(Job& job, const std::vector<std::string>& argv, int cycle, double delay);

// The checkpointed run's complete output, after `cycles` checkpoint+kill rounds.
std::string checkpointed(Job& job, const std::vector<std::string>& argv, double delay,
                         int cycles = 1);

void expect_same(const std::vector<std::string>& argv, double delay, int cycles = 1);

}  // namespace ckpt::test
