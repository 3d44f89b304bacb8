// Whole-job checkpoints (issue 9): a job of N processes holding MIB MiB
// together. Per run: `ckpt checkpoint` wall time (returns once the image
// is durable) against `dd conv=fsync` of the image's bytes in the same
// directory in the same run; the pause of the slowest process (longest
// gap between its 10 ms heartbeats, less one period); the image size;
// restart time (from `ckpt restart` to the root's first heartbeat). With
// MIB 0 it measures the fixed cost of a tree of tiny processes. Medians of
// --runs.
//
// Usage: tree_bench --ckpt PATH --program PATH [--dir DIR] [--procs 16]
//                   [--mib 1024] [--runs 3]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

double wall() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    int err = open((out + ".err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(err, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

int run(const std::vector<std::string>& argv, const std::string& out) {
  pid_t pid = spawn(argv, out);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Heartbeats per process id.
std::map<int, std::vector<double>> beats(const std::string& path) {
  std::map<int, std::vector<double>> m;
  std::ifstream in(path);
  int id;
  double t;
  while (in >> id >> t) m[id].push_back(t);
  return m;
}

size_t processes_seen(const std::string& path) { return beats(path).size(); }

uint64_t image_bytes(const std::string& dir) {
  uint64_t b = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".img") b = std::max<uint64_t>(b, e.file_size());
  return b;
}

double dd_seconds(const std::string& dir, uint64_t bytes) {
  std::string f = dir + "/dd.tmp";
  uint64_t mib = std::max<uint64_t>(1, (bytes + (1 << 20) - 1) >> 20);
  double t0 = wall();
  run({"/bin/dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=" + std::to_string(mib), "conv=fsync",
       "status=none"},
      "/dev/null");
  double t = wall() - t0;
  fs::remove(f);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string ckpt, program, dir = "/var/tmp/ckpt-tree-bench";
  int procs = 16, runs = 3;
  long mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--ckpt") ckpt = v;
    else if (k == "--program") program = v;
    else if (k == "--dir") dir = v;
    else if (k == "--procs") procs = std::atoi(v.c_str());
    else if (k == "--mib") mib = std::atol(v.c_str());
    else if (k == "--runs") runs = std::atoi(v.c_str());
  }
  if (ckpt.empty() || program.empty()) {
    std::fprintf(stderr,
                 "usage: tree_bench --ckpt PATH --program PATH [--dir DIR] [--procs N] "
                 "[--mib MIB] [--runs N]\n");
    return 2;
  }
  std::vector<double> ckpt_s, dd_s, pause_s, restart_s, size_b;
  for (int r = 0; r < runs; r++) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string job = dir + "/job", out = dir + "/out";
    pid_t sup = spawn({ckpt, "run", "--dir", job, "--", program, std::to_string(procs),
                       std::to_string(mib), "600"},
                      out);
    // Every process filled its memory and beats.
    for (int i = 0; i < 6000 && processes_seen(out) < size_t(procs); i++) usleep(10000);
    usleep(300000);
    double t0 = wall();
    int rc = run({ckpt, "checkpoint", "--dir", job}, dir + "/ckpt.out");
    double t1 = wall();
    if (rc != 0) {
      std::fprintf(stderr, "checkpoint failed (see %s/ckpt.out.err)\n", dir.c_str());
      return 1;
    }
    usleep(300000);
    kill(-sup, SIGKILL);
    waitpid(sup, nullptr, 0);
    // The slowest process's longest gap around the checkpoint.
    double worst = 0;
    for (auto& [id, ts] : beats(out))
      for (size_t k = 1; k < ts.size(); k++)
        if (ts[k] > t0 - 0.05 && ts[k - 1] < t1 + 0.05)
          worst = std::max(worst, ts[k] - ts[k - 1] - 0.010);
    uint64_t bytes = image_bytes(job);
    ckpt_s.push_back(t1 - t0);
    pause_s.push_back(worst);
    size_b.push_back(double(bytes));
    dd_s.push_back(dd_seconds(dir, bytes));
    // Restart: to the root's first heartbeat.
    std::string out2 = dir + "/out2";
    double r0 = wall();
    pid_t again = spawn({ckpt, "restart", "--dir", job}, out2);
    double first = 0;
    for (int i = 0; i < 60000 && first == 0; i++) {
      auto b = beats(out2);
      if (!b[0].empty()) first = wall();
      else usleep(1000);
    }
    restart_s.push_back(first ? first - r0 : -1);
    kill(-again, SIGKILL);
    waitpid(again, nullptr, 0);
  }
  double c = median(ckpt_s), d = median(dd_s);
  std::printf("tree_bench: %d processes, %ld MiB together, %d runs (medians)\n", procs, mib, runs);
  std::printf("  image            %.1f MiB\n", median(size_b) / 1048576.0);
  std::printf("  checkpoint       %.3f s   dd conv=fsync of the same bytes %.3f s   ratio %.2f\n",
              c, d, d > 0 ? c / d : 0);
  std::printf("  pause (slowest)  %.3f s\n", median(pause_s));
  std::printf("  restart to first output  %.3f s\n", median(restart_s));
  fs::remove_all(dir);
  return 0;
}
