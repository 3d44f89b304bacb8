#include "control/seize.h"

#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "control/procfs.h"

namespace ckpt::control {
namespace {

// Not in Debian 12's glibc headers; stable kernel ABI.
constexpr int kPtraceGetSigmask = 0x420a, kPtraceSetSigmask = 0x420b;
constexpr int kPtraceEventStop = 128;
constexpr long kErestartSys = 512, kErestartNoIntr = 513, kErestartNoHand = 514,
               kErestartRestartBlock = 516;
constexpr long kNrRestartSyscall = 219;
constexpr int kStopTimeoutMs = 10000;

// Calls that fail with EINTR when their thread is merely stopped and resumed
// (signal(7): epoll_wait, semop, sigtimedwait, msgrcv/msgsnd, io_getevents),
// which a ptrace stop is. Found at the stop returning EINTR, they were
// interrupted by it, and are issued again (with their full timeout).
bool fails_when_stopped(long nr) {
  switch (nr) {
    case 232:
    case 281:
    case 441:  // epoll_wait, epoll_pwait, epoll_pwait2
    case 65:
    case 220:  // semop, semtimedop
    case 128:  // rt_sigtimedwait
    case 69:
    case 70:  // msgsnd, msgrcv
    case 208:
    case 333:  // io_getevents, io_pgetevents
      return true;
    default: return false;
  }
}

// How the kernel would go on with a call interrupted by the stop:
// kRerun (same call again), kRestartBlock (restart_syscall), or kNone.
enum Restart { kNone, kRerun, kRestartBlock };
Restart restart_of(const user_regs_struct& r) {
  if (long(r.orig_rax) < 0) return kNone;
  long err = long(r.rax);
  if (err == -kErestartSys || err == -kErestartNoIntr || err == -kErestartNoHand) return kRerun;
  if (err == -kErestartRestartBlock) return kRestartBlock;
  if (err == -EINTR && fails_when_stopped(long(r.orig_rax))) return kRerun;
  return kNone;
}

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

long pt(int req, pid_t tid, uint64_t addr, uint64_t data) {
  return ::ptrace(static_cast<__ptrace_request>(req), tid, reinterpret_cast<void*>(addr),
                  reinterpret_cast<void*>(data));
}

// Waits for tid's next stop. *sig: the stop's signal; *event: the ptrace
// event (0 for a signal-delivery-stop). kNotFound if the thread is gone.
Status wait_stop(pid_t tid, int* sig, int* event) {
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(tid, &st, __WALL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::make(Code::kIo, errno, "cannot wait for thread %d", int(tid));
    if (WIFEXITED(st) || WIFSIGNALED(st))
      return Status::make(Code::kNotFound, 0, "thread %d ended during the checkpoint", int(tid));
    if (!WIFSTOPPED(st)) continue;
    *sig = WSTOPSIG(st);
    *event = st >> 16;
    return Status::ok();
  }
}

}  // namespace

Status Seized::stop_thread(pid_t tid) {
  if (pt(PTRACE_SEIZE, tid, 0, 0) != 0) {
    if (errno == ESRCH) return Status::make(Code::kNotFound, errno, "thread gone");
    if (errno == EPERM)
      return Status::make(Code::kUnsupported, errno,
                          "cannot stop thread %d of the program: it is traced already "
                          "(a debugger or strace?)",
                          int(tid));
    return Status::make(Code::kIo, errno, "cannot stop thread %d of the program", int(tid));
  }
  StoppedThread t;
  t.tid = tid;
  threads_.push_back(t);  // from here on, release() detaches it
  if (pt(PTRACE_INTERRUPT, tid, 0, 0) != 0)
    return Status::make(Code::kIo, errno, "cannot interrupt thread %d", int(tid));
  for (;;) {
    int sig = 0, event = 0;
    Status s = wait_stop(tid, &sig, &event);
    if (!s.is_ok()) {
      threads_.pop_back();
      return s;
    }
    if (event == kPtraceEventStop) break;  // interrupted (or in a group stop)
    // A signal on its way to the program: deliver it as it would have been,
    // then stop at the interrupt that is still pending.
    if (event == 0) {
      if (pt(PTRACE_CONT, tid, 0, uint64_t(sig)) != 0)
        return Status::make(Code::kIo, errno, "cannot pass a signal to thread %d", int(tid));
      continue;
    }
    if (pt(PTRACE_CONT, tid, 0, 0) != 0)
      return Status::make(Code::kIo, errno, "cannot resume thread %d", int(tid));
  }
  StoppedThread& th = threads_.back();
  if (pt(PTRACE_GETREGS, tid, 0, uint64_t(&th.regs)) != 0)
    return Status::make(Code::kIo, errno, "cannot read the registers of thread %d", int(tid));
  th.xstate.resize(16384);
  iovec iov = {th.xstate.data(), th.xstate.size()};
  if (pt(PTRACE_GETREGSET, tid, NT_X86_XSTATE, uint64_t(&iov)) != 0)
    return Status::make(Code::kIo, errno, "cannot read the FPU state of thread %d", int(tid));
  th.xstate.resize(iov.iov_len);
  if (pt(kPtraceGetSigmask, tid, 8, uint64_t(&th.sigmask)) != 0)
    return Status::make(Code::kIo, errno, "cannot read the signal mask of thread %d", int(tid));
  return Status::ok();
}

Status Seized::stop(pid_t pid) {
  pid_ = pid;
  std::set<pid_t> seen;
  double deadline = now_s() + kStopTimeoutMs / 1000.0;
  // Threads created by a thread not yet stopped appear in a later listing;
  // once a listing shows nothing new, every thread is stopped.
  for (;;) {
    std::vector<pid_t> tasks = list_tasks(pid);
    if (tasks.empty())
      return Status::make(Code::kIo, 0, "the program exited during the checkpoint");
    std::sort(tasks.begin(), tasks.end(),
              [&](pid_t a, pid_t b) { return (a == pid) != (b == pid) ? a == pid : a < b; });
    bool fresh = false;
    for (pid_t t : tasks) {
      if (!seen.insert(t).second) continue;
      fresh = true;
      Status s = stop_thread(t);
      if (s.code() == Code::kNotFound) continue;
      CKPT_RETURN_IF_ERROR(s);
    }
    if (!fresh) break;
    if (now_s() > deadline)
      return Status::make(Code::kIo, 0, "the program kept creating threads for %d s",
                          kStopTimeoutMs / 1000);
  }
  if (threads_.empty() || threads_.front().tid != pid)
    return Status::make(Code::kUnsupported, 0,
                        "the program's main thread has exited; such programs are not supported");
  return Status::ok();
}

Status Seized::call(StoppedThread& t, uint64_t entry, uint64_t arg, uint64_t stack_top,
                    uint64_t trap, int64_t* ret) {
  return finish(t, trap, start(t, entry, arg, stack_top, trap), ret);
}

Status Seized::start(StoppedThread& t, uint64_t entry, uint64_t arg, uint64_t stack_top,
                     uint64_t trap) {
  user_regs_struct r = t.regs;
  r.rip = entry;
  r.rsp = (stack_top & ~15ull) - 8;  // as after a call: the return address below
  r.rdi = arg;
  r.rax = 0;
  r.orig_rax = ~0ull;  // not in a system call: no restart logic on resume
  uint64_t all = ~0ull;
  Status s = mem_write(t.tid, r.rsp, &trap, 8);
  if (s.is_ok() && pt(PTRACE_SETREGS, t.tid, 0, uint64_t(&r)) != 0)
    s = Status::make(Code::kIo, errno, "cannot set the registers of thread %d", int(t.tid));
  if (s.is_ok() && pt(kPtraceSetSigmask, t.tid, 8, uint64_t(&all)) != 0)
    s = Status::make(Code::kIo, errno, "cannot block signals in thread %d", int(t.tid));
  if (s.is_ok() && pt(PTRACE_CONT, t.tid, 0, 0) != 0)
    s = Status::make(Code::kIo, errno, "cannot run the parasite in thread %d", int(t.tid));
  return s;
}

Status Seized::finish(StoppedThread& t, uint64_t trap, Status started, int64_t* ret) {
  Status s = std::move(started);
  if (s.is_ok()) {
    int sig = 0, event = 0;
    user_regs_struct r;
    s = wait_stop(t.tid, &sig, &event);
    if (s.is_ok() && pt(PTRACE_GETREGS, t.tid, 0, uint64_t(&r)) != 0)
      s = Status::make(Code::kIo, errno, "cannot read the registers of thread %d", int(t.tid));
    if (s.is_ok() && (event != 0 || sig != SIGTRAP || r.rip != trap + 1))
      s = Status::make(Code::kIo, 0,
                       "the checkpoint code in thread %d stopped with signal %d at %#llx",
                       int(t.tid), sig, (unsigned long long)r.rip);
    if (s.is_ok()) *ret = int64_t(r.rax);
  }
  // Put the thread back as it was, whatever happened: its vector and FPU
  // registers too, which the parasite's code may use (a thread stopped in
  // its own code, not in a system call, has live values there).
  if (pt(PTRACE_SETREGS, t.tid, 0, uint64_t(&t.regs)) != 0 && s.is_ok())
    s = Status::make(Code::kIo, errno, "cannot restore the registers of thread %d", int(t.tid));
  iovec xs = {t.xstate.data(), t.xstate.size()};
  if (!t.xstate.empty() && pt(PTRACE_SETREGSET, t.tid, NT_X86_XSTATE, uint64_t(&xs)) != 0 &&
      s.is_ok())
    s = Status::make(Code::kIo, errno, "cannot restore the vector registers of thread %d",
                     int(t.tid));
  if (pt(kPtraceSetSigmask, t.tid, 8, uint64_t(&t.sigmask)) != 0 && s.is_ok())
    s = Status::make(Code::kIo, errno, "cannot restore the signal mask of thread %d", int(t.tid));
  return s;
}

void Seized::release() {
  for (StoppedThread& t : threads_) {
    // The registers as stopped; apply the restart the kernel would have
    // applied on its own, and say "not in a system call" so that it is not
    // applied twice after a parasite call left the thread in a trap stop.
    user_regs_struct r = t.regs;
    Restart how = restart_of(r);
    if (how != kNone) {
      r.rax = how == kRerun ? r.orig_rax : uint64_t(kNrRestartSyscall);
      r.rip -= 2;
    }
    if (long(r.orig_rax) >= 0) r.orig_rax = ~0ull;
    (void)pt(PTRACE_SETREGS, t.tid, 0, uint64_t(&r));
    (void)pt(PTRACE_DETACH, t.tid, 0, 0);
  }
  threads_.clear();
}

void Seized::kill_stopped(bool parent) {
  ::kill(pid_, SIGKILL);
  for (const StoppedThread& t : threads_) {
    siginfo_t si;
    int keep = parent && t.tid == pid_ ? WNOWAIT : 0;
    for (;;) {
      si.si_pid = 0;
      if (::waitid(P_PID, id_t(t.tid), &si, WEXITED | WSTOPPED | __WALL | keep) != 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) break;
      if (keep) (void)::waitid(P_PID, id_t(t.tid), &si, WSTOPPED | __WALL | WNOHANG);
    }
  }
  threads_.clear();
}

user_regs_struct restart_regs(const user_regs_struct& stopped, long known_nr) {
  user_regs_struct r = stopped;
  if (restart_of(r) != kNone) {
    long nr = long(r.orig_rax);
    if (nr == kNrRestartSyscall && known_nr >= 0) nr = known_nr;
    r.rax = uint64_t(nr);
    r.rip -= 2;
  }
  r.orig_rax = ~0ull;
  return r;
}

Status build_frame(const user_regs_struct& regs, const std::vector<uint8_t>& xstate,
                   uint64_t sigmask, uint64_t ss_sp, uint32_t ss_flags, uint64_t ss_size,
                   SignalFrame* out) {
  // The xsave area: legacy 512 bytes, header 64, then the extended parts.
  if (xstate.size() < 576 || xstate.size() > 65536)
    return Status::make(Code::kUnsupported, 0, "an FPU state of %zu bytes", xstate.size());
  constexpr uint32_t kMagic1 = 0x46505853, kMagic2 = 0x46505845;
  constexpr uint64_t kUcFpXstate = 1, kUcSigcontextSs = 2, kUcStrictRestoreSs = 4;
  constexpr uint64_t kRedZone = 128, kUcontextSize = 304, kSiginfoSize = 128;
  uint64_t xsize = xstate.size();
  uint64_t fp = (regs.rsp - kRedZone - (xsize + 4)) & ~63ull;
  uint64_t uc = (fp - kUcontextSize - kSiginfoSize) & ~15ull;
  out->start = uc - 8;  // rt_sigreturn reads the frame from rsp - 8
  out->uc = uc;
  out->bytes.assign(size_t(fp + xsize + 4 - out->start), 0);
  auto put = [&](uint64_t addr, const void* v, size_t n) {
    std::memcpy(out->bytes.data() + (addr - out->start), v, n);
  };
  auto put64 = [&](uint64_t addr, uint64_t v) { put(addr, &v, 8); };
  put64(uc + 0, kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs);
  put64(uc + 8, 0);  // uc_link
  put64(uc + 16, ss_sp);
  uint32_t flags = ss_flags;
  put(uc + 24, &flags, 4);
  put64(uc + 32, ss_size);
  uint64_t mc = uc + 40;  // struct sigcontext (x86_64)
  const uint64_t gp[18] = {regs.r8,  regs.r9,  regs.r10, regs.r11, regs.r12, regs.r13,
                           regs.r14, regs.r15, regs.rdi, regs.rsi, regs.rbp, regs.rbx,
                           regs.rdx, regs.rax, regs.rcx, regs.rsp, regs.rip, regs.eflags};
  put(mc, gp, sizeof gp);
  uint16_t seg[4] = {uint16_t(regs.cs), uint16_t(regs.gs), uint16_t(regs.fs), uint16_t(regs.ss)};
  put(mc + 144, seg, sizeof seg);
  // err, trapno, oldmask, cr2 stay 0
  put64(mc + 184, fp);  // fpstate
  put64(uc + 296, sigmask);
  // The xsave area with the software bytes rt_sigreturn checks.
  put(fp, xstate.data(), size_t(xsize));
  uint32_t magic1 = kMagic1, ext = uint32_t(xsize + 4), size32 = uint32_t(xsize);
  uint64_t features;
  std::memcpy(&features, xstate.data() + 464 + 8, 8);
  uint32_t given;
  std::memcpy(&given, xstate.data() + 464, 4);
  if (given != kMagic1) std::memcpy(&features, xstate.data() + 512, 8);  // XSTATE_BV
  put(fp + 464, &magic1, 4);
  put(fp + 468, &ext, 4);
  put(fp + 472, &features, 8);
  put(fp + 480, &size32, 4);
  uint32_t magic2 = kMagic2;
  put(fp + xsize, &magic2, 4);
  return Status::ok();
}

}  // namespace ckpt::control
