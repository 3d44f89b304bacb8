// JobDir: the directory that holds one job's images.
//
//   DIR/                    0700, owned by the user
//     ckpt-000000000007.img one complete generation (0600)
//     ckpt-000000000008.img the newest
//     .ckpt-000000000009.img.tmp  a checkpoint being written (or a crash's leftover)
//     lock                  held (flock) by the process that writes images
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::format {

struct Generation {
  uint64_t number = 0;
  std::string path;
};

class JobDir {
 public:
  JobDir() = default;
  ~JobDir();
  JobDir(const JobDir&) = delete;
  JobDir& operator=(const JobDir&) = delete;

  // Opens DIR, creating it 0700 if create is set. Refuses a directory owned by
  // another user; never changes an existing directory's permissions.
  Status open(const std::string& dir, bool create);
  // Takes the job's lock without waiting: kBusy if another process has it.
  // Then removes the temp files of a writer that died mid-checkpoint.
  Status lock();
  void unlock();
  // The pid of the process holding the lock; 0 if none; -1 if unknown.
  int holder_pid() const;

  const std::string& dir() const { return dir_; }
  // Complete images (by name), oldest first.
  std::vector<Generation> list() const;
  uint64_t next_generation() const;
  std::string image_path(uint64_t generation) const;
  // Removes complete images beyond the newest `keep`, never the newest one
  // and never one that a kept image takes data from (an incremental image).
  void prune(int keep) const;

 private:
  void remove_stale_temps() const;

  std::string dir_;
  int lock_fd_ = -1;
};

// "ckpt-000000000012.img" -> 12; false for any other name.
bool parse_image_name(const char* name, uint64_t* generation);

// The default job directory: $CKPT_DIR, or "ckpt.d" in the current directory.
std::string default_dir();

}  // namespace ckpt::format
