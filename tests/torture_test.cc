// Crash consistency of libckpt: kill -9 at random moments during
// checkpoints (CKPT_TORTURE_TRIALS, default 50; scripts/torture.sh runs
// 1000), and power loss simulated through the file-system seam: at every
// point of a checkpoint, data not yet fsync'd and renames not yet made
// durable are dropped, and the directory must still restore.
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include <ckpt/ckpt.hpp>

#include "base/fs.h"
#include "format/jobdir.h"
#include "format/reader.h"
#include "lib/testing.h"
#include "support/process.h"

namespace ckpt {
namespace {

using test::Child;
using test::SpawnOptions;
using test::TempDir;

int trials() {
  const char* t = std::getenv("CKPT_TORTURE_TRIALS");
  return t && *t ? std::atoi(t) : 50;
}

std::string result_of(const std::string& out) {
  for (const auto& l : test::lines(test::read_file(out)))
    if (l.rfind("result ", 0) == 0) return l;
  return "";
}

TEST(Torture, KillNineDuringCheckpoints) {
  TempDir t;
  std::string prog = test::build_path("tests/big_state");
  SpawnOptions ref;
  ref.cwd = t.path();
  ref.stdout_path = t / "ref.out";
  ref.env = {"CKPT_DIR=" + t / "ref.d"};
  // 5 % of the state changes per step: every other trial writes increments.
  std::vector<std::string> argv = {prog, "8", "400", "0", "5"};
  ASSERT_EQ(test::run(argv, ref).code, 0);

  std::mt19937 rng(std::random_device{}());
  int n = trials(), killed_mid_checkpoint = 0;
  for (int i = 0; i < n; i++) {
    SpawnOptions o;
    o.cwd = t.path();
    o.stdout_path = t / "run.out";
    o.stderr_path = t / "run.err";
    o.env = {"CKPT_DIR=" + t / "job", std::string("CKPT_ASYNC=") + (i % 2 ? "1" : "0"),
             std::string("CKPT_COMPRESS=") + (i % 3 == 0 ? "1" : "0"),
             std::string("CKPT_FULL_EVERY=") + (i % 4 < 2 ? "4" : "1")};
    Child c(argv, o);
    test::sleep_seconds(0.02 + (rng() % 150) / 1000.0);
    c.signal(SIGKILL);
    c.wait();
    // Killed before it made its directory (under load, 20 ms is early): nothing to check.
    if (access((t / "job").c_str(), F_OK) != 0 && errno == ENOENT) continue;
    format::JobDir jd;
    ASSERT_TRUE(jd.open(t / "job", false).is_ok());
    for (const auto& g : jd.list()) {
      Status s = format::verify_image(g.path, nullptr);
      ASSERT_TRUE(s.is_ok()) << "trial " << i << ": a complete image is damaged: " << s.message();
    }
    if (access((t / "job").c_str(), F_OK) == 0) {
      for (const auto& e : std::filesystem::directory_iterator(t / "job"))
        if (e.path().extension() == ".tmp") killed_mid_checkpoint++;
    }
  }
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / "final.out";
  o.stderr_path = t / "final.err";
  o.env = {"CKPT_DIR=" + t / "job", "CKPT_FULL_EVERY=4"};
  ASSERT_EQ(test::run(argv, o, 300).code, 0) << test::read_file(t / "final.err");
  EXPECT_EQ(result_of(t / "final.out"), result_of(t / "ref.out"));
  for (const auto& e : std::filesystem::directory_iterator(t / "job"))
    EXPECT_NE(e.path().extension(), ".tmp") << "a temp file outlived the job: " << e.path();
  RecordProperty("trials", n);
  RecordProperty("killed_mid_checkpoint", killed_mid_checkpoint);
  std::printf("torture: %d kills, %d of them while a checkpoint was being written\n", n,
              killed_mid_checkpoint);
}

// A file system that loses power after `budget` operations: later calls
// fail, and at power_loss() what was not durable is undone.
class PowerLossFs : public Fs {
 public:
  explicit PowerLossFs(int budget) : budget_(budget) {}

