#include "format/chain.h"

#include <errno.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "base/endian.h"

namespace ckpt::format {

std::vector<uint8_t> encode_base(const BaseRef& b) {
  std::vector<uint8_t> out(16);
  put_u64(out.data(), b.generation);
  put_u64(out.data() + 8, b.digest);
  return out;
}

std::vector<uint8_t> encode_data_ref(const DataRef& d) {
  std::vector<uint8_t> out(32);
  put_u32(out.data(), d.base);
  put_u32(out.data() + 4, 0);
  put_u64(out.data() + 8, d.offset);
  put_u64(out.data() + 16, d.skip);
  put_u64(out.data() + 24, d.len);
  return out;
}

Status decode_base(const std::vector<uint8_t>& in, BaseRef* b) {
  if (in.size() < 16) return Status::make(Code::kCorrupt, 0, "bad base record (field digest)");
  b->generation = get_u64(in.data());
  b->digest = get_u64(in.data() + 8);
  if (b->generation == 0)
    return Status::make(Code::kCorrupt, 0, "bad base record (field generation)");
  return Status::ok();
}

Status decode_data_ref(const std::vector<uint8_t>& in, DataRef* d) {
  if (in.size() < 32) return Status::make(Code::kCorrupt, 0, "bad data_ref record (field len)");
  d->base = get_u32(in.data());
  d->offset = get_u64(in.data() + 8);
  d->skip = get_u64(in.data() + 16);
  d->len = get_u64(in.data() + 24);
  if (d->len == 0 || d->len > kMaxChunkRaw)
    return Status::make(Code::kCorrupt, 0, "bad data_ref record (field len)");
  if (d->skip > kMaxChunkRaw)
    return Status::make(Code::kCorrupt, 0, "bad data_ref record (field skip)");
  return Status::ok();
}

Status walk_image(ImageReader& r, uint64_t* digest,
                  const std::function<Status(const RecordInfo&)>& each) {
  XXH3_state_t* st = XXH3_createState();
  if (!st) return Status::make(Code::kIo, ENOMEM, "cannot allocate a hash state");
  XXH3_64bits_reset_withSeed(st, r.header().created_ns);
  Status s;
  for (;;) {
    RecordInfo ri;
    bool end = false;
    s = r.next(&ri, &end);
    if (!s.is_ok() || end) break;
    uint8_t h[32];
    put_u32(h, ri.type);
    put_u32(h + 4, ri.flags);
    put_u64(h + 8, ri.stored);
    put_u64(h + 16, ri.raw);
    put_u64(h + 24, ri.payload_hash);
    XXH3_64bits_update(st, h, sizeof h);
    if (ri.type != kEnd && each) s = each(ri);
    if (!s.is_ok()) break;
  }
  *digest = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return s;
}

Status image_digest(ImageReader& r, uint64_t* digest, std::vector<BaseRef>* bases) {
  std::vector<uint8_t> payload;
  return walk_image(r, digest, [&](const RecordInfo& ri) {
    if (ri.type != kBase || !bases) return Status::ok();
    BaseRef b;
    CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
    CKPT_RETURN_IF_ERROR(decode_base(payload, &b));
    bases->push_back(b);
    return Status::ok();
  });
}

Status image_digest(const std::string& path, uint64_t* digest, std::vector<BaseRef>* bases) {
  ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(path));
  return image_digest(r, digest, bases);
}

std::string sibling_image(const std::string& image, uint64_t generation) {
  size_t slash = image.rfind('/');
  std::string dir = slash == std::string::npos ? "." : image.substr(0, slash);
  char name[64];
  std::snprintf(name, sizeof name, "/ckpt-%012llu.img", (unsigned long long)generation);
  return dir + name;
}

