/* Threads blocked in calls a signal would interrupt: nanosleep, poll,
 * select, epoll_wait, and read on a pipe and on a socket. Every call must
 * return as if nothing had happened: no EINTR, no sleep shorter than asked.
 * A checkpoint, or a restart, that the program can notice prints a FAIL
 * line, and the output then differs from an uninterrupted run's.
 * Usage: t_blocking ROUNDS */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int rounds;
static int pipe_fds[2], sock_fds[2];
static const long kPeriodMs = 150;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void check(const char* what, int round, long r, int err, double t0) {
  double took = now_ms() - t0;
  if (r < 0) printf("FAIL %s round %d: error %d\n", what, round, err);
  else if (took < kPeriodMs - 1)
    printf("FAIL %s round %d: returned after %.1f ms\n", what, round, took);
}

static void* sleeper(void* arg) {
  int kind = (int)(long)arg;
  int ep = epoll_create1(0);
  for (int i = 0; i < rounds; i++) {
    double t0 = now_ms();
    long r = 0;
    const char* what = "";
    if (kind == 0) {
      struct timespec ts = {0, kPeriodMs * 1000000L};
      r = nanosleep(&ts, NULL);
      what = "nanosleep";
    } else if (kind == 1) {
      r = poll(NULL, 0, (int)kPeriodMs);
      what = "poll";
    } else if (kind == 2) {
      struct timeval tv = {0, kPeriodMs * 1000};
      r = select(0, NULL, NULL, NULL, &tv);
      what = "select";
    } else {
      struct epoll_event ev;
      r = epoll_wait(ep, &ev, 1, (int)kPeriodMs);
      what = "epoll_wait";
    }
    check(what, i, r, errno, t0);
  }
  return NULL;
}

static void* reader(void* arg) {
  int fd = (int)(long)arg;
  for (int i = 0; i < rounds; i++) {
    char c;
    double t0 = now_ms();
    long r = read(fd, &c, 1);
    if (r != 1)
      printf("FAIL read %s round %d: %ld, error %d\n", fd == pipe_fds[0] ? "pipe" : "socket", i, r,
             errno);
    (void)t0;
  }
  return NULL;
}

int main(int argc, char** argv) {
  rounds = argc > 1 ? atoi(argv[1]) : 20;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe(pipe_fds) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_fds) != 0) return 1;
  pthread_t t[6];
  for (long k = 0; k < 4; k++) pthread_create(&t[k], NULL, sleeper, (void*)k);
  pthread_create(&t[4], NULL, reader, (void*)(long)pipe_fds[0]);
  pthread_create(&t[5], NULL, reader, (void*)(long)sock_fds[0]);
  for (int i = 0; i < rounds; i++) {
    struct timespec ts = {0, kPeriodMs * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    if (write(pipe_fds[1], "x", 1) != 1 || write(sock_fds[1], "y", 1) != 1) return 1;
    printf("round %d\n", i);
  }
  for (int k = 0; k < 6; k++) pthread_join(t[k], NULL);
  printf("done\n");
  return 0;
}
