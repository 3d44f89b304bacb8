/* A program with MIB MiB resident (random or compressible), then a
 * heartbeat line "hb NS" (CLOCK_MONOTONIC) every 10 ms: the benchmark reads
 * the pause and the restart time from the gaps. Knows nothing of ckpt.
 * Usage: resident MIB random|compressible [SECONDS] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 3) return fprintf(stderr, "usage: resident MIB random|compressible [SECONDS]\n"), 2;
  size_t n = (size_t)atol(argv[1]) << 20;
  int random = strcmp(argv[2], "random") == 0;
  double seconds = argc > 3 ? atof(argv[3]) : 3600;
  uint64_t* p = malloc(n);
  if (!p) return 1;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n / 8; i++) {
    if (random) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      p[i] = x;
    } else {
      p[i] = (i / 512) * 1000 + (i % 7);
    }
  }
  printf("ready\n");
  fflush(stdout);
  uint64_t start = now_ns();
  uint64_t sum = 0;
  while ((now_ns() - start) / 1e9 < seconds) {
    printf("hb %llu\n", (unsigned long long)now_ns());
    fflush(stdout);
    sum += p[(now_ns() / 7) % (n / 8)];
    usleep(10000);
  }
  printf("done %llu\n", (unsigned long long)sum);
  return 0;
}
