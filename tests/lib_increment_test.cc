// libckpt increments (Options::full_every > 1, docs/libckpt.md
// "Increments"): a generation holds the 64 KiB blocks that changed and
// refers to the rest; every generation restores on its own terms, pruning
// keeps what a kept generation refers to, and a broken link falls back to
// the newest generation that is whole.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <ckpt/ckpt.h>
#include <ckpt/ckpt.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "format/chain.h"
#include "format/image_format.h"
#include "format/jobdir.h"
#include "format/reader.h"
#include "format/writer.h"
#include "support/process.h"

namespace ckpt {
namespace {

using test::TempDir;

constexpr size_t kBlock = 64 << 10;

Options opts(const std::string& dir, int full_every) {
  Options o;
  o.dir = dir;
  o.signals = {};
  o.quiet = true;
  o.find_slurm_deadline = false;
  o.full_every = full_every;
  o.keep = 100;
  return o;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(&v[i], &x, 8);
  }
  return v;
}

// Rewrites `blocks` blocks spread over the buffer.
void touch_blocks(std::vector<uint8_t>& v, int blocks, uint32_t seed) {
  size_t n = v.size() / kBlock;
  for (int i = 0; i < blocks; i++) {
    size_t b = (size_t(i) * 7919 + seed) % n;
    v[b * kBlock + (seed % kBlock)] ^= 0x5a;
  }
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

format::FileHeader header_of(const std::string& path) {
  format::ImageReader r;
  EXPECT_TRUE(r.open(path).is_ok()) << path;
  return r.header();
}

std::string image(const std::string& dir, uint64_t g) {
  format::JobDir j;
  EXPECT_TRUE(j.open(dir, false).is_ok());
  return j.image_path(g);
}

// Restores `dir` into fresh state and returns the generation restored.
uint64_t restore_into(const Options& o, std::vector<uint8_t>* data, std::vector<double>* vec,
                      RestoreInfo* info = nullptr) {
  Checkpointer ck(o);
  EXPECT_TRUE(ck.add_buffer("data", data->data(), data->size()).is_ok());
  EXPECT_TRUE(ck.add("vec", *vec).is_ok());
  RestoreInfo local;
  RestoreInfo& i = info ? *info : local;
  Status s = ck.restore(&i);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return i.generation;
}

TEST(LibIncrement, OnePercentChangedWritesUnderThreePercent) {
  TempDir d;
  Options o = opts(d.path(), 8);
  std::vector<uint8_t> data = random_bytes(64 << 20, 1);
  std::vector<double> vec(1000, 1.5);
  auto ck = std::make_unique<Checkpointer>(o);
  ASSERT_TRUE(ck->add_buffer("data", data.data(), data.size()).is_ok());
  ASSERT_TRUE(ck->add("vec", vec).is_ok());
  ASSERT_TRUE(ck->checkpoint().is_ok());
  uint64_t full = file_size(image(d.path(), 1));
  EXPECT_GE(full, data.size());
  EXPECT_EQ(header_of(image(d.path(), 1)).version, 1u) << "a full image stays version 1";
  touch_blocks(data, 10, 3);  // 10 of 1024 blocks: 1 %
  vec[3] = 42;
  ASSERT_TRUE(ck->checkpoint().is_ok());
  ck.reset();
  uint64_t inc = file_size(image(d.path(), 2));
  EXPECT_LE(inc, full * 3 / 100) << "increment of " << inc << " bytes against " << full;
  EXPECT_EQ(header_of(image(d.path(), 2)).version, 2u);
  EXPECT_EQ(format::read_bases(image(d.path(), 2)), std::vector<uint64_t>{1});
  format::VerifyResult v;
  Status s = format::verify_image(image(d.path(), 2), &v, true);
  EXPECT_TRUE(s.is_ok()) << s.message();

  std::vector<uint8_t> back(data.size());
  std::vector<double> vback;
  EXPECT_EQ(restore_into(o, &back, &vback), 2u);
  EXPECT_TRUE(back == data);
  EXPECT_EQ(vback, vec);
}

// Generations 1 (full), 2 and 3 (increments; 3 refers to 1 and 2
// directly), 4 (full again with full_every 3); each restores its own
// state, and an increment after a restore builds on the restored image.
TEST(LibIncrement, EveryGenerationOfAChainRestoresItsOwnState) {
  TempDir d;
  Options o = opts(d.path(), 3);
  std::vector<uint8_t> data = random_bytes(8 << 20, 2);
  std::vector<double> vec(100, 0.25);
  std::vector<std::vector<uint8_t>> states;
  std::vector<std::vector<double>> vecs;
  {
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_buffer("data", data.data(), data.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", vec).is_ok());
    for (int g = 1; g <= 4; g++) {
      ASSERT_TRUE(ck.checkpoint().is_ok());
      states.push_back(data);
      vecs.push_back(vec);
      touch_blocks(data, 3, uint32_t(g * 11));
      vec.resize(vec.size() + 20000, double(g));  // grows by more than a block
    }
  }
  std::vector<uint32_t> versions;
  for (uint64_t g = 1; g <= 4; g++) versions.push_back(header_of(image(d.path(), g)).version);
  EXPECT_EQ(versions, (std::vector<uint32_t>{1, 2, 2, 1}));
  EXPECT_EQ(format::read_bases(image(d.path(), 3)), (std::vector<uint64_t>{1, 2}));
  // Each generation alone: the newer ones moved away.
  for (uint64_t g = 4; g >= 1; g--) {
    std::vector<uint8_t> back(data.size());
    std::vector<double> vback;
    EXPECT_EQ(restore_into(o, &back, &vback), g);
    EXPECT_TRUE(back == states[g - 1]) << "generation " << g;
    EXPECT_EQ(vback, vecs[g - 1]) << "generation " << g;
    ASSERT_EQ(::rename(image(d.path(), g).c_str(), (d / ("away." + std::to_string(g))).c_str()), 0);
  }
  // Generation 2 back: restored, changed, checkpointed (generation 5, an
  // increment on 1 and 2), restored again.
  std::vector<uint8_t> live_state;
  std::vector<double> live_vec;
  uint64_t generation = 0;
  for (uint64_t g : {1, 2})
    ASSERT_EQ(::rename((d / ("away." + std::to_string(g))).c_str(), image(d.path(), g).c_str()), 0);
  {
    std::vector<uint8_t> live(data.size());
    std::vector<double> lvec;
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_buffer("data", live.data(), live.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", lvec).is_ok());
    RestoreInfo info;
    ASSERT_TRUE(ck.restore(&info).is_ok());
    ASSERT_EQ(info.generation, 2u);
    touch_blocks(live, 2, 99);
    ASSERT_TRUE(ck.checkpoint().is_ok());
    uint64_t g = ck.generation();
    EXPECT_EQ(header_of(image(d.path(), g)).version, 2u);
    EXPECT_EQ(format::read_bases(image(d.path(), g)), (std::vector<uint64_t>{1, 2}));
    live_state = live;
    live_vec = lvec;
    generation = g;
  }
  std::vector<uint8_t> back(data.size());
  std::vector<double> vback;
  EXPECT_EQ(restore_into(o, &back, &vback), generation);
  EXPECT_TRUE(back == live_state);
  EXPECT_EQ(vback, live_vec);
}

// keep = 1: the older images go, except those the kept one refers to.
TEST(LibIncrement, PruningKeepsTheBasesOfWhatIsKept) {
  TempDir d;
  Options o = opts(d.path(), 8);
  o.keep = 1;
  std::vector<uint8_t> data = random_bytes(4 << 20, 3);
  std::vector<double> vec(10, 1.0);
  {
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_buffer("data", data.data(), data.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", vec).is_ok());
    for (int g = 1; g <= 4; g++) {
      ASSERT_TRUE(ck.checkpoint().is_ok());
      if (g < 4) touch_blocks(data, 2, uint32_t(g));
    }
  }
  format::JobDir j;
  ASSERT_TRUE(j.open(d.path(), false).is_ok());
  std::vector<uint64_t> kept;
  for (auto& g : j.list()) kept.push_back(g.number);
  std::vector<uint64_t> want = format::read_bases(image(d.path(), 4));
  want.push_back(4);
  EXPECT_EQ(kept, want);
  std::vector<uint8_t> back(data.size());
  std::vector<double> vback;
  EXPECT_EQ(restore_into(o, &back, &vback), 4u);
  EXPECT_TRUE(back == data);
}

// A base damaged: the increments that refer to it cannot be restored and
// are set aside; the newest whole generation is restored.
TEST(LibIncrement, DamagedBaseFallsBackToTheNewestWholeGeneration) {
  TempDir d;
  Options o = opts(d.path(), 8);
  std::vector<uint8_t> data = random_bytes(4 << 20, 4);
  std::vector<double> vec(10, 1.0);
  {
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_buffer("data", data.data(), data.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", vec).is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());
    touch_blocks(data, 2, 5);
    ASSERT_TRUE(ck.checkpoint().is_ok());  // 2: refers to 1
  }
  // Damage generation 1 in the middle of its data: 2 refers to it. The
  // byte is flipped, not set: where it falls depends on the length of the
  // program's path in the image, and a set byte may already have been
  // that value (it was, once in 256 paths: the Debian 13 stage).
  {
    std::fstream f(image(d.path(), 1), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(2 << 20);
    char c = 0;
    f.read(&c, 1);
    c = char(~c);
    f.seekp(2 << 20);
    f.write(&c, 1);
    ASSERT_TRUE(f.good());
  }
  std::vector<uint8_t> back(data.size());
  std::vector<double> vback;
  Checkpointer ck(o);
  ASSERT_TRUE(ck.add_buffer("data", back.data(), back.size()).is_ok());
  ASSERT_TRUE(ck.add("vec", vback).is_ok());
  RestoreInfo info;
  Status s = ck.restore(&info);
  // Both damaged (2 through its base): nothing sound.
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(info.skipped_damaged, 2);
  EXPECT_NE(std::string(s.message()).find("no sound checkpoint"), std::string::npos) << s.message();
  EXPECT_TRUE(std::all_of(back.begin(), back.end(), [](uint8_t c) { return c == 0; }))
      << "nothing is touched";
}

TEST(LibIncrement, BrokenLinkRestoresTheGenerationBefore) {
  TempDir d;
  Options o = opts(d.path(), 8);
  std::vector<uint8_t> data = random_bytes(4 << 20, 6);
  std::vector<double> vec(10, 1.0);
  std::vector<uint8_t> second;
  {
    Checkpointer ck(o);
    ASSERT_TRUE(ck.add_buffer("data", data.data(), data.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", vec).is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());  // 1
    touch_blocks(data, 4, 7);
    ASSERT_TRUE(ck.checkpoint().is_ok());  // 2
    second = data;
    touch_blocks(data, 4, 8);
    ASSERT_TRUE(ck.checkpoint().is_ok());  // 3: refers to 1 and 2
  }
  // Generation 2 replaced by another image of the same number (its digest
  // differs): 3's link to it is broken; 2 itself is whole.
  ASSERT_EQ(format::read_bases(image(d.path(), 3)), (std::vector<uint64_t>{1, 2}));
  std::string two = image(d.path(), 2);
  // The replacement: generation 2's state written again as a full image
  // by a Checkpointer of another directory, copied over.
  {
    TempDir other;
    Options oo = opts(other.path(), 1);
    std::vector<uint8_t> s2 = second;
    std::vector<double> v2 = vec;
    Checkpointer ck(oo);
    ASSERT_TRUE(ck.add_buffer("data", s2.data(), s2.size()).is_ok());
    ASSERT_TRUE(ck.add("vec", v2).is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());
    ASSERT_TRUE(ck.checkpoint().is_ok());  // generation 2 there, full
    std::ifstream in(image(other.path(), 2), std::ios::binary);
    std::ofstream out(two, std::ios::binary);
    out << in.rdbuf();
  }
  ::chmod(two.c_str(), 0600);
  std::vector<uint8_t> back(data.size());
  std::vector<double> vback;
  RestoreInfo info;
  EXPECT_EQ(restore_into(o, &back, &vback, &info), 2u);
  EXPECT_EQ(info.skipped_damaged, 1);
  EXPECT_TRUE(back == second);
}

TEST(LibIncrement, CompressedAndAsyncIncrementsRoundTrip) {
  for (bool async : {false, true}) {
    TempDir d;
    Options o = opts(d.path(), 4);
    o.compression = Compression::kZstd;
    o.compression_level = 1;
    o.async = async;
    std::vector<uint8_t> data(16 << 20);
    for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(i / 4096);  // compressible
    std::vector<double> vec(10, 2.0);
    {
      Checkpointer ck(o);
      ASSERT_TRUE(ck.add_buffer("data", data.data(), data.size()).is_ok());
      ASSERT_TRUE(ck.add("vec", vec).is_ok());
      for (int g = 1; g <= 3; g++) {
        ASSERT_TRUE(ck.checkpoint().is_ok());
        ASSERT_TRUE(ck.wait().is_ok());
        if (g < 3) touch_blocks(data, 5, uint32_t(g));
      }
      touch_blocks(data, 5, 77);  // after the last: not in any image
    }
    EXPECT_EQ(header_of(image(d.path(), 3)).version, 2u) << "async " << async;
    std::vector<uint8_t> back(data.size());
    std::vector<double> vback;
    EXPECT_EQ(restore_into(o, &back, &vback), 3u);
    touch_blocks(back, 5, 77);
    EXPECT_TRUE(back == data) << "async " << async;
  }
}

// A version 3 image of libckpt state whose data_ref names its own data
// (what only a process image holds): refused in one line, before the
// registered state is touched.
TEST(LibIncrementHostile, SelfReferenceIsRefusedBeforeAnythingIsTouched) {
  TempDir d;
  std::string path;
  {
    format::JobDir j;
    ASSERT_TRUE(j.open(d.path(), true).is_ok());
    path = j.image_path(1);
  }
  std::vector<uint8_t> page(4096, 0xab);
  format::ImageWriter w;
  format::WriterOptions wo;
  wo.increment = true;
  wo.self_refs = true;
  ASSERT_TRUE(w.open(path, format::Kind::kApp, 1, wo).is_ok());
  std::vector<uint8_t> e = format::encode_entry({format::EntryKind::kBytes, 1, 8192, "data"});
  ASSERT_TRUE(w.record(format::kAppEntry, e.data(), e.size()).is_ok());
  uint64_t at = w.bytes_written();
  ASSERT_TRUE(w.data(page.data(), page.size()).is_ok());
  std::vector<uint8_t> ref = format::encode_data_ref({format::kSelf, at, 0, 4096});
  ASSERT_TRUE(w.record(format::kDataRef, ref.data(), ref.size()).is_ok());
  ASSERT_TRUE(w.commit().is_ok());
  format::VerifyResult v;
  ASSERT_TRUE(format::verify_image(path, &v, true).is_ok()) << "a well-formed file";

  std::vector<uint8_t> mine(8192, 0);
  Checkpointer ck(opts(d.path(), 4));
  ASSERT_TRUE(ck.add_buffer("data", mine.data(), mine.size()).is_ok());
  Status s = ck.restore();
  EXPECT_EQ(s.code(), Code::kCorrupt) << s.message();
  EXPECT_NE(std::string(s.message()).find("a data_ref libckpt does not write"), std::string::npos)
      << s.message();
  EXPECT_TRUE(std::all_of(mine.begin(), mine.end(), [](uint8_t c) { return c == 0; }));
}

TEST(LibIncrement, FullEveryIsCheckedInTheCApi) {
  TempDir d;
  ckpt_t* ck = ckpt_new(d.path().c_str());
  ASSERT_NE(ck, nullptr);
  EXPECT_EQ(ckpt_set_full_every(ck, 0), -CKPT_EINVAL);
  EXPECT_NE(std::string(ckpt_last_error(ck)).find("full_every"), std::string::npos);
  EXPECT_EQ(ckpt_set_full_every(ck, 4), 0);
  ckpt_free(ck);
}

}  // namespace
}  // namespace ckpt
