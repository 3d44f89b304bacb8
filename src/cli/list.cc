#include <dirent.h>
#include <sys/stat.h>

#include <cstring>

#include "cli/command.h"
#include "format/jobdir.h"
#include "format/reader.h"

namespace ckpt::cli {

std::function<int()> setup_list(CLI::App* sub) {
  auto dir = std::make_shared<std::string>();
  add_dir_option(sub, dir.get());
  return [dir] {
    format::JobDir jd;
    Status s = jd.open(*dir, false);
    if (!s.is_ok()) return fail("%s", s.message());
    std::printf("%-12s %-8s %10s  %-14s %s\n", "GENERATION", "KIND", "SIZE", "CREATED", "FILE");
    for (const auto& g : jd.list()) {
      ImageSummary sum;
      Status rs = quick_check(g.path, &sum);
      const char* file = std::strrchr(g.path.c_str(), '/') + 1;
      if (!rs.is_ok()) {
        // The reason names the file and the place: after the name, in brackets.
        std::printf("%-12llu %-8s %10s  %-14s %s (%s)\n", (unsigned long long)g.number,
                    rs.code() == Code::kCorrupt ? "damaged" : "?", "?", "?", file, rs.message());
        continue;
      }
      std::printf("%-12llu %-8s %10s  %-14s %s\n", (unsigned long long)g.number,
                  sum.header.kind == format::Kind::kApp ? "app" : "process",
                  human_bytes(sum.file_bytes).c_str(), human_age(sum.header.created_ns).c_str(),
                  file);
    }
    // Files that are not complete generations, so the user sees them too.
    if (DIR* d = opendir(jd.dir().c_str())) {
      while (dirent* e = readdir(d)) {
        const char* n = e->d_name;
        size_t len = std::strlen(n);
        if (len > 8 && std::strcmp(n + len - 8, ".damaged") == 0)
          std::printf("%-12s %-8s %10s  %-14s %s\n", "-", "damaged", "", "", n);
        else if (n[0] == '.' && len > 4 && std::strcmp(n + len - 4, ".tmp") == 0)
          std::printf("%-12s %-8s %10s  %-14s %s\n", "-", "partial", "", "", n);
      }
      closedir(d);
    }
    return 0;
  };
}

}  // namespace ckpt::cli
