// XOR sets: the encode at a checkpoint (one MPI_Reduce_scatter_block with
// MPI_BXOR per piece) and the rebuild of one lost member (one MPI_Reduce per
// piece of each of its chunks). Layout in xor.h.
#include "mpi/xor.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "mpi/files.h"

namespace ckpt::mpi {

namespace {

// Bytes of one chunk handled per collective call: a few MiB in all.
uint64_t piece_for(int n) {
  uint64_t p = (uint64_t(4) << 20) / uint64_t(n);
  return std::max<uint64_t>(p & ~uint64_t(7), 64 << 10);
}

// Reads bytes [off, off+n) of a file whose real size is `size` into dst,
// zeros past its end. False on a read error.
bool read_padded(int fd, uint64_t size, uint64_t off, char* dst, uint64_t n) {
  uint64_t have = off < size ? std::min(n, size - off) : 0;
  uint64_t done = 0;
  while (done < have) {
    ssize_t r = ::pread(fd, dst + done, size_t(have - done), off_t(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += uint64_t(r);
  }
  std::memset(dst + have, 0, size_t(n - have));
  return true;
}

}  // namespace

std::vector<int> xor_sets(const std::vector<int>& node_of, int nodes_per_set) {
  int nodes = 0;
  for (int n : node_of) nodes = std::max(nodes, n + 1);
  int per = std::max(nodes_per_set, 2);
  int groups = std::max(1, nodes / per);
  std::map<int, int> seen;  // node -> ranks met so far
  int max_local = 0;
  std::vector<int> local(node_of.size());
  for (size_t r = 0; r < node_of.size(); r++) {
    local[r] = seen[node_of[r]]++;
    max_local = std::max(max_local, local[r] + 1);
  }
  std::vector<int> set(node_of.size());
  for (size_t r = 0; r < node_of.size(); r++) {
    int group = std::min(node_of[r] / per, groups - 1);
    set[r] = group * max_local + local[r];
  }
  return set;
}

uint64_t xor_chunk(uint64_t largest, int n) {
  uint64_t c = (largest + uint64_t(n - 2)) / uint64_t(n - 1);
  return (c + 7) & ~uint64_t(7);
}

Status xor_encode(MPI_Comm set, const std::string& image, uint64_t size,
                  const std::string& parity_path, uint64_t* parity_size, uint64_t* parity_hash) {
  int me, n;
  MPI_Comm_rank(set, &me);
  MPI_Comm_size(set, &n);
  uint64_t largest = size;
  MPI_Allreduce(MPI_IN_PLACE, &largest, 1, MPI_UINT64_T, MPI_MAX, set);
  uint64_t c = xor_chunk(largest, n), piece = piece_for(n);
  Status s;
  int fd = -1;
  if (size > 0) {
    fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) s = Status::make(Code::kIo, errno, "cannot read back %s", image.c_str());
  }
  AtomicFile out;
  Status w = out.open(parity_path);
  XXH3_state_t* hs = XXH3_createState();
  XXH3_64bits_reset(hs);
  std::vector<char> send(size_t(piece) * size_t(n)), recv(piece);
  for (uint64_t off = 0; off < c; off += piece) {
    uint64_t len = std::min(piece, c - off);
    for (int i = 0; i < n; i++) {
      char* block = send.data() + size_t(i) * size_t(len);
      if (i == me || fd < 0) {
        std::memset(block, 0, size_t(len));
        continue;
      }
      uint64_t chunk = uint64_t((i - me - 1 + n) % n);
      if (!read_padded(fd, size, chunk * c + off, block, len) && s.is_ok())
        s = Status::make(Code::kIo, errno ? errno : EIO, "cannot read back %s", image.c_str());
    }
    // Every member takes part whatever failed, so that no one waits forever.
    MPI_Reduce_scatter_block(send.data(), recv.data(), int(len / 8), MPI_UINT64_T, MPI_BXOR, set);
    XXH3_64bits_update(hs, recv.data(), size_t(len));
    if (w.is_ok()) w = out.write(recv.data(), size_t(len));
  }
  if (fd >= 0) ::close(fd);
  *parity_size = c;
  *parity_hash = XXH3_64bits_digest(hs);
  XXH3_freeState(hs);
  if (w.is_ok()) w = out.commit();
  if (!s.is_ok()) return s;
  if (!w.is_ok()) return Status::make(w.code(), 0, "XOR parity block: %s", w.message());
  return Status::ok();
}

Status xor_rebuild(MPI_Comm set, int lost, const std::vector<uint64_t>& sizes,
                   const std::string& image, const std::string& parity, const std::string& out,
                   uint64_t hash) {
  int me, n;
  MPI_Comm_rank(set, &me);
  MPI_Comm_size(set, &n);
  uint64_t largest = *std::max_element(sizes.begin(), sizes.end());
  uint64_t c = xor_chunk(largest, n), piece = piece_for(n);
  Status s;
  int img = -1, par = -1;
  if (me != lost) {
    img = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    par = ::open(parity.c_str(), O_RDONLY | O_CLOEXEC);
    if (img < 0 || par < 0)
      s = Status::make(Code::kIo, errno, "cannot read %s",
                       img < 0 ? image.c_str() : parity.c_str());
  }
  AtomicFile f;
  if (me == lost) s = f.open(out);
  XXH3_state_t* hs = XXH3_createState();
  XXH3_64bits_reset(hs);
  std::vector<char> mine(piece), got(piece);
  uint64_t want = sizes[size_t(lost)], written = 0;
  for (int q = 0; q < n - 1; q++) {
    int holder = (lost + q + 1) % n;  // whose parity has the lost member's chunk q
    for (uint64_t off = 0; off < c; off += piece) {
      uint64_t len = std::min(piece, c - off);
      bool ok = true;
      if (me == lost) std::memset(mine.data(), 0, size_t(len));
      else if (me == holder) ok = read_padded(par, c, off, mine.data(), len);
      else
        ok = read_padded(img, sizes[size_t(me)], uint64_t((holder - me - 1 + n) % n) * c + off,
                         mine.data(), len);
      if (!ok && s.is_ok()) s = Status::make(Code::kIo, EIO, "cannot read %s", image.c_str());
      MPI_Reduce(mine.data(), got.data(), int(len / 8), MPI_UINT64_T, MPI_BXOR, lost, set);
      if (me == lost && written < want) {
        size_t keep = size_t(std::min(len, want - written));
        XXH3_64bits_update(hs, got.data(), keep);
        if (s.is_ok()) s = f.write(got.data(), keep);
        written += keep;
      }
    }
  }
  if (img >= 0) ::close(img);
  if (par >= 0) ::close(par);
  uint64_t h = XXH3_64bits_digest(hs);
  XXH3_freeState(hs);
  if (me == lost && s.is_ok() && h != hash)
    s = Status::make(Code::kCorrupt, 0,
                     "the image rebuilt from its XOR set does not match its manifest");
  if (me == lost && s.is_ok()) s = f.commit();
  return s;
}

}  // namespace ckpt::mpi
