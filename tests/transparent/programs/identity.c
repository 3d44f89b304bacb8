/* Pids and tids survive a restart (in ckpt's user+pid namespace), so does
   whatever depends on them: an error-checking mutex locked before the
   checkpoint is unlocked after it by its owner; pthread_kill reaches a thread;
   /proc/self/exe still names the program. In either mode, glibc's cached
   pid and tids agree with the kernel's (cache-ok), so raise and pthread_kill
   reach the right thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t owned;
static volatile int stop, hits;
static pid_t worker_tid0;
static int worker_same = -1, worker_cache = -1;

static void on_usr1(int s) {
  (void)s;
  hits++;
}

static void* worker(void* arg) {
  (void)arg;
  worker_tid0 = gettid();
  while (!stop) usleep(10000);
  worker_same = gettid() == worker_tid0;
  worker_cache = gettid() == (pid_t)syscall(SYS_gettid);
  return 0;
}

int main(int argc, char** argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 25;
  signal(SIGUSR1, on_usr1);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&owned, &a);
  pthread_mutex_lock(&owned);
  pid_t pid0 = getpid();
  char exe0[512] = {0}, exe1[512] = {0};
  if (readlink("/proc/self/exe", exe0, sizeof exe0 - 1) < 0) return 1;
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  for (int s = 0; s < steps; s++) {
    printf("step %d\n", s);
    fflush(stdout);
    usleep(100000);
  }
  pthread_kill(t, SIGUSR1);
  usleep(20000);
  raise(SIGUSR1);
  int unlock = pthread_mutex_unlock(&owned);
  stop = 1;
  pthread_join(t, 0);
  if (readlink("/proc/self/exe", exe1, sizeof exe1 - 1) < 0) return 1;
  int cache = getpid() == (pid_t)syscall(SYS_getpid) && gettid() == (pid_t)syscall(SYS_gettid) &&
              worker_cache == 1;
  printf("pid-same %d tid-same %d unlock %d signals %d cache-ok %d exe-same %d\n", getpid() == pid0,
         worker_same, unlock, hits, cache, strcmp(exe0, exe1) == 0);
  return 0;
}
