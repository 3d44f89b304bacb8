/* A job of N processes holding MIB MiB together (random data, touched):
 * the root forks N - 1 children; every process prints "ID SECONDS" every
 * 10 ms (one write per line, O_APPEND output), so a harness sees each
 * process's longest pause and the first output after a restart.
 * Usage: tree N MIB SECONDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run(int id, size_t bytes, double seconds) {
  uint64_t* mem = bytes ? malloc(bytes) : NULL;
  uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
  for (size_t i = 0; i < bytes / 8; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    mem[i] = x;
  }
  double end = now() + seconds;
  while (now() < end) {
    char line[64];
    int n = snprintf(line, sizeof line, "%d %.6f\n", id, now());
    if (write(1, line, (size_t)n) < 0) break;
    usleep(10000);
  }
  free(mem);
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 16;
  size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 0;
  double seconds = argc > 3 ? atof(argv[3]) : 60;
  size_t each = (mib << 20) / (size_t)(n > 0 ? n : 1);
  for (int id = 1; id < n; id++)
    if (fork() == 0) {
      run(id, each, seconds);
      _exit(0);
    }
  run(0, each, seconds);
  while (wait(NULL) > 0) {
  }
  return 0;
}
