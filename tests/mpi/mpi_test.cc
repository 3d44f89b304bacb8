// libckpt's MPI mode with real MPI jobs: the heat stencil (tests/mpi/heat.cc)
// on 4 and 8 ranks under mpirun, checkpointed, killed and resumed, compared
// bit for bit with an uninterrupted run. "Nodes" are blocks of ranks with
// their own fast directories (CKPT_RANKS_PER_NODE), so losing one is
// removing its directory; scripts/cluster.sh has the real thing.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/process.h"

namespace ckpt::test {
namespace {

std::string mpiexec() {
  // execve needs a path: $MPIEXEC, CMake's MPIEXEC_EXECUTABLE, else PATH's mpirun.
  const char* m = std::getenv("MPIEXEC");
  if (m && *m) return m;
  if (*CKPT_MPIEXEC) return CKPT_MPIEXEC;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= p.size();) {
    size_t end = p.find(':', at);
    if (end == std::string::npos) end = p.size();
    std::string c = p.substr(at, end - at) + "/mpirun";
    if (access(c.c_str(), X_OK) == 0) return c;
    at = end + 1;
  }
  return "/usr/bin/mpirun";
}

// mpirun as root needs --allow-run-as-root (Open MPI); CI runs as a user.
std::vector<std::string> launcher(int ranks) {
  std::vector<std::string> a = {mpiexec(), "-n", std::to_string(ranks), "--oversubscribe"};
  if (geteuid() == 0) a.push_back("--allow-run-as-root");
  return a;
}

struct Job {
  TempDir tmp;
  std::string durable;  // empty: a fresh one
  std::string dir() const { return durable.empty() ? tmp / "durable" : durable; }
  std::string fast() const { return tmp / "fast"; }
  int ranks_per_node = 2;
  std::vector<std::string> extra_env;

