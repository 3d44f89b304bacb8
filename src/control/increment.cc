#include "control/increment.h"

#include <algorithm>

#include "control/process_image.h"
#include "format/image_format.h"

namespace ckpt::control {

Status index_image(const std::string& path, ChainState* out) {
  format::ImageReader r;
  CKPT_RETURN_IF_ERROR(r.open(path));
  ChainState c;
  c.generation = r.header().generation;
  std::vector<uint8_t> payload;
  uint64_t cursor = 0;                     // the next page address the data records fill
  std::vector<PageHome>* pages = nullptr;  // the current process's
  uint64_t digest = 0;
  Status s = format::walk_image(r, &digest, [&](const format::RecordInfo& ri) {
    switch (ri.type) {
      case format::kBase: {
        format::BaseRef b;
        CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
        CKPT_RETURN_IF_ERROR(format::decode_base(payload, &b));
        c.sources.push_back(b);
        break;
      }
      case format::kProcInfo: {
        ProcInfo pi;
        CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
        CKPT_RETURN_IF_ERROR(decode(payload, &pi));
        pages = &c.pages[pi.pid];
        break;
      }
      case format::kProcPages: {
        PagesInfo p;
        CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
        CKPT_RETURN_IF_ERROR(decode(payload, &p));
        cursor = p.addr;
        break;
      }
      case format::kData:
        if (!pages) return Status::make(Code::kCorrupt, 0, "data before a process record");
        pages->push_back({cursor, ri.raw, ~0u, ri.offset, 0});  // ~0u: this image
        cursor += ri.raw;
        break;
      case format::kDataRef: {
        format::DataRef d;
        CKPT_RETURN_IF_ERROR(r.read_payload(ri, &payload));
        CKPT_RETURN_IF_ERROR(format::decode_data_ref(payload, &d));
        // Its own data records (kSelf) are this image's, as data is.
        bool own = d.base == format::kSelf && r.header().version >= format::kVersion &&
                   d.offset < ri.offset;
        if (!own && d.base >= c.sources.size())
          return Status::make(Code::kCorrupt, 0, "a data_ref names an unknown base");
        if (!pages) return Status::make(Code::kCorrupt, 0, "data before a process record");
        pages->push_back({cursor, d.len, own ? ~0u : d.base, d.offset, d.skip});
        cursor += d.len;
        break;
      }
      default: break;
    }
    return Status::ok();
  });
  CKPT_RETURN_IF_ERROR(s);
  uint32_t self = uint32_t(c.sources.size());
  c.sources.push_back({c.generation, digest});
  for (auto& [pid, homes] : c.pages) {
    for (PageHome& h : homes)
      if (h.source == ~0u) h.source = self;
    std::sort(homes.begin(), homes.end(),
              [](const PageHome& a, const PageHome& b) { return a.addr < b.addr; });
  }
  *out = std::move(c);
  return Status::ok();
}

void split_run(uint64_t addr, uint64_t len, const std::vector<Span>& written,
               const std::vector<PageHome>& homes, std::vector<Piece>* out) {
  const uint64_t end = addr + len;
  auto w = std::upper_bound(written.begin(), written.end(), addr,
                            [](uint64_t a, const Span& s) { return a < s.end; });
  auto h = std::upper_bound(homes.begin(), homes.end(), addr,
                            [](uint64_t a, const PageHome& p) { return a < p.addr + p.len; });
  auto add = [&](uint64_t a, uint64_t n, const PageHome* home) {
    if (n == 0) return;
    Piece p{a, n, home != nullptr, 0, 0, 0};
    if (home) {
      p.source = home->source;
      p.offset = home->offset;
      p.skip = home->skip + (a - home->addr);
    }
    Piece* last = out->empty() ? nullptr : &out->back();
    bool joins = last && last->addr + last->len == a && last->ref == p.ref &&
                 (!p.ref || (last->source == p.source && last->offset == p.offset &&
                             last->skip + last->len == p.skip));
    if (joins) last->len += n;
    else out->push_back(p);
  };
  for (uint64_t at = addr; at < end;) {
    while (w != written.end() && w->end <= at) ++w;
    while (h != homes.end() && h->addr + h->len <= at) ++h;
    bool dirty = w != written.end() && w->start <= at;
    bool home = h != homes.end() && h->addr <= at;
    if (dirty || !home) {
      // Written up to the end of the written span, or up to the next page
      // the previous image holds.
      uint64_t stop = end;
      if (dirty) stop = std::min(stop, w->end);
      else if (h != homes.end()) stop = std::min(stop, h->addr);
      if (!dirty && w != written.end()) stop = std::min(stop, w->start);
      add(at, stop - at, nullptr);
      at = stop;
    } else {
      uint64_t stop = std::min(end, h->addr + h->len);
      if (w != written.end()) stop = std::min(stop, w->start);
      add(at, stop - at, &*h);
      at = stop;
    }
  }
}

}  // namespace ckpt::control
