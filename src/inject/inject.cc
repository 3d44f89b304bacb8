// libckpt-inject.so: loaded into the checkpointed program with LD_PRELOAD by
// `ckpt run`. It holds the parasite entries the supervisor runs in threads it
// has stopped with ptrace, to record what only the process itself can see;
// the supervisor reads registers and memory from outside.
//
// Rules for this file: depend on libc at most, allocate nothing, take no
// lock; everything on the checkpoint path is a raw system call or a plain
// store into the static Block. Without CKPT_INJECT_FD in the environment the
// library does nothing at all. Children of the program inherit the variable
// and the descriptor, so they load the library and report too; the
// supervisor keeps only the reports of the program's own pid (inject_abi.h).
// It installs no signal handler and changes nothing the program can see.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <asm/prctl.h>
#include <sys/stat.h>

#include "base/uffd_abi.h"
#include "inject/inject_abi.h"

extern "C" {
// glibc >= 2.35: where its rseq area sits relative to the thread pointer.
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

// The block, under a name the supervisor finds in the library's symbol
// table: every process of a job has one, also those that closed the report
// descriptor (inject_abi.h, kBlockSymbol).
extern "C" __attribute__((visibility("default"))) ckpt::inject::Block ckpt_inject_block;
ckpt::inject::Block ckpt_inject_block;

namespace ckpt::inject {
namespace {

Block& g_block = ckpt_inject_block;

long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
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
// supervisor reads the memory from it while the program runs on. It must
// never be seen by the program or its parent: no child, no SIGCHLD, no
// zombie for either (docs/process-tree.md, decision 4). So a helper that
// shares this memory (CLONE_VM, exit signal 0) forks it and exits at once:
// the copy, orphaned, belongs to the job's init (or to whoever reaps
// orphans), and this thread collects the helper before it returns. The copy
// shares the descriptor table (no file gains a reference) and sleeps until
// the supervisor kills it. Forgotten (the supervisor was killed during the
// checkpoint), it must not outlive the job: in namespace mode the
// namespace ends with the supervisor; in no-namespace mode the supervisor
// names itself, and the copy looks every 200 ms whether it still exists,
// and ends itself if not (and after an hour in any case).
alignas(64) char g_helper_stack[16384];
constexpr unsigned kCopyLifeSeconds = 3600;
long g_copy_watch = 0;  // the pid the copy outlives no longer than 200 ms

}  // namespace

extern "C" __attribute__((used, visibility("hidden"), noreturn)) void ckpt_copy_helper() {
  long pid = raw(SYS_clone, CLONE_FILES | CLONE_FS | SIGCHLD, 0, 0, 0);
  if (pid == 0) {
    uint64_t alrm = 1ull << (SIGALRM - 1);
    raw(SYS_rt_sigprocmask, SIG_UNBLOCK, long(&alrm), 0, 8);
    struct sigaction_k {
      uint64_t handler, flags, restorer, mask;
    } dfl = {0, 0, 0, 0};
    raw(SYS_rt_sigaction, SIGALRM, long(&dfl), 0, 8);
    raw(SYS_alarm, kCopyLifeSeconds);
    for (;;) {
      struct timespec nap = {0, 200 * 1000 * 1000};
      raw(SYS_nanosleep, long(&nap), 0);
      if (g_copy_watch > 1 && raw(SYS_kill, g_copy_watch, 0) == -ESRCH) raw(SYS_exit_group, 0);
    }
  }
  g_block.fork_pid = int32_t(pid);
  for (;;) raw(SYS_exit, 0);
}

// clone(CLONE_VM) onto the helper's stack: the child must not return
// through this function's frame, so it calls ckpt_copy_helper directly.
extern "C" __attribute__((visibility("hidden"))) long ckpt_clone_helper(long flags, void* stack);
__asm__(
    ".text\n.globl ckpt_clone_helper\n.type ckpt_clone_helper,@function\n"
    "ckpt_clone_helper:\n"
    "\tmov %rsi, %r8\n"  // the new stack
    "\tmov $56, %eax\n"  // SYS_clone(flags, stack, 0, 0, 0)
    "\txor %edx, %edx\n"
    "\txor %r10d, %r10d\n"
    "\tsyscall\n"
    "\ttest %rax, %rax\n"
    "\tjnz 1f\n"
    "\tcall ckpt_copy_helper\n"
    "\tud2\n"
    "1:\tret\n");

namespace {

void fork_frozen_copy(long watch) {
  g_block.fork_pid = 0;
  g_copy_watch = watch;
  long helper = ckpt_clone_helper(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED,
                                  g_helper_stack + sizeof g_helper_stack);
  if (helper < 0) {
    g_block.fork_pid = int32_t(helper);
    return;
  }
  // __WALL: a child with exit signal 0 is a "clone" child.
  while (raw(SYS_wait4, helper, 0, __WALL, 0) == -EINTR) {
  }
}

// Whether track.fd is still the userfaultfd this library made: the program
// may have closed it (close_range, closefrom) or put a descriptor of its own
// at that number. Closing it undid every registration (the kernel drops
// them with the last reference), which the supervisor then sees as
// untracked memory.
bool own_uffd_open(const Track& k) {
  if (k.fd < 0 || k.owner != int32_t(raw(SYS_getpid))) return false;
  struct stat st;
  if (raw(SYS_fstat, k.fd, long(&st)) != 0) return false;
  return uint64_t(st.st_dev) == k.dev && uint64_t(st.st_ino) == k.ino;
}

// A userfaultfd in asynchronous write-protect mode: the kernel resolves a
// write to a protected page itself (no handler thread, no signal, system
// calls that write into such a page succeed) and only clears the page's
// protection, which PAGEMAP_SCAN reports. UFFD_USER_MODE_ONLY needs no
// privilege. The descriptor is moved to kTrackFd or above, so that the
// lowest free number, which the program's next open() gets, is unchanged.
long open_uffd(Track* k) {
  long u = raw(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | uffd::kUserModeOnly);
  if (u < 0) return u;
  uffd::Api api = {uffd::kApi, uffd::kFeatureWpAsync | uffd::kFeatureWpUnpopulated, 0};
  long r = raw(SYS_ioctl, u, long(uffd::kIoctlApi), long(&api));
  long hi = r < 0 ? r : raw(SYS_fcntl, u, F_DUPFD_CLOEXEC, kTrackFd);
  raw(SYS_close, u);
  if (hi < 0) return hi;
  struct stat st;
  if (raw(SYS_fstat, hi, long(&st)) != 0) {
    raw(SYS_close, hi);
    return -EBADF;
  }
  k->fd = int32_t(hi);
  k->dev = uint64_t(st.st_dev);
  k->ino = uint64_t(st.st_ino);
  k->owner = int32_t(raw(SYS_getpid));
  k->created = 1;
  return 0;
}

}  // namespace

// The parasite entries: the supervisor runs them in a thread it has stopped
// with ptrace (inject_abi.h), on g_stack, returning into parasite_trap. They
// run with every signal blocked (the supervisor sets the mask) and make no
// call that could touch the thread's restart block (no sleeping calls), so
// the interrupted system call goes on as if nothing happened.
extern "C" long ckpt_parasite_thread(uint32_t idx) {
  if (idx >= uint32_t(kMaxThreads)) return -EINVAL;
  ThreadSlot* s = &g_block.slots[idx];
  s->tid = int32_t(raw(SYS_gettid));
  s->uc = 0;  // the supervisor builds the signal frame
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
  stack_t ss;
  if (raw(SYS_sigaltstack, 0, long(&ss)) == 0) {
    s->ss_sp = uint64_t(ss.ss_sp);
    s->ss_size = uint64_t(ss.ss_size);
    s->ss_flags = uint32_t(ss.ss_flags) & ~uint32_t(SS_ONSTACK);
  } else {
    s->ss_sp = s->ss_size = 0;
    s->ss_flags = SS_DISABLE;
  }
  __atomic_store_n(&s->seq, g_block.request_seq, __ATOMIC_RELEASE);
  return 0;
}

// arg: bit 0, whether to fork a frozen copy; the bits above, the pid the
// copy must not outlive (0: none).
extern "C" long ckpt_parasite_process(uint64_t arg) {
  record_process_state();
  g_block.fork_pid = 0;
  if (arg & 1) fork_frozen_copy(long(arg >> 1));
  return 0;
}

// Registers track.ranges[0..n) for write-protection (inject_abi.h). A range
// registered before with this userfaultfd is registered again harmlessly;
// one the program registered with its own gets EBUSY and stays untracked.
extern "C" long ckpt_parasite_track(uint32_t n) {
  Track* k = &g_block.track;
  if (n > kMaxTrackRanges) return -EINVAL;
  k->created = 0;
  if (!own_uffd_open(*k)) {
    // A forked child holds its parent's userfaultfd (inherited, and ckpt's
    // own, not the program's): closed here, it takes nothing from the
    // parent, which holds its own reference.
    struct stat st;
    if (k->fd >= 0 && raw(SYS_fstat, k->fd, long(&st)) == 0 && uint64_t(st.st_dev) == k->dev &&
        uint64_t(st.st_ino) == k->ino)
      raw(SYS_close, k->fd);
    k->fd = -1;
    long r = open_uffd(k);
    k->error = int32_t(r);
    if (r < 0) return r;
  }
  for (uint32_t i = 0; i < n; i++) {
    uffd::Register reg = {k->ranges[i][0], k->ranges[i][1], uffd::kRegisterModeWp, 0};
    k->results[i] = int32_t(raw(SYS_ioctl, k->fd, long(uffd::kIoctlRegister), long(&reg)));
  }
  return 0;
}

// The parasite entries return here; the int3 hands the thread back.
extern "C" void ckpt_parasite_trap();
__asm__(
    ".text\n.globl ckpt_parasite_trap\n.type ckpt_parasite_trap,@function\n"
    "ckpt_parasite_trap:\n\tint3\n\tint3\n");

namespace {

alignas(64) char g_stack[kParasiteStack];

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
  g_block.version = kBlockVersion;
  g_block.signal = uint32_t(kDefaultSignal);
  g_block.parasite_thread = uint64_t(&ckpt_parasite_thread);
  g_block.parasite_process = uint64_t(&ckpt_parasite_process);
  g_block.parasite_trap = uint64_t(&ckpt_parasite_trap);
  g_block.parasite_track = uint64_t(&ckpt_parasite_track);
  g_block.track.fd = -1;
  g_block.parasite_stack_top = uint64_t(g_stack + sizeof g_stack);
  // The magic last: a checkpoint that stops this process in the middle of
  // the lines above finds no magic and waits, rather than reading version 0
  // (refused as "another version of ckpt's library", seen in the fork storm
  // test) or running a parasite entry at address 0.
  __atomic_store_n(&g_block.magic, kBlockMagic, __ATOMIC_RELEASE);
  // Tell the supervisor where the block is; it reads everything else itself.
  // The descriptor stays open so that a program that execs (a wrapper
  // script, `#!/usr/bin/env python3`) reports again from its new image.
  // Only into a pipe: a child may have closed the descriptor and reused its
  // number for something of its own.
  struct stat st;
  if (raw(SYS_fstat, fd, long(&st)) != 0 || !S_ISFIFO(st.st_mode)) return;
  Report r = {kReportMagic, int32_t(raw(SYS_getpid)), uint64_t(&g_block)};
  raw(SYS_write, fd, long(&r), sizeof r);
}

}  // namespace
}  // namespace ckpt::inject