std::vector<uint64_t> read_bases(const std::string& path) {
  std::vector<uint64_t> out;
  ImageReader r;
  if (!r.open(path).is_ok() || r.header().version < 2) return out;
  std::vector<uint8_t> payload;
  for (int k = 0; k < 1 << 16; k++) {
    RecordInfo ri;
    bool end = false;
    if (!r.next(&ri, &end).is_ok() || end) break;
    if (ri.type == kData || ri.type == kDataRef || ri.type == kEnd) break;
    BaseRef b;
    if (ri.type == kBase && r.read_payload(ri, &payload).is_ok() &&
        decode_base(payload, &b).is_ok())
      out.push_back(b.generation);
  }
  return out;
}

namespace {

// A base's reader names it by its full path; the base sits beside the image
// the user named, so its file name is enough, and a long path must not push
// the reason out of a Status's fixed-size message.
std::string without_dir(const char* message, const std::string& path) {
  std::string m = message;
  if (m.starts_with(path)) m.replace(0, path.size(), path.substr(path.rfind('/') + 1));
  return m;
}

}  // namespace

Status BaseSet::add(const std::string& image, const BaseRef& b, bool owned_only) {
  std::string path = sibling_image(image, b.generation);
  Open o{std::make_unique<ImageReader>(), b.generation, path};
  Status s = o.reader->open(path, owned_only);
  if (!s.is_ok())
    return Status::make(
        Code::kCorrupt, 0, "a broken chain: its base, generation %llu, %s",
        (unsigned long long)b.generation,
        s.code() == Code::kNotFound ? "is missing" : without_dir(s.message(), path).c_str());
  uint64_t digest = 0;
  s = image_digest(*o.reader, &digest);
  if (!s.is_ok())
    return Status::make(Code::kCorrupt, 0,
                        "a broken chain: its base, generation %llu, is damaged (%s)",
                        (unsigned long long)b.generation, without_dir(s.message(), path).c_str());
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  digest = b.digest;  // checksums are not enforced in fuzz builds (fuzz/CMakeLists.txt)
#endif
  if (digest != b.digest)
    return Status::make(Code::kCorrupt, 0,
                        "a broken chain: its base, generation %llu, is not the image it was "
                        "built on (digest %016llx, expected %016llx)",
                        (unsigned long long)b.generation, (unsigned long long)digest,
                        (unsigned long long)b.digest);
  bases_.push_back(std::move(o));
  return Status::ok();
}

Status BaseSet::read(const DataRef& d, void* dst, uint64_t at) {
  if (d.base == kSelf && !self_)
    return Status::make(Code::kCorrupt, 0,
                        "a data_ref names its own image, which only format version 3 allows");
  if (d.base == kSelf && d.offset >= at)
    return Status::make(Code::kCorrupt, 0,
                        "a data_ref names a record of its own image that is not before it");
  if (d.base != kSelf && d.base >= bases_.size())
    return Status::make(Code::kCorrupt, 0, "a data_ref names base %u of %zu", d.base,
                        bases_.size());
  ImageReader& r = d.base == kSelf ? *self_ : *bases_[d.base].reader;
  auto broken = [&](const char* why) {
    if (d.base == kSelf)
      return Status::make(Code::kCorrupt, 0, "a data_ref to its own image: %s", why);
    return Status::make(Code::kCorrupt, 0, "a broken chain: in its base, generation %llu: %s",
                        (unsigned long long)bases_[d.base].generation,
                        without_dir(why, bases_[d.base].path).c_str());
  };
  if (cached_base_ != d.base || cached_offset_ != d.offset) {
    RecordInfo ri;
    cached_base_ = ~0u - 1;
    if (Status s = r.record_at(d.offset, &ri); !s) return broken(s.message());
    if (ri.type != kData) return broken("a data_ref names a record that is not data");
    cache_.resize(ri.raw);
    if (Status s = r.read_payload(ri, cache_.data()); !s) return broken(s.message());
    cached_base_ = d.base;
    cached_offset_ = d.offset;
  }
  if (d.skip > cache_.size() || d.len > cache_.size() - d.skip)
    return broken("a data_ref reaches past its data record");
  std::memcpy(dst, cache_.data() + d.skip, d.len);
  return Status::ok();
}

}  // namespace ckpt::format
