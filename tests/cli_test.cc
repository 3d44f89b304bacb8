// The ckpt command's read-only subcommands and its handling of bad input.
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/process.h"

namespace ckpt {
namespace {

using test::Exit;
using test::SpawnOptions;
using test::TempDir;

struct Out {
  Exit exit;
  std::string out, err;
};

Out ckpt_cmd(const TempDir& t, std::vector<std::string> args) {
  args.insert(args.begin(), test::build_path("src/ckpt"));
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / "cli.out";
  o.stderr_path = t / "cli.err";
  o.env = {"CKPT_DIR="};
  Out r;
  r.exit = test::run(args, o);
  r.out = test::read_file(t / "cli.out");
  r.err = test::read_file(t / "cli.err");
  return r;
}

void expect_one_line_error(const Out& r, int code, const std::string& needle) {
  EXPECT_EQ(r.exit.code, code) << r.err;
  auto l = test::lines(r.err);
  ASSERT_EQ(l.size(), 1u) << r.err;
  EXPECT_EQ(l[0].rfind("ckpt: ", 0), 0u) << l[0];
  EXPECT_NE(l[0].find(needle), std::string::npos) << l[0];
}

TEST(Cli, HelpAndVersion) {
  TempDir t;
  Out r = ckpt_cmd(t, {"--help"});
  EXPECT_EQ(r.exit.code, 0);
  for (const char* c : {"status", "list", "inspect", "verify"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  r = ckpt_cmd(t, {"--version"});
  EXPECT_EQ(r.exit.code, 0);
  EXPECT_EQ(r.out.rfind("ckpt ", 0), 0u);
}

TEST(Cli, NonsenseArguments) {
  TempDir t;
  expect_one_line_error(ckpt_cmd(t, {}), 2, "a command is needed");
  expect_one_line_error(ckpt_cmd(t, {"frobnicate"}), 2, "unknown command 'frobnicate'");
  expect_one_line_error(ckpt_cmd(t, {"stauts"}), 2, "did you mean 'status'");
  expect_one_line_error(ckpt_cmd(t, {"status", "--bogus"}), 2, "--bogus");
  expect_one_line_error(ckpt_cmd(t, {"inspect"}), 2, "IMAGE is missing");
  expect_one_line_error(ckpt_cmd(t, {"--dir"}), 2, "");
}

TEST(Cli, MissingAndDamagedInputs) {
  TempDir t;
  expect_one_line_error(ckpt_cmd(t, {"status", "--dir", "nowhere"}), 1, "nowhere");
  expect_one_line_error(ckpt_cmd(t, {"inspect", "nothing.img"}), 1, "cannot open nothing.img");
  test::write_file(t / "junk.img", "junk");
  expect_one_line_error(ckpt_cmd(t, {"inspect", "junk.img"}), 1, "junk.img");
  expect_one_line_error(ckpt_cmd(t, {"verify", "--dir", t.path()}), 1, "no images");
}

TEST(Cli, StatusListInspectVerifyOnARealJob) {
  TempDir t;
  SpawnOptions o;
  o.cwd = t.path();
  o.env = {"CKPT_DIR="};
  ASSERT_EQ(test::run({test::build_path("examples/count"), "3", "1"}, o).code, 0);

  Out r = ckpt_cmd(t, {"status"});
  EXPECT_EQ(r.exit.code, 0) << r.err;
  EXPECT_NE(r.out.find("state:       resumable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mode:        libckpt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation 3, application state"), std::string::npos) << r.out;

  r = ckpt_cmd(t, {"list"});
  EXPECT_EQ(r.exit.code, 0);
  EXPECT_NE(r.out.find("ckpt-000000000002.img"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ckpt-000000000003.img"), std::string::npos) << r.out;

  r = ckpt_cmd(t, {"inspect", "ckpt.d/ckpt-000000000003.img"});
  EXPECT_EQ(r.exit.code, 0);
  EXPECT_NE(r.out.find("entry:       i"), std::string::npos) << r.out;

  r = ckpt_cmd(t, {"verify"});
  EXPECT_EQ(r.exit.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok "), std::string::npos);

  std::string p = t / "ckpt.d/ckpt-000000000003.img";
  std::string img = test::read_file(p);
  img[100] ^= 4;
  test::write_file(p, img);
  r = ckpt_cmd(t, {"verify"});
  EXPECT_EQ(r.exit.code, 1);
  EXPECT_NE(r.out.find("DAMAGED"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("1 of 2 images damaged"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

using test::TempDir;

// Every command of `ckpt --help`, as the table lists them.
std::vector<std::string> all_commands(const TempDir& t) {
  Out r = ckpt_cmd(t, {"--help"});
  std::vector<std::string> names;
  bool in = false;
  for (const auto& l : test::lines(r.out)) {
    if (l.rfind("Subcommands:", 0) == 0) in = true;
    else if (in && l.size() > 2 && l[0] == ' ' && l[2] != ' ')
      names.push_back(l.substr(2, l.find(' ', 2) - 2));
  }
  return names;
}

void expect_usage_error(const Out& r, const std::string& what) {
  SCOPED_TRACE(what);
  expect_one_line_error(r, 2, "");
  // Never the parser library's own words.
  for (const char* raw : {"The following argument", "A subcommand", "is required",
                          "Could not convert", "Run with --help"})
    EXPECT_EQ(r.err.find(raw), std::string::npos) << r.err;
}

TEST(CliContract, EveryCommandRefusesBadArgumentsWithExit2AndOneLine) {
  TempDir t;
  auto names = all_commands(t);
  ASSERT_GE(names.size(), 10u);
  for (const auto& c : names) {
    expect_usage_error(ckpt_cmd(t, {c, "--no-such-option"}), c + " --no-such-option");
    // Commands without operands: words after -- are no more welcome.
    bool operands = c == "inspect" || c == "verify" || c == "run" || c == "sbatch" ||
                    c == "slurm-script" || c == "help";
    if (!operands) {
      expect_usage_error(ckpt_cmd(t, {c, "--", "--no-such-option"}), c + " -- --no-such-option");
      expect_usage_error(ckpt_cmd(t, {c, "a", "b"}), c + " a b");
    }
    Out h = ckpt_cmd(t, {c, "--help"});
    EXPECT_EQ(h.exit.code, 0) << c;
    EXPECT_NE(h.out.find("man ckpt-" + c), std::string::npos) << c << " --help:\n" << h.out;
    Out via_help = ckpt_cmd(t, {"help", c});
    EXPECT_EQ(via_help.exit.code, 0) << c;
    EXPECT_EQ(via_help.out, h.out) << "ckpt help " << c;
  }
  expect_usage_error(ckpt_cmd(t, {"help", "nope"}), "help nope");
  EXPECT_EQ(ckpt_cmd(t, {"help"}).out, ckpt_cmd(t, {"--help"}).out);
}

TEST(CliContract, OutOfRangeValuesAreRefused) {
  TempDir t;
  for (const char* cmd : {"run", "restart"}) {
    std::vector<std::vector<std::string>> bad = {{"--interval", "-5"},
                                                 {"--interval", "abc"},
                                                 {"--zstd", "99"},
                                                 {"--compress", "-1"},
                                                 {"--keep", "0"},
                                                 {"--signal", "FOO"},
                                                 {"--stop-signal", "SIGNOPE"},
                                                 {"--signal", "USR2", "--stop-signal", "USR2"},
                                                 {"--signal", "KILL"}};
    for (auto args : bad) {
      std::string what = std::string(cmd);
      for (const auto& a : args) what += " " + a;
      args.insert(args.begin(), cmd);
      if (std::string(cmd) == "run") args.insert(args.end(), {"--", "/bin/true"});
      expect_usage_error(ckpt_cmd(t, args), what);
    }
  }
  // Nothing was started or created.
  EXPECT_NE(::access((t / "ckpt.d").c_str(), F_OK), 0);
  expect_usage_error(ckpt_cmd(t, {"run"}), "run without a program");
  expect_usage_error(ckpt_cmd(t, {"status", "--dir"}), "--dir without a value");
  expect_one_line_error(ckpt_cmd(t, {"sbatch", "--bogus"}), 2, "ckpt: sbatch: ");
  expect_one_line_error(ckpt_cmd(t, {"slurm-script", "--lead", "0", "--", "x"}), 2,
                        "ckpt: slurm-script: ");
}

TEST(CliContract, StatusOfAMissingDirectoryIsTheSameErrorForTheDefault) {
  TempDir t;
  expect_one_line_error(ckpt_cmd(t, {"status"}), 1, "no checkpoint directory ckpt.d");
  expect_one_line_error(ckpt_cmd(t, {"status", "--dir", "elsewhere"}), 1,
                        "no checkpoint directory elsewhere");
}

// The manual pages are made from the same declarations as --help: each
// renders, and names every option that --help names.
TEST(CliContract, ManPagesRenderAndMatchHelp) {
  TempDir t;
  std::string man = test::build_path("man");
  const char* render = ::access("/usr/bin/man", X_OK) == 0 ? "man" : nullptr;
  if (!render) GTEST_SKIP() << "man is not installed (scripts/deps.sh installs man-db)";
  auto rendered = [&](const std::string& page) {
    test::SpawnOptions o;
    o.stdout_path = t / "page.txt";
    o.stderr_path = t / "page.err";
    o.env = {"MANWIDTH=200", "MAN_KEEP_FORMATTING=", "LC_ALL=C.UTF-8"};
    test::Exit e = test::run({"/usr/bin/man", "-l", page}, o);
    EXPECT_EQ(e.code, 0) << page << ": " << test::read_file(t / "page.err");
    EXPECT_EQ(test::read_file(t / "page.err"), "") << page;
    return test::read_file(t / "page.txt");
  };
  std::string main_page = rendered(man + "/man1/ckpt.1");
  for (const char* env : {"CKPT_DIR", "CKPT_INTERVAL", "CKPT_KEEP", "CKPT_COMPRESS", "CKPT_MARGIN"})
    EXPECT_NE(main_page.find(env), std::string::npos) << env;
  for (const auto& c : all_commands(t)) {
    SCOPED_TRACE(c);
    EXPECT_NE(main_page.find("ckpt-" + c + "(1)"), std::string::npos);
    std::string page = rendered(man + "/man1/ckpt-" + c + ".1");
    std::string help = ckpt_cmd(t, {c, "--help"}).out;
    // Every --option of the help is in the page (hyphens unbroken at width 200).
    size_t pos = 0;
    while ((pos = help.find("--", pos)) != std::string::npos) {
      size_t end = help.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", pos + 2);
      std::string opt = help.substr(pos, end - pos);
      pos = end;
      if (opt.size() > 2) {
        EXPECT_NE(page.find(opt), std::string::npos) << opt;
      }
    }
  }
  EXPECT_NE(rendered(man + "/man3/libckpt.3").find("ckpt_set_signals"), std::string::npos);
  EXPECT_NE(rendered(man + "/man3/libckpt++.3").find("class Checkpointer"), std::string::npos);
}

TEST(CliContract, BashCompletionOffersCommandsAndOptions) {
  TempDir t;
  std::string script = std::string(CKPT_SOURCE_DIR) + "/man/ckpt.bash";
  auto complete = [&](const std::string& line) {
    // COMP_WORDS from the words of the line; the last one is completed.
    std::string cmd = "source '" + script + "'; COMP_WORDS=(" + line +
                      "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); "
                      "COMP_WORDS[0]='" +
                      test::build_path("src/ckpt") + "'; _ckpt; printf '%s\\n' \"${COMPREPLY[@]}\"";
    test::SpawnOptions o;
    o.stdout_path = t / "compl";
    test::Exit e = test::run({"/bin/bash", "-c", cmd}, o);
    EXPECT_EQ(e.code, 0) << line;
    return test::read_file(t / "compl");
  };
  EXPECT_NE(complete("ckpt st").find("status"), std::string::npos);
  EXPECT_NE(complete("ckpt run --int").find("--interval"), std::string::npos);
  EXPECT_EQ(complete("ckpt restart --f").find("--fresh"), std::string::npos)
      << "only run has --fresh";
  EXPECT_NE(complete("ckpt run --f").find("--fresh"), std::string::npos);
  EXPECT_NE(complete("ckpt help sl").find("slurm-script"), std::string::npos);
}

}  // namespace
}  // namespace ckpt
