#include "format/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>

#include "base/endian.h"
#include "format/chain.h"

namespace ckpt::format {

namespace {
// Fuzzing builds accept any checksum, so the fuzzer reaches the parsers
// behind them instead of stopping at the first hash.
inline bool hash_ok(uint64_t stored, uint64_t computed) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)stored;
  (void)computed;
  return true;
#else
  return stored == computed;
#endif
}
}  // namespace

ImageReader::~ImageReader() {
  if (fd_ >= 0) ::close(fd_);
}

Status ImageReader::corrupt(uint64_t offset, const char* what) const {
  return Status::make(Code::kCorrupt, 0, "%s: damaged at byte %llu: %s", path_.c_str(),
                      (unsigned long long)offset, what);
}

Status ImageReader::read_at(uint64_t off, void* dst, size_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd_, p, n, off_t(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::make(Code::kIo, errno, "cannot read %s", path_.c_str());
    if (r == 0) return corrupt(off, "file ends early (truncated)");
    p += r;
    off += uint64_t(r);
    n -= size_t(r);
  }
  return Status::ok();
}

Status check_owned_image(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::make(Code::kIo, errno, "cannot stat %s", path.c_str());
  if (!S_ISREG(st.st_mode))
    return Status::make(Code::kInvalid, 0, "%s is not a regular file", path.c_str());
  if (st.st_uid != ::geteuid())
    return Status::make(Code::kInvalid, 0,
                        "%s belongs to another user (uid %u): only your own images are restored; "
                        "remove it or restore as its owner",
                        path.c_str(), unsigned(st.st_uid));
  if (st.st_mode & 022)
    return Status::make(Code::kInvalid, 0,
                        "%s is writable by other users (mode %04o), so anyone could have changed "
                        "it: refused (chmod 600 it if you trust its content)",
                        path.c_str(), unsigned(st.st_mode & 07777));
  return Status::ok();
}

Status ImageReader::open(const std::string& path, bool owned_only) {
  path_ = path;
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (owned_only ? O_NOFOLLOW | O_NONBLOCK : 0));
  if (fd_ < 0) {
    int err = errno;
    struct stat lst;
    if (owned_only && ::lstat(path.c_str(), &lst) == 0) {
      if (S_ISLNK(lst.st_mode))
        return Status::make(Code::kInvalid, 0,
                            "%s is a symbolic link: an image is restored only from a file of its "
                            "own, never through a link",
                            path.c_str());
      if (lst.st_uid != ::geteuid())
        return Status::make(Code::kInvalid, 0,
                            "%s belongs to another user (uid %u): only your own images are "
                            "restored; remove it or restore as its owner",
                            path.c_str(), unsigned(lst.st_uid));
    }
    return Status::make(err == ENOENT ? Code::kNotFound : Code::kIo, err, "cannot open %s",
                        path.c_str());
  }
  if (owned_only) CKPT_RETURN_IF_ERROR(check_owned_image(fd_, path));
  struct stat st;
  if (fstat(fd_, &st) != 0) return Status::make(Code::kIo, errno, "cannot stat %s", path.c_str());
  if (!S_ISREG(st.st_mode))
    return Status::make(Code::kInvalid, 0, "%s is not a regular file", path.c_str());
  size_ = uint64_t(st.st_size);
  uint8_t h[kFileHeaderSize];
  size_t head = size_ < sizeof h ? size_t(size_) : sizeof h;
  CKPT_RETURN_IF_ERROR(read_at(0, h, head));
  if (head < sizeof kMagic || std::memcmp(h, kMagic, sizeof kMagic) != 0)
    return Status::make(Code::kCorrupt, 0, "%s is not a ckpt image (bad magic)", path.c_str());
  if (size_ < kFileHeaderSize) return corrupt(0, "file ends inside its header (truncated)");
  if (!hash_ok(get_u64(h + 56), XXH3_64bits(h, 56)))
    return corrupt(0, "file header checksum mismatch");
  header_.version = get_u32(h + 8);
  if (header_.version < kVersionPlain || header_.version > kVersion)
    return Status::make(Code::kUnsupported, 0,
                        "%s has format version %u; this ckpt reads versions %u to %u", path.c_str(),
                        header_.version, kVersionPlain, kVersion);
  uint32_t kind = get_u32(h + 12);
  if (kind != uint32_t(Kind::kApp) && kind != uint32_t(Kind::kProcess))
    return corrupt(12, "unknown image kind");
  header_.kind = Kind(kind);
  header_.generation = get_u64(h + 16);
  header_.created_ns = get_u64(h + 24);
  uint32_t header_size = get_u32(h + 36);
  if (header_size != kFileHeaderSize) return corrupt(36, "unexpected header size");
  pos_ = kFileHeaderSize;
  ended_ = false;
  return Status::ok();
}

