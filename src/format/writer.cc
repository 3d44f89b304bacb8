#include "format/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/endian.h"

namespace ckpt::format {

namespace {
constexpr size_t kBufferSize = 1 << 20;
constexpr size_t kDirectWrite = 256 << 10;  // larger payloads bypass the buffer

std::string dirname_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

ImageWriter::ImageWriter(Fs* fs) : fs_(fs) {}

ImageWriter::~ImageWriter() {
  abort();
  for (auto* z : zctx_)
    if (z) ZSTD_freeCCtx(z);
  for (auto* z : probe_)
    if (z) ZSTD_freeCCtx(z);
  if (digest_) XXH3_freeState(digest_);
}

uint64_t ImageWriter::digest() const { return digest_ ? XXH3_64bits_digest(digest_) : 0; }

bool direct_from_env() {
  const char* d = std::getenv("CKPT_DIRECT");
  return !(d && std::strcmp(d, "0") == 0);
}

std::vector<uint8_t> encode_entry(const AppEntry& e) {
  std::vector<uint8_t> out(20 + e.name.size(), 0);
  put_u32(out.data(), uint32_t(e.kind));
  put_u32(out.data() + 4, e.elem);
  put_u64(out.data() + 8, e.size);
  put_u32(out.data() + 16, uint32_t(e.name.size()));
  std::memcpy(out.data() + 20, e.name.data(), e.name.size());
  return out;
}

Status ImageWriter::open(const std::string& final_path, Kind kind, uint64_t generation,
                         const WriterOptions& options) {
  abort();
  options_ = options;
  if (options_.chunk == 0 || options_.chunk > kMaxChunkRaw) options_.chunk = kDefaultChunk;
  final_path_ = final_path;
  dir_ = dirname_of(final_path);
  size_t slash = final_path.rfind('/');
  std::string base = slash == std::string::npos ? final_path : final_path.substr(slash + 1);
  temp_path_ = dir_ + "/." + base + ".tmp";
  offset_ = written_ = writeback_ = records_ = raw_total_ = 0;
  buffer_.clear();
  buffer_.reserve(kBufferSize);

  fs_->unlink(temp_path_.c_str());  // a stale one from a crash
  int fd = -EINVAL;
  if (options_.direct)
    fd = fs_->open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0600);
  if (fd >= 0) {
    blocks_ = std::make_unique<BlockWriter>(fs_, fd, temp_path_.c_str());
    if (!blocks_->ok()) blocks_.reset();
    // Without its buffers the file is written like any other.
    if (!blocks_) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_DIRECT);
  } else if (fd == -EINVAL) {  // no O_DIRECT here
    fs_->unlink(temp_path_.c_str());
    fd = fs_->open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) return write_error(-fd, "cannot create", temp_path_.c_str());
  fd_ = fd;

  if (options_.zstd_level > 0) {
    for (int i = 0; i < 2; i++) {
      if (!zctx_[i]) zctx_[i] = ZSTD_createCCtx();
      if (!probe_[i]) probe_[i] = ZSTD_createCCtx();
      if (!zctx_[i] || !probe_[i])
        return Status::make(Code::kIo, ENOMEM, "cannot create a zstd context");
      ZSTD_CCtx_reset(zctx_[i], ZSTD_reset_session_and_parameters);
      ZSTD_CCtx_setParameter(zctx_[i], ZSTD_c_compressionLevel, options_.zstd_level);
      // zstd's own workers split each chunk across the cores: jobs of a
      // chunk's share per core (zstd's default job is 4 windows, which at
      // low levels can be the whole chunk, on one core).
      unsigned cores = std::thread::hardware_concurrency();
      cores = cores > 8 ? 8 : cores < 1 ? 1 : cores;
      ZSTD_CCtx_setParameter(zctx_[i], ZSTD_c_nbWorkers, int(cores));
      size_t job = std::max<size_t>(options_.chunk / cores, 512 << 10);
      ZSTD_CCtx_setParameter(zctx_[i], ZSTD_c_jobSize, int(job));
      zbuf_[i].resize(ZSTD_compressBound(options_.chunk));
    }
  }

