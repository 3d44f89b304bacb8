/* Keeps known values in the 16 SSE registers while it spins in its own code
 * (no system call), and checks them after each spin: a checkpoint that stops
 * it there must give its registers back as they were, vector registers
 * included. Usage: vector_regs SECONDS; prints "ok ROUNDS" and exits 0, or
 * "clobbered in round R" and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define SET(n) "movq %[v], %%xmm" #n "\n add $1, %[v]\n"
#define GET(n) "movq %%xmm" #n ", %%rax\n xor %[v], %%rax\n or %%rax, %[bad]\n add $1, %[v]\n"

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 3;
  double end = now() + seconds;
  long rounds = 0;
  while (now() < end) {
    uint64_t v = 0x5eed000000000000ull + (uint64_t)rounds * 16, w = v, bad = 0;
    __asm__ volatile(SET(0) SET(1) SET(2) SET(3) SET(4) SET(5) SET(6) SET(7) SET(8) SET(9)
                         SET(10) SET(11) SET(12) SET(13) SET(14) SET(15)
                     "mov $5000000, %%rcx\n"
                     "1: dec %%rcx\n jnz 1b\n"
                     "mov %[w], %[v]\n"
                     GET(0) GET(1) GET(2) GET(3) GET(4) GET(5) GET(6) GET(7) GET(8) GET(9)
                         GET(10) GET(11) GET(12) GET(13) GET(14) GET(15)
                     : [v] "+&r"(v), [bad] "+&r"(bad)
                     : [w] "r"(w)
                     : "rax", "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15", "cc");
    if (bad) {
      printf("clobbered in round %ld\n", rounds);
      return 1;
    }
    rounds++;
  }
  printf(rounds > 0 ? "ok\n" : "no round\n");
  return 0;
}
