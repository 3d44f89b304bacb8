// ckpt inspect: decodes every record of an image, of either kind, with the
// decoders restart and libckpt use (control/process_image.h,
// format::decode_entry), so what it shows is what a restart would read.
// The page bytes are counted, not read: `ckpt verify` checks them.
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include <sys/wait.h>
#include <cinttypes>

#include <cstdio>
#include <map>

#include "cli/command.h"
#include "control/process_image.h"
#include "format/image_format.h"
#include "format/reader.h"
#include "restore/restore_abi.h"

namespace ckpt::cli {

namespace {

using control::FdKind;
using control::MapKind;

const char* type_name(uint32_t t) {
  switch (t) {
    case format::kData: return "data";
    case format::kEnd: return "end";
    case format::kAppEntry: return "entry";
    case format::kAppProgram: return "program";
    case format::kProcInfo: return "process";
    case format::kProcThread: return "thread";
    case format::kProcMapping: return "mapping";
    case format::kProcPages: return "pages";
    case format::kProcFd: return "fd";
    case format::kProcJob: return "job";
    case format::kProcTask: return "task";
    case format::kProcIpc: return "sysv";
  }
  return "unknown";
}

const char* entry_kind(format::EntryKind k) {
  switch (k) {
    case format::EntryKind::kBytes: return "bytes";
    case format::EntryKind::kVector: return "vector";
    case format::EntryKind::kString: return "string";
    case format::EntryKind::kCallback: return "callbacks";
  }
  return "?";
}

const char* fd_kind(FdKind k) {
  switch (k) {
    case FdKind::kFile: return "file";
    case FdKind::kDevice: return "device";
    case FdKind::kInherited: return "inherited";
    case FdKind::kOther: return "other";
    case FdKind::kEventfd: return "eventfd";
    case FdKind::kTimerfd: return "timerfd";
    case FdKind::kEpoll: return "epoll";
    case FdKind::kReport: return "report";
    case FdKind::kPipe: return "pipe";
    case FdKind::kUnixPair: return "socketpair";
    case FdKind::kSocket: return "socket";
  }
  return "?";
}

const char* map_kind(MapKind k) {
  switch (k) {
    case MapKind::kAnon: return "anon";
    case MapKind::kFile: return "file";
    case MapKind::kMemfd: return "memfd";
    case MapKind::kSpecial: return "kernel";
  }
  return "?";
}

std::string sig_name(int sig) {
  if (const char* n = sigabbrev_np(sig)) return n;
  return std::to_string(sig);  // real-time signals have no abbreviation
}

std::string prot_text(const control::MappingInfo& m) {
  std::string s;
  s += (m.prot & PROT_READ) ? 'r' : '-';
  s += (m.prot & PROT_WRITE) ? 'w' : '-';
  s += (m.prot & PROT_EXEC) ? 'x' : '-';
  s += (m.flags & restore::kMapShared) ? 's' : 'p';
  return s;
}

// XXH3-128 as 32 hex digits; "" if the image has none (older images).
std::string hash_text(bool has, const control::ContentHash& h) {
  if (!has) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)h.hi,
                (unsigned long long)h.lo);
  return buf;
}

std::vector<int> signals_in(uint64_t mask) {
  std::vector<int> out;
  for (int s = 1; s <= 64; s++)
    if (mask >> (s - 1) & 1) out.push_back(s);
  return out;
}

// A small JSON writer: objects and arrays, with commas where they belong.
class Json {
 public:
  void open(char c) {
    sep();
    out_ += c;
    first_ = true;
  }
  void close(char c) {
    out_ += c;
    first_ = false;
  }
  Json& key(const char* k) {
    sep();
    str_raw(k);
    out_ += ':';
    first_ = true;  // the value needs no comma
    return *this;
  }
  void str(const std::string& s) {
    sep();
    str_raw(s);
  }
  void num(uint64_t v) {
    sep();
    out_ += std::to_string(v);
  }
  void inum(int64_t v) {
    sep();
    out_ += std::to_string(v);
  }
  void boolean(bool b) {
    sep();
    out_ += b ? "true" : "false";
  }
  const std::string& text() const { return out_; }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void str_raw(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += char(c);
      } else if (c < 0x20 || c >= 0x7f) {
        // Paths are bytes: anything outside printable ASCII is escaped as
        // its byte value, so the output is always valid JSON.
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += char(c);
      }
    }
    out_ += '"';
  }
  std::string out_;
  bool first_ = true;
};

