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
  expect_one_line_error(ckpt_cmd(t, {"inspect"}), 2, "IMAGE is required");
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
  EXPECT_NE(r.out.find("not running"), std::string::npos) << r.out;
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
