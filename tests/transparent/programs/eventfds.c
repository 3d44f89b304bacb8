/* eventfd, timerfd (armed, periodic) and epoll across a restart: the loop
   waits on epoll for timer ticks and counts eventfd posts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 25;
  int ev = eventfd(0, EFD_NONBLOCK);
  int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec its = {{0, 100000000}, {0, 100000000}};
  timerfd_settime(tf, 0, &its, 0);
  int ep = epoll_create1(0);
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 1};
  epoll_ctl(ep, EPOLL_CTL_ADD, tf, &e);
  e.data.u64 = 2;
  epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
  uint64_t posted = 0;
  for (int s = 0; s < steps;) {
    struct epoll_event got[4];
    int n = epoll_wait(ep, got, 4, 5000);
    if (n < 0 && errno == EINTR) continue; /* any signal does this; so does a checkpoint */
    if (n <= 0) {
      printf("epoll_wait returned %d\n", n);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      uint64_t v;
      if (got[i].data.u64 == 1 && read(tf, &v, 8) == 8) {
        uint64_t one = 1;
        if (write(ev, &one, 8) != 8) return 1; /* one post per tick, read next round */
        printf("tick %d\n", s++);
        fflush(stdout);
      } else if (got[i].data.u64 == 2 && read(ev, &v, 8) == 8) {
        posted += v;
      }
    }
  }
  printf("posted>0 %d\n", posted > 0);
  return 0;
}
