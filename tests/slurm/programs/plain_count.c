/* plain-count: an unmodified program (no libckpt) for transparent
 * checkpointing under Slurm: prints 1..LAST, one every DELAY_MS.
 * Usage: plain-count [LAST [DELAY_MS]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  long last = argc > 1 ? atol(argv[1]) : 10;
  long delay_ms = argc > 2 ? atol(argv[2]) : 1000;
  struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
  for (long i = 1; i <= last; i++) {
    printf("%ld\n", i);
    fflush(stdout);
    nanosleep(&d, NULL);
  }
  return 0;
}
