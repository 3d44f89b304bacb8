// count: the tutorial's first demo, with libckpt (story S1).
//
//   $ ./count          $ ./count
//   1                  4
//   2                  5
//   3^C                6 ...
//
// The state (the counter) is saved at every iteration. Ctrl-C (or SIGTERM)
// is noticed at the next safe point: the state is saved there and the
// program exits with status 85.
// Usage: count [LAST [DELAY_MS]]   (defaults: 10, 1000)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <ckpt/ckpt.hpp>

int main(int argc, char** argv) {
  long last = argc > 1 ? std::atol(argv[1]) : 10;
  long delay_ms = argc > 2 ? std::atol(argv[2]) : 1000;

  long i = 0;
  ckpt::Checkpointer ck;
  if (auto s = ck.add("i", i); !s) return std::fprintf(stderr, "count: %s\n", s.message()), 1;
  if (auto s = ck.restore(); !s) return std::fprintf(stderr, "count: %s\n", s.message()), 1;

  while (i < last) {
    i++;
    std::printf("%ld\n", i);
    std::fflush(stdout);
    if (auto s = ck.checkpoint(); !s) return std::fprintf(stderr, "count: %s\n", s.message()), 1;
    usleep(useconds_t(delay_ms * 1000));
    ck.checkpoint_if_due();  // a Ctrl-C during the sleep stops here
  }
  return 0;
}
