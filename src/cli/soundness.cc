// The cheap check of `ckpt list` and `ckpt status`: every header and its
// checksum, the end record's counts, and the payload checksums of all but
// the big data records of a big image; an increment's bases by their
// digests. `ckpt verify` reads everything.
#include "base/endian.h"
#include "cli/command.h"
#include "format/chain.h"
#include "format/reader.h"

namespace ckpt::cli {

Status quick_check(const std::string& path, ImageSummary* out) {
  // Below this an image is checked in full: reading it costs less than a
  // user notices. Above, data records are taken on their headers' word.
  constexpr uint64_t kFullCheckBytes = 64ull << 20;
  constexpr uint64_t kSmallRecord = 1ull << 20;
  format::ImageReader reader;
  CKPT_RETURN_IF_ERROR(reader.open(path));
  ImageSummary sum;
  sum.header = reader.header();
  sum.file_bytes = reader.file_size();
  bool full = reader.file_size() <= kFullCheckBytes;
  uint64_t records = 0, raw = 0;
  format::BaseSet bases;
  for (;;) {
    format::RecordInfo r;
    bool end = false;
    CKPT_RETURN_IF_ERROR(reader.next(&r, &end));
    if (end) break;
    if (r.type == format::kEnd) {
      std::vector<uint8_t> p;
      CKPT_RETURN_IF_ERROR(reader.read_payload(r, &p));
      if (p.size() != 24 || get_u64(p.data()) != records || get_u64(p.data() + 8) != raw)
        return Status::make(Code::kCorrupt, 0, "%s: end record does not match the records",
                            path.c_str());
      continue;
    }
    if (full || r.stored <= kSmallRecord) CKPT_RETURN_IF_ERROR(reader.check_payload(r));
    if (r.type == format::kBase) {
      // An increment is sound only with its bases: each must be there and
      // be the image it was built on (their record headers are read).
      std::vector<uint8_t> p;
      format::BaseRef b;
      CKPT_RETURN_IF_ERROR(reader.read_payload(r, &p));
      Status s = format::decode_base(p, &b);
      if (s.is_ok()) s = bases.add(path, b, false);
      if (!s.is_ok()) return Status::make(Code::kCorrupt, 0, "%s: %s", path.c_str(), s.message());
    }
    records++;
    raw += r.raw;
  }
  if (out) *out = sum;
  return Status::ok();
}

}  // namespace ckpt::cli
