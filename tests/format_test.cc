// The image format: round trips, and damage of every kind detected.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "base/endian.h"
#include "base/fs.h"
#include "format/jobdir.h"
#include "format/reader.h"
#include "format/writer.h"
#include "support/process.h"

namespace ckpt::format {
namespace {

using test::TempDir;

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng() % 7);  // compressible but not trivial
  return v;
}

Status write_sample(const std::string& path, int level, Fs* fs = Fs::posix(),
                    size_t data_size = 100000, bool direct = false) {
  ImageWriter w(fs);
  WriterOptions o;
  o.zstd_level = level;
  o.chunk = data_size > (1 << 20) ? (1 << 20) + 12345 : 32768;  // records straddle blocks
  o.direct = direct;
  CKPT_RETURN_IF_ERROR(w.open(path, Kind::kApp, 7, o));
  const char meta[] = "hello";
  CKPT_RETURN_IF_ERROR(w.record(kAppEntry, meta, sizeof meta));
  auto data = pattern(data_size, 1);
  CKPT_RETURN_IF_ERROR(w.data(data.data(), data.size()));
  return w.commit();
}

TEST(Format, RoundTripUncompressedAndCompressed) {
  TempDir t;
  for (int level : {0, 3}) {
    std::string path = t / ("img" + std::to_string(level));
    ASSERT_TRUE(write_sample(path, level).is_ok());
    VerifyResult v;
    Status s = verify_image(path, &v);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(v.header.generation, 7u);
    EXPECT_EQ(v.raw_bytes, 100000u + 6);
    EXPECT_EQ(v.records, 1u + 4);  // entry + 4 chunks of 32 KiB

    ImageReader r;
    ASSERT_TRUE(r.open(path).is_ok());
    std::vector<uint8_t> got, payload;
    RecordInfo rec;
    bool end = false;
    while (r.next(&rec, &end).is_ok() && !end) {
      if (rec.type != kData) continue;
      if (level) {
        EXPECT_TRUE(rec.flags & kFlagZstd);
      }
      ASSERT_TRUE(r.read_payload(rec, &payload).is_ok());
      got.insert(got.end(), payload.begin(), payload.end());
    }
    EXPECT_TRUE(end);
    EXPECT_EQ(got, pattern(100000, 1));
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
}

// Every single byte flipped, in every position: always refused.
TEST(Format, EveryByteFlipIsDetected) {
  TempDir t;
  for (int level : {0, 3}) {
    std::string path = t / "img";
    ::unlink(path.c_str());
    ASSERT_TRUE(write_sample(path, level, Fs::posix(), 3000).is_ok());
    std::string good = test::read_file(path);
    for (size_t i = 0; i < good.size(); i++) {
      std::string bad = good;
      bad[i] = char(bad[i] ^ (1 << (i % 8)));
      test::write_file(path, bad);
      Status s = verify_image(path, nullptr);
      ASSERT_FALSE(s.is_ok()) << "flip at byte " << i << " went unnoticed (level " << level << ")";
      EXPECT_NE(std::string(s.message()).find(path), std::string::npos) << s.message();
    }
  }
}

TEST(Format, EveryTruncationIsDetected) {
  TempDir t;
  std::string path = t / "img";
  ASSERT_TRUE(write_sample(path, 0, Fs::posix(), 3000).is_ok());
  std::string good = test::read_file(path);
  for (size_t n = 0; n < good.size(); n++) {
    test::write_file(path, good.substr(0, n));
    Status s = verify_image(path, nullptr);
    ASSERT_FALSE(s.is_ok()) << "truncation to " << n << " bytes went unnoticed";
    EXPECT_EQ(s.code(), Code::kCorrupt) << s.message();
  }
  // And bytes appended after the end record.
  test::write_file(path, good + "x");
  EXPECT_EQ(verify_image(path, nullptr).code(), Code::kCorrupt);
}

TEST(Format, ForeignFilesAreRefused) {
  TempDir t;
  std::string path = t / "img";
  test::write_file(path, std::string(200, 'A'));
  Status s = verify_image(path, nullptr);
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(std::string(s.message()).find("not a ckpt image"), std::string::npos) << s.message();
  test::write_file(path, "");
  EXPECT_EQ(verify_image(path, nullptr).code(), Code::kCorrupt);
  EXPECT_EQ(verify_image(t / "missing", nullptr).code(), Code::kNotFound);
  EXPECT_EQ(verify_image(t.path(), nullptr).code(), Code::kInvalid);  // a directory
}

// A newer version with a valid header checksum: refused as unsupported.
TEST(Format, NewerVersionIsUnsupported) {
  TempDir t;
  std::string path = t / "img";
  ASSERT_TRUE(write_sample(path, 0).is_ok());
  std::string img = test::read_file(path);
  auto* h = reinterpret_cast<uint8_t*>(img.data());
  put_u32(h + 8, kVersion + 1);
  put_u64(h + 56, XXH3_64bits(h, 56));
  test::write_file(path, img);
  Status s = verify_image(path, nullptr);
  EXPECT_EQ(s.code(), Code::kUnsupported) << s.message();
}

// A record header with a valid checksum but an absurd size: refused before
// anything is allocated.
TEST(Format, AbsurdSizesWithValidChecksumsAreRefused) {
  TempDir t;
  std::string path = t / "img";
  ASSERT_TRUE(write_sample(path, 0).is_ok());
  std::string img = test::read_file(path);
  auto* rec = reinterpret_cast<uint8_t*>(img.data()) + kFileHeaderSize;
  for (uint64_t size : {uint64_t(1) << 40, ~uint64_t(0), uint64_t(1) << 30}) {
    std::string bad = img;
    auto* r = reinterpret_cast<uint8_t*>(bad.data()) + kFileHeaderSize;
    put_u64(r + 8, size);
    put_u64(r + 16, size);
    put_u64(r + 32, XXH3_64bits_withSeed(r, 32, kFileHeaderSize));
    test::write_file(path, bad);
    Status s = verify_image(path, nullptr);
    EXPECT_EQ(s.code(), Code::kCorrupt) << s.message();
  }
  (void)rec;
}

// A file system that fails, for fault injection.
class FaultFs : public Fs {
 public:
  long budget = -1;  // bytes that may be written before writes fail
  int error = ENOSPC;
  bool fail_fsync = false;
  ssize_t write(int fd, const void* p, size_t n) override {
    if (budget >= 0 && long(n) > budget) {
      if (budget == 0) return -error;
      n = size_t(budget);
    }
    ssize_t r = Fs::write(fd, p, n);
    if (r > 0 && budget >= 0) budget -= r;
    return r;
  }
  ssize_t writev(int fd, const iovec* iov, int n) override {
    // Route through write() so the budget applies.
    if (n == 0) return 0;
    return write(fd, iov[0].iov_base, iov[0].iov_len);
  }
  int fsync(int fd) override { return fail_fsync ? -EIO : Fs::fsync(fd); }
};

TEST(Format, FullDiskAtEveryPointLeavesNoImage) {
  TempDir t;
  std::string path = t / "ckpt-000000000001.img";
  for (long budget : {0L, 10L, 64L, 100L, 5000L, 40000L, 99000L}) {
    FaultFs fs;
    fs.budget = budget;
    Status s = write_sample(path, 0, &fs);
    ASSERT_FALSE(s.is_ok()) << "budget " << budget;
    EXPECT_EQ(s.code(), Code::kNoSpace) << s.message();
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "a partial image became visible";
  }
  // The writer's destructor removes its temporary file.
  EXPECT_NE(access((t / ".ckpt-000000000001.img.tmp").c_str(), F_OK), 0);
  for (int err : {EDQUOT, EFBIG}) {
    FaultFs fs;
    fs.budget = 1000;
    fs.error = err;
    EXPECT_EQ(write_sample(path, 3, &fs).code(), Code::kNoSpace);
  }
  FaultFs fs;
  fs.fail_fsync = true;
  Status s = write_sample(path, 0, &fs);
  EXPECT_EQ(s.code(), Code::kIo) << s.message();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

// O_DIRECT through aligned blocks: the same bytes as buffered writes, and
// the same clean failure when the disk fills at any point (a short write
// there falls back to buffered writes; an unaligned one is refused by the
// kernel with EINVAL, which must not be taken for the error).
TEST(Format, DirectWritesGiveTheSameImage) {
  TempDir t;
  const size_t size = 3 * BlockWriter::kBlock + 777;
  for (int level : {0, 1}) {
    std::string a = t / "buffered", b = t / "direct";
    ASSERT_TRUE(write_sample(a, level, Fs::posix(), size, false).is_ok());
    ASSERT_TRUE(write_sample(b, level, Fs::posix(), size, true).is_ok());
    std::string x = test::read_file(a), y = test::read_file(b);
    // Only the creation time in the file header differs.
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(x.substr(0, 24), y.substr(0, 24));
    EXPECT_EQ(x.substr(64), y.substr(64));
    EXPECT_TRUE(verify_image(b, nullptr).is_ok());
    struct stat st;
    ASSERT_EQ(stat(b.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ::unlink(a.c_str());
    ::unlink(b.c_str());
  }
}

TEST(Format, DirectWritesFullDiskAtEveryPointLeavesNoImage) {
  TempDir t;
  std::string path = t / "ckpt-000000000001.img";
  const size_t size = 3 * BlockWriter::kBlock + 777;
  for (long budget :
       {0L, 10L, 4096L, 5000L, long(BlockWriter::kBlock) - 1, long(BlockWriter::kBlock),
        long(BlockWriter::kBlock) + 4096, 3L * long(BlockWriter::kBlock) + 100}) {
    FaultFs fs;
    fs.budget = budget;
    Status s = write_sample(path, 0, &fs, size, true);
    ASSERT_FALSE(s.is_ok()) << "budget " << budget;
    EXPECT_EQ(s.code(), Code::kNoSpace) << "budget " << budget << ": " << s.message();
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "a partial image became visible";
    EXPECT_NE(access((t / ".ckpt-000000000001.img.tmp").c_str(), F_OK), 0);
  }
  FaultFs fs;
  fs.fail_fsync = true;
  Status s = write_sample(path, 0, &fs, size, true);
  EXPECT_EQ(s.code(), Code::kIo) << s.message();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

// data_from() gives the same bytes as data(), whether they go straight into
// the O_DIRECT blocks (filled in place, checksummed there) or through the
// pipeline of buffers, and whatever pieces the filler is asked for.
TEST(Format, FilledDataGivesTheSameImage) {
  TempDir t;
  const size_t size = 2 * BlockWriter::kBlock + 4096 * 3 + 77;
  auto data = pattern(size, 9);
  for (int level : {0, 1}) {
    for (bool direct : {false, true}) {
      std::string a = t / "plain", b = t / "filled";
      for (int filled : {0, 1}) {
        ImageWriter w;
        WriterOptions o;
        o.zstd_level = level;
        o.direct = direct;
        o.chunk = (1 << 20) + 12345;  // records straddle blocks
        ASSERT_TRUE(w.open(filled ? b : a, Kind::kApp, 7, o).is_ok());
        const char meta[] = "hello";
        ASSERT_TRUE(w.record(kAppEntry, meta, sizeof meta).is_ok());
        uint64_t next = 0;
        if (filled) {
          Status s = w.data_from(size, [&](uint8_t* dst, uint64_t off, size_t n) {
            EXPECT_EQ(off, next);  // in order, without gaps
            next = off + n;
            std::memcpy(dst, data.data() + off, n);
            return Status::ok();
          });
          ASSERT_TRUE(s.is_ok()) << s.message();
          EXPECT_EQ(next, size);
        } else {
          ASSERT_TRUE(w.data(data.data(), size).is_ok());
        }
        ASSERT_TRUE(w.commit().is_ok());
      }
      std::string x = test::read_file(a), y = test::read_file(b);
      ASSERT_EQ(x.size(), y.size()) << "level " << level << " direct " << direct;
      EXPECT_EQ(x.substr(64), y.substr(64)) << "level " << level << " direct " << direct;
      EXPECT_TRUE(verify_image(b, nullptr).is_ok());
      ::unlink(a.c_str());
      ::unlink(b.c_str());
    }
  }
}

// A filler's error stops the image: nothing is committed.
TEST(Format, FillErrorLeavesNoImage) {
  TempDir t;
  for (bool direct : {false, true}) {
    std::string path = t / "img";
    ImageWriter w;
    WriterOptions o;
    o.direct = direct;
    ASSERT_TRUE(w.open(path, Kind::kApp, 7, o).is_ok());
    Status s = w.data_from(3 * BlockWriter::kBlock, [&](uint8_t* dst, uint64_t off, size_t n) {
      if (off > BlockWriter::kBlock) return Status::make(Code::kIo, EIO, "cannot read");
      std::memset(dst, 1, n);
      return Status::ok();
    });
    EXPECT_EQ(s.code(), Code::kIo);
    w.abort();
    EXPECT_NE(access(path.c_str(), F_OK), 0);
    EXPECT_NE(access((t / ".img.tmp").c_str(), F_OK), 0);
  }
}

// Data that does not compress is found out from samples and stored raw;
// data that does is compressed, chunk by chunk.
TEST(Format, IncompressibleChunksAreStoredRaw) {
  TempDir t;
  std::string path = t / "img";
  const size_t chunk = 1 << 20;
  std::vector<uint8_t> data(4 * chunk);
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < data.size(); i += 8) {
    uint64_t x = rng();
    std::memcpy(&data[i], &x, 8);
  }
  auto smooth = pattern(chunk, 4);
  std::memcpy(&data[2 * chunk], smooth.data(), chunk);  // chunk 2 compresses
  ImageWriter w;
  WriterOptions o;
  o.zstd_level = 1;
  o.chunk = chunk;
  ASSERT_TRUE(w.open(path, Kind::kApp, 7, o).is_ok());
  ASSERT_TRUE(w.data(data.data(), data.size()).is_ok());
  ASSERT_TRUE(w.commit().is_ok());
  ImageReader r;
  ASSERT_TRUE(r.open(path).is_ok());
  RecordInfo rec;
  bool end = false;
  std::vector<uint32_t> flags;
  std::vector<uint8_t> got, payload;
  while (r.next(&rec, &end).is_ok() && !end) {
    if (rec.type != kData) continue;
    flags.push_back(rec.flags & kFlagZstd);
    ASSERT_TRUE(r.read_payload(rec, &payload).is_ok());
    got.insert(got.end(), payload.begin(), payload.end());
  }
  EXPECT_EQ(flags, (std::vector<uint32_t>{0, 0, kFlagZstd, 0}));
  EXPECT_EQ(got, data);
}

TEST(Format, CommitNeverReplacesAnExistingImage) {
  TempDir t;
  std::string path = t / "img";
  ASSERT_TRUE(write_sample(path, 0).is_ok());
  std::string before = test::read_file(path);
  Status s = write_sample(path, 3);
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(test::read_file(path), before);
}

TEST(JobDir, NamesGenerationsAndPrivacy) {
  uint64_t g;
  EXPECT_TRUE(parse_image_name("ckpt-000000000012.img", &g));
  EXPECT_EQ(g, 12u);
  EXPECT_FALSE(parse_image_name("ckpt-12.img.tmp", &g));
  EXPECT_FALSE(parse_image_name(".ckpt-000000000012.img.tmp", &g));
  EXPECT_FALSE(parse_image_name("ckpt-.img", &g));
  EXPECT_FALSE(parse_image_name("ckpt-99999999999999999999.img", &g));

  TempDir t;
  std::string d = t / "job";
  JobDir jd;
  ASSERT_TRUE(jd.open(d, true).is_ok());
  struct stat st;
  stat(d.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "a new job directory is private";
  // An existing directory's permissions are the user's: never changed.
  std::string shared = t / "shared";
  mkdir(shared.c_str(), 0755);
  JobDir sj;
  ASSERT_TRUE(sj.open(shared, false).is_ok());
  stat(shared.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  for (uint64_t n : {3u, 1u, 2u}) ASSERT_TRUE(write_sample(jd.image_path(n), 0).is_ok());
  EXPECT_EQ(jd.next_generation(), 4u);
  jd.prune(2);
  auto gens = jd.list();
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_EQ(gens[0].number, 2u);
  EXPECT_EQ(gens[1].number, 3u);

  ASSERT_TRUE(jd.lock().is_ok());
  JobDir other;
  ASSERT_TRUE(other.open(d, false).is_ok());
  EXPECT_EQ(other.lock().code(), Code::kBusy);
  EXPECT_EQ(other.holder_pid(), getpid());
  jd.unlock();
  EXPECT_TRUE(other.lock().is_ok());
}

// Regression: a temp file left by a writer killed mid-checkpoint stayed in
// the directory until a checkpoint of the same number replaced it; a job
// that ended without another checkpoint left it behind for good. Whoever
// takes the lock is the only writer: older temp files are leftovers.
TEST(JobDir, TakingTheLockRemovesACrashedWritersTempFiles) {
  TempDir t;
  std::string d = t / "job";
  JobDir jd;
  ASSERT_TRUE(jd.open(d, true).is_ok());
  ASSERT_TRUE(write_sample(jd.image_path(1), 0).is_ok());
  std::string stale = d + "/.ckpt-000000000002.img.tmp";
  std::string mine = d + "/notes.tmp";
  test::write_file(stale, "half an image");
  test::write_file(mine, "the user's");
  JobDir other;
  ASSERT_TRUE(other.open(d, false).is_ok());
  EXPECT_EQ(access(stale.c_str(), F_OK), 0) << "opening alone must not remove anything";
  ASSERT_TRUE(other.lock().is_ok());
  EXPECT_NE(access(stale.c_str(), F_OK), 0);
  EXPECT_EQ(access(mine.c_str(), F_OK), 0) << "only ckpt's temp files are removed";
  EXPECT_EQ(other.list().size(), 1u);
}

}  // namespace
}  // namespace ckpt::format
