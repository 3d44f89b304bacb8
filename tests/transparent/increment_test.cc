// Incremental images with real processes: a program whose memory changes a
// little between checkpoints, checkpointed several times (a full image, then
// increments), killed with SIGKILL and restarted from an increment; its
// output must be the uninterrupted run's. Also pruning with chains, a
// damaged link, and programs that mprotect, madvise, mremap or use a
// userfaultfd of their own.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "control/restore_prep.h"
#include "control/tracker.h"
#include "format/chain.h"
#include "format/image_format.h"
#include "format/reader.h"
#include "format/writer.h"
#include "support/process.h"

namespace ckpt::test {
namespace {

struct Job {
  TempDir tmp;
  std::string dir = tmp / "job";
  std::string out = tmp / "out";
  std::string err = tmp / "err";
  std::vector<std::string> env;
  SpawnOptions opts() const {
    SpawnOptions o;
    o.stdout_path = out;
    o.stderr_path = err;
    o.append = true;
    o.cwd = tmp.path();
    o.env = env;
    return o;
  }
  Exit ckpt(const std::vector<std::string>& args, double timeout = 60) {
    std::vector<std::string> argv = {ckpt_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o = opts();
    o.stdout_path = tmp / "ckpt.out";
    o.stderr_path = tmp / "ckpt.err";
    o.append = false;
    return run(argv, o, timeout);
  }
  std::string ckpt_out() { return read_file(tmp / "ckpt.out"); }
  std::string ckpt_err() { return read_file(tmp / "ckpt.err"); }
  // Complete images by generation.
  std::map<uint64_t, std::string> images() const {
    std::map<uint64_t, std::string> m;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return m;
    while (dirent* e = ::readdir(d)) {
      uint64_t g;
      std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".img") == 0 &&
          std::sscanf(e->d_name, "ckpt-%lu.img", &g) == 1)
        m[g] = dir + "/" + name;
    }
    ::closedir(d);
    return m;
  }
};

uint64_t file_size(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// t_dirty's output does not depend on its pause between steps: the
// reference runs without it (6 s less per test, in each suite).
std::string reference(std::vector<std::string> argv) {
  if (argv.size() == 5 && argv[0] == program("t_dirty")) argv[4] = "0";
  TempDir t;
  SpawnOptions o;
  o.stdout_path = t / "out";
  o.cwd = t.path();
  Exit e = run(argv, o, 120);
  EXPECT_EQ(e.code, 0) << "reference run failed";
  return read_file(t / "out");
}

// `ckpt run FLAGS -- argv` (or `ckpt restart FLAGS` when argv is empty),
// `count` checkpoints `gap` seconds apart after `first` seconds, then
// SIGKILL to the whole job.
void checkpoints_then_kill(Job& job, const std::vector<std::string>& flags,
                           const std::vector<std::string>& argv, int count, double first = 0.3,
                           double gap = 0.6) {
  std::vector<std::string> cmd = {ckpt_bin(), argv.empty() ? "restart" : "run", "--dir", job.dir};
  cmd.insert(cmd.end(), flags.begin(), flags.end());
  if (!argv.empty()) {
    cmd.push_back("--");
    cmd.insert(cmd.end(), argv.begin(), argv.end());
  }
  Child sup(cmd, job.opts());
  // The memory is filled before the first step is printed: under load that
  // takes longer than `first`.
  size_t before = read_file(job.out).size();
  for (double t0 = now_seconds(); read_file(job.out).size() == before && now_seconds() - t0 < 30;)
    sleep_seconds(0.05);
  sleep_seconds(first);
  for (int k = 0; k < count; k++) {
    if (k) sleep_seconds(gap);
    Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
    ASSERT_EQ(c.code, 0) << "checkpoint " << k << " failed: " << job.ckpt_err()
                         << read_file(job.err);
  }
  sleep_seconds(0.3);
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
}

std::string restart(Job& job) {
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120);
  EXPECT_EQ(e.code, 0) << "restart failed: " << read_file(job.err);
  return read_file(job.out);
}

bool tracking_here() { return control::tracking_unavailable().empty(); }
#define SKIP_WITHOUT_TRACKING() \
  if (!tracking_here())         \
  GTEST_SKIP() << "no dirty-page tracking here: " << control::tracking_unavailable()

uint32_t version_of(const std::string& image) {
  format::ImageReader r;
  return r.open(image).is_ok() ? r.header().version : 0;
}

std::vector<std::string> dirty(const std::string& mode, int steps = 60) {
  return {program("t_dirty"), "64", std::to_string(steps), mode, "100000"};
}

// Three checkpoints: a full image and two increments, each a few percent
// of the full one; restarted from the newest, the run ends as an
// uninterrupted one does.
TEST(Increment, RestartFromIncrement) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain");
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "3"}, argv, 3);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 3u);
  auto it = imgs.begin();
  std::string full = it->second, second = (++it)->second, third = (++it)->second;
  EXPECT_EQ(version_of(full), 1u);
  EXPECT_EQ(version_of(second), 2u);
  EXPECT_EQ(version_of(third), 2u);
  EXPECT_GT(file_size(full), 64u << 20);
  // The program writes 1 % of its pages every 0.1 s; checkpoints are about
  // 0.7 s apart: an increment holds well under a fifth of the memory.
  EXPECT_LT(file_size(second), file_size(full) / 5);
  EXPECT_LT(file_size(third), file_size(full) / 5);
  EXPECT_FALSE(format::read_bases(third).empty());
  EXPECT_EQ(job.ckpt({"status", "--dir", job.dir}).code, 0);
  EXPECT_NE(job.ckpt_out().find("dirty pages: tracked"), std::string::npos) << job.ckpt_out();
  EXPECT_EQ(job.ckpt({"verify", "--dir", job.dir}).code, 0) << job.ckpt_err();
  EXPECT_EQ(restart(job), ref);
}

