#include "support/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace ckpt::test {

namespace {
void redirect(int target, const std::string& path, int flags) {
  int fd = ::open(path.empty() ? "/dev/null" : path.c_str(), flags, 0600);
  if (fd < 0) _exit(126);
  dup2(fd, target);
  close(fd);
}
}  // namespace

Child::Child(const std::vector<std::string>& argv, const SpawnOptions& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& add : o.env) replaced = replaced || add.substr(0, add.find('=')) == name;
    if (!replaced) env.push_back(kv);
  }
  for (const auto& add : o.env) env.push_back(add);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(126);
    int out_flags = O_WRONLY | O_CREAT | (o.append ? O_APPEND : O_TRUNC);
    redirect(0, o.stdin_path, O_RDONLY);
    redirect(1, o.stdout_path, out_flags);
    redirect(2, o.stderr_path, out_flags);
    if (o.fsize_limit >= 0) {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit rl = {rlim_t(o.fsize_limit), rlim_t(o.fsize_limit)};
      setrlimit(RLIMIT_FSIZE, &rl);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Child::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

namespace {
Exit exit_of(int status) {
  Exit e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}
}  // namespace

bool Child::try_wait(Exit* e) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r != pid_) return false;
  reaped_ = true;
  exit_ = exit_of(status);
  *e = exit_;
  return true;
}

Exit Child::wait(double timeout) {
  if (reaped_) return exit_;
  Exit e;
  double deadline = now_seconds() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) return e;
    if (now_seconds() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      e.timed_out = true;
      break;
    }
    sleep_seconds(0.005);
  }
  reaped_ = true;
  bool timed_out = e.timed_out;
  exit_ = exit_of(status);
  exit_.timed_out = timed_out;
  return exit_;
}

Exit run(const std::vector<std::string>& argv, const SpawnOptions& options, double timeout) {
  Child c(argv, options);
  return c.wait(timeout);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ckpt-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  // CKPT_TEST_KEEP=1 keeps every test directory (images, outputs, cores of
  // a crashed program) to look at after a failure.
  if (const char* keep = std::getenv("CKPT_TEST_KEEP"); keep && *keep && *keep != '0') return;
  std::error_code ec;
  // Make everything removable again (tests take permissions away).
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) chmod(it->path().c_str(), 0700);
  chmod(path_.c_str(), 0700);
  std::filesystem::remove_all(path_, ec);
}

std::string build_dir() {
  const char* dir = std::getenv("CKPT_BUILD_DIR");
  return dir && *dir ? dir : ".";
}

std::string build_path(const std::string& relative) { return build_dir() + "/" + relative; }

std::string ckpt_bin() { return build_path("src/ckpt"); }

std::string program(const std::string& name) { return build_path("tests/transparent/" + name); }

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

void sleep_seconds(double s) {
  timespec ts = {time_t(s), long((s - double(time_t(s))) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace ckpt::test
