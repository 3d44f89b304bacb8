// Transparent checkpointing benchmark. For programs with MIB MiB resident,
// random and compressible, rewriting --rewrite percent of their pages per
// second: the job's first checkpoint and its later ones (wall time of
// `ckpt checkpoint`, which returns once the image is durable) against dd of
// the same bytes in the same directory (oflag=direct, and conv=fsync), the
// program's pause in each (longest gap between its 10 ms heartbeats, less
// one period), the image size, and the restart time (from `ckpt restart`
// to the resumed program's first heartbeat) against memcpy; and the
// slowdown of a compute workload run under `ckpt run` with no checkpoint.
// Medians of --runs.
//
// Usage: transparent_bench --ckpt PATH --programs DIR [--dir DIR]
//                          [--sizes 256,1024,4096] [--runs 3] [--rewrite 1]
//                          [--compute 0|1] [--rows random,compressible+zstd1,...]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr double kHeartbeat = 0.010;  // programs/resident.c prints every 10 ms

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out, bool append) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
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
  pid_t pid = spawn(argv, out, false);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::vector<double> heartbeats(const std::string& path) {
  std::vector<double> hb;
  for (auto& l : lines_of(path))
    if (l.rfind("hb ", 0) == 0) hb.push_back(std::stod(l.substr(3)) * 1e-9);
  return hb;
}

bool wait_for_line(const std::string& path, const std::string& prefix, size_t count,
                   double timeout) {
  double end = now() + timeout;
  while (now() < end) {
    size_t n = 0;
    for (auto& l : lines_of(path)) n += l.rfind(prefix, 0) == 0;
    if (n >= count) return true;
    usleep(20000);
  }
  return false;
}

// Waits until PATH has stopped growing for 300 ms: the killed job's
// program may still print for a moment after its supervisor is gone.
void wait_until_quiet(const std::string& path) {
  std::error_code ec;
  uintmax_t last = fs::file_size(path, ec);
  for (double still = now(); now() - still < 0.3; usleep(20000)) {
    uintmax_t size = fs::file_size(path, ec);
    if (size != last) {
      last = size;
      still = now();
    }
  }
}

uint64_t image_bytes(const std::string& dir) {
  uint64_t total = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".img") total = std::max<uint64_t>(total, e.file_size());
  return total;
}

// memcpy of MIB MiB between two touched buffers (measured on at most 1 GiB
// and scaled: the figure is a bandwidth).
double memcpy_seconds(int mib) {
  size_t n = size_t(std::min(mib, 1024)) << 20;
  std::vector<char> a(n, 1), b(n, 2);
  std::vector<double> t;
  for (int i = 0; i < 3; i++) {
    double t0 = now();
    std::memcpy(b.data(), a.data(), n);
    t.push_back(now() - t0);
    a[i] = b[n - 1 - i];
  }
  return median(t) * mib / std::min(mib, 1024);
}

double timed_shell(const std::string& cmd) {
  double t0 = now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "bench: failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  return now() - t0;
}

// The longest gap between heartbeats from A to B, less one period.
double pause_between(const std::string& out, double a, double b) {
  auto hb = heartbeats(out);
  double gap = 0;
  for (size_t i = 1; i < hb.size(); i++)
    if (hb[i] > a && hb[i - 1] < b) gap = std::max(gap, hb[i] - hb[i - 1]);
  return std::max(0.0, gap - kHeartbeat);
}

}  // namespace

