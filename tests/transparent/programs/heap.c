/* A large heap (MiB from argv[1]) filled with a pseudo-random pattern, then
   checked and changed in every step; malloc keeps working after restart.
   Usage: t_heap [MIB [STEPS [MICROSECONDS_PER_STEP]]] (defaults 64, 20, 100000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64;
  int steps = argc > 2 ? atoi(argv[2]) : 20;
  useconds_t pause = argc > 3 ? (useconds_t)atoi(argv[3]) : 100000;
  size_t n = mib << 17; /* uint64_t words */
  uint64_t* a = malloc(n * 8);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    a[i] = x;
  }
  char* small[64];
  for (int s = 0; s < steps; s++) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i += 7) {
      a[i] += (uint64_t)s;
      sum += a[i];
    }
    for (int k = 0; k < 64; k++) small[k] = malloc(16 + k * 100); /* brk heap */
    for (int k = 0; k < 64; k++) {
      small[k][0] = (char)k;
      free(small[k]);
    }
    printf("step %d %016llx\n", s, (unsigned long long)sum);
    fflush(stdout);
    usleep(pause);
  }
  free(a);
  return 0;
}
