// Seed process images for process_image_fuzz, written record by record with
// the image writer as `ckpt checkpoint` writes them: a job (JOB, TASK: the
// process and a zombie child in namespace mode), one process, threads,
// descriptors of every kind (two sharing one open file description),
// anonymous memory with pages, a file mapping
// (this program itself, so the unchanged-file check passes) and a [vdso].
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "control/process_image.h"
#include "format/writer.h"
#include "restore/restore_abi.h"

namespace ckpt::fuzz {
namespace {

using namespace control;

uint64_t mtime_ns(const struct stat& st) {
  return uint64_t(st.st_mtim.tv_sec) * 1000000000ull + uint64_t(st.st_mtim.tv_nsec);
}

FdInfo fd(int n, FdKind kind, std::string path, std::string info = {}, int flags = O_RDWR) {
  FdInfo f;
  f.fd = n;
  f.kind = kind;
  f.open_flags = unsigned(flags);
  f.path = std::move(path);
  f.fdinfo = std::move(info);
  return f;
}

}  // namespace

bool write_process_image(const std::string& path, int zstd_level, int threads, size_t pages) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  struct stat st;
  if (n <= 0 || stat("/proc/self/exe", &st) != 0) return false;
  exe[n] = '\0';
  // The executable's content hash, as a checkpoint records it (the fuzzer
  // then reaches the hash comparison too).
  control::ContentHash hash;
  int exe_fd = open(exe, O_RDONLY | O_CLOEXEC);
  bool hashed = exe_fd >= 0 && control::content_hash(exe_fd, st, &hash).is_ok();
  if (exe_fd >= 0) close(exe_fd);

  ProcInfo pi;
  pi.uid = getuid();
  pi.pid = 4242;
  pi.signal = 10;
  pi.block_addr = 0x10000000;  // in the heap below
  pi.cwd = "/tmp";
  pi.exe = exe;
  pi.exe_ino = st.st_ino;
  pi.exe_size = uint64_t(st.st_size);
  pi.exe_mtime_ns = mtime_ns(st);
  pi.has_exe_hash = hashed;
  pi.exe_hash = hash;
  pi.actions[10].handler = 0x401000;
  pi.rlimits[7][0] = pi.rlimits[7][1] = 1024;
  pi.auxv = {6, 4096, 0, 0};
  // The layout as the kernel keeps it: code, data, brk, stack, arguments and
  // environment, each inside the mappings below (restart checks it).
  const uint64_t mm[11] = {0x400000,   0x401000,   0x401000,   0x401000,   0x10000000, 0x10010000,
                           0x7ffcf000, 0x7ffcf100, 0x7ffcf200, 0x7ffcf200, 0x7ffcf300};
  std::memcpy(pi.mm, mm, sizeof mm);

  MappingInfo file;
  file.start = 0x400000;
  file.end = 0x401000;
  file.prot = 5;
  file.kind = MapKind::kFile;
  file.dev = st.st_dev;
  file.ino = st.st_ino;
  file.size = uint64_t(st.st_size);
  file.mtime_ns = mtime_ns(st);
  file.path = exe;
  file.has_hash = hashed;
  file.hash = hash;
  MappingInfo heap;
  heap.start = 0x10000000;
  heap.end = heap.start + 16 * 4096;
  heap.prot = 3;
  heap.path = "[heap]";
  MappingInfo stack;  // the threads' signal frames are here
  stack.start = 0x7ffc0000;
  stack.end = 0x7ffd0000;
  stack.prot = 3;
  stack.path = "[stack]";
  MappingInfo vdso;
  vdso.start = 0x7ff000000000;
  vdso.end = vdso.start + 2 * 4096;
  vdso.prot = 5;
  vdso.kind = MapKind::kSpecial;
  vdso.special = restore::kSpecialVdso;
  vdso.path = "[vdso]";

