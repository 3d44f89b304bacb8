// Computes for SECONDS without reaching a safe point, then calls
// checkpoint_if_due(): for testing signals that arrive mid-computation.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include <ckpt/ckpt.hpp>

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  long x = 0;
  ckpt::Checkpointer ck;
  if (auto s = ck.add("x", x); !s) return 1;
  if (auto s = ck.restore(); !s) return std::fprintf(stderr, "spin: %s\n", s.message()), 1;
  std::printf("started\n");
  std::fflush(stdout);
  timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  volatile long sink = 0;
  do {
    for (int i = 0; i < 1000000; i++) sink = sink + i;
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while (b.tv_sec - a.tv_sec + (b.tv_nsec - a.tv_nsec) * 1e-9 < seconds);
  x++;
  ck.checkpoint_if_due();
  return 0;
}
