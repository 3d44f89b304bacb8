// ckpt check: what this kernel and C library allow, one line each, tried
// rather than guessed (each probe does the real operation in a child or on
// a scratch mapping), then a verdict. Exit status 1 when transparent
// checkpointing cannot work here at all; a missing namespace only changes
// the mode (docs/transparent.md), so it is not a failure.
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/command.h"
#include "format/jobdir.h"
#include "format/writer.h"

// glibc >= 2.35: where its rseq area sits relative to the thread pointer.
extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace ckpt::cli {
namespace {

// Linux 6.7 uapi, missing from Debian 12's headers (linux-libc-dev 6.1).
// The values are stable ABI (include/uapi/linux/userfaultfd.h, fs.h).
constexpr uint64_t kUffdFeatureWpAsync = 1ull << 15;
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
struct PageRegion {
  uint64_t start, end, categories;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPmScanWpMatching = 1 << 0, kPmScanCheckWpasync = 1 << 1;
constexpr uint64_t kPageIsWritten = 1 << 1;

// clone3's argument (linux/sched.h, which clashes with <sched.h>).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};

constexpr pid_t kAskedPid = 4242;

void line(const char* what, const std::string& text) {
  std::printf("%-17s %s\n", (std::string(what) + ":").c_str(), text.c_str());
}

std::string read_line(const char* path) {
  std::string s;
  if (FILE* f = std::fopen(path, "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, f)) s = buf;
    std::fclose(f);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool write_text(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text, std::strlen(text)) == ssize_t(std::strlen(text));
  ::close(fd);
  return ok;
}

// "Seccomp:\t2" in /proc/self/status: a filter is installed.
bool seccomp_filtered() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return false;
  char buf[256];
  bool filtered = false;
  while (std::fgets(buf, sizeof buf, f))
    if (std::strncmp(buf, "Seccomp:", 8) == 0) filtered = std::atoi(buf + 8) == 2;
  std::fclose(f);
  return filtered;
}

// 1: no mount of ours is at "/" (we are in a chroot of a plain directory);
// 2: the mount at "/" shows only part of its file system (a chroot of a
// bind mount, or a container's root); 0: neither.
int root_is_chrooted() {
  FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (!f) return 0;
  char buf[4096];
  int verdict = 1;
  while (std::fgets(buf, sizeof buf, f)) {
    char root[1024], point[1024];
    if (std::sscanf(buf, "%*d %*d %*s %1023s %1023s", root, point) != 2) continue;
    if (std::strcmp(point, "/") == 0) verdict = std::strcmp(root, "/") == 0 ? 0 : 2;
  }
  std::fclose(f);
  return verdict;
}

// Why this kernel refused a user namespace (unshare's errno), as far as can be told.
std::string userns_refusal(int err) {
  if (err == EINVAL || err == ENOSYS) return "the kernel has no user namespaces (CONFIG_USER_NS)";
  if (err == ENOSPC) {
    std::string max = read_line("/proc/sys/user/max_user_namespaces");
    if (max == "0") return "sysctl user.max_user_namespaces is 0";
    return "the limit user.max_user_namespaces (" + max + ") is reached";
  }
  int chroot = root_is_chrooted();
  if (chroot == 1)
    return "this process is in a chroot, where the kernel refuses them (a container "
           "entered with pivot_root keeps them)";
  if (read_line("/proc/sys/kernel/unprivileged_userns_clone") == "0")
    return "sysctl kernel.unprivileged_userns_clone is 0";
  if (seccomp_filtered()) return "refused under a seccomp filter (a container's default profile?)";
  if (read_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1")
    return "AppArmor refuses them (kernel.apparmor_restrict_unprivileged_userns is 1)";
  if (chroot == 2) return "refused; this process's root is part of a file system (a chroot?)";
  return std::string("refused: ") + std::strerror(err);
}

// How far a child got: a user namespace, its id maps, a pid namespace,
// pid 1 in it, and a process there with the pid it asked for.
struct NsProbe {
  enum Stage : int { kUnshare, kMaps, kFork, kSetTid, kDone } stage = kUnshare;
  int err = 0;
};

// pid 1 of the new namespace: clone3 with set_tid, as the restorer does.
[[noreturn]] void pid_one() {
  if (::getpid() != 1) _exit(200);
  pid_t want = kAskedPid;
  CloneArgs ca = {};
  ca.exit_signal = SIGCHLD;
  ca.set_tid = uint64_t(uintptr_t(&want));
  ca.set_tid_size = 1;
  long r = ::syscall(SYS_clone3, &ca, sizeof ca);
  if (r == 0) _exit(0);
  if (r < 0) _exit(errno > 0 && errno < 200 ? errno : 199);
  int st;
  ::waitpid(pid_t(r), &st, 0);
  _exit(r == kAskedPid ? 0 : 201);
}

NsProbe probe_namespaces() {
  NsProbe out;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    out.err = errno;
    return out;
  }
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  pid_t c = ::fork();
  if (c == 0) {
    NsProbe r;
    auto report = [&](int err) {
      r.err = err;
      (void)!::write(p[1], &r, sizeof r);
      _exit(0);
    };
    if (::unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) report(errno);
    r.stage = NsProbe::kMaps;
    std::string um = std::to_string(uid) + " " + std::to_string(uid) + " 1";
    std::string gm = std::to_string(gid) + " " + std::to_string(gid) + " 1";
    if (!write_text("/proc/self/uid_map", um.c_str()) ||
        !write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/gid_map", gm.c_str()))
      report(errno);
    r.stage = NsProbe::kFork;
    pid_t k = ::fork();
    if (k < 0) report(errno);
    if (k == 0) pid_one();
    int st = 0;
    ::waitpid(k, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 200) report(EPROTO);
    r.stage = NsProbe::kSetTid;
    if (WEXITSTATUS(st) == 201) report(ESRCH);  // another pid than asked for
    if (WEXITSTATUS(st) != 0) report(WEXITSTATUS(st));
    r.stage = NsProbe::kDone;
    report(0);
  }
  ::close(p[1]);
  if (c < 0) {
    out.err = errno;
  } else if (::read(p[0], &out, sizeof out) != ssize_t(sizeof out)) {
    out.err = EPROTO;
  }
  ::close(p[0]);
  if (c > 0) ::waitpid(c, nullptr, 0);
  return out;
}

// [vvar], [vvar_vclock] and [vdso]: the restorer moves them back where the
// image had them, so a restart needs a kernel that gives the same sizes.
std::string vdso_layout(bool* ok) {
  *ok = true;
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) {
    *ok = false;
    return "cannot read /proc/self/maps";
  }
  char buf[4096];
  std::string s;
  bool vdso = false;
  while (std::fgets(buf, sizeof buf, f)) {
    unsigned long long a, b;
    char name[256] = "";
    if (std::sscanf(buf, "%llx-%llx %*s %*s %*s %*s %255s", &a, &b, name) < 2) continue;
    if (std::strcmp(name, "[vvar]") && std::strcmp(name, "[vvar_vclock]") &&
        std::strcmp(name, "[vdso]"))
      continue;
    vdso |= std::strcmp(name, "[vdso]") == 0;
    s += (s.empty() ? "" : ", ") + std::string(name) + " " + std::to_string((b - a) >> 10) + " KiB";
  }
  std::fclose(f);
  if (!vdso)
    return "no [vdso] (vdso=0 on the kernel command line?): images of programs that "
           "had one do not restart here";
  return s + " (moved back as they were: a restart needs the same sizes)";
}

std::string rseq_state() {
  long r = ::syscall(SYS_rseq, nullptr, 0, 0, 0);
  if (r < 0 && errno == ENOSYS) return "no: the kernel lacks rseq";
  if (!&__rseq_size || !&__rseq_offset || __rseq_size == 0)
    return "not used: this C library does not register rseq areas (glibc.pthread.rseq=0?)";
  auto* area = reinterpret_cast<const volatile int32_t*>(
      static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
  if (area[1] < 0) return "not used: glibc's registration failed or is turned off";
  return "yes: glibc registers an area per thread; the restorer registers it again";
}

struct FsName {
  long magic;
  const char* name;
};
constexpr FsName kFs[] = {
    {0xEF53, "ext4"},       {0x58465342, "xfs"},  {0x9123683E, "btrfs"},
    {0x01021994, "tmpfs"},  {0x6969, "nfs"},      {0x794c7630, "overlayfs"},
    {0x0BD00BD0, "lustre"}, {0x47504653, "gpfs"}, {0x19830326, "beegfs"},
    {0x2FC12FC1, "zfs"},    {0xFE534D42, "smb2"}, {0x65735546, "fuse"},
};

std::string fs_name(const std::string& dir) {
  struct statfs s;
  if (::statfs(dir.c_str(), &s) != 0) return "?";
  for (const FsName& f : kFs)
    if (long(s.f_type) == f.magic) return f.name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "type %#lx", (unsigned long)s.f_type);
  return buf;
}

// Writes one aligned block with O_DIRECT in the checkpoint directory (or
// the nearest existing parent, if it is not made yet), then removes it.
std::string direct_io(const std::string& dir) {
  std::string at = dir.empty() ? "." : dir;
  struct stat st;
  while (::stat(at.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    size_t slash = at.find_last_of('/');
    if (slash == std::string::npos) {
      at = ".";
      break;
    }
    at = slash == 0 ? "/" : at.substr(0, slash);
  }
  if (char* real = ::realpath(at.c_str(), nullptr)) {
    at = real;
    std::free(real);
  }
  std::string where = at + " (" + fs_name(at) + ")";
  if (!format::direct_from_env()) return "off: CKPT_DIRECT=0; images on " + where + " are buffered";
  std::string path = at + "/.ckpt-check." + std::to_string(::getpid());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EINVAL)
    return "no on " + where + ": images are written through the page cache";
  if (fd < 0) return "unknown: cannot create a file in " + at + ": " + std::strerror(errno);
  void* block = nullptr;
  bool ok = ::posix_memalign(&block, 4096, 4096) == 0;
  if (ok) {
    std::memset(block, 0, 4096);
    ok = ::write(fd, block, 4096) == 4096;
  }
  int err = errno;
  std::free(block);
  ::close(fd);
  ::unlink(path.c_str());
  if (!ok)
    return "no on " + where + " (a write failed: " + std::strerror(err) +
           "): images are written through the page cache";
  return "yes on " + where + ": big images bypass the page cache";
}

// Dirty-page tracking without soft-dirty (docs: kernel levers):
// userfaultfd in async write-protect mode, read with PAGEMAP_SCAN.
std::string dirty_tracking() {
  int uffd = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (uffd < 0) return std::string("no: userfaultfd refused: ") + std::strerror(errno);
  std::string why;
  uffdio_api api = {};
  api.api = UFFD_API;
  api.features = kUffdFeatureWpAsync;
  const size_t page = 4096, len = 4 * page;
  void* mem = MAP_FAILED;
  int pm = -1;
  if (::ioctl(uffd, UFFDIO_API, &api) != 0) {
    why = errno == EINVAL ? "no: the kernel lacks UFFD_FEATURE_WP_ASYNC (Linux 6.7)"
                          : std::string("no: UFFDIO_API: ") + std::strerror(errno);
  } else {
    mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) std::memset(mem, 1, len);
    uffdio_register reg = {};
    reg.range.start = uint64_t(uintptr_t(mem));
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    PageRegion regions[4];
    PmScanArg arg = {};
    arg.size = sizeof arg;
    arg.flags = kPmScanWpMatching | kPmScanCheckWpasync;
    arg.start = reg.range.start;
    arg.end = reg.range.start + len;
    arg.vec = uint64_t(uintptr_t(regions));
    arg.vec_len = 4;
    arg.category_mask = kPageIsWritten;
    arg.return_mask = kPageIsWritten;
    if (mem == MAP_FAILED || ::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
      why = std::string("no: cannot register memory for write-protection: ") + std::strerror(errno);
    } else if (pm < 0 || ::ioctl(pm, kPagemapScan, &arg) < 0) {
      why = errno == ENOTTY || errno == EINVAL
                ? "no: the kernel lacks PAGEMAP_SCAN (Linux 6.7)"
                : std::string("no: PAGEMAP_SCAN: ") + std::strerror(errno);
    } else {
      // Every page is protected now; write one and ask which pages were written.
      static_cast<volatile char*>(mem)[2 * page] = 2;
      arg.walk_end = 0;
      long n = ::ioctl(pm, kPagemapScan, &arg);
      bool exact = n == 1 && regions[0].start == reg.range.start + 2 * page &&
                   regions[0].end == regions[0].start + page;
      why = exact ? "yes: userfaultfd (WP_ASYNC) and PAGEMAP_SCAN find the pages written since "
                    "the last scan"
                  : "no: PAGEMAP_SCAN did not report exactly the page written";
    }
  }
  if (pm >= 0) ::close(pm);
  if (mem != MAP_FAILED) ::munmap(mem, len);
  ::close(uffd);
  return why;
}

// The supervisor reads its program's memory with process_vm_readv.
volatile uint64_t g_marker = 0x636b7074;
bool read_child_memory(std::string* why) {
  pid_t c = ::fork();
  if (c == 0) {
    for (;;) ::pause();
  }
  if (c < 0) {
    *why = std::string("cannot fork: ") + std::strerror(errno);
    return false;
  }
  uint64_t got = 0;
  iovec local = {&got, sizeof got};
  iovec remote = {const_cast<uint64_t*>(&g_marker), sizeof got};
  ssize_t r = ::process_vm_readv(c, &local, 1, &remote, 1, 0);
  int err = errno;
  ::kill(c, SIGKILL);
  ::waitpid(c, nullptr, 0);
  if (r == ssize_t(sizeof got) && got == g_marker) return true;
  *why = std::string("refused: ") + std::strerror(err);
  if (read_line("/proc/sys/kernel/yama/ptrace_scope") == "3")
    *why += " (kernel.yama.ptrace_scope is 3)";
  return false;
}

}  // namespace

std::function<int()> setup_check(CLI::App* sub) {
  auto dir = std::make_shared<std::string>(format::default_dir());
  sub->add_option("--dir", *dir,
                  "Checkpoint directory whose file system to try ($CKPT_DIR, else ckpt.d)");
  return [dir] {
    NsProbe ns = probe_namespaces();
    std::string caps_hint =
        read_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1"
            ? " (AppArmor: kernel.apparmor_restrict_unprivileged_userns is 1; allow userns in a "
              "profile for ckpt, or set it to 0)"
            : "";
    if (ns.stage == NsProbe::kUnshare) line("user namespaces", "no: " + userns_refusal(ns.err));
    else if (ns.stage == NsProbe::kMaps)
      line("user namespaces", std::string("no: made, but its id maps were refused: ") +
                                  std::strerror(ns.err) + caps_hint);
    else line("user namespaces", "yes");
    if (ns.stage <= NsProbe::kMaps)
      line("pid namespaces", "not tried (they need a user namespace here)");
    else if (ns.stage == NsProbe::kFork)
      line("pid namespaces", std::string("no: ") + std::strerror(ns.err));
    else line("pid namespaces", "yes");
    bool set_tid = ns.stage == NsProbe::kDone;
    if (set_tid)
      line("clone3 set_tid", "yes: pid " + std::to_string(kAskedPid) +
                                 " given as asked in a fresh user+pid namespace");
    else if (ns.stage == NsProbe::kSetTid)
      line("clone3 set_tid", std::string("no: ") + std::strerror(ns.err) + " inside the namespace" +
                                 (ns.err == EPERM ? caps_hint : std::string()));
    else line("clone3 set_tid", "not tried (it needs a user+pid namespace)");
    bool vdso_ok;
    line("vdso layout", vdso_layout(&vdso_ok));
    line("rseq", rseq_state());
    line("O_DIRECT", direct_io(*dir));
    line("dirty pages", dirty_tracking());

    // What transparent mode cannot do without.
    std::string why_not;
    std::string mem_why;
    bool mem = read_child_memory(&mem_why);
    line("process memory",
         mem ? "yes: a parent reads its child's memory (process_vm_readv)" : "no: " + mem_why);
    if (!mem) why_not = "the supervisor cannot read its program's memory";
    unsigned mm_size = 0;
    bool mm = ::prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &mm_size, 0, 0) == 0 && mm_size > 0;
    line("PR_SET_MM_MAP", mm ? "yes" : "no: the kernel lacks CONFIG_CHECKPOINT_RESTORE");
    if (!mm && why_not.empty()) why_not = "the kernel cannot give a restored process its layout";
    if (!why_not.empty()) {
      line("verdict", "transparent checkpointing cannot work here: " + why_not);
      return kExitError;
    }
    if (set_tid)
      line("verdict",
           "transparent checkpointing works here, in a user+pid namespace: pids and "
           "tids are kept across a restart");
    else
      line("verdict",
           "transparent checkpointing works here without namespaces: a restarted "
           "tree gets its pids back by bringing the pid counter round (kernel.pid_max " +
               read_line("/proc/sys/kernel/pid_max") +
               "), threads get new tids (glibc's own caches are corrected)");
    return 0;
  };
}

}  // namespace ckpt::cli
