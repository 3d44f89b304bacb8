#include "control/tree_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
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
#include <optional>
#include <set>

#include "control/ipc.h"
#include "control/pid_counter.h"
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

// What the job's processes and the builder share (an anonymous shared
// mapping, gone with each process's exec):
// - the barriers' progress: each process writes one byte ('r', or 'f' after
//   it wrote why it failed) to `count`; the builder reads one per process,
//   notes the stage in `passed`, then closes the write end of the stage's
//   `release` pipe, which every process waits on. A builder that gave up
//   (or died) closes it too: `passed` tells the processes to end instead of
//   going on.
// - without a namespace, the turns: processes are made one at a time, each
//   by its parent, in the order in which the pid counter reaches their
//   pids (one round of the counter for a tree whose pids were handed out
//   in order; two makers at once would take each other's pids).
struct Shared {
  int passed;  // barrier stages passed
  int next;    // the entry of the order being made
  int failed;  // a process could not be made: nobody waits any more
  int count;   // entries in the order
};
struct Entry {
  pid_t pid;
  pid_t parent;  // 0: a top process, made by the builder
};

struct Barriers {
  int count[2] = {-1, -1};
  int release[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  Shared* shared = nullptr;
  Entry* order = nullptr;
};

void wake_all(int* word) { ::syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0); }

void wait_change(int* word, int seen) {
  timespec ts = {0, 50 * 1000 * 1000};
  ::syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, nullptr, 0);
}

// The order in which the processes are made without a namespace: by how
// far the pid counter has to go to reach each pid, a parent always before
// its children.
std::vector<Entry> creation_order(const std::vector<TaskInfo>& tasks) {
  std::vector<std::pair<uint64_t, const TaskInfo*>> keyed;
  for (const TaskInfo& t : tasks) keyed.push_back({pids_before(t.pid), &t});
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const TaskInfo*> by_turn;
  for (const auto& k : keyed) by_turn.push_back(k.second);
  std::set<pid_t> made;
  std::map<pid_t, std::vector<const TaskInfo*>> waiting;
  std::vector<Entry> out;
  std::vector<const TaskInfo*> ready;
  for (const TaskInfo* t : by_turn) {
    if (t->ppid > 1 && !made.count(t->ppid)) {
      waiting[t->ppid].push_back(t);
      continue;
    }
    ready.push_back(t);
    while (!ready.empty()) {
      const TaskInfo* r = ready.back();
      ready.pop_back();
      out.push_back({r->pid, r->ppid <= 1 ? 0 : r->ppid});
      made.insert(r->pid);
      auto w = waiting.find(r->pid);
      if (w == waiting.end()) continue;
      ready.insert(ready.end(), w->second.rbegin(), w->second.rend());
      waiting.erase(w);
    }
  }
  return out;
}

[[noreturn]] void fail_here(const TreeRun& run, const Barriers& b, const std::string& why) {
  say(run.err_fd, why);
  __atomic_store_n(&b.shared->failed, 1, __ATOMIC_RELEASE);
  wake_all(&b.shared->next);
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
  if (__atomic_load_n(&b.shared->passed, __ATOMIC_ACQUIRE) <= stage)
    _exit(127);  // the builder said why
}

struct Builder {
  const RestorePlan& plan;
  const TreeRun& run;
  Objects objects;
  Barriers barriers;

  // A process with the pid it had; 0 in the child, -1 after saying why in
  // *why. In the job's namespace clone3 sets the pid; without one the pid
  // counter is brought to it (pid_counter.h).
  pid_t create(const TaskInfo& t, std::string* why) {
    if (plan.job.pid_ns) {
      clone_args ca = {};
      ca.exit_signal = SIGCHLD;
      uint64_t tid = uint64_t(t.pid);
      ca.set_tid = uint64_t(&tid);
      ca.set_tid_size = 1;
      pid_t r = pid_t(::syscall(SYS_clone3, &ca, sizeof ca));
      if (r < 0)
        *why = "cannot recreate pid " + std::to_string(t.pid) + ": " + std::strerror(errno);
      return r;
    }
    pid_t r = fork_with_pid(t.pid, 0, why);
    if (r < 0) *why = "cannot recreate the job's processes: " + *why;
    return r;
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
    if (plan.job.pid_ns) {
      for (const TaskInfo& c : plan.tasks)
        if (c.ppid == t.pid) spawn(c);
    } else {
      take_turns(t.pid);
    }
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
    std::string why;
    pid_t r = create(t, &why);
    if (r == 0) become(t);
    if (r < 0) fail_here(run, barriers, why);
  }

  // Without a namespace: makes the children whose turn comes, until every
  // process exists or one could not be made (false). me: our pid; 0 for
  // the builder, which makes the top processes.
  bool take_turns(pid_t me) {
    Shared* s = barriers.shared;
    for (;;) {
      int n = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE);
      if (__atomic_load_n(&s->failed, __ATOMIC_ACQUIRE)) return false;
      if (n >= s->count) return true;
      if (barriers.order[n].parent != me) {
        wait_change(&s->next, n);
        continue;
      }
      const TaskInfo* c = nullptr;
      for (const TaskInfo& t : plan.tasks)
        if (t.pid == barriers.order[n].pid) c = &t;
      std::string why;
      pid_t r = create(*c, &why);
      if (r == 0) become(*c);
      if (r < 0) {
        if (me != 0) fail_here(run, barriers, why);
        say(run.err_fd, why);
        __atomic_store_n(&s->failed, 1, __ATOMIC_RELEASE);
        wake_all(&s->next);
        return false;
      }
      __atomic_store_n(&s->next, n + 1, __ATOMIC_RELEASE);
      wake_all(&s->next);
    }
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
  std::vector<Entry> order;
  if (!plan.job.pid_ns) order = creation_order(plan.tasks);
  size_t bytes = sizeof(Shared) + order.size() * sizeof(Entry);
  void* page = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    say(run.err_fd, "cannot make the restart's barriers");
    return -1;
  }
  b.barriers.shared = static_cast<Shared*>(page);
  b.barriers.order = reinterpret_cast<Entry*>(b.barriers.shared + 1);
  b.barriers.shared->count = int(order.size());
  std::copy(order.begin(), order.end(), b.barriers.order);
  if (::pipe2(b.barriers.count, O_CLOEXEC) != 0) {
    say(run.err_fd, "cannot make the restart's barriers");
    return -1;
  }
  for (auto& r : b.barriers.release)
    if (::pipe2(r, O_CLOEXEC) != 0) {
      say(run.err_fd, "cannot make the restart's barriers");
      return -1;
    }
  std::optional<PidWalkTurn> turn;
  if (plan.job.pid_ns) {
    // The init's children: the root, and the orphans it had adopted.
    for (const TaskInfo& t : plan.tasks)
      if (t.ppid <= 1) {
        pid_t r = b.create(t, &why);
        if (r == 0) b.become(t);
        if (r < 0) {
          say(run.err_fd, why);
          return -1;
        }
      }
  } else {
    std::vector<pid_t> pids;
    for (const TaskInfo& t : plan.tasks) pids.push_back(t.pid);
    if (!pids_can_be_had(pids, &why)) {
      say(run.err_fd, "cannot recreate the job's processes: " + why);
      return -1;
    }
    turn.emplace();
    if (!b.take_turns(0)) return -1;  // whoever failed said why
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
    __atomic_store_n(&b.barriers.shared->passed, stage + 1, __ATOMIC_RELEASE);
    ::close(b.barriers.release[stage][1]);
    if (turn) turn->release();  // every process exists
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
