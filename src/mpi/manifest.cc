#include "mpi/manifest.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace ckpt::mpi {

namespace {
// Version 1: partner copies; 2: XOR sets (one "xor" line per rank more).
constexpr char kMagic[] = "ckpt-mpi-manifest 1\n";
constexpr char kMagicXor[] = "ckpt-mpi-manifest 2\n";
constexpr size_t kMaxRanks = 1u << 22;
}  // namespace

std::string encode_manifest(const Manifest& m) {
  std::string t = m.parity.empty() ? kMagic : kMagicXor;
  char line[160];
  std::snprintf(line, sizeof line, "generation %" PRIu64 "\nranks %zu\ncreated %" PRIu64 "\n",
                m.generation, m.ranks.size(), m.created_ns);
  t += line;
  for (size_t r = 0; r < m.ranks.size(); r++) {
    std::snprintf(line, sizeof line, "rank %zu %" PRIu64 " %016" PRIx64 "\n", r, m.ranks[r].size,
                  m.ranks[r].hash);
    t += line;
  }
  for (size_t r = 0; r < m.parity.size(); r++) {
    std::snprintf(line, sizeof line, "xor %zu %d %" PRIu64 " %016" PRIx64 "\n", r, m.parity[r].set,
                  m.parity[r].size, m.parity[r].hash);
    t += line;
  }
  std::snprintf(line, sizeof line, "check %016" PRIx64 "\n",
                uint64_t(XXH3_64bits(t.data(), t.size())));
  return t + line;
}

Status decode_manifest(const std::string& text, const std::string& path, Manifest* m) {
  auto bad = [&](const char* what) {
    return Status::make(Code::kCorrupt, 0, "%s: damaged manifest (%s)", path.c_str(), what);
  };
  // The checksum line covers every byte before it.
  size_t check_at = text.rfind("check ");
  if (check_at == std::string::npos || (check_at > 0 && text[check_at - 1] != '\n'))
    return bad("no check line");
  uint64_t want = 0;
  char tail;
  if (std::sscanf(text.c_str() + check_at, "check %16" SCNx64 "%c", &want, &tail) != 2 ||
      tail != '\n' || check_at + 6 + 16 + 1 != text.size())
    return bad("malformed check line");
  if (XXH3_64bits(text.data(), check_at) != want) return bad("checksum mismatch");
  bool x = text.compare(0, sizeof kMagicXor - 1, kMagicXor) == 0;
  if (!x && text.compare(0, sizeof kMagic - 1, kMagic) != 0) return bad("not a manifest");

  const char* p = text.c_str() + sizeof kMagic - 1;
  const char* end = text.c_str() + check_at;
  int used = 0;
  size_t nranks = 0;
  if (std::sscanf(p, "generation %" SCNu64 "\nranks %zu\ncreated %" SCNu64 "\n%n", &m->generation,
                  &nranks, &m->created_ns, &used) != 3 ||
      used == 0)
    return bad("malformed header");
  if (nranks == 0 || nranks > kMaxRanks) return bad("impossible rank count");
  p += used;
  m->ranks.assign(nranks, {});
  for (size_t r = 0; r < nranks; r++) {
    size_t idx;
    used = 0;
    if (p >= end ||
        std::sscanf(p, "rank %zu %" SCNu64 " %16" SCNx64 "\n%n", &idx, &m->ranks[r].size,
                    &m->ranks[r].hash, &used) != 3 ||
        used == 0 || idx != r)
      return bad("malformed rank line");
    p += used;
  }
  m->parity.assign(x ? nranks : 0, {});
  for (size_t r = 0; r < m->parity.size(); r++) {
    size_t idx;
    used = 0;
    if (p >= end ||
        std::sscanf(p, "xor %zu %d %" SCNu64 " %16" SCNx64 "\n%n", &idx, &m->parity[r].set,
                    &m->parity[r].size, &m->parity[r].hash, &used) != 4 ||
        used == 0 || idx != r || m->parity[r].set < 0)
      return bad("malformed xor line");
    p += used;
  }
  if (p != end) return bad("trailing bytes");
  return Status::ok();
}

}  // namespace ckpt::mpi
