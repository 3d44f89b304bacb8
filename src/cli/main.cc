// ckpt: save a computation, resume it later.
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ckpt_version.h"
#include "cli/command.h"

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

const char* suggest(const char* word) {
  const char* best = nullptr;
  size_t best_d = 3;  // at most two edits away
  for (const auto& c : ckpt::cli::commands()) {
    size_t d = edit_distance(word, c.name);
    if (d < best_d) {
      best_d = d;
      best = c.name;
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ckpt::cli;
  CLI::App app{"ckpt: save a computation, resume it later", "ckpt"};
  app.set_version_flag("--version", "ckpt " CKPT_VERSION_STRING);
  app.require_subcommand(1);
  app.footer("Run 'ckpt COMMAND --help' for a command's options. Docs: docs/ in the source tree.");
  std::function<int()> run;
  for (const Command& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    auto fn = c.setup(sub);
    sub->callback([&run, fn] { run = fn; });
  }
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const Command& c : commands()) known = known || std::strcmp(c.name, argv[1]) == 0;
    if (!known) {
      const char* best = suggest(argv[1]);
      if (best)
        std::fprintf(stderr, "ckpt: unknown command '%s'; did you mean '%s'?\n", argv[1], best);
      else
        std::fprintf(stderr, "ckpt: unknown command '%s' (see 'ckpt --help')\n", argv[1]);
      return kExitUsage;
    }
  }
  for (const Command& c : commands())
    if (argc > 1 && c.run_raw && std::strcmp(c.name, argv[1]) == 0) try {
        return c.run_raw(std::vector<std::string>(argv + 2, argv + argc));
      } catch (const std::exception& e) {
        return fail("%s", e.what());
      }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (argc == 1) msg = "a command is needed";
    std::fprintf(stderr, "ckpt: %s (see 'ckpt --help')\n", msg.c_str());
    return kExitUsage;
  }
  if (!run) return fail("no command given (see 'ckpt --help')");
  try {
    return run();
  } catch (const std::exception& e) {
    return fail("%s", e.what());
  }
}
