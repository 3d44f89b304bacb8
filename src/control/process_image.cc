#include "control/process_image.h"

#include "base/endian.h"

namespace ckpt::control {
namespace {

class Enc {
 public:
  void u32(uint32_t v) {
    uint8_t b[4];
    put_u32(b, v);
    out.insert(out.end(), b, b + 4);
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    put_u64(b, v);
    out.insert(out.end(), b, b + 8);
  }
  void str(const std::string& s) {
    u32(uint32_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  void bytes(const std::string& s) { str(s); }
  std::vector<uint8_t> out;
};

class Dec {
 public:
  explicit Dec(const std::vector<uint8_t>& in) : p_(in.data()), end_(in.data() + in.size()) {}
  uint32_t u32() {
    if (end_ - p_ < 4) return fail();
    uint32_t v = get_u32(p_);
    p_ += 4;
    return v;
  }
  uint64_t u64() {
    if (end_ - p_ < 8) return fail();
    uint64_t v = get_u64(p_);
    p_ += 8;
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (!ok_ || uint64_t(end_ - p_) < n || n > 65536) {
      fail();
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // Like str, with a cap of 1 MiB (queued bytes).
  std::string bytes() {
    uint32_t n = u32();
    if (!ok_ || uint64_t(end_ - p_) < n || n > (1u << 20)) {
      fail();
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // Extra trailing bytes are allowed: newer writers may append fields.
  bool ok() const { return ok_; }
  bool more() const { return p_ < end_; }

 private:
  uint32_t fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

void put_slot(Enc& e, const inject::ThreadSlot& s) {
  e.u32(uint32_t(s.tid));
  e.u64(s.uc);
  e.u64(s.fs);
  e.u64(s.tid_addr);
  e.u64(s.robust_head);
  e.u64(s.robust_len);
  e.u64(s.rseq_addr);
  e.u32(s.rseq_len);
  e.u32(s.rseq_sig);
}

void get_slot(Dec& d, inject::ThreadSlot* s) {
  s->tid = int32_t(d.u32());
  s->uc = d.u64();
  s->fs = d.u64();
  s->tid_addr = d.u64();
  s->robust_head = d.u64();
  s->robust_len = d.u64();
  s->rseq_addr = d.u64();
  s->rseq_len = d.u32();
  s->rseq_sig = d.u32();
}

}  // namespace

std::vector<uint8_t> encode(const ProcInfo& v) {
  Enc e;
  e.u32(v.format_version);
  e.u32(v.uid);
  e.u32(uint32_t(v.pid));
  e.u32(v.signal);
  e.u64(v.block_addr);
  e.u32(v.seq);
  e.u32(v.pid_ns);
  for (uint64_t x : v.mm) e.u64(x);
  e.u32(v.umask);
  e.str(v.cwd);
  e.str(v.exe);
  e.u64(v.exe_ino);
  e.u64(v.exe_size);
  e.u64(v.exe_mtime_ns);
  for (int i = 1; i <= 64; i++) {
    e.u64(v.actions[i].handler);
    e.u64(v.actions[i].flags);
    e.u64(v.actions[i].restorer);
    e.u64(v.actions[i].mask);
  }
  for (auto& t : v.itimers)
    for (uint64_t x : t) e.u64(x);
  for (auto& r : v.rlimits) {
    e.u64(r[0]);
    e.u64(r[1]);
  }
  e.u64(v.sigpending);
  e.u32(uint32_t(v.auxv.size()));
  for (uint64_t x : v.auxv) e.u64(x);
  return e.out;
}

bool decode(const std::vector<uint8_t>& in, ProcInfo* v) {
  Dec d(in);
  v->format_version = d.u32();
  v->uid = d.u32();
  v->pid = int32_t(d.u32());
  v->signal = d.u32();
  v->block_addr = d.u64();
  v->seq = d.u32();
  v->pid_ns = d.u32();
  for (uint64_t& x : v->mm) x = d.u64();
  v->umask = d.u32();
  v->cwd = d.str();
  v->exe = d.str();
  v->exe_ino = d.u64();
  v->exe_size = d.u64();
  v->exe_mtime_ns = d.u64();
  for (int i = 1; i <= 64; i++) {
    v->actions[i].handler = d.u64();
    v->actions[i].flags = d.u64();
    v->actions[i].restorer = d.u64();
    v->actions[i].mask = d.u64();
  }
  for (auto& t : v->itimers)
    for (uint64_t& x : t) x = d.u64();
  for (auto& r : v->rlimits) {
    r[0] = d.u64();
    r[1] = d.u64();
  }
  v->sigpending = d.u64();
  uint32_t n = d.u32();
  if (n > 128) return false;
  v->auxv.resize(n);
  for (uint64_t& x : v->auxv) x = d.u64();
  return d.ok() && v->format_version == kProcFormatVersion;
}

std::vector<uint8_t> encode(const ThreadInfo& v) {
  Enc e;
  put_slot(e, v.slot);
  e.u64(v.sigpending);
  return e.out;
}

bool decode(const std::vector<uint8_t>& in, ThreadInfo* v) {
  Dec d(in);
  get_slot(d, &v->slot);
  v->sigpending = d.u64();
  return d.ok();
}

std::vector<uint8_t> encode(const MappingInfo& v) {
  Enc e;
  e.u64(v.start);
  e.u64(v.end);
  e.u64(v.pgoff);
  e.u32(v.prot);
  e.u32(v.flags);
  e.u32(uint32_t(v.kind));
  e.u32(v.special);
  e.u64(v.dev);
  e.u64(v.ino);
  e.u64(v.size);
  e.u64(v.mtime_ns);
  e.str(v.path);
  return e.out;
}

bool decode(const std::vector<uint8_t>& in, MappingInfo* v) {
  Dec d(in);
  v->start = d.u64();
  v->end = d.u64();
  v->pgoff = d.u64();
  v->prot = d.u32();
  v->flags = d.u32();
  v->kind = MapKind(d.u32());
  v->special = d.u32();
  v->dev = d.u64();
  v->ino = d.u64();
  v->size = d.u64();
  v->mtime_ns = d.u64();
  v->path = d.str();
  return d.ok() && v->start < v->end && (v->start & 4095) == 0 && (v->end & 4095) == 0 &&
         v->end <= (1ull << 47) && uint32_t(v->kind) >= 1 && uint32_t(v->kind) <= 4;
}

std::vector<uint8_t> encode(const PagesInfo& v) {
  Enc e;
  e.u64(v.addr);
  e.u64(v.len);
  return e.out;
}

bool decode(const std::vector<uint8_t>& in, PagesInfo* v) {
  Dec d(in);
  v->addr = d.u64();
  v->len = d.u64();
  return d.ok() && (v->addr & 4095) == 0 && (v->len & 4095) == 0 && v->len > 0 &&
         v->addr + v->len <= (1ull << 47) && v->addr + v->len > v->addr;
}

std::vector<uint8_t> encode(const FdInfo& v) {
  Enc e;
  e.u32(uint32_t(v.fd));
  e.u32(uint32_t(v.kind));
  e.u32(v.open_flags);
  e.u32(v.cloexec);
  e.u64(v.pos);
  e.u64(v.size);
  e.u64(v.dev);
  e.u64(v.ino);
  e.str(v.path);
  e.str(v.fdinfo);
  e.u64(v.peer);
  e.u32(v.sock_type);
  e.u32(uint32_t(v.queued.size()));
  for (const std::string& q : v.queued) e.bytes(q);
  e.u32(v.sock_family);
  e.u32(v.sock_state);
  e.str(v.addr);
  return e.out;
}

bool decode(const std::vector<uint8_t>& in, FdInfo* v) {
  Dec d(in);
  v->fd = int32_t(d.u32());
  v->kind = FdKind(d.u32());
  v->open_flags = d.u32();
  v->cloexec = d.u32();
  v->pos = d.u64();
  v->size = d.u64();
  v->dev = d.u64();
  v->ino = d.u64();
  v->path = d.str();
  if (d.more()) v->fdinfo = d.str();
  if (d.more()) {
    v->peer = d.u64();
    v->sock_type = d.u32();
    uint32_t n = d.u32();
    if (n > (1u << 16)) return false;
    for (uint32_t k = 0; k < n && d.ok(); k++) v->queued.push_back(d.bytes());
    v->sock_family = d.u32();
    v->sock_state = d.u32();
    v->addr = d.str();
  }
  // Only stdin, stdout and stderr are inherited (exec_restorer takes them from its own).
  return d.ok() && v->fd >= 0 && v->fd < 1 << 20 && uint32_t(v->kind) >= 1 &&
         uint32_t(v->kind) <= 11 && (v->kind != FdKind::kInherited || v->fd <= 2);
}

}  // namespace ckpt::control
