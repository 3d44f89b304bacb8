// libckpt's MPI mode: the collective checkpoint, the agreement behind
// checkpoint_if_due(), partner copies, the background flush to the durable
// level and the collective restart. The protocol is in docs/mpi.md.
#include <ckpt/mpi.hpp>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "lib/hooks.h"
#include "lib/triggers.h"
#include "mpi/files.h"
#include "mpi/manifest.h"
#include "mpi/xor.h"

namespace ckpt::mpi {

namespace {

constexpr size_t kChunk = 4 << 20;  // bytes per message of an image transfer
constexpr int kTagCopy = 7001;
constexpr int kTagRebuild = 7002;
constexpr size_t kMsg = 256;  // one message line in a rank's report

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end;
  double d = std::strtod(v, &end);
  return *end == '\0' ? d : fallback;
}

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string image_name(uint64_t g) { return numbered("ckpt-", g, ".img"); }
std::string parity_name(uint64_t g) { return numbered("ckpt-", g, ".xor"); }
std::string rank_name(const char* what, int r) {
  char b[32];
  std::snprintf(b, sizeof b, "%s-%05d", what, r);
  return b;
}

// Files "ckpt-N.img" (or another suffix) in dir, by generation.
std::vector<uint64_t> list_images(const std::string& dir, const char* suffix = ".img") {
  std::vector<uint64_t> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    uint64_t g;
    if (parse_numbered(e->d_name, "ckpt-", suffix, &g)) out.push_back(g);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint64_t> list_manifests(const std::string& dir) {
  std::vector<uint64_t> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    uint64_t g;
    if (parse_numbered(e->d_name, "manifest-", "", &g)) out.push_back(g);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A rank's contribution to a collective decision.
struct Report {
  int32_t ok = 1;
  int32_t flush_failed = 0;
  uint64_t size = 0, hash = 0;
  uint64_t parity_size = 0, parity_hash = 0;  // XOR sets
  uint64_t flushed = 0;  // newest generation this rank has on the durable level
  char msg[kMsg] = "";
  char flush_msg[kMsg] = "";
};

void set_msg(char* dst, const char* text) { std::snprintf(dst, kMsg, "%s", text); }

}  // namespace

Options options_from_env(Options o) {
  if (const char* d = std::getenv("CKPT_DIR"); d && *d) o.dir = d;
  if (const char* d = std::getenv("CKPT_FAST_DIR"); d && *d) o.fast_dir = d;
  o.flush_every = int(env_double("CKPT_FLUSH_EVERY", o.flush_every));
  o.keep = int(env_double("CKPT_KEEP", o.keep));
  if (const char* r = std::getenv("CKPT_REDUNDANCY"); r && *r) o.redundancy = r;
  o.xor_nodes = int(env_double("CKPT_XOR_NODES", o.xor_nodes));
  o.agree_seconds = env_double("CKPT_AGREE_SECONDS", o.agree_seconds);
  o.ranks_per_node = int(env_double("CKPT_RANKS_PER_NODE", o.ranks_per_node));
  return o;
}

struct Checkpointer::Impl {
  MPI_Comm user_comm = MPI_COMM_NULL;
  MPI_Comm comm = MPI_COMM_NULL;   // checkpoints and restarts
  MPI_Comm agree = MPI_COMM_NULL;  // checkpoint_if_due()'s allreduce only
  Options o;
  bool started = false, finished = false;
  bool timing = std::getenv("CKPT_MPI_TIMING") != nullptr;  // each rank's phases on stderr
  std::string durable, fast_root, fast_node, own_dir, partner_dir, durable_rank_dir;
  std::vector<int> node_of;       // node index of every rank
  int to = 0, from = 0;           // I send my copy to `to` and hold `from`'s
  bool use_xor = false;           // XOR sets instead of partner copies
  std::vector<int> set_of;        // XOR set of every rank
  MPI_Comm xset = MPI_COMM_NULL;  // my XOR set, members in rank order
  bool leader = false;            // lowest rank of its node: writes the node's manifests
  int lock_fd = -1;

  uint64_t next_gen = 1;
  std::deque<uint64_t> committed;  // on the fast level, oldest first
  std::deque<uint64_t> durable_committed;
  std::map<uint64_t, std::string> manifests;  // rank 0: text of recent generations

  // Agreement.
  MPI_Request req = MPI_REQUEST_NULL;
  int send[4] = {0, 0, 0, 0}, recv[4] = {0, 0, 0, 0};  // due, stop, -period, deadline
  int64_t posted_ns = 0;
  uint64_t posted_calls = 0;

  // Background flush.
  std::thread flusher;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t flush_want = 0, flush_busy = 0;
  bool quit = false;
  std::atomic<uint64_t> flushed{0};
  bool flush_failed = false;
  std::string flush_msg;

  std::string own_path(uint64_t g) const { return own_dir + "/" + image_name(g); }
  std::string parity_path(uint64_t g) const { return own_dir + "/" + parity_name(g); }
  std::string partner_path(int r, uint64_t g) const {
    return fast_node + "/" + rank_name("partner", r) + "/" + image_name(g);
  }
  std::string durable_path(int r, uint64_t g) const {
    return durable + "/" + rank_name("rank", r) + "/" + image_name(g);
  }

  void flush_loop(int rank) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return flush_want != 0 || quit; });
      if (flush_want == 0 && quit) return;
      uint64_t g = flush_want;
      flush_want = 0;
      flush_busy = g;
      lk.unlock();
      Status s = copy_file(own_path(g), durable_path(rank, g), nullptr, nullptr);
      lk.lock();
      flush_busy = 0;
      if (s.is_ok()) {
        flushed = g;
      } else {
        flush_failed = true;
        flush_msg = s.message();
      }
      cv.notify_all();
    }
  }
  void wait_flush() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return flush_want == 0 && flush_busy == 0; });
  }
};

