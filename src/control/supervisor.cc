#include "control/supervisor.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "control/ipc.h"
#include "control/procfs.h"
#include "control/protocol.h"
#include "control/tree_restore.h"
#include "control/userns.h"
#include "inject/inject_abi.h"
#include "restore/restore_abi.h"

namespace ckpt::control {
namespace {

const int kHandled[] = {SIGCHLD, SIGUSR1, SIGUSR2,  SIGINT,  SIGTERM, SIGHUP,
                        SIGQUIT, SIGALRM, SIGWINCH, SIGCONT, SIGTSTP};

std::string exe_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string s(buf, size_t(n));
  return s.substr(0, s.rfind('/'));
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

// Finds PROGRAM as execvp would.
std::string resolve(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return prog;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t c = p.find(':', pos);
    if (c == std::string::npos) c = p.size();
    std::string d = p.substr(pos, c - pos);
    std::string cand = (d.empty() ? "." : d) + "/" + prog;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    pos = c + 1;
  }
  return prog;
}

// A static ELF executable cannot load the injected library.
Status check_program(const std::string& prog) {
  std::string path = resolve(prog);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::make(Code::kNotFound, errno, "cannot run %s", prog.c_str());
  Elf64_Ehdr eh;
  bool elf = ::pread(fd, &eh, sizeof eh, 0) == ssize_t(sizeof eh) &&
             std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0;
  if (!elf) {
    ::close(fd);
    return Status::ok();  // a script: its interpreter is checked when it runs
  }
  bool interp = false;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
    ::close(fd);
    return Status::make(Code::kUnsupported, 0, "%s is not an x86_64 program", path.c_str());
  }
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    if (::pread(fd, &ph, sizeof ph, off_t(eh.e_phoff + uint64_t(i) * eh.e_phentsize)) !=
        ssize_t(sizeof ph))
      break;
    if (ph.p_type == PT_INTERP) interp = true;
  }
  ::close(fd);
  if (!interp)
    return Status::make(Code::kUnsupported, 0,
                        "%s is statically linked; transparent checkpointing needs a dynamically "
                        "linked program (or use libckpt in it)",
                        path.c_str());
  return Status::ok();
}