  uint8_t h[kFileHeaderSize] = {};
  std::memcpy(h, kMagic, sizeof kMagic);
  put_u32(h + 8, options.self_refs   ? kVersion
                 : options.increment ? kVersionIncrement
                                     : kVersionPlain);
  put_u32(h + 12, uint32_t(kind));
  put_u64(h + 16, generation);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t created = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
  put_u64(h + 24, created);
  if (!digest_) digest_ = XXH3_createState();
  if (!digest_) return Status::make(Code::kIo, ENOMEM, "cannot allocate a hash state");
  XXH3_64bits_reset_withSeed(digest_, created);
  data_records_.clear();
  put_u32(h + 32, 0);
  put_u32(h + 36, kFileHeaderSize);
  put_u64(h + 56, XXH3_64bits(h, 56));
  buffer_.insert(buffer_.end(), h, h + sizeof h);
  offset_ = sizeof h;
  return Status::ok();
}

void ImageWriter::note_written(uint64_t n) {
  written_ += n;
  // Without this the page cache holds everything until the final fsync
  // (dirty limits are GiBs on big machines) and the disk idles meanwhile.
  constexpr uint64_t kWritebackStep = 8 << 20;
  if (written_ - writeback_ >= kWritebackStep) {
    fs_->start_writeback(fd_, writeback_, written_ - writeback_);
    writeback_ = written_;
  }
}

Status ImageWriter::flush_buffer() {
  if (buffer_.empty()) return Status::ok();
  Status s = write_all(*fs_, fd_, buffer_.data(), buffer_.size(), temp_path_.c_str());
  if (s.is_ok()) note_written(buffer_.size());
  buffer_.clear();
  return s;
}

Status ImageWriter::emit(uint32_t type, uint32_t flags, const void* stored, size_t stored_n,
                         size_t raw_n) {
  return emit_hashed(type, flags, stored, stored_n, raw_n, XXH3_64bits(stored, stored_n));
}

// The header of a record starting at offset_, which it moves past the record.
void ImageWriter::put_header(uint8_t* h, uint32_t type, uint32_t flags, size_t stored_n,
                             size_t raw_n, uint64_t hash) {
  put_u32(h, type);
  put_u32(h + 4, flags);
  put_u64(h + 8, stored_n);
  put_u64(h + 16, raw_n);
  put_u64(h + 24, hash);
  // Seeding the header hash with the record's offset catches records that
  // are intact but in the wrong place.
  put_u64(h + 32, XXH3_64bits_withSeed(h, 32, offset_));
  XXH3_64bits_update(digest_, h, 32);
  if (type == kData) data_records_.push_back({offset_, raw_n});
  offset_ += kRecordHeaderSize + stored_n;
  records_++;
  if (type != kEnd) raw_total_ += raw_n;
}

Status ImageWriter::emit_hashed(uint32_t type, uint32_t flags, const void* stored, size_t stored_n,
                                size_t raw_n, uint64_t hash) {
  if (fd_ < 0) return Status::make(Code::kInvalid, 0, "image writer is not open");
  uint8_t h[kRecordHeaderSize];
  put_header(h, type, flags, stored_n, raw_n, hash);

  if (blocks_) {
    if (!buffer_.empty()) {  // the file header
      CKPT_RETURN_IF_ERROR(blocks_->append(buffer_.data(), buffer_.size()));
      buffer_.clear();
    }
    CKPT_RETURN_IF_ERROR(blocks_->append(h, sizeof h));
    return blocks_->append(stored, stored_n);
  }
  if (stored_n < kDirectWrite) {
    if (buffer_.size() + sizeof h + stored_n > kBufferSize) CKPT_RETURN_IF_ERROR(flush_buffer());
    buffer_.insert(buffer_.end(), h, h + sizeof h);
    const uint8_t* p = static_cast<const uint8_t*>(stored);
    buffer_.insert(buffer_.end(), p, p + stored_n);
    return Status::ok();
  }
  // Large payloads go straight from the caller's memory to the file.
  buffer_.insert(buffer_.end(), h, h + sizeof h);
  iovec iov[2] = {{buffer_.data(), buffer_.size()}, {const_cast<void*>(stored), stored_n}};
  size_t n = buffer_.size() + stored_n;
  Status s = writev_all(*fs_, fd_, iov, 2, temp_path_.c_str());
  if (s.is_ok()) note_written(n);
  buffer_.clear();
  return s;
}

