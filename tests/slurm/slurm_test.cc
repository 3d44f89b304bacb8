// Real jobs through a real local Slurm (scripts/slurm.sh up): stories S3, S4,
// S5, S7 and the ways a job must not go on. Each test skips with a message
// when Slurm is not up. Run them as an ordinary user (scripts/test.sh does).
// The warning is sent with `scancel --batch -s USR1` to keep them fast; one
// test (S3) waits for a real time limit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "support/process.h"

namespace {

using ckpt::test::build_dir;
using ckpt::test::ckpt_bin;
using ckpt::test::read_file;
using ckpt::test::TempDir;

struct Result {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command; stdout and stderr apart.
Result sh(const std::string& cmd) {
  static int n = 0;
  std::string errfile =
      "/tmp/ckpt-slurm-test-err-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  Result r;
  FILE* p = popen((cmd + " 2>" + errfile).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, k);
  int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.err = read_file(errfile);
  unlink(errfile.c_str());
  return r;
}

std::string count_signal() { return build_dir() + "/examples/count-signal"; }
std::string plain_count() { return build_dir() + "/tests/slurm/plain-count"; }

// Why Slurm cannot be used here; empty if it can.
std::string slurm_missing() {
  static std::string why = [] {
    if (!std::getenv("SLURM_CONF")) {
      const char* d = std::getenv("CKPT_SLURM_DIR");
      std::string conf = std::string(d ? d : "/tmp/ckpt-slurm") + "/slurm.conf";
      if (access(conf.c_str(), R_OK) != 0)
        return "Slurm is not up (no " + conf + "): run 'sudo scripts/slurm.sh up' first";
      // Our own fixture: its pid file says at once whether it is up.
      std::string pid = read_file(conf.substr(0, conf.rfind('/')) + "/run/slurmctld.pid");
      if (pid.empty() || (kill(std::atoi(pid.c_str()), 0) != 0 && errno != EPERM))
        return "Slurm is not up (slurmctld of " + conf +
               " is not running): run 'sudo scripts/slurm.sh up'";
      setenv("SLURM_CONF", conf.c_str(), 1);
    }
    Result r = sh("timeout 10 sinfo -h -o %t");
    if (r.rc != 0) return "Slurm is not up (sinfo: " + r.err + "): run 'sudo scripts/slurm.sh up'";
    if (r.out.find("idle") == std::string::npos && r.out.find("mix") == std::string::npos &&
        r.out.find("alloc") == std::string::npos)
      return "the Slurm node is not usable (sinfo says " + r.out + ")";
    return std::string();
  }();
  return why;
}

#define SKIP_WITHOUT_SLURM()           \
  do {                                 \
    std::string why = slurm_missing(); \
    if (!why.empty()) {                \
      GTEST_SKIP() << why;             \
    }                                  \
  } while (0)

bool wait_until(const std::function<bool()>& pred, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

// The lines that are only a number: what the counting programs print.
std::vector<long> numbers(const std::string& text) {
  std::vector<long> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos)
      out.push_back(std::atol(line.c_str()));
  return out;
}
std::vector<long> one_to(long n) {
  std::vector<long> v;
  for (long i = 1; i <= n; i++) v.push_back(i);
  return v;
}
int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) n++;
  return n;
}

