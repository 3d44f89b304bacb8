// End-to-end tests of transparent checkpointing with real processes: run a
// program uninterrupted for a reference, run it under `ckpt run`, checkpoint
// mid-way, kill -9 the whole job, `ckpt restart`, and compare the output.
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "control/userns.h"
#include "support/job.h"
#include "support/process.h"

namespace ckpt::test {
namespace {

std::string source(const std::string& name) {
  return std::string(CKPT_TRANSPARENT_SOURCE_DIR) + "/programs/" + name;
}
std::string heldout(const std::string& name) {
  return std::string(CKPT_TRANSPARENT_SOURCE_DIR) + "/heldout/" + name;
}

TEST(Transparent, CountSingleThreaded) { expect_same({program("t_count"), "25"}, 1.0); }

TEST(Transparent, SecondCheckpointOfRestartedProcess) {
  expect_same({program("t_count"), "30"}, 0.8, 2);
}

TEST(Transparent, FourThreadsMutexCondvar) { expect_same({program("t_threads"), "4", "150"}, 0.7); }

TEST(Transparent, SixtyFourThreads) { expect_same({program("t_threads"), "64", "400"}, 1.0, 2); }

TEST(Transparent, LargeHeap) { expect_same({program("t_heap"), "256", "25"}, 1.5); }

// The program writes all its memory while the image is being written: the
// image must still be of one instant (private and shared memory), with
// MADV_DONTFORK and MADV_WIPEONFORK regions intact.
TEST(Transparent, MemoryWrittenDuringTheCheckpointIsOfOneInstant) {
  expect_same({program("t_busy"), "150"}, 1.0, 2);
}

// A checkpoint that stops the program in its own code (not in a system
// call) gives its vector registers back as they were: the checkpoint code
// run in each thread may use them too. (Seen as a program spinning forever
// after a checkpoint: a loop bound kept in xmm0 had become 0.)
TEST(Transparent, VectorRegistersSurviveTheCheckpointCode) {
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_vector_regs"), "6"}, job.opts());
  sleep_s(1.0);
  for (int i = 0; i < 4; i++) {
    sleep_s(0.3);
    Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
    ASSERT_EQ(c.code, 0) << job.ckpt_err() << read_file(job.out) << read_file(job.err);
  }
  Exit e = sup.wait(60);
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(read_file(job.out), "ok\n");
}

TEST(Transparent, SignalsTimersClockIdentity) { expect_same({program("t_signals"), "25"}, 1.0, 2); }

// Needs unprivileged user namespaces (the job then runs in its own pid namespace).
TEST(Transparent, PidsAndTidsPreserved) {
  SKIP_WITHOUT_NAMESPACES();
  expect_same({program("t_identity"), "25"}, 1.0, 2);
}

// What the no-namespace mode guarantees: the pid and tids change, but glibc's
// cached ones follow (getpid, gettid, raise and pthread_kill reach the right
// thread); an error-checking mutex held across the checkpoint refuses to
// unlock (EPERM: it stored the old tid); /proc/self/exe names ckpt-restore.
TEST(TransparentNoNamespace, OwnPidThroughGlibcCaches) {
  SKIP_WITH_NAMESPACES();
  std::vector<std::string> argv = {program("t_identity"), "25"};
  std::vector<std::string> ref = lines(reference(argv));
  Job job;
  std::vector<std::string> got = lines(checkpointed(job, argv, 1.0, 2));
  ASSERT_EQ(got.size(), ref.size()) << read_file(job.err);
  EXPECT_EQ(ref.back(), "pid-same 1 tid-same 1 unlock 0 signals 2 cache-ok 1 exe-same 1");
  EXPECT_EQ(got.back(), "pid-same 0 tid-same 0 unlock 1 signals 2 cache-ok 1 exe-same 0");
  got.pop_back();
  ref.pop_back();
  EXPECT_EQ(got, ref);
}

// The mode is in DIR/mode for `ckpt status`, and said once on stderr when it
// is the no-namespace one.
TEST(TransparentMode, RecordedInTheJobDirectory) {
  Job job;
  Exit e = job.ckpt({"run", "--dir", job.dir, "--", program("t_count"), "2"});
  EXPECT_EQ(e.code, 0) << job.ckpt_err();
  std::string mode = read_file(job.dir + "/mode");
  std::string err = job.ckpt_err();
  if (userns().ok) {
    EXPECT_EQ(mode, "namespace\n");
    EXPECT_EQ(err, "");
  } else {
    EXPECT_EQ(mode, "no-namespace: " + userns().why + "\n");
    EXPECT_NE(err.find("running in no-namespace mode"), std::string::npos) << err;
    EXPECT_EQ(lines(err).size(), 1u) << err;
  }
  struct stat st;
  ASSERT_EQ(::stat((job.dir + "/mode").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A restart records the image's mode.
  Job again;
  Child sup({ckpt_bin(), "run", "--dir", again.dir, "--", program("t_count"), "20"}, again.opts());
  sleep_s(0.5);
  ASSERT_EQ(again.ckpt({"checkpoint", "--dir", again.dir, "--stop"}).code, 0) << again.ckpt_err();
  EXPECT_EQ(sup.wait(30).code, 85);
  ::unlink((again.dir + "/mode").c_str());
  EXPECT_EQ(again.ckpt({"restart", "--dir", again.dir}).code, 0) << again.ckpt_err();
  EXPECT_EQ(
      read_file(again.dir + "/mode"),
      userns().ok ? "namespace\n" : "no-namespace: the image was taken in no-namespace mode\n");
}

// An image taken in namespace mode, restarted where user namespaces are
// refused: one line that says why and what would allow it, and the image is
// kept. The no-namespace CI stage makes that image outside its chroot and
// names its directory in CKPT_NAMESPACE_IMAGE_DIR.
// Regression: in no-namespace mode a frozen copy whose supervisor was
// killed during the checkpoint lived on for an hour, in the job's process
// group (the torture harness: "the program outlived its supervisor"). It
// now ends itself within a fraction of a second.
TEST(TransparentNoNamespace, FrozenCopyEndsWithItsSupervisor) {
  SKIP_WITH_NAMESPACES();
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_heap"), "512", "60", "20000"},
            job.opts());
  for (int i = 0; i < 3000 && read_file(job.out).empty(); i++) usleep(10000);
  ASSERT_FALSE(read_file(job.out).empty()) << read_file(job.err);
  auto group = [&] {  // the processes of the job's group other than ckpt and the program
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      pid_t p = pid_t(std::atoi(e.path().filename().c_str()));
      if (p <= 0 || p == sup.pid()) continue;
      std::string stat = read_file(e.path().string() + "/stat");
      size_t close = stat.rfind(')');
      int ppid = 0, pgrp = 0;
      char state = 0;
      if (close == std::string::npos ||
          std::sscanf(stat.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
        continue;
      if (pgrp == sup.pid() && ppid != sup.pid() && state != 'Z') out.push_back(p);
    }
    return out;
  };
  SpawnOptions co = job.opts();
  co.stdout_path = job.tmp / "ckpt.out";
  co.stderr_path = job.tmp / "ckpt.err";
  Child client({ckpt_bin(), "checkpoint", "--dir", job.dir}, co);
  bool seen = false;
  for (int i = 0; i < 20000 && !seen; i++) {
    seen = !group().empty();
    if (!seen) usleep(500);
  }
  ASSERT_TRUE(seen) << "no frozen copy was seen";
  ::kill(sup.pid(), SIGKILL);  // the supervisor alone, during the checkpoint
  sup.wait(10);
  bool gone = false;
  for (int i = 0; i < 300 && !gone; i++) {
    gone = ::kill(-sup.pid(), 0) != 0;
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone) << "a process of the job outlived its supervisor by 3 s";
  ::kill(-sup.pid(), SIGKILL);
  client.wait(30);
}

TEST(TransparentNoNamespace, NamespaceImageRefusedInOneLine) {
  SKIP_WITH_NAMESPACES();
  const char* dir = std::getenv("CKPT_NAMESPACE_IMAGE_DIR");
  if (!dir) GTEST_SKIP() << "no namespace image: CKPT_NAMESPACE_IMAGE_DIR is not set";
  std::string image = std::string(dir) + "/ckpt-000000000001.img";
  std::string before = read_file(image);
  ASSERT_FALSE(before.empty()) << image;
  Job job;
  Exit e = job.ckpt({"restart", "--dir", dir});
  EXPECT_EQ(e.code, 1);
  std::string err = job.ckpt_err();
  EXPECT_EQ(lines(err).size(), 1u) << err;
  EXPECT_EQ(err.rfind("ckpt: cannot restart this image here: it was taken in namespace mode", 0),
            0u)
      << err;
  EXPECT_NE(err.find(userns().why), std::string::npos) << err;
  EXPECT_NE(err.find("it needs " + userns().remedy), std::string::npos) << err;
  EXPECT_EQ(read_file(image), before);
}

// Each way user namespaces are refused gets its own reason and remedy.
TEST(TransparentMode, EachRefusalExplained) {
  control::UsernsFacts f;
  f.created = f.capable = true;
  EXPECT_TRUE(control::explain_userns(f).ok);
  f.capable = false;  // Ubuntu 24.04: created, capabilities denied
  f.err = EPERM;
  f.apparmor_restrict = 1;
  control::Userns u = control::explain_userns(f);
  EXPECT_FALSE(u.ok);
  EXPECT_NE(u.why.find("apparmor_restrict_unprivileged_userns=1"), std::string::npos) << u.why;
  EXPECT_NE(u.remedy.find("AppArmor profile"), std::string::npos) << u.remedy;
  f = {};
  f.err = ENOSPC;
  f.max_user_namespaces = 0;
  EXPECT_NE(control::explain_userns(f).why.find("user.max_user_namespaces=0"), std::string::npos);
  f = {};
  f.err = EPERM;
  f.unprivileged_userns_clone = 0;
  EXPECT_NE(control::explain_userns(f).remedy.find("unprivileged_userns_clone=1"),
            std::string::npos);
  f = {};
  f.err = EPERM;
  f.seccomp = true;
  EXPECT_NE(control::explain_userns(f).why.find("seccomp"), std::string::npos);
  f.seccomp = false;
  u = control::explain_userns(f);
  EXPECT_NE(u.why.find("chroot"), std::string::npos) << u.why;
  EXPECT_NE(u.remedy.find("pivot_root"), std::string::npos) << u.remedy;
}

// A checkpoint the program cannot notice: threads blocked in nanosleep,
// poll, select, epoll_wait and read (pipe, socket) see no EINTR and no
// shortened wait, across several checkpoints, a kill -9 and restarts.
TEST(Transparent, BlockingCallsSeeNoCheckpoint) {
  std::vector<std::string> argv = {program("t_blocking"), "30"};
  std::string ref = reference(argv);
  Job job;
  for (int cycle = 0; cycle < 2; cycle++) {
    std::vector<std::string> cmd = {ckpt_bin()};
    if (cycle == 0) {
      cmd.insert(cmd.end(), {"run", "--dir", job.dir, "--"});
      cmd.insert(cmd.end(), argv.begin(), argv.end());
    } else {
      cmd.insert(cmd.end(), {"restart", "--dir", job.dir});
    }
    Child sup(cmd, job.opts());
    sleep_s(0.4);
    for (int k = 0; k < 4; k++) {
      Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
      ASSERT_EQ(c.code, 0) << "checkpoint failed: " << job.ckpt_err() << read_file(job.err);
      sleep_s(0.23);
    }
    ::kill(-sup.pid(), SIGKILL);
    sup.wait(10);
  }
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120);
  EXPECT_EQ(e.code, 0) << "restart failed: " << read_file(job.err);
  EXPECT_EQ(read_file(job.out), ref);
}

// Pipes and unix socket pairs (stream, datagram, seqpacket) with unread
// data, a pipe whose writer is closed, a dup'd pipe end: all come back as
// they were, through two checkpoint+kill rounds.
TEST(Transparent, PipesAndSocketPairsKeepTheirData) {
  expect_same({program("t_pipes"), "3"}, 1.0, 2);
}

// A TCP listener, a bound UDP socket and an abstract unix listener keep
// their addresses; connections opened after the restart work.
TEST(Transparent, ListeningSocketsKeepTheirAddresses) {
  expect_same({program("t_sockets"), "3"}, 1.0, 2);
}

// A UDP socket that sends to itself: the datagram waiting in its queue at
// the checkpoint is there again after the restart, once (both modes).
TEST(Transparent, UdpDatagramsQueuedForOneself) {
  expect_same({program("t_udp"), "self", "200"}, 1.0, 2);
}

// A listening socket of the test's, outside the job, that the program
// connects to: the checkpoint says at once that this connection will come
// back closed; after the restart the program reads end of file or an error.
struct OutsidePeer {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // not the job's
  int port = 0;
  OutsidePeer() {
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), l) == 0 && ::listen(fd, 4) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l) == 0)
      port = ntohs(a.sin_port);
  }
  ~OutsidePeer() { ::close(fd); }
};

