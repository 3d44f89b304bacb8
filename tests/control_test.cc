// The control socket's lines and the process image's records, without a
// process to checkpoint.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "control/process_image.h"
#include "control/protocol.h"
#include "control/restore_prep.h"
#include "format/writer.h"

namespace ckpt::fuzz {
bool write_process_image(const std::string& path, int zstd_level, int threads, size_t pages);
}

namespace ckpt::control {
namespace {

TEST(ControlProtocol, Requests) {
  bool stop = true;
  EXPECT_TRUE(parse_request("checkpoint", &stop));
  EXPECT_FALSE(stop);
  EXPECT_TRUE(parse_request("checkpoint stop", &stop));
  EXPECT_TRUE(stop);
  for (const char* bad :
       {"", "checkpoint ", "checkpoint stop ", "Checkpoint", "stop", "checkpoint now"})
    EXPECT_FALSE(parse_request(bad, &stop)) << bad;
}

TEST(ControlProtocol, RepliesRoundTrip) {
  Reply r;
  r.ok = true;
  r.generation = 18446744073709551615ull;
  r.bytes = 1234567;
  r.pause_s = 0.0125;
  r.total_s = 3.5;
  r.path = "/a dir/ckpt-000000000003.img";
  std::string line = format_reply(r);
  EXPECT_EQ(line, "ok 18446744073709551615 1234567 0.013 3.500 /a dir/ckpt-000000000003.img");
  Reply back;
  ASSERT_TRUE(parse_reply(line, &back));
  EXPECT_TRUE(back.ok);
  EXPECT_EQ(back.generation, r.generation);
  EXPECT_EQ(back.bytes, r.bytes);
  EXPECT_DOUBLE_EQ(back.pause_s, 0.013);
  EXPECT_DOUBLE_EQ(back.total_s, 3.5);
  EXPECT_EQ(back.path, r.path);

  Reply e;
  e.error = "no space left";
  ASSERT_TRUE(parse_reply(format_reply(e), &back));
  EXPECT_FALSE(back.ok);
  EXPECT_EQ(back.error, "no space left");
}

// Found by control_fuzz: a number of seconds too long for format_reply's
// buffer came out as an empty field, a reply `ckpt checkpoint` refuses.
TEST(ControlProtocolRegression, AnyFiniteSecondsRoundTrip) {
  Reply r, back;
  r.ok = true;
  r.path = "/x";
  for (double d : {3.33e125, 1.7976931348623157e308, 0.0005}) {
    r.pause_s = r.total_s = d;
    ASSERT_TRUE(parse_reply(format_reply(r), &back)) << format_reply(r);
    EXPECT_EQ(back.path, "/x");
  }
}

TEST(ControlProtocol, MalformedRepliesAreRefused) {
  Reply r;
  for (const char* bad : {"", "ok", "ok ", "ok 1 2 3 4", "ok 1 2 3 4 ", "ok -1 2 3 4 /p",
                          "ok 1 2 nan 4 /p", "ok 1 2 -3 4 /p", "ok 1x 2 3 4 /p",
                          "ok 99999999999999999999 2 3 4 /p", "ok  1 2 3 4 /p", "error", "hello"})
    EXPECT_FALSE(parse_reply(bad, &r)) << bad;
}

TEST(ControlProtocol, RecvLineReadsLinesAndRefusesLongOnes) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string data = "checkpoint\n\nlast" + std::string(5000, 'x') + "\n";
  ASSERT_EQ(write(sv[0], data.data(), data.size()), ssize_t(data.size()));
  shutdown(sv[0], SHUT_WR);
  std::string line;
  ASSERT_TRUE(recv_line(sv[1], &line, 0).is_ok());
  EXPECT_EQ(line, "checkpoint");
  ASSERT_TRUE(recv_line(sv[1], &line, 0).is_ok());
  EXPECT_EQ(line, "");
  EXPECT_EQ(recv_line(sv[1], &line, 0).code(), Code::kInvalid);
  close(sv[0]);
  close(sv[1]);
}

TEST(ProcessImage, RecordsRoundTrip) {
  FdInfo f;
  f.fd = 7;
  f.kind = FdKind::kEventfd;
  f.path = "anon_inode:[eventfd]";
  f.fdinfo = "eventfd-count: 5\n";
  FdInfo g;
  ASSERT_TRUE(decode(encode(f), &g));
  EXPECT_EQ(g.fd, 7);
  EXPECT_EQ(g.fdinfo, f.fdinfo);
  MappingInfo m;
  m.start = 0x1000;
  m.end = 0x3000;
  m.path = "[heap]";
  MappingInfo n;
  ASSERT_TRUE(decode(encode(m), &n));
  EXPECT_EQ(n.end, 0x3000u);
  std::vector<uint8_t> rec = encode(m);
  rec.resize(rec.size() - 1);
  Status s = decode(rec, &n);
  EXPECT_FALSE(s);
  EXPECT_STREQ(s.message(), "bad mapping record (field path)");
  m.kind = MapKind(9);
  EXPECT_STREQ(decode(encode(m), &n).message(), "bad mapping record (field kind)");
  ProcInfo pi;
  pi.format_version = 99;
  ProcInfo pj;
  EXPECT_STREQ(decode(encode(pi), &pj).message(), "bad process record (field format_version)");
}

// The fuzz seeds (fuzz/process_seeds.cc) pass every check of a restart, so
// process_image_fuzz starts from images that reach the end of prepare_restore.
TEST(ProcessImage, SeedImagesPrepareForRestore) {
  char dir[] = "/tmp/ckpt-control-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  for (int level : {0, 1}) {
    std::string path = std::string(dir) + "/ckpt-00000000000" + std::to_string(level + 1) + ".img";
    ASSERT_TRUE(fuzz::write_process_image(path, level, 3, 5));
    RestorePlan plan;
    Status s = prepare_restore(path, &plan);
    EXPECT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(plan.procs.at(0).threads.size(), 3u);
    EXPECT_EQ(plan.procs.at(0).fds.size(), 14u);  // kinds 1-11
    EXPECT_EQ(plan.memory_bytes, 5u * 4096);
    close_plan_fds(&plan);
    unlink(path.c_str());
  }
  rmdir(dir);
}

