// The life of a transparent job as `ckpt status` tells it, and what the same
// `ckpt run` line does next: a run killed by a signal after a checkpoint is
// resumed; only the program's own exit marks it finished; --fresh starts
// over; a damaged newest image is set aside at restart.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

std::string ckpt_bin() { return build_path("src/ckpt"); }
std::string count() { return build_path("tests/transparent/t_count"); }

struct Job {
  TempDir tmp;
  std::string dir = tmp / "job";
  SpawnOptions opts(const std::string& out = "out") const {
    SpawnOptions o;
    o.stdout_path = tmp / out;
    o.stderr_path = tmp / (out + ".err");
    o.append = true;
    o.cwd = tmp.path();
    o.env = {"CKPT_DIR=", "CKPT_INTERVAL=", "CKPT_KEEP="};
    return o;
  }
  std::vector<std::string> run_line(const std::string& n, bool fresh = false) const {
    std::vector<std::string> v = {ckpt_bin(), "run", "--dir", dir};
    if (fresh) v.push_back("--fresh");
    v.insert(v.end(), {"--", count(), n});
    return v;
  }
  Exit ckpt(std::vector<std::string> args) {
    args.insert(args.begin(), ckpt_bin());
    SpawnOptions o = opts("ckpt");
    o.append = false;
    return run(args, o, 60);
  }
  std::string status() {
    EXPECT_EQ(ckpt({"status", "--dir", dir}).code, 0) << read_file(tmp / "ckpt.err");
    return read_file(tmp / "ckpt");
  }
  std::string status_json() {
    EXPECT_EQ(ckpt({"status", "--dir", dir, "--json"}).code, 0) << read_file(tmp / "ckpt.err");
    return read_file(tmp / "ckpt");
  }
  // Starts the run line, checkpoints after `delay`, then sends sig to ckpt run.
  Exit checkpoint_then_signal(const std::vector<std::string>& line, double delay, int sig) {
    Child sup(line, opts());
    sleep_seconds(delay);
    Exit c = ckpt({"checkpoint", "--dir", dir});
    EXPECT_EQ(c.code, 0) << read_file(tmp / "ckpt.err");
    sleep_seconds(0.2);
    sup.signal(sig);
    return sup.wait(20);
  }
};

std::vector<int> numbers(const std::string& text) {
  std::vector<int> v;
  for (const auto& l : lines(text)) v.push_back(std::atoi(l.c_str()));
  return v;
}

TEST(JobState, KilledBySignalAfterACheckpointIsResumedByTheSameLine) {
  Job job;
  Exit e = job.checkpoint_then_signal(job.run_line("20"), 0.6, SIGTERM);
  EXPECT_EQ(e.code, 128 + SIGTERM);
  std::string st = job.status();
  EXPECT_NE(st.find("state:       resumable: killed by signal 15 (SIGTERM)"), std::string::npos)
      << st;
  EXPECT_NE(st.find("command:     " + count() + " 20"), std::string::npos) << st;
  EXPECT_NE(st.find("interval:    none"), std::string::npos) << st;
  EXPECT_NE(st.find("runs:        1"), std::string::npos) << st;
  EXPECT_NE(st.find("checkpoints: 1 complete"), std::string::npos) << st;
  std::string js = job.status_json();
  EXPECT_NE(js.find("\"state\":\"resumable\""), std::string::npos) << js;
  EXPECT_NE(js.find("\"signal\":15"), std::string::npos) << js;
  EXPECT_NE(js.find("\"newest\":{\"generation\":1"), std::string::npos) << js;

  // The same line resumes: the numbers go on from the checkpoint, not from 1.
  size_t before = numbers(read_file(job.tmp / "out")).size();
  e = run(job.run_line("20"), job.opts(), 60);
  EXPECT_EQ(e.code, 0) << read_file(job.tmp / "out.err");
  std::vector<int> all = numbers(read_file(job.tmp / "out"));
  ASSERT_GT(all.size(), before);
  EXPECT_GT(all[before], 1) << "the run started over";
  EXPECT_EQ(all.back(), 20);
  st = job.status();
  EXPECT_NE(st.find("state:       finished: the program exited with status 0"), std::string::npos)
      << st;
  EXPECT_NE(st.find("runs:        2"), std::string::npos) << st;

  // A finished run: the same line starts over.
  TempDir unused;
  e = run(job.run_line("3"), job.opts("again"), 60);
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(read_file(job.tmp / "again"), "1\n2\n3\n");
}