TEST(Transparent, ConnectionOutsideTheJobComesBackClosed) {
  OutsidePeer peer;
  ASSERT_GT(peer.port, 0);
  Job job;
  std::vector<std::string> argv = {program("t_sockets"), "2", std::to_string(peer.port)};
  checkpoint_and_kill(job, argv, 0, 0.8);
  std::string err = read_file(job.err);
  EXPECT_NE(err.find("ckpt: warning: descriptor"), std::string::npos) << err;
  EXPECT_NE(err.find("a connection outside the job: it will come back closed"), std::string::npos)
      << err;
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120);
  EXPECT_EQ(e.code, 0) << read_file(job.err);
  std::string out = read_file(job.out);
  EXPECT_NE(out.find("tcp: ping"), std::string::npos) << out;
  EXPECT_TRUE(out.find("outside: closed") != std::string::npos ||
              out.find("outside: error") != std::string::npos)
      << out;
}

TEST(TransparentBadInput, ConnectionOutsideTheJobRefusedOnRequest) {
  OutsidePeer peer;
  ASSERT_GT(peer.port, 0);
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--external", "refuse", "--",
             program("t_sockets"), "2", std::to_string(peer.port)},
            job.opts());
  sleep_s(0.8);
  Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
  EXPECT_EQ(c.code, 1);
  std::string err = job.ckpt_err();
  EXPECT_EQ(lines(err).size(), 1u) << err;
  EXPECT_NE(err.find("a connection outside the job: not checkpointed"), std::string::npos) << err;
  Exit s = sup.wait(30);  // the job goes on to its end
  EXPECT_EQ(s.code, 0) << read_file(job.err);
  EXPECT_NE(read_file(job.out).find("outside: open"), std::string::npos) << read_file(job.out);
}

