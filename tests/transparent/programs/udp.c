/* UDP on loopback: t_udp MODE STEPS
 *   self: one process, one socket bound to 127.0.0.1:0 that sends to itself;
 *   pair: a server bound to 127.0.0.1:0 and a client (its child) whose
 *         socket is connected to the server, plus the client's own socket
 *         to itself.
 * Each step the client sends three datagrams "step k" and one to itself,
 * waits, then reads the replies; the server waits before reading each
 * step's datagrams and answers each with the sum it has seen. So datagrams
 * wait in queues (the server's, the client's, the self socket's) most of
 * the time. Lines are printed in one order whatever the scheduling: the
 * server's for a step before the client's, the client's before the next
 * step's datagrams leave. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  exit(1);
}

static int bound_socket(struct sockaddr_in* a) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) die("socket");
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr*)a, sizeof *a) != 0) die("bind");
  socklen_t l = sizeof *a;
  if (getsockname(s, (struct sockaddr*)a, &l) != 0) die("getsockname");
  return s;
}

/* A datagram to itself, read back a step later: one is always queued. */
static void self_step(int self, const struct sockaddr_in* me, int step) {
  char m[64];
  int n = snprintf(m, sizeof m, "self %d", step);
  if (sendto(self, m, (size_t)n, 0, (const struct sockaddr*)me, sizeof *me) != n)
    die("sendto self");
  usleep(20000);
  if (step > 0) {
    char got[64];
    ssize_t r = recv(self, got, sizeof got - 1, 0);
    if (r < 0) die("recv self");
    got[r] = 0;
    printf("client read %s\n", got);
    fflush(stdout);
  }
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: t_udp self|pair STEPS\n");
    return 2;
  }
  int pair = strcmp(argv[1], "pair") == 0;
  int steps = atoi(argv[2]);
  struct sockaddr_in me;
  int self = bound_socket(&me);
  if (!pair) {
    for (int s = 0; s < steps; s++) self_step(self, &me, s);
    printf("done\n");
    return 0;
  }
  struct sockaddr_in server_addr;
  int server = bound_socket(&server_addr);
  pid_t kid = fork();
  if (kid < 0) die("fork");
  if (kid > 0) {  // the server
    close(self);
    long sum = 0;
    for (int s = 0; s < steps; s++) {
      usleep(40000);
      for (int k = 0; k < 3; k++) {
        char m[64];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(server, m, sizeof m - 1, 0, (struct sockaddr*)&from, &fl);
        if (r < 0) die("recvfrom");
        m[r] = 0;
        int step = 0, part = 0;
        sscanf(m, "%d %d", &step, &part);
        sum += step * 3 + part;
        printf("server got %s\n", m);
        fflush(stdout);
        char reply[64];
        int n = snprintf(reply, sizeof reply, "%ld", sum);
        if (sendto(server, reply, (size_t)n, 0, (struct sockaddr*)&from, fl) != n) die("sendto");
      }
    }
    int st;
    waitpid(kid, &st, 0);
    printf("server done, client %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
  }
  close(server);
  int c = socket(AF_INET, SOCK_DGRAM, 0);
  if (c < 0) die("socket");
  if (connect(c, (struct sockaddr*)&server_addr, sizeof server_addr) != 0) die("connect");
  for (int s = 0; s < steps; s++) {
    for (int k = 0; k < 3; k++) {
      char m[64];
      int n = snprintf(m, sizeof m, "%d %d", s, k);
      if (send(c, m, (size_t)n, 0) != n) die("send");
    }
    self_step(self, &me, s);
    long last = 0;
    for (int k = 0; k < 3; k++) {
      char r[64];
      ssize_t n = recv(c, r, sizeof r - 1, 0);
      if (n < 0) die("recv");
      r[n] = 0;
      last = atol(r);
    }
    printf("client step %d sum %ld\n", s, last);
    fflush(stdout);
  }
  return 0;
}
