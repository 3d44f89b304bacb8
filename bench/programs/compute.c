/* A fixed CPU and memory workload: prints the CPU seconds it took (CPU time,
 * not wall time: shared machines are noisy). For
 * measuring what running under `ckpt run` costs between checkpoints. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
  struct timespec a, b;
  size_t n = 64u << 20;
  uint32_t* v = malloc(n * sizeof *v);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  uint32_t x = 1;
  for (int round = 0; round < 4; round++)
    for (size_t i = 0; i < n; i++) {
      x = x * 1664525u + 1013904223u;
      v[(x >> 6) % n] += x;
    }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  uint64_t s = 0;
  for (size_t i = 0; i < n; i += 4096) s += v[i];
  printf("%.4f %llu\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9,
         (unsigned long long)s);
  return 0;
}
