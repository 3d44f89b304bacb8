// libckpt's Checkpointer: registration, saving (synchronous or staged for a
// background writer), and restoring with fallback to older generations.
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <ckpt/ckpt.hpp>

#include "base/endian.h"
#include "format/chain.h"
#include "format/jobdir.h"
#include "format/reader.h"
#include "format/writer.h"
#include "lib/hooks.h"
#include "lib/increment.h"
#include "lib/testing.h"
#include "lib/triggers.h"

namespace ckpt {

using format::EntryKind;

namespace {

int64_t mono_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end;
  double d = std::strtod(v, &end);
  return *end == '\0' ? d : fallback;
}

class VectorWriter final : public Writer {
 public:
  explicit VectorWriter(std::vector<uint8_t>* out) : out_(out) {}
  Status write(const void* p, size_t n) override {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
    return Status::ok();
  }

 private:
  std::vector<uint8_t>* out_;
};

class SpanReader final : public Reader {
 public:
  SpanReader(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}
  Status read(void* dst, size_t n) override {
    if (n > n_)
      return Status::make(Code::kMismatch, 0,
                          "entry '%s': the load callback asks for %zu bytes, %zu are left",
                          name_.c_str(), n, n_);
    if (n == 0) return Status::ok();
    std::memcpy(dst, p_, n);
    p_ += n;
    n_ -= n;
    return Status::ok();
  }
  size_t remaining() const override { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  const std::string& name_;
};

// A private, reusable buffer for staged copies: mmap'd so that it does not
// come from (or fragment) the program's heap.
class Staging {
 public:
  ~Staging() { release(); }
  bool reserve(size_t n) {
    if (n <= cap_) return true;
    release();
    size_t cap = (n + (2u << 20) - 1) & ~size_t((2u << 20) - 1);
    void* p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) return false;
    madvise(p, cap, MADV_HUGEPAGE);
    base_ = static_cast<uint8_t*>(p);
    cap_ = cap;
    return true;
  }
  uint8_t* data() { return base_; }

 private:
  void release() {
    if (base_) munmap(base_, cap_);
    base_ = nullptr;
    cap_ = 0;
  }
  uint8_t* base_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace

Options options_from_env(Options o) {
  if (const char* d = std::getenv("CKPT_DIR"); d && *d) o.dir = d;
  o.interval_seconds = env_double("CKPT_INTERVAL", o.interval_seconds);
  o.keep = int(env_double("CKPT_KEEP", o.keep));
  if (const char* c = std::getenv("CKPT_COMPRESS"); c && *c) {
    int level = std::atoi(c);
    o.compression = level > 0 ? Compression::kZstd : Compression::kNone;
    if (level > 0) o.compression_level = level;
  }
  if (const char* a = std::getenv("CKPT_ASYNC"); a && *a) o.async = std::atoi(a) != 0;
  o.deadline_unix = int64_t(env_double("CKPT_DEADLINE", double(o.deadline_unix)));
  o.deadline_margin_seconds = env_double("CKPT_MARGIN", o.deadline_margin_seconds);
  if (const char* q = std::getenv("CKPT_QUIET"); q && *q) o.quiet = std::atoi(q) != 0;
  if (!format::direct_from_env()) o.direct = false;
  o.full_every = std::max(1, int(env_double("CKPT_FULL_EVERY", o.full_every)));
  return o;
}

struct Entry {
  std::string name;
  EntryKind kind;
  uint32_t elem = 1;
  void* ptr = nullptr;  // kBytes
  size_t size = 0;      // kBytes
  void* obj = nullptr;  // kVector / kString
  void* (*data_fn)(void*) = nullptr;
  size_t (*size_fn)(void*) = nullptr;
  void* (*resize_fn)(void*, size_t) = nullptr;
  std::function<Status(Writer&)> save;
  std::function<Status(Reader&)> load;
  std::vector<uint8_t> serialized;  // callback output of the current checkpoint
};

// One entry as it goes to disk: bytes that stay put until written.
struct Segment {
  const Entry* entry;
  const uint8_t* data;
  size_t size;
};

// An entry's bytes as they stand (a callback's: what its last save wrote).
static Segment segment_of(Entry& e) {
  switch (e.kind) {
    case EntryKind::kBytes: return {&e, static_cast<const uint8_t*>(e.ptr), e.size};
    case EntryKind::kCallback: return {&e, e.serialized.data(), e.serialized.size()};
    default: return {&e, static_cast<const uint8_t*>(e.data_fn(e.obj)), e.size_fn(e.obj)};
  }
}

struct Checkpointer::Impl {
  std::vector<Entry> entries;
  format::JobDir jobdir;
  bool started = false;
  uint64_t next_generation = 1;
  bool deadline_pending = false;
  int64_t deadline_due_ns = INT64_MAX;
  int64_t interval_due_ns = INT64_MAX;

