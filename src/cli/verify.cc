#include "cli/command.h"
#include "format/jobdir.h"
#include "format/reader.h"

namespace ckpt::cli {

std::function<int()> setup_verify(CLI::App* sub) {
  auto dir = std::make_shared<std::string>();
  auto files = std::make_shared<std::vector<std::string>>();
  add_dir_option(sub, dir.get());
  sub->add_option("IMAGE", *files, "Image files to check instead of a directory's")->type_name("");
  return [dir, files] {
    std::vector<std::string> paths = *files;
    if (paths.empty()) {
      format::JobDir jd;
      Status s = jd.open(*dir, false);
      if (!s.is_ok()) return fail("%s", s.message());
      for (const auto& g : jd.list()) paths.push_back(g.path);
      if (paths.empty()) return fail("no images in %s", jd.dir().c_str());
    }
    int bad = 0;
    for (const auto& p : paths) {
      format::VerifyResult v;
      Status s = format::verify_image(p, &v);
      if (s.is_ok() && v.bases.empty()) {
        std::printf("ok       %s: generation %llu, %llu records, %s of data\n", p.c_str(),
                    (unsigned long long)v.header.generation, (unsigned long long)v.records,
                    human_bytes(v.raw_bytes).c_str());
      } else if (s.is_ok()) {
        std::string on;
        for (uint64_t b : v.bases) on += (on.empty() ? "" : ", ") + std::to_string(b);
        std::printf(
            "ok       %s: generation %llu, %llu records, %s of data; an increment: "
            "%s more from generation%s %s, checked there\n",
            p.c_str(), (unsigned long long)v.header.generation, (unsigned long long)v.records,
            human_bytes(v.raw_bytes).c_str(), human_bytes(v.referred_bytes).c_str(),
            v.bases.size() > 1 ? "s" : "", on.c_str());
      } else {
        std::printf("DAMAGED  %s\n", s.message());
        bad++;
      }
    }
    if (bad) return fail("%d of %zu images damaged", bad, paths.size());
    return 0;
  };
}

}  // namespace ckpt::cli
