#include "support/job.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <vector>

#include "control/procfs.h"

namespace ckpt::test {

void sleep_s(double s) { usleep(useconds_t(s * 1e6)); }

const control::Userns& userns() {
  static const control::Userns u = control::probe_userns();
  return u;
}

std::string reference(const std::vector<std::string>& argv, const std::string& cwd) {
  TempDir t;
  SpawnOptions o;
  o.stdout_path = t / "out";
  o.cwd = cwd.empty() ? t.path() : cwd;
  Exit e = run(argv, o, 120);
  EXPECT_EQ(e.code, 0) << "reference run failed";
  return read_file(t / "out");
}

void checkpoint_and_kill(Job& job, const std::vector<std::string>& argv, int cycle, double delay) {
  std::vector<std::string> cmd = {ckpt_bin()};
  if (cycle == 0) {
    cmd.insert(cmd.end(), {"run", "--dir", job.dir, "--"});
    cmd.insert(cmd.end(), argv.begin(), argv.end());
  } else {
    cmd.insert(cmd.end(), {"restart", "--dir", job.dir});
  }
  Child sup(cmd, job.opts());
  sleep_s(delay);
  Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
  ASSERT_EQ(c.code, 0) << "checkpoint failed: " << job.ckpt_err() << read_file(job.err);
  sleep_s(0.3);  // the program runs on after the checkpoint; this output must go
  // The whole tree: the supervisor's group, and the processes of the job
  // that left it (a session or group of their own) where no namespace ends
  // with the supervisor.
  std::vector<pid_t> tree, todo = {sup.pid()};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    tree.push_back(p);
    for (pid_t kid : control::list_children(p)) todo.push_back(kid);
  }
  ::kill(-sup.pid(), SIGKILL);
  for (pid_t p : tree) ::kill(p, SIGKILL);
  sup.wait(10);
}

std::string checkpointed(Job& job, const std::vector<std::string>& argv, double delay, int cycles) {
  for (int c = 0; c < cycles; c++) {
    checkpoint_and_kill(job, argv, c, delay);
    if (::testing::Test::HasFatalFailure()) return "";
  }
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120);
  EXPECT_EQ(e.code, 0) << "restart failed: " << read_file(job.err);
  return read_file(job.out);
}

void expect_same(const std::vector<std::string>& argv, double delay, int cycles) {
  std::string ref = reference(argv);
  Job job;
  std::string got = checkpointed(job, argv, delay, cycles);
  EXPECT_EQ(got, ref);
}

}  // namespace ckpt::test