// One process section of a process image, decoded.
struct Process {
  control::ProcInfo info;
  std::vector<control::ThreadInfo> threads;
  std::vector<control::FdInfo> fds;
  struct Mapping {
    control::MappingInfo m;
    uint64_t saved = 0, runs = 0;
  };
  std::vector<Mapping> maps;
  uint64_t page_runs = 0, page_bytes = 0;
};

// What a whole image holds, decoded.
struct Decoded {
  uint64_t records = 0, data_records = 0, stored = 0, raw = 0;
  // Process images: the job (absent in images of one process from before
  // version 0.4), its tasks, one section per live process.
  bool have_job = false;
  control::JobInfo job;
  std::vector<control::TaskInfo> tasks;
  std::vector<control::IpcObject> ipc;
  std::vector<Process> procs;
  uint64_t page_runs = 0, page_bytes = 0;
  // libckpt images.
  std::string program;
  std::vector<format::AppEntry> entries;
};

Status decode_image(format::ImageReader& r, bool list, Decoded* d) {
  std::vector<uint8_t> payload;
  for (;;) {
    format::RecordInfo rec;
    bool end;
    CKPT_RETURN_IF_ERROR(r.next(&rec, &end));
    if (end) break;
    d->records++;
    if (list)
      std::printf("  @%-12llu %-8s flags=%u stored=%llu raw=%llu\n", (unsigned long long)rec.offset,
                  type_name(rec.type), rec.flags, (unsigned long long)rec.stored,
                  (unsigned long long)rec.raw);
    if (rec.type == format::kData) {
      d->data_records++;
      d->stored += rec.stored;
      d->raw += rec.raw;
      continue;
    }
    if (rec.type == format::kEnd) continue;
    CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
    auto where = [&](const Status& s) {
      return Status::make(Code::kCorrupt, 0, "%s: %s at offset %llu", r.path().c_str(), s.message(),
                          (unsigned long long)rec.offset);
    };
    Status s;
    switch (rec.type) {
      case format::kAppProgram: d->program.assign(payload.begin(), payload.end()); break;
      case format::kAppEntry: {
        format::AppEntry e;
        s = format::decode_entry(payload, &e);
        if (s) d->entries.push_back(std::move(e));
        break;
      }
      case format::kProcJob:
        s = control::decode(payload, &d->job);
        d->have_job = s.is_ok();
        break;
      case format::kProcTask: {
        control::TaskInfo t;
        s = control::decode(payload, &t);
        if (s) d->tasks.push_back(t);
        break;
      }
      case format::kProcIpc: {
        control::IpcObject o;
        s = control::decode(payload, &o);
        if (s) d->ipc.push_back(std::move(o));
        break;
      }
      case format::kProcInfo:
        d->procs.emplace_back();
        s = control::decode(payload, &d->procs.back().info);
        break;
      case format::kProcThread:
      case format::kProcFd:
      case format::kProcMapping:
      case format::kProcPages: {
        if (d->procs.empty()) {
          s = Status::make(Code::kCorrupt, 0, "a process record before the process");
          break;
        }
        Process& p = d->procs.back();
        if (rec.type == format::kProcThread) {
          control::ThreadInfo t;
          s = control::decode(payload, &t);
          if (s) p.threads.push_back(t);
        } else if (rec.type == format::kProcFd) {
          control::FdInfo f;
          s = control::decode(payload, &f);
          if (s) p.fds.push_back(std::move(f));
        } else if (rec.type == format::kProcMapping) {
          Process::Mapping m;
          s = control::decode(payload, &m.m);
          if (s) p.maps.push_back(std::move(m));
        } else {
          control::PagesInfo pg;
          s = control::decode(payload, &pg);
          if (s && p.maps.empty()) s = Status::make(Code::kCorrupt, 0, "pages before any mapping");
          if (s) {
            p.maps.back().saved += pg.len;
            p.maps.back().runs++;
            p.page_runs++;
            p.page_bytes += pg.len;
            d->page_runs++;
            d->page_bytes += pg.len;
          }
        }
        break;
      }
      default: break;  // unknown: shown by --records as "unknown", skipped here
    }
    if (!s) return where(s);
  }
  return Status::ok();
}