  // Asynchronous mode.
  Staging staging;
  std::thread writer;
  std::mutex mu;
  std::condition_variable cv;
  bool job_ready = false, job_running = false, quit = false;
  std::vector<Segment> job;
  uint64_t job_generation = 0;
  Status job_status;

  // What the newest generation holds (increments); the writer thread's
  // while it writes.
  lib::History history;

  Entry* find(std::string_view name) {
    for (auto& e : entries)
      if (e.name == name) return &e;
    return nullptr;
  }
};

namespace {
Fs* g_fs = nullptr;
}  // namespace

void lib::set_fs_for_testing(Fs* fs) { g_fs = fs; }

// Writes one generation of the registered state. With the history of the
// previous generation (full_every > 1), a block that hashes as it did is
// referred to instead of written (an increment, docs/libckpt.md
// "Increments"), and the history then learns the new image; without one
// (the MPI mode's files), every byte is written.
static Status write_image(const std::string& path, const Options& o, uint64_t generation,
                          const std::vector<Segment>& segments, lib::History* history) {
  bool track = history && o.full_every > 1;
  std::map<std::string, std::vector<XXH128_hash_t>> hashes;
  if (track)
    for (const Segment& s : segments) hashes[s.entry->name] = lib::hash_blocks(s.data, s.size);
  bool increment = track && history->known() && history->since_full() + 1 < o.full_every;
  // Per segment and block: where its unchanged bytes are (generation 0:
  // changed, written).
  std::vector<std::vector<lib::Source>> same(segments.size());
  std::vector<uint64_t> bases;  // generations referred to, in base record order
  uint64_t written = 0;
  auto block_len = [](uint64_t size, size_t b) {
    return std::min<uint64_t>(lib::kBlock, size - uint64_t(b) * lib::kBlock);
  };
  for (size_t i = 0; i < segments.size(); i++) {
    const Segment& seg = segments[i];
    const lib::EntryBlocks* prev = increment ? history->entry(seg.entry->name) : nullptr;
    if (!prev) {
      written += seg.size;
      continue;
    }
    const std::vector<XXH128_hash_t>& hs = hashes[seg.entry->name];
    same[i].assign(hs.size(), lib::Source());
    for (size_t b = 0; b < hs.size(); b++) {
      uint64_t len = block_len(seg.size, b);
      const lib::Block* pb = b < prev->blocks.size() ? &prev->blocks[b] : nullptr;
      if (pb && pb->hashed && pb->src.generation != 0 && block_len(prev->size, b) == len &&
          XXH128_isEqual(pb->hash, hs[b]) && history->digest(pb->src.generation) != 0) {
        same[i][b] = pb->src;
        if (std::find(bases.begin(), bases.end(), pb->src.generation) == bases.end())
          bases.push_back(pb->src.generation);
      } else {
        written += len;
      }
    }
  }
  if (bases.empty()) {  // nothing to refer to: a full image
    increment = false;
    for (auto& v : same) v.clear();
  }
  int since_full = increment ? history->since_full() + 1 : 0;

  format::ImageWriter w(g_fs ? g_fs : Fs::posix());
  format::WriterOptions wo;
  wo.zstd_level = o.compression == Compression::kZstd ? std::max(1, o.compression_level) : 0;
  // Big images go to the disk with O_DIRECT (see BlockWriter).
  wo.direct = o.direct && written >= format::kDirectFrom;
  wo.increment = increment;
  CKPT_RETURN_IF_ERROR(w.open(path, format::Kind::kApp, generation, wo));
  std::vector<uint8_t> meta;
  {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    std::string text = std::string("program=") + exe + "\nhost=" + host + "\n";
    CKPT_RETURN_IF_ERROR(
        w.record(format::kAppProgram, text.data(), text.size(), format::kFlagSkippable));
  }
  if (increment)
    for (uint64_t g : bases) {
      meta = format::encode_base({g, history->digest(g)});
      CKPT_RETURN_IF_ERROR(w.record(format::kBase, meta.data(), meta.size()));
    }
  // What the next increment builds on: each block's hash and where its
  // bytes now are (this image's data records, or what it refers to).
  std::map<std::string, lib::EntryBlocks> next;
  // Bytes [from, to) of segment i were just written as the data records
  // from the k-th on: their blocks' sources.
  auto placed = [&](size_t i, size_t k, uint64_t from, uint64_t to) {
    if (!track) return;
    lib::EntryBlocks& eb = next[segments[i].entry->name];
    const auto& recs = w.data_records();
    uint64_t at = from;
    for (; k < recs.size() && at < to; at += recs[k].raw, k++)
      for (uint64_t b = at / lib::kBlock; b < eb.blocks.size(); b++) {
        uint64_t start = b * lib::kBlock, end = std::min(start + lib::kBlock, eb.size);
        if (end > at + recs[k].raw) break;
        if (start >= at) eb.blocks[b].src = {generation, recs[k].offset, start - at};
      }
  };
  for (size_t i = 0; i < segments.size(); i++) {
    const Segment& s = segments[i];
    const Entry& e = *s.entry;
    if (track) {
      lib::EntryBlocks& eb = next[e.name];
      eb.size = s.size;
      const std::vector<XXH128_hash_t>& hs = hashes[e.name];
      eb.blocks.resize(hs.size());
      for (size_t b = 0; b < hs.size(); b++) {
        eb.blocks[b].hash = hs[b];
        eb.blocks[b].hashed = true;
        if (!same[i].empty()) eb.blocks[b].src = same[i][b];
      }
    }
    meta = format::encode_entry({e.kind, e.elem, s.size, e.name});
    CKPT_RETURN_IF_ERROR(w.record(format::kAppEntry, meta.data(), meta.size()));
    if (same[i].empty()) {
      size_t k = w.data_records().size();
      CKPT_RETURN_IF_ERROR(w.data(s.data, s.size));
      placed(i, k, 0, s.size);
      continue;
    }
    const std::vector<lib::Source>& src = same[i];
    for (size_t b = 0; b < src.size();) {
      size_t end = b + 1;
      if (src[b].generation == 0) {
        // Changed blocks in a row: data records (each starts at a block).
        while (end < src.size() && src[end].generation == 0) end++;
        uint64_t at = uint64_t(b) * lib::kBlock;
        uint64_t to = std::min<uint64_t>(uint64_t(end) * lib::kBlock, s.size);
        size_t k = w.data_records().size();
        CKPT_RETURN_IF_ERROR(w.data(s.data + at, to - at));
        placed(i, k, at, to);
      } else {
        // Unchanged blocks that follow each other in one record: one ref.
        uint64_t len = block_len(s.size, b);
        while (end < src.size() && src[end].generation == src[b].generation &&
               src[end].offset == src[b].offset && src[end].skip == src[b].skip + len &&
               len + block_len(s.size, end) <= format::kMaxChunkRaw) {
          len += block_len(s.size, end);
          end++;
        }
        uint32_t base =
            uint32_t(std::find(bases.begin(), bases.end(), src[b].generation) - bases.begin());
        meta = format::encode_data_ref({base, src[b].offset, src[b].skip, len});
        CKPT_RETURN_IF_ERROR(w.record(format::kDataRef, meta.data(), meta.size()));
      }
      b = end;
    }
  }
  CKPT_RETURN_IF_ERROR(w.commit());
  if (track) {
    std::map<uint64_t, uint64_t> digests = {{generation, w.digest()}};
    if (increment)
      for (uint64_t g : bases) digests[g] = history->digest(g);
    history->set(generation, since_full, std::move(next), std::move(digests));
  }
  return Status::ok();
}

static Status write_generation(format::JobDir& dir, const Options& o, uint64_t generation,
                               const std::vector<Segment>& segments, lib::History* history) {
  CKPT_RETURN_IF_ERROR(write_image(dir.image_path(generation), o, generation, segments, history));
  dir.prune(o.keep);
  return Status::ok();
}

Checkpointer::Checkpointer(Options options) : impl_(new Impl), options_(std::move(options)) {
  if (options_.dir.empty()) options_.dir = format::default_dir();
}

Checkpointer::~Checkpointer() {
  if (impl_->writer.joinable()) {
    {
      std::unique_lock lk(impl_->mu);
      impl_->cv.wait(lk, [&] { return !impl_->job_ready && !impl_->job_running; });
      impl_->quit = true;
    }
    impl_->cv.notify_all();
    impl_->writer.join();
  }
  lib::remove_signal_triggers(this);
}

std::string Checkpointer::dir() const { return options_.dir; }

static Status check_name(Checkpointer::Impl* impl, std::string_view name, bool started) {
  if (started)
    return Status::make(Code::kInvalid, 0, "cannot register '%.*s' after restore()/start()",
                        int(name.size()), name.data());
  if (name.empty() || name.size() > 4096)
    return Status::make(Code::kInvalid, 0, "an entry name must have 1 to 4096 bytes");
  if (impl->find(name))
    return Status::make(Code::kInvalid, 0, "entry '%.*s' is registered twice", int(name.size()),
                        name.data());
  return Status::ok();
}

Status Checkpointer::add_buffer(std::string_view name, void* p, size_t n) {
  CKPT_RETURN_IF_ERROR(check_name(impl_.get(), name, impl_->started));
  if (!p && n)
    return Status::make(Code::kInvalid, 0, "entry '%.*s': null buffer", int(name.size()),
                        name.data());
  Entry e;
  e.name = name;
  e.kind = EntryKind::kBytes;
  e.ptr = p;
  e.size = n;
  impl_->entries.push_back(std::move(e));
  return Status::ok();
}

Status Checkpointer::add_resizable(std::string_view name, size_t elem, void* obj, PtrFn data,
                                   SizeFn size, ResizeFn resize) {
  CKPT_RETURN_IF_ERROR(check_name(impl_.get(), name, impl_->started));
  Entry e;
  e.name = name;
  e.kind = EntryKind::kVector;
  e.elem = uint32_t(elem);
  e.obj = obj;
  e.data_fn = data;
  e.size_fn = size;
  e.resize_fn = resize;
  impl_->entries.push_back(std::move(e));
  return Status::ok();
}

Status Checkpointer::add(std::string_view name, std::string& s) {
  CKPT_RETURN_IF_ERROR(add_resizable(
      name, 1, &s, [](void* o) { return static_cast<void*>(static_cast<std::string*>(o)->data()); },
      [](void* o) { return static_cast<std::string*>(o)->size(); },
      [](void* o, size_t n) {
        auto* str = static_cast<std::string*>(o);
        str->resize(n);
        return static_cast<void*>(str->data());
      }));
  impl_->entries.back().kind = EntryKind::kString;
  return Status::ok();
}

Status Checkpointer::add_callbacks(std::string_view name, std::function<Status(Writer&)> save,
                                   std::function<Status(Reader&)> load) {
  CKPT_RETURN_IF_ERROR(check_name(impl_.get(), name, impl_->started));
  if (!save || !load)
    return Status::make(Code::kInvalid, 0, "entry '%.*s': both callbacks are needed",
                        int(name.size()), name.data());
  Entry e;
  e.name = name;
  e.kind = EntryKind::kCallback;
  e.save = std::move(save);
  e.load = std::move(load);
  impl_->entries.push_back(std::move(e));
  return Status::ok();
}

Status Checkpointer::start() {
  if (impl_->started) return Status::ok();
  CKPT_RETURN_IF_ERROR(impl_->jobdir.open(options_.dir, /*create=*/true));
  CKPT_RETURN_IF_ERROR(impl_->jobdir.lock());
  impl_->next_generation = std::max(impl_->next_generation, impl_->jobdir.next_generation());
  CKPT_RETURN_IF_ERROR(lib::install_signal_triggers(this, options_.signals, options_.stop_signals));

  int64_t now = mono_now_ns();
  if (options_.interval_seconds > 0)
    impl_->interval_due_ns = now + int64_t(options_.interval_seconds * 1e9);
  int64_t deadline = options_.deadline_unix;
  if (deadline == 0 && options_.find_slurm_deadline) {
    const char* job = std::getenv("SLURM_JOB_ID");
    if (job && *job) deadline = lib::slurm_job_end_time(job);
  }
  if (deadline > 0) {
    int64_t left_s = deadline - int64_t(time(nullptr));
    double margin = options_.deadline_margin_seconds;
    if (margin < 0) margin = left_s > 0 && left_s < 180 ? double(left_s) / 3 : 60;
    int64_t left_ns = left_s * 1000000000 - int64_t(margin * 1e9);
    impl_->deadline_due_ns = now + std::max<int64_t>(left_ns, 0);
    impl_->deadline_pending = true;
  }
  next_due_ns_ = std::min(impl_->interval_due_ns, impl_->deadline_due_ns);
  if (next_due_ns_ == INT64_MAX) next_due_ns_ = kNever;

  if (options_.async) {
    size_t total = 0;
    for (auto& e : impl_->entries)
      total += e.kind == EntryKind::kBytes ? e.size : e.size_fn ? e.size_fn(e.obj) : 0;
    if (!impl_->staging.reserve(total))
      return Status::make(Code::kIo, ENOMEM, "cannot allocate %zu bytes of staging memory", total);
    Impl* impl = impl_.get();
    Options opts = options_;
    impl_->writer = std::thread([impl, opts] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      std::unique_lock lk(impl->mu);
      for (;;) {
        impl->cv.wait(lk, [&] { return impl->job_ready || impl->quit; });
        if (impl->job_ready) {
          impl->job_ready = false;
          impl->job_running = true;
          lk.unlock();
          Status s =
              write_generation(impl->jobdir, opts, impl->job_generation, impl->job, &impl->history);
          lk.lock();
          impl->job_status = s;
          impl->job_running = false;
          impl->cv.notify_all();
          continue;
        }
        if (impl->quit) return;
      }
    });
  }
  impl_->started = true;
  return Status::ok();
}

namespace {

struct ImageEntry {
  std::string name;
  EntryKind kind;
  uint32_t elem;
  uint64_t size;
  uint64_t data_bytes = 0;  // what the data records that follow really hold
};

Status parse_entry(const std::vector<uint8_t>& p, const std::string& path, ImageEntry* e) {
  format::AppEntry a;
  if (Status s = format::decode_entry(p, &a); !s)
    return Status::make(Code::kCorrupt, 0, "%s: %s", path.c_str(), s.message());
  e->kind = a.kind;
  e->elem = a.elem;
  e->size = a.size;
  e->name = std::move(a.name);
  return Status::ok();
}

const char* kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::kBytes: return "a value/buffer";
    case EntryKind::kVector: return "a vector";
    case EntryKind::kString: return "a string";
    case EntryKind::kCallback: return "callbacks";
  }
  return "?";
}

}  // namespace