// scontrol show job -o: Key=Value words.
std::map<std::string, std::string> job_info(const std::string& id) {
  std::map<std::string, std::string> m;
  std::istringstream in(sh("scontrol show job -o " + id).out);
  std::string w;
  while (in >> w) {
    auto eq = w.find('=');
    if (eq != std::string::npos) m[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return m;
}
bool job_ended(const std::string& id) {
  std::string st = job_info(id)["JobState"];
  return st == "COMPLETED" || st == "FAILED" || st == "TIMEOUT" || st == "CANCELLED" ||
         st == "NODE_FAIL" || st == "OUT_OF_MEMORY";
}
std::string state_field(const std::string& dir, const std::string& key) {
  std::istringstream in(read_file(dir + "/slurm.state"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return {};
}
int queued_jobs() { return int(numbers(sh("squeue -h -u $(id -un) -o %i").out).size()); }

// ckpt sbatch ARGS; the job id.
std::string submit(const std::string& args) {
  Result r = sh(ckpt_bin() + " sbatch " + args);
  EXPECT_EQ(r.rc, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find('\n'));
  EXPECT_FALSE(id.empty()) << r.err;
  return id;
}

// Output so far, for failure messages.
std::string dump(const std::string& out) { return "--- job output ---\n" + read_file(out); }

// S4 (and S7 with a transparent program): two warnings, two requeues, done.
void requeue_twice(const std::string& dir, const std::string& program_args,
                   const std::string& mode) {
  std::string out = dir + "/job.out";
  std::string id = submit("--time=5 " + mode + " --dir " + dir + " -- " + program_args);
  ASSERT_FALSE(id.empty());
  for (int run = 1; run <= 2; run++) {
    size_t before = numbers(read_file(out)).size();
    ASSERT_TRUE(wait_until(
        [&] {
          std::string o = read_file(out);
          return count(o, "ckpt-slurm: ") == run && numbers(o).size() >= before + 5;
        },
        90))
        << "run " << run << " did not start or make progress\n"
        << dump(out);
    ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
    ASSERT_TRUE(wait_until([&] { return count(read_file(out), "requeueing job") == run; }, 60))
        << dump(out);
  }
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "program finished") == 1; }, 120))
      << dump(out);
  ASSERT_TRUE(wait_until([&] { return job_ended(id); }, 30));
  auto info = job_info(id);
  EXPECT_EQ(info["JobState"], "COMPLETED");
  EXPECT_EQ(info["Restarts"], "2");
  std::string o = read_file(out);
  EXPECT_EQ(count(o, "run 2: checkpoint saved at the warning"), 1) << o;
  EXPECT_EQ(count(o, "checkpoint saved"), 2) << o;
  // ckpt's own lines: the first run's, one per requeue, the last word; no
  // image path from ckpt checkpoint, no srun error for the status 85.
  EXPECT_EQ(count(o, "ckpt-slurm: "), 4) << o;
  EXPECT_EQ(count(o, "srun: error"), 0) << o;
  EXPECT_EQ(count(o, ".img\n"), 0) << o;
  EXPECT_NE(o.find("program finished in run 3 (2 restarts)"), std::string::npos) << o;
  EXPECT_EQ(state_field(dir, "run"), "3");
  EXPECT_EQ(state_field(dir, "state"), "done");
  Result st = sh(ckpt_bin() + " status --dir " + dir);
  EXPECT_NE(st.out.find("run 3 so far, 2 restarts"), std::string::npos) << st.out << st.err;
  EXPECT_NE(st.out.find("slurm state: done"), std::string::npos) << st.out;
}

TEST(SlurmJob, S4_RequeuesTwiceAndFinishesWithTheSameResult) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  ASSERT_NO_FATAL_FAILURE(requeue_twice(t / "s4.d", count_signal() + " 60 100", "--app"));
  // Every number once, in order: as an uninterrupted run prints them.
  Result plain = sh("CKPT_DIR=" + (t / "plain.d") + " " + count_signal() + " 60 0");
  ASSERT_EQ(plain.rc, 0);
  EXPECT_EQ(numbers(plain.out), one_to(60));
  EXPECT_EQ(numbers(read_file(t / "s4.d/job.out")), numbers(plain.out)) << dump(t / "s4.d/job.out");
}

void chain_twice(const std::string& dir, const std::string& kind) {
  std::string out = dir + "/job.out";
  std::string first = submit("--time=5 --app --chain=" + kind + " --dir " + dir + " -- " +
                             count_signal() + " 60 100");
  ASSERT_FALSE(first.empty());
  std::vector<std::string> ids = {first};
  for (int run = 1; run <= 2; run++) {
    size_t before = numbers(read_file(out)).size();
    ASSERT_TRUE(wait_until(
        [&] {
          std::string o = read_file(out);
          return state_field(dir, "run") == std::to_string(run) &&
                 state_field(dir, "state") == "running" && numbers(o).size() >= before + 5;
        },
        90))
        << dump(out);
    std::string id = state_field(dir, "job_id");
    if (run > 1) {
      EXPECT_NE(id, ids.back());
      ids.push_back(id);
    }
    ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
    ASSERT_TRUE(
        wait_until([&] { return count(read_file(out), "next job of the chain") == run; }, 60))
        << dump(out);
  }
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "program finished") == 1; }, 120))
      << dump(out);
  std::string last = state_field(dir, "job_id");
  ids.push_back(last);
  ASSERT_TRUE(wait_until([&] { return job_ended(last); }, 30));
  EXPECT_EQ(job_info(last)["JobState"], "COMPLETED");
  EXPECT_EQ(job_info(ids[0])["Restarts"], "0");  // a chain, not a requeue
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_EQ(numbers(read_file(out)), one_to(60)) << dump(out);
}