Checkpointer::Checkpointer(MPI_Comm comm, Options options)
    : state_([&] {
        ckpt::Options s = options.serial;
        s.exit_on_stop = false;  // every rank stops together (agree_slow)
        return s;
      }()),
      impl_(new Impl) {
  impl_->user_comm = comm;
  impl_->o = std::move(options);
  if (impl_->o.dir.empty()) impl_->o.dir = "ckpt.d";
  if (impl_->o.keep < 1) impl_->o.keep = 1;
}

Checkpointer::~Checkpointer() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (impl_->started && !fin) (void)finish();
  {
    std::lock_guard lk(impl_->mu);
    impl_->quit = true;
  }
  impl_->cv.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
  if (!fin) {
    if (impl_->req != MPI_REQUEST_NULL) MPI_Wait(&impl_->req, MPI_STATUS_IGNORE);
    if (impl_->agree != MPI_COMM_NULL) MPI_Comm_free(&impl_->agree);
    if (impl_->xset != MPI_COMM_NULL) MPI_Comm_free(&impl_->xset);
    if (impl_->comm != MPI_COMM_NULL) MPI_Comm_free(&impl_->comm);
  }
  if (impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

uint64_t Checkpointer::durable_generation() const {
  return impl_->durable_committed.empty() ? 0 : impl_->durable_committed.back();
}
std::string Checkpointer::fast_dir() const { return impl_->fast_node; }

// Every rank gets rank 0's verdict: OK, or the first failing rank's line.
static Status agree_status(MPI_Comm comm, int rank, int size, const Status& mine,
                           bool name_rank = true) {
  int bad = mine.is_ok() ? INT_MAX : rank, first = INT_MAX;
  MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == INT_MAX) return Status::ok();
  char msg[kMsg];
  int code = int(mine.code());
  if (rank == first) set_msg(msg, mine.message());
  MPI_Bcast(msg, int(kMsg), MPI_CHAR, first, comm);
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  msg[kMsg - 1] = '\0';
  if (size == 1 || !name_rank) return Status::make(Code(code), 0, "%s", msg);
  return Status::make(Code(code), 0, "rank %d: %s", first, msg);
}

