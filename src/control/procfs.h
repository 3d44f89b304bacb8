// Reading another process's state from /proc: what the supervisor may see of
// its own child (same user, an ancestor: allowed even under Yama).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::control {

struct MapLine {
  uint64_t start = 0, end = 0, pgoff = 0, ino = 0;
  uint32_t dev_major = 0, dev_minor = 0;
  bool r = false, w = false, x = false, shared = false;
  std::string path;
};

Status read_text(const std::string& path, std::string* out);
Status read_maps(pid_t pid, std::vector<MapLine>* out);
std::vector<pid_t> list_tasks(pid_t pid);
// The children of every thread of pid (/proc/PID/task/TID/children).
std::vector<pid_t> list_children(pid_t pid);
// Start addresses of the mappings a forked child does not get as they are
// (VmFlags "dc": MADV_DONTFORK; "wf": MADV_WIPEONFORK), from /proc/PID/smaps.
Status read_fork_exempt(pid_t pid, std::vector<uint64_t>* starts);
// Fields of /proc/PID/stat, numbered as in proc(5) (1 = pid).
Status read_stat_fields(pid_t pid, std::vector<std::string>* fields);
// A "Name:\tvalue" line of /proc/PID/status (or a task's), "" if absent.
std::string status_field(const std::string& status_path, const char* name);
// The same field of /proc/PID/status text already read.
std::string status_text_field(const std::string& text, const char* name);
// The pid (or tid) as the process sees it: NSpid's last field; 0 if unknown.
pid_t inner_pid(const std::string& status_path);

// process_vm_readv / process_vm_writev, all or nothing.
Status mem_read(pid_t pid, uint64_t addr, void* buf, size_t n);
Status mem_write(pid_t pid, uint64_t addr, const void* buf, size_t n);

}  // namespace ckpt::control
