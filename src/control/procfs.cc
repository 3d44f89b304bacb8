#include "control/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace ckpt::control {

Status read_text(const std::string& path, std::string* out) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::make(Code::kIo, errno, "cannot read %s", path.c_str());
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::make(Code::kIo, err, "cannot read %s", path.c_str());
    }
    if (n == 0) break;
    out->append(buf, size_t(n));
  }
  ::close(fd);
  return Status::ok();
}

Status read_maps(pid_t pid, std::vector<MapLine>* out) {
  std::string text;
  CKPT_RETURN_IF_ERROR(read_text("/proc/" + std::to_string(pid) + "/maps", &text));
  out->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    MapLine m;
    char perms[8] = {};
    unsigned long long start, end, off, ino;
    unsigned maj, min;
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off,
                    &maj, &min, &ino, &consumed) < 7)
      return Status::make(Code::kIo, 0, "cannot parse /proc/%d/maps line: %s", int(pid),
                          line.c_str());
    m.start = start;
    m.end = end;
    m.pgoff = off;
    m.ino = ino;
    m.dev_major = maj;
    m.dev_minor = min;
    m.r = perms[0] == 'r';
    m.w = perms[1] == 'w';
    m.x = perms[2] == 'x';
    m.shared = perms[3] == 's';
    if (consumed > 0 && size_t(consumed) <= line.size()) m.path = line.substr(size_t(consumed));
    out->push_back(std::move(m));
  }
  return Status::ok();
}

Status read_fork_exempt(pid_t pid, std::vector<uint64_t>* starts) {
  std::string text;
  CKPT_RETURN_IF_ERROR(read_text("/proc/" + std::to_string(pid) + "/smaps", &text));
  starts->clear();
  uint64_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    char c = line.empty() ? 0 : line[0];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {  // a mapping's first line
      start = std::strtoull(std::string(line.substr(0, line.find('-'))).c_str(), nullptr, 16);
    } else if (line.rfind("VmFlags:", 0) == 0) {
      std::string flags = " " + std::string(line.substr(8)) + " ";
      if (flags.find(" dc ") != std::string::npos || flags.find(" wf ") != std::string::npos)
        starts->push_back(start);
    }
  }
  return Status::ok();
}

std::vector<pid_t> list_tasks(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    out.push_back(pid_t(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

Status read_stat_fields(pid_t pid, std::vector<std::string>* fields) {
  std::string text;
  CKPT_RETURN_IF_ERROR(read_text("/proc/" + std::to_string(pid) + "/stat", &text));
  size_t rp = text.rfind(')');
  if (rp == std::string::npos) return Status::make(Code::kIo, 0, "bad /proc/%d/stat", int(pid));
  fields->assign(3, "");
  (*fields)[1] = std::to_string(pid);
  size_t pos = rp + 2;
  while (pos < text.size()) {
    size_t sp = text.find_first_of(" \n", pos);
    if (sp == std::string::npos) sp = text.size();
    fields->push_back(text.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return Status::ok();
}

std::string status_field(const std::string& status_path, const char* name) {
  std::string text;
  if (!read_text(status_path, &text).is_ok()) return "";
  return status_text_field(text, name);
}

std::string status_text_field(const std::string& text, const char* name) {
  std::string key = std::string("\n") + name + ":";
  size_t p = text.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  while (p < text.size() && (text[p] == '\t' || text[p] == ' ')) p++;
  size_t e = text.find('\n', p);
  return text.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

pid_t inner_pid(const std::string& status_path) {
  std::string ns = status_field(status_path, "NSpid");
  size_t sp = ns.find_last_of(" \t");
  return pid_t(std::atoi(sp == std::string::npos ? ns.c_str() : ns.c_str() + sp + 1));
}

Status mem_read(pid_t pid, uint64_t addr, void* buf, size_t n) {
  iovec local = {buf, n};
  iovec remote = {reinterpret_cast<void*>(addr), n};
  ssize_t r = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (r != ssize_t(n))
    return Status::make(Code::kIo, r < 0 ? errno : EIO, "cannot read the memory of process %d",
                        int(pid));
  return Status::ok();
}

Status mem_write(pid_t pid, uint64_t addr, const void* buf, size_t n) {
  iovec local = {const_cast<void*>(buf), n};
  iovec remote = {reinterpret_cast<void*>(addr), n};
  ssize_t r = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (r != ssize_t(n))
    return Status::make(Code::kIo, r < 0 ? errno : EIO, "cannot write the memory of process %d",
                        int(pid));
  return Status::ok();
}

std::vector<pid_t> list_children(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t task : list_tasks(pid)) {
    std::string kids;
    if (!read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(task) + "/children",
                   &kids)
             .is_ok())
      continue;
    for (const char* p = kids.c_str(); *p;) {
      char* end;
      long kid = std::strtol(p, &end, 10);
      if (end == p) break;
      p = end;
      if (kid > 0) out.push_back(pid_t(kid));
    }
  }
  return out;
}

}  // namespace ckpt::control
