#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ckpt {

namespace {
int result(long r) { return r < 0 ? -errno : int(r); }
}  // namespace

int Fs::open(const char* path, int flags, mode_t mode) {
  int r;
  do r = ::open(path, flags | O_CLOEXEC, mode);
  while (r < 0 && errno == EINTR);
  return result(r);
}
ssize_t Fs::write(int fd, const void* buf, size_t n) {
  ssize_t r = ::write(fd, buf, n);
  return r < 0 ? -errno : r;
}
ssize_t Fs::writev(int fd, const iovec* iov, int iovcnt) {
  ssize_t r = ::writev(fd, iov, iovcnt);
  return r < 0 ? -errno : r;
}
int Fs::fsync(int fd) { return result(::fsync(fd)); }
void Fs::start_writeback(int fd, uint64_t offset, uint64_t n) {
  ::sync_file_range(fd, off64_t(offset), off64_t(n), SYNC_FILE_RANGE_WRITE);
}
int Fs::truncate(int fd, uint64_t size) { return result(::ftruncate(fd, off_t(size))); }
int Fs::close(int fd) { return result(::close(fd)); }
int Fs::rename_noreplace(const char* from, const char* to) {
  if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -errno;
  // No RENAME_NOREPLACE here (some network file systems): link refuses to
  // replace too.
  if (::link(from, to) != 0) return -errno;
  ::unlink(from);
  return 0;
}
int Fs::unlink(const char* path) { return result(::unlink(path)); }
int Fs::fsync_dir(const char* dir) {
  int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return r < 0 ? -err : 0;
}

Fs* Fs::posix() {
  static Fs fs;
  return &fs;
}

Status write_error(int err, const char* what, const char* path) {
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    return Status::make(Code::kNoSpace, err, "%s %s", what, path);
  return Status::make(Code::kIo, err, "%s %s", what, path);
}

Status write_all(Fs& fs, int fd, const void* buf, size_t n, const char* path) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = fs.write(fd, p, n);
    if (r == -EINTR) continue;
    if (r < 0) return write_error(int(-r), "cannot write", path);
    if (r == 0) return write_error(ENOSPC, "cannot write", path);
    p += r;
    n -= size_t(r);
  }
  return Status::ok();
}

Status writev_all(Fs& fs, int fd, iovec* iov, int iovcnt, const char* path) {
  while (iovcnt > 0) {
    if (iov->iov_len == 0) {
      iov++;
      iovcnt--;
      continue;
    }
    ssize_t r = fs.writev(fd, iov, iovcnt > 1024 ? 1024 : iovcnt);
    if (r == -EINTR) continue;
    if (r < 0) return write_error(int(-r), "cannot write", path);
    if (r == 0) return write_error(ENOSPC, "cannot write", path);
    size_t left = size_t(r);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (left > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Status::ok();
}

}  // namespace ckpt
