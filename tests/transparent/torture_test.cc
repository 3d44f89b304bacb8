// Crash consistency of transparent checkpointing. The writer of a process
// image is the job's supervisor (`ckpt run` or `ckpt restart`): each trial
// (re)starts the job, takes one complete checkpoint, starts another and
// kill -9s the supervisor (alone or with the whole job, sometimes the
// `ckpt checkpoint` client too) at a random moment within a checkpoint's
// measured duration. Then the directory must hold only complete images, and
// the restart must resume from the newest one. A job is restarted until its
// program ends; its output must then equal an uninterrupted run's.
// CKPT_TORTURE_TRIALS kills (default 50; scripts/torture.sh runs 1000),
// CKPT_TORTURE_SEED to repeat a run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

int trials() {
  const char* t = std::getenv("CKPT_TORTURE_TRIALS");
  return t && *t ? std::atoi(t) : 50;
}

bool verbose() {
  const char* v = std::getenv("CKPT_TORTURE_VERBOSE");
  return v && *v && *v != '0';
}

long file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? long(st.st_size) : -1;
}

bool is_prefix(const std::string& a, const std::string& b) {
  return a.size() <= b.size() && b.compare(0, a.size(), a) == 0;
}

// The names in DIR ending in SUFFIX.
std::vector<std::string> names_ending(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string n = e.path().filename();
    if (n.size() >= suffix.size() &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Watches a file's size from another thread: the smallest seen.
class SizeWatch {
 public:
  explicit SizeWatch(const std::string& path) : path_(path), min_(file_size(path)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        long s = file_size(path_);
        if (s >= 0 && s < min_) min_ = s;
        usleep(300);
      }
    });
  }
  ~SizeWatch() { finish(); }
  long finish() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
    return min_;
  }

 private:
  std::string path_;
  std::atomic<long> min_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Figures {
  int kills = 0, mid_write = 0, completed_anyway = 0, no_image = 0, rounds = 0;
  int supervisor_alone = 0, client_killed = 0, client_saw_end = 0;
};

class Torture {
 public:
  Torture(std::vector<std::string> argv, std::string ref, uint32_t seed)
      : argv_(std::move(argv)), ref_(std::move(ref)), rng_(seed) {}

  // One job from its start to its program's end, with kills until `budget`
  // is reached or the program ends.
  void round(int budget);
  const Figures& figures() const { return f_; }