  format::ImageWriter w;
  format::WriterOptions wo;
  wo.zstd_level = zstd_level;
  wo.chunk = 4096;  // several DATA records per run of pages
  if (!w.open(path, format::Kind::kProcess, 1, wo).is_ok()) return false;
  // A job: this process and, in namespace mode, a zombie child.
  JobInfo job;
  job.pid_ns = pi.pid_ns;
  job.root = pi.pid;
  job.processes = pi.pid_ns ? 2 : 1;
  TaskInfo root, zombie;
  root.pid = pi.pid;
  root.ppid = pi.pid_ns ? 1 : 0;
  zombie.pid = pi.pid + 1;
  zombie.ppid = pi.pid;
  zombie.state = TaskState::kZombie;
  zombie.exit_status = 3 << 8;
  auto rec = encode(job);
  Status s = w.record(format::kProcJob, rec.data(), rec.size());
  for (const TaskInfo& t : {root, zombie})
    if (s.is_ok() && (t.pid == root.pid || pi.pid_ns)) {
      rec = encode(t);
      s = w.record(format::kProcTask, rec.data(), rec.size());
    }
  rec = encode(pi);
  if (s.is_ok()) s = w.record(format::kProcInfo, rec.data(), rec.size());
  for (int i = 0; s.is_ok() && i < threads; i++) {
    ThreadInfo t;
    t.slot.tid = 4242 + i;
    t.slot.uc = 0x7ffc0000 + uint64_t(i) * 0x1000;
    t.sigpending = uint64_t(i);
    rec = encode(t);
    s = w.record(format::kProcThread, rec.data(), rec.size());
  }
  std::vector<FdInfo> fds = {
      fd(0, FdKind::kInherited, "/dev/pts/0"),
      fd(1, FdKind::kInherited, "/dev/pts/0"),
      fd(3, FdKind::kFile, exe, {}, O_RDONLY),
      fd(4, FdKind::kDevice, "/dev/null"),
      fd(5, FdKind::kOther, "pipe:[1234]"),
      fd(6, FdKind::kReport, "pipe:[1235]"),
      fd(7, FdKind::kEventfd, "anon_inode:[eventfd]", "pos:\t0\nflags:\t02\neventfd-count: 5\n"),
      fd(8, FdKind::kTimerfd, "anon_inode:[timerfd]",
         "clockid: 1\nticks: 0\nit_value: (0, 500000000)\nit_interval: (1, 0)\n"),
      fd(9, FdKind::kEpoll, "anon_inode:[eventpoll]",
         "tfd:        7 events:       19 data:                7  pos:0 ino:1 sdev:f\n")};
  // A pipe with bytes in flight, a socket pair with queued messages, a
  // listening socket (FD kinds 9-11).
  FdInfo pr = fd(10, FdKind::kPipe, "pipe:[1236]", {}, O_RDONLY), pw = pr;
  pr.ino = pw.ino = 1236;
  pr.size = pw.size = 65536;
  pr.queued = {"in flight"};
  pw.fd = 11;
  pw.open_flags = O_WRONLY;
  pw.queued.clear();
  FdInfo sa = fd(12, FdKind::kUnixPair, "socket:[1237]");
  sa.ino = 1237;
  sa.peer = 1238;
  sa.sock_type = SOCK_DGRAM;
  FdInfo sb = sa;
  sa.queued = {"one", "two"};
  sb.fd = 13;
  sb.ino = 1238;
  sb.peer = 1237;
  FdInfo ls = fd(14, FdKind::kSocket, "socket:[1239]");
  ls.sock_family = AF_INET;
  ls.sock_type = SOCK_STREAM;
  ls.sock_state = 2;  // listening
  sockaddr_in lo = {};
  lo.sin_family = AF_INET;
  lo.sin_port = htons(40000);
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ls.addr.assign(reinterpret_cast<const char*>(&lo), sizeof lo);
  // Two descriptors of one open file description (dup, fork): one offset.
  FdInfo shared = fds[2];
  shared.ofd = 1;
  fds[2].ofd = 1;
  shared.fd = 15;
  for (const FdInfo& f : {pr, pw, sa, sb, ls, shared}) fds.push_back(f);
  for (size_t i = 0; s.is_ok() && i < fds.size(); i++) {
    rec = encode(fds[i]);
    s = w.record(format::kProcFd, rec.data(), rec.size());
  }
  for (const MappingInfo* m : {&file, &heap, &stack, &vdso}) {
    if (!s.is_ok()) break;
    rec = encode(*m);
    s = w.record(format::kProcMapping, rec.data(), rec.size());
    if (m != &heap || pages == 0) continue;
    PagesInfo p;
    p.addr = heap.start + 4096;
    p.len = pages * 4096;
    rec = encode(p);
    if (s.is_ok()) s = w.record(format::kProcPages, rec.data(), rec.size());
    std::vector<uint8_t> bytes(p.len);
    for (size_t k = 0; k < bytes.size(); k++) bytes[k] = uint8_t(k * 7 / 4096);
    if (s.is_ok()) s = w.data(bytes.data(), bytes.size());
  }
  if (s.is_ok()) s = w.commit();
  if (!s.is_ok()) w.abort();
  return s.is_ok();
}

}  // namespace ckpt::fuzz