// A restart from an increment, then more checkpoints of the restarted
// process (the first is full again: nothing was tracked before it), then a
// restart from the newest increment.
TEST(Increment, CheckpointsAfterRestartFromIncrement) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain", 80);
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "8"}, argv, 2);
  if (HasFatalFailure()) return;
  checkpoints_then_kill(job, {"--keep", "8"}, {}, 2);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 4u);
  EXPECT_EQ(version_of(imgs.rbegin()->second), 2u);
  EXPECT_EQ(restart(job), ref);
}

// The restart of an older increment: the newest is removed first.
TEST(Increment, RestartFromOlderIncrement) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain");
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "3"}, argv, 3);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 3u);
  ::unlink(imgs.rbegin()->second.c_str());
  EXPECT_EQ(restart(job), ref);
}

// --keep 1 keeps the newest image and every image it takes data from.
TEST(Increment, PruneKeepsBases) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain");
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "1"}, argv, 4);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_FALSE(imgs.empty());
  std::string newest = imgs.rbegin()->second;
  auto bases = format::read_bases(newest);
  EXPECT_FALSE(bases.empty());
  for (uint64_t b : bases) EXPECT_TRUE(imgs.count(b)) << "base " << b << " was pruned";
  EXPECT_EQ(imgs.size(), bases.size() + 1) << "only the newest and its bases stay";
  EXPECT_EQ(restart(job), ref);
}