void print_text(const Decoded& d) {
  if (!d.program.empty()) {
    size_t pos = 0;
    while (pos < d.program.size()) {
      size_t nl = d.program.find('\n', pos);
      if (nl == std::string::npos) nl = d.program.size();
      std::printf("%-12s %s\n", pos == 0 ? "program:" : "",
                  d.program.substr(pos, nl - pos).c_str());
      pos = nl + 1;
    }
  }
  for (const format::AppEntry& e : d.entries)
    std::printf("entry:       %-24s %-9s %s\n", e.name.c_str(), entry_kind(e.kind),
                human_bytes(e.size).c_str());
  if (d.have_job) {
    size_t zombies = 0;
    for (const auto& t : d.tasks) zombies += t.state == control::TaskState::kZombie;
    std::printf("job:         %u process%s (%zu zombie%s), root pid %d, %s\n", d.job.processes,
                d.job.processes == 1 ? "" : "es", zombies, zombies == 1 ? "" : "s", d.job.root,
                d.job.pid_ns ? "in its own user+pid namespace" : "without a pid namespace");
    size_t k = 0;
    for (const auto& t : d.tasks) {
      std::string what;
      if (t.state == control::TaskState::kZombie) {
        what = WIFSIGNALED(t.exit_status)
                   ? "zombie, killed by " + sig_name(WTERMSIG(t.exit_status))
                   : "zombie, exit " + std::to_string(WEXITSTATUS(t.exit_status));
      } else if (k < d.procs.size()) {
        what = d.procs[k++].info.exe;
      }
      std::printf("  pid %-7d parent %-7d group %-7d session %-7d %s\n", t.pid, t.ppid, t.pgid,
                  t.sid, what.c_str());
    }
    for (const control::IpcObject& o : d.ipc) {
      bool queue = o.kind == control::IpcKind::kQueue;
      bool segment = o.kind == control::IpcKind::kSharedMemory;
      std::string what =
          segment ? std::to_string(o.size) + " bytes" +
                        (o.bytes.empty() ? "" : ", attached by no process") +
                        (o.removed ? ", removed (IPC_RMID)" : "")
          : queue
              ? std::to_string(o.messages.size()) + " message" + (o.messages.size() == 1 ? "" : "s")
              : std::to_string(o.values.size()) + " semaphore" + (o.values.size() == 1 ? "" : "s");
      std::printf("  sysv %-14s id %-8d key %#-10x mode %03o  %s\n",
                  segment ? "shared memory"
                  : queue ? "message queue"
                          : "semaphores",
                  o.id, unsigned(o.key), o.mode, what.c_str());
    }
  }
  for (const Process& p : d.procs) {
    const control::ProcInfo& i = p.info;
    std::printf("process:     pid %d, uid %u, %s\n", i.pid, i.uid,
                i.pid_ns ? "in its own user+pid namespace" : "without a pid namespace");
    std::printf("executable:  %s (%s)\n", i.exe.c_str(), human_bytes(i.exe_size).c_str());
    std::printf("cwd:         %s (umask %03o)\n", i.cwd.c_str(), i.umask);
    std::printf("checkpoint:  number %u\n", i.seq);
    std::string tids;
    for (const auto& t : p.threads) tids += " " + std::to_string(t.slot.tid);
    std::printf("threads:     %zu:%s\n", p.threads.size(), tids.c_str());
    std::printf("fds:         %zu\n", p.fds.size());
    for (const auto& f : p.fds) {
      uint64_t q = 0;
      for (const std::string& m : f.queued) q += m.size();
      std::string extra;
      if (!f.queued.empty())
        extra = " (" + std::to_string(q) + " bytes in " + std::to_string(f.queued.size()) +
                (f.queued.size() == 1 ? " piece" : " pieces") + " queued)";
      if (f.kind == FdKind::kSocket)
        extra += f.sock_state == 2   ? " listening"
                 : f.sock_state == 1 ? " bound"
                 : f.sock_state == 3 ? " closed (its peer was outside the job)"
                 : f.sock_state == 4 ? " connected (TCP, within the job)"
                 : f.sock_state == 5 ? " with a default peer (UDP)"
                                     : "";
      std::printf("  %-4d %-9s %s%s\n", f.fd, fd_kind(f.kind), f.path.c_str(), extra.c_str());
    }
    std::map<std::string, int> kinds;
    for (const auto& m : p.maps) kinds[map_kind(m.m.kind)]++;
    std::string ks;
    for (const auto& [k, n] : kinds) ks += (ks.empty() ? "" : ", ") + std::to_string(n) + " " + k;
    std::printf("mappings:    %zu (%s)\n", p.maps.size(), ks.c_str());
    for (const auto& m : p.maps)
      std::printf("  %012llx-%012llx %s %-6s %-10s %s\n", (unsigned long long)m.m.start,
                  (unsigned long long)m.m.end, prot_text(m.m).c_str(), map_kind(m.m.kind),
                  m.saved ? human_bytes(m.saved).c_str() : "-", m.m.path.c_str());
    std::string handled, ignored;
    for (int s = 1; s <= 64; s++) {
      if (i.actions[s].handler == 1) ignored += " " + sig_name(s);
      else if (i.actions[s].handler > 1 && uint32_t(s) != i.signal) handled += " " + sig_name(s);
    }
    std::string pending;
    for (int s : signals_in(i.sigpending)) pending += " " + sig_name(s);
    for (const auto& t : p.threads)
      for (int s : signals_in(t.sigpending))
        pending += " " + sig_name(s) + "(tid " + std::to_string(t.slot.tid) + ")";
    std::printf("signals:     handled:%s; ignored:%s; pending:%s\n",
                handled.empty() ? " none" : handled.c_str(),
                ignored.empty() ? " none" : ignored.c_str(),
                pending.empty() ? " none" : pending.c_str());
    const char* which[3] = {"real", "virtual", "prof"};
    std::string timers;
    for (int k = 0; k < 3; k++) {
      const uint64_t* t = i.itimers[k];
      if (!(t[0] || t[1] || t[2] || t[3])) continue;  // a pending expiry shows value 0
      char buf[96];
      std::snprintf(buf, sizeof buf, " %s in %.3f s every %.3f s;", which[k],
                    double(t[2]) + double(t[3]) * 1e-6, double(t[0]) + double(t[1]) * 1e-6);
      timers += buf;
    }
    size_t timerfds = 0;
    for (const auto& f : p.fds) timerfds += f.kind == FdKind::kTimerfd;
    std::printf("timers:     %s %zu timerfd%s\n",
                timers.empty() ? " no interval timer;" : timers.c_str(), timerfds,
                timerfds == 1 ? "" : "s");
    std::printf("pages:       %s saved in %llu runs\n", human_bytes(p.page_bytes).c_str(),
                (unsigned long long)p.page_runs);
  }
  std::printf("data:        %llu chunks, %s stored, %s raw\n", (unsigned long long)d.data_records,
              human_bytes(d.stored).c_str(), human_bytes(d.raw).c_str());
}