TEST(Transparent, CxxThreadsIostreamExceptions) {
  expect_same({program("t_cxx_threads"), "25"}, 1.0);
}

TEST(Transparent, OpenMP) { expect_same({program("t_omp"), "25"}, 1.0); }

TEST(Transparent, Fortran) {
  if (access(program("t_count_f90").c_str(), X_OK) != 0) GTEST_SKIP() << "no Fortran compiler";
  expect_same({program("t_count_f90"), "25"}, 1.0);
}

// Held-out style: programs nobody here wrote (interpreters running ordinary
// scripts, an OpenMP runtime, 40 threads), checkpointed twice mid-way,
// killed and restarted, end as an uninterrupted run does.
TEST(TransparentHeldOut, Python3) {
  expect_same({"/usr/bin/python3", heldout("chain.py"), "30"}, 1.0, 2);
}
TEST(TransparentHeldOut, Perl) {
  expect_same({"/usr/bin/perl", heldout("chain.pl"), "30"}, 1.0, 2);
}
TEST(TransparentHeldOut, Gawk) {
  if (access("/usr/bin/gawk", X_OK) != 0) GTEST_SKIP() << "no gawk (Debian: gawk)";
  expect_same({"/usr/bin/gawk", "-l", "time", "-f", heldout("chain.awk"), "30"}, 1.0, 2);
}
TEST(TransparentHeldOut, OpenMP) { expect_same({program("t_omp"), "30"}, 1.0, 2); }
TEST(TransparentHeldOut, FortyThreads) { expect_same({program("t_threads"), "40", "300"}, 1.0, 2); }