TEST(SlurmJob, S5_ChainAfterAny) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  chain_twice(t / "chain.d", "afterany");
}

TEST(SlurmJob, S5_ChainSingleton) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  chain_twice(t / "single.d", "singleton");
}

// An MPI program using libckpt's MPI mode (tests/mpi/heat.cc), 4 ranks
// under srun --mpi=pmix: warned, every rank saves one generation and exits
// 85, requeued with the same rank count, resumed, and its result is the
// uninterrupted run's, bit for bit.
TEST(SlurmJob, MpiProgramRequeuedWithTheSameRankCount) {
  SKIP_WITHOUT_SLURM();
  std::string heat = build_dir() + "/tests/mpi/heat";
  if (access(heat.c_str(), X_OK) != 0) GTEST_SKIP() << "no MPI here (tests/mpi/heat is not built)";
  if (sh("srun --mpi=list 2>&1").out.find("pmix") == std::string::npos)
    GTEST_SKIP() << "Slurm has no PMIx plugin";
  TempDir t;
  std::string dir = t / "heat.d", out = dir + "/job.out";
  std::string args = "--n 64 --steps 500 --sleep-ms 20 --out " + (t / "out.bin");
  std::string id = submit("--time=5 --app --mpi=pmix --ntasks=4 --overcommit --dir " + dir +
                          " -- " + heat + " " + args);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "ckpt-slurm: ") == 1; }, 90))
      << dump(out);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "requeueing job") == 1; }, 90))
      << dump(out);
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "program finished") == 1; }, 180))
      << dump(out);
  std::string o = read_file(out);
  EXPECT_NE(o.find("saved generation 1 of 4 ranks; stopping (exit status 85)"), std::string::npos)
      << o;
  EXPECT_NE(o.find("restored generation 1 of 4 ranks"), std::string::npos) << o;
  EXPECT_NE(o.find("resumed at step "), std::string::npos) << o;
  // The same program, uninterrupted, 4 ranks.
  Result plain = sh("cd " + t.path() + " && CKPT_DIR=" + (t / "plain.d") +
                    " srun --mpi=pmix -n 4 --overcommit " + heat + " --n 64 --steps 500 --out " +
                    (t / "plain.bin"));
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_TRUE(read_file(t / "out.bin") == read_file(t / "plain.bin"))
      << "differs from the uninterrupted run";
}

TEST(SlurmJob, S7_TransparentProgramRequeuedAndResumed) {
  SKIP_WITHOUT_SLURM();
  if (sh(ckpt_bin() + " run --help").rc != 0) GTEST_SKIP() << "ckpt run is not built yet";
  TempDir t;
  ASSERT_NO_FATAL_FAILURE(requeue_twice(t / "s7.d", plain_count() + " 60 100", "--interval 3600"));
  // Every number once, in order: none lost, none printed again after a
  // restart (`ckpt checkpoint --stop` ends the program at its snapshot).
  EXPECT_EQ(numbers(read_file(t / "s7.d/job.out")), one_to(60)) << dump(t / "s7.d/job.out");
}

// A job of independent tasks under ckpt run: one directory per task; at
// the warning every running task is checkpointed and stopped, the job is
// requeued, and each task resumes from its own directory; the task that
// had finished is not run again. Every task's numbers appear exactly once.
TEST(SlurmJob, TransparentTasksResumedTaskByTask) {
  SKIP_WITHOUT_SLURM();
  if (sh(ckpt_bin() + " run --help").rc != 0) GTEST_SKIP() << "ckpt run is not built yet";
  TempDir t;
  std::string dir = t / "tasks.d", out = dir + "/job.out";
  // Task 0 counts to 5, tasks 1 and 2 to 50, one number every 100 ms.
  std::string prog = "bash -c 'exec " + plain_count() + " $((SLURM_PROCID ? 50 : 5)) 100'";
  std::string id =
      submit("--time=5 --ntasks=3 --overcommit --interval 3600 --dir " + dir + " -- " + prog);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_until([&] { return numbers(read_file(out)).size() >= 25; }, 90))
      << "the tasks did not start or make progress\n"
      << dump(out);
  ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "requeueing job") == 1; }, 60))
      << dump(out);
  ASSERT_TRUE(wait_until([&] { return count(read_file(out), "program finished") == 1; }, 120))
      << dump(out);
  std::vector<long> got = numbers(read_file(out)), want = one_to(5), fifty = one_to(50);
  want.insert(want.end(), fifty.begin(), fifty.end());
  want.insert(want.end(), fifty.begin(), fifty.end());
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want) << dump(out);
  for (int task = 0; task < 3; task++) {
    Result st = sh(ckpt_bin() + " status --dir " + dir + "/task-" + std::to_string(task));
    EXPECT_NE(st.out.find("finished"), std::string::npos) << task << ": " << st.out << st.err;
  }
  EXPECT_NE(read_file(out).find("program finished in run 2 (1 restarts)"), std::string::npos)
      << dump(out);
}