// Memory about to be overwritten in full (a registered buffer the program
// may never have touched): its pages made in one call rather than one
// fault at a time inside the reads, which costs much more in a VM. Only
// whole pages inside it; nothing on a kernel without MADV_POPULATE_WRITE.
static void populate(uint8_t* p, uint64_t n) {
  constexpr uint64_t kPage = 4096;
  if (n < (1u << 20)) return;
  uint64_t a = (uint64_t(p) + kPage - 1) & ~(kPage - 1);
  uint64_t e = (uint64_t(p) + n) & ~(kPage - 1);
  if (e > a) ::madvise(reinterpret_cast<void*>(a), e - a, 23 /* MADV_POPULATE_WRITE */);
}

// Loads a verified image. First pass: every entry must match a registration
// (nothing is touched on a mismatch). Second pass: the bytes.
static Status load_image(Checkpointer::Impl* impl, const std::string& path) {
  std::vector<ImageEntry> image_entries;
  {
    format::ImageReader r;
    CKPT_RETURN_IF_ERROR(r.open(path, /*owned_only=*/true));
    std::vector<uint8_t> payload;
    for (;;) {
      format::RecordInfo rec;
      bool end;
      CKPT_RETURN_IF_ERROR(r.next(&rec, &end));
      if (end) break;
      if (rec.type == format::kData || rec.type == format::kDataRef) {
        if (image_entries.empty())
          return Status::make(Code::kCorrupt, 0, "%s: data before any entry", path.c_str());
        uint64_t n = rec.raw;
        if (rec.type == format::kDataRef) {
          format::DataRef d;
          CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
          CKPT_RETURN_IF_ERROR(format::decode_data_ref(payload, &d));
          // Pages saved once (kSelf) are a process image's; refused before
          // anything is touched.
          if (d.base == format::kSelf)
            return Status::make(Code::kCorrupt, 0, "%s: a data_ref libckpt does not write",
                                path.c_str());
          n = d.len;
        }
        image_entries.back().data_bytes += n;
      }
      if (rec.type != format::kAppEntry) continue;
      CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
      ImageEntry e;
      CKPT_RETURN_IF_ERROR(parse_entry(payload, path, &e));
      for (const ImageEntry& other : image_entries)
        if (other.name == e.name)
          return Status::make(Code::kCorrupt, 0, "%s: entry '%s' appears twice", path.c_str(),
                              e.name.c_str());
      image_entries.push_back(std::move(e));
    }
  }
  for (const ImageEntry& ie : image_entries) {
    // Sizes are checked against the data really present before anything
    // is allocated from them.
    if (ie.size != ie.data_bytes)
      return Status::make(Code::kCorrupt, 0, "%s: entry '%s' declares %llu bytes but holds %llu",
                          path.c_str(), ie.name.c_str(), (unsigned long long)ie.size,
                          (unsigned long long)ie.data_bytes);
    if (ie.size > SIZE_MAX / 2)
      return Status::make(Code::kCorrupt, 0, "%s: entry '%s' is impossibly large", path.c_str(),
                          ie.name.c_str());
    Entry* e = impl->find(ie.name);
    if (!e)
      return Status::make(Code::kMismatch, 0,
                          "%s holds entry '%s', which the program does not register", path.c_str(),
                          ie.name.c_str());
    if (e->kind != ie.kind)
      return Status::make(Code::kMismatch, 0,
                          "%s: entry '%s' was saved as %s, the program registers %s", path.c_str(),
                          ie.name.c_str(), kind_name(ie.kind), kind_name(e->kind));
    if (e->kind == EntryKind::kBytes && ie.size != e->size)
      return Status::make(Code::kMismatch, 0,
                          "%s: entry '%s' has %llu bytes, the program registers %zu", path.c_str(),
                          ie.name.c_str(), (unsigned long long)ie.size, e->size);
    if (e->kind == EntryKind::kVector && (ie.elem != e->elem || ie.size % e->elem != 0))
      return Status::make(Code::kMismatch, 0,
                          "%s: entry '%s' has elements of %u bytes, the program's have %u",
                          path.c_str(), ie.name.c_str(), ie.elem, e->elem);
  }
  for (const Entry& e : impl->entries) {
    bool found = std::any_of(image_entries.begin(), image_entries.end(),
                             [&](const ImageEntry& ie) { return ie.name == e.name; });
    if (!found)
      return Status::make(Code::kMismatch, 0, "%s has no entry '%s', which the program registers",
                          path.c_str(), e.name.c_str());
  }

  format::ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(path, /*owned_only=*/true));
  std::vector<uint8_t> payload;
  format::BaseSet bases;  // an increment's (checked again as they are opened)
  Entry* cur = nullptr;
  uint8_t* dst = nullptr;
  uint64_t want = 0, got = 0;
  auto finish = [&]() -> Status {
    if (!cur) return Status::ok();
    if (got != want)
      return Status::make(Code::kCorrupt, 0, "%s: entry '%s' holds %llu of its %llu bytes",
                          path.c_str(), cur->name.c_str(), (unsigned long long)got,
                          (unsigned long long)want);
    if (cur->kind == EntryKind::kCallback) {
      SpanReader reader(cur->serialized.data(), cur->serialized.size(), cur->name);
      Status s = cur->load(reader);
      cur->serialized.clear();
      cur->serialized.shrink_to_fit();
      if (!s.is_ok()) return s;
    }
    cur = nullptr;
    return Status::ok();
  };
  for (;;) {
    format::RecordInfo rec;
    bool end;
    CKPT_RETURN_IF_ERROR(r.next(&rec, &end));
    if (end) break;
    if (rec.type == format::kAppEntry) {
      CKPT_RETURN_IF_ERROR(finish());
      CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
      ImageEntry ie;
      CKPT_RETURN_IF_ERROR(parse_entry(payload, path, &ie));
      cur = impl->find(ie.name);
      want = ie.size;
      got = 0;
      try {
        switch (cur->kind) {
          case EntryKind::kBytes: dst = static_cast<uint8_t*>(cur->ptr); break;
          case EntryKind::kVector:
          case EntryKind::kString:
            dst = static_cast<uint8_t*>(cur->resize_fn(cur->obj, size_t(want)));
            break;
          case EntryKind::kCallback:
            cur->serialized.resize(size_t(want));
            dst = cur->serialized.data();
            break;
        }
      } catch (const std::exception&) {
        return Status::make(Code::kIo, ENOMEM, "%s: entry '%s' needs %llu bytes", path.c_str(),
                            cur->name.c_str(), (unsigned long long)want);
      }
      populate(dst, want);
    } else if (rec.type == format::kData) {
      if (!cur || got + rec.raw > want)
        return Status::make(Code::kCorrupt, 0, "%s: data outside of any entry", path.c_str());
      // Verified in full by the caller; the lock keeps other writers out.
      CKPT_RETURN_IF_ERROR(r.read_payload(rec, dst + got, /*check=*/false));
      got += rec.raw;
    } else if (rec.type == format::kBase) {
      format::BaseRef b;
      CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
      CKPT_RETURN_IF_ERROR(format::decode_base(payload, &b));
      CKPT_RETURN_IF_ERROR(bases.add(path, b, /*owned_only=*/true));
    } else if (rec.type == format::kDataRef) {
      format::DataRef d;
      CKPT_RETURN_IF_ERROR(r.read_payload(rec, &payload));
      CKPT_RETURN_IF_ERROR(format::decode_data_ref(payload, &d));
      if (!cur || got + d.len > want)
        return Status::make(Code::kCorrupt, 0, "%s: data outside of any entry", path.c_str());
      CKPT_RETURN_IF_ERROR(bases.read(d, dst + got, rec.offset));
      got += d.len;
    }
  }
  return finish();
}

