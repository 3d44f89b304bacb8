// The demos as real processes: stories S1 and S2, interruptions at random
// moments (SIGINT, SIGTERM, kill -9), full disks, damaged directories.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include <gtest/gtest.h>

#include "format/jobdir.h"
#include "format/reader.h"
#include "support/process.h"

namespace ckpt {
namespace {

using test::Child;
using test::Exit;
using test::SpawnOptions;
using test::TempDir;

constexpr int kStopped = 85;

SpawnOptions in(const TempDir& t, const std::string& name, std::vector<std::string> env = {}) {
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / (name + ".out");
  o.stderr_path = t / (name + ".err");
  o.env = std::move(env);
  o.env.push_back("CKPT_DIR=");
  return o;
}

std::vector<long> numbers(const std::string& path) {
  std::vector<long> out;
  for (const auto& l : test::lines(test::read_file(path))) out.push_back(std::atol(l.c_str()));
  return out;
}

// The counter saved in the newest image of DIR (entry "i": 8 bytes).
long saved_counter(const std::string& dir) {
  format::JobDir jd;
  if (!jd.open(dir, false).is_ok() || jd.list().empty()) return 0;
  format::ImageReader r;
  EXPECT_TRUE(r.open(jd.list().back().path).is_ok());
  for (;;) {
    format::RecordInfo rec;
    bool end;
    EXPECT_TRUE(r.next(&rec, &end).is_ok());
    if (end) break;
    if (rec.type == format::kData && rec.raw == 8) {
      long v = 0;
      EXPECT_TRUE(r.read_payload(rec, &v).is_ok());
      return v;
    }
  }
  return -1;
}

void expect_run(const std::vector<long>& got, long first, long last) {
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), first);
  EXPECT_EQ(got.back(), last);
  for (size_t k = 1; k < got.size(); k++) ASSERT_EQ(got[k], got[k - 1] + 1);
}

class Count : public ::testing::TestWithParam<std::string> {};

// S1: state saved at every iteration; Ctrl-C; the next run goes on.
TEST_P(Count, CtrlCThenResume) {
  TempDir t;
  std::string prog = test::build_path("examples/" + GetParam());
  {
    Child c({prog, "1000", "30"}, in(t, "run1"));
    test::sleep_seconds(0.4);
    c.signal(SIGINT);
    Exit e = c.wait();
    EXPECT_EQ(e.code, kStopped) << test::read_file(t / "run1.err");
  }
  auto first = numbers(t / "run1.out");
  ASSERT_GE(first.size(), 3u);
  expect_run(first, 1, long(first.size()));
  EXPECT_EQ(saved_counter(t / "ckpt.d"), first.back());

  long n = first.back();
  Exit e = test::run({prog, std::to_string(n + 5), "1"}, in(t, "run2"));
  EXPECT_EQ(e.code, 0) << test::read_file(t / "run2.err");
  expect_run(numbers(t / "run2.out"), n + 1, n + 5);
}

// kill -9 at random moments, ten times over: each run resumes right after
// the newest checkpoint, and the counts add up to an uninterrupted run.
TEST_P(Count, KillNineAtRandomMoments) {
  TempDir t;
  std::string prog = test::build_path("examples/" + GetParam());
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 10; trial++) {
    long saved_before = saved_counter(t / "ckpt.d");
    std::string name = "run" + std::to_string(trial);
    Child c({prog, "100000", "2"}, in(t, name));
    test::sleep_seconds(0.05 + (rng() % 200) / 1000.0);
    c.signal(SIGKILL);
    c.wait();
    auto got = numbers(t / (name + ".out"));
    long saved = saved_counter(t / "ckpt.d");
    if (got.empty()) {
      EXPECT_EQ(saved, saved_before);
      continue;
    }
    EXPECT_EQ(got.front(), saved_before + 1) << "trial " << trial;
    EXPECT_TRUE(saved == got.back() || saved == got.back() - 1)
        << "saved " << saved << ", printed up to " << got.back();
  }
  long saved = saved_counter(t / "ckpt.d");
  Exit e = test::run({prog, std::to_string(saved + 3), "1"}, in(t, "final"));
  EXPECT_EQ(e.code, 0);
  expect_run(numbers(t / "final.out"), saved + 1, saved + 3);
}

std::vector<std::string> count_programs() {
  std::vector<std::string> p = {"count", "count-c"};
  if (access(test::build_path("examples/count-fortran").c_str(), X_OK) == 0)
    p.push_back("count-fortran");
  return p;
}