TEST(SlurmJob, FailedCheckpointDoesNotRequeue) {
  SKIP_WITHOUT_SLURM();
  if (geteuid() == 0) GTEST_SKIP() << "root can write into a read-only directory; run as a user";
  TempDir t;
  std::string dir = t / "fail.d", out = dir + "/job.out";
  std::string id = submit("--time=5 --app --dir " + dir + " -- " + count_signal() + " 100000 100");
  ASSERT_TRUE(wait_until([&] { return numbers(read_file(out)).size() >= 3; }, 90)) << dump(out);
  ASSERT_EQ(chmod(dir.c_str(), 0500), 0);  // the checkpoint cannot be written now
  ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
  bool ended = wait_until([&] { return job_ended(id); }, 60);
  chmod(dir.c_str(), 0700);
  ASSERT_TRUE(ended) << job_info(id)["JobState"] << "\n" << dump(out);
  std::string o = read_file(out);
  EXPECT_NE(o.find("checkpoint FAILED"), std::string::npos) << o;
  EXPECT_NE(o.find("NOT requeued"), std::string::npos) << o;
  EXPECT_EQ(count(o, "requeueing"), 0) << o;
  auto info = job_info(id);
  EXPECT_EQ(info["JobState"], "FAILED");
  EXPECT_EQ(info["Restarts"], "0");
}

TEST(SlurmJob, MaxRestartsStopsTheJob) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  std::string dir = t / "max.d", out = dir + "/job.out";
  std::string id = submit("--time=5 --app --max-restarts 0 --dir " + dir + " -- " + count_signal() +
                          " 100000 100");
  ASSERT_TRUE(wait_until([&] { return numbers(read_file(out)).size() >= 3; }, 90)) << dump(out);
  ASSERT_EQ(sh("scancel --batch -s USR1 " + id).rc, 0);
  ASSERT_TRUE(wait_until([&] { return job_ended(id); }, 60)) << dump(out);
  std::string o = read_file(out);
  EXPECT_NE(o.find("NOT resubmitted: 0 restarts reached --max-restarts 0"), std::string::npos) << o;
  EXPECT_EQ(job_info(id)["Restarts"], "0");
  EXPECT_EQ(state_field(dir, "state"), "stopped");
  // The checkpoint is there: resubmitting the script would go on.
  Result st = sh(ckpt_bin() + " status --dir " + dir);
  EXPECT_NE(st.out.find("checkpoints: 1 complete"), std::string::npos) << st.out;
}

// S3, the tutorial's own script: --signal=SIGINT@45 (no B:) reaches the
// program under srun, which saves and stops before the real time limit.
TEST(SlurmJob, S3_SignalReachesTheProgramBeforeTheRealTimeLimit) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  std::string dir = t / "s3.d", out = t / "s3.out", script = t / "s3.sh";
  ckpt::test::write_file(script,
                         "#!/bin/bash\n"
                         "#SBATCH --job-name=s3\n"
                         "#SBATCH --output=" +
                             out +
                             "\n"
                             "#SBATCH --open-mode=append\n"
                             "#SBATCH --time=0-00:01:00\n"
                             "#SBATCH --signal=SIGINT@45\n"
                             "#SBATCH --ntasks=1\n"
                             "export CKPT_DIR=" +
                             dir +
                             "\n"
                             "echo \"restarted ${SLURM_RESTART_COUNT-0}\"\n"
                             "srun --overcommit -n1 " +
                             count_signal() + " 1000 1000\n");
  Result r = sh("sbatch --parsable " + script);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find_first_of(";\n"));
  // The warning comes 45 to 75 s before the end: at slurmctld's first check.
  ASSERT_TRUE(wait_until([&] { return job_ended(id); }, 150)) << dump(out);
  auto info = job_info(id);
  std::string o = read_file(out);
  EXPECT_NE(info["JobState"], "TIMEOUT") << o;
  EXPECT_NE(o.find("restarted 0"), std::string::npos) << o;
  // libckpt may also have saved once by itself at its deadline (margin: a
  // third of the time left, this job being shorter than 3 minutes).
  EXPECT_NE(o.find("stopping (exit status 85)"), std::string::npos) << o;
  std::vector<long> got = numbers(o);
  ASSERT_FALSE(got.empty()) << o;
  EXPECT_EQ(got, one_to(long(got.size()))) << o;
  // Complete: the next start goes on right after the last number printed.
  long k = long(got.size());
  Result next = sh("CKPT_DIR=" + dir + " " + count_signal() + " " + std::to_string(k + 3) + " 0");
  EXPECT_EQ(numbers(next.out), (std::vector<long>{k + 1, k + 2, k + 3})) << next.out << next.err;
}

