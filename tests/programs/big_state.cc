// A libckpt program with a large state, for crash and full-disk tests.
// Every iteration changes the state (all of it, or PERCENT of it in one
// stretch that moves on: for increments), prints a line and checkpoints.
// The environment's CKPT_* variables choose async/compression/increments.
// Usage: big_state MIB ITERATIONS [DELAY_MS [PERCENT]]
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <ckpt/ckpt.hpp>

int main(int argc, char** argv) {
  if (argc < 3)
    return std::fprintf(stderr, "usage: big_state MIB ITERATIONS [DELAY_MS [PERCENT]]\n"), 2;
  size_t words = size_t(std::atol(argv[1])) * (1 << 20) / 8;
  long iterations = std::atol(argv[2]);
  long delay_ms = argc > 3 ? std::atol(argv[3]) : 0;
  long percent = argc > 4 ? std::atol(argv[4]) : 100;
  size_t touched = percent >= 100 ? words : words * size_t(percent > 0 ? percent : 0) / 100;

  std::vector<uint64_t> data(words);
  for (size_t i = 0; i < words; i++) data[i] = i * 2654435761u;
  int64_t iter = 0;
  ckpt::Checkpointer ck;
  if (auto s = ck.add("data", data); !s)
    return std::fprintf(stderr, "big_state: %s\n", s.message()), 1;
  if (auto s = ck.add("iter", iter); !s)
    return std::fprintf(stderr, "big_state: %s\n", s.message()), 1;
  if (auto s = ck.restore(); !s) return std::fprintf(stderr, "big_state: %s\n", s.message()), 1;

  while (iter < iterations) {
    iter++;
    uint64_t sum = 0;
    size_t start = touched == words ? 0 : size_t(iter) * 7919 * 64 % words;
    for (size_t k = 0; k < touched; k++) {
      size_t i = (start + k) % words;
      data[i] = data[i] * 6364136223846793005ull + uint64_t(iter);
    }
    for (size_t i = 0; i < words; i++) sum += data[i] >> 7;
    std::printf("iter %lld sum %llu\n", (long long)iter, (unsigned long long)sum);
    std::fflush(stdout);
    if (auto s = ck.checkpoint(); !s)
      return std::fprintf(stderr, "big_state: %s\n", s.message()), 1;
    if (delay_ms) usleep(useconds_t(delay_ms * 1000));
  }
  if (auto s = ck.wait(); !s) return std::fprintf(stderr, "big_state: %s\n", s.message()), 1;
  uint64_t h = 1469598103934665603ull;
  for (uint64_t w : data) h = (h ^ w) * 1099511628211ull;
  std::printf("result %016llx\n", (unsigned long long)h);
  return 0;
}
