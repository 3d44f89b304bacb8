#include "control/process.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>

#include "control/identity.h"
#include "control/memory.h"
#include "control/procfs.h"
#include "restore/restore_abi.h"

namespace ckpt::control {
namespace {

uint64_t parse_hex_u64(const std::string& s) {
  return s.empty() ? 0 : std::strtoull(s.c_str(), nullptr, 16);
}

// The block symbol's offset from the library's load address, read once per
// library file from its dynamic symbol table; 0 if not found.
uint64_t block_offset(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, uint64_t> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  uint64_t found = 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (64 << 20)) {
    std::string elf(size_t(st.st_size), '\0');
    if (::pread(fd, elf.data(), elf.size(), 0) == ssize_t(elf.size()) &&
        elf.size() > sizeof(Elf64_Ehdr)) {
      Elf64_Ehdr eh;
      std::memcpy(&eh, elf.data(), sizeof eh);
      auto section = [&](size_t i, Elf64_Shdr* sh) {
        uint64_t at = eh.e_shoff + uint64_t(i) * sizeof(Elf64_Shdr);
        if (at + sizeof *sh > elf.size()) return false;
        std::memcpy(sh, elf.data() + at, sizeof *sh);
        return sh->sh_offset + sh->sh_size <= elf.size();
      };
      uint64_t first_load = ~0ull;
      for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        uint64_t at = eh.e_phoff + uint64_t(i) * sizeof ph;
        if (at + sizeof ph > elf.size()) break;
        std::memcpy(&ph, elf.data() + at, sizeof ph);
        if (ph.p_type == PT_LOAD)
          first_load = std::min<uint64_t>(first_load, ph.p_vaddr & ~4095ull);
      }
      for (size_t i = 0; i < eh.e_shnum && !found; i++) {
        Elf64_Shdr sh, strs;
        if (!section(i, &sh) || sh.sh_type != SHT_DYNSYM || !section(sh.sh_link, &strs)) continue;
        for (uint64_t k = 0; k + sizeof(Elf64_Sym) <= sh.sh_size; k += sizeof(Elf64_Sym)) {
          Elf64_Sym sym;
          std::memcpy(&sym, elf.data() + sh.sh_offset + k, sizeof sym);
          if (sym.st_name >= strs.sh_size || sym.st_shndx == SHN_UNDEF) continue;
          const char* name = elf.data() + strs.sh_offset + sym.st_name;
          size_t room = strs.sh_size - sym.st_name;
          if (strnlen(name, room) < room && std::strcmp(name, inject::kBlockSymbol) == 0 &&
              first_load != ~0ull) {
            found = sym.st_value - first_load;
            break;
          }
        }
      }
    }
  }
  if (fd >= 0) ::close(fd);
  cache[path] = found;
  return found;
}

}  // namespace

Status find_block(pid_t pid, uint64_t* addr) {
  *addr = 0;
  std::vector<MapLine> maps;
  CKPT_RETURN_IF_ERROR(read_maps(pid, &maps));
  for (const MapLine& m : maps) {
    if (m.pgoff != 0 || !m.path.ends_with("/libckpt-inject.so")) continue;
    uint64_t off = block_offset(m.path);
    if (!off) continue;
    uint64_t magic = 0;
    uint32_t version = 0;
    if (!mem_read(pid, m.start + off, &magic, 8).is_ok() ||
        !mem_read(pid, m.start + off + 8, &version, 4).is_ok() || magic != inject::kBlockMagic)
      continue;  // loaded, not initialised yet
    if (version != inject::kBlockVersion)
      return Status::make(Code::kUnsupported, 0,
                          "the job runs another version of ckpt's library (block version %u)",
                          version);
    *addr = m.start + off;
    return Status::ok();
  }
  return Status::make(Code::kNotFound, 0, "ckpt's library is not loaded");
}

bool in_restorer(const Seized& seized) {
  for (const StoppedThread& th : const_cast<Seized&>(seized).threads()) {
    auto inside = [](uint64_t a) {
      return a >= restore::kRestorerBase && a < restore::kRestorerBase + restore::kReservedSize;
    };
    if (inside(th.regs.rip) || inside(th.regs.rsp)) return true;
  }
  return false;
}