 private:
  SpawnOptions opts(const std::string& err) const {
    SpawnOptions o;
    o.stdout_path = out_;
    o.stderr_path = err;
    o.append = true;
    o.cwd = tmp_->path();
    return o;
  }
  Exit ckpt(const std::vector<std::string>& args, std::string* out = nullptr,
            std::string* err = nullptr) {
    std::vector<std::string> argv = {ckpt_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o;
    o.cwd = tmp_->path();
    o.stdout_path = *tmp_ / "cmd.out";
    o.stderr_path = *tmp_ / "cmd.err";
    Exit e = run(argv, o, 60);
    if (out) *out = read_file(*tmp_ / "cmd.out");
    if (err) *err = read_file(*tmp_ / "cmd.err");
    return e;
  }
  double delay(double scale) { return std::uniform_real_distribution<double>(0, scale)(rng_); }
  void check_directory(const std::string& when);
  void finish_job(Child& sup, const std::string& when);

  std::vector<std::string> argv_;
  std::string ref_;
  std::mt19937 rng_;
  Figures f_;
  // A checkpoint's duration, and when its temp file exists, seen from here
  // (from starting `ckpt checkpoint`): measured as we go.
  double ckpt_s_ = 0.15, temp_from_ = 0.03, temp_to_ = 0.1;
  std::unique_ptr<TempDir> tmp_;
  std::string dir_, out_;
};

// Only complete images are visible as generations: every one verifies,
// `ckpt list` shows temp files as partial only, nothing is damaged.
void Torture::check_directory(const std::string& when) {
  std::set<std::string> images;
  for (const auto& n : names_ending(dir_, ".img")) {
    EXPECT_EQ(n.rfind("ckpt-", 0), 0u) << when << ": " << n;
    images.insert(n);
  }
  EXPECT_TRUE(names_ending(dir_, ".damaged").empty()) << when;
  std::string out, err;
  if (!images.empty()) {
    Exit v = ckpt({"verify", "--dir", dir_}, &out, &err);
    EXPECT_EQ(v.code, 0) << when << ": a complete image is damaged:\n" << out << err;
  }
  Exit l = ckpt({"list", "--dir", dir_}, &out, &err);
  EXPECT_EQ(l.code, 0) << when << ": " << err;
  std::set<std::string> listed;
  for (const auto& line : lines(out)) {
    if (line.rfind("GENERATION", 0) == 0) continue;
    char gen[64] = {}, kind[64] = {}, file[4096] = {};
    if (line[0] == '-') {
      EXPECT_EQ(std::sscanf(line.c_str(), "%63s %63s %4095s", gen, kind, file), 3) << line;
      EXPECT_STREQ(kind, "partial") << when << ": " << line;
      EXPECT_EQ(file[0], '.') << line;
    } else {
      char size[64], size_unit[64], created[64];
      int n = std::sscanf(line.c_str(), "%63s %63s %63s %63s %63s", gen, kind, size, size_unit,
                          created);
      EXPECT_EQ(n, 5) << line;
      std::string name = line.substr(line.rfind(' ') + 1);
      listed.insert(name);
      EXPECT_TRUE(images.count(name)) << when << ": `ckpt list` shows " << name;
    }
  }
  EXPECT_EQ(listed, images) << when << ":\n" << out;
  // Nothing holds the job's lock any more.
  Exit st = ckpt({"status", "--dir", dir_}, &out, &err);
  EXPECT_EQ(st.code, 0) << when << ": " << err;
  EXPECT_EQ(out.find("state:       running"), std::string::npos) << when << ":\n" << out;
  if (images.empty())
    EXPECT_NE(out.find("checkpoints: none"), std::string::npos) << when << ":\n" << out;
  else
    EXPECT_NE(out.find("checkpoints: " + std::to_string(images.size()) + " complete"),
              std::string::npos)
        << when << ":\n"
        << out;
}

// Lets the program run to its end; its output must be the reference.
void Torture::finish_job(Child& sup, const std::string& when) {
  Exit e = sup.wait(120);
  EXPECT_FALSE(e.timed_out) << when;
  EXPECT_EQ(e.code, 0) << when << ": " << read_file(*tmp_ / "sup.err");
  EXPECT_EQ(read_file(out_), ref_) << when << ": the output differs from an uninterrupted run's";
  EXPECT_TRUE(names_ending(dir_, ".tmp").empty())
      << when << ": a temp file outlived the job: " << names_ending(dir_, ".tmp")[0];
}

void Torture::round(int budget) {
  tmp_ = std::make_unique<TempDir>();
  dir_ = *tmp_ / "job";
  out_ = *tmp_ / "out";
  f_.rounds++;
  std::string r = "round " + std::to_string(f_.rounds);
  bool have_image = false;
  long known_low = 0;  // at most the output's size in the newest image known complete
  long size_at_kill = 0;
  for (int trial = 0;; trial++) {
    std::string when = r + " trial " + std::to_string(trial);
    std::string sup_err = *tmp_ / "sup.err";
    // `ckpt restart`, or `ckpt run` again (it resumes an unfinished run);
    // sometimes with periodic checkpoints besides the ones asked for here.
    std::vector<std::string> cmd = {ckpt_bin()};
    bool resume_by_run = !have_image || rng_() % 2;
    cmd.insert(cmd.end(), {resume_by_run ? "run" : "restart", "--dir", dir_});
    // Every other image full: increments are tortured too, and full images
    // are long enough for kills to land while one is written.
    cmd.insert(cmd.end(), {"--full-every", "2"});
    if (rng_() % 3 == 0) cmd.insert(cmd.end(), {"--interval", "1"});
    if (resume_by_run) {
      cmd.push_back("--");
      cmd.insert(cmd.end(), argv_.begin(), argv_.end());
    }
    if (!have_image) {
      write_file(out_, "");  // a new run starts over
      known_low = 0;
    }
    write_file(sup_err, "");
    std::unique_ptr<SizeWatch> watch;
    if (have_image) watch = std::make_unique<SizeWatch>(out_);
    Child sup(cmd, opts(sup_err));
    if (f_.kills >= budget) {  // the end of the torture: this job runs to its end
      finish_job(sup, when + " (last)");
      return;
    }
    Exit ended;
    if (!have_image) {
      // A fresh run: wait until the program runs (its library is loaded
      // before main).
      // (Up to 30 s: a sanitized supervisor on a loaded machine is slow.)
      for (double t0 = now_seconds();
           now_seconds() - t0 < 30 && file_size(out_) <= 0 && !sup.try_wait(&ended);)
        usleep(1000);
      ASSERT_GT(file_size(out_), 0)
          << when << ": the program did not start: " << read_file(sup_err);
    }
    // Then, after a restart always, else one time in two (the other time the
    // first checkpoint is the one interrupted): a complete checkpoint, at once
    // or after a while.
    if (have_image || rng_() % 2) {
      // After a restart, either at once (while it may still be restoring), or
      // once its output was cut back to the image's (it changed size: cut, or
      // grew if there was nothing to cut), to know a lower bound for the
      // output this checkpoint holds.
      bool at_once = have_image && rng_() % 4 == 0;
      if (have_image && !at_once)
        for (int i = 0; i < 20000 && file_size(out_) == size_at_kill && !sup.try_wait(&ended); i++)
          usleep(500);
      if (!at_once) usleep(useconds_t(delay(0.15) * 1e6));
      long before = file_size(out_);
      double t0 = now_seconds(), first = -1, last = -1;
      SpawnOptions co;
      co.cwd = tmp_->path();
      co.stderr_path = *tmp_ / "cmd.err";
      Child client({ckpt_bin(), "checkpoint", "--dir", dir_}, co);
      Exit c;
      while (!client.try_wait(&c)) {
        double t = now_seconds() - t0;
        if (!names_ending(dir_, ".tmp").empty()) {
          if (first < 0) first = t;
          last = t;
        }
        if (t > 60) c = client.wait(0);
        usleep(300);
      }
      std::string cerr = read_file(*tmp_ / "cmd.err");
      long min_size = watch ? watch->finish() : 0;
      if (c.code != 0) {  // only because the program ended first
        finish_job(sup, when + " (the checkpoint failed: " + cerr + ")");
        return;
      }
      ckpt_s_ = 0.7 * ckpt_s_ + 0.3 * (now_seconds() - t0);
      if (first >= 0) {
        temp_from_ = 0.7 * temp_from_ + 0.3 * first;
        temp_to_ = 0.7 * temp_to_ + 0.3 * last;
      }
      // The restart resumed at or after the newest checkpoint known complete.
      EXPECT_GE(min_size, known_low)
          << when << ": the restart went back before a complete checkpoint";
      std::string err = read_file(sup_err);
      EXPECT_EQ(err.find("previous"), std::string::npos) << when << ": " << err;
      if (!at_once) known_low = before;
    }
    std::string out_so_far = read_file(out_);
    EXPECT_TRUE(is_prefix(out_so_far, ref_)) << when << ": output:\n" << out_so_far;
    // The checkpoint to interrupt.
    std::vector<std::string> ccmd = {ckpt_bin(), "checkpoint", "--dir", dir_};
    SpawnOptions co;
    co.cwd = tmp_->path();
    co.stdout_path = *tmp_ / "client.out";
    co.stderr_path = *tmp_ / "client.err";
    Child client(ccmd, co);
    // Two times in three while the image is being written, else at any
    // moment of the checkpoint (connecting, stopping the program, reading
    // its memory, after the image is complete).
    double wait_s = rng_() % 3 ? temp_from_ + delay(temp_to_ - temp_from_) : delay(1.2 * ckpt_s_);
    usleep(useconds_t(wait_s * 1e6));
    if (sup.try_wait(&ended)) {  // the program ended before the kill
      EXPECT_EQ(ended.code, 0) << when << ": " << read_file(sup_err);
      client.wait(30);
      finish_job(sup, when);
      return;
    }
    bool kill_client = rng_() % 3 == 0, alone = rng_() % 3 == 0;
    if (kill_client) ::kill(client.pid(), SIGKILL);
    ::kill(alone ? sup.pid() : -sup.pid(), SIGKILL);
    Exit se = sup.wait(10);
    f_.kills++;
    f_.supervisor_alone += alone;
    f_.client_killed += kill_client;
    if (alone) {
      // The job dies with its supervisor.
      bool gone = false;
      for (int i = 0; i < 400 && !gone; i++) {
        gone = ::kill(-sup.pid(), 0) != 0;
        if (!gone) usleep(5000);
      }
      EXPECT_TRUE(gone) << when << ": the program outlived its supervisor";
      ::kill(-sup.pid(), SIGKILL);
    }
    size_at_kill = file_size(out_);
    std::vector<std::string> temps = names_ending(dir_, ".tmp");
    if (!temps.empty()) f_.mid_write++;
    Exit ce = client.wait(30);
    EXPECT_FALSE(ce.timed_out) << when << ": `ckpt checkpoint` hangs after the kill";
    std::string client_out = read_file(*tmp_ / "client.out");
    std::string client_err = read_file(*tmp_ / "client.err");
    if (!kill_client && ce.code == 0) {
      // Reported done: it must be complete.
      f_.completed_anyway++;
      std::string path = client_out.substr(0, client_out.find('\n'));
      EXPECT_EQ(file_size(path) > 0, true) << when << ": reported " << path;
    } else if (!kill_client) {
      f_.client_saw_end++;
      EXPECT_EQ(lines(client_err).size(), 1u) << when << ": " << client_err;
      EXPECT_NE(client_err.find("ckpt:"), std::string::npos) << when << ": " << client_err;
    }
    if (verbose())
      std::printf("%s: kill after %.3f s of ~%.3f (%s%s): temp files %zu, client %d %s",
                  when.c_str(), wait_s, ckpt_s_, alone ? "supervisor alone" : "whole job",
                  kill_client ? ", client too" : "", temps.size(), ce.code,
                  (client_out + client_err).c_str());
    check_directory(when);
    if (::testing::Test::HasFailure()) return;
    // The program may have ended in the moment before the kill (a slow,
    // sanitized supervisor): then the job is done, and its output whole;
    // `ckpt run` would rightly start it over.
    if (se.code == 0 ||
        read_file(dir_ + "/job.state").find("phase=finished") != std::string::npos) {
      EXPECT_EQ(read_file(out_), ref_) << when << ": the job ended just before the kill";
      return;
    }
    bool had_image = have_image;
    have_image = !names_ending(dir_, ".img").empty();
    if (!have_image) {
      // Never completed: restarting says so cleanly; a new run starts over.
      EXPECT_FALSE(had_image) << when << ": the images are gone";
      f_.no_image++;
      std::string out, err;
      Exit e = ckpt({"restart", "--dir", dir_}, &out, &err);
      EXPECT_NE(e.code, 0);
      EXPECT_NE(err.find("no checkpoint"), std::string::npos) << when << ": " << err;
      EXPECT_EQ(lines(err).size(), 1u) << err;
    }
  }
}

// Kills at random moments of checkpoints of the job running argv; every
// restart must end with the uninterrupted run's output.
void torture(const std::vector<std::string>& argv, int n) {
  std::string ref;
  {
    TempDir t;
    SpawnOptions o;
    o.stdout_path = t / "out";
    o.cwd = t.path();
    ASSERT_EQ(run(argv, o, 120).code, 0);
    ref = read_file(t / "out");
  }
  uint32_t seed = std::random_device{}();
  if (const char* s = std::getenv("CKPT_TORTURE_SEED"); s && *s) seed = uint32_t(std::atol(s));
  std::printf("transparent torture: seed %u (CKPT_TORTURE_SEED)\n", seed);
  Torture t(argv, ref, seed);
  double t0 = now_seconds();
  while (t.figures().kills < n) {
    t.round(n);
    if (::testing::Test::HasFailure()) break;
  }
  const Figures& f = t.figures();
  ::testing::Test::RecordProperty("trials", f.kills);
  ::testing::Test::RecordProperty("killed_mid_write", f.mid_write);
  std::printf(
      "transparent torture: %d kills in %d jobs, %.1f s: %d while an image was being written, %d "
      "after the interrupted checkpoint completed, %d before any image existed; %d of the "
      "supervisor alone, %d of the client too\n",
      f.kills, f.rounds, now_seconds() - t0, f.mid_write, f.completed_anyway, f.no_image,
      f.supervisor_alone, f.client_killed);
  // The harness must be testing what it is for: kills while an image is
  // written. A fifth of them over a long run; over a short one (10 kills
  // of a tree under a sanitized supervisor) chance alone can give fewer,
  // but never none.
  int want = f.kills >= 20 ? f.kills / 5 : std::min(1, f.kills);
  EXPECT_GE(f.mid_write, want) << "too few kills landed while an image was being written";
}

TEST(TransparentTorture, KillNineDuringCheckpoints) {
  // 32 MiB changed in every step; 150 steps of 20 ms.
  torture({program("t_heap"), "32", "150", "20000"}, trials());
}

// The same for a tree: two processes that share memory, one feeding the
// other; the tree comes back whole or not at all.
TEST(TransparentTorture, KillNineDuringCheckpointsOfATree) {
  // 64 MiB of shared memory: images big enough for kills to land in writes.
  torture({program("t_shm"), "anon", "300", "64"}, std::max(10, trials() / 3));
}

}  // namespace
}  // namespace ckpt::test