void json_signals(Json& j, const char* key, const std::vector<int>& sigs) {
  j.key(key).open('[');
  for (int s : sigs) j.str(sig_name(s));
  j.close(']');
}

void print_json(const std::string& path, const format::ImageReader& r, const Decoded& d) {
  Json j;
  j.open('{');
  j.key("file").str(path);
  j.key("file_bytes").num(r.file_size());
  j.key("format_version").num(r.header().version);
  j.key("kind").str(r.header().kind == format::Kind::kApp ? "app" : "process");
  j.key("generation").num(r.header().generation);
  j.key("created_ns").num(r.header().created_ns);
  j.key("records").num(d.records);
  j.key("data").open('{');
  j.key("records").num(d.data_records);
  j.key("stored_bytes").num(d.stored);
  j.key("raw_bytes").num(d.raw);
  j.close('}');
  if (r.header().kind == format::Kind::kApp) {
    j.key("program").str(d.program);
    j.key("entries").open('[');
    for (const format::AppEntry& e : d.entries) {
      j.open('{');
      j.key("name").str(e.name);
      j.key("kind").str(entry_kind(e.kind));
      j.key("elem").num(e.elem);
      j.key("bytes").num(e.size);
      j.close('}');
    }
    j.close(']');
  }
  if (!d.procs.empty()) {
    // The root process at the top level (as for an image of one process);
    // every process of the job, in brief, under "processes".
    const Process& p = d.procs.front();
    const control::ProcInfo& i = p.info;
    j.key("process").open('{');
    j.key("record_version").num(i.format_version);
    j.key("pid").inum(i.pid);
    j.key("uid").num(i.uid);
    j.key("pid_ns").boolean(i.pid_ns != 0);
    j.key("signal").num(i.signal);
    j.key("seq").num(i.seq);
    j.key("exe").str(i.exe);
    j.key("exe_size").num(i.exe_size);
    j.key("exe_ino").num(i.exe_ino);
    j.key("exe_mtime_ns").num(i.exe_mtime_ns);
    j.key("exe_hash").str(hash_text(i.has_exe_hash, i.exe_hash));
    j.key("cwd").str(i.cwd);
    j.key("umask").num(i.umask);
    j.key("auxv_words").num(i.auxv.size());
    j.close('}');
    j.key("threads").open('[');
    for (const auto& t : p.threads) {
      j.open('{');
      j.key("tid").inum(t.slot.tid);
      j.key("rseq").boolean(t.slot.rseq_addr != 0);
      json_signals(j, "pending", signals_in(t.sigpending));
      j.close('}');
    }
    j.close(']');
    j.key("fds").open('[');
    for (const auto& f : p.fds) {
      j.open('{');
      j.key("fd").inum(f.fd);
      j.key("kind").str(fd_kind(f.kind));
      j.key("path").str(f.path);
      j.key("flags").num(f.open_flags);
      j.key("cloexec").boolean(f.cloexec != 0);
      j.key("pos").num(f.pos);
      j.key("size").num(f.size);
      if (f.kind == FdKind::kPipe || f.kind == FdKind::kUnixPair || f.kind == FdKind::kSocket) {
        uint64_t q = 0;
        for (const std::string& m : f.queued) q += m.size();
        j.key("queued_bytes").num(q);
        j.key("queued_pieces").num(f.queued.size());
        j.key("sock_type").num(f.sock_type);
        j.key("sock_state").num(f.sock_state);
      }
      j.close('}');
    }
    j.close(']');
    j.key("mappings").open('[');
    for (const auto& m : p.maps) {
      j.open('{');
      j.key("start").num(m.m.start);
      j.key("end").num(m.m.end);
      j.key("prot").str(prot_text(m.m));
      j.key("kind").str(map_kind(m.m.kind));
      j.key("path").str(m.m.path);
      j.key("hash").str(hash_text(m.m.has_hash, m.m.hash));
      j.key("saved_bytes").num(m.saved);
      j.key("runs").num(m.runs);
      j.close('}');
    }
    j.close(']');
    std::vector<int> handled, ignored;
    for (int s = 1; s <= 64; s++) {
      if (i.actions[s].handler == 1) ignored.push_back(s);
      else if (i.actions[s].handler > 1 && uint32_t(s) != i.signal) handled.push_back(s);
    }
    j.key("signals").open('{');
    json_signals(j, "handled", handled);
    json_signals(j, "ignored", ignored);
    json_signals(j, "pending", signals_in(i.sigpending));
    j.close('}');
    j.key("timers").open('{');
    j.key("itimers").open('[');
    const char* which[3] = {"real", "virtual", "prof"};
    for (int k = 0; k < 3; k++) {
      const uint64_t* t = i.itimers[k];
      if (!(t[0] || t[1] || t[2] || t[3])) continue;  // a pending expiry shows value 0
      j.open('{');
      j.key("which").str(which[k]);
      j.key("value_us").num(t[2] * 1000000 + t[3]);
      j.key("interval_us").num(t[0] * 1000000 + t[1]);
      j.close('}');
    }
    j.close(']');
    uint64_t timerfds = 0;
    for (const auto& f : p.fds) timerfds += f.kind == FdKind::kTimerfd;
    j.key("timerfds").num(timerfds);
    j.close('}');
    j.key("pages").open('{');
    j.key("runs").num(p.page_runs);
    j.key("bytes").num(p.page_bytes);
    j.close('}');
    j.key("job").open('{');
    j.key("processes").num(d.have_job ? d.job.processes : 1);
    j.key("root").inum(d.have_job ? d.job.root : i.pid);
    j.key("pid_ns").boolean(d.have_job ? d.job.pid_ns != 0 : i.pid_ns != 0);
    j.key("page_bytes").num(d.page_bytes);
    j.key("sysv").open('[');
    for (const control::IpcObject& o : d.ipc) {
      j.open('{');
      bool segment = o.kind == control::IpcKind::kSharedMemory;
      j.key("kind").str(segment                              ? "shared memory"
                        : o.kind == control::IpcKind::kQueue ? "message queue"
                                                             : "semaphores");
      j.key("id").inum(o.id);
      j.key("key").inum(o.key);
      j.key("count").num(segment                              ? o.size
                         : o.kind == control::IpcKind::kQueue ? o.messages.size()
                                                              : o.values.size());
      j.close('}');
    }
    j.close(']');
    j.close('}');
    j.key("processes").open('[');
    size_t k = 0;
    for (const auto& t : d.tasks) {
      bool zombie = t.state == control::TaskState::kZombie;
      j.open('{');
      j.key("pid").inum(t.pid);
      j.key("ppid").inum(t.ppid);
      j.key("pgid").inum(t.pgid);
      j.key("sid").inum(t.sid);
      j.key("state").str(zombie ? "zombie" : "live");
      if (zombie) {
        j.key("exit_status").inum(WIFEXITED(t.exit_status) ? WEXITSTATUS(t.exit_status) : -1);
        j.key("signal").inum(WIFSIGNALED(t.exit_status) ? WTERMSIG(t.exit_status) : 0);
      } else if (k < d.procs.size()) {
        const Process& q = d.procs[k++];
        j.key("exe").str(q.info.exe);
        j.key("threads").num(q.threads.size());
        j.key("fds").num(q.fds.size());
        j.key("page_bytes").num(q.page_bytes);
      }
      j.close('}');
    }
    j.close(']');
  }
  j.close('}');
  std::printf("%s\n", j.text().c_str());
}

}  // namespace

