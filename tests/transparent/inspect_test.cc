// ckpt inspect on real images: a program run under `ckpt run` and
// checkpointed, and a libckpt program's own image; the JSON is read with
// python3's json module, as a script would.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

struct Out {
  Exit exit;
  std::string out, err;
};

Out ckpt_cmd(const TempDir& t, std::vector<std::string> args) {
  args.insert(args.begin(), ckpt_bin());
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / "cmd.out";
  o.stderr_path = t / "cmd.err";
  o.env = {"CKPT_DIR="};
  Out r;
  r.exit = run(args, o, 60);
  r.out = read_file(t / "cmd.out");
  r.err = read_file(t / "cmd.err");
  return r;
}

// Runs argv under `ckpt run`, checkpoints it after `delay` s, ends it; the image.
std::string checkpoint_of(const TempDir& t, const std::vector<std::string>& argv, double delay) {
  std::string dir = t / "job";
  std::vector<std::string> cmd = {ckpt_bin(), "run", "--dir", dir, "--"};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  SpawnOptions o;
  o.cwd = t.path();
  o.stdout_path = t / "prog.out";
  o.stderr_path = t / "prog.err";
  Child sup(cmd, o);
  sleep_seconds(delay);
  Out c = ckpt_cmd(t, {"checkpoint", "--dir", dir});
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  EXPECT_EQ(c.exit.code, 0) << c.err << read_file(t / "prog.err");
  return dir + "/ckpt-000000000001.img";
}

// `ckpt inspect --json image`, then each Python expression (with `j` the
// parsed object) must be true. Returns python's complaint, or "".
std::string check_json(const TempDir& t, const std::string& image,
                       const std::vector<std::string>& asserts) {
  Out r = ckpt_cmd(t, {"inspect", "--json", image});
  if (r.exit.code != 0) return "inspect failed: " + r.err;
  write_file(t / "inspect.json", r.out);
  std::string script = "import json, sys\nj = json.load(open(sys.argv[1]))\n";
  for (const std::string& a : asserts)
    script += "assert " + a + ", " + "\"\"\"" + a + "\"\"\"" + "\n";
  write_file(t / "check.py", script);
  SpawnOptions o;
  o.stderr_path = t / "py.err";
  Exit e = run({"/usr/bin/python3", t / "check.py", t / "inspect.json"}, o, 60);
  if (e.code != 0) return read_file(t / "py.err") + "\nin: " + r.out.substr(0, 4000);
  return "";
}

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  }
  TempDir t;
};

TEST_F(Inspect, ThreadsMappingsPagesOfAProcessImage) {
  std::string img = checkpoint_of(t, {program("t_threads"), "4", "400"}, 1.0);
  EXPECT_EQ(
      check_json(t, img,
                 {
                     "j['kind'] == 'process'",
                     "j['process']['record_version'] >= 1",
                     "len(j['threads']) == 5",
                     "j['threads'][0]['tid'] == j['process']['pid']",
                     "len(set(t['tid'] for t in j['threads'])) == 5",
                     "j['process']['exe'].endswith('/t_threads')",
                     "j['process']['exe_size'] > 0",
                     "len(j['process']['exe_hash']) == 32",
                     "all(len(m['hash']) == 32 for m in j['mappings'] "
                     "if m['kind'] == 'file' and 'x' in m['prot'])",
                     "any(m['kind'] == 'kernel' and m['path'] == '[vdso]' "
                     "for m in j['mappings'])",
                     "any(m['kind'] == 'file' and 'libc' in m['path'] for m in j['mappings'])",
                     "all(m['start'] < m['end'] for m in j['mappings'])",
                     "j['pages']['bytes'] > 0",
                     "j['pages']['bytes'] == sum(m['saved_bytes'] for m in j['mappings'])",
                     "j['pages']['runs'] == sum(m['runs'] for m in j['mappings'])",
                     "j['data']['raw_bytes'] == j['pages']['bytes']",
                     "any(f['kind'] == 'report' for f in j['fds'])",
                     "any(f['fd'] == 1 for f in j['fds'])",
                 }),
      "");
  // The text form names every record kind; none is "unknown".
  Out r = ckpt_cmd(t, {"inspect", "--records", img});
  EXPECT_EQ(r.exit.code, 0) << r.err;
  EXPECT_EQ(r.out.find("unknown"), std::string::npos) << r.out;
  for (const char* label : {"process:", "threads:     5", "fds:", "mappings:", "signals:",
                            "timers:", "pages:", " thread ", " mapping ", " pages ", " fd "})
    EXPECT_NE(r.out.find(label), std::string::npos) << label << " in:\n" << r.out;
}

TEST_F(Inspect, SignalsTimersDescriptorsOfAProcessImage) {
  std::string img = checkpoint_of(t, {program("t_signals"), "100"}, 1.0);
  EXPECT_EQ(check_json(t, img,
                       {
                           "set(['ALRM', 'USR2', 'HUP']) <= set(j['signals']['handled'])",
                           "'HUP' in j['signals']['pending']",
                           "'USR2' in j['threads'][0]['pending']",
                           "j['timers']['itimers'][0]['which'] == 'real'",
                           "j['timers']['itimers'][0]['interval_us'] == 50000",
                           "j['process']['umask'] == 0o27",
                       }),
            "");
  TempDir t2;
  img = checkpoint_of(t2, {program("t_eventfds"), "100"}, 1.0);
  EXPECT_EQ(
      check_json(t2, img,
                 {
                     "[f['kind'] for f in j['fds'] if f['kind'] in ('eventfd', 'timerfd', 'epoll')]"
                     " == ['eventfd', 'timerfd', 'epoll']",
                     "j['timers']['timerfds'] == 1",
                 }),
      "");
}

TEST_F(Inspect, EntriesOfALibckptImage) {
  SpawnOptions o;
  o.cwd = t.path();
  o.env = {"CKPT_DIR="};
  ASSERT_EQ(run({build_path("examples/count"), "3", "1"}, o).code, 0);
  std::string img = t / "ckpt.d/ckpt-000000000003.img";
  EXPECT_EQ(check_json(t, img,
                       {
                           "j['kind'] == 'app'",
                           "j['generation'] == 3",
                           "[e['name'] for e in j['entries']] == ['i']",
                           "j['entries'][0]['kind'] == 'bytes'",
                           "j['entries'][0]['bytes'] == 8",
                           "j['data']['raw_bytes'] == 8",
                           "'program=' in j['program'] and '/count' in j['program']",
                       }),
            "");
}

TEST_F(Inspect, BadArgumentsAndDamage) {
  std::string img = checkpoint_of(t, {program("t_count"), "100"}, 0.8);
  Out r = ckpt_cmd(t, {"inspect", "--records", "--json", img});
  EXPECT_EQ(r.exit.code, 2) << r.err;
  // A bit flipped in a record is a checksum error; inspect says where.
  std::string bytes = read_file(img);
  bytes[200] ^= 1;
  write_file(t / "bad.img", bytes);
  r = ckpt_cmd(t, {"inspect", t / "bad.img"});
  EXPECT_EQ(r.exit.code, 1);
  EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("ckpt: ", 0), 0u) << r.err;
}

}  // namespace
}  // namespace ckpt::test
