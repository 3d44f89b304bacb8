/* Listening and bound sockets across a checkpoint: a TCP listener on
 * loopback, a bound UDP socket and a unix listener with an abstract name
 * must keep their addresses, and connections opened after a restart must
 * work. With an argument PORT, it also connects to 127.0.0.1:PORT (a peer
 * outside the job) and at the end reports what that connection gives.
 * Usage: t_sockets SECONDS [PORT] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int port_of(int s) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  getsockname(s, (struct sockaddr*)&a, &l);
  return ntohs(a.sin_port);
}

int main(int argc, char** argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 3;
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in lo = {0};
  lo.sin_family = AF_INET;
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
  int un = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un ua = {0};
  ua.sun_family = AF_UNIX;
  socklen_t ul = 0;
  if (bind(tcp, (struct sockaddr*)&lo, sizeof lo) || listen(tcp, 4) ||
      bind(udp, (struct sockaddr*)&lo, sizeof lo))
    return 1;
  int tcp_port = port_of(tcp), udp_port = port_of(udp);
  /* Unique among jobs that run at once: in its own pid namespace every job's
   * program is pid 2, and abstract names are shared by the network namespace. */
  snprintf(ua.sun_path + 1, sizeof ua.sun_path - 1, "ckpt-test-%d", tcp_port);
  ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ua.sun_path + 1));
  if (bind(un, (struct sockaddr*)&ua, ul) || listen(un, 4)) return 1;
  int outside = -1;
  if (argc > 2) {
    struct sockaddr_in o = lo;
    o.sin_port = htons((uint16_t)atoi(argv[2]));
    outside = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(outside, (struct sockaddr*)&o, sizeof o)) return 2;
  }
  for (int i = 0; i < seconds * 10; i++) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    printf("tick %d\n", i);
  }
  printf("tcp port kept: %s\n", port_of(tcp) == tcp_port ? "yes" : "no");
  printf("udp port kept: %s\n", port_of(udp) == udp_port ? "yes" : "no");
  /* New connections to each, opened now. */
  struct sockaddr_in t = lo;
  t.sin_port = htons((uint16_t)tcp_port);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  char buf[16] = {0};
  if (connect(c, (struct sockaddr*)&t, sizeof t) == 0) {
    int a = accept(tcp, NULL, NULL);
    if (write(c, "ping", 4) == 4 && read(a, buf, 4) == 4) printf("tcp: %s\n", buf);
  } else {
    printf("tcp connect: error %d\n", errno);
  }
  struct sockaddr_in u = lo;
  u.sin_port = htons((uint16_t)udp_port);
  int us = socket(AF_INET, SOCK_DGRAM, 0);
  memset(buf, 0, sizeof buf);
  if (sendto(us, "datagram", 8, 0, (struct sockaddr*)&u, sizeof u) == 8 &&
      recv(udp, buf, 8, 0) == 8)
    printf("udp: %s\n", buf);
  int uc = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(buf, 0, sizeof buf);
  if (connect(uc, (struct sockaddr*)&ua, ul) == 0) {
    int a = accept(un, NULL, NULL);
    if (write(uc, "unix", 4) == 4 && read(a, buf, 4) == 4) printf("unix: %s\n", buf);
  } else {
    printf("unix connect: error %d\n", errno);
  }
  if (outside >= 0) {
    struct timeval tv = {1, 0};
    setsockopt(outside, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    long n = read(outside, buf, sizeof buf);
    printf("outside: %s\n", n > 0             ? "data"
                            : n == 0          ? "closed"
                            : errno == EAGAIN ? "open"
                                              : "error");
  }
  return 0;
}
