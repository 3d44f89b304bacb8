/* The tutorial's count: prints 1..N, one number every 100 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 30;
  for (int i = 1; i <= n; i++) {
    printf("%d\n", i);
    fflush(stdout);
    usleep(100000);
  }
  return 0;
}