TEST(JobState, StoppedByACheckpointIsResumableAndFreshStartsOver) {
  Job job;
  Child sup(job.run_line("40"), job.opts());
  sleep_seconds(0.5);
  EXPECT_EQ(job.ckpt({"checkpoint", "--dir", job.dir, "--stop"}).code, 0);
  EXPECT_EQ(sup.wait(20).code, 85);
  std::string st = job.status();
  EXPECT_NE(st.find("state:       resumable: stopped by a checkpoint"), std::string::npos) << st;

  Exit e = run(job.run_line("3", /*fresh=*/true), job.opts("fresh"), 60);
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(read_file(job.tmp / "fresh"), "1\n2\n3\n");
  st = job.status();
  EXPECT_NE(st.find("finished: the program exited with status 0"), std::string::npos) << st;
}

TEST(JobState, KilledBeforeItsFirstCheckpointAfterFreshStartsOverNotFromTheOldRun) {
  Job job;
  Exit e = job.checkpoint_then_signal(job.run_line("40"), 0.5, SIGTERM);
  EXPECT_EQ(e.code, 128 + SIGTERM);
  // --fresh, killed before any checkpoint of its own.
  Child sup(job.run_line("40", true), job.opts("fresh"));
  sleep_seconds(0.4);
  sup.signal(SIGINT);
  EXPECT_EQ(sup.wait(20).code, 128 + SIGINT);
  std::string st = job.status();
  EXPECT_NE(st.find("before its first checkpoint"), std::string::npos) << st;
  e = run(job.run_line("2"), job.opts("third"), 60);
  EXPECT_EQ(read_file(job.tmp / "third"), "1\n2\n");
}

TEST(JobState, FailedCheckpointIsTheLastFailure) {
  Job job;
  Child sup(job.run_line("30"), job.opts());
  sleep_seconds(0.4);
  // The directory made read-only: the checkpoint cannot be written.
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anyway";
  ASSERT_EQ(::chmod(job.dir.c_str(), 0500), 0);
  EXPECT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 1);
  ::chmod(job.dir.c_str(), 0700);
  EXPECT_EQ(sup.wait(30).code, 0);
  std::string st = job.status();
  EXPECT_NE(st.find("last error:  checkpoint failed: "), std::string::npos) << st;
}

TEST(JobState, RestartSetsADamagedNewestImageAside) {
  Job job;
  Child sup(job.run_line("60"), job.opts());
  sleep_seconds(0.4);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0);
  sleep_seconds(0.3);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0);
  ::kill(sup.pid(), SIGKILL);
  sup.wait(10);
  std::string newest = job.dir + "/ckpt-000000000002.img";
  std::string img = read_file(newest);
  img[img.size() / 2] ^= 1;  // in the memory pages
  write_file(newest, img);
  std::string st = job.status();
  EXPECT_NE(st.find("checkpoints: 2 complete, 1 of them damaged"), std::string::npos) << st;
  EXPECT_NE(st.find("newest:      generation 1,"), std::string::npos) << st;
  EXPECT_EQ(job.ckpt({"list", "--dir", job.dir}).code, 0);
  EXPECT_NE(read_file(job.tmp / "ckpt").find("damaged"), std::string::npos);

  // Its own stdout and stderr: a restart cuts the old ones back to their
  // length at the checkpoint.
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts("restart"), 60);
  std::string err = read_file(job.tmp / "restart.err");
  EXPECT_EQ(e.code, 0) << err;
  EXPECT_EQ(::access((newest + ".damaged").c_str(), F_OK), 0);
  EXPECT_NE(::access(newest.c_str(), F_OK), 0);
  EXPECT_NE(err.find("set aside as " + newest + ".damaged; using the previous image"),
            std::string::npos)
      << err;
}