void reset_child_signals() {
  sigset_t none;
  sigemptyset(&none);
  for (int s : kHandled) ::signal(s, SIG_DFL);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool write_proc(pid_t pid, const char* file, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

// pid 1 of the job's pid namespace: reaps, and ends with the program. Its
// own exit status cannot say "killed by a signal" (pid 1 cannot kill itself
// with one), so the program's raw wait status goes to the supervisor first.
[[noreturn]] void namespace_init(pid_t program, int status_fd) {
  for (;;) {
    int st;
    pid_t w = ::waitpid(-1, &st, 0);
    if (w == program) {
      if (::write(status_fd, &st, sizeof st) < 0) {
      }
      _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    if (w < 0 && errno == ECHILD) _exit(1);
  }
}

int64_t unix_now() { return int64_t(::time(nullptr)); }

// What the supervisor sends the keeper (and the kernel, when the supervisor
// dies) to end a job without a namespace: a signal nobody else sends.
const int kKeeperEnd = SIGRTMAX;

// Every process below us killed and reaped (orphans come to us, a
// subreaper, so none escapes the walk).
void kill_descendants() {
  for (int round = 0; round < 100; round++) {
    std::vector<pid_t> all, todo = list_children(::getpid());
    while (!todo.empty()) {
      pid_t p = todo.back();
      todo.pop_back();
      all.push_back(p);
      for (pid_t kid : list_children(p)) todo.push_back(kid);
    }
    if (all.empty()) return;
    for (pid_t p : all) ::kill(p, SIGKILL);
    ::usleep(1000);
    while (::waitpid(-1, nullptr, __WALL | WNOHANG) > 0) {
    }
  }
}

// Without a namespace, the job's init (the keeper): a child subreaper that
// reaps the job's orphans and, as a namespace ends with its init, ends the
// job when the program ends or when its supervisor dies or asks
// (kKeeperEnd from the supervisor's pid; the kernel sends it when the
// supervisor dies). Deaf to every other signal: a job's process group
// receiving SIGINT or SIGTERM is the program's business. kKeeperEnd and
// SIGCHLD are blocked since the fork.
[[noreturn]] void job_init(pid_t program, int status_fd, pid_t supervisor) {
  for (int s : kHandled)
    if (s != SIGCHLD) ::signal(s, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kKeeperEnd);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    if (::getppid() != supervisor) {  // died before the death signal was set
      kill_descendants();
      _exit(1);
    }
    for (;;) {
      int st;
      pid_t w = ::waitpid(-1, &st, __WALL | WNOHANG);
      if (w <= 0) break;
      if (w == program) {
        if (::write(status_fd, &st, sizeof st) < 0) {
        }
        kill_descendants();
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      }
    }
    siginfo_t si;
    timespec tick = {1, 0};
    int sig = ::sigtimedwait(&set, &si, &tick);
    if (sig == kKeeperEnd && si.si_pid == supervisor) {
      kill_descendants();
      _exit(1);
    }
  }
}

}  // namespace

std::string helper_path(const char* name) {
  std::string d = exe_dir();
  for (const char* sub : {"/", "/../lib/ckpt/", "/../libexec/ckpt/", "/../lib64/ckpt/"}) {
    std::string p = d + sub + name;
    if (exists(p)) return p;
  }
  return d + "/" + name;
}

Supervisor::Supervisor(const SuperviseOptions& options) : options_(options) {
  for (int k = 0; k < 3; k++) {
    struct stat st;
    if (::fstat(k, &st) == 0) {
      target_.fds.stdio_dev[k] = st.st_dev;
      target_.fds.stdio_ino[k] = st.st_ino;
    }
  }
}

Supervisor::~Supervisor() {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(control_path(dir_.dir()).c_str());
  }
  for (int fd : {report_fd_, sig_fd_, timer_fd_, restore_fd_, status_fd_})
    if (fd >= 0) ::close(fd);
}

Status Supervisor::open_job() {
  CKPT_RETURN_IF_ERROR(dir_.open(options_.dir, true));
  CKPT_RETURN_IF_ERROR(dir_.lock());
  CKPT_RETURN_IF_ERROR(listen_control(dir_.dir(), &listen_fd_));
  had_state_ = read_job_state(dir_.dir(), &state_).is_ok();
  sigset_t set;
  sigemptyset(&set);
  for (int s : kHandled) sigaddset(&set, s);
  if (options_.stop_signal > 0) sigaddset(&set, options_.stop_signal);
  if (options_.ckpt_signal > 0) sigaddset(&set, options_.ckpt_signal);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  sig_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd_ < 0) return Status::make(Code::kIo, errno, "signalfd");
  if (options_.interval_s > 0) {
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    itimerspec its = {};
    its.it_value.tv_sec = time_t(options_.interval_s);
    its.it_value.tv_nsec = long((options_.interval_s - double(its.it_value.tv_sec)) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    its.it_interval = its.it_value;
    if (timer_fd_ < 0 || ::timerfd_settime(timer_fd_, 0, &its, nullptr) != 0)
      return Status::make(Code::kIo, errno, "timerfd");
  }
  return Status::ok();
}