namespace {

// One parasite entry started in one thread of each process of `list` that
// has one (thread index `which`; -1: the process entry, in thread 0), then
// each waited for; state[k] holds what became of process k.
void run_entries(const std::vector<ToRecord>& list, std::vector<Status>& state, int which,
                 pid_t watch) {
  std::vector<Status> started(list.size());
  std::vector<bool> ran(list.size(), false);
  for (size_t k = 0; k < list.size(); k++) {
    std::vector<StoppedThread>& th = list[k].seized->threads();
    if (!state[k].is_ok() || (which >= 0 && size_t(which) >= th.size())) continue;
    const inject::Block& b = *list[k].out->block;
    uint64_t entry = which >= 0 ? b.parasite_thread : b.parasite_process;
    uint64_t arg =
        which >= 0 ? uint64_t(which) : (list[k].want_copy ? 1 | uint64_t(uint32_t(watch)) << 1 : 0);
    StoppedThread& t = th[which >= 0 ? size_t(which) : 0];
    started[k] = list[k].seized->start(t, entry, arg, b.parasite_stack_top, b.parasite_trap);
    ran[k] = true;
  }
  for (size_t k = 0; k < list.size(); k++) {
    if (!ran[k]) continue;
    std::vector<StoppedThread>& th = list[k].seized->threads();
    int64_t ret = 0;
    StoppedThread& t = th[which >= 0 ? size_t(which) : 0];
    Status s =
        list[k].seized->finish(t, list[k].out->block->parasite_trap, std::move(started[k]), &ret);
    if (s.is_ok() && ret != 0)
      s = Status::make(Code::kIo, 0, "thread %d could not record its state", int(t.tid));
    state[k] = std::move(s);
  }
}

}  // namespace

Status record_processes(const std::vector<ToRecord>& list, pid_t watch, SyscallMemo* memo) {
  std::vector<Status> state(list.size());
  size_t most = 0;
  for (size_t k = 0; k < list.size(); k++) {
    const ToRecord& p = list[k];
    Recorded* out = p.out;
    Status& s = state[k];
    s = find_block(p.pid, &out->block_addr);
    // Not value-initialised: the block is 370 KiB, mostly slots for 4096
    // threads, and zeroing it cost 1-2 ms per process. Only the header and
    // the slots of the threads stopped are read into it and used.
    out->block.reset(new inject::Block);
    inject::Block* block = out->block.get();
    std::memset(block, 0, inject::kBlockHeaderSize);
    if (s.is_ok()) s = mem_read(p.pid, out->block_addr, block, inject::kBlockHeaderSize);
    if (s.is_ok() &&
        (block->magic != inject::kBlockMagic || block->version != inject::kBlockVersion))
      s = Status::make(Code::kUnsupported, 0,
                       "the program's injected library does not answer (version mismatch?)");
    if (s.is_ok() && p.seized->threads().size() > size_t(inject::kMaxThreads))
      s = Status::make(Code::kUnsupported, 0, "more than %d threads", inject::kMaxThreads);
    out->seq = block->request_seq + 1;
    if (s.is_ok())
      s = mem_write(p.pid, out->block_addr + offsetof(inject::Block, request_seq), &out->seq, 4);
    if (s.is_ok()) most = std::max(most, p.seized->threads().size());
  }
  for (size_t i = 0; i < most; i++) run_entries(list, state, int(i), watch);
  // The process entries (the frozen copies are forked here).
  std::vector<bool> ready(list.size());
  for (size_t k = 0; k < list.size(); k++) ready[k] = state[k].is_ok();
  run_entries(list, state, -1, watch);
  Status first = Status::ok();
  for (size_t k = 0; k < list.size(); k++) {
    const ToRecord& p = list[k];
    Status& s = state[k];
    std::vector<StoppedThread>& th = p.seized->threads();
    inject::Block* block = p.out->block.get();
    // The block as the entries left it (fork_pid), read even after a
    // failure so that a copy made is not forgotten.
    size_t n = inject::kBlockHeaderSize + th.size() * sizeof(inject::ThreadSlot);
    if (ready[k]) {
      Status r = mem_read(p.pid, p.out->block_addr, block, n);
      if (!r.is_ok()) block->fork_pid = 0;
      if (s.is_ok()) s = std::move(r);
    } else {
      block->fork_pid = 0;
    }
    if (!s.is_ok()) {
      if (first.is_ok()) first = std::move(s);
      continue;
    }
    block->slots_used = uint32_t(th.size());
    SyscallMemo seen;
    for (size_t i = 0; i < th.size(); i++) {
      inject::ThreadSlot& slot = block->slots[i];
      const user_regs_struct& r = th[i].regs;
      long known = -1;
      auto it = memo->find(th[i].tid);
      if (it != memo->end() && it->second.rip == r.rip) known = it->second.nr;
      if (long(r.orig_rax) >= 0)
        seen[th[i].tid] = LastSyscall{r.rip, long(r.orig_rax) == 219 ? known : long(r.orig_rax)};
      SignalFrame f;
      Status b = build_frame(restart_regs(r, known), th[i].xstate, th[i].sigmask, slot.ss_sp,
                             slot.ss_flags, slot.ss_size, &f);
      if (!b.is_ok()) {
        if (first.is_ok()) first = std::move(b);
        break;
      }
      slot.uc = f.uc;
      p.out->frames.push_back(std::move(f));
    }
    for (auto& [tid, call] : seen) (*memo)[tid] = call;
  }
  return first;
}

