// The identity of a file a program ran or mapped (its executable, its
// libraries): a strong hash of its content, recorded at checkpoint and
// compared at restart, so that a byte-identical copy (`cp -p`, `mv`, a
// reinstall of the same version) is accepted and a changed file refused.
// Device, inode, size and mtime are the fast path on both sides.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include <ckpt/status.hpp>

namespace ckpt::control {

struct ContentHash {
  uint64_t hi = 0, lo = 0;  // XXH3-128
  bool operator==(const ContentHash& o) const { return hi == o.hi && lo == o.lo; }
};

// The hash of the open file `fd` (its whole content), whose fstat is `st`.
// Remembered by (device, inode, size, mtime) for the life of this process,
// so a supervisor hashes each library once, not at every checkpoint.
Status content_hash(int fd, const struct stat& st, ContentHash* out);

// Files hashed (not found in the cache) and bytes read, since the start:
// for benchmarks and tests of the cache.
struct HashStats {
  uint64_t files = 0, bytes = 0;
};
HashStats hash_stats();
// Empties the cache (for benchmarks of the first checkpoint's cost).
void forget_hashes();

}  // namespace ckpt::control