// After a restore, the next increment builds on the restored image: the
// blocks are hashed as they now are in memory (callbacks' bytes are not
// kept: written in full next time). Whether that image was an increment
// itself is not counted: the full image comes full_every generations on.
static void learn_restored(Checkpointer::Impl* impl, const Options& o, const std::string& path,
                           uint64_t generation) {
  if (o.full_every <= 1) return;
  std::map<std::string, std::vector<XXH128_hash_t>> hashes;
  for (Entry& e : impl->entries) {
    if (e.kind == EntryKind::kCallback) continue;
    Segment seg = segment_of(e);
    hashes[e.name] = lib::hash_blocks(seg.data, seg.size);
  }
  // Not learnt (it forgets): the next image is a full one.
  (void)impl->history.learn(path, generation, 0, std::move(hashes));
}

Status Checkpointer::restore(RestoreInfo* info) {
  RestoreInfo local;
  RestoreInfo& out = info ? *info : local;
  out = RestoreInfo();
  CKPT_RETURN_IF_ERROR(start());
  auto gens = impl_->jobdir.list();
  for (auto it = gens.rbegin(); it != gens.rend(); ++it) {
    format::VerifyResult v;
    Status s = format::verify_image(it->path, &v, /*owned_only=*/true);
    if (s.is_ok() && v.header.kind != format::Kind::kApp)
      s = Status::make(Code::kMismatch, 0, "%s is a process image, not libckpt state",
                       it->path.c_str());
    if (s.code() == Code::kCorrupt) {
      // Keep the damaged file for inspection, out of the way of generations.
      std::string kept = it->path + ".damaged";
      ::rename(it->path.c_str(), kept.c_str());
      if (!options_.quiet)
        std::fprintf(stderr, "ckpt: %s; kept as %s, trying the previous generation\n", s.message(),
                     kept.c_str());
      out.skipped_damaged++;
      impl_->next_generation = std::max(impl_->next_generation, it->number + 1);
      continue;
    }
    CKPT_RETURN_IF_ERROR(s);
    s = load_image(impl_.get(), it->path);
    if (!s.is_ok()) return s;
    learn_restored(impl_.get(), options_, it->path, it->number);
    out.restored = true;
    out.generation = it->number;
    out.path = it->path;
    generation_ = it->number;
    if (!options_.quiet)
      std::fprintf(stderr, "ckpt: restored generation %llu from %s\n",
                   (unsigned long long)it->number, options_.dir.c_str());
    return Status::ok();
  }
  if (out.skipped_damaged > 0)
    return Status::make(Code::kCorrupt, 0, "no sound checkpoint in %s (%d damaged)",
                        options_.dir.c_str(), out.skipped_damaged);
  return Status::ok();
}

