#include "format/jobdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "format/chain.h"

namespace ckpt::format {

bool parse_image_name(const char* name, uint64_t* generation) {
  if (std::strncmp(name, "ckpt-", 5) != 0) return false;
  const char* p = name + 5;
  uint64_t g = 0;
  int digits = 0;
  while (*p >= '0' && *p <= '9') {
    if (digits == 19) return false;
    g = g * 10 + uint64_t(*p - '0');
    p++;
    digits++;
  }
  if (digits == 0 || std::strcmp(p, ".img") != 0) return false;
  *generation = g;
  return true;
}

std::string default_dir() {
  const char* env = std::getenv("CKPT_DIR");
  if (env && *env) return env;
  return "ckpt.d";
}

JobDir::~JobDir() { unlock(); }

Status JobDir::open(const std::string& dir, bool create) {
  if (dir.empty()) return Status::make(Code::kInvalid, 0, "empty checkpoint directory name");
  dir_ = dir;
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  struct stat st;
  if (::stat(dir_.c_str(), &st) != 0) {
    if (errno != ENOENT || !create)
      return Status::make(errno == ENOENT ? Code::kNotFound : Code::kIo, errno,
                          "cannot use checkpoint directory %s", dir_.c_str());
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::make(Code::kIo, errno, "cannot create checkpoint directory %s", dir_.c_str());
    if (::stat(dir_.c_str(), &st) != 0)
      return Status::make(Code::kIo, errno, "cannot use checkpoint directory %s", dir_.c_str());
  }
  if (!S_ISDIR(st.st_mode))
    return Status::make(Code::kInvalid, 0, "%s is not a directory", dir_.c_str());
  if (st.st_uid != ::geteuid())
    return Status::make(Code::kInvalid, 0,
                        "checkpoint directory %s belongs to another user (uid %u)", dir_.c_str(),
                        unsigned(st.st_uid));
  // Anyone who may rename files in the directory could swap images, the lock
  // or the control socket: a directory everyone can write to is refused
  // unless it is sticky (then only owners rename their own files). A group-
  // writable one is accepted (often a user-private group).
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
    return Status::make(Code::kInvalid, 0,
                        "checkpoint directory %s is writable by every user (mode %04o): "
                        "`chmod o-w %s` or use another directory",
                        dir_.c_str(), unsigned(st.st_mode & 07777), dir_.c_str());
  // The name may be a link the user made, never one another user planted.
  struct stat lst;
  if (::lstat(dir_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_uid != ::geteuid())
    return Status::make(Code::kInvalid, 0,
                        "checkpoint directory %s is a symbolic link made by another user "
                        "(uid %u): refused",
                        dir_.c_str(), unsigned(lst.st_uid));
  // An existing directory keeps its permissions: it may be one the user
  // shares on purpose (or $HOME, or /), and the images are 0600 anyway.
  return Status::ok();
}

Status JobDir::lock() {
  if (lock_fd_ >= 0) return Status::ok();
  std::string path = dir_ + "/lock";
  // Never through a link: a planted one would make us truncate its target.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP)
      return Status::make(Code::kInvalid, 0, "%s is a symbolic link: refused (remove it)",
                          path.c_str());
    if (err == EACCES || err == EROFS)
      return Status::make(Code::kIo, err, "checkpoint directory %s is not writable", dir_.c_str());
    return Status::make(Code::kIo, err, "cannot create %s", path.c_str());
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::make(Code::kBusy, 0, "checkpoint directory %s is in use by another process",
                          dir_.c_str());
    return Status::make(Code::kIo, err, "cannot lock %s", path.c_str());
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd);
    return Status::make(Code::kInvalid, 0, "%s is not a regular file of yours: refused (remove it)",
                        path.c_str());
  }
  lock_fd_ = fd;
  remove_stale_temps();
  // The holder's pid, for `ckpt status`.
  char pid[32];
  int n = std::snprintf(pid, sizeof pid, "%d\n", int(::getpid()));
  if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid, size_t(n), 0) != n) {
  }
  return Status::ok();
}

// Only the lock's holder writes images: a temp file found now was left by a
// writer that died (kill -9, power loss). It would otherwise stay until a
// checkpoint of the same number replaced it, or for good.
void JobDir::remove_stale_temps() const {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    size_t len = std::strlen(n);
    uint64_t g;
    if (n[0] == '.' && len > 5 && std::strcmp(n + len - 4, ".tmp") == 0 &&
        parse_image_name(std::string(n + 1, len - 5).c_str(), &g))
      stale.push_back(dir_ + "/" + n);
  }
  ::closedir(d);
  for (const auto& p : stale) ::unlink(p.c_str());
}

int JobDir::holder_pid() const {
  std::string path = dir_ + "/lock";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  int pid = 0;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    char buf[32] = {};
    if (::pread(fd, buf, sizeof buf - 1, 0) > 0) pid = std::atoi(buf);
    if (pid <= 0) pid = -1;
  }
  ::close(fd);
  return pid;
}

void JobDir::unlock() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

std::vector<Generation> JobDir::list() const {
  std::vector<Generation> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    uint64_t g;
    if (parse_image_name(e->d_name, &g)) out.push_back({g, dir_ + "/" + e->d_name});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const Generation& a, const Generation& b) { return a.number < b.number; });
  return out;
}

uint64_t JobDir::next_generation() const {
  // Damaged images set aside ("….img.damaged") keep their numbers taken.
  uint64_t max = 0;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return 1;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    size_t dot = name.find(".img");
    uint64_t g;
    if (dot != std::string::npos && parse_image_name((name.substr(0, dot) + ".img").c_str(), &g))
      max = std::max(max, g);
  }
  ::closedir(d);
  return max + 1;
}

std::string JobDir::image_path(uint64_t generation) const {
  char name[64];
  std::snprintf(name, sizeof name, "/ckpt-%012llu.img", (unsigned long long)generation);
  return dir_ + name;
}

void JobDir::prune(int keep) const {
  if (keep < 1) keep = 1;
  auto gens = list();
  if (gens.size() <= size_t(keep)) return;
  // An image a kept increment takes data from stays, whatever its age
  // (format/chain.h): pruning never breaks a kept generation. References
  // are direct, so the bases of the kept images are all that is needed.
  std::set<uint64_t> needed;
  for (size_t i = gens.size() - size_t(keep); i < gens.size(); i++)
    for (uint64_t b : read_bases(gens[i].path)) needed.insert(b);
  // Newest first: an image goes before its bases, so a prune cut short (a
  // kill -9) never leaves an image whose base is gone.
  for (size_t i = gens.size() - size_t(keep); i-- > 0;)
    if (!needed.count(gens[i].number)) ::unlink(gens[i].path.c_str());
}

}  // namespace ckpt::format
