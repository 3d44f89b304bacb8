#include "control/process_image.h"

#include "base/endian.h"

namespace ckpt::control {
namespace {

constexpr uint32_t kMaxString = 65536;  // docs/process-image.md: str

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

// Reads fields in order; the first one that does not fit (or that a check
// rejects) is remembered by name, so an error says which field was bad.
class Dec {
 public:
  Dec(const std::vector<uint8_t>& in, const char* record)
      : p_(in.data()), end_(in.data() + in.size()), record_(record) {}
  uint32_t u32(const char* field) {
    if (end_ - p_ < 4) return fail(field);
    uint32_t v = get_u32(p_);
    p_ += 4;
    return v;
  }
  uint64_t u64(const char* field) {
    if (end_ - p_ < 8) return fail(field);
    uint64_t v = get_u64(p_);
    p_ += 8;
    return v;
  }
  std::string str(const char* field) {
    uint32_t n = u32(field);
    if (bad_ || uint64_t(end_ - p_) < n || n > kMaxString) {
      fail(field);
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // Like str, with a cap of 1 MiB (queued bytes).
  std::string bytes(const char* field) {
    uint32_t n = u32(field);
    if (bad_ || uint64_t(end_ - p_) < n || n > (1u << 20)) {
      fail(field);
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  bool ok() const { return !bad_; }
  // A value that was read but is impossible.
  void check(bool ok, const char* field) {
    if (!ok) fail(field);
  }
  // Extra trailing bytes are allowed: newer writers may append fields.
  bool more() const { return p_ < end_; }
  Status status() const {
    if (!bad_) return Status::ok();
    return Status::make(Code::kCorrupt, 0, "bad %s record (field %s)", record_, bad_);
  }

 private:
  uint32_t fail(const char* field) {
    if (!bad_) bad_ = field;
    p_ = end_;
    return 0;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  const char* record_;
  const char* bad_ = nullptr;
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
  s->tid = int32_t(d.u32("tid"));
  s->uc = d.u64("uc");
  s->fs = d.u64("fs");
  s->tid_addr = d.u64("tid_addr");
  s->robust_head = d.u64("robust_head");
  s->robust_len = d.u64("robust_len");
  s->rseq_addr = d.u64("rseq_addr");
  s->rseq_len = d.u32("rseq_len");
  s->rseq_sig = d.u32("rseq_sig");
}

}  // namespace

std::vector<uint8_t> encode(const JobInfo& v) {
  Enc e;
  e.u32(v.version);
  e.u32(v.pid_ns);
  e.u32(uint32_t(v.root));
  e.u32(v.processes);
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, JobInfo* v) {
  Dec d(in, "job");
  v->version = d.u32("version");
  d.check(v->version == 1, "version");
  v->pid_ns = d.u32("pid_ns");
  d.check(v->pid_ns <= 1, "pid_ns");
  v->root = int32_t(d.u32("root"));
  d.check(v->root > 0 && v->root <= (1 << 22), "root");
  v->processes = d.u32("processes");
  d.check(v->processes >= 1 && v->processes <= 65536, "processes");
  return d.status();
}

std::vector<uint8_t> encode(const TaskInfo& v) {
  Enc e;
  e.u32(uint32_t(v.pid));
  e.u32(uint32_t(v.ppid));
  e.u32(uint32_t(v.pgid));
  e.u32(uint32_t(v.sid));
  e.u32(uint32_t(v.state));
  e.u32(uint32_t(v.exit_status));
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, TaskInfo* v) {
  Dec d(in, "task");
  constexpr int32_t kMaxPid = 1 << 22;  // pid_max's ceiling
  v->pid = int32_t(d.u32("pid"));
  d.check(v->pid > 0 && v->pid <= kMaxPid, "pid");
  v->ppid = int32_t(d.u32("ppid"));
  d.check(v->ppid >= 0 && v->ppid <= kMaxPid, "ppid");
  v->pgid = int32_t(d.u32("pgid"));
  d.check(v->pgid >= 0 && v->pgid <= kMaxPid, "pgid");
  v->sid = int32_t(d.u32("sid"));
  d.check(v->sid >= 0 && v->sid <= kMaxPid, "sid");
  uint32_t state = d.u32("state");
  d.check(state == 1 || state == 2, "state");
  v->state = TaskState(state);
  v->exit_status = int32_t(d.u32("exit_status"));
  d.check(v->exit_status >= 0 && v->exit_status <= 0xffff, "exit_status");
  return d.status();
}

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
  if (v.has_exe_hash) {
    e.u64(v.exe_hash.hi);
    e.u64(v.exe_hash.lo);
  }
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, ProcInfo* v) {
  Dec d(in, "process");
  v->format_version = d.u32("format_version");
  d.check(v->format_version == kProcFormatVersion, "format_version");
  v->uid = d.u32("uid");
  v->pid = int32_t(d.u32("pid"));
  v->signal = d.u32("signal");
  v->block_addr = d.u64("block_addr");
  v->seq = d.u32("seq");
  v->pid_ns = d.u32("pid_ns");
  for (uint64_t& x : v->mm) x = d.u64("mm");
  v->umask = d.u32("umask");
  v->cwd = d.str("cwd");
  v->exe = d.str("exe");
  v->exe_ino = d.u64("exe_ino");
  v->exe_size = d.u64("exe_size");
  v->exe_mtime_ns = d.u64("exe_mtime_ns");
  for (int i = 1; i <= 64; i++) {
    v->actions[i].handler = d.u64("actions");
    v->actions[i].flags = d.u64("actions");
    v->actions[i].restorer = d.u64("actions");
    v->actions[i].mask = d.u64("actions");
  }
  for (auto& t : v->itimers)
    for (uint64_t& x : t) x = d.u64("itimers");
  for (auto& r : v->rlimits) {
    r[0] = d.u64("rlimits");
    r[1] = d.u64("rlimits");
  }
  v->sigpending = d.u64("sigpending");
  uint32_t n = d.u32("auxv_words");
  d.check(n <= 128, "auxv_words");
  v->auxv.resize(n <= 128 ? n : 0);
  for (uint64_t& x : v->auxv) x = d.u64("auxv");
  v->has_exe_hash = d.more();
  if (v->has_exe_hash) {
    v->exe_hash.hi = d.u64("exe_hash");
    v->exe_hash.lo = d.u64("exe_hash");
  }
  return d.status();
}

std::vector<uint8_t> encode(const ThreadInfo& v) {
  Enc e;
  put_slot(e, v.slot);
  e.u64(v.sigpending);
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, ThreadInfo* v) {
  Dec d(in, "thread");
  get_slot(d, &v->slot);
  v->sigpending = d.u64("sigpending");
  return d.status();
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
  if (v.has_hash || v.object) {
    e.u64(v.has_hash ? v.hash.hi : 0);
    e.u64(v.has_hash ? v.hash.lo : 0);
  }
  if (v.object) {
    e.u32(v.has_hash ? 1 : 0);
    e.u64(v.object);
    if (v.sysv_id >= 0) e.u32(uint32_t(v.sysv_id));
  }
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, MappingInfo* v) {
  Dec d(in, "mapping");
  v->start = d.u64("start");
  d.check((v->start & 4095) == 0, "start");
  v->end = d.u64("end");
  d.check(v->start < v->end && (v->end & 4095) == 0 && v->end <= (1ull << 47), "end");
  v->pgoff = d.u64("pgoff");
  v->prot = d.u32("prot");
  v->flags = d.u32("flags");
  uint32_t kind = d.u32("kind");
  d.check(kind >= 1 && kind <= 4, "kind");
  v->kind = MapKind(kind);
  v->special = d.u32("special");
  v->dev = d.u64("dev");
  v->ino = d.u64("ino");
  v->size = d.u64("size");
  v->mtime_ns = d.u64("mtime_ns");
  v->path = d.str("path");
  v->has_hash = d.more();
  if (v->has_hash) {
    v->hash.hi = d.u64("hash");
    v->hash.lo = d.u64("hash");
  }
  if (d.more()) {  // shared memory: whether the hash above is one, and the object
    uint32_t hashed = d.u32("hashed");
    d.check(hashed <= 1, "hashed");
    v->has_hash = hashed == 1;
    v->object = d.u64("object");
    d.check(v->object > 0 && v->kind == MapKind::kMemfd, "object");
    if (d.more()) {  // a SysV segment attached whole
      v->sysv_id = int32_t(d.u32("sysv_id"));
      d.check(v->sysv_id >= 0 && v->pgoff == 0, "sysv_id");
    }
  }
  return d.status();
}

std::vector<uint8_t> encode(const PagesInfo& v) {
  Enc e;
  e.u64(v.addr);
  e.u64(v.len);
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, PagesInfo* v) {
  Dec d(in, "pages");
  v->addr = d.u64("addr");
  d.check((v->addr & 4095) == 0, "addr");
  v->len = d.u64("len");
  d.check((v->len & 4095) == 0 && v->len > 0 && v->addr + v->len <= (1ull << 47) &&
              v->addr + v->len > v->addr,
          "len");
  return d.status();
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
  e.u64(v.ofd);
  e.str(v.peer_addr);
  e.u32(uint32_t(v.queued_from.size()));
  for (const std::string& a : v.queued_from) e.str(a);
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, FdInfo* v) {
  Dec d(in, "descriptor");
  v->fd = int32_t(d.u32("fd"));
  d.check(v->fd >= 0 && v->fd < 1 << 20, "fd");
  uint32_t kind = d.u32("kind");
  // Only stdin, stdout and stderr are inherited (exec_restorer takes them from its own).
  d.check(kind >= 1 && kind <= 11 && (FdKind(kind) != FdKind::kInherited || v->fd <= 2), "kind");
  v->kind = FdKind(kind);
  v->open_flags = d.u32("open_flags");
  v->cloexec = d.u32("cloexec");
  v->pos = d.u64("pos");
  v->size = d.u64("size");
  v->dev = d.u64("dev");
  v->ino = d.u64("ino");
  v->path = d.str("path");
  if (d.more()) v->fdinfo = d.str("fdinfo");
  if (d.more()) {  // pipes and sockets (kinds 9-11)
    v->peer = d.u64("peer");
    v->sock_type = d.u32("sock_type");
    uint32_t n = d.u32("nqueued");
    d.check(n <= (1u << 16), "nqueued");
    for (uint32_t k = 0; k < n && d.ok(); k++) v->queued.push_back(d.bytes("queued"));
    v->sock_family = d.u32("sock_family");
    v->sock_state = d.u32("sock_state");
    v->addr = d.str("addr");
  }
  if (d.more()) {
    v->ofd = d.u64("ofd");
    d.check(v->ofd == 0 || v->kind == FdKind::kFile, "ofd");
  }
  if (d.more()) v->peer_addr = d.str("peer_addr");
  if (d.more()) {
    uint32_t n = d.u32("nqueued_from");
    d.check(n == 0 || n == v->queued.size(), "nqueued_from");
    for (uint32_t k = 0; k < n && d.ok(); k++) v->queued_from.push_back(d.str("queued_from"));
  }
  return d.status();
}

std::vector<uint8_t> encode(const IpcObject& v) {
  Enc e;
  e.u32(uint32_t(v.kind));
  e.u32(uint32_t(v.id));
  e.u32(uint32_t(v.key));
  e.u32(v.uid);
  e.u32(v.gid);
  e.u32(v.mode);
  e.u64(v.qbytes);
  e.u32(uint32_t(v.values.size()));
  for (uint16_t x : v.values) e.u32(x);
  e.u32(uint32_t(v.messages.size()));
  for (const IpcObject::Message& m : v.messages) {
    e.u64(uint64_t(m.type));
    e.bytes(m.text);
  }
  e.u64(v.size);
  e.u32(v.removed);
  e.bytes(v.bytes);
  return e.out;
}

Status decode(const std::vector<uint8_t>& in, IpcObject* v) {
  Dec d(in, "SysV object");
  uint32_t kind = d.u32("kind");
  d.check(kind >= uint32_t(IpcKind::kSemaphores) && kind <= uint32_t(IpcKind::kSharedMemory),
          "kind");
  v->kind = IpcKind(kind);
  v->id = int32_t(d.u32("id"));
  d.check(v->id >= 0, "id");
  v->key = int32_t(d.u32("key"));
  v->uid = d.u32("uid");
  v->gid = d.u32("gid");
  v->mode = d.u32("mode");
  d.check(v->mode <= 0777, "mode");
  v->qbytes = d.u64("qbytes");
  uint32_t n = d.u32("nsems");
  d.check(n <= 32000, "nsems");
  for (uint32_t k = 0; k < n && d.ok(); k++) {
    uint32_t x = d.u32("value");
    d.check(x <= 32767, "value");  // SEMVMX
    v->values.push_back(uint16_t(x));
  }
  n = d.u32("nmessages");
  d.check(n <= (1u << 16), "nmessages");
  for (uint32_t k = 0; k < n && d.ok(); k++) {
    IpcObject::Message m;
    m.type = int64_t(d.u64("type"));
    d.check(m.type > 0, "type");
    m.text = d.bytes("text");
    v->messages.push_back(std::move(m));
  }
  if (d.more()) {  // shared memory (appended)
    v->size = d.u64("size");
    v->removed = d.u32("removed");
    d.check(v->removed <= 1, "removed");
    v->bytes = d.bytes("bytes");
  }
  d.check(v->kind != IpcKind::kSharedMemory || (v->size > 0 && v->size <= kMaxSysvSegment &&
                                                (v->bytes.empty() || v->bytes.size() == v->size)),
          "size");
  return d.status();
}

}  // namespace ckpt::control
