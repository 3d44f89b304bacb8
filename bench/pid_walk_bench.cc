// What getting a pid back costs without a namespace (src/control/
// pid_counter.h): the restart of a tree brings the kernel's pid counter
// round to the job's pids, which were handed out before the counter moved
// on, so it makes about kernel.pid_max short-lived processes or threads.
//
//   pid_walk_bench [--runs 3]
//
// Each run frees a pid just behind the counter (a child that exits) and
// times fork_with_pid reaching it: a whole round of the counter. Reported
// as medians: microseconds per pid made, and the same against the
// machine's own cost of a process measured in the same run (fork, exit,
// wait: what a walk of plain forks would pay). To see the round a machine
// with systemd's kernel.pid_max (4194304) makes, run it as root in a pid
// namespace of that size:
//   unshare --pid --fork --mount-proc sh -c 'sysctl -qw kernel.pid_max=4194304;
//     exec build/bench/pid_walk_bench'
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control/pid_counter.h"

using namespace ckpt;

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

pid_t fork_exit_wait() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  if (p > 0) waitpid(p, nullptr, 0);
  return p;
}

// Microseconds per process of fork, exit and wait, over `n` of them.
double fork_us(int n) {
  double t0 = now_s();
  for (int i = 0; i < n; i++)
    if (fork_exit_wait() < 0) return -1;
  return (now_s() - t0) / n * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: pid_walk_bench [--runs N]\n");
      return 2;
    }
  }
  std::vector<double> walk, fork_cost, made;
  for (int r = 0; r < runs; r++) {
    fork_cost.push_back(fork_us(20000));
    control::PidWalkTurn turn;
    pid_t want = fork_exit_wait();
    if (want < 0) {
      std::perror("fork");
      return 1;
    }
    uint64_t before = control::pids_before(want);
    std::string why;
    double t0 = now_s();
    pid_t got = control::fork_with_pid(want, 0, &why);
    if (got == 0) _exit(0);
    double t = now_s() - t0;
    if (got < 0) {
      std::fprintf(stderr, "pid_walk_bench: %s\n", why.c_str());
      return 1;
    }
    waitpid(got, nullptr, 0);
    walk.push_back(t);
    made.push_back(double(before));
    std::printf("run %d: %.0f pids in %.2f s\n", r + 1, double(before), t);
    std::fflush(stdout);
  }
  double us = median(walk) / median(made) * 1e6;
  std::printf("kernel.pid_max round: %.0f pids in %.2f s (median of %d)\n", median(made),
              median(walk), runs);
  std::printf("per pid: %.1f us; fork+exit+wait here: %.1f us; ratio %.2f\n", us, median(fork_cost),
              us / median(fork_cost));
  return 0;
}