Status Supervisor::spawn(const std::function<void()>& exec_child, bool want_ns, bool keep_caps,
                         const std::function<pid_t()>& in_init, pid_t inner_root) {
  target_.pid_ns = false;
  target_.init = 0;
  if (want_ns) {
    // Tried first in a throw-away child: where the namespace can be created
    // but not used to restore tids (AppArmor on Ubuntu 24.04), a job started
    // in it could never be restarted here.
    Userns u = probe_userns();
    if (!u.ok) {
      if (keep_caps)  // ckpt restart said it in full already; Status holds 240 characters
        return Status::make(Code::kUnsupported, 0, "%s", namespace_image_refusal(u).c_str());
      std::fprintf(stderr,
                   "ckpt: warning: %s; running in no-namespace mode: thread ids (and the pid "
                   "of a job of one process) will change across restarts\n",
                   u.why.c_str());
      mode_why_ = u.why;
      want_ns = false;
    }
  }
  // The job's init: pid 1 of the job's user+pid (and IPC) namespace, or
  // without one an ordinary process (the keeper, job_init) that plays its
  // part: parent of the program, adopter of the job's orphans, the job's
  // end with the program's and with its supervisor's.
  // found: a new program waits before its exec until the supervisor has
  // found its pid among the init's children; one that exits at once
  // (/bin/true) would otherwise be reaped by the init before it is seen.
  int go[2], ready[2], status[2], found[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(ready, O_CLOEXEC) != 0 ||
      ::pipe2(status, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(found, O_CLOEXEC) != 0)
    return Status::make(Code::kIo, errno, "pipe");
  pid_t supervisor = ::getpid();
  long b = -1;
  if (want_ns) {
    // Its own IPC namespace too: its SysV objects keep their ids (ipc.h).
    b = ::syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0);
    int e = errno;
    if (b < 0) {
      if (keep_caps) {
        for (int* p : {go, ready, status, found}) ::close(p[0]), ::close(p[1]);
        return Status::make(Code::kUnsupported, e,
                            "cannot restart this image here: it was taken in namespace mode and "
                            "the job's user+pid namespace cannot be created");
      }
      mode_why_ = std::string("user namespaces cannot be created (") + std::strerror(e) + ")";
      std::fprintf(stderr,
                   "ckpt: warning: %s; running in no-namespace mode: thread ids (and the pid of "
                   "a job of one process) will change across restarts\n",
                   mode_why_.c_str());
      want_ns = false;
    }
  }
  if (!want_ns) b = ::fork();
  if (b < 0) {
    for (int* p : {go, ready, status, found}) ::close(p[0]), ::close(p[1]);
    return Status::make(Code::kIo, errno, "fork");
  }
  if (b == 0) {
    // The job dies with its supervisor: a restart must never find the old
    // program still running. A namespace dies with its init; the keeper
    // hears of its supervisor's death (kKeeperEnd) and ends the job. Had
    // the supervisor died already, the read from `go` below sees EOF.
    reset_child_signals();
    if (want_ns) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    } else {
      ::prctl(PR_SET_CHILD_SUBREAPER, 1);
      sigset_t end;
      sigemptyset(&end);
      sigaddset(&end, kKeeperEnd);
      sigaddset(&end, SIGCHLD);
      ::sigprocmask(SIG_BLOCK, &end, nullptr);
      ::prctl(PR_SET_PDEATHSIG, kKeeperEnd);
      if (::getppid() != supervisor) _exit(127);
    }
    char c;
    if (::read(go[0], &c, 1) != 1) _exit(127);
    pid_t program = in_init ? in_init() : ::fork();
    if (program < 0) _exit(127);  // in_init said why
    if (program == 0) {
      reset_child_signals();
      ::close(found[1]);
      if (!in_init && ::read(found[0], &c, 1) != 1) _exit(127);
      ::close(found[0]);
      if (keep_caps) raise_ambient_caps();
      exec_child();
      _exit(127);
    }
    if (::write(ready[1], "r", 1) != 1) _exit(127);
    // The init never execs: drop the supervisor's descriptors (the job
    // directory's lock, the control socket) so that they close with it.
    ::dup2(status[1], 3);
    ::close_range(4, ~0u, 0);
    if (want_ns) namespace_init(program, 3);
    job_init(program, 3, supervisor);
  }
  ::close(go[0]);
  ::close(ready[1]);
  ::close(status[1]);
  ::close(found[0]);
  status_fd_ = status[0];
  pid_t init = pid_t(b);
  bool mapped = true;
  int err = 0;
  if (want_ns) {
    std::string uid = std::to_string(::geteuid()), gid = std::to_string(::getegid());
    mapped = write_proc(init, "setgroups", "deny") &&
             write_proc(init, "uid_map", uid + " " + uid + " 1") &&
             write_proc(init, "gid_map", gid + " " + gid + " 1");
    err = mapped ? 0 : errno;
  }
  char c = 'g';
  bool started = mapped && ::write(go[1], &c, 1) == 1 && ::read(ready[0], &c, 1) == 1;
  ::close(go[1]);
  ::close(ready[0]);
  if (!started) {
    ::kill(init, SIGKILL);
    ::waitpid(init, nullptr, 0);
    ::close(found[1]);
    // The maps were written: the init itself gave up (in_init wrote why).
    if (mapped) return Status::make(Code::kIo, 0, "the job's processes could not be recreated");
    return Status::make(Code::kIo, err, "cannot set up the job's user namespace");
  }
  // The program: the init's child (the one with the root's pid, when the
  // init rebuilt a tree).
  child_ = init;
  target_.pid = 0;
  for (int i = 0; i < 2000 && target_.pid <= 0; i++) {
    for (pid_t kid : list_children(init))
      if (inner_root <= 0 || inner_pid("/proc/" + std::to_string(kid) + "/status") == inner_root)
        target_.pid = kid;
    if (target_.pid <= 0) ::usleep(1000);
  }
  // (A restored tree does not wait: its processes wait for the job's
  // barrier instead, and nobody reads this pipe.)
  if (!in_init && target_.pid > 0 && ::write(found[1], "f", 1) != 1) target_.pid = 0;
  ::close(found[1]);
  target_.pid_ns = want_ns;
  target_.init = want_ns ? init : 0;
  target_.keeper = want_ns ? 0 : init;
  if (target_.pid <= 0) return Status::make(Code::kIo, 0, "the program did not start");
  record_mode();
  return Status::ok();
}