Status Checkpointer::wait() {
  if (!impl_->writer.joinable()) return Status::ok();
  std::unique_lock lk(impl_->mu);
  impl_->cv.wait(lk, [&] { return !impl_->job_ready && !impl_->job_running; });
  Status s = impl_->job_status;
  impl_->job_status = Status::ok();
  return s;
}

// After a checkpoint: the next interval, and the deadline is spent once passed.
static int64_t rearm_times(Checkpointer::Impl* impl, const Options& o) {
  int64_t now = mono_now_ns();
  if (o.interval_seconds > 0) impl->interval_due_ns = now + int64_t(o.interval_seconds * 1e9);
  if (impl->deadline_pending && now >= impl->deadline_due_ns) {
    impl->deadline_pending = false;
    impl->deadline_due_ns = INT64_MAX;
  }
  return std::min(impl->interval_due_ns, impl->deadline_due_ns);
}

Status Checkpointer::checkpoint() {
  if (!impl_->started) CKPT_RETURN_IF_ERROR(start());
  bool stop = lib::stop_requested();
  lib::clear_signal_flags();

  // Serialize callback entries (their own format, into memory).
  for (Entry& e : impl_->entries) {
    if (e.kind != EntryKind::kCallback) continue;
    e.serialized.clear();
    VectorWriter w(&e.serialized);
    Status s = e.save(w);
    if (!s.is_ok()) return last_ = s;
  }
  uint64_t gen = impl_->next_generation++;
  Status s;
  if (!options_.async) {
    std::vector<Segment> segs;
    for (Entry& e : impl_->entries) segs.push_back(segment_of(e));
    s = write_generation(impl_->jobdir, options_, gen, segs, &impl_->history);
  } else {
    s = wait();  // the previous write's result
    if (!s.is_ok() && !options_.quiet)
      std::fprintf(stderr, "ckpt: background checkpoint failed: %s\n", s.message());
    size_t total = 0;
    for (Entry& e : impl_->entries) total += segment_of(e).size;
    if (!impl_->staging.reserve(total)) {
      s = Status::make(Code::kIo, ENOMEM, "cannot allocate %zu bytes of staging memory", total);
    } else {
      std::vector<Segment> segs;
      uint8_t* p = impl_->staging.data();
      for (Entry& e : impl_->entries) {
        Segment seg = segment_of(e);
        if (seg.size) std::memcpy(p, seg.data, seg.size);
        segs.push_back({seg.entry, p, seg.size});
        p += seg.size;
      }
      {
        std::lock_guard lk(impl_->mu);
        impl_->job = std::move(segs);
        impl_->job_generation = gen;
        impl_->job_ready = true;
      }
      impl_->cv.notify_all();
      s = Status::ok();
    }
  }
  last_ = s;
  if (s.is_ok()) generation_ = gen;
  else impl_->next_generation--;

  next_due_ns_ = rearm_times(impl_.get(), options_);

  if (stop && options_.exit_on_stop) {
    if (s.is_ok()) s = wait();
    if (s.is_ok()) {
      if (!options_.quiet)
        std::fprintf(stderr, "ckpt: saved generation %llu in %s; stopping (exit status %d)\n",
                     (unsigned long long)gen, options_.dir.c_str(), options_.stop_exit_status);
      std::exit(options_.stop_exit_status);
    }
    if (!options_.quiet)
      std::fprintf(stderr, "ckpt: checkpoint failed, stopping without it: %s\n", s.message());
    lib::reraise_stop_signal();
  }
  return s;
}

