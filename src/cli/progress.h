// A progress line on a terminal for a checkpoint or a restart that takes
// more than a second: bytes, rate, time left. Silent when stderr is not a
// terminal (or with --quiet / CKPT_QUIET): scripts and job logs see nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace ckpt::cli {

class Progress {
 public:
  // done() is polled from a thread of the progress line, five times a
  // second; total 0: unknown (no time left shown). The line goes once
  // over() says so (or at stop()).
  Progress(std::string label, std::function<uint64_t()> done, uint64_t total, bool quiet,
           std::function<bool()> over = nullptr);
  ~Progress();  // stops and clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void stop();

 private:
  void loop();
  std::string label_;
  std::function<uint64_t()> done_;
  std::function<bool()> over_;
  uint64_t total_;
  std::atomic<bool> stop_{false};
  bool shown_ = false;
  std::thread thread_;
};

// Bytes read so far by this process and by all its descendants (the
// restorer): /proc/PID/io's rchar.
uint64_t bytes_read_by_tree(int pid);
// The resident memory of pid's descendants (not its own): what an image of
// the program under a supervisor will about hold.
uint64_t resident_bytes_below(int pid);

}  // namespace ckpt::cli