Status Checkpointer::start() {
  Impl& m = *impl_;
  if (m.started) return Status::ok();
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin)
    return last_ =
               Status::make(Code::kInvalid, 0,
                            "MPI is not initialised: call MPI_Init before restore() or start() of "
                            "ckpt::mpi::Checkpointer (or use ckpt::Checkpointer without MPI)");
  if (m.o.redundancy != "partner" && m.o.redundancy != "xor")
    return last_ = Status::make(Code::kInvalid, 0,
                                "redundancy '%s' (CKPT_REDUNDANCY): give partner or xor",
                                m.o.redundancy.c_str());
  m.use_xor = m.o.redundancy == "xor";
  MPI_Comm_dup(m.user_comm, &m.comm);
  MPI_Comm_dup(m.user_comm, &m.agree);
  MPI_Comm_rank(m.comm, &rank_);
  MPI_Comm_size(m.comm, &size_);

  // Nodes: by host name, or by blocks of ranks when testing on one machine.
  char name[MPI_MAX_PROCESSOR_NAME + 1] = "";
  if (m.o.ranks_per_node > 0) {
    std::snprintf(name, sizeof name, "sim%d", rank_ / m.o.ranks_per_node);
  } else {
    int len = 0;
    MPI_Get_processor_name(name, &len);
    name[len] = '\0';
  }
  std::vector<char> names(size_t(size_) * 64);
  char mine[64] = "";
  std::snprintf(mine, sizeof mine, "%s", name);
  MPI_Allgather(mine, 64, MPI_CHAR, names.data(), 64, MPI_CHAR, m.comm);
  std::vector<std::string> node_names;
  m.node_of.assign(size_t(size_), 0);
  std::map<std::string, int> index;
  std::vector<int> per_node;
  for (int r = 0; r < size_; r++) {
    std::string n(&names[size_t(r) * 64], strnlen(&names[size_t(r) * 64], 64));
    auto [it, fresh] = index.emplace(n, int(index.size()));
    if (fresh) per_node.push_back(0);
    m.node_of[size_t(r)] = it->second;
    per_node[size_t(it->second)]++;
  }
  m.leader = true;
  for (int r = 0; r < rank_; r++)
    if (m.node_of[size_t(r)] == m.node_of[size_t(rank_)]) m.leader = false;
  // The partner is k ranks on, k the most ranks on any node: with ranks
  // placed in blocks it is on another node whenever there are two.
  int k = *std::max_element(per_node.begin(), per_node.end());
  if (k >= size_) k = size_ > 1 ? 1 : 0;
  m.to = (rank_ + k) % size_;
  m.from = (rank_ - k + size_) % size_;
  int same = m.node_of[size_t(m.to)] == m.node_of[size_t(rank_)] ? 1 : 0;  // MPI_INT, not bool
  int any_same = same, all_same = 0;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, m.comm);
  MPI_Allreduce(MPI_IN_PLACE, &any_same, 1, MPI_INT, MPI_LOR, m.comm);
  if (m.use_xor) {
    // Sets across nodes; a set of one rank protects nothing.
    m.set_of = xor_sets(m.node_of, m.o.xor_nodes);
    MPI_Comm_split(m.comm, m.set_of[size_t(rank_)], rank_, &m.xset);
    int n = 0, alone = 0;
    MPI_Comm_size(m.xset, &n);
    alone = n < 2;
    MPI_Allreduce(MPI_IN_PLACE, &alone, 1, MPI_INT, MPI_LOR, m.comm);
    if (rank_ == 0 && alone && !m.o.serial.quiet)
      std::fprintf(stderr,
                   "ckpt: some XOR sets have one rank (the job is on one node, or its nodes hold "
                   "different numbers of ranks): those ranks are not protected against losing "
                   "a node\n");
  } else if (rank_ == 0 && any_same && !m.o.serial.quiet)
    std::fprintf(stderr,
                 "ckpt: %s partner copies are on the same node as their rank: they do not "
                 "protect against losing a node\n",
                 all_same ? "all" : "some");

  // The durable level: rank 0 creates it and holds its lock for the job.
  Status s;
  char real[PATH_MAX] = "";
  char job_id[33] = "";
  std::string id_text;
  if (rank_ == 0) {
    s = make_dirs(m.o.dir);
    if (s.is_ok()) {
      std::string lock = m.o.dir + "/lock";
      m.lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (m.lock_fd < 0) {
        s = Status::make(Code::kIo, errno, "cannot open %s", lock.c_str());
      } else if (flock(m.lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(m.lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        if (char* nl = std::strchr(pid, '\n')) *nl = '\0';
        s = Status::make(Code::kBusy, 0,
                         "%s is in use by another job (%s%s); give each job its own directory",
                         m.o.dir.c_str(), *pid ? "pid " : "lock held", pid);
      } else {
        char buf[64];
        int n = std::snprintf(buf, sizeof buf, "%d\n", int(getpid()));
        (void)!ftruncate(m.lock_fd, 0);
        (void)!pwrite(m.lock_fd, buf, size_t(n), 0);
      }
    }
    if (s.is_ok() && !::realpath(m.o.dir.c_str(), real))
      s = Status::make(Code::kIo, errno, "cannot resolve %s", m.o.dir.c_str());
    // The job's identity: a random number kept in DURABLE/id. The fast
    // level is keyed by it, so a new directory at an old path never picks
    // up what an earlier job left on the nodes.
    std::string idpath = m.o.dir + "/id";
    if (s.is_ok() && read_small(idpath, &id_text, 64).code() == Code::kNotFound) {
      uint64_t r[2] = {0, 0};
      int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)!::read(fd, r, sizeof r);
        ::close(fd);
      }
      char b[40];
      std::snprintf(b, sizeof b, "%016llx%016llx\n", (unsigned long long)r[0],
                    (unsigned long long)(r[1] ^ uint64_t(mono_ns())));
      AtomicFile f;
      s = f.open(idpath);
      if (s.is_ok()) s = f.write(b, std::strlen(b));
      if (s.is_ok()) s = f.commit();
      id_text.clear();
      if (s.is_ok()) s = read_small(idpath, &id_text, 64);
    }
    if (s.is_ok() && (id_text.size() != 33 || id_text[32] != '\n'))
      s = Status::make(Code::kCorrupt, 0, "%s is damaged (want 32 hex digits and a newline)",
                       idpath.c_str());
    if (s.is_ok()) std::snprintf(job_id, sizeof job_id, "%.32s", id_text.c_str());
  }
  CKPT_RETURN_IF_ERROR(last_ = agree_status(m.comm, rank_, size_, s, /*name_rank=*/false));
  MPI_Bcast(real, PATH_MAX, MPI_CHAR, 0, m.comm);
  MPI_Bcast(job_id, sizeof job_id, MPI_CHAR, 0, m.comm);
  real[PATH_MAX - 1] = '\0';
  m.durable = real;
  m.durable_rank_dir = m.durable + "/" + rank_name("rank", rank_);

  // The fast level, keyed by the durable directory so that two jobs never
  // share one.
  std::string root = m.o.fast_dir;
  if (root.empty()) {
    const char* t = std::getenv("TMPDIR");
    root = t && *t ? t : "/tmp";
  }
  char key[80];
  std::snprintf(key, sizeof key, "/ckpt-mpi-%u-%.16s", unsigned(geteuid()), job_id);
  m.fast_root = root + key;
  m.fast_node = m.fast_root + "/node-" + name;
  m.own_dir = m.fast_node + "/" + rank_name("rank", rank_);
  m.partner_dir = m.fast_node + "/" + rank_name("partner", m.from);
  s = make_dirs(m.own_dir);
  if (s.is_ok()) s = make_dirs(m.partner_dir);
  if (s.is_ok()) s = make_dirs(m.durable_rank_dir);

  // One look at Slurm's deadline, on rank 0, for every rank.
  ckpt::Options& so = lib::Hooks::options(state_);
  so.dir = m.own_dir;
  int ask = so.deadline_unix == 0 && so.find_slurm_deadline;
  MPI_Allreduce(MPI_IN_PLACE, &ask, 1, MPI_INT, MPI_LAND, m.comm);
  if (ask) {
    long long deadline = 0;
    const char* job = std::getenv("SLURM_JOB_ID");
    if (rank_ == 0 && job && *job) deadline = lib::slurm_job_end_time(job);
    MPI_Bcast(&deadline, 1, MPI_LONG_LONG, 0, m.comm);
    so.deadline_unix = deadline;
  }
  so.find_slurm_deadline = false;
  if (s.is_ok()) s = state_.start();
  CKPT_RETURN_IF_ERROR(last_ = agree_status(m.comm, rank_, size_, s));

  int r = rank_;
  m.flusher = std::thread([&m, r] { m.flush_loop(r); });
  m.started = true;
  return last_ = Status::ok();
}