Status ImageWriter::record(uint32_t type, const void* payload, size_t n, uint32_t flags) {
  if (n > kMaxMetaRecord)
    return Status::make(Code::kInvalid, 0, "record of %zu bytes is over the %llu-byte limit", n,
                        (unsigned long long)kMaxMetaRecord);
  return emit(type, flags, payload, n, n);
}

namespace {
// Whether a chunk is worth compressing, judged from a few samples spread
// over it: random data, already compressed data and encrypted data cost a
// full zstd pass for nothing otherwise. Samples must shrink by 1/32 at
// zstd's fastest level.
constexpr size_t kSample = 16 << 10;
constexpr int kSamples = 4;

bool worth_compressing(ZSTD_CCtx* probe, const uint8_t* src, size_t n) {
  if (n < kSamples * kSample * 2) return true;  // small: just try
  uint8_t out[ZSTD_COMPRESSBOUND(kSample)];
  size_t in = 0, outn = 0;
  for (int i = 0; i < kSamples; i++) {
    const uint8_t* p = src + (n - kSample) / (kSamples - 1) * size_t(i);
    size_t z = ZSTD_compressCCtx(probe, out, sizeof out, p, kSample, 1);
    if (ZSTD_isError(z)) return true;
    in += kSample;
    outn += z;
  }
  return outn * 32 < in * 31;
}
}  // namespace

void ImageWriter::prepare(int slot, const uint8_t* src, size_t n, Prepared* out) {
  out->raw_n = n;
  out->stored = src;
  out->stored_n = n;
  out->flags = 0;
  if (options_.zstd_level > 0 && worth_compressing(probe_[slot], src, n)) {
    size_t z = ZSTD_compress2(zctx_[slot], zbuf_[slot].data(), zbuf_[slot].size(), src, n);
    if (!ZSTD_isError(z) && z < n) {
      out->stored = zbuf_[slot].data();
      out->stored_n = z;
      out->flags = kFlagZstd;
    }
  }
  out->hash = XXH3_64bits(out->stored, out->stored_n);
}

// Chunks are prepared (checksummed, compressed) one ahead of the writes, on
// a second thread: the disk and the CPU work at the same time.
Status ImageWriter::data(const void* p, size_t n) {
  const uint8_t* src = static_cast<const uint8_t*>(p);
  if (in_blocks())
    return data_in_blocks(n, [src](uint8_t* dst, uint64_t off, size_t k) {
      std::memcpy(dst, src + off, k);
      return Status::ok();
    });
  size_t chunk = options_.chunk;
  size_t chunks = (n + chunk - 1) / chunk;
  auto piece = [&](size_t k) { return k + 1 < chunks ? chunk : n - k * chunk; };
  Prepared slots[2];
  if (chunks <= 1) {
    if (n == 0) return Status::ok();
    prepare(0, src, n, &slots[0]);
    return emit_hashed(kData, slots[0].flags, slots[0].stored, slots[0].stored_n, n, slots[0].hash);
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t produced = 0, consumed = 0;
  bool stop = false;
  std::thread producer([&] {
    for (size_t k = 0; k < chunks; k++) {
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return k - consumed < 2 || stop; });
        if (stop) return;
      }
      prepare(int(k % 2), src + k * chunk, piece(k), &slots[k % 2]);
      {
        std::lock_guard lk(mu);
        produced = k + 1;
      }
      cv.notify_all();
    }
  });
  Status s;
  for (size_t k = 0; k < chunks; k++) {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return produced > k; });
    }
    const Prepared& c = slots[k % 2];
    s = emit_hashed(kData, c.flags, c.stored, c.stored_n, c.raw_n, c.hash);
    {
      std::lock_guard lk(mu);
      consumed = k + 1;
      if (!s.is_ok()) stop = true;
    }
    cv.notify_all();
    if (!s.is_ok()) break;
  }
  producer.join();
  return s;
}

