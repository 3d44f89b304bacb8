// Raw Linux x86_64 system calls for the freestanding restorer: no libc, no
// errno; a negative return is -errno.
#pragma once

#include <stdint.h>

namespace ckpt::restore::sys {

inline long call6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}
inline long call(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  return call6(n, a, b, c, d, e, f);
}

enum : long {
  kRead = 0,
  kWrite = 1,
  kOpen = 2,
  kClose = 3,
  kMmap = 9,
  kMprotect = 10,
  kMunmap = 11,
  kRtSigaction = 13,
  kRtSigprocmask = 14,
  kPread = 17,
  kSchedYield = 24,
  kMremap = 25,
  kMadvise = 28,
  kShmat = 30,
  kSetitimer = 38,
  kGetpid = 39,
  kExit = 60,
  kKill = 62,
  kFcntl = 72,
  kFtruncate = 77,
  kPrctl = 157,
  kArchPrctl = 158,
  kGettid = 186,
  kTgkill = 234,
  kSetTidAddress = 218,
  kExitGroup = 231,
  kSetRobustList = 273,
  kMemfdCreate = 319,
  kRseq = 334,
  kClone3 = 435,
  kCapset = 126,
};

}  // namespace ckpt::restore::sys