// Sends my image to `to` and receives `from`'s at the same time, in chunks
// (no deadlock: every rank posts both directions before waiting).
static Status exchange_copies(Checkpointer::Impl& m, uint64_t g, const Status& mine, uint64_t* size,
                              uint64_t* hash, Status* partner) {
  int64_t out_size = -1, in_size = -1;
  int fd = -1;
  Status s = mine;
  if (s.is_ok()) {
    fd = ::open(m.own_path(g).c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
      s = Status::make(Code::kIo, errno, "cannot read back %s", m.own_path(g).c_str());
    else out_size = st.st_size;
  }
  MPI_Sendrecv(&out_size, 1, MPI_INT64_T, m.to, kTagCopy, &in_size, 1, MPI_INT64_T, m.from,
               kTagCopy, m.comm, MPI_STATUS_IGNORE);
  AtomicFile copy;
  *partner = Status::ok();
  if (in_size >= 0) *partner = copy.open(m.partner_path(m.from, g));
  XXH3_state_t* hs = XXH3_createState();
  XXH3_64bits_reset(hs);
  std::vector<char> sbuf(kChunk), rbuf(kChunk);
  int64_t sent = 0, got = 0;
  while ((out_size >= 0 && sent < out_size) || (in_size >= 0 && got < in_size)) {
    MPI_Request rq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int n_in = 0;
    if (in_size >= 0 && got < in_size) {
      n_in = int(std::min<int64_t>(int64_t(kChunk), in_size - got));
      MPI_Irecv(rbuf.data(), n_in, MPI_BYTE, m.from, kTagCopy, m.comm, &rq[0]);
    }
    if (out_size >= 0 && sent < out_size) {
      int n = int(std::min<int64_t>(int64_t(kChunk), out_size - sent));
      ssize_t rd = ::pread(fd, sbuf.data(), size_t(n), sent);
      if (rd != n) {  // still send, so that the partner is not left waiting
        if (s.is_ok())
          s = Status::make(Code::kIo, rd < 0 ? errno : EIO, "cannot read back %s",
                           m.own_path(g).c_str());
        std::memset(sbuf.data(), 0, size_t(n));
      }
      XXH3_64bits_update(hs, sbuf.data(), size_t(n));
      MPI_Isend(sbuf.data(), n, MPI_BYTE, m.to, kTagCopy, m.comm, &rq[1]);
      sent += n;
    }
    MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
    if (n_in) {
      if (partner->is_ok()) *partner = copy.write(rbuf.data(), size_t(n_in));
      got += n_in;
    }
  }
  if (fd >= 0) ::close(fd);
  *size = uint64_t(std::max<int64_t>(out_size, 0));
  *hash = XXH3_64bits_digest(hs);
  XXH3_freeState(hs);
  if (in_size >= 0 && partner->is_ok()) *partner = copy.commit();
  return s;
}

// Rank 0 commits the newest generation every rank has copied to the
// durable level (their reports), then every rank prunes that level.
static void commit_durable(Checkpointer::Impl& m, int rank, int size,
                           const std::vector<Report>& all, bool quiet) {
  uint64_t newest = 0;
  if (rank == 0) {
    uint64_t flushed = UINT64_MAX;
    for (int r = 0; r < size; r++) {
      flushed = std::min(flushed, all[size_t(r)].flushed);
      if (all[size_t(r)].flush_failed && !quiet)
        std::fprintf(
            stderr,
            "ckpt: rank %d could not copy its image to the durable level: %s; generation %llu "
            "stays the newest durable one\n",
            r, all[size_t(r)].flush_msg,
            (unsigned long long)(m.durable_committed.empty() ? 0 : m.durable_committed.back()));
    }
    uint64_t last = m.durable_committed.empty() ? 0 : m.durable_committed.back();
    auto it = m.manifests.find(flushed);
    if (flushed != UINT64_MAX && flushed > last && it != m.manifests.end()) {
      AtomicFile f;
      Status s = f.open(m.durable + "/" + manifest_name(flushed));
      if (s.is_ok()) s = f.write(it->second.data(), it->second.size());
      if (s.is_ok()) s = f.commit();
      if (s.is_ok()) {
        m.durable_committed.push_back(flushed);
        while (m.durable_committed.size() > size_t(m.o.keep)) {
          ::unlink((m.durable + "/" + manifest_name(m.durable_committed.front())).c_str());
          m.durable_committed.pop_front();
        }
      } else if (!quiet) {
        std::fprintf(stderr, "ckpt: cannot commit generation %llu on the durable level: %s\n",
                     (unsigned long long)flushed, s.message());
      }
    }
    // Texts still needed: generations kept on the fast level, or being
    // flushed (at most a few dozen when the durable level lags).
    uint64_t oldest = m.committed.empty() ? 0 : m.committed.front();
    if (flushed != UINT64_MAX) oldest = std::min(oldest, flushed);
    while (!m.manifests.empty() && (m.manifests.begin()->first < oldest || m.manifests.size() > 64))
      m.manifests.erase(m.manifests.begin());
    newest = m.durable_committed.empty() ? 0 : m.durable_committed.front();
  }
  // Everything older than the oldest durable generation kept can go.
  MPI_Bcast(&newest, 1, MPI_UINT64_T, 0, m.comm);
  if (newest == 0) return;
  std::lock_guard lk(m.mu);
  for (uint64_t g : list_images(m.durable_rank_dir))
    if (g < newest && g != m.flush_busy)
      ::unlink((m.durable_rank_dir + "/" + image_name(g)).c_str());
}

static void prune_fast(Checkpointer::Impl& m, uint64_t newest) {
  std::set<uint64_t> keep(m.committed.begin(), m.committed.end());
  std::lock_guard lk(m.mu);
  auto sweep = [&](const std::string& dir) {
    for (uint64_t g : list_images(dir))
      if (g < newest && !keep.count(g) && g != m.flush_busy && g != m.flush_want)
        ::unlink((dir + "/" + image_name(g)).c_str());
    for (uint64_t g : list_images(dir, ".xor"))
      if (g < newest && !keep.count(g)) ::unlink((dir + "/" + parity_name(g)).c_str());
  };
  sweep(m.own_dir);
  sweep(m.partner_dir);
  if (m.leader)
    for (uint64_t g : list_manifests(m.fast_node))
      if (g < newest && !keep.count(g)) ::unlink((m.fast_node + "/" + manifest_name(g)).c_str());
}

static Report my_report(Checkpointer::Impl& m) {
  Report rep;
  std::lock_guard lk(m.mu);
  rep.flushed = m.flushed;
  if (m.flush_failed) {
    rep.flush_failed = 1;
    set_msg(rep.flush_msg, m.flush_msg.c_str());
    m.flush_failed = false;
  }
  return rep;
}

Status Checkpointer::checkpoint() {
  Impl& m = *impl_;
  if (!m.started) CKPT_RETURN_IF_ERROR(start());
  m.finished = false;
  uint64_t g = m.next_gen++;

  // 1. My image on the fast level, 2. its copy on my partner's node.
  ::unlink(m.own_path(g).c_str());  // a leftover of an uncommitted attempt
  int64_t t0 = mono_ns();
  Status mine = lib::Hooks::write_state(state_, m.own_path(g), g);
  int64_t t1 = mono_ns();
  Report rep = my_report(m);
  Status partner;
  Status sent;
  if (m.use_xor) {
    // My image's checksum, then my set's parity.
    sent = mine;
    if (sent.is_ok()) sent = hash_file(m.own_path(g), &rep.size, &rep.hash);
    int n = 1;
    MPI_Comm_size(m.xset, &n);
    if (n > 1) {
      ::unlink(m.parity_path(g).c_str());
      partner = xor_encode(m.xset, m.own_path(g), sent.is_ok() ? rep.size : 0, m.parity_path(g),
                           &rep.parity_size, &rep.parity_hash);
    }
  } else {
    sent = exchange_copies(m, g, mine, &rep.size, &rep.hash, &partner);
  }
  int64_t t2 = mono_ns();
  if (!sent.is_ok()) {
    rep.ok = 0;
    set_msg(rep.msg, sent.message());
  } else if (!partner.is_ok()) {
    rep.ok = 0;
    char b[kMsg];
    if (m.use_xor) std::snprintf(b, sizeof b, "%s", partner.message());
    else std::snprintf(b, sizeof b, "partner copy of rank %d: %s", m.from, partner.message());
    set_msg(rep.msg, b);
  }

  // 3. Rank 0 gathers every rank's size and checksum and decides.
  std::vector<Report> all(rank_ == 0 ? size_t(size_) : 0);
  MPI_Gather(&rep, int(sizeof rep), MPI_BYTE, all.data(), int(sizeof rep), MPI_BYTE, 0, m.comm);
  std::string text;
  int verdict = 1;
  if (rank_ == 0) {
    Manifest man;
    man.generation = g;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    man.created_ns = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
    for (int r = 0; r < size_ && verdict; r++) {
      if (!all[size_t(r)].ok) {
        verdict = 0;
        char b[400];
        std::snprintf(b, sizeof b, "generation %llu not committed: rank %d: %s",
                      (unsigned long long)g, r, all[size_t(r)].msg);
        text = b;
      }
      man.ranks.push_back({all[size_t(r)].size, all[size_t(r)].hash});
      if (m.use_xor)
        man.parity.push_back(
            {m.set_of[size_t(r)], all[size_t(r)].parity_size, all[size_t(r)].parity_hash});
    }
    if (verdict) text = encode_manifest(man);
  }
  long long len = (long long)text.size();
  MPI_Bcast(&verdict, 1, MPI_INT, 0, m.comm);
  MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, m.comm);
  text.resize(size_t(len));
  MPI_Bcast(text.data(), int(len), MPI_CHAR, 0, m.comm);

  // 4. The commit: one manifest on every node (any one of them is enough).
  Status s;
  if (verdict) {
    int wrote = 0;
    if (m.leader) {
      AtomicFile f;
      Status w = f.open(m.fast_node + "/" + manifest_name(g));
      if (w.is_ok()) w = f.write(text.data(), text.size());
      if (w.is_ok()) w = f.commit();
      wrote = w.is_ok();
    }
    MPI_Allreduce(MPI_IN_PLACE, &wrote, 1, MPI_INT, MPI_MAX, m.comm);
    if (!wrote) {
      verdict = 0;
      s = Status::make(Code::kIo, 0,
                       "generation %llu not committed: no node could write its manifest",
                       (unsigned long long)g);
    }
  } else {
    Code c = Code::kIo;
    if (!mine.is_ok()) c = mine.code();
    s = Status::make(c, 0, "%s", text.c_str());
  }
  if (!verdict) {
    ::unlink(m.own_path(g).c_str());
    ::unlink(m.parity_path(g).c_str());
    ::unlink(m.partner_path(m.from, g).c_str());
  } else {
    if (rank_ == 0) m.manifests[g] = text;
    m.committed.push_back(g);
    while (m.committed.size() > size_t(m.o.keep)) m.committed.pop_front();
    prune_fast(m, g);
    generation_ = g;
    if (m.o.flush_every > 0 && g % uint64_t(m.o.flush_every) == 0) {
      std::lock_guard lk(m.mu);
      m.flush_want = g;  // a newer one replaces one not started yet
    }
    m.cv.notify_all();
  }
  if (m.timing)
    std::fprintf(
        stderr,
        "ckpt: rank %d generation %llu: own image %.3f s, partner copy %.3f s, commit %.3f s\n",
        rank_, (unsigned long long)g, double(t1 - t0) * 1e-9, double(t2 - t1) * 1e-9,
        double(mono_ns() - t2) * 1e-9);
  // 5. The durable level: what the reports say has been copied.
  commit_durable(m, rank_, size_, all, m.o.serial.quiet);
  // The triggers that asked for it are spent (a stop stays: agree_slow).
  (void)lib::Hooks::rearm(state_);
  if (!s.is_ok() && rank_ == 0 && !m.o.serial.quiet)
    std::fprintf(stderr, "ckpt: %s\n", s.message());
  return last_ = s;
}