TEST(Transparent, PythonLoop) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  expect_same({"/usr/bin/python3", source("loop.py"), "25"}, 1.2);
}

TEST(Transparent, PythonNumpyThreads) {
  if (run({"/usr/bin/python3", "-c", "import numpy"}, SpawnOptions{}, 60).code != 0)
    GTEST_SKIP() << "no numpy (Debian: python3-numpy)";
  expect_same({"/usr/bin/python3", source("numpy_threads.py"), "25"}, 2.0);
}

TEST(Transparent, FilesReadWrittenAndMapped) {
  Job job;
  std::string in = job.tmp / "in.txt";
  std::string text;
  for (int i = 0; i < 40; i++) text += "line number " + std::to_string(i) + "\n";
  write_file(in, text);
  // Reference, writing ref.txt; the checkpointed run writes out.txt.
  std::string ref_stdout = reference({program("t_files"), in, job.tmp / "ref.txt"});
  std::string got = checkpointed(job, {program("t_files"), in, job.tmp / "out.txt"}, 1.0);
  EXPECT_EQ(got, ref_stdout);
  EXPECT_EQ(read_file(job.tmp / "out.txt"), read_file(job.tmp / "ref.txt"));
}

// A wrapper script that execs the real program: the library reports again
// from the new image.
TEST(Transparent, ExecWrapperScript) {
  TempDir t;
  std::string wrapper = t / "wrapper.sh";
  write_file(wrapper, "#!/bin/sh\nexec " + program("t_count") + " \"$@\"\n");
  ::chmod(wrapper.c_str(), 0755);
  expect_same({wrapper, "25"}, 1.0, 2);
}

