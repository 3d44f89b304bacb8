// Incremental images (format version 2): an image may take some of its data
// from earlier images of the same directory, its bases, instead of holding
// it. A base record names a base by generation and digest; a data_ref record
// stands where a data record would and names a slice of one data record of
// a base, by that record's offset. References are direct: a base is always
// the file that holds the bytes, never an image that refers on, so an image
// needs exactly its bases and nothing else. docs/image-format.md,
// "Incremental images", has the grammar and the reasons.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "format/reader.h"

namespace ckpt::format {

struct BaseRef {
  uint64_t generation = 0;
  uint64_t digest = 0;  // image_digest() of that image
};

// DataRef::base naming the image the data_ref is in (format version 3): an
// earlier data record of the same file.
inline constexpr uint32_t kSelf = 0xffffffff;

struct DataRef {
  uint32_t base = 0;    // index among this image's base records, in file order, or kSelf
  uint64_t offset = 0;  // of the data record's header in the base
  uint64_t skip = 0;    // bytes of its raw payload before the slice
  uint64_t len = 0;     // bytes of the slice (> 0)
};

std::vector<uint8_t> encode_base(const BaseRef& b);
std::vector<uint8_t> encode_data_ref(const DataRef& d);
// kCorrupt naming the field for a payload no writer produces.
Status decode_base(const std::vector<uint8_t>& in, BaseRef* b);
Status decode_data_ref(const std::vector<uint8_t>& in, DataRef* d);

// Reads every record header of r from where it stands to the end record,
// calling each(record) for every one but the end record, and returns the
// digest below.
Status walk_image(ImageReader& r, uint64_t* digest,
                  const std::function<Status(const RecordInfo&)>& each);

// The digest that names an image to the images built on it: XXH3-64,
// seeded with the file header's creation time, of bytes 0..31 of every
// record header in file order, the end record's included. Every payload's
// checksum is in those bytes, so any change of the file changes it; only
// the record headers are read. Also gives the base records met on the way.
Status image_digest(ImageReader& r, uint64_t* digest, std::vector<BaseRef>* bases = nullptr);
Status image_digest(const std::string& path, uint64_t* digest,
                    std::vector<BaseRef>* bases = nullptr);

// The path of generation g's image beside `image` (same directory).
std::string sibling_image(const std::string& image, uint64_t generation);

// The generations an image takes data from (its base records; they come
// before any data). Empty for a full image or one that cannot be read.
std::vector<uint64_t> read_bases(const std::string& path);

// The bases of an image, opened (owned_only as for the image) and checked
// against their digests, and the data_ref targets read through them: what
// a restart and `ckpt verify` use.
class BaseSet {
 public:
  // A missing or changed base is kCorrupt naming it: the chain is broken.
  Status add(const std::string& image, const BaseRef& b, bool owned_only);
  // The image itself, read through `self` (not owned), for data_refs that
  // name it (kSelf); only a version 3 image may have them.
  void add_self(ImageReader* self) { self_ = self; }
  size_t size() const { return bases_.size(); }
  // The slice a data_ref names, checked (record header, type, bounds, the
  // whole record's checksum) and copied into dst (d.len bytes). The last
  // record read is kept, so slices of one record cost one read. at: the
  // offset of the data_ref itself; one naming its own image must name a
  // record before it.
  Status read(const DataRef& d, void* dst, uint64_t at = ~0ull);

 private:
  struct Open {
    std::unique_ptr<ImageReader> reader;
    uint64_t generation;
    std::string path;
  };
  std::vector<Open> bases_;
  ImageReader* self_ = nullptr;
  uint32_t cached_base_ = ~0u - 1;  // ~0u is kSelf
  uint64_t cached_offset_ = 0;
  std::vector<uint8_t> cache_;
};

}  // namespace ckpt::format