Status gather_info(pid_t pid, bool pid_ns, const Recorded& r, ProcInfo* pi,
                   std::vector<ThreadInfo>* threads) {
  const inject::Block& b = *r.block;
  std::string base = "/proc/" + std::to_string(pid);
  pi->uid = ::getuid();
  pi->pid = inner_pid(base + "/status");
  if (pi->pid <= 0) pi->pid = pid;
  pi->signal = b.signal;
  pi->block_addr = r.block_addr;
  pi->seq = r.seq;
  pi->pid_ns = pid_ns ? 1 : 0;
  std::vector<std::string> f;
  CKPT_RETURN_IF_ERROR(read_stat_fields(pid, &f));
  if (f.size() < 52) return Status::make(Code::kIo, 0, "short /proc/%d/stat", int(pid));
  auto num = [&](int i) { return uint64_t(std::strtoull(f[size_t(i)].c_str(), nullptr, 10)); };
  // start_code end_code start_data end_data start_brk brk start_stack arg_start arg_end env_start
  // env_end
  pi->mm[0] = num(26);
  pi->mm[1] = num(27);
  pi->mm[2] = num(45);
  pi->mm[3] = num(46);
  pi->mm[4] = num(47);
  pi->mm[5] = b.brk;
  pi->mm[6] = num(28);
  pi->mm[7] = num(48);
  pi->mm[8] = num(49);
  pi->mm[9] = num(50);
  pi->mm[10] = num(51);
  std::string um = status_field(base + "/status", "Umask");
  pi->umask = uint32_t(std::strtoul(um.c_str(), nullptr, 8));
  char buf[4096];
  ssize_t n = ::readlink((base + "/cwd").c_str(), buf, sizeof buf - 1);
  if (n < 0) return Status::make(Code::kIo, errno, "cannot read the program's working directory");
  pi->cwd.assign(buf, size_t(n));
  n = ::readlink((base + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) pi->exe.assign(buf, size_t(n));
  struct stat st;
  if (!pi->exe.empty() && ::stat(pi->exe.c_str(), &st) == 0) {
    pi->exe_ino = st.st_ino;
    pi->exe_size = uint64_t(st.st_size);
    pi->exe_mtime_ns = mtime_ns(st);
    if (uint64_t(st.st_size) <= kMaxHashed)
      hash_file(pi->exe, st, &pi->has_exe_hash, &pi->exe_hash);
  }
  std::memcpy(pi->actions, b.actions, sizeof pi->actions);
  std::memcpy(pi->itimers, b.itimers, sizeof pi->itimers);
  for (int r = 0; r < 16; r++) {
    struct rlimit rl;
    if (::prlimit(pid, __rlimit_resource(r), nullptr, &rl) == 0) {
      pi->rlimits[r][0] = rl.rlim_cur;
      pi->rlimits[r][1] = rl.rlim_max;
    } else {
      pi->rlimits[r][0] = pi->rlimits[r][1] = RLIM_INFINITY;
    }
  }
  pi->sigpending = parse_hex_u64(status_field(base + "/status", "ShdPnd"));
  std::string auxv;
  CKPT_RETURN_IF_ERROR(read_text(base + "/auxv", &auxv));
  for (size_t i = 0; i + 8 <= auxv.size() && pi->auxv.size() < 128; i += 8) {
    uint64_t w;
    std::memcpy(&w, auxv.data() + i, 8);
    pi->auxv.push_back(w);
  }
  for (uint32_t i = 0; i < b.slots_used; i++) {
    ThreadInfo ti;
    ti.slot = b.slots[i];
    if (ti.slot.seq != r.seq) return Status::make(Code::kIo, 0, "a thread's record is incomplete");
    threads->push_back(ti);
  }
  // Signals pending for one thread (it blocks them), found by its tid as the
  // program sees it (NSpid's last field).
  for (pid_t outer : list_tasks(pid)) {
    std::string st = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(outer) + "/status";
    int inner = inner_pid(st);
    uint64_t pending = parse_hex_u64(status_field(st, "SigPnd"));
    for (ThreadInfo& ti : *threads)
      if (ti.slot.tid == inner) ti.sigpending = pending;
  }
  // The main thread first.
  auto main_it = std::find_if(threads->begin(), threads->end(),
                              [&](const ThreadInfo& x) { return x.slot.tid == pi->pid; });
  if (main_it == threads->end())
    return Status::make(Code::kUnsupported, 0,
                        "the program's main thread has exited; such programs are not supported");
  std::iter_swap(threads->begin(), main_it);

  return Status::ok();
}

}  // namespace ckpt::control
