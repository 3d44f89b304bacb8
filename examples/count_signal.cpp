// count-signal: the tutorial's second demo (story S2). The state is saved
// only when a signal arrives: SIGINT (Ctrl-C) or SIGTERM save and stop
// (exit status 85), SIGUSR1 saves and goes on. The next start resumes.
// Usage: count-signal [LAST [DELAY_MS]]   (defaults: 10, 1000)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <ckpt/ckpt.hpp>

int main(int argc, char** argv) {
  long last = argc > 1 ? std::atol(argv[1]) : 10;
  long delay_ms = argc > 2 ? std::atol(argv[2]) : 1000;

  long i = 0;
  ckpt::Checkpointer ck;  // signals SIGUSR1, SIGTERM, SIGINT by default
  if (auto s = ck.add("i", i); !s) return std::fprintf(stderr, "count-signal: %s\n", s.message()), 1;
  if (auto s = ck.restore(); !s) return std::fprintf(stderr, "count-signal: %s\n", s.message()), 1;

  while (i < last) {
    i++;
    std::printf("%ld\n", i);
    std::fflush(stdout);
    usleep(useconds_t(delay_ms * 1000));
    ck.checkpoint_if_due();  // a safe point: i is printed and complete
  }
  return 0;
}
