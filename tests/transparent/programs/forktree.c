/* A fork tree of depth D (2 children per node): each leaf counts for N
 * steps of 20 ms, folding its steps into a checksum it exits with; each
 * parent waits for its children and exits with theirs combined. The root
 * prints what it collected. Usage: t_forktree DEPTH STEPS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int node(int depth, int id, int steps) {
  if (depth == 0) {
    unsigned h = (unsigned)id * 2654435761u;
    for (int i = 0; i < steps; i++) {
      h = h * 31 + (unsigned)i;
      usleep(20000);
    }
    return (int)(h % 251);
  }
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    if (kids[k] == 0) _exit(node(depth - 1, id * 2 + k, steps));
  }
  int sum = 0;
  for (int k = 0; k < 2; k++) {
    int st;
    if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st)) return 255;
    sum += WEXITSTATUS(st);
  }
  return (sum * 7 + id) % 251;
}

int main(int argc, char** argv) {
  int depth = argc > 1 ? atoi(argv[1]) : 3, steps = argc > 2 ? atoi(argv[2]) : 100;
  printf("tree of depth %d: %d\n", depth, node(depth, 1, steps));
  return 0;
}
