// The identity of the executable and libraries across a restart is their
// content: a byte-identical copy is accepted, a changed file refused naming
// it, and --allow-changed overrides the refusal (docs/process-image.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

// The program and its library, copied into the job's own directory.
struct Job {
  TempDir tmp;
  std::string dir = tmp / "job";
  std::string exe = tmp / "t_uses_lib";
  std::string lib = tmp / "libt_tiny.so";
  SpawnOptions opts(const std::string& name) const {
    SpawnOptions o;
    o.cwd = tmp.path();
    o.stdout_path = tmp / (name + ".out");
    o.stderr_path = tmp / (name + ".err");
    o.append = true;
    o.env = {"LD_LIBRARY_PATH=" + tmp.path()};
    return o;
  }
  Job() {
    write_file(lib, read_file(program("libt_tiny.so")));
    write_file(exe, read_file(program("t_uses_lib")));
    ::chmod(exe.c_str(), 0755);
  }
  // Runs the program under ckpt run, checkpoints it, kills it.
  void checkpoint() {
    Child sup({ckpt_bin(), "run", "--dir", dir, "--", exe, "30"}, opts("prog"));
    sleep_seconds(0.8);
    Exit c = run({ckpt_bin(), "checkpoint", "--dir", dir}, opts("ckpt"), 60);
    ::kill(-sup.pid(), SIGKILL);
    sup.wait(10);
    ASSERT_EQ(c.code, 0) << read_file(tmp / "ckpt.err");
  }
  Exit restart(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ckpt_bin(), "restart", "--dir", dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    err_before = read_file(tmp / "prog.err").size();
    return run(argv, opts("prog"), 120);
  }
  // What the last restart said (not `ckpt run`'s lines before it: in the
  // no-namespace mode that one warns).
  std::string err() const { return read_file(tmp / "prog.err").substr(err_before); }
  size_t err_before = 0;
};

// `path` replaced by a new file (a new inode) holding `content`, with the
// old file's mtime when keep_mtime (what `cp -p` gives).
void replace(const std::string& path, const std::string& content, bool keep_mtime) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  std::string tmp = path + ".new";
  write_file(tmp, content);
  ::chmod(tmp.c_str(), st.st_mode & 07777);
  if (keep_mtime) {
    timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, tmp.c_str(), times, 0), 0);
  }
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
}

std::string reference(const Job& job) {
  TempDir t;
  SpawnOptions o;
  o.stdout_path = t / "out";
  o.env = {"LD_LIBRARY_PATH=" + job.tmp.path()};
  EXPECT_EQ(run({job.exe, "30"}, o, 120).code, 0);
  return read_file(t / "out");
}

TEST(ChangedFile, ByteIdenticalCopiesAreAccepted) {
  Job job;
  job.checkpoint();
  if (HasFatalFailure()) return;
  // New inodes, same bytes: the library with its mtime kept (cp -p), the
  // executable with a new mtime (cp, or a reinstall of the same version).
  replace(job.lib, read_file(job.lib), true);
  replace(job.exe, read_file(job.exe), false);
  Exit e = job.restart();
  EXPECT_EQ(e.code, 0) << job.err();
  EXPECT_EQ(read_file(job.tmp / "prog.out"), reference(job)) << job.err();
}

TEST(ChangedFile, SameSizeAndMtimeButOtherBytesIsRefused) {
  Job job;
  job.checkpoint();
  if (HasFatalFailure()) return;
  std::string bytes = read_file(job.lib);
  bytes[bytes.size() - 8] ^= 0x55;  // in the section headers: harmless, but a change
  replace(job.lib, bytes, true);
  Exit e = job.restart();
  EXPECT_NE(e.code, 0);
  std::vector<std::string> l = lines(job.err());
  ASSERT_EQ(l.size(), 1u) << job.err();
  EXPECT_EQ(l[0].rfind("ckpt: " + job.lib + " changed since the checkpoint", 0), 0u) << l[0];
  EXPECT_NE(l[0].find("--allow-changed"), std::string::npos) << l[0];
}

TEST(ChangedFile, AllowChangedOverridesTheRefusal) {
  Job job;
  job.checkpoint();
  if (HasFatalFailure()) return;
  replace(job.lib, read_file(job.lib) + std::string(16, '\0'), false);  // harmless padding
  EXPECT_NE(job.restart().code, 0);
  EXPECT_NE(job.err().find(job.lib + " changed"), std::string::npos) << job.err();
  // Named relative to the current directory: matched by its real path.
  SpawnOptions o = job.opts("prog");
  Exit e =
      run({ckpt_bin(), "restart", "--dir", job.dir, "--allow-changed", "libt_tiny.so"}, o, 120);
  EXPECT_EQ(e.code, 0) << job.err();
  EXPECT_EQ(read_file(job.tmp / "prog.out"), reference(job)) << job.err();
}

}  // namespace
}  // namespace ckpt::test