// --full-every 2: full, increment, full, increment. The second full image
// damaged: the increment on it cannot be restarted, nor the full image;
// the restart takes the older increment.
TEST(Increment, DamagedLinkFallsBackToNewestRestartable) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain");
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "4", "--full-every", "2"}, argv, 4);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 4u);
  std::vector<std::string> p;
  for (auto& [g, path] : imgs) p.push_back(path);
  EXPECT_EQ(version_of(p[0]), 1u);
  EXPECT_EQ(version_of(p[1]), 2u);
  EXPECT_EQ(version_of(p[2]), 1u);
  EXPECT_EQ(version_of(p[3]), 2u);
  // Flip a byte in the middle of the third image's page data.
  {
    std::string bytes = read_file(p[2]);
    bytes[bytes.size() / 2] = char(bytes[bytes.size() / 2] ^ 0x5a);
    write_file(p[2], bytes);
  }
  EXPECT_EQ(job.ckpt({"verify", "--dir", job.dir}).code, 1);
  std::string verified = job.ckpt_out();
  EXPECT_NE(verified.find("DAMAGED  " + p[2]), std::string::npos) << verified;
  EXPECT_NE(verified.find("DAMAGED  " + p[3]), std::string::npos) << verified;
  // ckpt's own messages to a file of their own: the program's stderr is cut
  // back to its size at the checkpoint when it resumes.
  SpawnOptions o = job.opts();
  o.stderr_path = job.tmp / "restart.err";
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, o, 120);
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(read_file(job.out), ref);
  std::string err = read_file(o.stderr_path);
  EXPECT_NE(err.find("broken chain"), std::string::npos) << err;
}

// A base replaced by another image of the same number is not taken.
TEST(Increment, ReplacedBaseIsRefused) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("plain");
  Job job;
  checkpoints_then_kill(job, {"--keep", "3"}, argv, 2);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 2u);
  Job other;
  checkpoints_then_kill(other, {}, argv, 1);
  if (HasFatalFailure()) return;
  std::string base = imgs.begin()->second;
  ASSERT_EQ(::rename(other.images().begin()->second.c_str(), base.c_str()), 0);
  EXPECT_EQ(job.ckpt({"verify", "--dir", job.dir}).code, 1);
  EXPECT_NE(job.ckpt_out().find("not the image it was built on"), std::string::npos)
      << job.ckpt_out();
}

// What the program does to its memory between checkpoints never makes an
// increment wrong, and it sees no difference.
void same_with_mode(const std::string& mode, const char* tracking) {
  auto argv = dirty(mode);
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "4"}, argv, 4);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(job.ckpt({"status", "--dir", job.dir}).code, 0);
  EXPECT_NE(job.ckpt_out().find(tracking), std::string::npos) << job.ckpt_out();
  EXPECT_EQ(restart(job), ref);
}

TEST(Increment, ProgramThatMprotects) {
  SKIP_WITHOUT_TRACKING();
  same_with_mode("mprotect", "dirty pages: tracked");
}
TEST(Increment, ProgramThatDropsPages) {
  SKIP_WITHOUT_TRACKING();
  same_with_mode("dontneed", "dirty pages: tracked");
}
TEST(Increment, ProgramThatMovesMemory) {
  SKIP_WITHOUT_TRACKING();
  same_with_mode("mremap", "dirty pages: tracked");
}
// Memory reserved and never touched: the tracker's write-protection marks
// those pages (the kernel's uffd-wp markers, which the page map shows as
// swapped out), yet no image may hold them. A 1 GiB region of which one
// page is written and one read per step; full images after the first too.
TEST(Increment, ReservedMemoryStaysOutOfEveryImage) {
  SKIP_WITHOUT_TRACKING();
  auto argv = dirty("sparse");
  std::string ref = reference(argv);
  Job job;
  checkpoints_then_kill(job, {"--keep", "4", "--full-every", "3"}, argv, 4);
  if (HasFatalFailure()) return;
  auto imgs = job.images();
  ASSERT_EQ(imgs.size(), 4u);
  std::vector<uint32_t> versions;
  for (auto& [g, path] : imgs) {
    versions.push_back(version_of(path));
    EXPECT_LT(file_size(path), 80u << 20) << path << " holds the untouched region";
  }
  EXPECT_EQ(versions, (std::vector<uint32_t>{1, 2, 2, 1}));
  EXPECT_LT(file_size(std::next(imgs.begin())->second), file_size(imgs.begin()->second) / 5);
  EXPECT_EQ(job.ckpt({"verify", "--dir", job.dir}).code, 0) << job.ckpt_err();
  EXPECT_EQ(restart(job), ref);
}

