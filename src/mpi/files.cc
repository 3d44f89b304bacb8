#include "mpi/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "base/fs.h"

namespace ckpt::mpi {

namespace {
std::string dir_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : p.substr(0, s);
}
}  // namespace

Status AtomicFile::open(const std::string& final_path) {
  abort();
  final_ = final_path;
  size_t s = final_path.rfind('/');
  temp_ = dir_of(final_path) + "/." +
          (s == std::string::npos ? final_path : final_path.substr(s + 1)) + ".tmp";
  Fs* fs = Fs::posix();
  fs->unlink(temp_.c_str());
  int fd = fs->open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return write_error(-fd, "cannot create", temp_.c_str());
  fd_ = fd;
  return Status::ok();
}

Status AtomicFile::write(const void* p, size_t n) {
  return write_all(*Fs::posix(), fd_, p, n, temp_.c_str());
}

Status AtomicFile::commit() {
  Fs* fs = Fs::posix();
  int rc = fs->fsync(fd_);
  if (rc < 0) return write_error(-rc, "cannot fsync", temp_.c_str());
  fs->close(fd_);
  fd_ = -1;
  rc = fs->rename_noreplace(temp_.c_str(), final_.c_str());
  if (rc < 0) {
    Status s = write_error(-rc, "cannot rename into", final_.c_str());
    fs->unlink(temp_.c_str());
    return s;
  }
  rc = fs->fsync_dir(dir_of(final_).c_str());
  if (rc < 0) return write_error(-rc, "cannot fsync the directory of", final_.c_str());
  return Status::ok();
}

void AtomicFile::abort() {
  if (fd_ < 0) return;
  Fs::posix()->close(fd_);
  Fs::posix()->unlink(temp_.c_str());
  fd_ = -1;
}

Status hash_file(const std::string& path, uint64_t* size, uint64_t* hash) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::make(errno == ENOENT ? Code::kNotFound : Code::kIo, errno, "cannot open %s",
                        path.c_str());
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<char> buf(8 << 20);
  uint64_t total = 0;
  Status s;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::make(Code::kIo, errno, "cannot read %s", path.c_str());
      break;
    }
    if (n == 0) break;
    XXH3_64bits_update(st, buf.data(), size_t(n));
    total += uint64_t(n);
  }
  ::close(fd);
  *size = total;
  *hash = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return s;
}

Status copy_file(const std::string& src, const std::string& dst, uint64_t* size, uint64_t* hash) {
  int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::make(Code::kIo, errno, "cannot open %s", src.c_str());
  AtomicFile out;
  Status s = out.open(dst);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<char> buf(8 << 20);
  uint64_t total = 0;
  while (s.is_ok()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::make(Code::kIo, errno, "cannot read %s", src.c_str());
      break;
    }
    if (n == 0) break;
    XXH3_64bits_update(st, buf.data(), size_t(n));
    total += uint64_t(n);
    s = out.write(buf.data(), size_t(n));
  }
  ::close(fd);
  if (s.is_ok()) s = out.commit();
  if (size) *size = total;
  if (hash) *hash = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return s;
}

Status make_dirs(const std::string& path) {
  if (path.empty()) return Status::make(Code::kInvalid, 0, "empty directory name");
  for (size_t i = 1; i <= path.size(); i++) {
    if (i != path.size() && path[i] != '/') continue;
    std::string part = path.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::make(Code::kIo, errno, "cannot create directory %s", part.c_str());
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::make(Code::kIo, errno, "cannot reach %s", path.c_str());
  if (!S_ISDIR(st.st_mode)) return Status::make(Code::kIo, ENOTDIR, "cannot use %s", path.c_str());
  if (st.st_uid != ::geteuid())
    return Status::make(Code::kInvalid, 0, "%s belongs to another user (uid %u)", path.c_str(),
                        unsigned(st.st_uid));
  return Status::ok();
}

Status read_small(const std::string& path, std::string* out, size_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::make(errno == ENOENT ? Code::kNotFound : Code::kIo, errno, "cannot open %s",
                        path.c_str());
  out->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Status::make(Code::kIo, errno, "cannot read %s", path.c_str());
    }
    if (n == 0) break;
    out->append(buf, size_t(n));
    if (out->size() > max) {
      ::close(fd);
      return Status::make(Code::kCorrupt, 0, "%s is too large to be a manifest", path.c_str());
    }
  }
  ::close(fd);
  return Status::ok();
}

bool parse_numbered(const char* name, const char* prefix, const char* suffix, uint64_t* n) {
  size_t pl = std::strlen(prefix), sl = std::strlen(suffix), nl = std::strlen(name);
  if (nl != pl + 12 + sl || std::strncmp(name, prefix, pl) != 0 ||
      std::strcmp(name + pl + 12, suffix) != 0)
    return false;
  uint64_t v = 0;
  for (size_t i = pl; i < pl + 12; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  *n = v;
  return true;
}

std::string numbered(const char* prefix, uint64_t n, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%012llu%s", prefix, (unsigned long long)n, suffix);
  return buf;
}

}  // namespace ckpt::mpi