Status Checkpointer::finish() {
  Impl& m = *impl_;
  if (!m.started || m.finished) return Status::ok();
  if (m.req != MPI_REQUEST_NULL) MPI_Wait(&m.req, MPI_STATUS_IGNORE);
  m.wait_flush();
  Report rep = my_report(m);
  std::vector<Report> all(rank_ == 0 ? size_t(size_) : 0);
  MPI_Gather(&rep, int(sizeof rep), MPI_BYTE, all.data(), int(sizeof rep), MPI_BYTE, 0, m.comm);
  commit_durable(m, rank_, size_, all, m.o.serial.quiet);
  m.finished = true;
  return Status::ok();
}

// Every `period` calls all ranks read the allreduce started one period
// before (so it has usually completed meanwhile) and start the next one.
bool Checkpointer::agree_slow() {
  Impl& m = *impl_;
  if (!m.started && !start().is_ok()) {
    next_agree_ = UINT64_MAX;
    return false;
  }
  bool have = m.req != MPI_REQUEST_NULL;
  if (have) MPI_Wait(&m.req, MPI_STATUS_IGNORE);
  bool due = have && m.recv[0] != 0;
  bool stop = have && m.recv[1] != 0;
  bool deadline = have && m.recv[3] != 0;
  uint64_t period = have ? uint64_t(-int64_t(m.recv[2])) : 1;
  bool did = false;
  if (due) {
    Status s = checkpoint();  // rank 0 reports a failure
    did = s.is_ok();
    // A deadline seen by one rank is spent for all: the ranks that have not
    // reached it yet would otherwise ask for a second checkpoint.
    if (deadline) lib::Hooks::spend_deadline(state_);
    if (stop) {
      if (s.is_ok()) {
        (void)finish();
        if (rank_ == 0 && !m.o.serial.quiet)
          std::fprintf(stderr,
                       "ckpt: saved generation %llu of %d ranks; stopping (exit status %d)\n",
                       (unsigned long long)generation_, size_, m.o.serial.stop_exit_status);
        MPI_Finalize();
        std::exit(m.o.serial.stop_exit_status);
      }
      if (rank_ == 0 && !m.o.serial.quiet)
        std::fprintf(stderr, "ckpt: checkpoint failed, stopping without it: %s\n", s.message());
      MPI_Abort(m.comm, 128 + SIGTERM);
    }
  }
  // Propose the next period: as many calls as fit in agree_seconds here.
  int64_t now = mono_ns();
  uint64_t calls = calls_ - m.posted_calls;
  int64_t took = std::max<int64_t>(now - m.posted_ns, 1);
  double want = m.o.agree_seconds * 1e9 * double(calls) / double(took);
  int propose = int(std::clamp(want, 1.0, double(1 << 24)));
  if (!have) propose = 1;
  m.send[0] = state_.due() || lib::stop_requested() ? 1 : 0;
  m.send[1] = lib::stop_requested() ? 1 : 0;
  m.send[2] = -propose;  // MAX of the negation: the smallest proposal wins
  m.send[3] = lib::Hooks::deadline_reached(state_) ? 1 : 0;
  m.posted_ns = now;
  m.posted_calls = calls_;
  MPI_Iallreduce(m.send, m.recv, 4, MPI_INT, MPI_MAX, m.agree, &m.req);
  next_agree_ = calls_ + std::max<uint64_t>(period, 1);
  return did;
}

