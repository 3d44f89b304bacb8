#include "control/userns.h"

#include "restore/restore_abi.h"

#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "control/procfs.h"

namespace ckpt::control {
namespace {

long read_long(const char* path) {
  std::string text;
  if (!read_text(path, &text).is_ok() || text.empty()) return -1;
  return std::strtol(text.c_str(), nullptr, 10);
}

bool under_seccomp() {
  std::string status;
  if (!read_text("/proc/self/status", &status).is_ok()) return false;
  size_t at = status.find("\nSeccomp:");
  return at != std::string::npos && std::atoi(status.c_str() + at + 9) != 0;
}

}  // namespace

UsernsFacts probe_userns_facts() {
  UsernsFacts f;
  f.max_user_namespaces = read_long("/proc/sys/user/max_user_namespaces");
  f.unprivileged_userns_clone = read_long("/proc/sys/kernel/unprivileged_userns_clone");
  f.apparmor_restrict = read_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  f.seccomp = under_seccomp();
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    f.err = errno;
    return f;
  }
  long pid =
      ::syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    // pid 1 of the new namespaces, with every capability in them unless a
    // security module takes them away. Setting the next pid is what the
    // restorer's clone3(set_tid) needs: the same capability check.
    int e = 0;
    int fd = ::open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "1", 1) != 1) e = errno ? errno : EPERM;
    if (::write(p[1], &e, sizeof e) != ssize_t(sizeof e)) _exit(1);
    _exit(0);
  }
  int clone_errno = errno;
  ::close(p[1]);
  if (pid < 0) {
    f.err = clone_errno;
    ::close(p[0]);
    return f;
  }
  f.created = true;
  int e = EPERM;
  ssize_t n;
  do n = ::read(p[0], &e, sizeof e);
  while (n < 0 && errno == EINTR);
  ::close(p[0]);
  while (::waitpid(pid_t(pid), nullptr, 0) < 0 && errno == EINTR) {
  }
  f.capable = n == ssize_t(sizeof e) && e == 0;
  f.err = f.capable ? 0 : (n == ssize_t(sizeof e) ? e : EPERM);
  return f;
}

Userns explain_userns(const UsernsFacts& f) {
  Userns u;
  if (f.created && f.capable) {
    u.ok = true;
    return u;
  }
  if (f.created) {
    if (f.apparmor_restrict == 1) {
      u.why =
          "AppArmor lets user namespaces be created but denies capabilities in them "
          "(kernel.apparmor_restrict_unprivileged_userns=1, as on Ubuntu 24.04)";
      u.remedy =
          "an AppArmor profile for ckpt that allows userns, or "
          "sysctl kernel.apparmor_restrict_unprivileged_userns=0 (docs/transparent.md)";
    } else {
      u.why = std::string("capabilities are denied inside user namespaces (") +
              std::strerror(f.err) + ": a security module)";
      u.remedy = "a security policy that allows capabilities in user namespaces";
    }
    return u;
  }
  if (f.err == ENOSPC || f.max_user_namespaces == 0) {
    u.why = f.max_user_namespaces == 0
                ? "user namespaces are turned off (user.max_user_namespaces=0)"
                : "the limit user.max_user_namespaces is reached";
    u.remedy = "sysctl user.max_user_namespaces=15000 (or more)";
  } else if (f.unprivileged_userns_clone == 0) {
    u.why = "user namespaces are refused to ordinary users (kernel.unprivileged_userns_clone=0)";
    u.remedy = "sysctl kernel.unprivileged_userns_clone=1";
  } else if (f.err == EPERM && f.seccomp) {
    u.why =
        "user namespaces are refused (EPERM) under a seccomp filter, as in a container, or "
        "in a chroot";
    u.remedy =
        "a container whose seccomp profile allows unshare and clone(CLONE_NEWUSER), "
        "entered with pivot_root rather than chroot";
  } else if (f.err == EPERM) {
    u.why = "user namespaces are refused (EPERM): in a chroot, or by a security module";
    u.remedy =
        "running outside the chroot (a root entered with pivot_root, as container "
        "runtimes do, keeps them)";
  } else {
    u.why = std::string("user namespaces cannot be created (") + std::strerror(f.err) + ")";
    u.remedy = "a kernel with user namespaces (CONFIG_USER_NS)";
  }
  return u;
}

std::string namespace_image_refusal(const Userns& u) {
  return "cannot restart this image here: it was taken in namespace mode (its pids and thread ids "
         "kept in a user+pid namespace of its own) and " +
         u.why + "; it needs " + u.remedy;
}

// Capabilities the restorer needs in its user namespace: set_tid for clone3
// (CAP_SYS_ADMIN) and PR_SET_MM (CAP_SYS_RESOURCE). Passed through exec as
// ambient capabilities; the restorer drops all of them before the program runs.
void raise_ambient_caps() {
  const int caps[] = {21 /*CAP_SYS_ADMIN*/, 24 /*CAP_SYS_RESOURCE*/, 40 /*CAP_CHECKPOINT_RESTORE*/};
  struct {
    uint32_t version;
    int pid;
  } hdr = {restore::kCapVersion, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2] = {};
  if (::syscall(SYS_capget, &hdr, data) != 0) return;
  for (int c : caps) data[c / 32].inheritable |= 1u << (c % 32);
  data[0].inheritable &= data[0].permitted;
  data[1].inheritable &= data[1].permitted;
  if (::syscall(SYS_capset, &hdr, data) != 0) return;
  for (int c : caps) ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
}

}  // namespace ckpt::control