std::function<int()> setup_inspect(CLI::App* sub) {
  auto path = std::make_shared<std::string>();
  auto records = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  sub->add_option("IMAGE", *path, "Image file")->required();
  sub->add_flag("--records", *records, "List every record, data chunks included");
  sub->add_flag("--json", *json, "Print one JSON object (for scripts)");
  return [path, records, json] {
    if (*records && *json) {
      fail("--records and --json cannot be combined");
      return kExitUsage;
    }
    format::ImageReader r;
    Status s = r.open(*path);
    if (!s.is_ok()) return fail("%s", s.message());
    const auto& h = r.header();
    if (!*json) {
      std::printf("file:        %s (%s)\n", path->c_str(), human_bytes(r.file_size()).c_str());
      std::printf("format:      version %u, %s\n", h.version,
                  h.kind == format::Kind::kApp ? "application state (libckpt)" : "process image");
      std::printf("generation:  %llu, created %s\n", (unsigned long long)h.generation,
                  human_age(h.created_ns).c_str());
    }
    Decoded d;
    s = decode_image(r, *records, &d);
    if (!s.is_ok()) return fail("%s", s.message());
    if (h.kind == format::Kind::kProcess && d.procs.empty())
      return fail("%s: a process image without its process record", path->c_str());
    if (*json) print_json(*path, r, d);
    else print_text(d);
    return 0;
  };
}

}  // namespace ckpt::cli
