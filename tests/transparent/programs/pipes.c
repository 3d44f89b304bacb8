/* Pipes and unix socket pairs holding unread data across a checkpoint:
 * bytes written before, read after, must come back in order and complete,
 * message boundaries kept for datagram and seqpacket pairs, a pipe whose
 * writer is closed must still end with EOF, and one pipe shared by two
 * descriptors (dup) must stay one pipe.
 * Usage: t_pipes SECONDS_OF_COUNTING */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void drain(const char* what, int fd, int messages) {
  char buf[256];
  for (int k = 0; messages ? k < messages : 1; k++) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
      printf("%s: error %d\n", what, errno);
      return;
    }
    if (n == 0) {
      printf("%s: EOF\n", what);
      return;
    }
    buf[n] = 0;
    printf("%s: [%s]\n", what, buf);
  }
}

int main(int argc, char** argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 3;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int p[2], closed[2], st[2], dg[2], sp[2];
  if (pipe(p) || pipe(closed) || socketpair(AF_UNIX, SOCK_STREAM, 0, st) ||
      socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp))
    return 1;
  int p_dup = dup(p[1]);
  if (write(p[1], "through the pipe", 16) != 16 || write(p_dup, ", and its dup", 13) != 13)
    return 1;
  if (write(closed[1], "then EOF", 8) != 8) return 1;
  close(closed[1]);
  if (write(st[0], "stream to b", 11) != 11 || write(st[1], "stream to a", 11) != 11) return 1;
  for (int k = 0; k < 3; k++) {
    char m[32];
    int n = snprintf(m, sizeof m, "datagram %d", k);
    if (send(dg[0], m, (size_t)n, 0) != n) return 1;
    n = snprintf(m, sizeof m, "packet %d", k);
    if (send(sp[1], m, (size_t)n, 0) != n) return 1;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  for (int i = 0; i < seconds * 10; i++) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    printf("tick %d\n", i);
  }
  close(p[1]);
  close(p_dup);
  fcntl(p[0], F_SETFL, 0);
  drain("pipe", p[0], 0);
  drain("closed pipe", closed[0], 0);
  drain("stream b", st[1], 1);
  drain("stream a", st[0], 1);
  drain("datagrams", dg[1], 3);
  drain("packets", sp[0], 3);
  return 0;
}
