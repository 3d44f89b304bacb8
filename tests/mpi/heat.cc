// The MPI test program: the heat equation on a 2-D grid split over a 2-D
// grid of ranks, with halo exchange, checkpointed with libckpt's MPI mode.
//
//   heat --n 64 --steps 200 --out FILE [--every K] [--sleep-ms MS]
//        [--kill-rank R --kill-at S]        SIGKILL rank R after step S
//        [--kill-in-checkpoint G]           SIGKILL rank --kill-rank while it writes generation G
//        [--events DIR]                     each rank appends "checkpoint STEP GEN" to DIR/events-R
//        [--pids DIR]                       each rank writes its pid to DIR/pid-R
//        [--deadline-in S --skew-ms MS]     a deadline S s ahead, seen MS ms later per rank
//        [--break-durable-at S]             rank 0 makes rank 1's durable directory unreachable
//        [--fsize BYTES]                    a file size limit (a full node-local disk)
//        [--no-init]                        restore() before MPI_Init
//        [--ballast MIB]                    each rank also registers MIB of data (a bigger image)
//        [--times FILE]                     rank 0 appends "started NS" after MPI_Init and
//                                           "restored GEN NS" after restore() (wall clock)
//
// Rank 0 writes the final grid (every rank's block in rank order) to FILE.
// Exit status: 0 done, 85 stopped after a checkpoint, 1 a ckpt error (its
// line on stderr), 2 bad arguments.
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <ckpt/mpi.hpp>

namespace {

struct Args {
  int n = 64, steps = 200, every = 0, sleep_ms = 0;
  int kill_rank = -1, kill_at = -1;
  long kill_in_checkpoint = -1;
  int break_durable_at = -1;
  long fsize = -1;
  int ballast_mib = 0;
  double deadline_in = 0, skew_ms = 0;
  bool no_init = false;
  std::string out, events, pids, times;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "heat: %s needs a value\n", k.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (k == "--n") a.n = atoi(next());
    else if (k == "--steps") a.steps = atoi(next());
    else if (k == "--every") a.every = atoi(next());
    else if (k == "--sleep-ms") a.sleep_ms = atoi(next());
    else if (k == "--kill-rank") a.kill_rank = atoi(next());
    else if (k == "--kill-at") a.kill_at = atoi(next());
    else if (k == "--kill-in-checkpoint") a.kill_in_checkpoint = atol(next());
    else if (k == "--break-durable-at") a.break_durable_at = atoi(next());
    else if (k == "--deadline-in") a.deadline_in = atof(next());
    else if (k == "--skew-ms") a.skew_ms = atof(next());
    else if (k == "--out") a.out = next();
    else if (k == "--events") a.events = next();
    else if (k == "--times") a.times = next();
    else if (k == "--ballast") a.ballast_mib = atoi(next());
    else if (k == "--pids") a.pids = next();
    else if (k == "--fsize") a.fsize = atol(next());
    else if (k == "--no-init") a.no_init = true;
    else {
      fprintf(stderr, "heat: unknown argument %s\n", k.c_str());
      exit(2);
    }
  }
  return a;
}

