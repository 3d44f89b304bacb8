// The manifest that commits one MPI generation (docs/mpi.md): which ranks,
// and for each the size and xxh3 of its image. A text file with a checksum
// of its own last line; written atomically, so it exists only whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::mpi {

struct RankImage {
  uint64_t size = 0;
  uint64_t hash = 0;  // xxh3-64 of the whole image file
};

// With XOR sets: a rank's set and its parity block (src/mpi/xor.h).
struct RankParity {
  int set = 0;
  uint64_t size = 0;  // 0: the rank's set has no other member
  uint64_t hash = 0;
};

struct Manifest {
  uint64_t generation = 0;
  uint64_t created_ns = 0;  // wall clock
  std::vector<RankImage> ranks;
  std::vector<RankParity> parity;  // empty: partner copies; else one per rank
};

std::string encode_manifest(const Manifest& m);
// kCorrupt with one line naming `path` for anything but a well-formed
// manifest whose checksum matches.
Status decode_manifest(const std::string& text, const std::string& path, Manifest* m);

inline std::string manifest_name(uint64_t g);  // "manifest-000000000007"

}  // namespace ckpt::mpi

#include "mpi/files.h"
inline std::string ckpt::mpi::manifest_name(uint64_t g) { return numbered("manifest-", g, ""); }