Status ImageReader::next(RecordInfo* r, bool* end) {
  *end = false;
  if (ended_) {
    *end = true;
    return Status::ok();
  }
  if (pos_ == size_) return corrupt(pos_, "file ends before its end record (truncated)");
  CKPT_RETURN_IF_ERROR(record_at(pos_, r));
  if ((r->type == kBase || r->type == kDataRef) && header_.version < 2)
    return corrupt(pos_, "a version 2 record in a version 1 file");
  pos_ += kRecordHeaderSize + r->stored;
  if (r->type == kEnd) {
    if (pos_ != size_) return corrupt(pos_, "bytes after the end record");
    ended_ = true;
  }
  return Status::ok();
}

Status ImageReader::record_at(uint64_t off, RecordInfo* r) const {
  if (off < kFileHeaderSize || off > size_ || size_ - off < kRecordHeaderSize)
    return corrupt(off, "truncated record header");
  uint8_t h[kRecordHeaderSize];
  CKPT_RETURN_IF_ERROR(read_at(off, h, sizeof h));
  if (!hash_ok(get_u64(h + 32), XXH3_64bits_withSeed(h, 32, off)))
    return corrupt(off, "record header checksum mismatch");
  r->type = get_u32(h);
  r->flags = get_u32(h + 4);
  r->stored = get_u64(h + 8);
  r->raw = get_u64(h + 16);
  r->payload_hash = get_u64(h + 24);
  r->offset = off;
  if (r->flags & ~kKnownFlags) return corrupt(off, "unknown record flags");
  uint64_t left = size_ - off - kRecordHeaderSize;
  if (r->stored > left) return corrupt(off, "record runs past the end of the file (truncated)");
  uint64_t cap = r->type == kData ? kMaxChunkRaw : kMaxMetaRecord;
  if (r->raw > cap) return corrupt(off, "record size over the format's limit");
  if (!(r->flags & kFlagZstd) && r->raw != r->stored) return corrupt(off, "record sizes disagree");
  return Status::ok();
}

Status ImageReader::read_payload(const RecordInfo& r, void* dst, bool check) {
  uint64_t off = r.offset + kRecordHeaderSize;
  if (!(r.flags & kFlagZstd)) {
    CKPT_RETURN_IF_ERROR(read_at(off, dst, r.stored));
    if (check && !hash_ok(r.payload_hash, XXH3_64bits(dst, r.stored)))
      return corrupt(r.offset, "record payload checksum mismatch");
    return Status::ok();
  }
  return unpack_payload(r, dst, &unpacker_);
}

Status ImageReader::unpack_payload(const RecordInfo& r, void* dst, Unpacker* u) const {
  u->scratch.resize(r.stored);
  CKPT_RETURN_IF_ERROR(read_at(r.offset + kRecordHeaderSize, u->scratch.data(), r.stored));
  if (!hash_ok(r.payload_hash, XXH3_64bits(u->scratch.data(), r.stored)))
    return corrupt(r.offset, "record payload checksum mismatch");
  if (!u->ctx) u->ctx = ZSTD_createDCtx();
  if (!u->ctx) return Status::make(Code::kIo, ENOMEM, "cannot create a zstd context");
  size_t n = ZSTD_decompressDCtx(u->ctx, dst, r.raw, u->scratch.data(), r.stored);
  if (ZSTD_isError(n) || n != r.raw) return corrupt(r.offset, "compressed payload does not decode");
  return Status::ok();
}

Status ImageReader::read_payload(const RecordInfo& r, std::vector<uint8_t>* out) {
  out->resize(r.raw);
  return read_payload(r, out->data());
}