TEST(Transparent, EventfdTimerfdEpoll) { expect_same({program("t_eventfds"), "25"}, 1.0, 2); }

TEST(Transparent, StdinFromFileContinues) {
  Job job;
  std::string in = job.tmp / "in.txt";
  std::string text;
  for (int i = 0; i < 1500; i++) text += "input line " + std::to_string(i) + " of the file\n";
  write_file(in, text);
  SpawnOptions ro;
  ro.stdout_path = job.tmp / "ref.out";
  ro.stdin_path = in;
  ASSERT_EQ(run({program("t_cat_slow")}, ro, 60).code, 0);
  SpawnOptions o = job.opts();
  o.stdin_path = in;
  {
    Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_cat_slow")}, o);
    sleep_s(1.0);
    ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
    sleep_s(0.3);
    ::kill(-sup.pid(), SIGKILL);
    sup.wait(10);
  }
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, o, 60);
  EXPECT_EQ(e.code, 0) << read_file(job.err);
  EXPECT_EQ(read_file(job.out), read_file(job.tmp / "ref.out"));
}

TEST(Transparent, ZstdCompressedImage) {
  Job job;
  Child sup(
      {ckpt_bin(), "run", "--dir", job.dir, "--zstd", "3", "--", program("t_heap"), "64", "25"},
      job.opts());
  sleep_s(1.2);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  ASSERT_EQ(job.ckpt({"inspect", job.dir + "/ckpt-000000000001.img"}).code, 0);
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 60);
  EXPECT_EQ(e.code, 0) << read_file(job.err);
  EXPECT_EQ(read_file(job.out), reference({program("t_heap"), "64", "25"}));
}

TEST(Transparent, IntervalCheckpoints) {
  Job job;
  Child sup(
      {ckpt_bin(), "run", "--dir", job.dir, "--interval", "1", "--", program("t_count"), "40"},
      job.opts());
  sleep_s(2.6);
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  Exit l = job.ckpt({"list", "--dir", job.dir});
  EXPECT_EQ(l.code, 0);
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 60);
  EXPECT_EQ(e.code, 0) << read_file(job.err);
  EXPECT_EQ(read_file(job.out), reference({program("t_count"), "40"}));
}

TEST(Transparent, CheckpointOnSignalAndStop) {
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--stop-signal", "TERM", "--", program("t_count"),
             "30"},
            job.opts());
  sleep_s(0.8);
  sup.signal(SIGUSR1);  // checkpoint, continue
  sleep_s(0.6);
  sup.signal(SIGTERM);  // checkpoint, stop
  Exit s = sup.wait(30);
  EXPECT_EQ(s.code, 85);
  // `ckpt run` again resumes the unfinished run.
  Exit e =
      run({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_count"), "30"}, job.opts(), 60);
  EXPECT_EQ(e.code, 0) << read_file(job.err);
  EXPECT_EQ(read_file(job.out), reference({program("t_count"), "30"}));
}

TEST(Transparent, CheckpointStopExitStatus) {
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_count"), "30"}, job.opts());
  sleep_s(0.8);
  Exit c = job.ckpt({"checkpoint", "--dir", job.dir, "--stop"});
  EXPECT_EQ(c.code, 0) << job.ckpt_err();
  EXPECT_EQ(sup.wait(30).code, 85);
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 60);
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(read_file(job.out), reference({program("t_count"), "30"}));
}

TEST(TransparentBadInput, CheckpointWithoutJob) {
  Job job;
  ::mkdir(job.dir.c_str(), 0700);
  Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
  EXPECT_NE(c.code, 0);
  std::string err = job.ckpt_err();
  EXPECT_NE(err.find("no job is running"), std::string::npos) << err;
  EXPECT_EQ(lines(err).size(), 1u) << err;
}