namespace {

// Where each rank's image for generation g comes from.
enum Source : int { kNone = 0, kFast = 1, kPartner = 2, kDurable = 3 };

}  // namespace

Status Checkpointer::restore(RestoreInfo* info) {
  RestoreInfo local;
  RestoreInfo& out = info ? *info : local;
  out = RestoreInfo();
  CKPT_RETURN_IF_ERROR(start());
  Impl& m = *impl_;
  bool quiet = m.o.serial.quiet;

  // What each rank sees: manifests on its node and (rank 0) the durable level.
  constexpr int kSlots = 16;
  std::vector<uint64_t> seen;
  uint64_t max_seen = 0;
  auto look = [&](const std::string& dir, bool report) {
    for (uint64_t g : list_manifests(dir)) {
      max_seen = std::max(max_seen, g);
      std::string text;
      Manifest man;
      std::string path = dir + "/" + manifest_name(g);
      Status s = read_small(path, &text);
      if (s.is_ok()) s = decode_manifest(text, path, &man);
      if (s.is_ok() && man.generation != g)
        s = Status::make(Code::kCorrupt, 0, "%s: damaged manifest (wrong generation)",
                         path.c_str());
      if (s.is_ok()) seen.push_back(g);
      else if (report && !quiet) std::fprintf(stderr, "ckpt: %s; ignored\n", s.message());
    }
  };
  look(m.fast_node, m.leader);
  if (rank_ == 0) {
    look(m.durable, true);
    for (uint64_t g : list_manifests(m.durable))
      if (std::find(seen.begin(), seen.end(), g) != seen.end()) m.durable_committed.push_back(g);
  }
  for (const std::string& d : {m.own_dir, m.partner_dir, m.durable_rank_dir})
    for (uint64_t g : list_images(d)) max_seen = std::max(max_seen, g);
  std::sort(seen.rbegin(), seen.rend());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  seen.resize(kSlots, 0);
  std::vector<uint64_t> table(size_t(size_) * kSlots);
  MPI_Allgather(seen.data(), kSlots, MPI_UINT64_T, table.data(), kSlots, MPI_UINT64_T, m.comm);
  MPI_Allreduce(MPI_IN_PLACE, &max_seen, 1, MPI_UINT64_T, MPI_MAX, m.comm);
  m.next_gen = max_seen + 1;
  std::set<uint64_t, std::greater<uint64_t>> candidates;
  for (uint64_t g : table)
    if (g) candidates.insert(g);

  std::string first_problem;
  for (uint64_t g : candidates) {
    int owner = INT_MAX;
    for (int r = 0; r < size_ && owner == INT_MAX; r++)
      for (int i = 0; i < kSlots; i++)
        if (table[size_t(r) * kSlots + size_t(i)] == g) owner = r;
    std::string text;
    if (rank_ == owner) {
      // The node's copy if valid, else the durable one (rank 0).
      Manifest tmp;
      std::string p = m.fast_node + "/" + manifest_name(g);
      if (!read_small(p, &text).is_ok() || !decode_manifest(text, p, &tmp).is_ok())
        (void)read_small(m.durable + "/" + manifest_name(g), &text);
    }
    long long len = (long long)text.size();
    MPI_Bcast(&len, 1, MPI_LONG_LONG, owner, m.comm);
    text.resize(size_t(len));
    MPI_Bcast(text.data(), int(len), MPI_CHAR, owner, m.comm);
    Manifest man;
    Status s = decode_manifest(text, "manifest", &man);
    if (!s.is_ok()) continue;  // cannot happen: the owner checked it
    if (man.ranks.size() != size_t(size_))
      return last_ = Status::make(
                 Code::kMismatch, 0,
                 "generation %llu in %s was written by %zu ranks, this job has %d: run it with %zu "
                 "ranks (or use another directory to start afresh)",
                 (unsigned long long)g, m.o.dir.c_str(), man.ranks.size(), size_, man.ranks.size());

    // Which copies are sound: node leaders check every image (and, with
    // XOR sets, every parity block) on their node. Bit 1: an image, 2: a
    // parity block.
    bool x = !man.parity.empty();
    std::vector<int> held(size_t(size_), 0), all_held(size_t(size_) * size_t(size_));
    std::vector<std::string> held_path(static_cast<size_t>(size_)),
        held_parity(static_cast<size_t>(size_));
    auto sound_as = [&](const std::string& path, uint64_t want_size, uint64_t want_hash) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || uint64_t(st.st_size) != want_size) return false;
      uint64_t sz, h;
      return hash_file(path, &sz, &h).is_ok() && sz == want_size && h == want_hash;
    };
    auto sound = [&](const std::string& path, int r) {
      return sound_as(path, man.ranks[size_t(r)].size, man.ranks[size_t(r)].hash);
    };
    if (m.leader) {
      for (int r = 0; r < size_; r++) {
        std::string dir = m.fast_node + "/" + rank_name("rank", r) + "/";
        std::string own = dir + image_name(g);
        if (sound(own, r)) {
          held[size_t(r)] |= 1;
          held_path[size_t(r)] = own;
        } else if (!x && sound(m.partner_path(r, g), r)) {
          held[size_t(r)] |= 1;
          held_path[size_t(r)] = m.partner_path(r, g);
        }
        if (x && man.parity[size_t(r)].size > 0 &&
            sound_as(dir + parity_name(g), man.parity[size_t(r)].size,
                     man.parity[size_t(r)].hash)) {
          held[size_t(r)] |= 2;
          held_parity[size_t(r)] = dir + parity_name(g);
        }
      }
    }
    MPI_Allgather(held.data(), size_, MPI_INT, all_held.data(), size_, MPI_INT, m.comm);
    // Per rank r and bit: its own node if it holds a copy, else the first
    // node that does (-1: none).
    auto holders = [&](int bit) {
      std::vector<int> holder(size_t(size_), -1);
      for (int r = 0; r < size_; r++) {
        for (int h = 0; h < size_; h++) {
          if (!(all_held[size_t(h) * size_t(size_) + size_t(r)] & bit)) continue;
          if (m.node_of[size_t(h)] == m.node_of[size_t(r)]) {
            holder[size_t(r)] = r;
            break;
          }
          if (holder[size_t(r)] < 0) holder[size_t(r)] = h;
        }
      }
      return holder;
    };
    std::vector<int> holder = holders(1), pholder = x ? holders(2) : std::vector<int>();

    // XOR sets: one lost image per set is rebuilt from the others' images
    // and parity blocks; more, or a missing block, is left to the durable
    // level.
    std::vector<int> by_xor(size_t(size_), 0);
    if (x) {
      std::map<int, std::vector<int>> sets;
      for (int r = 0; r < size_; r++) sets[man.parity[size_t(r)].set].push_back(r);
      for (auto& [id, members] : sets) {
        std::vector<int> lost;
        for (int r : members)
          if (holder[size_t(r)] < 0) lost.push_back(r);
        if (lost.empty()) continue;
        std::string why;
        if (lost.size() > 1) {
          why = "ranks";
          for (int r : lost) why += " " + std::to_string(r);
          why += " of one XOR set all lost their images (a set rebuilds one)";
        } else if (members.size() < 2) {
          why = "rank " + std::to_string(lost[0]) + " lost its image and is alone in its XOR set";
        } else {
          for (int r : members)
            if (r != lost[0] && (holder[size_t(r)] < 0 || pholder[size_t(r)] < 0) && why.empty())
              why = "rank " + std::to_string(lost[0]) +
                    " lost its image and the XOR block of rank " + std::to_string(r) +
                    " is missing or damaged";
        }
        if (why.empty()) by_xor[size_t(lost[0])] = 1;
        else if (rank_ == 0 && !quiet)
          std::fprintf(stderr, "ckpt: generation %llu: %s; taking them from the durable level\n",
                       (unsigned long long)g, why.c_str());
      }
    }
    int durable_ok = 0;
    if (holder[size_t(rank_)] < 0 && !by_xor[size_t(rank_)])
      durable_ok = sound(m.durable_path(rank_, g), rank_);
    std::vector<int> dur(static_cast<size_t>(size_));
    MPI_Allgather(&durable_ok, 1, MPI_INT, dur.data(), 1, MPI_INT, m.comm);
    int missing = -1;
    for (int r = 0; r < size_ && missing < 0; r++)
      if (holder[size_t(r)] < 0 && !by_xor[size_t(r)] && !dur[size_t(r)]) missing = r;
    if (missing >= 0) {
      char b[300];
      std::snprintf(b, sizeof b,
                    "generation %llu is not complete: rank %d has no sound copy (own, %s or "
                    "durable)",
                    (unsigned long long)g, missing, x ? "XOR set" : "partner");
      if (first_problem.empty()) first_problem = b;
      if (rank_ == 0 && !quiet) std::fprintf(stderr, "ckpt: %s; trying an older one\n", b);
      continue;
    }

    // A file held on another node is sent to its rank's own directory.
    Status moved;
    auto transfer = [&](int h, int r, const std::string& src, const std::string& dst, uint64_t size,
                        uint64_t hash, const char* what) {
      if (rank_ == h) {
        int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
        std::vector<char> buf(kChunk);
        uint64_t left = size, off = 0;
        while (left > 0) {
          size_t n = size_t(std::min<uint64_t>(kChunk, left));
          ssize_t rd = fd >= 0 ? ::pread(fd, buf.data(), n, off_t(off)) : -1;
          if (rd != ssize_t(n)) std::memset(buf.data(), 0, n);  // caught by the receiver's checksum
          MPI_Send(buf.data(), int(n), MPI_BYTE, r, kTagRebuild, m.comm);
          left -= n;
          off += n;
        }
        if (fd >= 0) ::close(fd);
      } else if (rank_ == r) {
        struct stat st;
        if (::stat(dst.c_str(), &st) == 0) ::rename(dst.c_str(), (dst + ".damaged").c_str());
        AtomicFile f;
        Status w = f.open(dst);
        std::vector<char> buf(kChunk);
        uint64_t left = size;
        XXH3_state_t* hs = XXH3_createState();
        XXH3_64bits_reset(hs);
        while (left > 0) {
          size_t n = size_t(std::min<uint64_t>(kChunk, left));
          MPI_Recv(buf.data(), int(n), MPI_BYTE, h, kTagRebuild, m.comm, MPI_STATUS_IGNORE);
          XXH3_64bits_update(hs, buf.data(), n);
          if (w.is_ok()) w = f.write(buf.data(), n);
          left -= n;
        }
        if (XXH3_64bits_digest(hs) != hash && w.is_ok())
          w = Status::make(Code::kCorrupt, 0, "the %s of rank %d changed while it was sent", what,
                           r);
        XXH3_freeState(hs);
        if (w.is_ok()) w = f.commit();
        if (moved.is_ok()) moved = w;
      }
    };
    int rebuilt = 0;
    for (int r = 0; r < size_; r++) {
      int h = holder[size_t(r)];
      if (h < 0 || h == r) continue;
      rebuilt++;
      transfer(h, r, held_path[size_t(r)], m.own_path(g), man.ranks[size_t(r)].size,
               man.ranks[size_t(r)].hash, x ? "image" : "partner copy");
    }
    // The XOR rebuild: the members of a set with a lost image, each with its
    // own image and parity block in its own directory.
    int from_xor = 0;
    if (x) {
      std::set<int> rebuilding;
      for (int r = 0; r < size_; r++)
        if (by_xor[size_t(r)]) rebuilding.insert(man.parity[size_t(r)].set);
      from_xor = int(std::count(by_xor.begin(), by_xor.end(), 1));
      for (int r = 0; r < size_; r++) {
        int h = pholder[size_t(r)];
        if (!rebuilding.count(man.parity[size_t(r)].set) || h < 0 || h == r) continue;
        transfer(h, r, held_parity[size_t(r)], m.parity_path(g), man.parity[size_t(r)].size,
                 man.parity[size_t(r)].hash, "XOR block");
      }
      int mine = man.parity[size_t(rank_)].set;
      MPI_Comm set_comm;
      MPI_Comm_split(m.comm, rebuilding.count(mine) ? mine : MPI_UNDEFINED, rank_, &set_comm);
      if (set_comm != MPI_COMM_NULL) {
        std::vector<uint64_t> sizes;
        int lost = -1;
        for (int r = 0; r < size_; r++) {
          if (man.parity[size_t(r)].set != mine) continue;
          if (by_xor[size_t(r)]) lost = int(sizes.size());
          sizes.push_back(man.ranks[size_t(r)].size);
        }
        // An image of mine that is there but damaged makes way for the rebuilt one.
        std::string own = m.own_path(g);
        struct stat st;
        if (by_xor[size_t(rank_)] && ::stat(own.c_str(), &st) == 0)
          ::rename(own.c_str(), (own + ".damaged").c_str());
        Status w = xor_rebuild(set_comm, lost, sizes, own, m.parity_path(g), own,
                               man.ranks[size_t(rank_)].hash);
        if (by_xor[size_t(rank_)] && moved.is_ok()) moved = w;
        MPI_Comm_free(&set_comm);
      }
    }
    int from_durable = 0;
    for (int r = 0; r < size_; r++) from_durable += holder[size_t(r)] < 0 && !by_xor[size_t(r)];

    std::string path;
    int h = holder[size_t(rank_)];
    if (by_xor[size_t(rank_)]) {
      path = m.own_path(g);
      out.source = "xor";
    } else if (h < 0) {
      path = m.durable_path(rank_, g);
      out.source = "durable";
    } else {
      // Either my own directory or a partner copy on my node: the leader
      // checked it. A copy from another node is now in my own directory.
      std::string own = m.own_path(g),
                  partner = m.fast_node + "/" + rank_name("partner", rank_) + "/" + image_name(g);
      struct stat st;
      if (h != rank_) {
        path = own;
        out.source = x ? "fast" : "partner";
      } else if (::stat(own.c_str(), &st) == 0 && sound(own, rank_)) {
        path = own;
        out.source = "fast";
      } else {
        path = partner;
        out.source = "partner";
      }
    }
    s = moved;
    if (s.is_ok()) s = lib::Hooks::load_state(state_, path);
    s = agree_status(m.comm, rank_, size_, s);
    if (!s.is_ok()) return last_ = s;
    out.restored = true;
    out.generation = g;
    out.ranks_from_partner = x ? 0 : rebuilt;
    out.ranks_from_xor = from_xor;
    out.ranks_from_durable = from_durable;
    generation_ = g;
    m.committed = {g};
    if (rank_ == 0) m.manifests[g] = text;
    // A generation restored but not on the fast level is put back there at
    // the next checkpoint; nothing else to do.
    if (rank_ == 0 && !quiet) {
      if (x)
        std::fprintf(stderr,
                     "ckpt: restored generation %llu of %d ranks (%d rebuilt from XOR sets, %d "
                     "from the durable level)\n",
                     (unsigned long long)g, size_, from_xor, from_durable);
      else
        std::fprintf(stderr,
                     "ckpt: restored generation %llu of %d ranks (%d from partner copies, %d from "
                     "the durable level)\n",
                     (unsigned long long)g, size_, rebuilt, from_durable);
    }
    return last_ = Status::ok();
  }
  if (!candidates.empty())
    return last_ = Status::make(Code::kCorrupt, 0, "no complete generation to restore in %s: %s",
                                m.o.dir.c_str(), first_problem.c_str());
  return last_ = Status::ok();
}

}  // namespace ckpt::mpi
