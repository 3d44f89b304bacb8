#include <cstdio>

#include <ckpt/ckpt.hpp>

int main() {
  int runs = 0;
  ckpt::Checkpointer ck;
  if (auto s = ck.add("runs", runs); !s) return 1;
  if (auto s = ck.restore(); !s) return std::fprintf(stderr, "%s\n", s.message()), 1;
  runs++;
  if (auto s = ck.checkpoint(); !s) return 1;
  std::printf("%d\n", runs);
  return 0;
}
