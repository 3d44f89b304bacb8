#include "control/checkpoint.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

#include <xxhash.h>

#include "control/ipc.h"
#include "control/memory.h"
#include "control/procfs.h"
#include "control/tracker.h"
#include "control/tree.h"
#include "format/chain.h"
#include "format/writer.h"
#include "restore/restore_abi.h"

namespace ckpt::control {
namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

void sleep_ms(int ms) {
  timespec ts = {0, long(ms) * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

// A "Name:  123 kB" field of /proc/PID/status text, in KiB (0 if absent).
uint64_t field_kib(const std::string& status, const char* name) {
  return std::strtoull(status_text_field(status, name).c_str(), nullptr, 10);
}

// A process with at most this much private memory has no frozen copy (the
// fork and its end cost more than reading its pages while it is stopped),
// up to kSmallTotal for the whole job: each MiB adds about 1 ms to the pause.
constexpr uint64_t kSmallProcess = 2ull << 20, kSmallTotal = 16ull << 20;

// One live process of the job on its way into the image.
struct Section {
  JobProcess* proc = nullptr;
  Recorded rec;
  ProcInfo info;
  std::vector<ThreadInfo> threads;
  std::vector<FdInfo> fds;
  std::vector<MappingPlan> plans;
  std::vector<std::vector<PagesInfo>> runs;  // per plan
  std::vector<bool> parked;                  // per plan: read while the job is stopped
  std::vector<uint8_t*> snapshots;           // per parked run, in order
  FrozenCopy copy;
  bool frozen = false;
  // A small process has no frozen copy: its pages are read into our memory
  // while the job is stopped, like shared memory (a fork costs more).
  bool small = false;
  // The process goes on before its section is written: its pages are in
  // its frozen copy, or (small) in our memory.
  bool leaves_early() const { return frozen || small; }
  std::unique_ptr<PageWriter> live, from_copy;
  // Dirty pages (tracker.h), per plan: the scan of a mapping that can be
  // tracked, and each run split into written and referred pieces.
  std::vector<Written> written;
  std::vector<std::vector<std::vector<Piece>>> pieces;
};

// Sorts spans and joins those that overlap or touch.
std::vector<Span> merged(std::vector<Span> v) {
  std::sort(v.begin(), v.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  std::vector<Span> out;
  for (const Span& x : v)
    if (!out.empty() && x.start <= out.back().end) out.back().end = std::max(out.back().end, x.end);
    else out.push_back(x);
  return out;
}

// The pages of mapping i of a section that an image must write: written
// since the last scan, or holding a thread's signal frame (built by us).
std::vector<Span> must_write(const Section& sec, size_t i) {
  const MappingInfo& m = sec.plans[i].info;
  std::vector<Span> w = sec.written[i].pages;
  for (const SignalFrame& f : sec.rec.frames) {
    uint64_t lo = std::max(f.start & ~(kPage - 1), m.start);
    uint64_t hi = std::min((f.start + f.bytes.size() + kPage - 1) & ~(kPage - 1), m.end);
    if (lo < hi) w.push_back({lo, hi});
  }
  return merged(std::move(w));
}

// A mapping whose written pages can be tracked: private and writable memory
// that the image saves page by page.
bool trackable(const MappingPlan& p) {
  return !(p.info.flags & restore::kMapShared) && (p.info.prot & PROT_WRITE) &&
         (p.pages == MappingPlan::kPresent || p.pages == MappingPlan::kPrivateCopies) &&
         (p.info.kind == MapKind::kAnon || p.info.kind == MapKind::kFile);
}

class Checkpoint {
 public:
  Checkpoint(Target& t, format::JobDir& dir, const DumpOptions& o, DumpResult* r)
      : t_(t), dir_(dir), o_(o), result_(r), hold_(o.end_on_success > 0) {}
  ~Checkpoint() { release(true); }

  Status run() {
    t0_ = now_s();
    warm();
    // Data on its way between two processes that cannot be read where it
    // is (kBusy): the job runs a moment and the cut is taken again.
    for (int tries = 0;; tries++) {
      Status s = seize();
      if (s.is_ok()) s = collect();
      if (s.is_ok()) break;
      if (s.code() != Code::kBusy || tries == 50) return s;
      release(true);
      sections_.clear();
      job_.clear();
      warnings_.clear();
      sleep_ms(10);
      t0_ = now_s();
    }
    track();
    drop_unwritten();
    CKPT_RETURN_IF_ERROR(copy_shared());
    if (!hold_) release(false);  // the processes that have a frozen copy
    pause_end_ = now_s();
    plan_increment();
    Status s = write();
    for (Section& sec : sections_) sec.copy.end();
    if (!hold_) release(true);
    if (hold_) pause_end_ = now_s();
    if (s.is_ok()) s = writer_.commit();
    if (!s.is_ok()) {
      writer_.abort();
      return s;  // release() lets the job go on
    }
    if (hold_) {
      // Never released: killed while stopped, the job does nothing more.
      for (JobProcess& p : job_)
        if (p.seized) p.seized->kill_stopped(o_.end_on_success == p.pid);
      ::kill(o_.end_on_success, SIGKILL);
    }
    // What the next increment builds on: where each page of this image is.
    if (why_.empty() && index_image(path_, &t_.chain).is_ok())
      t_.chain.increments = incr_ ? prev_.increments + 1 : 0;
    else t_.chain = ChainState();
    dir_.prune(o_.keep);
    result_->path = path_;
    result_->generation = generation_;
    result_->file_bytes = writer_.bytes_written();
    result_->increment = incr_;
    result_->written_bytes = 0;
    for (Section& sec : sections_)
      result_->written_bytes +=
          (sec.live ? sec.live->bytes() : 0) + (sec.from_copy ? sec.from_copy->bytes() : 0);
    result_->memory_bytes = result_->written_bytes + referred_;
    result_->pause_s = pause_end_ - t0_;
    result_->processes = uint32_t(job_count_);
    result_->total_s = now_s() - t0_;
    return Status::ok();
  }

 private:
  // Before the stop: hash the code files of every process (cached), so
  // that the pause finds them hashed.
  void warm() {
    std::vector<pid_t> todo = {t_.pid};
    for (pid_t init : {t_.init, t_.keeper})
      if (init > 0)
        for (pid_t kid : list_children(init)) todo.push_back(kid);
    // The job's memory that an image holds (private and shared, not the
    // pages of files, which VmRSS counts: a job of 16 tiny processes has 30
    // MiB of those) decides how the image is written (O_DIRECT).
    for (size_t i = 0; i < todo.size() && i < 4096; i++) {
      warm_hashes(todo[i], &code_);
      std::string status;
      (void)read_text("/proc/" + std::to_string(todo[i]) + "/status", &status);
      // Swapped-out pages are read too: a process with 1 GiB in swap is not small.
      anon_[todo[i]] = (field_kib(status, "RssAnon") + field_kib(status, "VmSwap")) * 1024;
      resident_ += anon_[todo[i]] + field_kib(status, "RssShmem") * 1024;
      for (pid_t kid : list_children(todo[i])) todo.push_back(kid);
    }
  }

  // Phase seize: every process stopped, none inside the restorer, every
  // live one with ckpt's library initialised (a process that has just
  // exec'd is caught again a moment later).
  Status seize() {
    for (int tries = 0;; tries++) {
      CKPT_RETURN_IF_ERROR(seize_job(t_.pid, t_.init, t_.keeper, &job_));
      std::string waiting;
      std::vector<pid_t> live;
      for (JobProcess& p : job_)
        if (p.seized) live.push_back(p.pid);
      // A connection not yet accepted by the job's server: let it run a
      // moment, up to half a second; after that it is saved as it is.
      bool settle = tries < 100 && connections_pending(live);
      for (JobProcess& p : job_) {
        if (!p.seized) continue;
        uint64_t addr = 0;
        if (in_restorer(*p.seized)) waiting = "the restarted job did not leave the restorer";
        else if (find_block(p.pid, &addr).code() == Code::kNotFound)
          waiting = p.name +
                    " runs without ckpt's library (a statically linked program, or "
                    "LD_PRELOAD was removed from its environment): the job cannot be "
                    "checkpointed";
        if (!waiting.empty()) break;
      }
      if (waiting.empty() && !settle) break;
      release(true);
      job_.clear();
      if (tries == 400 && !waiting.empty())
        return Status::make(Code::kUnsupported, 0, "%s", waiting.c_str());
      sleep_ms(5);
    }
    job_count_ = job_.size();
    std::string why = check_tree(job_);
    if (!why.empty()) return Status::make(Code::kUnsupported, 0, "%s", why.c_str());
    return Status::ok();
  }

  // Phase collect: per process its state (parasites; the frozen copy),
  // threads, mappings and descriptors; then what the processes share.
  Status collect() {
    uint64_t small_bytes = 0;
    std::vector<ToRecord> list;
    for (JobProcess& p : job_) {
      if (!p.seized) continue;
      sections_.emplace_back();
      Section& sec = sections_.back();
      sec.proc = &p;
      auto anon = anon_.find(p.pid);
      sec.small = !hold_ && anon != anon_.end() && anon->second <= kSmallProcess &&
                  small_bytes + anon->second <= kSmallTotal;
      if (sec.small) small_bytes += anon->second;
      list.push_back({p.seized.get(), p.pid, !hold_ && !sec.small, &sec.rec});
    }
    Status recorded = record_processes(list, t_.pid_ns ? 0 : ::getpid(), &t_.last_syscall);
    for (Section& sec : sections_)
      sec.frozen = !hold_ && sec.rec.block && sec.rec.block->fork_pid > 0 &&
                   sec.copy.find(t_.init, sec.rec.block->fork_pid);
    CKPT_RETURN_IF_ERROR(recorded);
    for (Section& sec : sections_) {
      JobProcess& p = *sec.proc;
      if (p.pid == t_.pid) t_.block_addr = sec.rec.block_addr;
      CKPT_RETURN_IF_ERROR(gather_info(p.pid, t_.pid_ns, sec.rec, &sec.info, &sec.threads));
      std::vector<MapLine> maps;
      CKPT_RETURN_IF_ERROR(read_maps(p.pid, &maps));
      for (const MapLine& m : maps) {
        if (m.path == "[vsyscall]") continue;
        if (m.start >= restore::kRestorerBase &&
            m.end <= restore::kRestorerBase + restore::kReservedSize)
          continue;  // the restorer's leftovers after a restart
        if (m.end > restore::kRestorerBase &&
            m.start < restore::kRestorerBase + restore::kReservedSize)
          return Status::make(Code::kUnsupported, 0,
                              "%s has memory at %#llx, which the restorer "
                              "needs",
                              p.name.c_str(), (unsigned long long)m.start);
        MappingPlan plan;
        CKPT_RETURN_IF_ERROR(plan_mapping(m, code_, &plan));
        sec.plans.push_back(std::move(plan));
      }
      CKPT_RETURN_IF_ERROR(place_frames(sec.rec.frames, &sec.plans));
      CKPT_RETURN_IF_ERROR(list_fds(p.pid, t_.fds, &sec.fds));
      // A pseudo-terminal of the job's own (script, expect, pty.spawn)
      // would be a new, empty one at restart, and its other end a path
      // that no longer exists: refused here, not found at the restart.
      for (const FdInfo& f : sec.fds)
        if (f.kind == FdKind::kDevice && (f.path == "/dev/ptmx" || f.path == "/dev/pts/ptmx"))
          return Status::make(Code::kUnsupported, 0,
                              "%s holds a pseudo-terminal of its own (descriptor %d, %s): ckpt "
                              "does not save terminals that the job makes yet",
                              p.name.c_str(), f.fd, f.path.c_str());
      // The library's own userfaultfd (tracker.h) is never saved.
      int track_fd = own_track_fd(p.pid, sec.rec.block_addr);
      sec.fds.erase(std::remove_if(sec.fds.begin(), sec.fds.end(),
                                   [&](const FdInfo& f) {
                                     return f.fd == track_fd &&
                                            f.path == "anon_inode:[userfaultfd]";
                                   }),
                    sec.fds.end());
    }
    std::vector<ProcessFds> all;
    for (Section& sec : sections_) all.push_back({sec.proc->pid, sec.proc->name, &sec.fds});
    CKPT_RETURN_IF_ERROR(capture_shared(all, o_.refuse_external, &warnings_));
    if (t_.pid_ns && t_.init > 0) {
      // The job's SysV semaphores and queues (its own IPC namespace).
      CKPT_RETURN_IF_ERROR(capture_ipc(t_.init, &ipc_));
      bool semaphores = false;
      for (const IpcObject& o : ipc_) semaphores |= o.kind == IpcKind::kSemaphores;
      for (const Section& sec : sections_)
        if (semaphores && has_sem_undo(sec.proc->pid, t_.init))
          warnings_.push_back(sec.proc->name +
                              " has SEM_UNDO adjustments on SysV semaphores: they cannot be "
                              "saved, and will not be undone when it exits after a restart");
      CKPT_RETURN_IF_ERROR(name_segments());
    }
    return plan_pages();
  }

  // The job's attached SysV segments: each mapping that attaches one whole
  // is marked with its id, so that the restart attaches the segment made
  // again under that id. A segment that some process maps only in part
  // (munmap or mprotect of a piece) cannot be attached back as it was: it
  // comes back as the same memory without its id, said now.
  Status name_segments() {
    std::map<int32_t, std::string> partial;  // id -> who
    std::map<int32_t, bool> mapped;
    for (Section& sec : sections_)
      for (MappingPlan& plan : sec.plans) {
        MappingInfo& m = plan.info;
        if (m.kind != MapKind::kMemfd || !(m.flags & restore::kMapShared) ||
            !m.path.starts_with("/SYSV"))
          continue;
        auto o = std::find_if(ipc_.begin(), ipc_.end(), [&](const IpcObject& x) {
          return x.kind == IpcKind::kSharedMemory && uint64_t(x.id) == plan.shm_ino;
        });
        if (o == ipc_.end()) continue;
        mapped[o->id] = true;
        if (m.pgoff == 0 && m.end - m.start == (o->size + kPage - 1) / kPage * kPage)
          m.sysv_id = o->id;
        else if (!partial.count(o->id)) partial[o->id] = sec.proc->name;
      }
    for (const IpcObject& o : ipc_)
      if (o.kind == IpcKind::kSharedMemory && o.bytes.empty() && !mapped.count(o.id) &&
          !partial.count(o.id))
        return Status::make(Code::kIo, 0,
                            "SysV shared memory segment %d is attached, but no process of the "
                            "job maps it",
                            o.id);
    for (const auto& [id, who] : partial) {
      for (Section& sec : sections_)
        for (MappingPlan& plan : sec.plans)
          if (plan.info.sysv_id == id) plan.info.sysv_id = -1;
      std::erase_if(ipc_, [id](const IpcObject& x) {
        return x.kind == IpcKind::kSharedMemory && x.id == id;
      });
      warnings_.push_back("SysV shared memory segment " + std::to_string(id) +
                          " is mapped only in part by " + who +
                          ": it comes back as the same memory, but not under its id");
    }
    return Status::ok();
  }

  // Which pages each mapping saves. A shared memory object's pages are
  // saved once: with the first mapping of it (in image order) that covers them.
  Status plan_pages() {
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> objects;  // (dev, ino) -> id
    std::map<uint64_t, std::vector<bool>> covered;              // id -> page saved yet
    for (Section& sec : sections_) {
      sec.live = std::make_unique<PageWriter>(sec.proc->pid, &writer_);
      sec.live->set_frames(&sec.rec.frames);
      CKPT_RETURN_IF_ERROR(sec.live->check());
      std::vector<uint64_t> exempt;
      if (sec.frozen) {
        sec.from_copy = std::make_unique<PageWriter>(sec.copy.pid(), &writer_);
        sec.from_copy->set_frames(&sec.rec.frames);
        sec.frozen =
            read_fork_exempt(sec.proc->pid, &exempt).is_ok() && sec.from_copy->check().is_ok();
      }
      if (!sec.frozen) sec.copy.end();
      sec.runs.resize(sec.plans.size());
      sec.parked.assign(sec.plans.size(), !sec.frozen);
      for (size_t i = 0; i < sec.plans.size(); i++) {
        MappingPlan& plan = sec.plans[i];
        CKPT_RETURN_IF_ERROR(sec.live->runs(plan, &sec.runs[i]));
        // What the frozen copy does not hold as it was is read while the
        // job is stopped: shared memory (the job goes on changing it) and
        // mappings a fork leaves out or wipes (MADV_DONTFORK, MADV_WIPEONFORK).
        if (sec.frozen)
          sec.parked[i] = (plan.info.flags & restore::kMapShared) ||
                          std::find(exempt.begin(), exempt.end(), plan.info.start) != exempt.end();
        // Shared memory with an identity: (device, inode) from the maps.
        // The inode may be 0: a SysV segment's is its id, and the first
        // segment of an IPC namespace (a fresh machine's) has id 0.
        if (plan.info.kind != MapKind::kMemfd || !(plan.info.flags & restore::kMapShared)) continue;
        auto [it, fresh] = objects.emplace(std::make_pair(plan.shm_dev, plan.shm_ino),
                                           uint64_t(objects.size() + 1));
        (void)fresh;
        plan.info.object = it->second;
        std::vector<bool>& done = covered[it->second];
        uint64_t first = plan.info.pgoff / kPage;
        uint64_t pages = (plan.info.end - plan.info.start) / kPage;
        if (done.size() < first + pages) done.resize(first + pages, false);
        std::vector<PagesInfo> kept;
        for (const PagesInfo& r : sec.runs[i])
          for (uint64_t a = r.addr; a < r.addr + r.len; a += kPage) {
            uint64_t k = first + (a - plan.info.start) / kPage;
            if (done[k]) continue;
            done[k] = true;
            if (!kept.empty() && kept.back().addr + kept.back().len == a) kept.back().len += kPage;
            else kept.push_back({a, kPage});
          }
        sec.runs[i] = std::move(kept);
      }
    }
    return Status::ok();
  }

  // Phase track (still stopped): the pages written since the last
  // checkpoint, per process (tracker.h). The scan protects them again, so
  // what the previous image does not hold would be lost to the chain if
  // this checkpoint failed: the chain is taken now and given back only by
  // a committed image. A failure here only makes the image full.
  void track() {
    prev_ = std::move(t_.chain);
    t_.chain = ChainState();
    why_.clear();
    if (o_.full_every <= 1) why_ = "turned off (--full-every 1)";
    for (Section& sec : sections_) {
      if (!why_.empty()) break;
      std::vector<Span> ranges;
      std::vector<size_t> which;
      for (size_t i = 0; i < sec.plans.size(); i++)
        if (trackable(sec.plans[i])) {
          ranges.push_back({sec.plans[i].info.start, sec.plans[i].info.end});
          which.push_back(i);
        }
      std::vector<Written> w;
      why_ = track_process(sec.proc->seized.get(), sec.proc->pid, sec.rec.block_addr,
                           *sec.rec.block, ranges, &w);
      sec.written.assign(sec.plans.size(), Written());
      for (size_t k = 0; k < which.size() && k < w.size(); k++) sec.written[which[k]] = w[k];
    }
    t_.tracking = why_.empty() ? "tracked: userfaultfd write-protection and PAGEMAP_SCAN"
                               : "full images: " + why_;
  }

  // Pages of a tracked mapping that were neither written since the previous
  // image nor held by it were never written at all: the write-protection of
  // the last scan left a marker in each untouched page, which the page map
  // reports as swapped out, or a read mapped the zero page. They read as
  // zeros (or, in a private file mapping, as the file) and stay out of the
  // image, full or not. A page really swapped out was present at the
  // previous image or written since, so it is kept.
  void drop_unwritten() {
    if (!why_.empty() || prev_.generation == 0) return;
    for (Section& sec : sections_) {
      auto found = prev_.pages.find(sec.info.pid);
      if (found == prev_.pages.end()) continue;
      const std::vector<PageHome>& homes = found->second;
      for (size_t i = 0; i < sec.plans.size(); i++) {
        if (i >= sec.written.size() || !sec.written[i].tracked) continue;
        const MappingInfo& m = sec.plans[i].info;
        std::vector<Span> keep = must_write(sec, i);
        auto h =
            std::lower_bound(homes.begin(), homes.end(), m.start,
                             [](const PageHome& p, uint64_t a) { return p.addr + p.len <= a; });
        for (; h != homes.end() && h->addr < m.end; ++h)
          keep.push_back({h->addr, h->addr + h->len});
        std::vector<Span> spans = merged(std::move(keep));
        std::vector<PagesInfo> kept;
        size_t j = 0;
        for (const PagesInfo& r : sec.runs[i]) {
          const uint64_t end = r.addr + r.len;
          while (j < spans.size() && spans[j].end <= r.addr) j++;
          for (size_t q = j; q < spans.size() && spans[q].start < end; q++) {
            uint64_t lo = std::max(r.addr, spans[q].start), hi = std::min(end, spans[q].end);
            if (!kept.empty() && kept.back().addr + kept.back().len == lo)
              kept.back().len += hi - lo;
            else kept.push_back({lo, hi - lo});
          }
        }
        sec.runs[i] = std::move(kept);
      }
    }
  }

  // Whether this image is an increment on the previous one, and if so each
  // tracked run split into pages to write (written since, holding a
  // thread's saved registers, or not in the previous image) and pages to
  // refer to; the images referred to become this image's bases.
  void plan_increment() {
    incr_ = why_.empty() && prev_.generation > 0 && prev_.increments + 1 < o_.full_every;
    for (size_t k = 0; incr_ && k < prev_.sources.size(); k++) {
      struct stat st;
      incr_ = ::stat(dir_.image_path(prev_.sources[k].generation).c_str(), &st) == 0;
    }
    if (!incr_) return;
    base_of_.assign(prev_.sources.size(), -1);
    static const std::vector<PageHome> none;
    for (Section& sec : sections_) {
      auto found = prev_.pages.find(sec.info.pid);
      const std::vector<PageHome>& homes = found == prev_.pages.end() ? none : found->second;
      sec.pieces.assign(sec.plans.size(), {});
      for (size_t i = 0; i < sec.plans.size(); i++) {
        if (!sec.written[i].tracked || (sec.leaves_early() && sec.parked[i])) continue;
        std::vector<Span> written = must_write(sec, i);
        sec.pieces[i].resize(sec.runs[i].size());
        for (size_t j = 0; j < sec.runs[i].size(); j++) {
          split_run(sec.runs[i][j].addr, sec.runs[i][j].len, written, homes, &sec.pieces[i][j]);
          for (const Piece& pc : sec.pieces[i][j])
            if (pc.ref && base_of_[pc.source] < 0) {
              base_of_[pc.source] = int64_t(bases_.size());
              bases_.push_back(prev_.sources[pc.source]);
            }
        }
      }
    }
    incr_ = !bases_.empty();
  }

  // Phase copy: the parked pages, into our memory while the job waits
  // (when the job ends with this checkpoint nothing runs: read at write).
  Status copy_shared() {
    if (hold_) return Status::ok();
    uint64_t total = 0;
    for (Section& sec : sections_)
      if (sec.leaves_early())
        for (size_t i = 0; i < sec.plans.size(); i++)
          for (const PagesInfo& r : sec.runs[i]) total += sec.parked[i] ? r.len : 0;
    if (total > snapshot_budget())
      return Status::make(Code::kNoSpace, ENOMEM,
                          "the job's shared memory (%llu MiB) does not fit in memory twice",
                          (unsigned long long)(total >> 20));
    if (total > 0) snap_.reserve(total);
    if (total > 0 && snap_.size() == 0)
      return Status::make(Code::kIo, ENOMEM, "cannot allocate %llu MiB for shared memory",
                          (unsigned long long)(total >> 20));
    for (Section& sec : sections_) {
      if (!sec.leaves_early()) continue;
      for (size_t i = 0; i < sec.plans.size(); i++)
        for (const PagesInfo& r : sec.runs[i])
          if (sec.parked[i]) {
            sec.snapshots.push_back(snap_.take(r.len));
            CKPT_RETURN_IF_ERROR(sec.live->read(r, sec.snapshots.back()));
          }
    }
    return Status::ok();
  }

  // all: every process; else those with a frozen copy (the others are
  // read while stopped, and released one by one by write()).
  void release(bool all) {
    for (Section& sec : sections_)
      if (all || sec.leaves_early()) sec.proc->seized->release();
    if (all)
      for (JobProcess& p : job_)
        if (p.seized) p.seized->release();
  }

  // Phase write: JOB, TASK per process, then a section per live process.
  Status write() {
    format::WriterOptions wo;
    wo.zstd_level = o_.zstd_level;
    wo.direct = o_.direct && resident_ >= format::kDirectFrom;
    wo.increment = incr_;
    // Small processes of one job (forks of one program) hold many pages
    // alike: each such page is saved once (format version 3).
    size_t smalls = 0;
    for (const Section& sec : sections_) smalls += sec.small ? 1 : 0;
    alike_ = smalls >= 2;
    wo.self_refs = alike_;
    chunk_ = wo.chunk;
    generation_ = dir_.next_generation();
    path_ = dir_.image_path(generation_);
    CKPT_RETURN_IF_ERROR(writer_.open(path_, format::Kind::kProcess, generation_, wo));
    JobInfo job;
    job.pid_ns = t_.pid_ns ? 1 : 0;
    job.root = job_.front().task.pid;
    job.processes = uint32_t(job_.size());
    CKPT_RETURN_IF_ERROR(put(format::kProcJob, encode(job)));
    for (const JobProcess& p : job_) CKPT_RETURN_IF_ERROR(put(format::kProcTask, encode(p.task)));
    for (const IpcObject& o : ipc_) CKPT_RETURN_IF_ERROR(put(format::kProcIpc, encode(o)));
    if (incr_)
      for (const format::BaseRef& b : bases_)
        CKPT_RETURN_IF_ERROR(put(format::kBase, format::encode_base(b)));
    for (Section& sec : sections_) {
      CKPT_RETURN_IF_ERROR(put(format::kProcInfo, encode(sec.info)));
      for (const ThreadInfo& t : sec.threads)
        CKPT_RETURN_IF_ERROR(put(format::kProcThread, encode(t)));
      for (const FdInfo& f : sec.fds) CKPT_RETURN_IF_ERROR(put(format::kProcFd, encode(f)));
      size_t k = 0;
      for (size_t i = 0; i < sec.plans.size(); i++) {
        CKPT_RETURN_IF_ERROR(put(format::kProcMapping, encode(sec.plans[i].info)));
        for (size_t j = 0; j < sec.runs[i].size(); j++) {
          const PagesInfo& r = sec.runs[i][j];
          if (incr_ && !sec.pieces[i].empty()) {
            // An increment's run: data for the pages written, data_ref
            // records for the rest (format/chain.h).
            PageWriter* from = sec.frozen ? sec.from_copy.get() : sec.live.get();
            CKPT_RETURN_IF_ERROR(sec.live->emit_head(r));
            for (const Piece& pc : sec.pieces[i][j]) {
              if (!pc.ref) {
                CKPT_RETURN_IF_ERROR(from->emit_body({pc.addr, pc.len}, nullptr));
                continue;
              }
              CKPT_RETURN_IF_ERROR(
                  put(format::kDataRef, format::encode_data_ref({uint32_t(base_of_[pc.source]),
                                                                 pc.offset, pc.skip, pc.len})));
              referred_ += pc.len;
            }
          } else if (!sec.leaves_early()) {
            CKPT_RETURN_IF_ERROR(sec.live->emit(r, nullptr));  // from the stopped process
          } else if (sec.parked[i] && sec.small && alike_) {
            // The snapshot stays: later pages are compared with it.
            CKPT_RETURN_IF_ERROR(emit_alike(*sec.live, r, sec.snapshots[k]));
            k++;
          } else if (sec.parked[i]) {
            CKPT_RETURN_IF_ERROR(sec.live->emit(r, sec.snapshots[k]));
            snap_.done(sec.snapshots[k], r.len);
            k++;
          } else {
            CKPT_RETURN_IF_ERROR(sec.from_copy->emit(r, nullptr));
          }
        }
      }
      if (!sec.leaves_early() && !hold_) {
        // Read: this process may go on.
        sec.proc->seized->release();
      }
      sec.copy.end();
    }
    return Status::ok();
  }

  // A small process's run, from its snapshot: each page that a small
  // process written before holds alike (a forked child's libraries, stack
  // and heap as its parent left them) becomes a data_ref to that page's
  // data record (format::kSelf); the others are data, remembered.
  struct AlikePage {
    const uint8_t* bytes;   // in snap_, kept until the image is written
    uint64_t record, skip;  // its data record's offset, and where in it
  };
  const AlikePage* alike(const uint8_t* page) const {
    auto it = alike_pages_.find(XXH3_64bits(page, kPage));
    if (it != alike_pages_.end())
      for (const AlikePage& a : it->second)
        if (std::memcmp(a.bytes, page, kPage) == 0) return &a;
    return nullptr;
  }
  Status emit_alike(PageWriter& pw, const PagesInfo& r, const uint8_t* src) {
    CKPT_RETURN_IF_ERROR(pw.emit_head(r));
    for (uint64_t at = 0; at < r.len;) {
      uint64_t n = 0;
      while (at + n < r.len && !alike(src + at + n)) n += kPage;
      if (n > 0) {
        uint64_t record = writer_.bytes_written();
        CKPT_RETURN_IF_ERROR(pw.emit_body({r.addr + at, n}, src + at));
        if (n <= chunk_)  // one data record
          for (uint64_t k = 0; k < n; k += kPage)
            alike_pages_[XXH3_64bits(src + at + k, kPage)].push_back({src + at + k, record, k});
        at += n;
        continue;
      }
      const AlikePage* first = alike(src + at);
      n = kPage;
      for (const AlikePage* next; at + n < r.len && (next = alike(src + at + n)) &&
                                  next->record == first->record && next->skip == first->skip + n;)
        n += kPage;
      CKPT_RETURN_IF_ERROR(
          put(format::kDataRef,
              format::encode_data_ref({format::kSelf, first->record, first->skip, n})));
      referred_ += n;
      at += n;
    }
    return Status::ok();
  }

  Status put(uint32_t type, const std::vector<uint8_t>& rec) {
    return writer_.record(type, rec.data(), rec.size());
  }

  Target& t_;
  format::JobDir& dir_;
  const DumpOptions& o_;
  DumpResult* result_;
  bool hold_;
  double t0_ = 0, pause_end_ = 0;
  uint64_t resident_ = 0;
  std::map<pid_t, uint64_t> anon_;  // private memory of each process (RssAnon + VmSwap)
  CodeFiles code_;
  std::vector<JobProcess> job_;
  size_t job_count_ = 0;
  std::deque<Section> sections_;  // Section is not movable (FrozenCopy)
  std::vector<std::string> warnings_;
  std::vector<IpcObject> ipc_;
  Snapshot snap_;
  format::ImageWriter writer_;
  uint64_t generation_ = 0;
  std::string path_;
  ChainState prev_;               // the previous image, taken from the target
  std::string why_;               // why pages are not tracked; "" if they are
  bool incr_ = false;             // this image is an increment
  std::vector<int64_t> base_of_;  // prev_.sources index -> base record index
  std::vector<format::BaseRef> bases_;
  uint64_t referred_ = 0;  // page bytes taken from the bases or (alike) this image
  bool alike_ = false;     // pages of small processes saved once (emit_alike)
  uint64_t chunk_ = 0;
  std::unordered_map<uint64_t, std::vector<AlikePage>> alike_pages_;

 public:
  std::vector<std::string> take_warnings() { return std::move(warnings_); }
};

}  // namespace

Status checkpoint_job(Target& t, format::JobDir& dir, const DumpOptions& options,
                      DumpResult* result) {
  Checkpoint c(t, dir, options, result);
  Status s = c.run();
  result->warnings = c.take_warnings();
  return s;
}

}  // namespace ckpt::control
