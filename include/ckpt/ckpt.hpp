// libckpt: application-level checkpointing for code you own.
//
//   ckpt::Checkpointer ck;              // options: see ckpt::Options
//   ck.add("i", i);                     // register the state that matters
//   ck.add("grid", grid);               // std::vector, std::string, buffers, callbacks
//   ckpt::RestoreInfo info;
//   if (auto s = ck.restore(&info); !s) { /* one-line message in s.message() */ }
//   while (i < n) {
//     step(i);
//     i++;                              // i is the next step: a safe point
//     ck.checkpoint_if_due();           // cheap when nothing is due
//   }
//
// restore() also starts the triggers (signal handlers, interval, deadline).
// Every generation is written to a temporary file, fsync'd and renamed, so
// the previous one survives any crash. See docs/libckpt.md.
#pragma once

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt {

// The exit status of a program that checkpointed because a stop signal
// arrived and then ended (also `ckpt checkpoint --stop`). Scripts tell it
// apart from success (0) and failure.
inline constexpr int kExitStopped = 85;

enum class Compression { kNone, kZstd };

struct Options {
  std::string dir;              // empty: $CKPT_DIR, else "ckpt.d"
  double interval_seconds = 0;  // > 0: due every so many seconds
  // Signals that make a checkpoint due. Their handlers only set a flag.
  std::vector<int> signals = {SIGUSR1, SIGTERM, SIGINT};
  // Of those, the ones after which the program stops (exit_status) once the
  // checkpoint is written. A second stop signal before the checkpoint is
  // taken acts as if ckpt were not there (Ctrl-C twice always works).
  std::vector<int> stop_signals = {SIGTERM, SIGINT};
  bool exit_on_stop = true;
  int stop_exit_status = kExitStopped;
  // Deadline: due `deadline_margin_seconds` before it. 0: none given; under
  // Slurm the job's end time is found automatically (find_slurm_deadline).
  // A negative margin is automatic: 60 s, or a third of the time left at
  // start when that is under 3 minutes (as `ckpt sbatch --lead`).
  int64_t deadline_unix = 0;
  double deadline_margin_seconds = -1;
  bool find_slurm_deadline = true;
  int keep = 2;  // complete generations kept on disk
  Compression compression = Compression::kNone;
  int compression_level = 3;
  // Asynchronous: checkpoint() copies the state to a staging buffer and a
  // background thread writes it; the program's stall is the copy.
  bool async = false;
  bool quiet = false;  // no one-line reports on stderr
  // Big images are written with O_DIRECT (docs/image-format.md); false:
  // buffered writes always.
  bool direct = true;
  // Increments (docs/libckpt.md, "Increments"): 1, every image holds all
  // the state; N > 1, a full image every N generations and between them
  // images that hold only the 64 KiB blocks that changed and refer to the
  // rest in the images before. Costs a hash of the state per checkpoint.
  int full_every = 1;
};

// Options with the environment applied on top: CKPT_DIR, CKPT_INTERVAL,
// CKPT_KEEP, CKPT_COMPRESS (0 or a zstd level), CKPT_ASYNC, CKPT_DEADLINE
// (unix time), CKPT_MARGIN (seconds), CKPT_QUIET, CKPT_DIRECT (0: no O_DIRECT),
// CKPT_FULL_EVERY (increments).
Options options_from_env(Options base = {});

struct RestoreInfo {
  bool restored = false;
  uint64_t generation = 0;  // 0 when nothing was restored
  std::string path;
  int skipped_damaged = 0;  // newer images refused because they were damaged
};

// Streams for user callbacks.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual Status write(const void* p, size_t n) = 0;
};
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Status read(void* p, size_t n) = 0;
  virtual size_t remaining() const = 0;
};

namespace lib {
struct Hooks;  // the MPI mode's access to the registered state (src/lib/hooks.h)
}  // namespace lib

namespace detail {
// Set by the signal handlers; read by checkpoint_if_due().
extern volatile sig_atomic_t g_signal_pending;
inline int64_t coarse_now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace detail

class Checkpointer {
 public:
  explicit Checkpointer(Options options = options_from_env());
  ~Checkpointer();  // waits for an asynchronous write in progress
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Registration, before restore(). Names are unique; the registered
  // objects must outlive the Checkpointer.
  template <class T>
  requires std::is_trivially_copyable_v<T> Status add(std::string_view name, T& value) {
    return add_buffer(name, &value, sizeof value);
  }
  template <class T>
  requires std::is_trivially_copyable_v<T> Status add(std::string_view name, std::vector<T>& v) {
    return add_resizable(
        name, sizeof(T), &v,
        [](void* o) { return static_cast<void*>(static_cast<std::vector<T>*>(o)->data()); },
        [](void* o) { return static_cast<std::vector<T>*>(o)->size() * sizeof(T); },
        [](void* o, size_t n) {
          auto* vec = static_cast<std::vector<T>*>(o);
          vec->resize(n / sizeof(T));
          return static_cast<void*>(vec->data());
        });
  }
  Status add(std::string_view name, std::string& s);
  Status add_buffer(std::string_view name, void* p, size_t n);
  Status add_callbacks(std::string_view name, std::function<Status(Writer&)> save,
                       std::function<Status(Reader&)> load);

  // Loads the newest sound generation into the registered state and starts
  // the triggers. Not finding any image is not an error (info->restored is
  // false). A damaged newest image is reported in one line and the previous
  // one is used.
  Status restore(RestoreInfo* info = nullptr);
  // Starts the triggers without restoring (restore() does this too).
  Status start();

  // Writes a new generation now (in async mode: stages it and returns).
  Status checkpoint();
  // True when a checkpoint is due: cheap, no system call on most calls.
  bool due() const noexcept {
    return detail::g_signal_pending != 0 ||
           (next_due_ns_ != kNever && detail::coarse_now_ns() >= next_due_ns_);
  }
  // Checkpoints if due; true if it did. Errors are reported on stderr and
  // kept in last_status(). After a stop signal it exits (Options).
  bool checkpoint_if_due() { return due() && checkpoint_due_slow(); }
  // Waits for an asynchronous write; its result.
  Status wait();

  const Status& last_status() const { return last_; }
  uint64_t generation() const { return generation_; }
  const Options& options() const { return options_; }
  std::string dir() const;

  struct Impl;  // opaque

 private:
  friend struct lib::Hooks;
  static constexpr int64_t kNever = INT64_MAX;
  using PtrFn = void* (*)(void*);
  using SizeFn = size_t (*)(void*);
  using ResizeFn = void* (*)(void*, size_t);
  Status add_resizable(std::string_view name, size_t elem, void* obj, PtrFn data, SizeFn size,
                       ResizeFn resize);
  bool checkpoint_due_slow();

  std::unique_ptr<Impl> impl_;
  Options options_;
  int64_t next_due_ns_ = kNever;
  uint64_t generation_ = 0;
  Status last_;
};

}  // namespace ckpt
