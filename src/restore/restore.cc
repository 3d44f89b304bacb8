// ckpt-restore: the static, freestanding restore program.
//
// Algorithm:
//   `ckpt restart` has already verified the whole image, unpacked its
//   compressed pages into a memfd laid out as restore_abi.h describes,
//   recreated the file descriptors, cwd, umask and rlimits, and exec'd this
//   program as the process to be restored, with
//   argv = {ckpt-restore, ARGS_FD, ERR_FD, EXE_FD, IMAGE_FD} (EXE_FD: the
//   program's executable, or -1; IMAGE_FD: the image, from which pages
//   stored uncompressed are read straight into place). This program:
//    1. blocks every signal, switches to its own stack (entry.S), maps the
//       metadata of the argument block inside its reserved range, and checks
//       the block again;
//    2. moves the kernel's [vvar], [vvar_vclock] and [vdso] together into a
//       parking spot inside the reserved range;
//    3. unmaps every other mapping outside the reserved range (the kernel's
//       [stack] for this exec among them), and moves its own code off the
//       ckpt-restore file so that /proc/self/exe can name the program's;
//    4. maps every saved region (files mapped back from their files, memory
//       anonymous), fills the saved pages from the memfd or the image,
//       applies the saved protections;
//    5. moves the parked vdso pieces to their saved addresses, and gives the
//       kernel back brk, stack, arguments, environment, auxv and the
//       executable (PR_SET_MM_MAP);
//    6. restores signal actions, interval timers and close-on-exec flags;
//    7. recreates every other thread with clone (TLS, tid field, optionally
//       its old tid with clone3), each of which registers its robust list and
//       rseq area, drops the capabilities exec gave it, and returns into its
//       saved signal frame with rt_sigreturn; then raises again the signals
//       that were pending;
//    8. does the same for the main thread, after closing its own descriptors
//       and unmapping the argument block.
//   rt_sigreturn restores registers, FPU state, signal mask and altstack
//   from the frame the supervisor built below each thread's stack pointer
//   at the checkpoint (control/seize.h); the program continues where ptrace
//   stopped it, an interrupted system call issued again.
//   What stays behind is this program's own code, data and start-up stacks
//   in the reserved range; the next checkpoint skips that range.
//
// No libc, no TLS, no stack protector: the FS base is not the program's
// until step 7/8. Every failure writes one line to ERR_FD and exits 127.
#include <stddef.h>
#include <stdint.h>

#include "restore/restore_abi.h"
#include "restore/syscalls.h"

using namespace ckpt::restore;
using ckpt::inject::KSigaction;

extern "C" {
[[noreturn]] void restorer_main(long* sp);
long restorer_clone(unsigned long flags, void* stack_top, int* ptid, int* ctid, unsigned long tls,
                    void (*fn)(void*), void* arg);
long restorer_clone3(void* args, unsigned long size, void (*fn)(void*), void* arg);
[[noreturn]] void restorer_sigreturn(uint64_t uc);

// The compiler may emit calls to these.
void* memcpy(void* d, const void* s, size_t n) {
  auto* dd = static_cast<unsigned char*>(d);
  auto* ss = static_cast<const unsigned char*>(s);
  while (n--) *dd++ = *ss++;
  return d;
}
void* memset(void* d, int c, size_t n) {
  auto* dd = static_cast<unsigned char*>(d);
  while (n--) *dd++ = static_cast<unsigned char>(c);
  return d;
}

alignas(16) char restorer_stack[256 << 10];
char* restorer_stack_top = restorer_stack + sizeof restorer_stack;
}

