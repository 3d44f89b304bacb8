/* Benchmark program: touches MiB of memory (random or compressible), then
   prints a heartbeat with the wall clock (ns) every 20 ms. The longest gap
   between heartbeats around a checkpoint is the program's pause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
  int random = argc > 2 && strcmp(argv[2], "random") == 0;
  size_t n = mib << 17;
  uint64_t* a = malloc(n * 8);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    if (random) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      a[i] = x;
    } else {
      a[i] = i / 64; /* compressible */
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (uint64_t k = 0;; k++) {
    a[(k * 4099) % n] += 1;
    printf("beat %llu\n", (unsigned long long)now_ns());
    fflush(stdout);
    usleep(20000);
  }
}