  Exit run(int ranks, std::vector<std::string> args, std::string* err = nullptr, long fsize = -1,
           double timeout = 120) {
    std::vector<std::string> argv = launcher(ranks);
    argv.push_back(build_path("tests/mpi/heat"));
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o;
    o.env = {"CKPT_DIR=" + dir(), "CKPT_FAST_DIR=" + fast(),
             "CKPT_RANKS_PER_NODE=" + std::to_string(ranks_per_node),
             // Shared memory between ranks without ptrace (containers).
             "OMPI_MCA_btl_vader_single_copy_mechanism=none", "OMPI_MCA_rmaps_base_oversubscribe=1",
             "OMPI_MCA_btl=self,vader", "CKPT_AGREE_SECONDS=0.01"};
    o.env.insert(o.env.end(), extra_env.begin(), extra_env.end());
    o.stdout_path = tmp / "out.txt";
    o.stderr_path = tmp / "err.txt";
    o.fsize_limit = fsize;
    Exit e = ckpt::test::run(argv, o, timeout);
    if (err) *err = read_file(tmp / "err.txt") + read_file(tmp / "out.txt");
    return e;
  }
  // The fast directory of simulated node n.
  std::string node(int n) const {
    DIR* d = opendir(fast().c_str());
    std::string key;
    if (d) {
      while (dirent* e = readdir(d))
        if (std::string(e->d_name).rfind("ckpt-mpi-", 0) == 0) key = e->d_name;
      closedir(d);
    }
    return fast() + "/" + key + "/node-sim" + std::to_string(n);
  }
};

std::string gen_name(const char* prefix, int g, const char* suffix = "") {
  char b[64];
  snprintf(b, sizeof b, "%s%012d%s", prefix, g, suffix);
  return b;
}

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// The uninterrupted result, once per rank count.
std::string reference(int ranks, int steps = 100) {
  static std::string cache[16][2];
  std::string& c = cache[ranks][steps == 100 ? 0 : 1];
  if (!c.empty()) return c;
  Job j;
  std::string err;
  Exit e = j.run(ranks, {"--n", "64", "--steps", std::to_string(steps), "--out", j.tmp / "ref.bin"},
                 &err);
  EXPECT_EQ(e.code, 0) << err;
  c = read_file(j.tmp / "ref.bin");
  EXPECT_EQ(c.size(), 64u * 64u * 8u);
  return c;
}

void kill_then_resume(int ranks) {
  Job j;
  std::string err;
  Exit e =
      j.run(ranks,
            {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "2", "--kill-at", "55"},
            &err);
  EXPECT_NE(e.code, 0) << "the killed job should fail: " << err;
  e = j.run(ranks, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"},
            &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("resumed at step 50 from generation 5 (fast)"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(ranks))
      << "differs from the uninterrupted run";
}

TEST(Mpi, KilledAndResumedIsBitIdentical4) { kill_then_resume(4); }
TEST(Mpi, KilledAndResumedIsBitIdentical8) { kill_then_resume(8); }

// A lost node: its fast directory is gone; its ranks come back from their
// partner copies on the other nodes, not from the durable level.
TEST(Mpi, LostNodeRebuiltFromPartners) {
  Job j;
  std::string err;
  (void)j.run(
      8, {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "5", "--kill-at", "63"},
      &err);
  ASSERT_TRUE(exists(j.node(2))) << j.node(2);
  ASSERT_EQ(system(("rm -rf '" + j.node(2) + "'").c_str()), 0);
  // The durable level must not be what saves it.
  ASSERT_EQ(system(("rm -rf '" + j.dir() + "'/rank-*/*.img").c_str()), 0);
  Exit e =
      j.run(8, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(
      err.find(
          "restored generation 6 of 8 ranks (2 from partner copies, 0 from the durable level)"),
      std::string::npos)
      << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(8));
  // The rebuilt node holds its ranks' images again.
  EXPECT_TRUE(exists(j.node(2) + "/rank-00004/" + gen_name("ckpt-", 10, ".img"))) << err;
}

// Lost node and its partner copies damaged: the durable level has it.
TEST(Mpi, PartnerDamagedTooFallsBackToDurable) {
  Job j;
  std::string err;
  (void)j.run(
      4, {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "1", "--kill-at", "75"},
      &err);
  ASSERT_EQ(system(("rm -rf '" + j.node(1) + "'").c_str()), 0);
  // Node 0 holds the partner copies of ranks 2 and 3: flip a byte in rank 2's.
  for (int g = 1; g <= 7; g++) {
    std::string p = j.node(0) + "/partner-00002/" + gen_name("ckpt-", g, ".img");
    if (!exists(p)) continue;
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  Exit e =
      j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  // Generation 7 (step 70) may not have reached the durable level before
  // the kill; whatever is restored, the result is exact.
  EXPECT_NE(err.find("from the durable level)"), std::string::npos) << err;
  EXPECT_EQ(err.find(" 0 from the durable level)"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

// XOR sets: 8 ranks on 4 "nodes" of 2 make two sets of 4 (ranks 0 2 4 6
// and 1 3 5 7), each rank keeping a parity block of a third of its image.
// 3 MiB of ballast per rank: several pieces per parity block.
Job xor_job() {
  Job j;
  j.extra_env = {"CKPT_REDUNDANCY=xor"};
  return j;
}
const std::vector<std::string> kXorArgs = {"--n",     "64", "--steps",   "100",
                                           "--every", "10", "--ballast", "3"};
std::vector<std::string> xor_args(std::vector<std::string> more) {
  std::vector<std::string> a = kXorArgs;
  a.insert(a.end(), more.begin(), more.end());
  return a;
}
void flip_byte(const std::string& path, long at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(char(c ^ 0x5a));
}

// A lost node, one member of each set: both rebuilt from their sets alone.
TEST(Mpi, XorLostNodeRebuilt) {
  Job j = xor_job();
  std::string err;
  (void)j.run(8, xor_args({"--kill-rank", "5", "--kill-at", "63"}), &err);
  ASSERT_TRUE(exists(j.node(2) + "/rank-00004/" + gen_name("ckpt-", 6, ".xor"))) << err;
  ASSERT_EQ(system(("rm -rf '" + j.node(2) + "'").c_str()), 0);
  ASSERT_EQ(system(("rm -rf '" + j.dir() + "'/rank-*/*.img").c_str()), 0);
  Exit e = j.run(8, xor_args({"--out", j.tmp / "out.bin"}), &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("restored generation 6 of 8 ranks (2 rebuilt from XOR sets, 0 from the "
                     "durable level)"),
            std::string::npos)
      << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(8));
  EXPECT_TRUE(exists(j.node(2) + "/rank-00005/" + gen_name("ckpt-", 10, ".img"))) << err;
}

// A damaged XOR block in the set of a lost image: that image cannot be
// rebuilt and comes from the durable level (one line); the other set
// rebuilds its own.
TEST(Mpi, XorDamagedBlockFallsBackToDurable) {
  Job j = xor_job();
  std::string err;
  (void)j.run(8, xor_args({"--kill-rank", "5", "--kill-at", "63"}), &err);
  ASSERT_EQ(system(("rm -rf '" + j.node(2) + "'").c_str()), 0);
  for (int g = 1; g <= 7; g++) {
    std::string p = j.node(3) + "/rank-00006/" + gen_name("ckpt-", g, ".xor");
    if (exists(p)) flip_byte(p, 1000);
  }
  Exit e = j.run(8, xor_args({"--out", j.tmp / "out.bin"}), &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find(": rank 4 lost its image and the XOR block of rank 6 is missing or damaged; "
                     "taking them from the durable level"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("(1 rebuilt from XOR sets, 1 from the durable level)"), std::string::npos)
      << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(8));
}

// Two lost nodes hold two members of each set: refused in one line per set,
// and the generation comes whole from the durable level.
TEST(Mpi, XorTwoLossesInOneSetUseTheDurableLevel) {
  Job j = xor_job();
  std::string err;
  (void)j.run(8, xor_args({"--kill-rank", "5", "--kill-at", "63"}), &err);
  ASSERT_EQ(system(("rm -rf '" + j.node(1) + "' '" + j.node(2) + "'").c_str()), 0);
  Exit e = j.run(8, xor_args({"--out", j.tmp / "out.bin"}), &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find(": ranks 2 4 of one XOR set all lost their images (a set rebuilds one); "
                     "taking them from the durable level"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("(0 rebuilt from XOR sets, 4 from the durable level)"), std::string::npos)
      << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(8));
}

// Without the durable level, two losses in a set leave no complete
// generation: one line, exit 1, nothing else touched.
TEST(Mpi, XorTwoLossesWithoutDurableIsOneLine) {
  Job j = xor_job();
  j.extra_env.push_back("CKPT_FLUSH_EVERY=0");
  std::string err;
  (void)j.run(8, xor_args({"--kill-rank", "5", "--kill-at", "33"}), &err);
  ASSERT_EQ(system(("rm -rf '" + j.node(1) + "' '" + j.node(2) + "'").c_str()), 0);
  Exit e = j.run(8, xor_args({"--out", j.tmp / "out.bin"}), &err);
  EXPECT_EQ(e.code, 1) << err;
  EXPECT_NE(err.find("ckpt: no complete generation to restore in "), std::string::npos) << err;
  EXPECT_NE(err.find("rank 2 has no sound copy (own, XOR set or durable)"), std::string::npos)
      << err;
}

TEST(Mpi, BadRedundancyIsOneLine) {
  Job j;
  j.extra_env = {"CKPT_REDUNDANCY=raid6"};
  std::string err;
  Exit e = j.run(4, {"--n", "64", "--steps", "10"}, &err);
  EXPECT_EQ(e.code, 1) << err;
  EXPECT_NE(err.find("ckpt: redundancy 'raid6' (CKPT_REDUNDANCY): give partner or xor"),
            std::string::npos)
      << err;
}

// SIGTERM to one rank only: every rank checkpoints at the same step and
// the job ends with status 85; the rerun finishes exactly.
TEST(Mpi, SignalToOneRankStopsAll) {
  Job j;
  ASSERT_EQ(mkdir((j.tmp / "ev").c_str(), 0700), 0);
  std::vector<std::string> argv = launcher(4);
  argv.push_back(build_path("tests/mpi/heat"));
  for (std::string a : {"--n", "64", "--steps", "400", "--sleep-ms", "20", "--events"})
    argv.push_back(a);
  argv.push_back(j.tmp / "ev");
  argv.push_back("--pids");
  argv.push_back(j.tmp / "ev");
  SpawnOptions o;
  o.env = {"CKPT_DIR=" + j.dir(),     "CKPT_FAST_DIR=" + j.fast(),
           "CKPT_RANKS_PER_NODE=2",   "OMPI_MCA_btl_vader_single_copy_mechanism=none",
           "OMPI_MCA_btl=self,vader", "CKPT_AGREE_SECONDS=0.01"};
  o.stderr_path = j.tmp / "err.txt";
  Child c(argv, o);
  std::string pid;
  for (int i = 0; i < 200 && pid.empty(); i++) {
    sleep_seconds(0.05);
    pid = read_file(j.tmp / "ev/pid-2");
  }
  ASSERT_FALSE(pid.empty());
  sleep_seconds(0.5);
  ASSERT_EQ(kill(atoi(pid.c_str()), SIGTERM), 0);
  Exit e = c.wait(120);
  std::string err = read_file(j.tmp / "err.txt");
  EXPECT_EQ(e.code, 85) << err;
  EXPECT_NE(err.find("ckpt: saved generation 1 of 4 ranks; stopping (exit status 85)"),
            std::string::npos)
      << err;
  // The generation is durable too when the job ends, and it resumes.
  EXPECT_TRUE(exists(j.dir() + "/" + gen_name("manifest-", 1))) << err;
  Exit e2 = j.run(4, {"--n", "64", "--steps", "400", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e2.code, 0) << err;
  EXPECT_NE(err.find("from generation 1 (fast)"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4, 400));
}

// A deadline that each rank sees at a different time: one checkpoint, at
// the same step on every rank.
TEST(Mpi, DeadlineSeenAtDifferentTimes) {
  Job j;
  ASSERT_EQ(mkdir((j.tmp / "ev").c_str(), 0700), 0);
  std::string err;
  Exit e = j.run(4,
                 {"--n", "64", "--steps", "150", "--sleep-ms", "20", "--deadline-in", "1",
                  "--skew-ms", "300", "--events", j.tmp / "ev"},
                 &err);
  ASSERT_EQ(e.code, 0) << err;
  std::string first = read_file(j.tmp / "ev/events-0");
  ASSERT_FALSE(first.empty()) << err;
  for (int r = 1; r < 4; r++)
    EXPECT_EQ(read_file(j.tmp / ("ev/events-" + std::to_string(r))), first) << r;
  EXPECT_EQ(lines(first).size(), 1u) << first;
}

// A rank killed while it writes generation 4: 4 is not complete, the
// restart takes 3.
TEST(Mpi, RankKilledDuringCheckpoint) {
  Job j;
  std::string err;
  (void)j.run(4,
              {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "3",
               "--kill-in-checkpoint", "4"},
              &err);
  EXPECT_FALSE(exists(j.node(0) + "/" + gen_name("manifest-", 4)));
  EXPECT_TRUE(exists(j.node(0) + "/" + gen_name("manifest-", 3)));
  Exit e =
      j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("resumed at step 30 from generation 3"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

// The newest manifest damaged on one node and missing on the other (and
// on the durable level): the previous generation is used.
TEST(Mpi, ManifestDamagedOrMissing) {
  Job j;
  std::string err;
  (void)j.run(
      4, {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "0", "--kill-at", "65"},
      &err);
  std::string m0 = j.node(0) + "/" + gen_name("manifest-", 6);
  ASSERT_TRUE(exists(m0));
  {
    std::fstream f(m0, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('9');
  }
  ::unlink((j.node(1) + "/" + gen_name("manifest-", 6)).c_str());
  ::unlink((j.dir() + "/" + gen_name("manifest-", 6)).c_str());
  Exit e =
      j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("damaged manifest (checksum mismatch); ignored"), std::string::npos) << err;
  EXPECT_NE(err.find("resumed at step 50 from generation 5"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

// A partial generation: rank 2's image of generation 6 is gone everywhere.
TEST(Mpi, PartialGenerationIsNotUsed) {
  Job j;
  std::string err;
  (void)j.run(
      4, {"--n", "64", "--steps", "100", "--every", "10", "--kill-rank", "0", "--kill-at", "65"},
      &err);
  std::string img = gen_name("ckpt-", 6, ".img");
  ::unlink((j.node(1) + "/rank-00002/" + img).c_str());
  ::unlink((j.node(0) + "/partner-00002/" + img).c_str());
  ::unlink((j.dir() + "/rank-00002/" + img).c_str());
  Exit e =
      j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(
      err.find(
          "ckpt: generation 6 is not complete: rank 2 has no sound copy (own, partner or durable); "
          "trying an older one"),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("resumed at step 50 from generation 5"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

TEST(Mpi, WrongRankCountIsOneLine) {
  Job j;
  std::string err;
  ASSERT_EQ(j.run(4, {"--n", "64", "--steps", "20", "--every", "10"}, &err).code, 0) << err;
  Exit e = j.run(8, {"--n", "64", "--steps", "40", "--every", "10"}, &err);
  EXPECT_EQ(e.code, 1) << err;
  EXPECT_NE(err.find("ckpt: generation 2 in " + j.dir() +
                     " was written by 4 ranks, this job has 8: run it with 4 "
                     "ranks"),
            std::string::npos)
      << err;
  // Nothing was lost: 4 ranks still resume it.
  e = j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

// Two jobs on one durable directory: the second is refused in one line and
// the first is not disturbed.
TEST(Mpi, TwoJobsShareADurableDirectory) {
  Job a;
  std::vector<std::string> argv = launcher(4);
  argv.push_back(build_path("tests/mpi/heat"));
  for (std::string s :
       {"--n", "64", "--steps", "100", "--every", "10", "--sleep-ms", "100", "--out"})
    argv.push_back(s);
  argv.push_back(a.tmp / "out.bin");
  SpawnOptions o;
  o.env = {"CKPT_DIR=" + a.dir(), "CKPT_FAST_DIR=" + a.fast(), "CKPT_RANKS_PER_NODE=2",
           "OMPI_MCA_btl_vader_single_copy_mechanism=none", "OMPI_MCA_btl=self,vader"};
  o.stderr_path = a.tmp / "err-a.txt";
  Child first(argv, o);
  for (int i = 0; i < 400 && !exists(a.dir() + "/" + gen_name("manifest-", 1)); i++)
    sleep_seconds(0.05);
  Job b;
  b.durable = a.dir();  // the same durable level, its own fast level
  std::string err;
  Exit e = b.run(4, {"--n", "64", "--steps", "100", "--every", "10"}, &err);
  EXPECT_EQ(e.code, 1) << err;
  EXPECT_NE(err.find("ckpt: " + a.dir() + " is in use by another job (pid "), std::string::npos)
      << err;
  Exit ea = first.wait(120);
  EXPECT_EQ(ea.code, 0) << read_file(a.tmp / "err-a.txt");
  EXPECT_TRUE(read_file(a.tmp / "out.bin") == reference(4));
}

// The node-local level full (a file size limit makes every image write
// fail with EFBIG): each checkpoint fails in one line, the job goes on, and
// the generation committed before is still the one restored.
TEST(Mpi, NodeLocalDirectoryFull) {
  Job j;
  std::string err;
  ASSERT_EQ(j.run(4, {"--n", "64", "--steps", "30", "--every", "10"}, &err).code, 0) << err;
  Exit e = j.run(4, {"--n", "64", "--steps", "60", "--every", "10", "--fsize", "4096"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("ckpt: generation 4 not committed: rank 0: cannot write"), std::string::npos)
      << err;
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_TRUE(exists(j.node(0) + "/" + gen_name("manifest-", 3)));
  for (int g = 4; g <= 6; g++) {
    EXPECT_FALSE(exists(j.node(0) + "/" + gen_name("manifest-", g))) << g;
    EXPECT_FALSE(exists(j.node(0) + "/rank-00000/" + gen_name("ckpt-", g, ".img"))) << g;
  }
  e = j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("resumed at step 30 from generation 3"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

// The durable level unreachable for rank 1 from step 35: the flush fails in
// one line, checkpoints go on on the fast level, the durable generation
// stays the last one copied.
TEST(Mpi, DurableLevelUnreachableDuringFlush) {
  Job j;
  std::string err;
  Exit e = j.run(4,
                 {"--n", "64", "--steps", "100", "--every", "10", "--break-durable-at", "35",
                  "--kill-rank", "2", "--kill-at", "85"},
                 &err);
  EXPECT_NE(e.code, 0);
  EXPECT_NE(err.find("ckpt: rank 1 could not copy its image to the durable level: "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("stays the newest durable one"), std::string::npos) << err;
  // The flush runs behind the computation: on a loaded machine the last
  // generation copied before the break may be 1, 2 or 3, never one after it.
  int durable = 0;
  for (int g = 1; g <= 8; g++)
    if (exists(j.dir() + "/" + gen_name("manifest-", g))) durable = g;
  EXPECT_GE(durable, 1);
  EXPECT_LE(durable, 3);
  EXPECT_TRUE(exists(j.node(0) + "/" + gen_name("manifest-", 8)));
  // The fast level has generation 8 and the job resumes from it.
  ASSERT_EQ(system(("rm -f '" + j.dir() + "/rank-00001' && mv '" + j.dir() + "/rank-00001.away' '" +
                    j.dir() + "/rank-00001'")
                       .c_str()),
            0);
  e = j.run(4, {"--n", "64", "--steps", "100", "--every", "10", "--out", j.tmp / "out.bin"}, &err);
  ASSERT_EQ(e.code, 0) << err;
  EXPECT_NE(err.find("resumed at step 80 from generation 8 (fast)"), std::string::npos) << err;
  EXPECT_TRUE(read_file(j.tmp / "out.bin") == reference(4));
}

TEST(Mpi, NotInitialisedIsOneLine) {
  Job j;
  std::string err;
  Exit e = j.run(1, {"--no-init"}, &err);
  EXPECT_EQ(e.code, 1) << err;
  EXPECT_NE(err.find("ckpt: MPI is not initialised: call MPI_Init before restore() or start()"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace ckpt::test

namespace ckpt::test {
namespace {

// The C API: killed after step 12, resumed from step 10, the same total as
// an uninterrupted run (20 steps of 1+2+3+4 = 200).
TEST(Mpi, CApiKilledAndResumed) {
  Job j;
  std::vector<std::string> argv = launcher(4);
  argv.push_back(build_path("tests/mpi/count_c"));
  SpawnOptions o;
  o.env = {"CKPT_DIR=" + j.dir(), "CKPT_FAST_DIR=" + j.fast(), "CKPT_RANKS_PER_NODE=2",
           "OMPI_MCA_btl_vader_single_copy_mechanism=none", "OMPI_MCA_btl=self,vader"};
  o.stdout_path = j.tmp / "out.txt";
  o.stderr_path = j.tmp / "err.txt";
  std::vector<std::string> killed = argv;
  for (std::string a : {"20", "1", "12"}) killed.push_back(a);
  EXPECT_NE(run(killed, o, 120).code, 0) << read_file(j.tmp / "err.txt");
  argv.push_back("20");
  Exit e = run(argv, o, 120);
  std::string out = read_file(j.tmp / "out.txt");
  ASSERT_EQ(e.code, 0) << read_file(j.tmp / "err.txt");
  EXPECT_NE(out.find("resumed at 10\n"), std::string::npos) << out;
  EXPECT_NE(out.find("total 200\n"), std::string::npos) << out;
}

// ckpt run refuses an MPI program at launch, in one line that points to
// the MPI mode, and starts nothing.
TEST(Mpi, TransparentRunRefusesMpiProgram) {
  TempDir t;
  SpawnOptions o;
  o.stderr_path = t / "err.txt";
  Exit e = run({build_path("src/ckpt"), "run", "--dir", t / "d", "--", build_path("tests/mpi/heat"),
                "--steps", "1"},
               o);
  std::string err = read_file(t / "err.txt");
  EXPECT_EQ(e.code, 2) << err;
  EXPECT_EQ(lines(err).size(), 1u) << err;
  EXPECT_NE(err.find("heat is linked with libmpi"), std::string::npos) << err;
  EXPECT_NE(err.find("use libckpt's MPI mode (ckpt::mpi, docs/mpi.md)"), std::string::npos) << err;
  struct stat st;
  EXPECT_NE(::stat((t / "d/lock").c_str(), &st), 0);
  // Launched as one of several ranks, even a program not linked with MPI.
  o.env = {"OMPI_COMM_WORLD_SIZE=4"};
  e = run({build_path("src/ckpt"), "run", "--dir", t / "d", "--", "/bin/true"}, o);
  err = read_file(t / "err.txt");
  EXPECT_EQ(e.code, 2) << err;
  EXPECT_NE(err.find("runs as one rank of an MPI job (OMPI_COMM_WORLD_SIZE)"), std::string::npos)
      << err;
  // A plain program runs.
  o.env = {};
  e = run({build_path("src/ckpt"), "run", "--dir", t / "d2", "--", "/bin/true"}, o);
  EXPECT_EQ(e.code, 0) << read_file(t / "err.txt");
}

}  // namespace
}  // namespace ckpt::test
