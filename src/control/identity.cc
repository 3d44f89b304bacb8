#include "control/identity.h"

#include <errno.h>
#include <unistd.h>
#include <xxhash.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

namespace ckpt::control {
namespace {

using Key = std::tuple<uint64_t, uint64_t, uint64_t, int64_t, int64_t>;  // dev ino size mtime

std::mutex g_mu;
std::map<Key, ContentHash> g_cache;
HashStats g_stats;

}  // namespace

Status content_hash(int fd, const struct stat& st, ContentHash* out) {
  Key key{uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
          int64_t(st.st_mtim.tv_sec), int64_t(st.st_mtim.tv_nsec)};
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_cache.find(key);
    if (it != g_cache.end()) {
      *out = it->second;
      return Status::ok();
    }
  }
  XXH3_state_t* state = XXH3_createState();
  if (!state || XXH3_128bits_reset(state) != XXH_OK) {
    XXH3_freeState(state);
    return Status::make(Code::kIo, ENOMEM, "cannot hash a file");
  }
  constexpr size_t kBuf = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  uint64_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.get(), kBuf, off_t(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      XXH3_freeState(state);
      return Status::make(Code::kIo, err, "cannot read a file to hash it");
    }
    if (n == 0) break;
    XXH3_128bits_update(state, buf.get(), size_t(n));
    off += uint64_t(n);
  }
  XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  out->hi = h.high64;
  out->lo = h.low64;
  std::lock_guard<std::mutex> lk(g_mu);
  // The file changed while it was read: its hash is not remembered.
  if (off == uint64_t(st.st_size)) g_cache[key] = *out;
  g_stats.files++;
  g_stats.bytes += off;
  return Status::ok();
}

void forget_hashes() {
  std::lock_guard<std::mutex> lk(g_mu);
  g_cache.clear();
}

HashStats hash_stats() {
  std::lock_guard<std::mutex> lk(g_mu);
  return g_stats;
}

}  // namespace ckpt::control
