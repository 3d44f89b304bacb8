#include "lib/increment.h"

#include "format/chain.h"
#include "format/image_format.h"
#include "format/reader.h"

namespace ckpt::lib {

std::vector<XXH128_hash_t> hash_blocks(const uint8_t* data, uint64_t n) {
  std::vector<XXH128_hash_t> out;
  out.reserve(size_t((n + kBlock - 1) / kBlock));
  for (uint64_t off = 0; off < n; off += kBlock)
    out.push_back(XXH3_128bits(data + off, size_t(std::min<uint64_t>(kBlock, n - off))));
  return out;
}

const EntryBlocks* History::entry(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

uint64_t History::digest(uint64_t generation) const {
  auto it = digests_.find(generation);
  return it == digests_.end() ? 0 : it->second;
}

Status History::learn(const std::string& path, uint64_t g, int since_full,
                      std::map<std::string, std::vector<XXH128_hash_t>> hashes) {
  forget();
  format::ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(path, /*owned_only=*/true));
  // A stretch of an entry's bytes and where they are.
  struct Piece {
    uint64_t start, len;
    Source src;
  };
  std::map<std::string, std::vector<Piece>> pieces;
  std::map<std::string, uint64_t> sizes;
  std::vector<format::BaseRef> bases;
  std::string cur;
  uint64_t pos = 0;
  std::vector<uint8_t> payload;
  uint64_t digest = 0;
  Status s = format::walk_image(r, &digest, [&](const format::RecordInfo& ri) -> Status {
    if (ri.type == format::kBase) {
      format::BaseRef b;
      CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
      CKPT_RETURN_IF_ERROR(format::decode_base(payload, &b));
      bases.push_back(b);
      digests_[b.generation] = b.digest;
    } else if (ri.type == format::kAppEntry) {
      CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
      format::AppEntry e;
      CKPT_RETURN_IF_ERROR(format::decode_entry(payload, &e));
      cur = e.name;
      sizes[cur] = e.size;
      pos = 0;
    } else if (ri.type == format::kData) {
      pieces[cur].push_back({pos, ri.raw, {g, ri.offset, 0}});
      pos += ri.raw;
    } else if (ri.type == format::kDataRef) {
      format::DataRef d;
      CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
      CKPT_RETURN_IF_ERROR(format::decode_data_ref(payload, &d));
      if (d.base == format::kSelf || d.base >= bases.size())
        return Status::make(Code::kCorrupt, 0, "%s: a data_ref libckpt does not write",
                            path.c_str());
      pieces[cur].push_back({pos, d.len, {bases[d.base].generation, d.offset, d.skip}});
      pos += d.len;
    }
    return Status::ok();
  });
  if (!s.is_ok()) {
    forget();
    return s;
  }
  digests_[g] = digest;
  for (auto& [name, size] : sizes) {
    EntryBlocks& eb = entries_[name];
    eb.size = size;
    eb.blocks.resize(size_t((size + kBlock - 1) / kBlock));
    const std::vector<Piece>& ps = pieces[name];
    auto hs = hashes.find(name);
    bool hashed = hs != hashes.end() && hs->second.size() == eb.blocks.size();
    size_t p = 0;
    for (size_t b = 0; b < eb.blocks.size(); b++) {
      uint64_t at = uint64_t(b) * kBlock, len = std::min<uint64_t>(kBlock, size - at);
      while (p < ps.size() && ps[p].start + ps[p].len <= at) p++;
      // A block that is not inside one piece has no single source.
      if (p < ps.size() && ps[p].start <= at && at + len <= ps[p].start + ps[p].len) {
        eb.blocks[b].src = ps[p].src;
        eb.blocks[b].src.skip += at - ps[p].start;
      }
      if (hashed) {
        eb.blocks[b].hash = hs->second[b];
        eb.blocks[b].hashed = true;
      }
    }
  }
  generation_ = g;
  since_full_ = since_full;
  return Status::ok();
}

void History::set(uint64_t g, int since_full, std::map<std::string, EntryBlocks> entries,
                  std::map<uint64_t, uint64_t> digests) {
  generation_ = g;
  since_full_ = since_full;
  entries_ = std::move(entries);
  digests_ = std::move(digests);
}

}  // namespace ckpt::lib