// A socket of a family ckpt does not restore (netlink, a datagram one):
// the checkpoint fails in one line naming it, and the job goes on. (The
// first UDP version peeked into it first and failed less clearly.)
TEST(TransparentBadInput, NetlinkSocketRefusedByName) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", "/usr/bin/python3", "-c",
             "import socket, time\n"
             "s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)\n"
             "print('ready', flush=True)\n"
             "time.sleep(30)\n"},
            job.opts());
  for (int i = 0; i < 3000 && read_file(job.out).empty(); i++) usleep(10000);
  Exit c = job.ckpt({"checkpoint", "--dir", job.dir});
  EXPECT_NE(c.code, 0);
  std::string err = job.ckpt_err();
  EXPECT_NE(err.find("is a socket of family 16, which ckpt cannot restore"), std::string::npos)
      << err;
  EXPECT_EQ(lines(err).size(), 1u) << err;
  Exit alive;
  EXPECT_FALSE(sup.try_wait(&alive)) << "the job ended with the refused checkpoint";
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
}

TEST(TransparentBadInput, StaticProgramRefused) {
  if (access(program("t_count_static").c_str(), X_OK) != 0) GTEST_SKIP() << "no static libc";
  Job job;
  Exit c = job.ckpt({"run", "--dir", job.dir, "--", program("t_count_static"), "3"});
  EXPECT_NE(c.code, 0);
  EXPECT_NE(job.ckpt_err().find("statically linked"), std::string::npos) << job.ckpt_err();
}

// A damaged newest image, uncompressed or compressed (its pages unpacked
// on several threads): the restart says so and uses the previous one.
void damaged_image_falls_back(const std::vector<std::string>& extra) {
  Job job;
  std::vector<std::string> argv = {program("t_count"), "30"};
  // Full images: the newest must hold its page data itself (an increment's
  // damaged base is Increment.DamagedLinkFallsBackToNewestRestartable's).
  std::vector<std::string> cmd = {ckpt_bin(), "run", "--dir", job.dir, "--full-every", "1"};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  cmd.push_back("--");
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  Child sup(cmd, job.opts());
  sleep_s(0.8);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
  sleep_s(0.5);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  // Flip bytes in the middle of the newest image (some may be alignment
  // padding, which no checksum covers; most are page data).
  std::string newest = job.dir + "/ckpt-000000000002.img";
  std::string bytes = read_file(newest);
  ASSERT_GT(bytes.size(), 20000u);
  for (size_t k = 0; k < 16; k++) bytes[bytes.size() / 2 + k * 97] ^= 0x40;
  write_file(newest, bytes);
  // Its own stderr: the program's (the same file as at the checkpoint) is cut
  // back to its size then, which would drop ckpt's message.
  SpawnOptions o = job.opts();
  o.stderr_path = job.tmp / "restart.err";
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, o, 60);
  EXPECT_EQ(e.code, 0);
  std::string err = read_file(job.tmp / "restart.err");
  EXPECT_NE(err.find("damaged"), std::string::npos) << err;
  EXPECT_NE(err.find("previous"), std::string::npos) << err;
  EXPECT_EQ(read_file(job.out), reference(argv));
}

TEST(TransparentBadInput, DamagedImageFallsBackToPrevious) { damaged_image_falls_back({}); }

TEST(TransparentBadInput, DamagedCompressedImageFallsBackToPrevious) {
  damaged_image_falls_back({"--zstd", "1"});
}

TEST(TransparentBadInput, ChangedLibraryRefused) {
  Job job;
  // A private copy of the program's shared library, changed after the checkpoint.
  std::string lib = job.tmp / "libt_tiny.so";
  write_file(lib, read_file(program("libt_tiny.so")));
  SpawnOptions o = job.opts();
  o.env = {"LD_LIBRARY_PATH=" + job.tmp.path()};
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_uses_lib"), "30"}, o);
  sleep_s(0.8);
  ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  write_file(lib, read_file(program("libt_tiny.so")) + std::string(16, '\0'));
  Exit e = job.ckpt({"restart", "--dir", job.dir});
  EXPECT_NE(e.code, 0);
  EXPECT_NE(job.ckpt_err().find("changed since the checkpoint"), std::string::npos)
      << job.ckpt_err();
  EXPECT_EQ(job.dir + "/ckpt-000000000001.img", job.dir + "/ckpt-000000000001.img");
  EXPECT_EQ(access((job.dir + "/ckpt-000000000001.img").c_str(), R_OK), 0);
}