long long wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void append(const std::string& path, const std::string& line) {
  FILE* f = fopen(path.c_str(), "a");
  if (!f) return;
  fputs(line.c_str(), f);
  fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  if (a.no_init) {
    ckpt::mpi::Checkpointer ck(MPI_COMM_WORLD);
    ckpt::Status s = ck.restore();
    fprintf(stderr, "ckpt: %s\n", s.message());
    return s.is_ok() ? 0 : 1;
  }
  MPI_Init(&argc, &argv);
  long long started_ns = wall_ns();
  if (a.fsize >= 0) {  // after MPI_Init: its own shared memory files are made
    signal(SIGXFSZ, SIG_IGN);
    rlimit rl = {rlim_t(a.fsize), rlim_t(a.fsize)};
    setrlimit(RLIMIT_FSIZE, &rl);
  }
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int dims[2] = {0, 0}, periods[2] = {0, 0};
  MPI_Dims_create(size, 2, dims);
  MPI_Comm cart;
  MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
  int coords[2];
  MPI_Cart_coords(cart, rank, 2, coords);
  if (a.n % dims[0] || a.n % dims[1]) {
    if (rank == 0)
      fprintf(stderr, "heat: --n %d is not divisible by the %dx%d ranks\n", a.n, dims[0], dims[1]);
    MPI_Finalize();
    return 2;
  }
  const int rows = a.n / dims[0], cols = a.n / dims[1], w = cols + 2;
  int up, down, left, right;
  MPI_Cart_shift(cart, 0, 1, &up, &down);
  MPI_Cart_shift(cart, 1, 1, &left, &right);

  // Local block with a one-cell halo; a deterministic start.
  std::vector<double> u(size_t(rows + 2) * size_t(w), 0.0), v(u.size(), 0.0);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      int gi = coords[0] * rows + i, gj = coords[1] * cols + j;
      u[size_t(i + 1) * w + size_t(j + 1)] = double((gi * 7919 + gj * 104729) % 1000) / 10.0;
    }
  long step = 0;

  ckpt::mpi::Options o = ckpt::mpi::options_from_env();
  if (a.deadline_in > 0) {
    // Every rank the same deadline, but seen skew_ms later per rank.
    long long d = (long long)time(nullptr) + (long long)a.deadline_in + 2;
    MPI_Bcast(&d, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    o.serial.deadline_unix = d;
    o.serial.deadline_margin_seconds = 2 - a.skew_ms * rank / 1000.0;
  }
  ckpt::mpi::Checkpointer ck(MPI_COMM_WORLD, o);
  (void)ck.add("step", step);
  (void)ck.add("u", u);
  // Data that changes with the step, so that every generation differs.
  std::vector<uint64_t> ballast(size_t(a.ballast_mib) << 17);
  for (size_t i = 0; i < ballast.size(); i++)
    ballast[i] = (i + 1) * 0x9E3779B97F4A7C15ull ^ uint64_t(rank);
  if (!ballast.empty()) (void)ck.add_buffer("ballast", ballast.data(), ballast.size() * 8);
  (void)ck.add_callbacks(
      "probe",
      [&](ckpt::Writer&) -> ckpt::Status {
        if (rank == a.kill_rank && a.kill_in_checkpoint > 0 &&
            long(ck.generation()) + 1 == a.kill_in_checkpoint)
          raise(SIGKILL);
        return ckpt::Status::ok();
      },
      [](ckpt::Reader&) { return ckpt::Status::ok(); });
  ckpt::mpi::RestoreInfo info;
  ckpt::Status s = ck.restore(&info);
  if (!s.is_ok()) {
    if (rank == 0) fprintf(stderr, "ckpt: %s\n", s.message());
    MPI_Finalize();
    return 1;
  }
  if (!a.pids.empty())
    append(a.pids + "/pid-" + std::to_string(rank), std::to_string(getpid()) + "\n");
  if (rank == 0 && !a.times.empty())
    append(a.times, "started " + std::to_string(started_ns) + "\nrestored " +
                        std::to_string(info.generation) + " " + std::to_string(wall_ns()) + "\n");
  if (rank == 0 && info.restored)
    printf("resumed at step %ld from generation %llu (%s)\n", step,
           (unsigned long long)info.generation, info.source.c_str());

  MPI_Datatype column;
  MPI_Type_vector(rows, 1, w, MPI_DOUBLE, &column);
  MPI_Type_commit(&column);
  for (; step < a.steps;) {
    // Halos: rows up and down, columns left and right.
    MPI_Sendrecv(&u[size_t(w) + 1], cols, MPI_DOUBLE, up, 0, &u[size_t(rows + 1) * w + 1], cols,
                 MPI_DOUBLE, down, 0, cart, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u[size_t(rows) * w + 1], cols, MPI_DOUBLE, down, 1, &u[1], cols, MPI_DOUBLE, up,
                 1, cart, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u[size_t(w) + 1], 1, column, left, 2, &u[size_t(w) + size_t(cols) + 1], 1, column,
                 right, 2, cart, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u[size_t(w) + size_t(cols)], 1, column, right, 3, &u[size_t(w)], 1, column, left,
                 3, cart, MPI_STATUS_IGNORE);
    for (int i = 1; i <= rows; i++)
      for (int j = 1; j <= cols; j++) {
        size_t c = size_t(i) * w + size_t(j);
        v[c] = u[c] + 0.1 * (u[c - w] + u[c + w] + u[c - 1] + u[c + 1] - 4 * u[c]);
      }
    u.swap(v);
    step++;
    for (size_t i = 0; i < ballast.size(); i += 512)
      ballast[i] = ballast[i] * 31 + uint64_t(step + rank);
    if (a.sleep_ms) usleep(useconds_t(a.sleep_ms) * 1000);
    if (rank == a.kill_rank && step == a.kill_at) raise(SIGKILL);
    if (rank == 0 && step == a.break_durable_at) {
      std::string d = o.dir.empty() ? "ckpt.d" : o.dir;
      std::string victim = d + "/rank-00001";
      rename(victim.c_str(), (victim + ".away").c_str());
      FILE* f = fopen(victim.c_str(), "w");  // a file where the directory was
      if (f) fclose(f);
    }
    bool did;
    if (a.every > 0 && step % a.every == 0) {
      s = ck.checkpoint();
      did = s.is_ok();
    } else {
      did = ck.checkpoint_if_due();
    }
    if (did && !a.events.empty())
      append(a.events + "/events-" + std::to_string(rank),
             "checkpoint " + std::to_string(step) + " " + std::to_string(ck.generation()) + "\n");
  }
  MPI_Type_free(&column);

  // Every rank's block (without halos), in rank order, to rank 0's file.
  std::vector<double> block(size_t(rows) * size_t(cols));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++)
      block[size_t(i) * cols + size_t(j)] = u[size_t(i + 1) * w + size_t(j + 1)];
  std::vector<double> all(rank == 0 ? block.size() * size_t(size) : 0);
  MPI_Gather(block.data(), int(block.size()), MPI_DOUBLE, all.data(), int(block.size()), MPI_DOUBLE,
             0, MPI_COMM_WORLD);
  if (rank == 0 && !a.out.empty()) {
    FILE* f = fopen(a.out.c_str(), "wb");
    if (!f || fwrite(all.data(), sizeof(double), all.size(), f) != all.size() || fclose(f) != 0) {
      fprintf(stderr, "heat: cannot write %s\n", a.out.c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  (void)ck.finish();
  MPI_Comm_free(&cart);
  MPI_Finalize();
  return 0;
}
