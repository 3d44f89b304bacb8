// libckpt benchmarks, each reported against the machine's own limits
// measured in the same run: the disk's sequential write bandwidth
// (dd if=/dev/zero bs=1M conv=fsync, and bs=8M oflag=direct conv=fsync)
// and memcpy bandwidth. Medians of --runs runs. Not a test: it asserts
// nothing, it reports.
//
// Usage: ckpt_bench [--dir DIR] [--sizes 64M,1G,4G] [--runs N]
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <ckpt/ckpt.hpp>

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

size_t parse_size(const std::string& s) {
  size_t n = std::stoull(s);
  char u = s.empty() ? 0 : s.back();
  if (u == 'K' || u == 'k') n <<= 10;
  if (u == 'M' || u == 'm') n <<= 20;
  if (u == 'G' || u == 'g') n <<= 30;
  return n;
}

std::string fmt_size(size_t n) {
  char b[32];
  if (n >= (1ull << 30)) std::snprintf(b, sizeof b, "%zu GiB", n >> 30);
  else std::snprintf(b, sizeof b, "%zu MiB", n >> 20);
  return b;
}

// dd of the same number of bytes, with fsync, in DIR: seconds. DIRECT:
// with O_DIRECT in 8 MiB blocks (the disk's own limit, page cache left out).
double dd_seconds(const std::string& dir, size_t bytes, bool direct = false) {
  std::string out = dir + "/dd.tmp";
  std::string cmd = "dd if=/dev/zero of=" + out +
                    (direct ? " bs=8M oflag=direct count=" + std::to_string(bytes >> 23)
                            : " bs=1M count=" + std::to_string(bytes >> 20)) +
                    " conv=fsync status=none";
  double t0 = now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "bench: dd failed\n");
    std::exit(1);
  }
  double t = now() - t0;
  std::filesystem::remove(out);
  return t;
}

double memcpy_seconds(std::vector<uint8_t>& dst, const std::vector<uint8_t>& src) {
  double t0 = now();
  std::memcpy(dst.data(), src.data(), src.size());
  double t = now() - t0;
  if (dst[src.size() / 2] != src[src.size() / 2]) std::abort();
  return t;
}

void fill_random(std::vector<uint8_t>& v) {
  std::mt19937_64 rng(42);
  auto* w = reinterpret_cast<uint64_t*>(v.data());
  for (size_t i = 0; i < v.size() / 8; i++) w[i] = rng();
}

// Compressible like simulation output: smooth doubles with noise in the low bits.
void fill_fields(std::vector<uint8_t>& v) {
  auto* d = reinterpret_cast<double*>(v.data());
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < v.size() / 8; i++)
    d[i] = double(int64_t(std::sin(double(i) * 1e-4) * 1000.0)) + double(rng() % 4) * 0.25;
}

ckpt::Options bench_options(const std::string& dir) {
  ckpt::Options o;
  o.dir = dir;
  o.signals = {};
  o.quiet = true;
  o.keep = 1;
  o.find_slurm_deadline = false;
  return o;
}

struct Result {
  double seconds;
  size_t image_bytes;
};

