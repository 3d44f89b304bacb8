// ckpt check: one line per capability, a verdict, and the reason when user
// namespaces are refused (here: a chroot, made in a user+mount namespace of
// the test's own, so that it runs as an ordinary user).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

const char* const kLabels[] = {
    "user namespaces:", "pid namespaces:", "clone3 set_tid:", "vdso layout:",   "rseq:",
    "O_DIRECT:",        "dirty pages:",    "process memory:", "PR_SET_MM_MAP:", "verdict:"};

void expect_every_line(const std::string& out) {
  std::vector<std::string> l = lines(out);
  ASSERT_EQ(l.size(), std::size(kLabels)) << out;
  for (size_t i = 0; i < l.size(); i++)
    EXPECT_EQ(l[i].rfind(kLabels[i], 0), 0u) << "line " << i << ": " << l[i];
}

TEST(Check, OneLineEachAndAVerdict) {
  TempDir t;
  SpawnOptions o;
  o.stdout_path = t / "out";
  o.stderr_path = t / "err";
  Exit e = run({ckpt_bin(), "check", "--dir", t / "ckpt.d"}, o, 60);
  std::string out = read_file(t / "out");
  EXPECT_EQ(e.code, 0) << out << read_file(t / "err");
  EXPECT_EQ(read_file(t / "err"), "");
  expect_every_line(out);
  EXPECT_NE(out.find("transparent checkpointing works here"), std::string::npos) << out;
  // The file system of the directory's nearest existing parent was tried.
  EXPECT_NE(out.find(" on " + t.path() + " ("), std::string::npos) << out;
}

// A chroot refuses user namespaces on Linux (even to root); check names it.
TEST(Check, NamesAChrootAsTheReason) {
  TempDir t;
  std::string bin_dir = ckpt_bin().substr(0, ckpt_bin().rfind('/'));
  if (bin_dir.empty() || bin_dir[0] != '/') {
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
    bin_dir = std::string(cwd) + "/" + bin_dir;
  }
  // The root is a plain directory holding bind mounts of what ckpt needs.
  std::string script =
      "set -e\n"
      "R=" +
      t.path() +
      "/root\n"
      "mkdir -p $R\n"
      "for d in bin sbin lib lib32 lib64 libx32 usr etc dev proc tmp; do\n"
      "  if [ -L /$d ]; then ln -s $(readlink /$d) $R/$d\n"
      "  elif [ -d /$d ]; then mkdir -p $R/$d; /usr/bin/mount --rbind /$d $R/$d; fi\n"
      "done\n"
      "mkdir -p $R" +
      bin_dir +
      "\n"
      "/usr/bin/mount --rbind " +
      bin_dir + " $R" + bin_dir +
      "\n"
      "exec /usr/sbin/chroot $R " +
      bin_dir + "/ckpt check --dir /tmp\n";
  write_file(t / "chroot.sh", script);
  SpawnOptions o;
  o.stdout_path = t / "out";
  o.stderr_path = t / "err";
  Exit probe = run({"/usr/bin/unshare", "-Urm", "true"}, o, 60);
  if (probe.code != 0) GTEST_SKIP() << "no user+mount namespace to make a chroot in";
  Exit e = run({"/usr/bin/unshare", "-Urm", "/bin/sh", t / "chroot.sh"}, o, 60);
  std::string out = read_file(t / "out");
  EXPECT_EQ(e.code, 0) << out << read_file(t / "err");
  expect_every_line(out);
  EXPECT_NE(out.find("user namespaces:  no: this process is in a chroot"), std::string::npos)
      << out;
  EXPECT_NE(out.find("clone3 set_tid:   not tried"), std::string::npos) << out;
  EXPECT_NE(out.find("works here without namespaces"), std::string::npos) << out;
}

}  // namespace
}  // namespace ckpt::test