TEST(JobState, EnvironmentVariablesSetTheOptions) {
  Job job;
  SpawnOptions o = job.opts();
  // Full images: with increments, --keep 1 also keeps the images the
  // newest takes data from (Increment.PruneKeepsBases).
  o.env = {"CKPT_DIR=" + job.dir, "CKPT_INTERVAL=0.3", "CKPT_KEEP=1", "CKPT_FULL_EVERY=1"};
  Exit e = run({ckpt_bin(), "run", "--", count(), "12"}, o, 60);
  EXPECT_EQ(e.code, 0) << read_file(job.tmp / "out.err");
  std::string st = job.status();
  EXPECT_NE(st.find("interval:    every 0.3 s"), std::string::npos) << st;
  EXPECT_NE(st.find("dirty pages: full images: turned off (--full-every 1)"), std::string::npos)
      << st;
  EXPECT_NE(st.find("checkpoints: 1 complete"), std::string::npos) << st;  // --keep 1
  // Out of range in the environment is refused like a flag.
  o.env = {"CKPT_DIR=" + job.dir, "CKPT_COMPRESS=99"};
  o.stderr_path = job.tmp / "bad.err";
  o.append = false;
  e = run({ckpt_bin(), "run", "--fresh", "--", count(), "1"}, o, 60);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(read_file(job.tmp / "bad.err").rfind("ckpt: --compress 99", 0), 0u)
      << read_file(job.tmp / "bad.err");
}

}  // namespace
}  // namespace ckpt::test

namespace ckpt::test {
namespace {

// Progress on a terminal: `ckpt checkpoint` and `ckpt restart` of a 1 GiB
// program (compressed, so each takes seconds) under script(1), which gives
// them a pseudo-terminal; the same commands with stderr in a file say nothing.
TEST(Progress, ShownOnATerminalOnlyForSlowCheckpointsAndRestarts) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "script(1) (util-linux) is missing";
  Job job;
  std::string heap = build_path("tests/transparent/t_heap");
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--compress", "3", "--", heap, "1024", "100000"},
            job.opts());
  sleep_seconds(6);  // the heap is filled
  auto on_tty = [&](const std::string& cmd, const std::string& file) {
    SpawnOptions o = job.opts(file);
    o.append = false;
    return run({"/usr/bin/script", "-qefc", cmd, "/dev/null"}, o, 120);
  };
  Exit e = on_tty(ckpt_bin() + " checkpoint --dir " + job.dir, "tty1");
  EXPECT_EQ(e.code, 0) << read_file(job.tmp / "tty1");
  std::string tty = read_file(job.tmp / "tty1");
  EXPECT_NE(tty.find("\rcheckpoint: "), std::string::npos) << tty;
  EXPECT_NE(tty.find(" MiB/s"), std::string::npos) << tty;
  EXPECT_NE(tty.find(" s left"), std::string::npos) << tty;  // estimated from the memory

  EXPECT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0);
  std::string err = read_file(job.tmp / "ckpt.err");
  EXPECT_EQ(err, "") << "progress on a file";
  ::kill(sup.pid(), SIGKILL);
  sup.wait(20);

  // The restart: on a terminal, a progress line; it goes before the program
  // runs on. Then stopped at once by a checkpoint of its own.
  Child restart({"/usr/bin/script", "-qefc", ckpt_bin() + " restart --dir " + job.dir, "/dev/null"},
                job.opts("tty2"));
  double start = now_seconds();
  Exit c;
  do {
    sleep_seconds(0.5);
    c = job.ckpt({"checkpoint", "--dir", job.dir, "--stop"});
  } while (c.code != 0 && now_seconds() - start < 60);
  EXPECT_EQ(c.code, 0) << read_file(job.tmp / "ckpt.err");
  restart.wait(60);
  tty = read_file(job.tmp / "tty2");
  EXPECT_NE(tty.find("\rrestart: "), std::string::npos) << tty;
}

}  // namespace
}  // namespace ckpt::test
