// ImageWriter: writes one image file and commits it atomically.
//
//   temporary file (".NAME.tmp", 0600) -> records -> END -> fsync ->
//   rename without replace -> fsync of the directory
//
// Until commit() returns OK the final name does not exist, so a crash at any
// moment leaves the previous generation as the newest complete image.
#pragma once

#include <xxhash.h>
#include <zstd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/fs.h"
#include "format/block_writer.h"
#include "format/image_format.h"

namespace ckpt::format {

// Images with at least this many bytes of data are worth writing with
// O_DIRECT (WriterOptions::direct).
inline constexpr uint64_t kDirectFrom = 32ull << 20;

// False if CKPT_DIRECT=0 is in the environment (a file system that
// mishandles O_DIRECT): read once into each command's or library's options
// (ckpt::Options::direct, control::SuperviseOptions::direct), not per image.
bool direct_from_env();

std::vector<uint8_t> encode_entry(const AppEntry& e);

struct WriterOptions {
  int zstd_level = 0;  // 0: store uncompressed
  size_t chunk = kDefaultChunk;
  // Write with O_DIRECT through a few aligned blocks (BlockWriter): for big
  // images, where copying into the page cache costs more than the disk.
  // Falls back to buffered writes where the file system refuses it.
  bool direct = false;
  // The image will hold base and data_ref records (format/chain.h): written
  // as format version 2. Other images stay version 1, readable by older ckpt.
  bool increment = false;
  // It may also hold data_ref records naming its own data records
  // (kSelf): format version 3.
  bool self_refs = false;
};

class ImageWriter {
 public:
  explicit ImageWriter(Fs* fs = Fs::posix());
  ~ImageWriter();
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  Status open(const std::string& final_path, Kind kind, uint64_t generation,
              const WriterOptions& options);
  // A metadata record, never compressed.
  Status record(uint32_t type, const void* payload, size_t n, uint32_t flags = 0);
  // Bytes of the current entry, split into DATA records.
  Status data(const void* p, size_t n);
  // Puts bytes [OFF, OFF+N) of an entry into DST; called in order of OFF,
  // in pieces of any size.
  using Fill = std::function<Status(uint8_t* dst, uint64_t off, size_t n)>;
  // N bytes of the current entry that FILL produces, split into DATA records
  // as data() does. Written with O_DIRECT and uncompressed, they are put
  // straight into the blocks that go to the disk and checksummed there
  // while still in the cache: one pass over the bytes. Otherwise the next
  // chunk is filled on a second thread while this one is compressed and
  // written.
  Status data_from(uint64_t n, const Fill& fill);
  Status commit();
  // Removes the temporary file; the previous image is untouched.
  void abort();

  uint64_t bytes_written() const { return offset_; }
  // After commit(): the image's digest (format/chain.h image_digest), and
  // where each of its data records is, in file order: what an increment
  // built on it needs, without reading it back.
  uint64_t digest() const;
  struct DataAt {
    uint64_t offset;  // of the record's header
    uint64_t raw;     // bytes of its payload, uncompressed
  };
  const std::vector<DataAt>& data_records() const { return data_records_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  struct Prepared {
    const uint8_t* stored;
    size_t stored_n, raw_n;
    uint32_t flags;
    uint64_t hash;
  };
  void prepare(int slot, const uint8_t* src, size_t n, Prepared* out);
  // Uncompressed chunks of at most a block go straight into the blocks.
  bool in_blocks() const {
    return blocks_ && options_.zstd_level == 0 && options_.chunk <= BlockWriter::kBlock;
  }
  Status data_in_blocks(uint64_t n, const Fill& fill);
  void put_header(uint8_t* h, uint32_t type, uint32_t flags, size_t stored_n, size_t raw_n,
                  uint64_t hash);
  Status emit(uint32_t type, uint32_t flags, const void* stored, size_t stored_n, size_t raw_n);
  Status emit_hashed(uint32_t type, uint32_t flags, const void* stored, size_t stored_n,
                     size_t raw_n, uint64_t hash);
  Status flush_buffer();

  Fs* fs_;
  int fd_ = -1;
  std::string final_path_, temp_path_, dir_;
  WriterOptions options_;
  uint64_t offset_ = 0;     // bytes handed to the file (buffered included)
  uint64_t written_ = 0;    // bytes written to the file
  uint64_t writeback_ = 0;  // bytes whose writeback has been started
  void note_written(uint64_t n);
  uint64_t records_ = 0, raw_total_ = 0;
  XXH3_state_t* digest_ = nullptr;
  std::vector<DataAt> data_records_;
  std::vector<uint8_t> buffer_;          // small records are gathered here
  std::unique_ptr<BlockWriter> blocks_;  // direct mode: every byte goes here
  std::vector<uint8_t> zbuf_[2];         // one per pipeline slot
  ZSTD_CCtx* zctx_[2] = {nullptr, nullptr};
  ZSTD_CCtx* probe_[2] = {nullptr, nullptr};  // single-threaded, for compressibility samples
  std::vector<uint8_t> fill_buf_[2];          // data_from's chunks, when not in blocks
};

}  // namespace ckpt::format