namespace {

constexpr int kProtRead = 1, kProtWrite = 2;
constexpr long kShmRdonly = 010000, kShmRemap = 040000, kShmExec = 0100000;
constexpr int kMapSharedF = 0x01, kMapPrivateF = 0x02, kMapFixed = 0x10, kMapAnonymous = 0x20,
              kMapGrowsdown = 0x0100, kMapFixedNoreplace = 0x100000;
constexpr int kMremapMaymove = 1, kMremapFixed = 2;
constexpr int kMadvPopulateWrite = 23;
constexpr int kORdonly = 0, kORdwr = 2, kOCloexec = 02000000;
constexpr int kPrSetMm = 35, kPrSetMmMap = 14;
constexpr unsigned long kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400,
                        kCloneSighand = 0x800, kCloneThread = 0x10000, kCloneSysvsem = 0x40000,
                        kCloneSettls = 0x80000, kCloneParentSettid = 0x100000,
                        kCloneChildCleartid = 0x200000, kCloneChildSettid = 0x01000000;

int g_err_fd = 2;
int g_exe_fd = -1;
int g_args_fd = -1;
int g_image_fd = -1;   // the image: uncompressed page data is read from it
long g_obj_base = -1;  // the first shared memory descriptor (kMapObject)
const RHeader* g_hdr;
const uint8_t* g_meta;
volatile int g_started;
bool g_drop_caps;

size_t str_len(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

void put(const char* s) { sys::call(sys::kWrite, g_err_fd, long(s), long(str_len(s))); }

void put_num(long v) {
  char buf[24];
  int i = 23;
  buf[i] = 0;
  bool neg = v < 0;
  unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
  do {
    buf[--i] = char('0' + u % 10);
    u /= 10;
  } while (u && i > 1);
  if (neg) buf[--i] = '-';
  put(buf + i);
}

void put_hex(uint64_t v) {
  char buf[20];
  int i = 19;
  buf[i] = 0;
  do {
    buf[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v && i > 2);
  buf[--i] = 'x';
  buf[--i] = '0';
  put(buf + i);
}

[[noreturn]] void die(const char* what, long err = 0, uint64_t addr = 0,
                      const char* path = nullptr) {
  put("ckpt-restore: ");
  put(what);
  if (addr) {
    put(" at ");
    put_hex(addr);
  }
  if (path) {
    put(" (");
    put(path);
    put(")");
  }
  if (err) {
    put(": error ");
    put_num(-err);
  }
  put("\n");
  sys::call(sys::kExitGroup, 127);
  __builtin_unreachable();
}

long parse_dec(const char* s) {
  long v = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

bool in_reserved(uint64_t start, uint64_t end) {
  return start >= kRestorerBase && end <= kRestorerBase + kReservedSize;
}

// Our own mappings, from /proc/self/maps.
struct Own {
  uint64_t start, end;
  uint32_t kind;  // 0, or kSpecial*
  int prot;
  bool file;
};
Own g_own[512];
int g_nown;
char g_maps_buf[128 << 10];

uint64_t parse_hex(const char*& p) {
  uint64_t v = 0;
  for (;; p++) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + uint64_t(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + uint64_t(c - 'a' + 10);
    else break;
  }
  return v;
}

bool ends_with_name(const char* line, const char* eol, const char* name) {
  size_t n = str_len(name);
  if (size_t(eol - line) < n) return false;
  const char* s = eol - n;
  for (size_t i = 0; i < n; i++)
    if (s[i] != name[i]) return false;
  return true;
}

void read_own_maps() {
  long fd = sys::call(sys::kOpen, long("/proc/self/maps"), kORdonly | kOCloexec);
  if (fd < 0) die("cannot open /proc/self/maps", fd);
  size_t n = 0;
  for (;;) {
    long r = sys::call(sys::kRead, fd, long(g_maps_buf + n), long(sizeof g_maps_buf - 1 - n));
    if (r < 0) die("cannot read /proc/self/maps", r);
    if (r == 0) break;
    n += size_t(r);
    if (n >= sizeof g_maps_buf - 1) die("too many mappings at start-up");
  }
  sys::call(sys::kClose, fd);
  g_maps_buf[n] = 0;
  const char* p = g_maps_buf;
  while (*p) {
    const char* eol = p;
    while (*eol && *eol != '\n') eol++;
    const char* q = p;
    Own o;
    o.start = parse_hex(q);
    q++;
    o.end = parse_hex(q);
    o.kind = 0;
    q++;  // the space before the permissions
    o.prot = (q[0] == 'r' ? kProtRead : 0) | (q[1] == 'w' ? kProtWrite : 0) | (q[2] == 'x' ? 4 : 0);
    o.file = false;
    for (const char* c = p; c < eol; c++) o.file |= *c == '/';
    if (ends_with_name(p, eol, "[vvar]")) o.kind = kSpecialVvar;
    else if (ends_with_name(p, eol, "[vvar_vclock]")) o.kind = kSpecialVvarVclock;
    else if (ends_with_name(p, eol, "[vdso]")) o.kind = kSpecialVdso;
    if (g_nown == int(sizeof g_own / sizeof g_own[0])) die("too many mappings at start-up");
    g_own[g_nown++] = o;
    p = *eol ? eol + 1 : eol;
  }
}

// Step 2: park [vvar] [vvar_vclock] [vdso] together, keeping their distances.
void park_specials(uint64_t parked[kSpecialCount]) {
  uint64_t base = ~0ull;
  for (int i = 0; i < g_nown; i++)
    if (g_own[i].kind && g_own[i].start < base) base = g_own[i].start;
  for (int i = 0; i < g_nown; i++) {
    Own& o = g_own[i];
    if (!o.kind) continue;
    const RSpecial& saved = g_hdr->special[o.kind];
    if (saved.end - saved.start != o.end - o.start)
      die("the kernel's vdso/vvar layout differs from the checkpoint's (another kernel?)");
    uint64_t to = kParkArea + (o.start - base);
    long r = sys::call(sys::kMremap, long(o.start), long(o.end - o.start), long(o.end - o.start),
                       kMremapMaymove | kMremapFixed, long(to));
    if (r < 0) die("cannot move the vdso", r, o.start);
    parked[o.kind] = to;
    o.end = to + (o.end - o.start);
    o.start = to;
  }
  for (uint32_t k = 1; k < kSpecialCount; k++) {
    bool have = false;
    for (int i = 0; i < g_nown; i++) have |= g_own[i].kind == k;
    if (!have && g_hdr->special[k].end != 0) die("this kernel lacks a vdso mapping the image has");
  }
}

void unmap_others() {
  for (int i = 0; i < g_nown; i++) {
    const Own& o = g_own[i];
    if (o.kind || in_reserved(o.start, o.end)) continue;
    if (o.start >= 0xffffffffff600000ull) continue;  // [vsyscall]
    long r = sys::call(sys::kMunmap, long(o.start), long(o.end - o.start));
    if (r < 0) die("cannot unmap", r, o.start);
  }
}

// Our own code and data come from the ckpt-restore file; while any of it is
// mapped the kernel will not let /proc/self/exe name the program's file.
// Each such mapping is replaced by an anonymous copy at the same address
// (mremap is atomic; nothing written in between lives on those pages).
void detach_from_own_file() {
  for (int i = 0; i < g_nown; i++) {
    const Own o = g_own[i];
    if (!o.file || !in_reserved(o.start, o.end)) continue;
    uint64_t len = o.end - o.start;
    long tmp = sys::call(sys::kMmap, 0, long(len), kProtRead | kProtWrite,
                         kMapPrivateF | kMapAnonymous, -1, 0);
    if (tmp < 0) return;
    memcpy(reinterpret_cast<void*>(tmp), reinterpret_cast<const void*>(o.start), len);
    sys::call(sys::kMprotect, tmp, long(len), o.prot);
    long r = sys::call(sys::kMremap, tmp, long(len), long(len), kMremapMaymove | kMremapFixed,
                       long(o.start));
    if (r < 0) die("cannot move the restorer off its file", r, o.start);
  }
}

bool overlaps_reserved(uint64_t start, uint64_t end) {
  return end > kRestorerBase && start < kRestorerBase + kReservedSize;
}

// `ckpt restart` has checked the image; this is a second line of defence
// for the block it built, before anything is moved or unmapped: nothing may
// land on this program's own range, outside user space, or wrap around.
void check_block() {
  constexpr uint64_t kTop = 1ull << 47;
  const RHeader& h = *g_hdr;
  if (h.strings_off > h.meta_size || h.auxv_words > 64) die("inconsistent argument block");
  const RMap* maps = reinterpret_cast<const RMap*>(g_meta + h.maps_off);
  uint64_t prev_end = 0;
  for (uint32_t i = 0; i < h.nmaps; i++) {
    const RMap& m = maps[i];
    if (m.start >= m.end || m.end > kTop || (m.start | m.end) % kPage || m.start < prev_end ||
        overlaps_reserved(m.start, m.end))
      die("a mapping the restorer refuses", 0, m.start);
    if (!(m.flags & (kMapAnon | kMapMemfd | kMapObject | kMapSysv)) &&
        (uint64_t(m.path_off) + m.path_len >= h.meta_size - h.strings_off ||
         g_meta[h.strings_off + m.path_off + m.path_len] != 0))
      die("a mapped file's name outside the argument block", 0, m.start);
    prev_end = m.end;
  }
  const RRun* runs = reinterpret_cast<const RRun*>(g_meta + h.runs_off);
  for (uint32_t i = 0; i < h.nruns; i++) {
    const RRun& r = runs[i];
    if (r.addr + r.len < r.addr || r.addr + r.len > kTop ||
        overlaps_reserved(r.addr, r.addr + r.len))
      die("saved pages the restorer refuses", 0, r.addr);
  }
  for (uint32_t k = 1; k < kSpecialCount; k++) {
    const RSpecial& sp = h.special[k];
    if (sp.end && (sp.start >= sp.end || sp.end > kTop || overlaps_reserved(sp.start, sp.end)))
      die("a vdso position the restorer refuses", 0, sp.start);
  }
  const RThread* threads = reinterpret_cast<const RThread*>(g_meta + h.threads_off);
  for (uint32_t i = 0; i < h.nthreads; i++) {
    const RThread& t = threads[i];
    if (overlaps_reserved(t.uc, t.uc + kSigFrameSize) ||
        overlaps_reserved(t.tid_addr, t.tid_addr + 4) ||
        overlaps_reserved(t.rseq_addr, t.rseq_addr + 32))
      die("a thread the restorer refuses", 0, uint64_t(t.tid));
  }
}

const char* path_of(const RMap& m) {
  const char* strings = reinterpret_cast<const char*>(g_meta + g_hdr->strings_off);
  return strings + m.path_off;
}

void map_regions() {
  const RMap* maps = reinterpret_cast<const RMap*>(g_meta + g_hdr->maps_off);
  for (uint32_t i = 0; i < g_hdr->nmaps; i++) {
    const RMap& m = maps[i];
    uint64_t len = m.end - m.start;
    int prot = int(m.prot);
    bool fill = m.flags & kMapHasData;
    bool shared = m.flags & kMapShared;
    if (fill) prot |= kProtRead | kProtWrite;
    long r;
    if (m.flags & kMapAnon) {
      int flags = (shared ? kMapSharedF : kMapPrivateF) | kMapAnonymous | kMapFixed;
      if (m.flags & kMapGrowsDown) flags |= kMapGrowsdown;
      r = sys::call(sys::kMmap, long(m.start), long(len), prot, flags, -1, 0);
    } else if (m.flags & kMapObject) {
      if (m.path_off >= g_hdr->nobjects) die("a shared memory object out of range", 0, m.start);
      r = sys::call(sys::kMmap, long(m.start), long(len), prot, kMapSharedF | kMapFixed,
                    g_obj_base + long(m.path_off), long(m.pgoff));
    } else if (m.flags & kMapSysv) {
      // Attached where it was, over whatever is there (SHM_REMAP); written
      // to when its pages are filled in, then protected as saved.
      long how = kShmRemap | ((prot & kProtWrite) ? 0 : kShmRdonly) | ((prot & 4) ? kShmExec : 0);
      r = sys::call(sys::kShmat, long(m.path_off), long(m.start), how);
      int given = kProtRead | (prot & kProtWrite) | (prot & 4);
      if (r == long(m.start) && !fill && given != int(m.prot)) {
        long p = sys::call(sys::kMprotect, long(m.start), long(len), long(m.prot));
        if (p < 0) die("cannot protect memory", p, m.start);
      }
    } else if (m.flags & kMapMemfd) {
      long fd = sys::call(sys::kMemfdCreate, long("ckpt-shared"), 0);
      if (fd < 0) die("memfd_create failed", fd);
      long t = sys::call(sys::kFtruncate, fd, long(m.pgoff + len));
      if (t < 0) die("cannot size shared memory", t, m.start);
      r = sys::call(sys::kMmap, long(m.start), long(len), prot, kMapSharedF | kMapFixed, fd,
                    long(m.pgoff));
      sys::call(sys::kClose, fd);
    } else {
      const char* path = path_of(m);
      int oflags = (shared && (m.prot & kProtWrite)) ? kORdwr : kORdonly;
      long fd = sys::call(sys::kOpen, long(path), oflags | kOCloexec);
      if (fd < 0) die("cannot open a mapped file", fd, m.start, path);
      int flags = (shared ? kMapSharedF : kMapPrivateF) | kMapFixed;
      r = sys::call(sys::kMmap, long(m.start), long(len), prot, flags, fd, long(m.pgoff));
      sys::call(sys::kClose, fd);
      if (r < 0) die("cannot map a file", r, m.start, path);
    }
    if (r < 0) die("cannot map memory", r, m.start);
    if (uint64_t(r) != m.start) die("memory mapped at the wrong address", 0, m.start);
  }
  const RRun* runs = reinterpret_cast<const RRun*>(g_meta + g_hdr->runs_off);
  for (uint32_t i = 0; i < g_hdr->nruns; i++) {
    uint64_t done = 0;
    // The pages are made in one call before they are filled, not one
    // fault at a time inside the read: a fault is dear in a VM (256 MiB
    // restarted in 1.0 s instead of 1.6-1.8 s here). A kernel without it
    // (before 5.14) says EINVAL and the read faults them in as before.
    sys::call(sys::kMadvise, long(runs[i].addr), long(runs[i].len), kMadvPopulateWrite);
    while (done < runs[i].len) {
      int fd = (runs[i].flags & kRunFromImage) ? g_image_fd : g_args_fd;
      if (fd < 0) die("no image to read saved memory from");
      long r = sys::call(sys::kPread, fd, long(runs[i].addr + done), long(runs[i].len - done),
                         long(runs[i].data_off + done));
      if (r <= 0) die("cannot read saved memory", r, runs[i].addr + done);
      done += uint64_t(r);
    }
  }
  for (uint32_t i = 0; i < g_hdr->nmaps; i++) {
    const RMap& m = maps[i];
    if (!(m.flags & kMapHasData) || int(m.prot) == (int(m.prot) | kProtRead | kProtWrite)) continue;
    long r = sys::call(sys::kMprotect, long(m.start), long(m.end - m.start), long(m.prot));
    if (r < 0) die("cannot protect memory", r, m.start);
  }
}

void place_specials(const uint64_t parked[kSpecialCount]) {
  for (uint32_t k = 1; k < kSpecialCount; k++) {
    const RSpecial& s = g_hdr->special[k];
    if (!parked[k] || !s.end) continue;
    long r = sys::call(sys::kMremap, long(parked[k]), long(s.end - s.start), long(s.end - s.start),
                       kMremapMaymove | kMremapFixed, long(s.start));
    if (r < 0) die("cannot move the vdso back", r, s.start);
  }
}

struct PrctlMmMap {
  uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack, arg_start,
      arg_end, env_start, env_end;
  uint64_t auxv;
  uint32_t auxv_size, exe_fd;
};

void set_mm() {
  PrctlMmMap m;
  const uint64_t* v = g_hdr->mm;
  m.start_code = v[0];
  m.end_code = v[1];
  m.start_data = v[2];
  m.end_data = v[3];
  m.start_brk = v[4];
  m.brk = v[5];
  m.start_stack = v[6];
  m.arg_start = v[7];
  m.arg_end = v[8];
  m.env_start = v[9];
  m.env_end = v[10];
  m.auxv = uint64_t(g_hdr->auxv);
  m.auxv_size = g_hdr->auxv_words * 8;
  m.exe_fd = g_exe_fd < 0 ? ~0u : uint32_t(g_exe_fd);
  long r = sys::call(sys::kPrctl, kPrSetMm, kPrSetMmMap, long(&m), sizeof m, 0);
  if (r < 0 && g_exe_fd >= 0) {
    // Setting the executable needs CAP_CHECKPOINT_RESTORE in our user
    // namespace; without it /proc/self/exe keeps naming the restorer.
    m.exe_fd = ~0u;
    r = sys::call(sys::kPrctl, kPrSetMm, kPrSetMmMap, long(&m), sizeof m, 0);
  }
  if (r < 0) die("prctl(PR_SET_MM_MAP) refused", r);
  if (g_exe_fd >= 0) sys::call(sys::kClose, g_exe_fd);
}

void set_process_state() {
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == 9 || sig == 19) continue;
    KSigaction a = g_hdr->actions[sig];
    long r = sys::call(sys::kRtSigaction, sig, long(&a), 0, 8);
    if (r < 0 && sig != 32 && sig != 33) die("cannot restore a signal action", r, uint64_t(sig));
  }
  for (int which = 0; which < 3; which++) {
    long it[4];
    for (int j = 0; j < 4; j++) it[j] = long(g_hdr->itimers[which][j]);
    if (it[0] || it[1] || it[2] || it[3]) {
      long r = sys::call(sys::kSetitimer, which, long(it), 0);
      if (r < 0) die("cannot restore an interval timer", r);
    }
  }
  const int32_t* fds = reinterpret_cast<const int32_t*>(g_meta + g_hdr->cloexec_off);
  for (uint32_t i = 0; i < g_hdr->ncloexec; i++) sys::call(sys::kFcntl, fds[i], 2 /*F_SETFD*/, 1);
}

// Per-thread fix-ups the kernel keeps per task, then back into the program.
[[noreturn]] void finish_thread(RThread t, bool main_thread) {
  if (main_thread) {
    sys::call(sys::kArchPrctl, 0x1002 /*ARCH_SET_FS*/, long(t.fs));
    sys::call(sys::kSetTidAddress, long(t.tid_addr));
    if (t.tid_addr && !(g_hdr->flags & kArgsSetTid))
      *reinterpret_cast<volatile int32_t*>(t.tid_addr) = int32_t(sys::call(sys::kGettid));
  }
  if (t.robust_head) sys::call(sys::kSetRobustList, long(t.robust_head), long(t.robust_len));
  if (t.rseq_addr) {
    // cpu_id_start, cpu_id: stale until the kernel writes them on return.
    volatile uint32_t* area = reinterpret_cast<volatile uint32_t*>(t.rseq_addr);
    area[1] = uint32_t(-1);
    *reinterpret_cast<volatile uint64_t*>(t.rseq_addr + 8) = 0;  // rseq_cs
    long r = sys::call(sys::kRseq, long(t.rseq_addr), long(t.rseq_len), 0, long(t.rseq_sig));
    if (r < 0) area[1] = uint32_t(-2);  // RSEQ_CPU_ID_REGISTRATION_FAILED: glibc falls back
  }
  if (g_drop_caps) {
    // Capabilities are per thread: each one gives up what the restorer needed.
    sys::call(sys::kPrctl, 47 /*PR_CAP_AMBIENT*/, 4 /*CLEAR_ALL*/, 0, 0, 0);
    struct {
      uint32_t version;
      int pid;
    } hdr = {kCapVersion, 0};
    uint32_t data[6] = {};
    sys::call(sys::kCapset, long(&hdr), long(data));
  }
  restorer_sigreturn(t.uc);
}

void thread_start(void* arg) {
  RThread t = *static_cast<const RThread*>(arg);
  __atomic_fetch_add(&g_started, 1, __ATOMIC_ACQ_REL);
  finish_thread(t, false);
}

struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};

int32_t g_new_tids[kMaxThreads];

void start_threads(const RThread* threads, uint32_t n) {
  for (uint32_t i = 1; i < n; i++) {
    uint64_t stack = kStackArea + uint64_t(i) * kThreadStack;
    if (stack + kThreadStack > kRestorerBase + kReservedSize) die("too many threads");
    long r = sys::call(sys::kMmap, long(stack), long(kThreadStack), kProtRead | kProtWrite,
                       kMapPrivateF | kMapAnonymous | kMapFixedNoreplace, -1, 0);
    if (r < 0) die("cannot map a thread stack", r, stack);
    const RThread& t = threads[i];
    unsigned long flags = kCloneVm | kCloneFs | kCloneFiles | kCloneSighand | kCloneThread |
                          kCloneSysvsem | kCloneSettls | kCloneParentSettid | kCloneChildCleartid;
    if (g_hdr->flags & kArgsSetTid) {
      CloneArgs ca = {};
      uint64_t tid = uint64_t(t.tid);
      ca.flags = flags;
      ca.child_tid = t.tid_addr;
      ca.parent_tid = t.tid_addr;
      ca.stack = stack;
      ca.stack_size = kThreadStack - 64;
      ca.tls = t.fs;
      ca.set_tid = uint64_t(&tid);
      ca.set_tid_size = 1;
      r = restorer_clone3(&ca, sizeof ca, thread_start, const_cast<RThread*>(&t));
    } else {
      r = restorer_clone(flags, reinterpret_cast<void*>(stack + kThreadStack),
                         reinterpret_cast<int*>(t.tid_addr), reinterpret_cast<int*>(t.tid_addr),
                         t.fs, thread_start, const_cast<RThread*>(&t));
    }
    if (r < 0) die("cannot create a thread", r, uint64_t(t.tid));
    g_new_tids[i] = int32_t(r);  // n <= kMaxThreads: checked in restorer_main
  }
  while (__atomic_load_n(&g_started, __ATOMIC_ACQUIRE) != int(n - 1)) sys::call(sys::kSchedYield);
}

// Signals that were pending at the checkpoint are raised again: they stay
// pending, as before, until the program unblocks them.
void raise_pending(uint32_t n) {
  long pid = sys::call(sys::kGetpid);
  g_new_tids[0] = int32_t(sys::call(sys::kGettid));
  const uint64_t* per_thread =
      reinterpret_cast<const uint64_t*>(g_meta + g_hdr->thread_pending_off);
  for (uint32_t i = 0; i < n; i++)
    for (int sig = 1; sig <= 64; sig++)
      if (per_thread[i] >> (sig - 1) & 1) sys::call(sys::kTgkill, pid, g_new_tids[i], sig);
  for (int sig = 1; sig <= 64; sig++)
    if (g_hdr->sigpending >> (sig - 1) & 1) sys::call(sys::kKill, pid, sig);
}

}  // namespace

