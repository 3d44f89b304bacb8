#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int tiny_step(int i);
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 30;
  for (int i = 1; i <= n; i++) {
    printf("%d\n", tiny_step(i));
    fflush(stdout);
    usleep(100000);
  }
  return 0;
}
