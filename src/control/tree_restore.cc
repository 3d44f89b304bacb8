#include "control/tree_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "control/ipc.h"
#include "control/pipes.h"
#include "control/userns.h"

namespace ckpt::control {
namespace {

constexpr int kBarrierTimeoutMs = 60000;

void say(int fd, const std::string& s) {
  std::string line = "ckpt: " + s + "\n";
  if (::write(fd, line.data(), line.size()) < 0) {
  }
}

// The job's objects, made once before any process exists, so that every
// process inherits them (close-on-exec, above every descriptor number the
// job uses).
struct Objects {
  std::map<uint64_t, int> pipe_ends, sockets, descriptions, shared_memory;
};

bool make_objects(const RestorePlan& plan, Objects* o, std::string* why) {
  int above = 3;
  std::vector<FdInfo> all;
  for (const ProcessPlan& p : plan.procs)
    for (const FdInfo& f : p.fds) {
      above = std::max(above, f.fd + 1);
      all.push_back(f);
    }
  // Enough descriptors for the objects of a big job.
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  above += 64;  // room for the restorer's own descriptors below the objects
  if (!build_pipes(all, above, &o->pipe_ends, &o->sockets, why)) return false;
  for (const FdInfo& f : all) {
    if (!f.ofd || o->descriptions.count(f.ofd)) continue;
    int fd = reopen_file(f, why);
    if (fd < 0) return false;
    int high = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
    ::close(fd);
    if (high < 0) {
      *why = std::string("cannot keep a shared file open: ") + std::strerror(errno);
      return false;
    }
    o->descriptions[f.ofd] = high;
  }
  for (const auto& [id, size] : plan.shm_size) {
    int fd = int(::syscall(SYS_memfd_create, "ckpt-shared", MFD_CLOEXEC));
    if (fd < 0 || ::ftruncate(fd, off_t(size)) != 0) {
      *why = std::string("cannot make shared memory: ") + std::strerror(errno);
      return false;
    }
    int high = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
    ::close(fd);
    if (high < 0) {
      *why = std::string("cannot keep shared memory open: ") + std::strerror(errno);
      return false;
    }
    o->shared_memory[id] = high;
  }
  return true;
}

// What exec_restorer takes: the run's descriptors and the job's objects.
RestorerRun restorer_run(const TreeRun& run, const Objects& o) {
  RestorerRun rr;
  rr.restorer = run.restorer;
  rr.err_fd = run.err_fd;
  rr.report_fd = run.report_fd;
  rr.ready_fd = run.ready_fd;
  rr.go_fd = run.go_fd;
  rr.pipe_ends = &o.pipe_ends;
  rr.sockets = &o.sockets;
  rr.descriptions = &o.descriptions;
  rr.shared_memory = &o.shared_memory;
  return rr;
}

// A barrier of the whole tree: each process writes one byte ('r', or 'f'
// after it wrote why it failed) to `count`; the init reads one per process,
// then closes the write end of the stage's `release` pipe, which every
// process waits on.
struct Barriers {
  int count[2] = {-1, -1};
  int release[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
};

[[noreturn]] void fail_here(const TreeRun& run, const Barriers& b, const std::string& why) {
  say(run.err_fd, why);
  char c = 'f';
  if (::write(b.count[1], &c, 1) < 0) {
  }
  _exit(127);
}

void arrive_and_wait(const TreeRun& run, const Barriers& b, int stage) {
  char c = 'r';
  if (::write(b.count[1], &c, 1) != 1) fail_here(run, b, "the restart's barrier failed");
  while (::read(b.release[stage][0], &c, 1) > 0) {
  }
}

struct Builder {
  const RestorePlan& plan;
  const TreeRun& run;
  Objects objects;
  Barriers barriers;

  // clone3 with the pid the process had; 0 in the child.
  pid_t create(pid_t pid) {
    clone_args ca = {};
    ca.exit_signal = SIGCHLD;
    uint64_t tid = uint64_t(pid);
    ca.set_tid = uint64_t(&tid);
    ca.set_tid_size = 1;
    return pid_t(::syscall(SYS_clone3, &ca, sizeof ca));
  }

  const ProcessPlan* live(pid_t pid) const {
    for (const ProcessPlan& p : plan.procs)
      if (p.task.pid == pid) return &p;
    return nullptr;
  }

