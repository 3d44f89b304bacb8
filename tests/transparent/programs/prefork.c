/* A pre-fork server on a unix socket: the parent listens (a path name, or
 * an abstract one), forks 3 workers that accept, and 3 clients that connect and
 * ask for squares, one request every 20 ms, each on its own connection
 * for part of the time and one kept open for the rest. Each client exits
 * with a checksum of the answers; the parent prints them.
 * Usage: t_prefork path|abstract REQUESTS */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len;

static _Noreturn void serve(int lfd) {
  for (;;) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0) continue;
    long x;
    while (read(c, &x, sizeof x) == sizeof x) {
      long y = x * x;
      if (write(c, &y, sizeof y) != sizeof y) break;
    }
    close(c);
  }
}

static int client(int id, int requests) {
  unsigned h = (unsigned)id;
  int s = -1;
  for (int i = 0; i < requests; i++) {
    if (s < 0 || i < requests / 2) {
      if (s >= 0) close(s);
      s = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr*)&addr, addr_len) != 0) return 255;
    }
    long x = id * 1000 + i, y = 0;
    if (write(s, &x, sizeof x) != sizeof x || read(s, &y, sizeof y) != sizeof y || y != x * x)
      return 254;
    h = h * 31 + (unsigned)(y % 1000);
    usleep(20000);
  }
  close(s);
  return (int)(h % 251);
}

int main(int argc, char** argv) {
  int abstract = argc > 1 && !strcmp(argv[1], "abstract");
  int requests = argc > 2 ? atoi(argv[2]) : 100;
  addr.sun_family = AF_UNIX;
  char name[64];
  snprintf(name, sizeof name, "ckpt-prefork-%d.sock", (int)getpid());
  if (abstract) {
    addr.sun_path[0] = 0;
    memcpy(addr.sun_path + 1, name, strlen(name));
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
  } else {
    strcpy(addr.sun_path, name);
    addr_len = (socklen_t)sizeof addr;
    unlink(name);
  }
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(lfd, (struct sockaddr*)&addr, addr_len) != 0 || listen(lfd, 16) != 0) return 2;
  pid_t workers[3], clients[3];
  for (int w = 0; w < 3; w++)
    if ((workers[w] = fork()) == 0) serve(lfd);
  for (int c = 0; c < 3; c++)
    if ((clients[c] = fork()) == 0) {
      close(lfd);
      _exit(client(c + 1, requests));
    }
  for (int c = 0; c < 3; c++) {
    int st;
    waitpid(clients[c], &st, 0);
    printf("client %d: %d\n", c + 1, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  for (int w = 0; w < 3; w++) kill(workers[w], SIGKILL);
  for (int w = 0; w < 3; w++) waitpid(workers[w], NULL, 0);
  if (!abstract) unlink(name);
  return 0;
}
