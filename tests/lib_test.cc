// libckpt's API, in one process: registration kinds, restore, fallback,
// mismatches, async and compressed modes, the C API.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <ckpt/ckpt.h>
#include <ckpt/ckpt.hpp>

#include "base/endian.h"
#include "format/image_format.h"
#include "format/jobdir.h"
#include "format/writer.h"
#include "lib/triggers.h"
#include "support/process.h"

namespace ckpt {
namespace {

using test::TempDir;

Options opts(const std::string& dir) {
  Options o;
  o.dir = dir;
  o.signals = {};
  o.quiet = true;
  o.find_slurm_deadline = false;
  return o;
}

struct State {
  int64_t counter = 0;
  double values[4] = {0, 0, 0, 0};
  std::vector<double> grid;
  std::string note;
  std::vector<int> custom;  // saved through callbacks
  char buffer[64] = {};

  Status attach(Checkpointer& ck) {
    CKPT_RETURN_IF_ERROR(ck.add("counter", counter));
    CKPT_RETURN_IF_ERROR(ck.add("values", values));
    CKPT_RETURN_IF_ERROR(ck.add("grid", grid));
    CKPT_RETURN_IF_ERROR(ck.add("note", note));
    CKPT_RETURN_IF_ERROR(ck.add_buffer("buffer", buffer, sizeof buffer));
    return ck.add_callbacks(
        "custom",
        [this](Writer& w) {
          uint64_t n = custom.size();
          CKPT_RETURN_IF_ERROR(w.write(&n, sizeof n));
          return w.write(custom.data(), n * sizeof(int));
        },
        [this](Reader& r) {
          uint64_t n;
          CKPT_RETURN_IF_ERROR(r.read(&n, sizeof n));
          custom.resize(n);
          return r.read(custom.data(), n * sizeof(int));
        });
  }
  void fill(int k) {
    counter = k;
    for (int i = 0; i < 4; i++) values[i] = k * 1.5 + i;
    grid.assign(1000 + k, k * 0.25);
    note = "state number " + std::to_string(k);
    custom.assign(k, k);
    snprintf(buffer, sizeof buffer, "buffer %d", k);
  }
  bool operator==(const State& o) const {
    return counter == o.counter && std::equal(values, values + 4, o.values) && grid == o.grid &&
           note == o.note && custom == o.custom && std::string(buffer) == o.buffer;
  }
};

void save_states(const Options& o, std::initializer_list<int> ks) {
  State s;
  Checkpointer ck(o);
  ASSERT_TRUE(s.attach(ck).is_ok());
  ASSERT_TRUE(ck.restore().is_ok());
  for (int k : ks) {
    s.fill(k);
    Status st = ck.checkpoint();
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_TRUE(ck.wait().is_ok());
}

State load_state(const Options& o, RestoreInfo* info, Status* status) {
  State s;
  Checkpointer ck(o);
  EXPECT_TRUE(s.attach(ck).is_ok());
  *status = ck.restore(info);
  return s;
}

class Modes : public ::testing::TestWithParam<std::tuple<bool, int>> {};

TEST_P(Modes, EveryKindOfStateRoundTrips) {
  auto [async, level] = GetParam();
  TempDir t;
  Options o = opts(t / "job");
  o.async = async;
  o.compression = level ? Compression::kZstd : Compression::kNone;
  o.compression_level = level;
  save_states(o, {3, 5, 9});
  RestoreInfo info;
  Status st;
  State got = load_state(o, &info, &st);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_TRUE(info.restored);
  EXPECT_EQ(info.generation, 3u);
  State want;
  want.fill(9);
  EXPECT_TRUE(got == want);
  // keep = 2: two generations on disk.
  format::JobDir jd;
  ASSERT_TRUE(jd.open(o.dir, false).is_ok());
  EXPECT_EQ(jd.list().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Lib, Modes,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(0, 3)));

TEST(Lib, NothingToRestoreIsNotAnError) {
  TempDir t;
  RestoreInfo info;
  Status st;
  State s = load_state(opts(t / "job"), &info, &st);
  EXPECT_TRUE(st.is_ok()) << st.message();
  EXPECT_FALSE(info.restored);
  EXPECT_EQ(s.counter, 0);
  struct stat sb;
  ASSERT_EQ(stat((t / "job").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700u);
}

TEST(Lib, DamagedNewestFallsBackToPrevious) {
  TempDir t;
  Options o = opts(t / "job");
  o.keep = 3;
  save_states(o, {1, 2, 3});
  std::string newest = t / "job/ckpt-000000000003.img";
  std::string img = test::read_file(newest);
  img[img.size() / 2] ^= 0x40;
  test::write_file(newest, img);

  RestoreInfo info;
  Status st;
  State got = load_state(o, &info, &st);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(info.generation, 2u);
  EXPECT_EQ(info.skipped_damaged, 1);
  EXPECT_EQ(got.counter, 2);
  // The damaged file is kept aside, and the next generation is numbered after it.
  EXPECT_EQ(access((newest + ".damaged").c_str(), F_OK), 0);
  {
    State s;
    Checkpointer ck(o);
    ASSERT_TRUE(s.attach(ck).is_ok());
    ASSERT_TRUE(ck.restore().is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());
    EXPECT_EQ(ck.generation(), 4u);
  }
}

TEST(Lib, AllDamagedIsAnErrorAndTouchesNothing) {
  TempDir t;
  Options o = opts(t / "job");
  save_states(o, {4});
  std::string path = t / "job/ckpt-000000000001.img";
  std::string img = test::read_file(path);
  test::write_file(path, img.substr(0, img.size() - 3));
  State s;
  s.fill(42);
  Checkpointer ck(o);
  ASSERT_TRUE(s.attach(ck).is_ok());
  Status st = ck.restore();
  EXPECT_EQ(st.code(), Code::kCorrupt) << st.message();
  State want;
  want.fill(42);
  EXPECT_TRUE(s == want) << "a failed restore must not change the program's state";
}

TEST(Lib, ChangedRegistrationIsAClearMismatch) {
  TempDir t;
  Options o = opts(t / "job");
  save_states(o, {2});
  {
    int64_t counter = 7;
    int32_t smaller = 5;
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add("counter", smaller).is_ok());
    Status st = ck.restore();
    EXPECT_EQ(st.code(), Code::kMismatch);
    EXPECT_NE(std::string(st.message()).find("'counter' has 8 bytes, the program registers 4"),
              std::string::npos)
        << st.message();
    EXPECT_EQ(smaller, 5);
    (void)counter;
  }
  {
    State s;
    int extra = 1;
    Checkpointer ck(o);
    ASSERT_TRUE(s.attach(ck).is_ok());
    ASSERT_TRUE(ck.add("extra", extra).is_ok());
    Status st = ck.restore();
    EXPECT_EQ(st.code(), Code::kMismatch);
    EXPECT_NE(std::string(st.message()).find("no entry 'extra'"), std::string::npos)
        << st.message();
  }
  // The images are untouched by the failed restores.
  EXPECT_EQ(access((t / "job/ckpt-000000000001.img").c_str(), F_OK), 0);
}

TEST(Lib, RegistrationErrors) {
  TempDir t;
  Checkpointer ck(opts(t / "job"));
  int a = 0;
  EXPECT_TRUE(ck.add("a", a).is_ok());
  EXPECT_EQ(ck.add("a", a).code(), Code::kInvalid);
  EXPECT_EQ(ck.add("", a).code(), Code::kInvalid);
  EXPECT_EQ(ck.add_buffer("null", nullptr, 4).code(), Code::kInvalid);
  ASSERT_TRUE(ck.restore().is_ok());
  int b = 0;
  EXPECT_EQ(ck.add("b", b).code(), Code::kInvalid);
}

TEST(Lib, SecondUserOfADirectoryIsBusy) {
  TempDir t;
  Checkpointer a(opts(t / "job"));
  ASSERT_TRUE(a.restore().is_ok());
  Checkpointer b(opts(t / "job"));
  EXPECT_EQ(b.restore().code(), Code::kBusy);
}

TEST(Lib, UnwritableDirectoryIsAClearError) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir t;
  std::string d = t / "job";
  mkdir(d.c_str(), 0500);
  Checkpointer ck(opts(d));
  Status st = ck.restore();
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(std::string(st.message()).find("not writable"), std::string::npos) << st.message();
}

TEST(Lib, DirectoryOfAnotherUserIsRefused) {
  if (geteuid() == 0) GTEST_SKIP() << "root owns /";
  Checkpointer ck(opts("/"));
  Status st = ck.restore();
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(std::string(st.message()).find("another user"), std::string::npos) << st.message();
}

TEST(Lib, IntervalAndDeadlineMakeCheckpointsDue) {
  TempDir t;
  Options o = opts(t / "job");
  o.interval_seconds = 0.2;
  int x = 1;
  Checkpointer ck(o);
  ASSERT_TRUE(ck.add("x", x).is_ok());
  ASSERT_TRUE(ck.restore().is_ok());
  EXPECT_FALSE(ck.due());
  EXPECT_FALSE(ck.checkpoint_if_due());
  test::sleep_seconds(0.3);
  EXPECT_TRUE(ck.due());
  EXPECT_TRUE(ck.checkpoint_if_due());
  EXPECT_FALSE(ck.due());

  Options d = opts(t / "job2");
  d.deadline_unix = time(nullptr) + 3;
  d.deadline_margin_seconds = 2.5;
  Checkpointer ck2(d);
  ASSERT_TRUE(ck2.add("x", x).is_ok());
  ASSERT_TRUE(ck2.restore().is_ok());
  double start = test::now_seconds();
  while (!ck2.due() && test::now_seconds() - start < 5) test::sleep_seconds(0.01);
  EXPECT_TRUE(ck2.checkpoint_if_due());
  EXPECT_FALSE(ck2.due()) << "the deadline checkpoint is taken once";
}

// The default margin scales with a short limit, as `ckpt sbatch --lead`: a
// job with 60 s left is due at 40 s, not at once (a fixed 60 s margin).
TEST(Lib, DefaultDeadlineMarginIsAThirdOfAShortLimit) {
  TempDir t;
  Options d = opts(t / "job");
  ASSERT_LT(d.deadline_margin_seconds, 0) << "the default is automatic";
  d.deadline_unix = time(nullptr) + 3;
  int x = 0;
  Checkpointer ck(d);
  ASSERT_TRUE(ck.add("x", x).is_ok());
  ASSERT_TRUE(ck.restore().is_ok());
  EXPECT_FALSE(ck.due()) << "due at once: the margin did not scale";
  double start = test::now_seconds();
  while (!ck.due() && test::now_seconds() - start < 5) test::sleep_seconds(0.01);
  double at = test::now_seconds() - start;
  EXPECT_TRUE(ck.due());
  EXPECT_GT(at, 0.5);  // 3 s left, margin 1 s: due after about 2 s
  EXPECT_LT(at, 2.9);
}

TEST(Lib, SqueueEndTimeIsParsedOrZero) {
  tm t = {};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 0;
  t.tm_mday = 31;
  t.tm_hour = 12;
  t.tm_isdst = -1;
  EXPECT_EQ(lib::parse_squeue_end_time("2026-01-31T12:00:00\n"), int64_t(mktime(&t)));
  for (const char* s : {"", "N/A\n", "Unknown", "2026-01-31", "garbage"})
    EXPECT_EQ(lib::parse_squeue_end_time(s), 0) << s;
}

TEST(Lib, SignalMakesACheckpointDue) {
  TempDir t;
  Options o = opts(t / "job");
  o.signals = {SIGUSR1};
  o.stop_signals = {};
  int x = 5;
  Checkpointer ck(o);
  ASSERT_TRUE(ck.add("x", x).is_ok());
  ASSERT_TRUE(ck.restore().is_ok());
  EXPECT_FALSE(ck.due());
  raise(SIGUSR1);
  EXPECT_TRUE(ck.due());
  EXPECT_TRUE(ck.checkpoint_if_due());
  EXPECT_FALSE(ck.due());
  Checkpointer other(o);
  EXPECT_EQ(other.start().code(), Code::kBusy) << "one owner of the signals per process";
}

int save_ints(ckpt_writer_t* w, void* user) {
  auto* v = static_cast<std::vector<int>*>(user);
  return ckpt_write(w, v->data(), v->size() * sizeof(int));
}
int load_ints(ckpt_reader_t* r, void* user) {
  auto* v = static_cast<std::vector<int>*>(user);
  v->resize(ckpt_remaining(r) / sizeof(int));
  return ckpt_read(r, v->data(), v->size() * sizeof(int));
}

TEST(CApi, RoundTripAndErrors) {
  TempDir t;
  std::string dir = t / "job";
  double x = 2.5;
  std::vector<int> v = {1, 2, 3};
  {
    ckpt_t* ck = ckpt_new(dir.c_str());
    ASSERT_NE(ck, nullptr);
    ASSERT_EQ(ckpt_set_quiet(ck, 1), 0);
    ASSERT_EQ(ckpt_set_signals(ck, nullptr, 0, nullptr, 0), 0);
    ASSERT_EQ(ckpt_set_compression(ck, 3), 0);
    ASSERT_EQ(ckpt_register(ck, "x", &x, sizeof x), 0);
    EXPECT_EQ(ckpt_set_keep(ck, 3), -CKPT_EINVAL) << "options come before registration";
    ASSERT_EQ(ckpt_register_callbacks(ck, "v", save_ints, load_ints, &v), 0);
    EXPECT_EQ(ckpt_register(ck, "x", &x, sizeof x), -CKPT_EINVAL);
    EXPECT_NE(std::string(ckpt_last_error(ck)).find("twice"), std::string::npos);
    uint64_t gen = 99;
    EXPECT_EQ(ckpt_restore(ck, &gen), 0);
    EXPECT_EQ(gen, 0u);
    EXPECT_EQ(ckpt_checkpoint_if_due(ck), 0);
    ASSERT_EQ(ckpt_checkpoint(ck), 0);
    EXPECT_EQ(ckpt_generation(ck), 1u);
    ckpt_free(ck);
  }
  x = 0;
  v.clear();
  ckpt_t* ck = ckpt_new(dir.c_str());
  ckpt_set_quiet(ck, 1);
  ckpt_set_signals(ck, nullptr, 0, nullptr, 0);
  ckpt_register(ck, "x", &x, sizeof x);
  ckpt_register_callbacks(ck, "v", save_ints, load_ints, &v);
  uint64_t gen = 0;
  EXPECT_EQ(ckpt_restore(ck, &gen), 1);
  EXPECT_EQ(gen, 1u);
  EXPECT_EQ(x, 2.5);
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
  ckpt_free(ck);
  EXPECT_STRNE(ckpt_version(), "");
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// Found by app_restore_fuzz: an entry that declares more bytes than its data
// records hold made restore allocate the declared size (2^62: a crash).
TEST(LibRegression, DeclaredSizeMustMatchTheData) {
  TempDir t;
  std::string dir = t / "job";
  mkdir(dir.c_str(), 0700);
  format::ImageWriter w;
  ASSERT_TRUE(w.open(dir + "/ckpt-000000000001.img", format::Kind::kApp, 1, {}).is_ok());
  uint8_t meta[21] = {};
  put_u32(meta, uint32_t(format::EntryKind::kVector));
  put_u32(meta + 4, 8);
  put_u64(meta + 8, uint64_t(1) << 62);
  put_u32(meta + 16, 1);
  meta[20] = 'v';
  ASSERT_TRUE(w.record(format::kAppEntry, meta, sizeof meta).is_ok());
  double one = 1;
  ASSERT_TRUE(w.data(&one, sizeof one).is_ok());
  ASSERT_TRUE(w.commit().is_ok());

  std::vector<double> v = {3, 4};
  Checkpointer ck(opts(dir));
  ASSERT_TRUE(ck.add("v", v).is_ok());
  Status st = ck.restore();
  EXPECT_EQ(st.code(), Code::kCorrupt) << st.message();
  EXPECT_NE(std::string(st.message()).find("declares"), std::string::npos) << st.message();
  EXPECT_EQ(v, (std::vector<double>{3, 4}));
}

// Found by app_restore_fuzz: an empty callback entry passed a null pointer
// to memcpy.
TEST(LibRegression, EmptyCallbackEntryRestores) {
  TempDir t;
  Options o = opts(t / "job");
  std::vector<int> custom;
  auto save = [&](Writer& w) { return w.write(custom.data(), custom.size() * sizeof(int)); };
  auto load = [&](Reader& r) {
    custom.resize(r.remaining() / sizeof(int));
    return r.read(custom.data(), custom.size() * sizeof(int));
  };
  {
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_callbacks("c", save, load).is_ok());
    ASSERT_TRUE(ck.restore().is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());
  }
  custom = {1};
  Checkpointer ck(o);
  ASSERT_TRUE(ck.add_callbacks("c", save, load).is_ok());
  RestoreInfo info;
  ASSERT_TRUE(ck.restore(&info).is_ok());
  EXPECT_TRUE(info.restored);
  EXPECT_TRUE(custom.empty());
}

}  // namespace
}  // namespace ckpt
