/* Children that end at once, collected by their parent only later: at a
 * checkpoint taken meanwhile they are zombies. The parent then collects
 * them in order and prints each exit status (one is killed by a signal).
 * Usage: t_zombies CHILDREN SECONDS */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 5;
  double secs = argc > 2 ? atof(argv[2]) : 3;
  pid_t kids[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      if (i == 2) raise(SIGTERM);
      _exit(10 + i);
    }
  }
  for (int t = 0; t < (int)(secs * 10); t++) {
    printf("waiting %d\n", t);
    fflush(stdout);
    usleep(100000);
  }
  for (int i = 0; i < n; i++) {
    int st;
    pid_t w = waitpid(kids[i], &st, 0);
    if (w != kids[i]) printf("child %d: lost\n", i);
    else if (WIFEXITED(st)) printf("child %d: exit %d\n", i, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("child %d: signal %d\n", i, WTERMSIG(st));
  }
  return 0;
}