// A program with a userfaultfd of its own: ckpt stays out of its way (full
// images), and the program's own registrations keep working across
// checkpoints. (A restart cannot give it its userfaultfd back: descriptors
// of that kind come back as /dev/null, so the run is let finish instead.)
TEST(Increment, ProgramWithItsOwnUserfaultfd) {
  auto argv = dirty("uffd", 40);
  std::string ref = reference(argv);
  Job job;
  std::vector<std::string> cmd = {ckpt_bin(), "run", "--dir", job.dir, "--"};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  Child sup(cmd, job.opts());
  sleep_seconds(1.0);
  for (int k = 0; k < 3; k++) {
    Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
    ASSERT_EQ(c.code, 0) << job.ckpt_err();
    sleep_seconds(0.4);
  }
  EXPECT_EQ(sup.wait(60).code, 0) << read_file(job.err);
  EXPECT_EQ(read_file(job.out), ref);
  for (auto& [g, path] : job.images()) EXPECT_EQ(version_of(path), 1u) << path;
  EXPECT_EQ(job.ckpt({"status", "--dir", job.dir}).code, 0);
  const char* want =
      tracking_here() ? "full images: the program uses userfaultfd itself" : "full images";
  EXPECT_NE(job.ckpt_out().find(want), std::string::npos) << job.ckpt_out();
}

// Where tracking is not available (here: turned off), every image is full
// and `ckpt status` says why.
TEST(Increment, WithoutTrackingImagesAreFull) {
  auto argv = dirty("plain");
  std::string ref = reference(argv);
  Job job;
  job.env = {"CKPT_TEST_NO_TRACKING=1"};
  checkpoints_then_kill(job, {"--keep", "3"}, argv, 3);
  if (HasFatalFailure()) return;
  for (auto& [g, path] : job.images()) EXPECT_EQ(version_of(path), 1u) << path;
  EXPECT_EQ(job.ckpt({"status", "--dir", job.dir}).code, 0);
  EXPECT_NE(job.ckpt_out().find("dirty pages: full images: turned off"), std::string::npos)
      << job.ckpt_out();
  EXPECT_EQ(restart(job), ref);
}

// --full-every 1 turns increments off.
TEST(Increment, FullEveryOne) {
  auto argv = dirty("plain");
  Job job;
  checkpoints_then_kill(job, {"--keep", "3", "--full-every", "1"}, argv, 2);
  if (HasFatalFailure()) return;
  for (auto& [g, path] : job.images()) EXPECT_EQ(version_of(path), 1u) << path;
  EXPECT_EQ(job.ckpt({"run", "--dir", job.dir, "--full-every", "0", "--", "true"}).code, 2);
}

// Hostile increments: a real chain (a full image and an increment on it),
// the increment rewritten record by record with the project's writer (every
// checksum valid), one attack per test; prepare_restore, what `ckpt
// restart` runs before anything is mapped, must refuse each in one line.
struct Rec {
  uint32_t type;
  std::vector<uint8_t> payload;
};
struct Chain {
  Job job;
  std::string base;       // generation 1
  std::vector<Rec> incr;  // generation 2's records
  std::string error;
};
Chain* g_chain;

const Chain& chain() {
  if (g_chain) return *g_chain;
  g_chain = new Chain;
  Chain& c = *g_chain;
  checkpoints_then_kill(c.job, {"--keep", "3"}, dirty("plain"), 2);
  auto imgs = c.job.images();
  if (imgs.size() != 2) {
    c.error = "no chain: " + c.job.ckpt_err();
    return c;
  }
  c.base = imgs.begin()->second;
  format::ImageReader r;
  Status s = r.open(imgs.rbegin()->second);
  for (bool end = false; s.is_ok();) {
    format::RecordInfo ri;
    s = r.next(&ri, &end);
    if (!s.is_ok() || end || ri.type == format::kEnd) break;
    std::vector<uint8_t> p;
    s = r.read_payload(ri, &p);
    c.incr.push_back({ri.type, std::move(p)});
  }
  if (!s.is_ok()) c.error = s.message();
  return c;
}

