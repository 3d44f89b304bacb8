// Incremental process images: what the supervisor remembers of the newest
// image of its job (where each saved page lies: in which image, in which
// data record), and how the next checkpoint splits a run of pages into
// pages it writes and pages it refers to (format/chain.h, docs/image-format.md
// "Incremental images").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/tracker.h"
#include "format/chain.h"

namespace ckpt::control {

// Pages [addr, addr + len) of the program are the bytes [skip, skip + len)
// of the data record at `offset` in image `source` (an index into
// ChainState::sources).
struct PageHome {
  uint64_t addr = 0, len = 0;
  uint32_t source = 0;
  uint64_t offset = 0, skip = 0;
};

struct ChainState {
  uint64_t generation = 0;               // the image described; 0: none (next is full)
  std::vector<format::BaseRef> sources;  // images that hold its data, itself included
  // Per process, by its pid as it sees itself (PROC_INFO.pid): ascending,
  // disjoint.
  std::map<int32_t, std::vector<PageHome>> pages;
  int increments = 0;  // increments since its full image
};

// Reads the records of an image just written: where each of its pages is.
Status index_image(const std::string& path, ChainState* out);

// A piece of a run of pages: written (ref false) or referred to.
struct Piece {
  uint64_t addr = 0, len = 0;
  bool ref = false;
  uint32_t source = 0;  // index into ChainState::sources
  uint64_t offset = 0, skip = 0;
};

// Splits run [addr, addr + len) into pieces: a page is referred to when the
// previous image holds it and it is not in `written` (ascending spans); all
// others are written. Pieces of one kind are as long as possible; a
// referred piece never spans two data records.
void split_run(uint64_t addr, uint64_t len, const std::vector<Span>& written,
               const std::vector<PageHome>& homes, std::vector<Piece>* out);

}  // namespace ckpt::control
