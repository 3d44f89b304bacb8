/* A program with MIB MiB of random data that changes a given share of its
 * pages on request, and prints a heartbeat "hb NS" every 10 ms (the
 * benchmark reads the pause from the gaps). Requests come through a file:
 * when CONTROL holds "SEQ PERCENT" with a new SEQ, PERCENT % of the pages
 * (evenly spread) get one byte changed, then "done SEQ" is printed. With
 * RATE > 0 it also writes RATE % of its pages per second, all the time.
 * At start it measures memcpy over its memory: "memcpy BYTES_PER_S".
 * Knows nothing of ckpt. Usage: changer MIB CONTROL [RATE] */
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
  if (argc < 3) return fprintf(stderr, "usage: changer MIB CONTROL [RATE]\n"), 2;
  size_t n = (size_t)atol(argv[1]) << 20, pages = n / 4096;
  const char* control = argv[2];
  double rate = argc > 3 ? atof(argv[3]) : 0;
  unsigned char* p = malloc(n);
  if (!p) return 1;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    memcpy(p + i, &x, 8);
  }
  /* memcpy into a scratch buffer of 256 MiB at most, best of three */
  size_t m = n < (256u << 20) ? n : (256u << 20);
  unsigned char* q = malloc(m);
  double best = 0;
  for (int k = 0; q && k < 3; k++) {
    uint64_t t0 = now_ns();
    memcpy(q, p + (size_t)k * 4096, m - (size_t)k * 4096);
    __asm__ volatile("" : : "r"(q) : "memory"); /* the copy is used */
    double s = (double)(now_ns() - t0) / 1e9;
    if (s > 0 && (double)m / s > best) best = (double)m / s;
  }
  free(q);
  printf("memcpy %.0f\nready\n", best);
  fflush(stdout);
  long seq = 0;
  double owed = 0;
  size_t cursor = 0;
  uint64_t last = now_ns();
  for (;;) {
    FILE* f = fopen(control, "r");
    long s = 0, percent = 0;
    if (f) {
      if (fscanf(f, "%ld %ld", &s, &percent) != 2) s = seq;
      fclose(f);
    }
    if (s != seq && percent > 0) {
      size_t step = (size_t)(100 / percent);
      for (size_t i = (size_t)s % step; i < pages; i += step) p[i * 4096 + (size_t)s % 4096]++;
      seq = s;
      printf("done %ld\n", seq);
    }
    uint64_t t = now_ns();
    if (rate > 0) { /* RATE % of the pages per second, in 10 ms slices */
      owed += (double)pages * rate / 100 * (double)(t - last) / 1e9;
      for (; owed >= 1; owed -= 1, cursor = (cursor + 97) % pages) p[cursor * 4096 + 1]++;
    }
    last = t;
    printf("hb %llu\n", (unsigned long long)t);
    fflush(stdout);
    usleep(10000);
  }
}
