/* system() and popen() in a loop: each round runs a shell that exits with
 * a status, and reads a number from a command through a pipe.
 * Usage: t_popen ROUNDS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 30;
  for (int i = 0; i < n; i++) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "exit %d", i % 7);
    int st = system(cmd);
    snprintf(cmd, sizeof cmd, "echo $((%d * %d))", i, i);
    FILE* p = popen(cmd, "r");
    long v = -1;
    if (!p || fscanf(p, "%ld", &v) != 1) v = -1;
    int pst = p ? pclose(p) : -1;
    printf("%d: system %d, popen %ld (%d)\n", i, WIFEXITED(st) ? WEXITSTATUS(st) : -1, v, pst);
    fflush(stdout);
    usleep(50000);
  }
  return 0;
}
