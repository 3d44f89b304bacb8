// Small file helpers of the MPI mode: an atomically committed file written
// in pieces, whole-file checksums, directories.
#pragma once

#include <cstdint>
#include <string>

#include <ckpt/status.hpp>

namespace ckpt::mpi {

// temporary ".NAME.tmp" (0600) -> write... -> fsync -> rename without
// replace -> fsync of the directory; the final name appears only complete.
class AtomicFile {
 public:
  ~AtomicFile() { abort(); }
  Status open(const std::string& final_path);
  Status write(const void* p, size_t n);
  Status commit();
  void abort();

 private:
  int fd_ = -1;
  std::string final_, temp_;
};

// Size and xxh3-64 of a whole file.
Status hash_file(const std::string& path, uint64_t* size, uint64_t* hash);
// Copies src to dst through an AtomicFile; the copy's size and xxh3.
Status copy_file(const std::string& src, const std::string& dst, uint64_t* size, uint64_t* hash);
// mkdir -p with mode 0700 for what it creates; refuses a directory owned
// by another user.
Status make_dirs(const std::string& path);
// Reads a small file (a manifest) whole; kNotFound if absent.
Status read_small(const std::string& path, std::string* out, size_t max = 1 << 24);
// "PREFIX-000000000012SUFFIX" -> 12.
bool parse_numbered(const char* name, const char* prefix, const char* suffix, uint64_t* n);
std::string numbered(const char* prefix, uint64_t n, const char* suffix);

}  // namespace ckpt::mpi
