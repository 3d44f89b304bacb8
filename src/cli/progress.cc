#include "cli/progress.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/command.h"

namespace ckpt::cli {
namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

uint64_t rchar_of(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t v;
  while (f >> key >> v)
    if (key == "rchar:") return v;
  return 0;
}

}  // namespace

uint64_t bytes_read_by_tree(int pid) {
  uint64_t sum = rchar_of(pid);
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child;
  while (f >> child) sum += bytes_read_by_tree(child);
  return sum;
}

uint64_t resident_bytes_below(int pid) {
  uint64_t sum = 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child;
  while (f >> child) {
    std::ifstream st("/proc/" + std::to_string(child) + "/status");
    std::string key;
    while (st >> key) {
      if (key == "VmRSS:") {
        uint64_t kib = 0;
        st >> kib;
        sum += kib * 1024;
        break;
      }
      st.ignore(1 << 20, '\n');
    }
    sum += resident_bytes_below(child);
  }
  return sum;
}

Progress::Progress(std::string label, std::function<uint64_t()> done, uint64_t total, bool quiet,
                   std::function<bool()> over)
    : label_(std::move(label)), done_(std::move(done)), over_(std::move(over)), total_(total) {
  if (quiet || !::isatty(2) || std::getenv("CKPT_QUIET")) return;
  thread_ = std::thread([this] { loop(); });
}

Progress::~Progress() { stop(); }

void Progress::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Progress::loop() {
  double start = now_s();
  uint64_t first = done_();
  while (!stop_) {
    ::usleep(200000);
    if (stop_ || (over_ && over_())) break;
    double t = now_s() - start;
    if (t < 1.0) continue;  // quick ones stay silent
    uint64_t now = done_();
    uint64_t d = now > first ? now - first : 0;
    if (total_ && d > total_) d = total_;
    double rate = double(d) / t;
    std::string line = "\r" + label_ + ": " + human_bytes(d);
    if (total_) line += " of " + human_bytes(total_);
    line += ", " + human_bytes(uint64_t(rate)) + "/s";
    if (total_ && rate > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, ", %.0f s left", double(total_ - d) / rate);
      line += buf;
    }
    line += "\033[K";  // the rest of the old line
    if (::write(2, line.data(), line.size()) < 0) return;
    shown_ = true;
  }
  if (shown_ && ::write(2, "\r\033[K", 4) < 0) return;
}

}  // namespace ckpt::cli