bool Checkpointer::checkpoint_due_slow() {
  Status s = checkpoint();
  if (!s.is_ok() && !options_.quiet)
    std::fprintf(stderr, "ckpt: checkpoint failed: %s\n", s.message());
  return s.is_ok();
}

namespace lib {

static std::vector<Segment> serialize(Checkpointer::Impl* impl, Status* s) {
  std::vector<Segment> segs;
  *s = Status::ok();
  for (Entry& e : impl->entries) {
    if (e.kind == EntryKind::kCallback) {
      e.serialized.clear();
      VectorWriter w(&e.serialized);
      *s = e.save(w);
      if (!s->is_ok()) return {};
    }
    segs.push_back(segment_of(e));
  }
  return segs;
}

Status Hooks::write_state(Checkpointer& ck, const std::string& path, uint64_t generation) {
  Status s;
  std::vector<Segment> segs = serialize(ck.impl_.get(), &s);
  if (!s.is_ok()) return s;
  return write_image(path, ck.options_, generation, segs, nullptr);
}

Status Hooks::load_state(Checkpointer& ck, const std::string& path) {
  format::VerifyResult v;
  CKPT_RETURN_IF_ERROR(format::verify_image(path, &v, /*owned_only=*/true));
  if (v.header.kind != format::Kind::kApp)
    return Status::make(Code::kMismatch, 0, "%s is a process image, not libckpt state",
                        path.c_str());
  CKPT_RETURN_IF_ERROR(load_image(ck.impl_.get(), path));
  ck.generation_ = v.header.generation;
  return Status::ok();
}

bool Hooks::deadline_reached(const Checkpointer& ck) {
  return ck.impl_->deadline_pending && mono_now_ns() >= ck.impl_->deadline_due_ns;
}

void Hooks::spend_deadline(Checkpointer& ck) {
  ck.impl_->deadline_pending = false;
  ck.impl_->deadline_due_ns = INT64_MAX;
  ck.next_due_ns_ = std::min(ck.impl_->interval_due_ns, ck.impl_->deadline_due_ns);
}

bool Hooks::rearm(Checkpointer& ck) {
  bool stop = stop_requested();
  clear_signal_flags();
  ck.next_due_ns_ = rearm_times(ck.impl_.get(), ck.options_);
  return stop;
}

}  // namespace lib
}  // namespace ckpt