  int open(const char* path, int flags, mode_t mode) override {
    if (!step()) return -EIO;
    int fd = Fs::open(path, flags, mode);
    if (fd >= 0) {
      paths_[fd] = path;
      synced_[path] = 0;
    }
    return fd;
  }
  ssize_t write(int fd, const void* p, size_t n) override {
    if (!step()) return -EIO;
    return Fs::write(fd, p, n);
  }
  ssize_t writev(int fd, const iovec* iov, int n) override {
    if (!step()) return -EIO;
    return Fs::writev(fd, iov, n);
  }
  int fsync(int fd) override {
    if (!step()) return -EIO;
    int r = Fs::fsync(fd);
    struct stat st;
    if (r == 0 && fstat(fd, &st) == 0) synced_[paths_[fd]] = st.st_size;
    return r;
  }
  int rename_noreplace(const char* from, const char* to) override {
    if (!step()) return -EIO;
    int r = Fs::rename_noreplace(from, to);
    if (r == 0) {
      pending_renames_.push_back({from, to});
      synced_[to] = synced_[from];
    }
    return r;
  }
  int fsync_dir(const char* dir) override {
    if (!step()) return -EIO;
    pending_renames_.clear();  // all renames in our single directory are durable now
    return Fs::fsync_dir(dir);
  }

  // Undoes what a power loss would: unsynced data, undurable renames.
  void power_loss() {
    for (auto it = pending_renames_.rbegin(); it != pending_renames_.rend(); ++it)
      ::rename(it->second.c_str(), it->first.c_str());
    for (const auto& [path, size] : synced_)
      if (access(path.c_str(), F_OK) == 0) ::truncate(path.c_str(), off_t(size));
  }
  bool crashed() const { return budget_ < 0; }

 private:
  bool step() { return budget_-- > 0; }
  int budget_;
  std::map<int, std::string> paths_;
  std::map<std::string, off_t> synced_;
  std::vector<std::pair<std::string, std::string>> pending_renames_;
};

Options quiet(const std::string& dir) {
  Options o;
  o.dir = dir;
  o.signals = {};
  o.quiet = true;
  o.find_slurm_deadline = false;
  return o;
}

TEST(Torture, PowerLossAtEveryStepOfACheckpoint) {
  std::vector<uint8_t> data(20 << 20);  // three 8 MiB chunks
  int crashes = 0;
  for (int budget = 0; budget < 1000; budget++) {
    TempDir t;
    std::string dir = t / "job";
    int64_t step = 1;
    for (auto& b : data) b = uint8_t(step);
    {
      Checkpointer ck(quiet(dir));
      ASSERT_TRUE(ck.add("step", step).is_ok());
      ASSERT_TRUE(ck.add("data", data).is_ok());
      ASSERT_TRUE(ck.restore().is_ok());
      ASSERT_TRUE(ck.checkpoint().is_ok());  // generation 1: durable
      step = 2;
      for (auto& b : data) b = uint8_t(step);
      PowerLossFs fs(budget);
      lib::set_fs_for_testing(&fs);
      Status s = ck.checkpoint();  // generation 2, cut short by the crash
      lib::set_fs_for_testing(nullptr);
      if (!fs.crashed()) {
        ASSERT_TRUE(s.is_ok()) << s.message();
        RecordProperty("steps_in_a_checkpoint", budget);
        break;
      }
      EXPECT_FALSE(s.is_ok());
      fs.power_loss();
      crashes++;
    }
    int64_t got = 0;
    std::vector<uint8_t> back;
    Checkpointer ck(quiet(dir));
    ASSERT_TRUE(ck.add("step", got).is_ok());
    ASSERT_TRUE(ck.add("data", back).is_ok());
    RestoreInfo info;
    Status s = ck.restore(&info);
    ASSERT_TRUE(s.is_ok()) << "crash after " << budget << " steps: " << s.message();
    ASSERT_TRUE(info.restored);
    EXPECT_EQ(info.skipped_damaged, 0) << "a half-written image was visible as complete";
    ASSERT_TRUE(got == 1 || got == 2);
    EXPECT_EQ(back.size(), data.size());
    EXPECT_TRUE(
        std::all_of(back.begin(), back.end(), [&](uint8_t b) { return b == uint8_t(got); }));
  }
  EXPECT_GT(crashes, 3);
  std::printf("torture: power loss simulated at %d points of a checkpoint\n", crashes);
}

}  // namespace
}  // namespace ckpt
