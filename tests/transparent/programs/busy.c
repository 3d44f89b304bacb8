/* Writes its memory without pause while it is checkpointed, and checks that
   the image is of one instant: in round r every word must still hold r-1
   before it is set to r, in private memory and in MAP_SHARED memory alike.
   A region marked MADV_DONTFORK and one marked MADV_WIPEONFORK hold a
   pattern that must survive too. Usage: busy ROUNDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void* region(size_t n, int flags, int advice) {
  void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) exit(2);
  if (advice >= 0 && madvise(p, n, advice) != 0) exit(3);
  return p;
}

static int pattern_ok(const uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(seed + i * 7)) return 0;
  return 1;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  const size_t n = (64u << 20) / 8, m = (4u << 20) / 8, k = 1u << 20;
  uint64_t* priv = region(n * 8, MAP_PRIVATE, -1);
  uint64_t* shared = region(m * 8, MAP_SHARED, -1);
  uint8_t* dontfork = region(k, MAP_PRIVATE, MADV_DONTFORK);
  uint8_t* wipe = region(k, MAP_PRIVATE, MADV_WIPEONFORK);
  for (size_t i = 0; i < k; i++) {
    dontfork[i] = (uint8_t)(1 + i * 7);
    wipe[i] = (uint8_t)(2 + i * 7);
  }
  for (uint64_t r = 1; r <= (uint64_t)rounds; r++) {
    for (size_t i = 0; i < n; i++) {
      if (priv[i] != r - 1) {
        printf("torn: round %llu, private word %zu holds %llu\n", (unsigned long long)r, i,
               (unsigned long long)priv[i]);
        return 1;
      }
      priv[i] = r;
      if (i < m) {
        if (shared[i] != r - 1) {
          printf("torn: round %llu, shared word %zu holds %llu\n", (unsigned long long)r, i,
                 (unsigned long long)shared[i]);
          return 1;
        }
        shared[i] = r;
      }
    }
    if (!pattern_ok(dontfork, k, 1) || !pattern_ok(wipe, k, 2)) {
      printf("lost: round %llu, a DONTFORK or WIPEONFORK region changed\n", (unsigned long long)r);
      return 1;
    }
    printf("round %llu\n", (unsigned long long)r);
    fflush(stdout);
    usleep(10000);
  }
  printf("done\n");
  return 0;
}
