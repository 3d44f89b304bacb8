/* Signal handlers, an interval timer, clock continuity, and identity after
   restart: raise, pthread_kill, getpid, sched_getcpu, umask and rlimits. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks, usr2, hup;
static void on_alarm(int s) {
  (void)s;
  ticks++;
}
static void on_usr2(int s) {
  (void)s;
  usr2++;
}
static void on_hup(int s) {
  (void)s;
  hup++;
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 30;
  signal(SIGALRM, on_alarm);
  signal(SIGUSR2, on_usr2);
  signal(SIGHUP, on_hup);
  /* Pending across the checkpoint: one for this thread, one for the process. */
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR2);
  sigaddset(&blocked, SIGHUP);
  sigprocmask(SIG_BLOCK, &blocked, 0);
  raise(SIGUSR2);
  kill(getpid(), SIGHUP);
  umask(027);
  struct rlimit rl = {1000, 1000};
  setrlimit(RLIMIT_NOFILE, &rl);
  struct itimerval it = {{0, 50000}, {0, 50000}};
  setitimer(ITIMER_REAL, &it, 0);
  double last = mono();
  int bad = 0;
  for (int s = 0; s < steps; s++) {
    double now = mono();
    if (now < last) bad++;
    last = now;
    printf("step %d\n", s);
    fflush(stdout);
    struct timespec ts = {0, 100000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  sigprocmask(SIG_UNBLOCK, &blocked, 0);
  raise(SIGUSR2);
  pthread_kill(pthread_self(), SIGUSR2);
  int pid_ok = getpid() == (pid_t)syscall(SYS_getpid) && gettid() == (pid_t)syscall(SYS_gettid);
  int cpu_ok = sched_getcpu() >= 0 && sched_getcpu() < 4096;
  mode_t m = umask(0);
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("hup %d ", (int)hup);
  printf("usr2 %d ticks>0 %d clock-bad %d pid-ok %d cpu-ok %d umask %03o nofile %ld\n", (int)usr2,
         ticks > 0, bad, pid_ok, cpu_ok, (unsigned)m, (long)rl.rlim_cur);
  return 0;
}