INSTANTIATE_TEST_SUITE_P(Demo, Count, ::testing::ValuesIn(count_programs()), [](const auto& info) {
  std::string n = info.param;
  for (auto& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

class CountSignal : public ::testing::TestWithParam<std::string> {};

// S2: nothing is saved until a signal; SIGTERM and SIGINT save and stop,
// SIGUSR1 saves and goes on; the next start resumes exactly.
TEST_P(CountSignal, SaveOnlyOnSignal) {
  TempDir t;
  std::string prog = test::build_path("examples/" + GetParam());
  for (int sig : {SIGTERM, SIGINT}) {
    std::string name = "stop" + std::to_string(sig);
    Child c({prog, "100000", "20"}, in(t, name));
    test::sleep_seconds(0.3);
    EXPECT_EQ(saved_counter(t / "ckpt.d"), sig == SIGTERM ? 0 : saved_counter(t / "ckpt.d"));
    c.signal(sig);
    Exit e = c.wait();
    EXPECT_EQ(e.code, kStopped) << test::read_file(t / (name + ".err"));
    auto got = numbers(t / (name + ".out"));
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(saved_counter(t / "ckpt.d"), got.back()) << "saved exactly what was printed";
  }
  long saved = saved_counter(t / "ckpt.d");
  {
    Child c({prog, "100000", "20"}, in(t, "usr1"));
    test::sleep_seconds(0.3);
    c.signal(SIGUSR1);
    test::sleep_seconds(0.3);
    long at_usr1 = saved_counter(t / "ckpt.d");
    EXPECT_GT(at_usr1, saved) << "SIGUSR1 checkpoints";
    c.signal(SIGKILL);
    c.wait();
    auto got = numbers(t / "usr1.out");
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front(), saved + 1);
    EXPECT_GT(got.back(), at_usr1) << "and the program went on after SIGUSR1";
    saved = at_usr1;
  }
  Exit e = test::run({prog, std::to_string(saved + 2), "1"}, in(t, "final"));
  EXPECT_EQ(e.code, 0);
  expect_run(numbers(t / "final.out"), saved + 1, saved + 2);
}

// Ctrl-C twice before the program reaches a safe point: it ends as it would
// without ckpt, and nothing half-done is saved. Once only: it checkpoints
// at the safe point and stops.
TEST(Demo, SecondCtrlCEndsAtOnce) {
  TempDir t;
  std::string prog = test::build_path("tests/spin");
  {
    Child c({prog, "30"}, in(t, "twice"));
    test::sleep_seconds(0.3);
    c.signal(SIGINT);
    test::sleep_seconds(0.1);
    c.signal(SIGINT);
    Exit e = c.wait(5);
    EXPECT_FALSE(e.timed_out);
    EXPECT_EQ(e.signal, SIGINT);
    format::JobDir jd;
    ASSERT_TRUE(jd.open(t / "ckpt.d", false).is_ok());
    EXPECT_TRUE(jd.list().empty());
  }
  Child c({prog, "1"}, in(t, "once"));
  test::sleep_seconds(0.3);
  c.signal(SIGINT);
  Exit e = c.wait(10);
  EXPECT_EQ(e.code, kStopped);
  EXPECT_EQ(saved_counter(t / "ckpt.d"), 1);
}

INSTANTIATE_TEST_SUITE_P(Demo, CountSignal, ::testing::Values("count-signal", "count-signal-c"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

std::string result_line(const std::string& path) {
  for (const auto& l : test::lines(test::read_file(path)))
    if (l.rfind("result ", 0) == 0) return l;
  return "";
}

class BigState : public ::testing::TestWithParam<std::vector<std::string>> {};

// kill -9 at random moments while 16 MiB checkpoints are being written:
// every restart resumes from a sound image and the final result is the
// uninterrupted run's.
TEST_P(BigState, KillNineDuringCheckpointsKeepsResultExact) {
  TempDir t;
  std::string prog = test::build_path("tests/big_state");
  ASSERT_EQ(test::run({prog, "16", "12"}, in(t, "ref", {"CKPT_DIR=" + t / "ref.d"})).code, 0);
  std::string want = result_line(t / "ref.out");
  ASSERT_FALSE(want.empty());

  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 6; trial++) {
    Child c({prog, "16", "12"}, in(t, "run" + std::to_string(trial), GetParam()));
    test::sleep_seconds(0.05 + (rng() % 250) / 1000.0);
    c.signal(SIGKILL);
    c.wait();
  }
  Exit e = test::run({prog, "16", "12"}, in(t, "final", GetParam()));
  ASSERT_EQ(e.code, 0) << test::read_file(t / "final.err");
  EXPECT_EQ(result_line(t / "final.out"), want);
  // No partial image left behind as a generation.
  format::JobDir jd;
  ASSERT_TRUE(jd.open(t / "ckpt.d", false).is_ok());
  for (const auto& g : jd.list()) EXPECT_TRUE(format::verify_image(g.path, nullptr).is_ok());
}

INSTANTIATE_TEST_SUITE_P(
    Demo, BigState,
    ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"CKPT_ASYNC=1"},
                      std::vector<std::string>{"CKPT_COMPRESS=3"},
                      std::vector<std::string>{"CKPT_ASYNC=1", "CKPT_COMPRESS=1"}),
    [](const auto& info) {
      std::string n;
      for (const auto& e : info.param) n += e.substr(5, e.find('=') - 5);
      return n.empty() ? std::string("sync") : n;
    });

// A full disk (RLIMIT_FSIZE): the checkpoint fails with one clear line, the
// previous image is untouched, and the job goes on once there is room.
TEST(Demo, FullDiskKeepsThePreviousImage) {
  TempDir t;
  std::string prog = test::build_path("tests/big_state");
  ASSERT_EQ(test::run({prog, "4", "3"}, in(t, "first")).code, 0);
  format::JobDir jd;
  ASSERT_TRUE(jd.open(t / "ckpt.d", false).is_ok());
  auto before = jd.list();
  ASSERT_FALSE(before.empty());
  std::string newest = test::read_file(before.back().path);

  SpawnOptions o = in(t, "full");
  o.fsize_limit = 1 << 20;
  Exit e = test::run({prog, "4", "6"}, o);
  EXPECT_EQ(e.code, 1);
  auto err = test::lines(test::read_file(t / "full.err"));
  ASSERT_FALSE(err.empty());
  EXPECT_NE(err.back().find("File too large"), std::string::npos) << err.back();
  auto after = jd.list();
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(test::read_file(after.back().path), newest);
  EXPECT_NE(access((t / "ckpt.d/.ckpt-000000000004.img.tmp").c_str(), F_OK), 0);

  ASSERT_EQ(test::run({prog, "4", "6"}, in(t, "resumed")).code, 0);
  ASSERT_EQ(test::run({prog, "4", "6"}, in(t, "ref", {"CKPT_DIR=" + t / "ref.d"})).code, 0);
  EXPECT_EQ(result_line(t / "resumed.out"), result_line(t / "ref.out"));
  EXPECT_EQ(test::lines(test::read_file(t / "resumed.out")).front().rfind("iter 4 ", 0), 0u);
}

// Damaged and foreign files in the directory: reported in one line, the
// newest sound generation is used.
TEST(Demo, DamagedAndForeignFilesFallBack) {
  TempDir t;
  std::string prog = test::build_path("examples/count");
  ASSERT_EQ(test::run({prog, "5", "1"}, in(t, "first")).code, 0);
  test::write_file(t / "ckpt.d/ckpt-000000000009.img", "this is not an image\n");
  std::string five = t / "ckpt.d/ckpt-000000000005.img";
  std::string img = test::read_file(five);
  img[img.size() - 30] ^= 1;
  test::write_file(five, img);

  Exit e = test::run({prog, "7", "1"}, in(t, "second"));
  EXPECT_EQ(e.code, 0);
  expect_run(numbers(t / "second.out"), 5, 7);
  std::string err = test::read_file(t / "second.err");
  EXPECT_NE(err.find("ckpt-000000000009.img is not a ckpt image"), std::string::npos) << err;
  EXPECT_NE(err.find("ckpt-000000000005.img: damaged at byte"), std::string::npos) << err;
  EXPECT_NE(err.find("restored generation 4"), std::string::npos) << err;
  for (const auto& l : test::lines(err)) EXPECT_LT(l.size(), 300u);
}

TEST(Demo, UnwritableDirectoryIsOneClearLine) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir t;
  mkdir((t / "ro").c_str(), 0500);
  Exit e = test::run({test::build_path("examples/count"), "3", "1"},
                     in(t, "run", {"CKPT_DIR=" + t / "ro"}));
  EXPECT_EQ(e.code, 1);
  auto err = test::lines(test::read_file(t / "run.err"));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_NE(err[0].find("not writable"), std::string::npos) << err[0];
}

}  // namespace
}  // namespace ckpt
