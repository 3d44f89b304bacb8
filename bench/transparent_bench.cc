// Transparent checkpointing benchmark. For programs with MIB MiB resident,
// random and compressible: checkpoint wall time (`ckpt checkpoint`, which
// returns once the image is durable) against `dd conv=fsync` of the same
// bytes in the same directory, the program's pause (longest gap between its
// 10 ms heartbeats, less one period), the image size, and the restart time (from `ckpt
// restart` to the resumed program's first heartbeat); and the slowdown of a
// compute workload run under `ckpt run` with no checkpoint. Medians of --runs.
//
// Usage: transparent_bench --ckpt PATH --programs DIR [--dir DIR]
//                          [--sizes 256,1024,4096] [--runs 3]
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

}  // namespace

int main(int argc, char** argv) {
  std::string ckpt, programs, dir = "tbench.d", sizes_arg = "256,1024,4096";
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--ckpt") ckpt = argv[i + 1];
    else if (a == "--programs") programs = argv[i + 1];
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--sizes") sizes_arg = argv[i + 1];
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
  }
  if (ckpt.empty() || programs.empty()) {
    std::fprintf(stderr,
                 "usage: transparent_bench --ckpt PATH --programs DIR [--dir DIR] [--sizes "
                 "MiB,...] [--runs N]\n");
    return 2;
  }
  fs::create_directories(dir);
  std::vector<int> sizes;
  std::stringstream ss(sizes_arg);
  for (std::string s; std::getline(ss, s, ',');) sizes.push_back(std::stoi(s));

  // Slowdown between checkpoints.
  {
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

  std::printf("%-6s %-18s %8s %8s %8s %7s %7s %8s %10s %9s\n", "MiB", "data", "dd0 s", "ddimg s",
              "ckpt s", "r0", "rimg", "pause s", "image MiB", "restart s");
  std::printf(
      "(dd0: dd if=/dev/zero; ddimg: dd of the image file; r0, rimg: dd time / checkpoint time)\n");
  for (int mib : sizes) {
    for (const char* kind : {"random", "compressible"}) {
      for (int zstd : {0, 1}) {
        if (zstd && std::string(kind) == "random") continue;
        std::vector<double> dd, dd_image, ck, pause, restart;
        uint64_t img = 0;
        for (int r = 0; r < runs; r++) {
          std::string job = dir + "/job", out = dir + "/prog.out";
          std::error_code ec;
          fs::remove_all(job, ec);
          fs::remove(out, ec);
          double d0 = now();
          std::string cmd = "dd if=/dev/zero of=" + dir +
                            "/dd.tmp bs=1M count=" + std::to_string(mib) +
                            " conv=fsync status=none";
          if (std::system(cmd.c_str()) != 0) return 1;
          dd.push_back(now() - d0);
          fs::remove(dir + "/dd.tmp");

          pid_t job_pid = spawn({ckpt, "run", "--dir", job, "--zstd", std::to_string(zstd), "--",
                                 programs + "/resident", std::to_string(mib), kind},
                                out, false);
          if (!wait_for_line(out, "hb ", 3, 600)) {
            std::fprintf(stderr, "bench: the program did not start\n");
            return 1;
          }
          double c0 = now();
          int rc = run({ckpt, "checkpoint", "--dir", job}, dir + "/checkpoint.out");
          double c1 = now();
          if (rc != 0) {
            std::fprintf(stderr, "bench: ckpt checkpoint failed (%d)\n", rc);
            return 1;
          }
          ck.push_back(c1 - c0);
          usleep(500000);
          auto hb = heartbeats(out);
          double gap = 0;
          for (size_t i = 1; i < hb.size(); i++)
            if (hb[i] > c0 - 0.3 && hb[i - 1] < c1 + 0.3) gap = std::max(gap, hb[i] - hb[i - 1]);
          pause.push_back(std::max(0.0, gap - kHeartbeat));  // the gap beyond one period
          img = image_bytes(job);
          {
            // dd of the image's own bytes (random data: a virtual disk may
            // write zeros faster than real data).
            std::string newest;
            for (auto& e : fs::directory_iterator(job))
              if (e.path().extension() == ".img" && e.path().string() > newest) newest = e.path();
            double i0 = now();
            std::string cp =
                "dd if=" + newest + " of=" + dir + "/dd.tmp bs=1M conv=fsync status=none";
            if (std::system(cp.c_str()) != 0) return 1;
            dd_image.push_back(now() - i0);
            fs::remove(dir + "/dd.tmp");
          }
          kill(-job_pid, SIGKILL);
          waitpid(job_pid, nullptr, 0);
          wait_until_quiet(out);

          // The resumed program's first heartbeat is the first one stamped
          // after the restart began (CLOCK_MONOTONIC goes on across it).
          double r0 = now();
          pid_t rp = spawn({ckpt, "restart", "--dir", job}, out, true);
          double first = 0;
          for (double end = r0 + 600; first == 0 && now() < end; usleep(10000))
            for (double t : heartbeats(out))
              if (t > r0) {
                first = t;
                break;
              }
          if (first == 0) {
            std::fprintf(stderr, "bench: the restarted program did not run\n");
            return 1;
          }
          restart.push_back(first - r0);
          kill(-rp, SIGKILL);
          waitpid(rp, nullptr, 0);
          wait_until_quiet(out);
        }
        double ddm = median(dd), ckm = median(ck);
        char data[32];
        std::snprintf(data, sizeof data, "%s%s", kind, zstd ? "+zstd" : "");
        double ddi = median(dd_image);
        std::printf("%-6d %-18s %8.3f %8.3f %8.3f %7.2f %7.2f %8.3f %10.1f %9.3f\n", mib, data, ddm,
                    ddi, ckm, ddm / ckm, ddi / ckm, median(pause), double(img) / (1 << 20),
                    median(restart));
        std::fflush(stdout);
      }
    }
  }
  std::error_code ec;
  fs::remove_all(dir + "/job", ec);
  fs::remove_all(dir + "/cjob", ec);
  return 0;
}