// Writes the base and `recs` as generations 1 and 2 of a fresh directory;
// the message of prepare_restore on generation 2 ("" if it passed).
std::string restore_message(const TempDir& t, const std::vector<Rec>& recs, bool increment = true,
                            const std::string& name = "crafted", bool self_refs = false) {
  std::string dir = t / name;
  ::mkdir(dir.c_str(), 0700);
  write_file(dir + "/ckpt-000000000001.img", read_file(chain().base));
  ::chmod((dir + "/ckpt-000000000001.img").c_str(), 0600);
  format::ImageWriter w;
  format::WriterOptions wo;
  wo.increment = increment;
  wo.self_refs = self_refs;
  Status s = w.open(dir + "/ckpt-000000000002.img", format::Kind::kProcess, 2, wo);
  for (const Rec& r : recs) {
    if (!s.is_ok()) break;
    if (r.type == format::kData) s = w.data(r.payload.data(), r.payload.size());
    else s = w.record(r.type, r.payload.data(), r.payload.size());
  }
  if (s.is_ok()) s = w.commit();
  EXPECT_TRUE(s.is_ok()) << s.message();
  control::RestorePlan plan;
  s = control::prepare_restore(dir + "/ckpt-000000000002.img", &plan);
  control::close_plan_fds(&plan);
  return s.is_ok() ? "" : s.message();
}

#define NEED_CHAIN()       \
  SKIP_WITHOUT_TRACKING(); \
  if (!chain().error.empty()) FAIL() << chain().error

size_t first_of(const std::vector<Rec>& recs, uint32_t type) {
  for (size_t i = 0; i < recs.size(); i++)
    if (recs[i].type == type) return i;
  return recs.size();
}

void edit_ref(Rec& r, const std::function<void(format::DataRef&)>& f) {
  format::DataRef d;
  ASSERT_TRUE(format::decode_data_ref(r.payload, &d));
  f(d);
  r.payload = format::encode_data_ref(d);
}

TEST(IncrementHostile, UntouchedChainPasses) {
  NEED_CHAIN();
  TempDir t;
  EXPECT_EQ(restore_message(t, chain().incr), "");
}

TEST(IncrementHostile, DataRefToUnknownBase) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) { d.base = 1; });
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("names base 1 of 1"), std::string::npos);
}

// A data_ref 8 bytes off its record, restored from a directory named
// `name`: a header checksum that does not match there, or no room for a
// header (the last record of a small base): either way a broken chain.
void expect_wrong_offset_refused(const std::string& name, const std::string& also) {
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) { d.offset += 8; });
  TempDir t;
  ASSERT_LT((t / name).size(), 100u);
  std::string m = restore_message(t, recs, true, name);
  EXPECT_NE(m.find(also), std::string::npos) << m;
  EXPECT_TRUE(m.find("record header checksum mismatch") != std::string::npos ||
              m.find("truncated record header") != std::string::npos)
      << m;
}

TEST(IncrementHostile, DataRefToWrongOffset) {
  NEED_CHAIN();
  expect_wrong_offset_refused("crafted", "a broken chain");
}

// CI's temporary directories are longer than a workstation's: the base's
// full path, then the image's, pushed the reason out of the message's 240
// characters. The base is named by its file name (it sits beside the image).
// (A path much longer than this still pushes the end of a message out: a
// Status holds 240 characters.)
TEST(IncrementHostile, DataRefToWrongOffsetInADeepDirectory) {
  NEED_CHAIN();
  expect_wrong_offset_refused("a-directory-named-like-a-scratch-path",
                              "in its base, generation 1: ckpt-000000000001.img: damaged at byte");
}

TEST(IncrementHostile, DataRefToARecordThatIsNotData) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) { d.offset = format::kFileHeaderSize; });
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("not data"), std::string::npos);
}

