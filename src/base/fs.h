// The file-system seam. Everything that writes images goes through an Fs,
// so tests can inject faults (ENOSPC at byte N, a crash that drops unsynced
// data) without a real full disk. Calls return -errno on failure.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include <ckpt/status.hpp>

namespace ckpt {

class Fs {
 public:
  virtual ~Fs() = default;
  virtual int open(const char* path, int flags, mode_t mode);
  virtual ssize_t write(int fd, const void* buf, size_t n);
  virtual ssize_t writev(int fd, const iovec* iov, int iovcnt);
  virtual int fsync(int fd);
  // Starts writing back [offset, offset+n) without waiting, so the disk works
  // while later bytes are still being produced. A hint: errors are ignored.
  virtual void start_writeback(int fd, uint64_t offset, uint64_t n);
  virtual int truncate(int fd, uint64_t size);
  virtual int close(int fd);
  // Renames without replacing an existing target (falls back to link+unlink
  // where the file system lacks RENAME_NOREPLACE).
  virtual int rename_noreplace(const char* from, const char* to);
  virtual int unlink(const char* path);
  virtual int fsync_dir(const char* dir);

  // The process-wide POSIX implementation.
  static Fs* posix();
};

// Maps an errno from a write path to the right Status code.
Status write_error(int err, const char* what, const char* path);

// Writes all of buf (retrying short writes and EINTR).
Status write_all(Fs& fs, int fd, const void* buf, size_t n, const char* path);
// Writes all of iov; iov is modified.
Status writev_all(Fs& fs, int fd, iovec* iov, int iovcnt, const char* path);

}  // namespace ckpt