// A process image of one process record, one thread and `fds`.
Status prepare_minimal(const std::vector<FdInfo>& fds) {
  char dir[] = "/tmp/ckpt-control-test-XXXXXX";
  if (!mkdtemp(dir)) return Status::make(Code::kIo, errno, "mkdtemp");
  std::string path = std::string(dir) + "/ckpt-000000000001.img";
  format::ImageWriter w;
  Status s = w.open(path, format::Kind::kProcess, 1, {});
  // Plausible in every other way (restart checks all of it): one writable
  // mapping holding the layout and the thread's signal frame.
  const uint64_t base = 0x10000000;
  ProcInfo pi;
  pi.uid = getuid();  // no auxv
  pi.cwd = "/";
  pi.signal = 62;
  for (uint64_t& a : pi.mm) a = base + 0x1000;
  ThreadInfo t;
  t.slot.tid = 1;
  t.slot.uc = base + 0x2000;
  MappingInfo m;
  m.start = base;
  m.end = base + 0x10000;
  m.prot = 3;
  m.path = "[heap]";
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> recs = {{format::kProcInfo, encode(pi)},
                                                                 {format::kProcThread, encode(t)}};
  for (const FdInfo& f : fds) recs.push_back({format::kProcFd, encode(f)});
  recs.push_back({format::kProcMapping, encode(m)});
  for (auto& [type, rec] : recs)
    if (s.is_ok()) s = w.record(type, rec.data(), rec.size());
  if (s.is_ok()) s = w.commit();
  RestorePlan plan;
  if (s.is_ok()) s = prepare_restore(path, &plan);
  close_plan_fds(&plan);
  unlink(path.c_str());
  rmdir(dir);
  return s;
}

// Found by process_image_fuzz (UBSan): an image without auxiliary vector
// made prepare_restore pass a null pointer to memcpy. Fails before the fix
// in the sanitized suite only.
TEST(ProcessImageRegression, NoAuxvPrepares) {
  Status s = prepare_minimal({});
  EXPECT_TRUE(s.is_ok()) << s.message();
}

// Found by process_image_fuzz: a descriptor marked inherited (stdin, stdout
// or stderr of `ckpt run`) with a higher number passed the checks, and
// exec_restorer then read past its array of three standard descriptors.
TEST(ProcessImageRegression, InheritedDescriptorAboveTwoIsCorrupt) {
  FdInfo f;
  f.fd = 5;
  f.kind = FdKind::kInherited;
  EXPECT_EQ(prepare_minimal({f}).code(), Code::kCorrupt);
  f.fd = 2;
  Status s = prepare_minimal({f});
  EXPECT_TRUE(s.is_ok()) << s.message();
}

}  // namespace
}  // namespace ckpt::control
