// ckpt: save a computation, resume it later.
#include <algorithm>
#include <cstdio>
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

// CLI11's message for a parse error, in our words: one line, naming the
// command, the option and what to do.
std::string explain(const CLI::ParseError& e, const std::string& cmd) {
  std::string what = e.what();
  std::string where = cmd.empty() ? "" : cmd + ": ";
  std::string see = cmd.empty() ? " (see 'ckpt --help')" : " (see 'ckpt help " + cmd + "')";
  auto after = [&](const char* sep) {
    size_t p = what.find(sep);
    return p == std::string::npos ? what : what.substr(p + std::strlen(sep));
  };
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    // CLI11 lists the extra words last first; ours names the first one given.
    std::string extras = after(": "), first;
    for (size_t pos = 0; pos <= extras.size();) {
      size_t sp = extras.find(' ', pos);
      if (sp == std::string::npos) sp = extras.size();
      std::string w = extras.substr(pos, sp - pos);
      if (w != "--" && !w.empty()) first = w;
      pos = sp + 1;
    }
    if (!first.empty() && first[0] == '-') return where + "unknown option '" + first + "'" + see;
    return where + "unexpected argument '" + first + "'" + see;
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e)) {
    if (what.find("subcommand") != std::string::npos) return "a command is needed" + see;
    std::string opt = what.substr(0, what.find(" is required"));
    if (opt == "PROGRAM")
      return where + "PROGRAM is missing: ckpt " + cmd + " [OPTIONS] -- PROGRAM [ARGS...]";
    return where + opt + " is missing" + see;
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    std::string opt = what.substr(0, what.find(':'));
    return where + opt + " needs a value" + see;
  }
  if (dynamic_cast<const CLI::ConversionError*>(&e) ||
      dynamic_cast<const CLI::ValidationError*>(&e))
    return where + "bad value: " + after("convert: ") + see;
  return where + "bad arguments" + see;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ckpt::cli;
  CLI::App app{
      "ckpt: save a computation, resume it later.\n"
      "Run 'ckpt help COMMAND' for a command's options; the manual: man ckpt.",
      "ckpt"};
  app.set_version_flag("--version", "ckpt " CKPT_VERSION_STRING);
  app.require_subcommand(1);
  std::function<int()> run;
  for (const Command& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    auto fn = c.setup(sub);
    std::string footer = sub->get_footer();
    sub->footer(footer.empty() ? docs_footer(c.name) : footer + "\n" + docs_footer(c.name));
    sub->callback([&run, fn] { run = fn; });
  }
  if (argc == 3 && std::strcmp(argv[1], "--man-pages") == 0) return write_man_pages(app, argv[2]);
  // CLI11 would take the second word of `ckpt help help` as the command again.
  if (argc == 3 && std::strcmp(argv[1], "help") == 0 && std::strcmp(argv[2], "help") == 0) {
    std::fputs(app.get_subcommand("help")->help("ckpt").c_str(), stdout);
    return 0;
  }
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const Command& c : commands()) known = known || std::strcmp(c.name, argv[1]) == 0;
    if (!known) {
      const char* best = suggest(argv[1]);
      if (best) return usage("unknown command '%s'; did you mean '%s'?", argv[1], best);
      return usage("unknown command '%s' (see 'ckpt --help')", argv[1]);
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
    std::string cmd = argc > 1 && argv[1][0] != '-' ? argv[1] : "";
    if (argc == 1) return usage("a command is needed (see 'ckpt --help')");
    return usage("%s", explain(e, cmd).c_str());
  }
  if (!run) return usage("a command is needed (see 'ckpt --help')");
  try {
    return run();
  } catch (const std::exception& e) {
    return fail("%s", e.what());
  }
}