// Each DATA record's header goes in first with a zero checksum; the payload
// is filled in after it piece by piece and hashed while the piece is still
// in the cache; the header is then patched. Blocks are held back meanwhile
// (a chunk spans at most two), so the disk never sees the unpatched header.
Status ImageWriter::data_in_blocks(uint64_t n, const Fill& fill) {
  constexpr size_t kPiece = 256 << 10;  // filled and hashed at once: fits in L2
  if (!buffer_.empty()) {               // the file header
    CKPT_RETURN_IF_ERROR(blocks_->append(buffer_.data(), buffer_.size()));
    buffer_.clear();
  }
  size_t chunk = options_.chunk;
  XXH3_state_t* st = XXH3_createState();
  if (!st) return Status::make(Code::kIo, ENOMEM, "cannot allocate a hash state");
  Status s;
  for (uint64_t off = 0; s.is_ok() && off < n;) {
    size_t len = size_t(std::min<uint64_t>(chunk, n - off));
    uint64_t at = blocks_->size();
    uint8_t h[kRecordHeaderSize] = {};
    blocks_->hold();
    s = blocks_->append(h, sizeof h);
    XXH3_64bits_reset(st);
    for (size_t done = 0; s.is_ok() && done < len;) {
      size_t room;
      uint8_t* dst = blocks_->space(&room);
      size_t k = std::min({room, len - done, kPiece});
      s = fill(dst, off + done, k);
      if (!s.is_ok()) break;
      XXH3_64bits_update(st, dst, k);
      s = blocks_->advance(k);
      done += k;
    }
    if (!s.is_ok()) break;
    put_header(h, kData, 0, len, len, XXH3_64bits_digest(st));
    blocks_->patch(at, h, sizeof h);
    s = blocks_->release();
    off += len;
  }
  XXH3_freeState(st);
  return s;
}

Status ImageWriter::data_from(uint64_t n, const Fill& fill) {
  if (in_blocks()) return data_in_blocks(n, fill);
  // Chunk k+1 is filled on a second thread while chunk k is prepared and
  // written.
  size_t chunk = options_.chunk;
  uint64_t chunks = (n + chunk - 1) / chunk;
  auto piece = [&](uint64_t k) { return size_t(std::min<uint64_t>(chunk, n - k * chunk)); };
  for (auto& b : fill_buf_) b.resize(size_t(std::min<uint64_t>(chunk, n)));
  if (chunks == 0) return Status::ok();
  Status s = fill(fill_buf_[0].data(), 0, piece(0));
  for (uint64_t k = 0; s.is_ok() && k < chunks; k++) {
    Status next_s;
    std::thread next;
    if (k + 1 < chunks)
      next = std::thread(
          [&, k] { next_s = fill(fill_buf_[(k + 1) % 2].data(), (k + 1) * chunk, piece(k + 1)); });
    s = data(fill_buf_[k % 2].data(), piece(k));
    if (next.joinable()) next.join();
    if (s.is_ok()) s = next_s;
  }
  return s;
}

Status ImageWriter::commit() {
  uint8_t end[24];
  put_u64(end, records_);
  put_u64(end + 8, raw_total_);
  put_u64(end + 16, 0);
  CKPT_RETURN_IF_ERROR(emit(kEnd, 0, end, sizeof end, sizeof end));
  CKPT_RETURN_IF_ERROR(flush_buffer());
  if (blocks_) {
    CKPT_RETURN_IF_ERROR(blocks_->finish(offset_));
    blocks_.reset();
  }
  int r = fs_->fsync(fd_);
  if (r < 0) return write_error(-r, "cannot fsync", temp_path_.c_str());
  r = fs_->close(fd_);
  fd_ = -1;
  if (r < 0) return write_error(-r, "cannot close", temp_path_.c_str());
  r = fs_->rename_noreplace(temp_path_.c_str(), final_path_.c_str());
  if (r < 0) {
    fs_->unlink(temp_path_.c_str());
    return Status::make(Code::kIo, -r, "cannot commit %s", final_path_.c_str());
  }
  r = fs_->fsync_dir(dir_.c_str());
  if (r < 0) return write_error(-r, "cannot fsync directory", dir_.c_str());
  temp_path_.clear();
  return Status::ok();
}

void ImageWriter::abort() {
  blocks_.reset();
  if (fd_ >= 0) {
    fs_->close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    fs_->unlink(temp_path_.c_str());
    temp_path_.clear();
  }
  buffer_.clear();
}

}  // namespace ckpt::format