size_t dir_image_bytes(const std::string& dir) {
  size_t total = 0;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".img") total += e.file_size();
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "bench.d";
  std::string sizes_arg = "64M,1G,4G";
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    else if (a == "--sizes") sizes_arg = argv[i + 1];
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: ckpt_bench [--dir DIR] [--sizes 64M,1G,4G] [--runs N]\n");
      return 2;
    }
  }
  std::vector<size_t> sizes;
  for (size_t p = 0; p < sizes_arg.size();) {
    size_t c = sizes_arg.find(',', p);
    if (c == std::string::npos) c = sizes_arg.size();
    sizes.push_back(parse_size(sizes_arg.substr(p, c - p)));
    p = c + 1;
  }
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), 0700);

  // checkpoint_if_due() when nothing is due.
  {
    long x = 0;
    for (double interval : {0.0, 3600.0}) {
      std::string d = dir + "/due";
      std::filesystem::remove_all(d);
      ckpt::Options o = bench_options(d);
      o.interval_seconds = interval;
      ckpt::Checkpointer ck(o);
      (void)ck.add("x", x);
      (void)ck.restore();
      std::vector<double> per_call;
      const long n = 50'000'000;
      for (int r = 0; r < runs; r++) {
        long taken = 0;
        double t0 = now();
        for (long i = 0; i < n; i++) {
          taken += ck.checkpoint_if_due();
          asm volatile("" ::: "memory");
        }
        per_call.push_back((now() - t0) / double(n) * 1e9);
        if (taken) std::abort();
      }
      std::printf("checkpoint_if_due, nothing due (%s): %.2f ns/call (median of %d x %ld)\n",
                  interval > 0 ? "interval set: reads the coarse clock" : "no interval",
                  median(per_call), runs, n);
    }
  }

  std::printf("\n%-8s %-34s %10s %10s %9s\n", "size", "what", "median s", "MiB/s", "ratio");
  for (size_t bytes : sizes) {
    std::vector<uint8_t> state(bytes), copy(bytes);
    fill_random(state);
    std::memset(copy.data(), 1, copy.size());

    std::vector<double> dd, ddd, mc;
    for (int r = 0; r < runs; r++) {
      dd.push_back(dd_seconds(dir, bytes));
      ddd.push_back(dd_seconds(dir, bytes, true));
      mc.push_back(memcpy_seconds(copy, state));
    }
    double dd_s = median(dd), ddd_s = median(ddd), mc_s = median(mc);
    double mib = double(bytes) / (1 << 20);
    auto row = [&](const char* what, double s, double limit_s, const char* vs) {
      std::printf("%-8s %-34s %10.3f %10.0f %9.2f  (%s)\n", fmt_size(bytes).c_str(), what, s,
                  mib / s, limit_s / s, vs);
    };
    row("dd bs=1M conv=fsync", dd_s, dd_s, "= 1 by definition");
    row("dd bs=8M oflag=direct conv=fsync", ddd_s, ddd_s, "= 1 by definition");
    row("memcpy", mc_s, mc_s, "= 1 by definition");

    std::string d = dir + "/job";
    // Synchronous, uncompressed, random data.
    {
      std::filesystem::remove_all(d);
      ckpt::Checkpointer ck(bench_options(d));
      (void)ck.add("state", state);
      (void)ck.restore();
      std::vector<double> t;
      for (int r = 0; r < runs; r++) {
        double t0 = now();
        ckpt::Status s = ck.checkpoint();
        t.push_back(now() - t0);
        if (!s) return std::fprintf(stderr, "bench: %s\n", s.message()), 1;
      }
      row("checkpoint sync, uncompressed, 1st", t[0], ddd_s, "bandwidth / dd oflag=direct's");
      row("checkpoint sync, uncompressed", median(t), dd_s, "bandwidth / dd conv=fsync's");
      row("checkpoint sync, uncompressed", median(t), ddd_s,
          "bandwidth / dd oflag=direct's; target >= 0.9");
    }
    // Restore of that image (page cache warm), into a registered vector.
    {
      std::vector<double> t;
      for (int r = 0; r < runs; r++) {
        std::vector<uint8_t> target;
        ckpt::Checkpointer ck(bench_options(d));
        (void)ck.add("state", target);
        double t0 = now();
        ckpt::Status s = ck.restore();
        t.push_back(now() - t0);
        if (!s || target.size() != bytes) return std::fprintf(stderr, "bench: restore failed\n"), 1;
      }
      row("restore (image in page cache)", median(t), mc_s, "bandwidth / memcpy's");
    }
    // Asynchronous: the stall is the staging copy.
    {
      std::filesystem::remove_all(d);
      ckpt::Options o = bench_options(d);
      o.async = true;
      ckpt::Checkpointer ck(o);
      (void)ck.add("state", state);
      (void)ck.restore();
      std::vector<double> stall, total;
      for (int r = 0; r < runs; r++) {
        double t0 = now();
        ckpt::Status s = ck.checkpoint();
        double t1 = now();
        s = ck.wait();
        double t2 = now();
        if (!s) return std::fprintf(stderr, "bench: %s\n", s.message()), 1;
        stall.push_back(t1 - t0);
        total.push_back(t2 - t0);
      }
      double st = median(stall);
      std::printf("%-8s %-34s %10.3f %10s %9.2f  (stall / memcpy time; target <= 1.5)\n",
                  fmt_size(bytes).c_str(), "checkpoint async: program stall", st, "-", st / mc_s);
      row("checkpoint async: until durable", median(total), dd_s, "bandwidth / dd's");
    }
    // Increments (full_every): the first image with the block hashes, then
    // after 1 % and 10 % of the 64 KiB blocks changed (spread over the
    // state): time, and the bytes of the newest image against the state's.
    {
      std::filesystem::remove_all(d);
      ckpt::Options o = bench_options(d);
      o.full_every = 1000000;
      o.keep = 2;
      ckpt::Checkpointer ck(o);
      (void)ck.add("state", state);
      (void)ck.restore();
      std::vector<double> first;
      double t0 = now();
      ckpt::Status s = ck.checkpoint();
      first.push_back(now() - t0);
      if (!s) return std::fprintf(stderr, "bench: %s\n", s.message()), 1;
      row("checkpoint, full, blocks hashed", first[0], ddd_s, "bandwidth / dd oflag=direct's");
      constexpr size_t kBlock = 64 << 10;
      size_t blocks = bytes / kBlock;
      for (int pct : {1, 10}) {
        std::vector<double> t, frac;
        for (int r = 0; r < runs; r++) {
          size_t every = 100 / size_t(pct);
          for (size_t b = size_t(r) % every; b < blocks; b += every) state[b * kBlock + 17] ^= 0x5a;
          double t1 = now();
          s = ck.checkpoint();
          t.push_back(now() - t1);
          if (!s) return std::fprintf(stderr, "bench: %s\n", s.message()), 1;
          frac.push_back(
              double(std::filesystem::file_size(
                  d + "/ckpt-" + std::string(12 - std::to_string(ck.generation()).size(), '0') +
                  std::to_string(ck.generation()) + ".img")) /
              double(bytes));
        }
        char what[64];
        std::snprintf(what, sizeof what, "increment after %d %% changed", pct);
        row(what, median(t), ddd_s, "state bandwidth / dd oflag=direct's");
        std::printf(
            "%-8s %-34s %10s %10s %9.4f  (image bytes / state bytes; target after 1 %%: <= 0.03)\n",
            fmt_size(bytes).c_str(), what, "-", "-", median(frac));
        std::printf("%-8s %-34s %10.3f %10s %9.2f  (time / memcpy time of the state)\n",
                    fmt_size(bytes).c_str(), what, median(t), "-", median(t) / mc_s);
      }
    }
    // Compressed, on compressible data.
    fill_fields(state);
    for (int level : {1, 3}) {
      std::filesystem::remove_all(d);
      ckpt::Options o = bench_options(d);
      o.compression = ckpt::Compression::kZstd;
      o.compression_level = level;
      ckpt::Checkpointer ck(o);
      (void)ck.add("state", state);
      (void)ck.restore();
      std::vector<double> t;
      for (int r = 0; r < runs; r++) {
        double t0 = now();
        ckpt::Status s = ck.checkpoint();
        t.push_back(now() - t0);
        if (!s) return std::fprintf(stderr, "bench: %s\n", s.message()), 1;
      }
      char what[64];
      std::snprintf(what, sizeof what, "checkpoint zstd-%d (image %.0f%%)", level,
                    100.0 * double(dir_image_bytes(d)) / double(bytes));
      row(what, median(t), dd_s, "input bandwidth / dd's");
    }
    std::filesystem::remove_all(d);
  }
  std::filesystem::remove_all(dir + "/due");
  return 0;
}
