/* A program with MIB MiB resident (random or compressible), then a
 * heartbeat line "hb NS" (CLOCK_MONOTONIC) every 10 ms: the benchmark reads
 * the pause and the restart time from the gaps. With PERCENT, it also
 * rewrites that share of its pages every second (random pages, spread over
 * the heartbeats), as a simulation updating its state would.
 * Knows nothing of ckpt.
 * Usage: resident MIB random|compressible [SECONDS [PERCENT]] */
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
  if (argc < 3)
    return fprintf(stderr, "usage: resident MIB random|compressible [SECONDS [PERCENT]]\n"), 2;
  size_t n = (size_t)atol(argv[1]) << 20;
  int random = strcmp(argv[2], "random") == 0;
  double seconds = argc > 3 ? atof(argv[3]) : 3600;
  double percent = argc > 4 ? atof(argv[4]) : 0;
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
  size_t pages = n / 4096;
  double owed = 0; /* pages to rewrite, carried over between heartbeats */
  uint64_t last = start;
  while ((now_ns() - start) / 1e9 < seconds) {
    printf("hb %llu\n", (unsigned long long)now_ns());
    fflush(stdout);
    sum += p[(now_ns() / 7) % (n / 8)];
    uint64_t t = now_ns();
    /* At most a second's worth: a restarted copy may see the clock go back
     * (ckpt restart in a new time namespace) or jump. */
    double dt = ((double)t - (double)last) / 1e9;
    if (dt < 0) fprintf(stderr, "resident: CLOCK_MONOTONIC went back by %.3f s\n", -dt);
    owed += pages * percent / 100 * (dt < 0 ? 0 : dt > 1 ? 1 : dt);
    last = t;
    for (; owed >= 1; owed--) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      uint64_t* page = p + (x % pages) * 512;
      for (int i = 0; i < 512; i += 8) page[i] = random ? x + (uint64_t)i : page[i] + 1;
    }
    usleep(10000);
  }
  printf("done %llu\n", (unsigned long long)sum);
  return 0;
}