// The script's own #SBATCH --signal=B:USR1@LEAD, from Slurm's time-limit
// check (no scancel): with a 1-minute limit and --lead 40 it comes at the
// first check, 0 to 30 s into the run; the job saves and stops in time.
TEST(SlurmJob, RealTimeLimitWarnsTheBatchScript) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  std::string dir = t / "limit.d", out = dir + "/job.out";
  std::string id = submit("--time=1 --lead 40 --app --max-restarts 0 --dir " + dir + " -- " +
                          count_signal() + " 100000 100");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_until([&] { return job_ended(id); }, 150)) << dump(out);
  auto info = job_info(id);
  std::string o = read_file(out);
  EXPECT_NE(info["JobState"], "TIMEOUT") << o;
  EXPECT_NE(o.find("run 1: checkpoint saved at the warning"), std::string::npos) << o;
  EXPECT_NE(o.find("NOT resubmitted: 0 restarts reached --max-restarts 0"), std::string::npos) << o;
  std::vector<long> got = numbers(o);
  EXPECT_EQ(got, one_to(long(got.size()))) << o;
  // Resubmitting the same script goes on from the checkpoint.
  Result st = sh(ckpt_bin() + " status --dir " + dir);
  EXPECT_NE(st.out.find("slurm state: stopped"), std::string::npos) << st.out;
}

// Bad input: one clear line, and nothing submitted.
TEST(SlurmInput, NoSlurmOnThePath) {
  TempDir t;
  Result r = sh("PATH=" + t.path() + " " + ckpt_bin() + " sbatch --app --dir " + (t / "d") +
                " -- /bin/true");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("sbatch is not on the PATH"), std::string::npos) << r.err;
  EXPECT_EQ(access((t / "d").c_str(), F_OK), -1);
}

TEST(SlurmInput, LeadLongerThanTheLimit) {
  TempDir t;
  Result r =
      sh(ckpt_bin() + " sbatch --time=1 --lead 90 --app --dir " + (t / "d") + " -- /bin/true");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--lead 90 s is not shorter than the time limit (60 s)"), std::string::npos)
      << r.err;
}

TEST(SlurmInput, UnknownOption) {
  TempDir t;
  Result r = sh(ckpt_bin() + " sbatch --frobnicate=3 --app -- /bin/true");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown option --frobnicate"), std::string::npos) << r.err;
  r = sh(ckpt_bin() + " sbatch --signal=USR1@60 -- /bin/true");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("use --lead"), std::string::npos) << r.err;
}

TEST(SlurmInput, UnwritableCheckpointDirectory) {
  SKIP_WITHOUT_SLURM();
  int before = queued_jobs();
  Result r = sh(ckpt_bin() + " sbatch --app --dir /proc/ckpt-test.d -- /bin/true");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("checkpoint directory"), std::string::npos) << r.err;
  EXPECT_EQ(queued_jobs(), before);
}

TEST(SlurmInput, ProgramNotFound) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  Result r = sh(ckpt_bin() + " sbatch --app --dir " + (t / "d") + " -- no-such-program-here");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("no-such-program-here: not found on the PATH"), std::string::npos) << r.err;
}

TEST(SlurmInput, SbatchRefusesTheJob) {
  SKIP_WITHOUT_SLURM();
  TempDir t;
  int before = queued_jobs();
  Result r =
      sh(ckpt_bin() + " sbatch -p no-such-partition --app --dir " + (t / "d") + " -- /bin/true");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("sbatch refused the job: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("partition"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_EQ(queued_jobs(), before);
}

}  // namespace
