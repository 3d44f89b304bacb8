// The checkpoint-time cost of identifying executables and libraries by
// content (src/control/identity.h): a supervisor hashes every file with code
// that its program maps, once, then finds them in its cache.
//
//   hash_bench [--runs 5] [-- PROGRAM ARGS...]
//
// Starts PROGRAM (default: python3 importing numpy if it can, ssl, sqlite3,
// ctypes, decimal, lzma and bz2: a few dozen MiB of libraries), waits
// until it has loaded its libraries, and reports, as medians of --runs:
// the files and bytes hashed; the first checkpoint's hashing time (cache
// empty, files in the page cache) against memcpy of the same bytes, the
// machine's own limit measured in the same run; and a later checkpoint's
// (every file found in the cache).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "control/identity.h"
#include "control/procfs.h"

using namespace ckpt;

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// What the checkpoint (memory.cc) hashes: the executable and every file with an executable mapping.
std::vector<std::string> code_files(pid_t pid) {
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<control::MapLine> maps;
  (void)control::read_maps(pid, &maps);
  std::vector<std::string> paths;
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) paths.emplace_back(buf, size_t(n));
  for (const auto& m : maps)
    if (m.x && !m.path.empty() && m.path[0] == '/') paths.push_back(m.path);
  for (const std::string& p : paths) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        seen.insert({st.st_dev, st.st_ino}).second)
      out.push_back(p);
  }
  return out;
}

double hash_all(const std::vector<std::string>& files, uint64_t* bytes) {
  double t0 = now_s();
  *bytes = 0;
  for (const std::string& f : files) {
    int fd = open(f.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    control::ContentHash h;
    if (fd >= 0 && fstat(fd, &st) == 0 && control::content_hash(fd, st, &h).is_ok())
      *bytes += uint64_t(st.st_size);
    if (fd >= 0) close(fd);
  }
  return now_s() - t0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::vector<std::string> prog;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--") {
      for (i++; i < argc; i++) prog.push_back(argv[i]);
    } else {
      std::fprintf(stderr, "usage: hash_bench [--runs N] [-- PROGRAM ARGS...]\n");
      return 2;
    }
  }
  if (prog.empty()) {
    bool numpy = system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0;
    prog = {"/usr/bin/python3", "-c",
            std::string(numpy ? "import numpy; " : "") +
                "import ssl, sqlite3, ctypes, decimal, lzma, bz2, time; time.sleep(600)"};
  }
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> av;
    for (auto& s : prog) av.push_back(s.data());
    av.push_back(nullptr);
    execvp(av[0], av.data());
    _exit(127);
  }
  // Until its mappings stop changing (the libraries are loaded).
  std::vector<std::string> files;
  for (int k = 0; k < 100; k++) {
    usleep(500000);
    std::vector<std::string> now = code_files(pid);
    if (!now.empty() && now == files) break;
    files = now;
  }
  if (std::getenv("HASH_BENCH_LIST"))
    for (const auto& f : files) std::printf("  %s\n", f.c_str());
  std::vector<double> cold, warm, copy;
  uint64_t bytes = 0;
  for (int r = 0; r < runs; r++) {
    control::forget_hashes();
    cold.push_back(hash_all(files, &bytes));
    warm.push_back(hash_all(files, &bytes));
  }
  // memcpy of the same number of bytes between two touched buffers.
  std::vector<char> a(bytes, 1), b(bytes, 2);
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    std::memcpy(b.data(), a.data(), bytes);
    copy.push_back(now_s() - t0);
    a[size_t(r) % bytes] = b[size_t(r * 7) % bytes];
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::printf("program: %s ... (%zu files with code, %.1f MiB)\n", prog[0].c_str(), files.size(),
              double(bytes) / (1 << 20));
  std::printf("first checkpoint, hashing: %.2f ms (%.2f GB/s), %.2fx memcpy of the same bytes\n",
              median(cold) * 1e3, double(bytes) / median(cold) / 1e9, median(cold) / median(copy));
  std::printf("later checkpoint, cached:  %.3f ms\n", median(warm) * 1e3);
  std::printf("memcpy of %.1f MiB:        %.2f ms\n", double(bytes) / (1 << 20),
              median(copy) * 1e3);
  return 0;
}
