// libckpt-inject.so: loaded into the checkpointed program with LD_PRELOAD by
// `ckpt run`. It only quiesces threads and records what only the process
// itself can see; the supervisor reads the memory from outside.
//
// Rules for this file: depend on libc at most, allocate nothing, take no
// lock; everything on the checkpoint path is a raw system call or a plain
// store into the static Block. Without CKPT_INJECT_FD in the environment the
// library does nothing at all (children of the program, for instance).
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <asm/prctl.h>

#include "inject/inject_abi.h"

extern "C" {
// glibc >= 2.35: where its rseq area sits relative to the thread pointer.
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace ckpt::inject {
namespace {

Block g_block;

long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
}

uint32_t load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

void pause_briefly() {
  struct timespec ts = {0, 100 * 1000};
  raw(SYS_nanosleep, long(&ts), 0);
}

void record_process_state() {
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    raw(SYS_rt_sigaction, sig, 0, long(&g_block.actions[sig]), 8);
  }
  for (int which = 0; which < 3; which++) {
    struct itimerval it;
    if (raw(SYS_getitimer, which, long(&it)) == 0) {
      g_block.itimers[which][0] = uint64_t(it.it_interval.tv_sec);
      g_block.itimers[which][1] = uint64_t(it.it_interval.tv_usec);
      g_block.itimers[which][2] = uint64_t(it.it_value.tv_sec);
      g_block.itimers[which][3] = uint64_t(it.it_value.tv_usec);
    }
  }
  g_block.brk = uint64_t(raw(SYS_brk, 0));
}

// A copy-on-write copy of the whole process, frozen as it is now: the
// supervisor reads the memory from it while the program runs on. It shares
// the descriptor table (no file gains a reference), is a sibling of the
// program (CLONE_PARENT: the program never sees a child, a SIGCHLD or a
// zombie), and sleeps with every signal blocked until it is killed.
void fork_frozen_copy() {
  long pid = raw(SYS_clone, CLONE_PARENT | CLONE_FILES | CLONE_FS | SIGCHLD, 0, 0, 0);
  if (pid == 0) {
    raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    for (;;) raw(SYS_pause);
  }
  g_block.fork_pid = int32_t(pid);
}

void on_checkpoint(int, siginfo_t* info, void* uc) {
  // Only the supervisor's tgkill counts; anything else is ignored.
  if (info->si_code != SI_TKILL) return;
  int saved_errno = errno;
  uint32_t seq = load(&g_block.request_seq);
  if (seq == 0 || load(&g_block.release_seq) >= seq) {
    errno = saved_errno;
    return;
  }
  uint32_t idx = __atomic_fetch_add(&g_block.slots_used, 1, __ATOMIC_ACQ_REL);
  if (idx >= uint32_t(kMaxThreads)) {
    __atomic_store_n(&g_block.overflow, 1, __ATOMIC_RELEASE);
  } else {
    ThreadSlot* s = &g_block.slots[idx];
    s->tid = int32_t(raw(SYS_gettid));
    s->uc = uint64_t(uc);
    uint64_t fs = 0;
    raw(SYS_arch_prctl, ARCH_GET_FS, long(&fs));
    s->fs = fs;
    uint64_t tid_addr = 0;
    raw(SYS_prctl, PR_GET_TID_ADDRESS, long(&tid_addr));
    s->tid_addr = tid_addr;
    uint64_t head = 0, len = 0;
    raw(SYS_get_robust_list, 0, long(&head), long(&len));
    s->robust_head = head;
    s->robust_len = len;
    if (&__rseq_size && &__rseq_offset && __rseq_size > 0) {
      s->rseq_addr = fs + uint64_t(__rseq_offset);
      s->rseq_len = 32;  // glibc registers 32 bytes though __rseq_size says 20
      s->rseq_sig = kRseqSig;
    } else {
      s->rseq_addr = 0;
      s->rseq_len = 0;
      s->rseq_sig = 0;
    }
    __atomic_store_n(&s->seq, seq, __ATOMIC_RELEASE);
  }
  // errno as it was: the memory is saved while we are parked below.
  errno = saved_errno;
  __atomic_fetch_add(&g_block.arrived, 1, __ATOMIC_ACQ_REL);
  while (load(&g_block.release_seq) < seq) {
    if (idx == 0 && load(&g_block.collect_seq) == seq && load(&g_block.collected_seq) != seq) {
      record_process_state();
      g_block.fork_pid = 0;
      if (load(&g_block.fork_seq) == seq) fork_frozen_copy();
      __atomic_store_n(&g_block.collected_seq, seq, __ATOMIC_RELEASE);
    }
    pause_briefly();
  }
  errno = saved_errno;
}

int env_int(const char* name, int fallback) {
  const char* v = getenv(name);
  if (!v || !*v) return fallback;
  int n = 0;
  for (; *v >= '0' && *v <= '9'; v++) n = n * 10 + (*v - '0');
  return n;
}

__attribute__((constructor)) void inject_init() {
  int fd = env_int("CKPT_INJECT_FD", -1);
  if (fd < 0) return;
  int sig = env_int("CKPT_INJECT_SIGNAL", kDefaultSignal);
  g_block.magic = kBlockMagic;
  g_block.version = kBlockVersion;
  g_block.signal = uint32_t(sig);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_checkpoint;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (sigaction(sig, &sa, nullptr) != 0) return;
  // Tell the supervisor where the block is; it reads everything else itself.
  // The descriptor stays open so that a program that execs (a wrapper
  // script, `#!/usr/bin/env python3`) reports again from its new image.
  Report r = {kReportMagic, int32_t(raw(SYS_getpid)), uint64_t(&g_block)};
  raw(SYS_write, fd, long(&r), sizeof r);
}

}  // namespace
}  // namespace ckpt::inject
