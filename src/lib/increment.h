// Incremental libckpt images: a generation writes the blocks of registered
// state that changed since the previous one and refers to the rest
// (data_ref records, format/chain.h). Changes are found by hashing each
// 64 KiB block of every entry (XXH3-128) and comparing with the hashes of
// the generation before; the places of the unchanged blocks' bytes are read
// back from that generation's record headers, so references stay direct
// (a base always holds the bytes). docs/libckpt.md, "Increments".
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::lib {

inline constexpr size_t kBlock = 64 << 10;

// Where a block's bytes are on disk: a slice of one data record.
struct Source {
  uint64_t generation = 0;  // 0: nowhere (the block is written again)
  uint64_t offset = 0;      // of the data record's header in that image
  uint64_t skip = 0;        // bytes of the record's payload before the block
};

struct Block {
  XXH128_hash_t hash = {0, 0};
  bool hashed = false;
  Source src;
};

struct EntryBlocks {
  uint64_t size = 0;
  std::vector<Block> blocks;
};

// The block hashes of one entry's bytes.
std::vector<XXH128_hash_t> hash_blocks(const uint8_t* data, uint64_t n);

// What the newest generation of the directory holds, block by block.
class History {
 public:
  bool known() const { return generation_ != 0; }
  uint64_t generation() const { return generation_; }
  // Increments written since the last full image.
  int since_full() const { return since_full_; }
  void forget() { *this = History(); }
  const EntryBlocks* entry(const std::string& name) const;
  // The digest of an image the history's blocks name (0 if unknown).
  uint64_t digest(uint64_t generation) const;

  // Reads where each entry's bytes are in image `path` (generation g),
  // from its record headers, and takes the hashes of its blocks (entries
  // without hashes are written in full next time). since_full: 0 for a full
  // image.
  Status learn(const std::string& path, uint64_t g, int since_full,
               std::map<std::string, std::vector<XXH128_hash_t>> hashes);
  // The same from what the writer of image g knew (no reading back):
  // every block's hash and source, and the digests of the images named.
  void set(uint64_t g, int since_full, std::map<std::string, EntryBlocks> entries,
           std::map<uint64_t, uint64_t> digests);

 private:
  uint64_t generation_ = 0;
  int since_full_ = 0;
  std::map<std::string, EntryBlocks> entries_;
  std::map<uint64_t, uint64_t> digests_;  // generation -> image_digest
};

}  // namespace ckpt::lib