TEST(IncrementHostile, DataRefPastItsRecord) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) { d.skip = format::kMaxChunkRaw; });
  TempDir t;
  std::string m = restore_message(t, recs);
  EXPECT_TRUE(m.find("reaches past") != std::string::npos ||
              m.find("too much page data") != std::string::npos)
      << m;
}

TEST(IncrementHostile, DataRefLongerThanItsRun) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) { d.len += 1ull << 40; });
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("bad data_ref record (field len)"), std::string::npos);
}

TEST(IncrementHostile, BaseWithWrongDigest) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kBase);
  ASSERT_LT(i, recs.size());
  format::BaseRef b;
  ASSERT_TRUE(format::decode_base(recs[i].payload, &b));
  b.digest ^= 1;
  recs[i].payload = format::encode_base(b);
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("not the image it was built on"), std::string::npos);
}

TEST(IncrementHostile, BaseThatIsNotOlder) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kBase);
  ASSERT_LT(i, recs.size());
  recs[i].payload = format::encode_base({2, 0});
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("a base that is not older"), std::string::npos);
}

TEST(IncrementHostile, MissingBase) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kBase);
  ASSERT_LT(i, recs.size());
  format::BaseRef b;
  ASSERT_TRUE(format::decode_base(recs[i].payload, &b));
  b.generation = 1;
  recs[i].payload = format::encode_base(b);
  TempDir t;
  std::string m = restore_message(t, recs);
  ASSERT_EQ(m, "");
  ::unlink((t / "crafted/ckpt-000000000001.img").c_str());
  control::RestorePlan plan;
  Status s = control::prepare_restore(t / "crafted/ckpt-000000000002.img", &plan);
  control::close_plan_fds(&plan);
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(std::string(s.message()).find("generation 1, is missing"), std::string::npos)
      << s.message();
}

TEST(IncrementHostile, DataRefBeforeAnyBase) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kBase);
  ASSERT_LT(i, recs.size());
  recs.erase(recs.begin() + long(i));
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("names base 0 of 0"), std::string::npos);
}

// Data_refs to the image they are in (format version 3: pages that two
// processes of a job hold alike, saved once).
TEST(IncrementHostile, Version3FileWithoutSelfRefsPasses) {
  NEED_CHAIN();
  TempDir t;
  EXPECT_EQ(restore_message(t, chain().incr, true, "crafted", /*self_refs=*/true), "");
}

TEST(IncrementHostile, SelfRefInVersion2File) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) {
    d.base = format::kSelf;
    d.offset = format::kFileHeaderSize;
  });
  TempDir t;
  EXPECT_NE(restore_message(t, recs).find("only format version 3 allows"), std::string::npos);
}

TEST(IncrementHostile, SelfRefThatIsNotBeforeIt) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) {
    d.base = format::kSelf;
    d.offset = 1ull << 40;
  });
  TempDir t;
  EXPECT_NE(restore_message(t, recs, true, "crafted", true).find("that is not before it"),
            std::string::npos);
}

TEST(IncrementHostile, SelfRefToARecordThatIsNotData) {
  NEED_CHAIN();
  auto recs = chain().incr;
  size_t i = first_of(recs, format::kDataRef);
  ASSERT_LT(i, recs.size());
  edit_ref(recs[i], [](format::DataRef& d) {
    d.base = format::kSelf;
    d.offset = format::kFileHeaderSize;  // the first record: the job's
  });
  TempDir t;
  std::string m = restore_message(t, recs, true, "crafted", true);
  EXPECT_NE(m.find("a data_ref to its own image: a data_ref names a record that is not data"),
            std::string::npos)
      << m;
}

TEST(IncrementHostile, Version2RecordInVersion1File) {
  NEED_CHAIN();
  TempDir t;
  EXPECT_NE(restore_message(t, chain().incr, /*increment=*/false)
                .find("a version 2 record in a version 1 file"),
            std::string::npos);
}

}  // namespace
}  // namespace ckpt::test