  // The new process `t`: its session, its children, the barriers, its group,
  // then its descriptors and the restorer.
  [[noreturn]] void become(const TaskInfo& t) {
    for (auto& r : barriers.release)
      if (r[1] >= 0) ::close(r[1]);
    if (t.sid == t.pid && ::setsid() < 0)
      fail_here(run, barriers,
                "cannot recreate the session of pid " + std::to_string(t.pid) + ": " +
                    std::strerror(errno));
    for (const TaskInfo& c : plan.tasks)
      if (c.ppid == t.pid) spawn(c);
    arrive_and_wait(run, barriers, 0);
    if (t.pgid == t.pid && t.sid != t.pid && ::setpgid(0, 0) != 0)
      fail_here(run, barriers,
                "cannot recreate the process group of pid " + std::to_string(t.pid) + ": " +
                    std::strerror(errno));
    arrive_and_wait(run, barriers, 1);
    if (t.pgid > 0 && t.pgid != t.pid && ::setpgid(0, t.pgid) != 0)
      fail_here(run, barriers,
                "cannot put pid " + std::to_string(t.pid) + " in process group " +
                    std::to_string(t.pgid) + ": " + std::strerror(errno));
    arrive_and_wait(run, barriers, 2);
    ::close(barriers.count[1]);
    for (auto& r : barriers.release) ::close(r[0]);
    const ProcessPlan* p = live(t.pid);
    if (!p) exit_as_zombie(t);
    if (plan.job.pid_ns) raise_ambient_caps();
    exec_restorer(plan, *p, restorer_run(run, objects));
  }

  // A zombie: it ends as it had, for its parent to collect.
  [[noreturn]] void exit_as_zombie(const TaskInfo& t) {
    for (int fd : {run.err_fd, run.report_fd, run.ready_fd, run.go_fd})
      if (fd >= 0) ::close(fd);
    if (WIFSIGNALED(t.exit_status)) {
      struct rlimit none = {0, 0};
      ::setrlimit(RLIMIT_CORE, &none);
      int sig = WTERMSIG(t.exit_status);
      ::signal(sig, SIG_DFL);
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, sig);
      ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
      ::kill(::getpid(), sig);
    }
    _exit(WEXITSTATUS(t.exit_status));
  }

  void spawn(const TaskInfo& t) {
    pid_t r = create(t.pid);
    if (r == 0) become(t);
    if (r < 0)
      fail_here(run, barriers,
                "cannot recreate pid " + std::to_string(t.pid) + ": " + std::strerror(errno));
  }
};

}  // namespace

pid_t build_tree(const RestorePlan& plan, const TreeRun& run) {
  Builder b{plan, run, {}, {}};
  std::string why;
  // SysV objects first: a process may use them the moment it runs.
  if (!make_ipc_objects(plan.ipc, &why)) {
    say(run.err_fd, why);
    return -1;
  }
  if (!make_objects(plan, &b.objects, &why)) {
    say(run.err_fd, why);
    return -1;
  }
  if (::pipe2(b.barriers.count, O_CLOEXEC) != 0) {
    say(run.err_fd, "cannot make the restart's barriers");
    return -1;
  }
  for (auto& r : b.barriers.release)
    if (::pipe2(r, O_CLOEXEC) != 0) {
      say(run.err_fd, "cannot make the restart's barriers");
      return -1;
    }
  // The init's children: the root, and the orphans it had adopted.
  for (const TaskInfo& t : plan.tasks)
    if (t.ppid <= 1) {
      pid_t r = b.create(t.pid);
      if (r == 0) b.become(t);
      if (r < 0) {
        say(run.err_fd,
            "cannot recreate pid " + std::to_string(t.pid) + ": " + std::strerror(errno));
        return -1;
      }
    }
  ::close(b.barriers.count[1]);
  for (int stage = 0; stage < 3; stage++) {
    for (size_t got = 0; got < plan.tasks.size();) {
      pollfd p = {b.barriers.count[0], POLLIN, 0};
      if (::poll(&p, 1, kBarrierTimeoutMs) <= 0) {
        say(run.err_fd, "the restarted processes did not all start");
        return -1;
      }
      char c;
      ssize_t n = ::read(b.barriers.count[0], &c, 1);
      if (n <= 0 || c != 'r') return -1;  // the process said why
      got++;
    }
    ::close(b.barriers.release[stage][1]);
  }
  return plan.tasks.front().pid;
}

void become_process(const RestorePlan& plan, const TreeRun& run) {
  Objects objects;
  std::string why;
  if (!make_objects(plan, &objects, &why)) {
    say(run.err_fd, why);
    _exit(127);
  }
  exec_restorer(plan, plan.procs.front(), restorer_run(run, objects));
}

}  // namespace ckpt::control
