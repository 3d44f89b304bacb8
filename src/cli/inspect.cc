#include "base/endian.h"
#include "cli/command.h"
#include "format/image_format.h"
#include "format/reader.h"

namespace ckpt::cli {

namespace {

const char* type_name(uint32_t t) {
  switch (t) {
    case format::kData: return "data";
    case format::kEnd: return "end";
    case format::kAppEntry: return "entry";
    case format::kAppProgram: return "program";
  }
  return "unknown";
}

const char* entry_kind(uint32_t k) {
  switch (format::EntryKind(k)) {
    case format::EntryKind::kBytes: return "bytes";
    case format::EntryKind::kVector: return "vector";
    case format::EntryKind::kString: return "string";
    case format::EntryKind::kCallback: return "callbacks";
  }
  return "?";
}

}  // namespace

std::function<int()> setup_inspect(CLI::App* sub) {
  auto path = std::make_shared<std::string>();
  auto records = std::make_shared<bool>(false);
  sub->add_option("IMAGE", *path, "Image file")->required();
  sub->add_flag("--records", *records, "List every record, data chunks included");
  return [path, records] {
    format::ImageReader r;
    Status s = r.open(*path);
    if (!s.is_ok()) return fail("%s", s.message());
    const auto& h = r.header();
    std::printf("file:        %s (%s)\n", path->c_str(), human_bytes(r.file_size()).c_str());
    std::printf("format:      version %u, %s\n", h.version,
                h.kind == format::Kind::kApp ? "application state (libckpt)" : "process image");
    std::printf("generation:  %llu, created %s\n", (unsigned long long)h.generation,
                human_age(h.created_ns).c_str());
    std::vector<uint8_t> payload;
    uint64_t chunks = 0, stored = 0, raw = 0;
    for (;;) {
      format::RecordInfo rec;
      bool end;
      s = r.next(&rec, &end);
      if (!s.is_ok()) return fail("%s", s.message());
      if (end) break;
      if (*records)
        std::printf("  @%-12llu %-8s flags=%u stored=%llu raw=%llu\n",
                    (unsigned long long)rec.offset, type_name(rec.type), rec.flags,
                    (unsigned long long)rec.stored, (unsigned long long)rec.raw);
      if (rec.type == format::kData) {
        chunks++;
        stored += rec.stored;
        raw += rec.raw;
        continue;
      }
      if (rec.type != format::kAppEntry && rec.type != format::kAppProgram) continue;
      s = r.read_payload(rec, &payload);
      if (!s.is_ok()) return fail("%s", s.message());
      if (rec.type == format::kAppProgram) {
        std::string text(payload.begin(), payload.end());
        size_t pos = 0;
        while (pos < text.size()) {
          size_t nl = text.find('\n', pos);
          if (nl == std::string::npos) nl = text.size();
          std::printf("%-12s %s\n", "", text.substr(pos, nl - pos).c_str());
          pos = nl + 1;
        }
      } else if (payload.size() >= 20) {
        std::string name(payload.begin() + 20, payload.end());
        std::printf("entry:       %-24s %-9s %s\n", name.c_str(), entry_kind(get_u32(payload.data())),
                    human_bytes(get_u64(payload.data() + 8)).c_str());
      }
    }
    std::printf("data:        %llu chunks, %s stored, %s raw\n", (unsigned long long)chunks,
                human_bytes(stored).c_str(), human_bytes(raw).c_str());
    return 0;
  };
}

}  // namespace ckpt::cli
