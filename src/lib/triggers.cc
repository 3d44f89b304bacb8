#include "lib/triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <ckpt/ckpt.hpp>

extern char** environ;

namespace ckpt {
namespace detail {
volatile sig_atomic_t g_signal_pending = 0;
}  // namespace detail

namespace lib {
namespace {

constexpr int kMaxSig = 65;
volatile sig_atomic_t g_stop_pending = 0;
volatile sig_atomic_t g_stop_signal = 0;
uint64_t g_stop_mask = 0;         // written before handlers are installed
struct sigaction g_old[kMaxSig];  // the program's own dispositions
bool g_installed[kMaxSig];
std::atomic<const void*> g_owner{nullptr};

extern "C" void on_signal(int sig) {
  int saved_errno = errno;
  if (sig > 0 && sig < kMaxSig && (g_stop_mask >> sig) & 1) {
    if (g_stop_pending) {
      // Second stop signal before the checkpoint: behave as without ckpt.
      sigaction(sig, &g_old[sig], nullptr);
      raise(sig);
      errno = saved_errno;
      return;
    }
    g_stop_signal = sig;
    g_stop_pending = 1;
  }
  detail::g_signal_pending = 1;
  errno = saved_errno;
}

}  // namespace

Status install_signal_triggers(const void* owner, const std::vector<int>& signals,
                               const std::vector<int>& stop) {
  if (signals.empty()) return Status::ok();
  const void* expected = nullptr;
  if (!g_owner.compare_exchange_strong(expected, owner) && expected != owner)
    return Status::make(Code::kBusy, 0,
                        "another ckpt::Checkpointer in this process already owns the signals");
  uint64_t mask = 0;
  for (int s : stop)
    if (s > 0 && s < kMaxSig) mask |= 1ull << s;
  g_stop_mask = mask;
  for (int s : signals) {
    if (s <= 0 || s >= kMaxSig || s == SIGKILL || s == SIGSTOP)
      return Status::make(Code::kInvalid, 0, "signal %d cannot trigger a checkpoint", s);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(s, &sa, &g_old[s]) != 0)
      return Status::make(Code::kIo, errno, "cannot install a handler for signal %d", s);
    g_installed[s] = true;
  }
  return Status::ok();
}

void remove_signal_triggers(const void* owner) {
  if (g_owner.load() != owner) return;
  for (int s = 1; s < kMaxSig; s++) {
    if (g_installed[s]) sigaction(s, &g_old[s], nullptr);
    g_installed[s] = false;
  }
  g_owner.store(nullptr);
}

bool stop_requested() { return g_stop_pending != 0; }
int stop_signal() { return g_stop_signal; }

void clear_signal_flags() { detail::g_signal_pending = 0; }

void reraise_stop_signal() {
  int sig = g_stop_signal ? g_stop_signal : SIGTERM;
  sigaction(sig, &g_old[sig], nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  // The program ignored the signal itself: end as a failure all the same.
  std::_Exit(128 + sig);
}

int64_t slurm_job_end_time(const char* job_id) {
  if (!job_id || !*job_id) return 0;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::string id = job_id;
  const char* argv[] = {"squeue", "-h", "-j", id.c_str(), "-o", "%e", nullptr};
  pid_t pid;
  int rc = posix_spawnp(&pid, "squeue", &fa, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return 0;
  }
  char buf[128];
  size_t n = 0;
  bool timed_out = false;
  for (;;) {
    pollfd p = {fds[0], POLLIN, 0};
    int pr = poll(&p, 1, 5000);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      timed_out = true;
      break;
    }
    ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += size_t(r);
    if (n == sizeof buf - 1) break;
  }
  close(fds[0]);
  buf[n] = '\0';
  int status;
  if (timed_out) kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return parse_squeue_end_time(buf);
}

int64_t parse_squeue_end_time(const char* text) {
  tm t;
  std::memset(&t, 0, sizeof t);
  const char* end = strptime(text, "%Y-%m-%dT%H:%M:%S", &t);
  if (!end) return 0;
  t.tm_isdst = -1;
  time_t when = mktime(&t);
  return when > 0 ? int64_t(when) : 0;
}

}  // namespace lib
}  // namespace ckpt
