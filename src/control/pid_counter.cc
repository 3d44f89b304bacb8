#include "control/pid_counter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "control/procfs.h"

namespace ckpt::control {
namespace {

// A pid further than this from the counter takes seconds to reach: said once.
constexpr long kSayAbove = 100000;
// Times round the counter before giving up.
constexpr long kRounds = 10;
// A walk longer than this makes threads for all but its last kBulkMargin
// pids (burn_many).
constexpr long kBulkAbove = 4000;
constexpr long kBulkMargin = 1000;
long read_number(const char* path, long fallback) {
  std::string s;
  if (!read_text(path, &s).is_ok() || s.empty()) return fallback;
  return std::strtol(s.c_str(), nullptr, 10);
}

bool in_use(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

std::string holder(pid_t pid) {
  std::string comm;
  (void)read_text("/proc/" + std::to_string(pid) + "/comm", &comm);
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm.empty() ? "another process" : comm;
}

// The process that only moves the counter: shares our memory and exits at
// once (we wait meanwhile: CLONE_VFORK), so its stack can be static.
alignas(16) char burn_stack[16384];

int burn_body(void*) {
  ::syscall(SYS_exit, 0);
  return 0;
}

pid_t burn() {
  pid_t p =
      ::clone(burn_body, burn_stack + sizeof burn_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  if (p > 0)
    while (::waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
    }
  return p;
}

// How many pids the counter hands out from `last` before `want`.
long gap(pid_t last, pid_t want, long pid_max) {
  return want > last ? want - 1 - last : (pid_max - 1 - last) + (want - kLowestReusedPid);
}

// The long part of a walk, about twice as fast as burn() one by one (22
// against 40 us a pid here): threads of ours that exit at once, made
// without waiting for each (a thread is reaped by the kernel, and its
// exit runs on the other core while the next is made). Up to kSlots at a
// time, each on its own stack; a slot is used again once the kernel has
// cleared its tid (CLONE_CHILD_CLEARTID). The threads run no code of the
// C library and no instrumented code (they share our TLS), with every
// signal blocked. Stops `margin` pids before `want`, or early when no more
// threads can be made (EAGAIN); returns the last pid made, or -1 (errno
// set) on another failure.
constexpr int kSlots = 32;
alignas(16) char slot_stack[kSlots][8192];
volatile pid_t slot_tid[kSlots];

__attribute__((no_sanitize("address", "thread", "undefined"))) int slot_body(void*) {
  ::syscall(SYS_exit, 0);
  return 0;
}

void wait_slot(int s) {
  for (pid_t t; (t = slot_tid[s]) != 0;)
    ::syscall(SYS_futex, &slot_tid[s], FUTEX_WAIT, t, nullptr, nullptr, 0);
}

pid_t burn_many(pid_t last, pid_t want, long pid_max, long margin) {
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = 0;
  for (int s = 0; gap(last, want, pid_max) > margin; s = (s + 1) % kSlots) {
    wait_slot(s);
    slot_tid[s] = -1;
    pid_t t = ::clone(slot_body, slot_stack[s] + sizeof slot_stack[s],
                      CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                          CLONE_SYSVSEM | CLONE_CHILD_CLEARTID,
                      nullptr, nullptr, nullptr, &slot_tid[s]);
    if (t < 0) {
      // Out of processes (RLIMIT_NPROC, a container's pids.max) with
      // kSlots at a time: the rest one by one, as without threads.
      if (errno != EAGAIN) err = errno;
      slot_tid[s] = 0;
      break;
    }
    last = t;
  }
  for (int s = 0; s < kSlots; s++) wait_slot(s);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return err ? -1 : last;
}

// The pid the next process gets, as far as we can tell: the first one after
// `last` that no process holds, or `want` if no free one comes before it.
// Looked for as far as it takes: the kernel jumps over a run of held pids
// (a job's processes, made one after the other), and a walk that stopped
// looking within the run would burn the pid after it, `want`, every time
// round.
pid_t next_free(pid_t last, pid_t want, long pid_max) {
  pid_t c = last;
  for (long i = 0; i < pid_max; i++) {
    c = c + 1 >= pid_max ? kLowestReusedPid : c + 1;
    if (c == want || !in_use(c)) return c;
  }
  return c;
}

// A pid no process has can still be held by the kernel: as the id of a
// process group or session whose leader has exited but whose members live
// on (or are zombies that nobody has reaped yet). For each of `pids` held
// so, who holds it ("the process group of bash (pid 123)"); one walk of
// /proc for all.
std::vector<std::string> group_holders(const std::vector<pid_t>& pids) {
  std::vector<std::string> found(pids.size());
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  while (dirent* e = ::readdir(d)) {
    char* end;
    long p = std::strtol(e->d_name, &end, 10);
    if (*end || p <= 0) continue;
    std::vector<std::string> f;
    // Numbered as in proc(5): 5 pgrp, 6 session.
    if (!read_stat_fields(pid_t(p), &f).is_ok() || f.size() < 7) continue;
    pid_t group = pid_t(std::atoi(f[5].c_str())), session = pid_t(std::atoi(f[6].c_str()));
    for (size_t i = 0; i < pids.size(); i++)
      if (found[i].empty() && (group == pids[i] || session == pids[i]))
        found[i] = std::string(group == pids[i] ? "the process group" : "the session") + " of " +
                   holder(pid_t(p)) + " (pid " + std::to_string(p) + ")";
  }
  ::closedir(d);
  return found;
}

std::string group_holder(pid_t pid) { return group_holders({pid}).front(); }

// Whether any of `pids` is a group's or session's id: the first such, said.
bool a_group_holds(const std::vector<pid_t>& pids, std::string* why) {
  std::vector<std::string> held = group_holders(pids);
  for (size_t i = 0; i < pids.size(); i++)
    if (!held[i].empty()) {
      *why = "pid " + std::to_string(pids[i]) + " is still the id of " + held[i];
      return true;
    }
  return false;
}

// Waits up to `tries` times `us` for none of `pids` to be a group's or
// session's id (a killed job's zombies being reaped): false, said, if one
// still is.
bool wait_no_group_holds(const std::vector<pid_t>& pids, int tries, useconds_t us,
                         std::string* why) {
  for (int i = 0; i < tries; i++) {
    if (!a_group_holds(pids, why)) return true;
    ::usleep(us);
  }
  return !a_group_holds(pids, why);
}

bool pid_can_be_had(pid_t want, std::string* why) {
  long pid_max = read_number("/proc/sys/kernel/pid_max", 32768);
  std::string w = "pid " + std::to_string(want);
  if (want <= 1 || want >= pid_max) {
    *why = w + " is beyond this machine's highest pid (kernel.pid_max " + std::to_string(pid_max) +
           ")";
    return false;
  }
  // A process that only passes (a shell's short command) is waited for.
  for (int i = 0; i < 100 && in_use(want); i++) ::usleep(20000);
  if (in_use(want)) {
    *why = w + " is in use by " + holder(want);
    return false;
  }
  pid_t last = pid_t(read_number("/proc/sys/kernel/ns_last_pid", 0));
  if (want < kLowestReusedPid && last >= kLowestReusedPid) {
    *why = w + " is below " + std::to_string(kLowestReusedPid) +
           ", which the kernel gives out only once, when a machine or container starts";
    return false;
  }
  return true;
}

}  // namespace

uint64_t pids_before(pid_t want) {
  long pid_max = read_number("/proc/sys/kernel/pid_max", 32768);
  long last = read_number("/proc/sys/kernel/ns_last_pid", 0);
  if (want > last) return uint64_t(want - last);
  return uint64_t(pid_max - last) +
         uint64_t(want >= kLowestReusedPid ? want - kLowestReusedPid : 0);
}

bool pids_can_be_had(const std::vector<pid_t>& pids, std::string* why) {
  for (pid_t p : pids)
    if (!pid_can_be_had(p, why)) return false;
  // The members of a killed job's groups may still be zombies that their
  // new parent (init, or a subreaper) has not reaped yet: waited for.
  return wait_no_group_holds(pids, 100, 50000, why);
}

pid_t fork_with_pid(pid_t want, uint64_t flags, std::string* why) {
  // A pid held as a group's id is checked before the counter moves: the
  // walk would go round the whole range (4194304 pids where systemd sets
  // kernel.pid_max) only to find it jumped over.
  if (!pid_can_be_had(want, why) || !wait_no_group_holds({want}, 100, 50000, why)) return -1;
  long pid_max = read_number("/proc/sys/kernel/pid_max", 32768);
  std::string w = "pid " + std::to_string(want);
  pid_t last = pid_t(read_number("/proc/sys/kernel/ns_last_pid", 0));
  long distance = gap(last, want, pid_max);
  static bool said = false;
  if (distance > kSayAbove && !said) {
    said = true;
    std::fprintf(stderr,
                 "ckpt: getting the job's pids back: making about %ld short-lived processes "
                 "(the kernel hands pids out in order; kernel.pid_max is %ld)\n",
                 distance, pid_max);
  }
  // The long part with threads, up to a little before the pid; the rest
  // one by one, watching for the pid itself.
  if (distance > kBulkAbove) {
    pid_t got = burn_many(last, want, pid_max, kBulkMargin);
    if (got < 0) {
      *why = "cannot make a process to reach " + w + ": " + std::strerror(errno);
      return -1;
    }
    last = got;
  }
  // Other processes of the machine take pids meanwhile, and one may take
  // the wanted pid just before we do (a shell script forking as fast as it
  // can): up to ten times round.
  // A pid no process holds can still be held as a group's or session's id
  // (group_holder): the kernel jumps over it too. When a short-lived
  // process got `want` itself, the pid it was made after is remembered, and
  // from there on the next round makes the real one.
  pid_t approach = -1;
  for (long made = 0; made < kRounds * pid_max; made++) {
    bool near = approach >= 0 && approach < want && last >= approach && last < want;
    if (!near && next_free(last, want, pid_max) != want) {
      pid_t before = last;
      last = burn();
      // Out of processes for a moment (RLIMIT_NPROC, pids.max: the user's
      // other processes, or threads of burn_many not yet released by the
      // kernel): waited for, up to 2 s.
      for (int i = 0; i < 200 && last < 0 && errno == EAGAIN; i++) {
        ::usleep(10000);
        last = burn();
      }
      if (last < 0) {
        *why = "cannot make a process to reach " + w + ": " + std::strerror(errno);
        return -1;
      }
      if (last == want) approach = before;
      continue;
    }
    clone_args ca = {};
    ca.flags = flags;
    // With CLONE_PARENT the child signals our parent as we do (clone3
    // wants 0 here).
    ca.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    pid_t r = pid_t(::syscall(SYS_clone3, &ca, sizeof ca));
    for (int i = 0; i < 200 && r < 0 && errno == EAGAIN; i++) {  // as for burn() above
      ::usleep(10000);
      r = pid_t(::syscall(SYS_clone3, &ca, sizeof ca));
    }
    if (r == 0) {
      if (::getpid() != want) _exit(0);  // another process took it first
      return 0;
    }
    if (r < 0) {
      *why = "cannot make " + w + ": " + std::strerror(errno);
      return -1;
    }
    if (r == want) return r;
    // Not ours to reap when it is our parent's child: it reaps it.
    if (!(flags & CLONE_PARENT))
      while (::waitpid(r, nullptr, 0) < 0 && errno == EINTR) {
      }
    last = r;
    for (int i = 0; i < 100 && in_use(want); i++) ::usleep(20000);
    if (in_use(want)) {
      *why = w + " was taken by " + holder(want) + " while ckpt was reaching it";
      return -1;
    }
    // Or it became a group's id meanwhile (its holder joined a group whose
    // leader then exited): waited for, as above, and said.
    if (!wait_no_group_holds({want}, 100, 20000, why)) return -1;
  }
  std::string g = group_holder(want);
  if (!g.empty()) *why = w + " is still the id of " + g;
  else *why = w + " could not be reached: other processes kept taking the pids before it";
  return -1;
}

PidWalkTurn::PidWalkTurn() {
  const char* path = "/tmp/ckpt-pid-walk.lock";
  // Made by whoever comes first, readable by all (a lock needs no write);
  // never followed through a symlink.
  fd_ = ::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) fd_ = ::open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd_ < 0) fd_ = ::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) return;
  for (int i = 0; i < 6000; i++) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    ::usleep(10000);
  }
  ::close(fd_);
  fd_ = -1;
}

void PidWalkTurn::release() {
  if (fd_ < 0) return;
  // Unlocked for every holder: the processes made meanwhile share the
  // descriptor until their exec.
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace ckpt::control
