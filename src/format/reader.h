// ImageReader: reads an image file record by record, checking every length
// against the file's size and every checksum before the bytes are used.
#pragma once

#include <zstd.h>

#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "format/image_format.h"

namespace ckpt::format {

struct FileHeader {
  uint32_t version = 0;
  Kind kind = Kind::kApp;
  uint64_t generation = 0;
  uint64_t created_ns = 0;  // wall clock, nanoseconds since the epoch
};

struct RecordInfo {
  uint32_t type = 0;
  uint32_t flags = 0;
  uint64_t stored = 0;  // bytes on disk after the header
  uint64_t raw = 0;     // bytes after decompression
  uint64_t payload_hash = 0;
  uint64_t offset = 0;  // of the record header in the file
};

class ImageReader {
 public:
  ImageReader() = default;
  ~ImageReader();
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  // owned_only: the file must be the caller's own (see check_owned_image);
  // used before restoring from it. Inspecting a file does not need it.
  Status open(const std::string& path, bool owned_only = false);
  const FileHeader& header() const { return header_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // The next record's header. After the END record, *end is set and no
  // record follows; a file that stops before END is reported as truncated.
  Status next(RecordInfo* r, bool* end);
  // The header of the record at `offset` (a data_ref's target), checked as
  // next() checks it: its checksum is seeded with that offset, so a wrong
  // offset is caught. Does not move the reader.
  Status record_at(uint64_t offset, RecordInfo* r) const;
  // Reads, checks and (if compressed) decompresses the payload into dst,
  // which holds r.raw bytes. check=false skips the checksum of an
  // uncompressed payload, for a second pass over a file verified already.
  Status read_payload(const RecordInfo& r, void* dst, bool check = true);
  Status read_payload(const RecordInfo& r, std::vector<uint8_t>* out);
  // Checks the payload's checksum without keeping it.
  Status check_payload(const RecordInfo& r);

  // What one thread needs to unpack payloads on its own.
  struct Unpacker {
    Unpacker() = default;
    ~Unpacker() {
      if (ctx) ZSTD_freeDCtx(ctx);
    }
    Unpacker(const Unpacker&) = delete;
    Unpacker& operator=(const Unpacker&) = delete;
    ZSTD_DCtx* ctx = nullptr;
    std::vector<uint8_t> scratch;
  };
  // read_payload for a compressed record of this file, safe to call from
  // several threads at once (each with its own Unpacker).
  Status unpack_payload(const RecordInfo& r, void* dst, Unpacker* u) const;

 private:
  Status read_at(uint64_t off, void* dst, size_t n) const;
  Status corrupt(uint64_t offset, const char* what) const;

  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0, pos_ = 0;
  bool ended_ = false;
  FileHeader header_;
  Unpacker unpacker_;
};

struct VerifyResult {
  FileHeader header;
  uint64_t records = 0;
  uint64_t raw_bytes = 0;
  uint64_t file_bytes = 0;
  std::vector<uint64_t> bases;  // an increment: the generations it takes data from
  uint64_t referred_bytes = 0;  // bytes it takes from them (each checked there)
};

// kCorrupt naming the field if `payload` is not a well-formed entry record.
Status decode_entry(const std::vector<uint8_t>& payload, AppEntry* e);

// Reads the whole image and checks every record, and for an increment its
// bases and every slice it takes from them: what `ckpt verify` does
// and what a restore does before it touches the program's memory.
Status verify_image(const std::string& path, VerifyResult* out, bool owned_only = false);

// An image restored from must be a regular file (not a symlink) owned by the
// caller and writable by nobody else: anything else could have been planted
// by another user. kInvalid with one line naming the file otherwise.
Status check_owned_image(int fd, const std::string& path);

}  // namespace ckpt::format