Status ImageReader::check_payload(const RecordInfo& r) {
  // Hash in bounded pieces so a 64 MiB record needs no 64 MiB buffer.
  XXH3_state_t* st = XXH3_createState();
  if (!st) return Status::make(Code::kIo, ENOMEM, "cannot allocate a hash state");
  XXH3_64bits_reset(st);
  std::vector<uint8_t>& scratch = unpacker_.scratch;
  scratch.resize(1 << 20);
  uint64_t off = r.offset + kRecordHeaderSize, left = r.stored;
  Status s;
  while (left > 0 && s.is_ok()) {
    size_t take = left < scratch.size() ? size_t(left) : scratch.size();
    s = read_at(off, scratch.data(), take);
    XXH3_64bits_update(st, scratch.data(), take);
    off += take;
    left -= take;
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  CKPT_RETURN_IF_ERROR(s);
  if (!hash_ok(r.payload_hash, h)) return corrupt(r.offset, "record payload checksum mismatch");
  return Status::ok();
}

Status decode_entry(const std::vector<uint8_t>& p, AppEntry* e) {
  if (p.size() < 20) return Status::make(Code::kCorrupt, 0, "bad entry record (field name_len)");
  if (p.size() != 20 + size_t(get_u32(p.data() + 16)))
    return Status::make(Code::kCorrupt, 0, "bad entry record (field name)");
  uint32_t kind = get_u32(p.data());
  if (kind < 1 || kind > 4)
    return Status::make(Code::kCorrupt, 0, "bad entry record (field kind: %u)", kind);
  e->kind = EntryKind(kind);
  e->elem = get_u32(p.data() + 4);
  e->size = get_u64(p.data() + 8);
  e->name.assign(reinterpret_cast<const char*>(p.data() + 20), p.size() - 20);
  return Status::ok();
}

Status verify_image(const std::string& path, VerifyResult* out, bool owned_only) {
  ImageReader reader;
  CKPT_RETURN_IF_ERROR(reader.open(path, owned_only));
  VerifyResult v;
  v.header = reader.header();
  v.file_bytes = reader.file_size();
  std::vector<uint8_t> end_payload, slice;
  BaseSet bases;
  // A second reader of the file for the data_refs that name it.
  ImageReader self;
  if (reader.header().version >= kVersion) {
    CKPT_RETURN_IF_ERROR(self.open(path, owned_only));
    bases.add_self(&self);
  }
  for (;;) {
    RecordInfo r;
    bool end = false;
    CKPT_RETURN_IF_ERROR(reader.next(&r, &end));
    if (end) break;
    if (r.type == kEnd) {
      CKPT_RETURN_IF_ERROR(reader.read_payload(r, &end_payload));
      if (end_payload.size() != 24 || get_u64(end_payload.data()) != v.records ||
          get_u64(end_payload.data() + 8) != v.raw_bytes)
        return Status::make(Code::kCorrupt, 0, "%s: end record does not match the records",
                            path.c_str());
      continue;
    }
    CKPT_RETURN_IF_ERROR(reader.check_payload(r));
    v.records++;
    v.raw_bytes += r.raw;
    // An increment: its bases must be the images it was built on, and every
    // slice it takes from them must be there and sound (format/chain.h).
    if (r.type == kBase) {
      BaseRef b;
      std::vector<uint8_t> payload;
      CKPT_RETURN_IF_ERROR(reader.read_payload(r, &payload));
      Status s = decode_base(payload, &b);
      if (s.is_ok()) s = bases.add(path, b, owned_only);
      if (!s.is_ok()) return Status::make(Code::kCorrupt, 0, "%s: %s", path.c_str(), s.message());
      v.bases.push_back(b.generation);
    } else if (r.type == kDataRef) {
      DataRef d;
      std::vector<uint8_t> payload;
      CKPT_RETURN_IF_ERROR(reader.read_payload(r, &payload));
      Status s = decode_data_ref(payload, &d);
      if (s.is_ok()) {
        slice.resize(d.len);
        s = bases.read(d, slice.data(), r.offset);
      }
      if (!s.is_ok()) return Status::make(Code::kCorrupt, 0, "%s: %s", path.c_str(), s.message());
      if (d.base != kSelf) v.referred_bytes += d.len;
    }
  }
  if (out) *out = v;
  return Status::ok();
}

}  // namespace ckpt::format