// Regression: the namespace's init kept the job directory's lock (and, with
// only the supervisor killed, the program ran on), so a restart right after
// a kill -9 of `ckpt run` found the directory "in use by another process".
// A checkpoint asked for the moment `ckpt run` starts could fail with "has
// not loaded ckpt's library (yet)": the supervisor now waits up to 2 s for it.
TEST(TransparentRegression, CheckpointRightAfterRun) {
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", program("t_count"), "25"}, job.opts());
  Exit c{};
  for (int k = 0; k < 200; k++) {  // until the control socket exists
    c = job.ckpt({"checkpoint", "--dir", job.dir});
    std::string err = job.ckpt_err();
    bool not_yet = err.find("no job is running") != std::string::npos ||
                   err.find("cannot use checkpoint directory") != std::string::npos;
    if (c.code == 0 || !not_yet) break;
    usleep(5000);
  }
  EXPECT_EQ(c.code, 0) << job.ckpt_err();
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
}

// Regression: a program that exits at once (/bin/true) could be reaped by
// the namespace's init before the supervisor found its pid: "the program did
// not start" after 2 s, exit status 1 (seen in CI; here about 1 run in 80
// with 16 at once on 2 cores). It now waits for the supervisor before its
// exec.
TEST(TransparentRegression, ProgramThatExitsAtOnce) {
  constexpr int kAtOnce = 16;
  for (int round = 0; round < 10; round++) {
    std::vector<std::unique_ptr<Job>> jobs;
    std::vector<std::unique_ptr<Child>> runs;
    for (int k = 0; k < kAtOnce; k++) {
      jobs.push_back(std::make_unique<Job>());
      Job& j = *jobs.back();
      SpawnOptions o = j.opts();
      o.stderr_path = j.tmp / "ckpt.err";
      runs.push_back(
          std::make_unique<Child>(std::vector<std::string>{ckpt_bin(), "run", "--dir", j.dir, "--",
                                                           k % 2 ? "/bin/false" : "/bin/true"},
                                  o));
    }
    for (int k = 0; k < kAtOnce; k++)
      EXPECT_EQ(runs[k]->wait(60).code, k % 2 ? 1 : 0)
          << "round " << round << ": " << jobs[k]->ckpt_err();
  }
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::ifstream f("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                  "/children");
  for (pid_t p; f >> p;) out.push_back(p);
  return out;
}

// Regression: the frozen copy killed while its memory was being read (a
// kill -9 of the job's process group, in the TSan torture) made every page
// after that a page of zeros, and the image was committed as complete; the
// restart then crashed. The checkpoint must fail instead, and the job go on.
// The copy is killed once the image is being written; on a loaded machine
// that can come after its memory was read (then the checkpoint is rightly
// whole): up to three tries, one of which must land during the read.
TEST(TransparentRegression, FrozenCopyKilledDuringTheCheckpoint) {
  SKIP_WITHOUT_NAMESPACES();  // the copy is found as a child of the job's init
  std::vector<std::string> argv = {program("t_heap"), "768", "40", "20000"};
  std::string ref = reference(argv);
  Job job;
  Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", argv[0], argv[1], argv[2], argv[3]},
            job.opts());
  for (int i = 0; i < 3000 && read_file(job.out).empty(); i++) usleep(10000);
  std::vector<pid_t> init = children_of(sup.pid());
  ASSERT_EQ(init.size(), 1u);
  std::vector<pid_t> program_pid = children_of(init[0]);
  ASSERT_EQ(program_pid.size(), 1u);
  SpawnOptions co = job.opts();
  co.stdout_path = job.tmp / "ckpt.out";
  co.stderr_path = job.tmp / "ckpt.err";
  bool landed = false;
  int images = 0;
  for (int attempt = 0; attempt < 3 && !landed; attempt++) {
    Child client({ckpt_bin(), "checkpoint", "--dir", job.dir}, co);
    bool killed = false;
    Exit c;
    // Once the image is being written (the copy's memory is open: killed
    // before that, the copy is not used and the program is read while it
    // waits, rightly).
    while (!client.try_wait(&c)) {
      bool writing = false;
      for (const auto& e : std::filesystem::directory_iterator(job.dir))
        writing |= e.path().extension() == ".tmp";
      for (pid_t kid : children_of(init[0]))
        if (kid != program_pid[0] && !killed && writing) killed = ::kill(kid, SIGKILL) == 0;
      usleep(100);
    }
    ASSERT_TRUE(killed) << "the frozen copy was never seen while the image was written";
    if (c.code == 0) {
      images++;  // read whole before the kill: a complete image
      continue;
    }
    landed = true;
    EXPECT_NE(job.ckpt_err().find("ended while its memory was being read"), std::string::npos)
        << job.ckpt_err();
  }
  EXPECT_TRUE(landed) << "three kills of the copy all came after its memory was read";
  std::string next = job.dir + "/ckpt-00000000000" + std::to_string(images + 1) + ".img";
  EXPECT_EQ(::access(next.c_str(), F_OK), -1) << "an image from the failed checkpoint";
  // The job goes on, and the next checkpoint is whole.
  EXPECT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
  ::kill(-sup.pid(), SIGKILL);
  sup.wait(10);
  EXPECT_EQ(run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120).code, 0)
      << read_file(job.err);
  EXPECT_EQ(read_file(job.out), ref);
}