int main(int argc, char** argv) {
  std::string ckpt, programs, dir = "tbench.d", sizes_arg = "256,1024,4096";
  int runs = 3;
  double rewrite = 1;  // percent of the pages rewritten per second
  bool compute = true;
  std::string rows;  // ",random,compressible+zstd1,": only these; empty: all
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--ckpt") ckpt = argv[i + 1];
    else if (a == "--programs") programs = argv[i + 1];
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--sizes") sizes_arg = argv[i + 1];
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--rewrite") rewrite = std::atof(argv[i + 1]);
    else if (a == "--compute") compute = std::atoi(argv[i + 1]) != 0;
    else if (a == "--rows") rows = "," + std::string(argv[i + 1]) + ",";
  }
  if (ckpt.empty() || programs.empty()) {
    std::fprintf(stderr,
                 "usage: transparent_bench --ckpt PATH --programs DIR [--dir DIR] [--sizes "
                 "MiB,...] [--runs N] [--rewrite PERCENT_PER_S] [--compute 0|1] [--rows "
                 "random,random+zstd1,compressible,compressible+zstd1]\n");
    return 2;
  }
  fs::create_directories(dir);
  std::vector<int> sizes;
  std::stringstream ss(sizes_arg);
  for (std::string s; std::getline(ss, s, ',');) sizes.push_back(std::stoi(s));

  // Slowdown between checkpoints.
  if (compute) {
    std::vector<double> plain, under;
    for (int r = 0; r < runs; r++) {
      std::string out = dir + "/compute.out";
      fs::remove(out);
      run({programs + "/compute"}, out);
      plain.push_back(std::stod(lines_of(out).at(0)));
      std::error_code ec;
      fs::remove_all(dir + "/cjob", ec);
      run({ckpt, "run", "--dir", dir + "/cjob", "--", programs + "/compute"}, out);
      under.push_back(std::stod(lines_of(out).at(0)));
    }
    std::printf(
        "compute workload, CPU time: plain %.3f s, under ckpt run %.3f s: slowdown %+.2f%% (target "
        "< 1%%)\n\n",
        median(plain), median(under), (median(under) / median(plain) - 1) * 100);
  }

  std::printf("program rewrites %.3g%% of its pages per second; medians of %d runs\n", rewrite,
              runs);
  std::printf(
      "ddD: dd if=/dev/zero bs=8M oflag=direct conv=fsync; ddF: dd if=/dev/zero bs=1M "
      "conv=fsync; mcp: memcpy; of the same bytes, in the same run\n");
  std::printf("first: the job's first checkpoint; later: its 2nd and 3rd (1 s apart)\n");
  std::printf("%-5s %-19s %6s %6s %6s | %6s %5s %5s | %6s %5s %5s | %7s %7s | %7s | %7s %5s\n",
              "MiB", "data", "ddD s", "ddF s", "mcp s", "first", "/ddD", "/ddF", "later", "/ddD",
              "/ddF", "pause1", "pause2", "img MiB", "restart", "/mcp");
  for (int mib : sizes) {
    double mcp = memcpy_seconds(mib);
    for (const char* kind : {"random", "compressible"}) {
      for (int zstd : {0, 1}) {
        std::string row = std::string(kind) + (zstd ? "+zstd1" : "");
        if (rows.empty() ? zstd && row == "random+zstd1" && mib > 1024
                         : rows.find("," + row + ",") == std::string::npos)
          continue;
        std::vector<double> ddd, ddf, first, later, pause1, pause2, restart;
        uint64_t img = 0;
        for (int r = 0; r < runs; r++) {
          std::string job = dir + "/job", out = dir + "/prog.out";
          std::error_code ec;
          fs::remove_all(job, ec);
          fs::remove(out, ec);
          std::string tmp = dir + "/dd.tmp";
          ddd.push_back(timed_shell("dd if=/dev/zero of=" + tmp +
                                    " bs=8M count=" + std::to_string(mib / 8) +
                                    " oflag=direct conv=fsync status=none"));
          fs::remove(tmp);
          ddf.push_back(timed_shell("dd if=/dev/zero of=" + tmp + " bs=1M count=" +
                                    std::to_string(mib) + " conv=fsync status=none"));
          fs::remove(tmp);

          char pct[32];
          std::snprintf(pct, sizeof pct, "%g", rewrite);
          pid_t job_pid =
              spawn({ckpt, "run", "--dir", job, "--keep", "2", "--zstd", std::to_string(zstd), "--",
                     programs + "/resident", std::to_string(mib), kind, "3600", pct},
                    out, false);
          if (!wait_for_line(out, "hb ", 3, 600)) {
            std::fprintf(stderr, "bench: the program did not start\n");
            return 1;
          }
          std::vector<double> times, pauses;
          for (int c = 0; c < 3; c++) {
            if (c > 0) usleep(1000000);
            double c0 = now();
            int rc = run({ckpt, "checkpoint", "--dir", job}, dir + "/checkpoint.out");
            double c1 = now();
            if (rc != 0) {
              std::fprintf(stderr, "bench: ckpt checkpoint failed (%d)\n", rc);
              return 1;
            }
            times.push_back(c1 - c0);
            usleep(300000);
            pauses.push_back(pause_between(out, c0, c1 + 0.2));
          }
          first.push_back(times[0]);
          later.push_back(times[1]);
          later.push_back(times[2]);
          pause1.push_back(pauses[0]);
          pause2.push_back(pauses[1]);
          pause2.push_back(pauses[2]);
          img = image_bytes(job);
          kill(-job_pid, SIGKILL);
          waitpid(job_pid, nullptr, 0);
          wait_until_quiet(out);

          // The resumed program's first heartbeat is the first one stamped
          // after the restart began (CLOCK_MONOTONIC goes on across it).
          double r0 = now();
          pid_t rp = spawn({ckpt, "restart", "--dir", job}, out, true);
          double hb1 = 0;
          for (double end = r0 + 120; hb1 == 0 && now() < end; usleep(5000))
            for (double t : heartbeats(out))
              if (t > r0) {
                hb1 = t;
                break;
              }
          if (hb1 == 0) std::fprintf(stderr, "bench: the restarted program did not run in 120 s\n");
          else restart.push_back(hb1 - r0);
          kill(-rp, SIGKILL);
          waitpid(rp, nullptr, 0);
          wait_until_quiet(out);
        }
        char data[32];
        std::snprintf(data, sizeof data, "%s%s", kind, zstd ? "+zstd1" : "");
        double dd_d = median(ddd), dd_f = median(ddf), f = median(first), l = median(later);
        std::printf(
            "%-5d %-19s %6.3f %6.3f %6.3f | %6.3f %5.2f %5.2f | %6.3f %5.2f %5.2f | %7.3f %7.3f | "
            "%7.1f | %7.3f %5.2f\n",
            mib, data, dd_d, dd_f, mcp, f, dd_d / f, dd_f / f, l, dd_d / l, dd_f / l,
            median(pause1), median(pause2), double(img) / (1 << 20), median(restart),
            mcp / median(restart));
        std::fflush(stdout);
      }
    }
  }
  std::error_code ec;
  fs::remove_all(dir + "/job", ec);
  fs::remove_all(dir + "/cjob", ec);
  return 0;
}
