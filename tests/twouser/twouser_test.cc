// Two ordinary users, A (ckpttest) and B (ckpttest2): B cannot read A's
// images, cannot command A's job, cannot make A's restart load B's files.
// The test runs as root only to act as each user: every action is done by a
// child that has dropped to that user (setresgid/setresuid) and execs ckpt.
// Not root, or a user missing: every test skips with the reason.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/process.h"

namespace ckpt::test {
namespace {

struct User {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

bool lookup(const char* name, User* u) {
  passwd* p = ::getpwnam(name);
  if (!p) return false;
  *u = {name, p->pw_uid, p->pw_gid};
  return true;
}

std::string bin(const std::string& rel) { return ckpt::test::build_path(rel); }

void become(const User& u) {
  if (::setgroups(0, nullptr) != 0 || ::setresgid(u.gid, u.gid, u.gid) != 0 ||
      ::setresuid(u.uid, u.uid, u.uid) != 0)
    _exit(126);
}

// Runs fn as user u in a child; its exit status (-1 if killed or timed out).
int as(const User& u, const std::function<int()>& fn, double timeout = 30) {
  pid_t pid = ::fork();
  if (pid == 0) {
    become(u);
    _exit(fn());
  }
  double end = now_seconds() + timeout;
  int st = 0;
  while (::waitpid(pid, &st, WNOHANG) == 0) {
    if (now_seconds() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    sleep_seconds(0.01);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A child that execs argv as u, with stdout/stderr in files, in its own
// process group (so the whole job can be killed).
pid_t spawn_as(const User& u, const std::vector<std::string>& argv, const std::string& cwd,
               const std::string& out, const std::string& err,
               const std::vector<std::string>& env = {}) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    become(u);
    if (::chdir(cwd.c_str()) != 0) _exit(126);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int n = ::open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || n < 0) _exit(126);
    ::dup2(n, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<std::string> envs = {"PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"};
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> av, ev;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    for (const auto& a : envs) ev.push_back(const_cast<char*>(a.c_str()));
    ev.push_back(nullptr);
    ::execve(av[0], av.data(), ev.data());
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid, double timeout = 60) {
  double end = now_seconds() + timeout;
  int st = 0;
  while (::waitpid(pid, &st, WNOHANG) == 0) {
    if (now_seconds() > end) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    sleep_seconds(0.01);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct Result {
  int code;
  std::string out, err;
};

class TwoUser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "two-user tests need root to act as two users (scripts/test.sh runs them "
                      "as root with `ctest -L twouser`)";
    if (!lookup("ckpttest", &a) || !lookup("ckpttest2", &b))
      GTEST_SKIP() << "users ckpttest and ckpttest2 are needed (scripts/test.sh creates them)";
    char tmpl[] = "/tmp/ckpt-twouser.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base = tmpl;
    ::chmod(base.c_str(), 0755);
    home_a = base + "/a";
    home_b = base + "/b";
    ::mkdir(home_a.c_str(), 0755);
    ::mkdir(home_b.c_str(), 0755);
    ASSERT_EQ(::chown(home_a.c_str(), a.uid, a.gid), 0);
    ASSERT_EQ(::chown(home_b.c_str(), b.uid, b.gid), 0);
    job_a = home_a + "/job";
  }
  void TearDown() override {
    for (pid_t p : jobs) {
      ::kill(-p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    if (!base.empty()) run({"/bin/rm", "-rf", base}, SpawnOptions{}, 30);
  }

  Result ckpt(const User& u, const std::vector<std::string>& args, const std::string& cwd = "") {
    std::vector<std::string> argv = {bin("src/ckpt")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string dir = cwd.empty() ? (u.uid == a.uid ? home_a : home_b) : cwd;
    std::string home = u.uid == a.uid ? home_a : home_b;
    std::string out = home + "/ckpt.out", err = home + "/ckpt.err";
    ::unlink(out.c_str());
    ::unlink(err.c_str());
    int code = wait_for(spawn_as(u, argv, dir, out, err));
    return {code, read_file(out), read_file(err)};
  }

  // A runs t_count under `ckpt run` in job_a and checkpoints it once.
  void start_a_job() {
    jobs.push_back(spawn_as(
        a, {bin("src/ckpt"), "run", "--dir", job_a, "--", bin("tests/transparent/t_count"), "600"},
        home_a, home_a + "/job.out", home_a + "/job.err"));
    sleep_seconds(0.8);
    Result r = ckpt(a, {"checkpoint", "--dir", job_a});
    ASSERT_EQ(r.code, 0) << r.err << read_file(home_a + "/job.err");
  }
  void stop_a_job() {
    ::kill(-jobs[0], SIGKILL);
    ::waitpid(jobs[0], nullptr, 0);
    jobs.erase(jobs.begin());
    sleep_seconds(0.2);  // the program in its pid namespace dies with its supervisor
  }
  int images(const std::string& dir) {
    int n = 0;
    for (int g = 1; g < 20; g++) {
      char name[64];
      std::snprintf(name, sizeof name, "/ckpt-%012d.img", g);
      n += ::access((dir + name).c_str(), F_OK) == 0;
    }
    return n;
  }

  User a, b;
  std::string base, home_a, home_b, job_a;
  std::vector<pid_t> jobs;
};

void expect_one_line(const Result& r, const std::string& what) {
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "expected \"" << what << "\" in: " << r.err;
}

// B cannot open A's image even where A's directory is open to everyone.
void expect_private(const User& a, const User& b, const std::string& dir,
                    const std::string& image) {
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  EXPECT_EQ(st.st_uid, a.uid);
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << image;
  EXPECT_EQ(st.st_uid, a.uid);
  EXPECT_EQ(as(b, [&] { return ::open(image.c_str(), O_RDONLY) < 0 && errno == EACCES ? 0 : 1; }),
            0)
      << "B could open " << image;
  ::chmod(dir.c_str(), 0755);  // as A might: the image stays private
  EXPECT_EQ(as(b, [&] { return ::open(image.c_str(), O_RDONLY) < 0 && errno == EACCES ? 0 : 1; }),
            0)
      << "B could open " << image << " in a 0755 directory";
  ::chmod(dir.c_str(), 0700);
}

TEST_F(TwoUser, AnotherUserCannotReadLibckptImages) {
  std::string dir = home_a + "/ckpt.d";
  int code = wait_for(spawn_as(a, {bin("examples/count"), "3", "1"}, home_a, home_a + "/count.out",
                               home_a + "/count.err", {"CKPT_DIR=" + dir}));
  ASSERT_EQ(code, 0) << read_file(home_a + "/count.err");
  ASSERT_GT(images(dir), 0);
  expect_private(a, b, dir, dir + "/ckpt-000000000003.img");
}

TEST_F(TwoUser, AnotherUserCannotReadTransparentImages) {
  start_a_job();
  expect_private(a, b, job_a, job_a + "/ckpt-000000000001.img");
}

TEST_F(TwoUser, AnotherUserCannotCommandTheJob) {
  start_a_job();
  // A opens everything up; B still must not be able to checkpoint or stop.
  ASSERT_EQ(::chmod(job_a.c_str(), 0755), 0);
  ASSERT_EQ(::chmod((job_a + "/control").c_str(), 0777), 0);
  Result r = ckpt(b, {"checkpoint", "--dir", job_a});
  expect_one_line(r, "another user");
  r = ckpt(b, {"checkpoint", "--stop", "--dir", job_a});
  expect_one_line(r, "another user");
  // Straight to the socket, past ckpt's own checks: peer credentials refuse.
  std::string sock = job_a + "/control";
  int got = as(b, [&] {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 2;
    const char req[] = "checkpoint stop\n";
    if (::send(s, req, sizeof req - 1, MSG_NOSIGNAL) < 0) return 0;
    char c;
    return ::recv(s, &c, 1, 0) > 0 ? 1 : 0;  // any answer is a failure
  });
  EXPECT_EQ(got, 0) << (got == 2 ? "B could not even connect (test set-up)" : "the job answered B");
  sleep_seconds(0.3);
  EXPECT_EQ(images(job_a), 1) << "B made a checkpoint";
  EXPECT_EQ(::kill(jobs[0], 0), 0) << "B stopped A's job";
  r = ckpt(a, {"checkpoint", "--dir", job_a});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(images(job_a), 2);
}

// A pipe made by root (as runuser, sudo or a batch system leave one open)
// and inherited by A's job: its inode is root's, so A cannot open it through
// /proc. The checkpoint still works (it reaches the pipe through the
// program's own descriptor) and the restart brings the pipe back. Failed
// before with "cannot open pipe N of the program: Permission denied".
TEST_F(TwoUser, PipeOfAnotherUserInheritedByTheJob) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);  // root's, not close-on-exec: A's job inherits both ends
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  jobs.push_back(spawn_as(
      a, {bin("src/ckpt"), "run", "--dir", job_a, "--", bin("tests/transparent/t_count"), "600"},
      home_a, home_a + "/job.out", home_a + "/job.err"));
  ::close(p[0]);
  ::close(p[1]);
  sleep_seconds(0.8);
  Result r = ckpt(a, {"checkpoint", "--dir", job_a});
  EXPECT_EQ(r.code, 0) << r.err << read_file(home_a + "/job.err");
  stop_a_job();
  if (r.code != 0) return;
  pid_t job = spawn_as(a, {bin("src/ckpt"), "restart", "--dir", job_a}, home_a, home_a + "/job.out",
                       home_a + "/restart.err");
  sleep_seconds(1.5);
  EXPECT_EQ(::kill(job, 0), 0) << "the restart ended: " << read_file(home_a + "/restart.err");
  ::kill(-job, SIGKILL);
  ::waitpid(job, nullptr, 0);
}

TEST_F(TwoUser, AnotherUserCannotRestartTheJob) {
  start_a_job();
  ::chmod(job_a.c_str(), 0755);
  Result r = ckpt(b, {"restart", "--dir", job_a});
  expect_one_line(r, "belongs to another user");
}

// B's own image put where A restarts from: refused, A's program never runs
// B's memory. The directory is sticky and world-writable (B can add files,
// not rename A's); a plain world-writable one is refused outright.
TEST_F(TwoUser, PlantedImageIsRefused) {
  start_a_job();
  stop_a_job();
  std::string job_b = home_b + "/job";
  jobs.push_back(spawn_as(
      b, {bin("src/ckpt"), "run", "--dir", job_b, "--", bin("tests/transparent/t_count"), "600"},
      home_b, home_b + "/job.out", home_b + "/job.err"));
  sleep_seconds(0.8);
  ASSERT_EQ(ckpt(b, {"checkpoint", "--dir", job_b}).code, 0);
  ASSERT_EQ(::chmod(job_a.c_str(), 01777), 0);
  std::string planted = job_a + "/ckpt-000000000009.img";
  std::string theirs = job_b + "/ckpt-000000000001.img";
  ASSERT_EQ(as(b, [&] { return std::system(("/bin/cp " + theirs + " " + planted).c_str()); }), 0);
  Result r = ckpt(a, {"restart", "--dir", job_a});
  expect_one_line(r, "belongs to another user");
  EXPECT_EQ(r.out, "") << "the planted image ran";
  // As a symlink to B's file instead.
  ASSERT_EQ(::unlink(planted.c_str()), 0);
  ::chmod(job_b.c_str(), 0755);
  ::chmod(theirs.c_str(), 0644);
  ASSERT_EQ(as(b, [&] { return ::symlink(theirs.c_str(), planted.c_str()); }), 0);
  r = ckpt(a, {"restart", "--dir", job_a});
  expect_one_line(r, "symbolic link");
  ASSERT_EQ(::unlink(planted.c_str()), 0);
  // A directory everyone may rename files in.
  ASSERT_EQ(::chmod(job_a.c_str(), 0777), 0);
  r = ckpt(a, {"restart", "--dir", job_a});
  expect_one_line(r, "writable by every user");
}

// Issue 3: an image of another user is one clear line (ckpt restart, libckpt).
TEST_F(TwoUser, ImageOfAnotherUserIsOneClearLine) {
  start_a_job();
  stop_a_job();
  std::string image = job_a + "/ckpt-000000000001.img";
  ASSERT_EQ(::chown(image.c_str(), b.uid, b.gid), 0);
  Result r = ckpt(a, {"restart", "--dir", job_a});
  expect_one_line(r, "belongs to another user");

  std::string dir = home_a + "/ckpt.d";
  ASSERT_EQ(wait_for(spawn_as(a, {bin("examples/count"), "2", "1"}, home_a, home_a + "/c.out",
                              home_a + "/c.err", {"CKPT_DIR=" + dir})),
            0);
  ASSERT_EQ(::chown((dir + "/ckpt-000000000002.img").c_str(), b.uid, b.gid), 0);
  ::unlink((home_a + "/c.err").c_str());
  int code = wait_for(spawn_as(a, {bin("examples/count"), "4", "1"}, home_a, home_a + "/c.out",
                               home_a + "/c.err", {"CKPT_DIR=" + dir}));
  Result lib = {code, "", read_file(home_a + "/c.err")};
  expect_one_line(lib, "belongs to another user");
}

// A job directory reached through a link B made is refused.
TEST_F(TwoUser, SymlinkedDirectoryOfAnotherUserIsRefused) {
  start_a_job();
  stop_a_job();
  std::string shared = base + "/shared";
  ::mkdir(shared.c_str(), 01777);
  ::chmod(shared.c_str(), 01777);
  std::string link = shared + "/job";
  ASSERT_EQ(as(b, [&] { return ::symlink(job_a.c_str(), link.c_str()); }), 0);
  Result r = ckpt(a, {"restart", "--dir", link});
  expect_one_line(r, "symbolic link");
}

// A socket B serves in A's directory cannot answer for A's job.
TEST_F(TwoUser, ForeignControlSocketIsRefused) {
  ::mkdir(job_a.c_str(), 01777);
  ASSERT_EQ(::chown(job_a.c_str(), a.uid, a.gid), 0);
  ::chmod(job_a.c_str(), 01777);
  std::string sock = job_a + "/control";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t fake = ::fork();
  if (fake == 0) {
    ::setpgid(0, 0);
    become(b);
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 4) != 0)
      _exit(2);
    ::chmod(sock.c_str(), 0777);
    if (::write(ready[1], "x", 1) != 1) _exit(2);
    for (;;) {
      int c = ::accept(s, nullptr, nullptr);
      const char lie[] = "ok 7 4096 0.001 0.002 /nowhere/ckpt-000000000007.img\n";
      if (c >= 0 && ::send(c, lie, sizeof lie - 1, MSG_NOSIGNAL) > 0) ::close(c);
    }
  }
  jobs.push_back(fake);
  char x;
  ASSERT_EQ(::read(ready[0], &x, 1), 1);
  Result r = ckpt(a, {"checkpoint", "--dir", job_a});
  expect_one_line(r, "another user");
}

}  // namespace
}  // namespace ckpt::test