TEST(TransparentRegression, KillingTheSupervisorEndsTheJobAndFreesItsDirectory) {
  std::vector<std::string> argv = {program("t_count"), "25"};
  std::string ref = reference(argv);
  Job job;
  std::vector<std::string> cmd = {ckpt_bin(), "run", "--dir", job.dir, "--"};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  {
    Child sup(cmd, job.opts());
    sleep_s(1.0);
    ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
    ::kill(sup.pid(), SIGKILL);  // the supervisor alone
    sup.wait(10);
  }
  size_t size = read_file(job.out).size();
  sleep_s(0.5);
  EXPECT_EQ(read_file(job.out).size(), size) << "the program outlived its supervisor";
  Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 120);
  EXPECT_EQ(e.code, 0) << "restart failed: " << read_file(job.err);
  EXPECT_EQ(read_file(job.out), ref);
}

// Regression: `ckpt checkpoint --stop` let the program run on after its
// snapshot until the job was torn down; what it printed then came out twice
// after the restart (stdout a pipe cannot be cut back).
TEST(TransparentRegression, StopLeavesNothingToRepeat) {
  for (int trial = 0; trial < 3; trial++) {
    Job job;
    std::string count = program("t_count");
    std::string pipe_out = job.tmp / "piped";
    std::string line =
        ckpt_bin() + " run --dir " + job.dir + " -- " + count + " 20 | cat >> " + pipe_out;
    {
      Child sup({"/bin/bash", "-c", line}, job.opts());
      sleep_s(0.55 + 0.1 * trial);
      ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir, "--stop"}).code, 0) << job.ckpt_err();
      Exit e = sup.wait(20);
      EXPECT_FALSE(e.timed_out);
    }
    Exit e = run({"/bin/bash", "-c", line}, job.opts(), 60);
    EXPECT_EQ(e.code, 0) << read_file(job.err);
    std::string want;
    for (int i = 1; i <= 20; i++) want += std::to_string(i) + "\n";
    EXPECT_EQ(read_file(pipe_out), want) << "trial " << trial;
  }
}

// Regression: a checkpoint asked for right after `ckpt restart` started
// reached the program while the restorer was still rebuilding it and failed
// ("the program's injected library does not answer"). Whether it did depends
// on the job's memory layout: three jobs, three restarts each.
TEST(TransparentRegression, CheckpointRightAfterRestart) {
  std::vector<std::string> argv = {program("t_heap"), "32", "30", "20000"};
  std::string ref = reference(argv);
  for (int j = 0; j < 3; j++) {
    Job job;
    {
      Child sup({ckpt_bin(), "run", "--dir", job.dir, "--", argv[0], argv[1], argv[2], argv[3]},
                job.opts());
      sleep_s(0.3);
      ASSERT_EQ(job.ckpt({"checkpoint", "--dir", job.dir}).code, 0) << job.ckpt_err();
      ::kill(-sup.pid(), SIGKILL);
      sup.wait(10);
    }
    for (int i = 0; i < 3; i++) {
      Child sup({ckpt_bin(), "restart", "--dir", job.dir}, job.opts());
      // As soon as the job answers.
      Exit c;
      for (int k = 0; k < 5000; k++) {
        c = job.ckpt({"checkpoint", "--dir", job.dir});
        std::string err = job.ckpt_err();
        bool not_yet = err.find("no job is running") != std::string::npos ||
                       err.find("cannot use checkpoint directory") != std::string::npos;
        if (c.code == 0 || !not_yet) break;
        usleep(500);
      }
      EXPECT_EQ(c.code, 0) << "job " << j << ", restart " << i << ": " << job.ckpt_err();
      ::kill(-sup.pid(), SIGKILL);
      sup.wait(10);
    }
    Exit e = run({ckpt_bin(), "restart", "--dir", job.dir}, job.opts(), 60);
    EXPECT_EQ(e.code, 0) << read_file(job.err);
    EXPECT_EQ(read_file(job.out), ref);
  }
}

}  // namespace
}  // namespace ckpt::test