extern "C" [[noreturn]] void restorer_main(long* sp) {
  uint64_t all = ~0ull;
  sys::call(sys::kRtSigprocmask, 2 /*SIG_SETMASK*/, long(&all), 0, 8);
  long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  if (argc != 8)
    die("usage: ckpt-restore ARGS_FD ERR_FD EXE_FD IMAGE_FD OBJ_BASE READY_FD GO_FD (run by "
        "`ckpt restart`)");
  g_exe_fd = int(parse_dec(argv[3]));
  g_image_fd = int(parse_dec(argv[4]));
  g_obj_base = parse_dec(argv[5]);
  long ready_fd = parse_dec(argv[6]);
  long go_fd = parse_dec(argv[7]);
  long args_fd = parse_dec(argv[1]);
  long err_fd = parse_dec(argv[2]);
  if (args_fd < 0 || err_fd < 0) die("bad descriptor arguments");
  g_err_fd = int(err_fd);
  g_args_fd = int(args_fd);

  static RHeader hdr;
  long r = sys::call(sys::kPread, args_fd, long(&hdr), sizeof hdr, 0);
  if (r != long(sizeof hdr)) die("cannot read the argument block", r);
  if (hdr.magic != kArgsMagic || hdr.version != kArgsVersion)
    die("the argument block is not from this ckpt version");
  g_hdr = &hdr;
  g_drop_caps = hdr.flags & kArgsDropCaps;
  uint64_t meta_len = (hdr.meta_size + kPage - 1) & ~(kPage - 1);
  if (meta_len == 0 || meta_len > kMaxMeta) die("bad argument block size");
  r = sys::call(sys::kMmap, long(kArgsArea), long(meta_len), kProtRead,
                kMapPrivateF | kMapFixedNoreplace, args_fd, long(hdr.meta_off));
  if (r < 0) die("cannot map the argument block", r);
  g_meta = reinterpret_cast<const uint8_t*>(kArgsArea);
  if (hdr.maps_off + uint64_t(hdr.nmaps) * sizeof(RMap) > hdr.meta_size ||
      hdr.threads_off + uint64_t(hdr.nthreads) * sizeof(RThread) > hdr.meta_size ||
      hdr.runs_off + uint64_t(hdr.nruns) * sizeof(RRun) > hdr.meta_size ||
      hdr.cloexec_off + uint64_t(hdr.ncloexec) * 4 > hdr.meta_size ||
      hdr.thread_pending_off + uint64_t(hdr.nthreads) * 8 > hdr.meta_size || hdr.nthreads == 0 ||
      hdr.nthreads > kMaxThreads)
    die("inconsistent argument block");
  check_block();
  read_own_maps();
  uint64_t parked[kSpecialCount] = {};
  park_specials(parked);
  unmap_others();
  if (g_exe_fd >= 0) detach_from_own_file();
  map_regions();
  if (g_image_fd >= 0) sys::call(sys::kClose, g_image_fd);
  place_specials(parked);
  for (uint32_t k = 0; k < hdr.nobjects; k++) sys::call(sys::kClose, g_obj_base + long(k));
  set_mm();
  set_process_state();
  // The job's barrier: every process's memory is in place before any runs.
  if (ready_fd >= 0 && go_fd >= 0) {
    char c = 'r';
    if (sys::call(sys::kWrite, ready_fd, long(&c), 1) != 1) die("the job's barrier failed");
    while (sys::call(sys::kRead, go_fd, long(&c), 1) > 0) {
    }
  }
  if (ready_fd >= 0) sys::call(sys::kClose, ready_fd);
  if (go_fd >= 0) sys::call(sys::kClose, go_fd);

  const RThread* threads = reinterpret_cast<const RThread*>(g_meta + hdr.threads_off);
  start_threads(threads, hdr.nthreads);
  raise_pending(hdr.nthreads);
  RThread main_thread = threads[0];
  sys::call(sys::kClose, args_fd);
  sys::call(sys::kClose, err_fd);
  sys::call(sys::kMunmap, long(kArgsArea), long(meta_len));
  finish_thread(main_thread, true);
}