void Supervisor::record_mode() {
  std::string line = target_.pid_ns ? "namespace\n" : "no-namespace: " + mode_why_ + "\n";
  // Written in place, not renamed: one short write, and no temp file for a
  // kill -9 to leave behind. A reader that finds it empty knows nothing.
  int fd = ::open((dir_.dir() + "/mode").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (::write(fd, line.data(), line.size()) < 0) {
  }
  ::close(fd);
}

Status Supervisor::launch(const std::vector<std::string>& argv) {
  CKPT_RETURN_IF_ERROR(check_program(argv[0]));
  std::string inject = helper_path("libckpt-inject.so");
  if (!exists(inject))
    return Status::make(Code::kNotFound, 0, "cannot find %s (is ckpt installed completely?)",
                        inject.c_str());
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::make(Code::kIo, errno, "pipe");
  auto child = [&] {
    int fd = ::fcntl(p[1], F_DUPFD, inject::kReportFd);
    if (fd < 0) fd = ::fcntl(p[1], F_DUPFD, 3);
    std::string preload = inject;
    if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
    ::setenv("LD_PRELOAD", preload.c_str(), 1);
    ::setenv("CKPT_INJECT_FD", std::to_string(fd).c_str(), 1);
    ::setenv("CKPT_INJECT_SIGNAL", std::to_string(inject::kDefaultSignal).c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "ckpt: cannot run %s: %s\n", argv[0].c_str(), std::strerror(errno));
    _exit(127);
  };
  Status s = spawn(child, options_.pid_ns, false);
  state_ = JobState();
  state_.command = argv;
  state_.runs = 1;
  state_.first_generation = dir_.next_generation();
  state_.started = unix_now();
  if (!s.is_ok()) {
    state_.phase = Phase::kFailed;
    record_failure(s.message());
  } else {
    save_state();
  }
  ::close(p[1]);
  report_fd_ = p[0];
  ::fcntl(report_fd_, F_SETFL, O_NONBLOCK);
  struct stat st;
  if (::fstat(report_fd_, &st) == 0) target_.fds.report_ino = st.st_ino;
  return s;
}

Status Supervisor::launch_restored(RestorePlan& plan) {
  std::string restorer = helper_path("ckpt-restore");
  if (!exists(restorer))
    return Status::make(Code::kNotFound, 0, "cannot find %s (is ckpt installed completely?)",
                        restorer.c_str());
  bool ns = plan.job.pid_ns != 0;
  if (!ns) mode_why_ = "the image was taken in no-namespace mode";
  int msg[2], rep[2], ready[2], go[2];
  if (::pipe2(msg, O_CLOEXEC) != 0 || ::pipe2(rep, O_CLOEXEC) != 0 ||
      ::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0)
    return Status::make(Code::kIo, errno, "pipe");
  TreeRun run;
  run.restorer = restorer;
  run.err_fd = msg[1];
  run.report_fd = rep[1];
  run.ready_fd = ready[1];
  run.go_fd = go[0];
  Status s = ns ? spawn([] {}, true, true, [&] { return build_tree(plan, run); }, plan.job.root)
             : plan.tasks.size() > 1
                 ? spawn([] {}, false, false, [&] { return build_tree(plan, run); }, plan.job.root)
                 : spawn([&] { become_process(plan, run); }, false, false);
  if (!had_state_) state_.started = unix_now();  // an image of a ckpt that kept no state
  state_.runs = state_.runs > 0 ? state_.runs + 1 : 1;
  state_.phase = Phase::kRunning;
  state_.exit_status = -1;
  state_.signal = 0;
  for (int fd : {msg[1], rep[1], ready[1], go[0]}) ::close(fd);
  report_fd_ = rep[0];
  ::fcntl(report_fd_, F_SETFL, O_NONBLOCK);
  struct stat st;
  if (::fstat(report_fd_, &st) == 0) target_.fds.report_ino = st.st_ino;
  ::fcntl(msg[0], F_SETFL, O_NONBLOCK);
  restore_fd_ = msg[0];
  close_plan_fds(&plan);
  target_.block_addr = plan.root().block_addr;
  // The job's barrier: once every process's memory is in place, all go on.
  size_t waiting = plan.procs.size();
  while (s.is_ok() && waiting > 0 && !restore_failed_) {
    pollfd p[2] = {{ready[0], POLLIN, 0}, {restore_fd_, POLLIN, 0}};
    int n = ::poll(p, restore_fd_ >= 0 ? 2 : 1, 1000);
    if (n < 0 && errno != EINTR) break;
    if (p[1].revents) drain_restore_messages();
    if (p[0].revents & POLLIN) {
      char buf[256];
      ssize_t got = ::read(ready[0], buf, std::min(sizeof buf, waiting));
      if (got > 0) waiting -= size_t(got);
    }
    siginfo_t si = {};
    if (::waitid(P_PID, id_t(child_), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
      break;  // the job ended: finish() says why
  }
  ::close(ready[0]);
  if (waiting > 0 && s.is_ok() && child_ > 0) end_job();
  // Every process has attached its SysV segments: their owners, modes and
  // removal marks, before any process runs.
  if (waiting == 0 && s.is_ok() && target_.pid_ns && target_.init > 0) {
    s = finish_segments(target_.init, plan.ipc);
    if (!s.is_ok()) end_job();
  }
  ::close(go[1]);
  if (!s.is_ok()) {
    // The builder's own line (why a process or object could not be made)
    // says more than the spawn's.
    drain_restore_messages(false);
    if (!restore_message_.empty()) s = Status::make(Code::kIo, 0, "%s", restore_message_.c_str());
    record_failure(std::string("restart failed: ") + s.message(), true);
  } else {
    save_state();
  }
  return s;
}

Status Supervisor::checkpoint(DumpResult* result, bool stop) {
  // Right after `ckpt run` the program may not have loaded the library yet:
  // give it a moment (a static program never will).
  for (int waited_ms = 0; target_.block_addr == 0 && waited_ms < 2000; waited_ms += 20) {
    if (find_block(target_.pid, &target_.block_addr).is_ok()) break;
    pollfd p = {report_fd_, POLLIN, 0};
    if (::poll(&p, report_fd_ >= 0 ? 1 : 0, 20) > 0) read_reports();
  }
  if (target_.block_addr == 0)
    return Status::make(Code::kUnsupported, 0,
                        "the program has not loaded ckpt's library (yet): it cannot be "
                        "checkpointed");
  // A restarted program is still being rebuilt until the restorer closes its
  // message pipe, right before the program's threads resume: until then its
  // memory is not the program's.
  for (int waited_ms = 0; restore_fd_ >= 0 && waited_ms < 60000; waited_ms += 100) {
    pollfd p = {restore_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) drain_restore_messages();
  }
  if (restore_failed_)
    return Status::make(Code::kIo, 0, "the restart failed: nothing to checkpoint");
  if (restore_fd_ >= 0)
    return Status::make(Code::kIo, 0, "the restarted program is still being restored after 60 s");
  DumpOptions o;
  o.zstd_level = options_.zstd_level;
  o.direct = options_.direct;
  if (stop) o.end_on_success = child_;
  o.refuse_external = options_.refuse_external;
  o.keep = options_.keep;
  o.full_every = options_.full_every;
  Status s = checkpoint_job(target_, dir_, o, result);
  if (!target_.tracking.empty() && target_.tracking != state_.tracking) {
    state_.tracking = target_.tracking;
    save_state();
  }
  for (const std::string& w : result->warnings)
    if (warned_.insert(w).second) std::fprintf(stderr, "ckpt: warning: %s\n", w.c_str());
  if (!s.is_ok()) record_failure(std::string("checkpoint failed: ") + s.message());
  return s;
}

void Supervisor::handle_client() {
  int c;
  if (!accept_control(listen_fd_, &c).is_ok()) return;
  std::string req;
  bool stop = false;
  if (recv_line(c, &req, 5000).is_ok()) {
    if (parse_request(req, &stop)) {
      DumpResult r;
      Status s = checkpoint(&r, stop);
      Reply reply;
      reply.ok = s.is_ok();
      if (s.is_ok()) {
        reply.generation = r.generation;
        reply.bytes = r.file_bytes;
        reply.pause_s = r.pause_s;
        reply.total_s = r.total_s;
        reply.path = r.path;
        if (stop) stopping_ = true;
      } else {
        reply.error = s.message();
      }
      (void)send_line(c, format_reply(reply));
    } else {
      (void)send_line(c, "error unknown request");
    }
  }
  ::close(c);
}

void Supervisor::read_reports() {
  // The program's pid as it sees itself (its namespace's), to tell its
  // reports from those of programs it starts.
  int inner = inner_pid("/proc/" + std::to_string(target_.pid) + "/status");
  for (;;) {
    inject::Report r;
    ssize_t n = ::read(report_fd_, &r, sizeof r);
    if (n == ssize_t(sizeof r)) {
      if (r.magic == inject::kReportMagic && r.pid == inner) target_.block_addr = r.block_addr;
      continue;
    }
    if (n == 0) {  // nobody holds the write end any more
      ::close(report_fd_);
      report_fd_ = -1;
    }
    return;
  }
}

void Supervisor::drain_restore_messages(bool echo) {
  if (restore_fd_ < 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(restore_fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0) {
        ::close(restore_fd_);
        restore_fd_ = -1;
        restored_ = true;
      }
      return;
    }
    std::string text(buf, size_t(n));
    if (text.find("warning:") == std::string::npos) {
      restore_failed_ = true;
      restore_message_ = text.substr(0, text.find('\n'));
      if (restore_message_.rfind("ckpt: ", 0) == 0) restore_message_.erase(0, 6);
    }
    if (echo && ::write(2, text.data(), text.size()) < 0) {
    }
  }
}

void Supervisor::save_state() {
  state_.pid_ns = target_.pid_ns;
  state_.interval_s = options_.interval_s;
  state_.keep = options_.keep;
  state_.compress = options_.zstd_level;
  state_.supervisor_pid = int(::getpid());
  state_.updated = unix_now();
  Status s = write_job_state(dir_.dir(), state_);
  if (!s.is_ok() && !options_.quiet) std::fprintf(stderr, "ckpt: warning: %s\n", s.message());
}

void Supervisor::record_failure(const std::string& what, bool restart_failed) {
  state_.last_failure = what;
  state_.last_failure_time = unix_now();
  if (restart_failed) state_.phase = Phase::kFailed;
  save_state();
}

int Supervisor::finish(int st) {
  drain_restore_messages();
  restored_ = true;
  if (restore_failed_) {
    std::fprintf(stderr, "ckpt: the restart failed; the image is unchanged\n");
    record_failure("restart failed: " + (restore_message_.empty() ? std::string("see its output")
                                                                  : restore_message_),
                   true);
    return 1;
  }
  // In a namespace our child is the init: the program's own status came
  // through status_fd_ (the init's exit status cannot say "killed by").
  if (status_fd_ >= 0) {
    int program_st;
    if (::read(status_fd_, &program_st, sizeof program_st) == ssize_t(sizeof program_st))
      st = program_st;
  }
  int rc = 1;
  if (stopping_) {
    state_.phase = Phase::kStopped;
    rc = kExitStopped;
  } else if (WIFEXITED(st)) {
    state_.phase = Phase::kFinished;
    state_.exit_status = rc = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    state_.phase = Phase::kKilled;
    state_.signal = WTERMSIG(st);
    rc = 128 + WTERMSIG(st);
  }
  save_state();
  return rc;
}

int Supervisor::run() {
  for (;;) {
    pollfd p[5];
    int n = 0;
    p[n++] = {sig_fd_, POLLIN, 0};
    p[n++] = {listen_fd_, POLLIN, 0};
    int ti = -1, ri = -1;
    if (timer_fd_ >= 0) {
      ti = n;
      p[n++] = {timer_fd_, POLLIN, 0};
    }
    if (report_fd_ >= 0) {
      ri = n;
      p[n++] = {report_fd_, POLLIN, 0};
    }
    int mi = -1;
    if (restore_fd_ >= 0) {
      mi = n;
      p[n++] = {restore_fd_, POLLIN, 0};
    }
    if (::poll(p, nfds_t(n), -1) < 0 && errno != EINTR) return 1;
    if (ri >= 0 && p[ri].revents) read_reports();
    if (mi >= 0 && p[mi].revents) drain_restore_messages();
    if (p[1].revents & POLLIN) handle_client();
    if (ti >= 0 && (p[ti].revents & POLLIN)) {
      uint64_t ticks;
      if (::read(timer_fd_, &ticks, sizeof ticks) > 0) {
        DumpResult r;
        Status s = checkpoint(&r);
        if (!s.is_ok()) std::fprintf(stderr, "ckpt: periodic checkpoint failed: %s\n", s.message());
      }
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sig_fd_, &si, sizeof si) == ssize_t(sizeof si)) {
        int sig = int(si.ssi_signo);
        if (sig == SIGCHLD) continue;
        if (sig == options_.ckpt_signal || sig == options_.stop_signal) {
          DumpResult r;
          Status s = checkpoint(&r, sig == options_.stop_signal);
          if (!s.is_ok())
            std::fprintf(stderr, "ckpt: checkpoint on signal %d failed: %s\n", sig, s.message());
          else if (sig == options_.stop_signal) stopping_ = true;
          continue;
        }
        // A signal from the terminal reached the program too (same process group).
        if (si.ssi_code == SI_KERNEL) continue;
        ::kill(target_.pid, sig);
      }
    }
    if (stopping_) {
      ::kill(target_.pid, SIGKILL);
      int st;
      while (::waitpid(child_, &st, 0) < 0 && errno == EINTR) {
      }
      return finish(st);
    }
    int st;
    pid_t w = ::waitpid(child_, &st, WNOHANG);
    if (w == child_) return finish(st);
  }
}

void Supervisor::end_job() {
  // A namespace ends with its init; the keeper ends the job when asked.
  ::kill(child_, target_.pid_ns ? SIGKILL : kKeeperEnd);
}

}  // namespace ckpt::control
