/* Reads its input from stdin line by line, slowly: after a restart it must go
   on from where it was, not from the start. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, stdin)) {
    printf("%d: %s", n++, line);
    fflush(stdout);
    usleep(1500);
  }
  printf("lines %d\n", n);
  return 0;
}
