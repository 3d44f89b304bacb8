// ckpt run [--dir DIR] [--interval SECONDS] -- PROGRAM [ARGS...]
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "cli/command.h"
#include "cli/transparent.h"
#include "format/jobdir.h"

namespace ckpt::cli {

int parse_signal(const std::string& name) {
  if (name.empty() || name == "none") return 0;
  if (name[0] >= '0' && name[0] <= '9') {
    int n = std::atoi(name.c_str());
    return n > 0 && n < 65 ? n : -1;
  }
  std::string s = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int i = 1; i < 32; i++) {
    const char* abbrev = sigabbrev_np(i);
    if (abbrev && s == abbrev) return i;
  }
  return -1;
}

void add_supervise_options(CLI::App* sub, control::SuperviseOptions* o, SuperviseArgs* a) {
  add_dir_option(sub, &o->dir);
  sub->add_option("--interval", a->interval, "Checkpoint every SECONDS (0: never; default 0)")
      ->envname("CKPT_INTERVAL")
      ->type_name("SECONDS");
  sub->add_option("--keep", a->keep, "Keep the newest N complete images (default 2)")
      ->envname("CKPT_KEEP")
      ->type_name("N");
  sub->add_option("--full-every", a->full_every,
                  "Write a full image every N checkpoints and increments (the pages written "
                  "since the previous one) between; 1: every image full (default 8)")
      ->envname("CKPT_FULL_EVERY")
      ->type_name("N");
  sub->add_option("--compress,--zstd", a->compress,
                  "Compress images with zstd at this level, 1 to 19 (0: off, the default)")
      ->envname("CKPT_COMPRESS")
      ->type_name("LEVEL");
  sub->add_option("--signal", a->signal,
                  "Signal to ckpt that checkpoints and continues (default USR1; none: off)")
      ->envname("CKPT_SIGNAL")
      ->type_name("SIG");
  sub->add_option("--stop-signal", a->stop_signal,
                  "Signal to ckpt that checkpoints and stops, exit status 85 (default none)")
      ->envname("CKPT_STOP_SIGNAL")
      ->type_name("SIG");
  sub->add_flag("--quiet", o->quiet, "No progress display on a terminal")->envname("CKPT_QUIET");
  sub->add_option_function<std::string>(
         "--external", [o](const std::string& v) { o->refuse_external = v == "refuse"; },
         "A connection outside the job at a checkpoint: close (it comes back closed after a "
         "restart, with a warning; the default) or refuse (the checkpoint fails naming it)")
      ->check(CLI::IsMember({"close", "refuse"}))
      ->envname("CKPT_EXTERNAL")
      ->type_name("close|refuse");
}

bool resolve_supervise_options(const SuperviseArgs& a, control::SuperviseOptions* o) {
  if (!a.interval.empty()) {
    char* end = nullptr;
    double v = std::strtod(a.interval.c_str(), &end);
    if (*end != '\0' || !(v >= 0 && v <= 31536000)) {
      usage("--interval %s: give seconds, from 0 (never) to 31536000", a.interval.c_str());
      return false;
    }
    o->interval_s = v;
  }
  if (!a.keep.empty() && !parse_number("--keep", a.keep, 1, 1000, &o->keep)) return false;
  if (!a.full_every.empty() &&
      !parse_number("--full-every", a.full_every, 1, 1000000, &o->full_every))
    return false;
  if (!a.compress.empty() && !parse_number("--compress", a.compress, 0, 19, &o->zstd_level))
    return false;
  o->ckpt_signal = parse_signal(a.signal);
  o->stop_signal = parse_signal(a.stop_signal);
  for (const std::string* name : {&a.signal, &a.stop_signal})
    if (parse_signal(*name) < 0) {
      usage("unknown signal %s (give a name such as USR1, TERM, INT, or a number)", name->c_str());
      return false;
    }
  if (o->ckpt_signal > 0 && o->ckpt_signal == o->stop_signal) {
    usage("--signal and --stop-signal are both %s: give two different signals", a.signal.c_str());
    return false;
  }
  for (int sig : {o->ckpt_signal, o->stop_signal})
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) {
      usage("signal %d cannot be used to ask for a checkpoint", sig);
      return false;
    }
  return true;
}

// The MPI libraries `path` (an ELF executable) is linked with directly:
// its DT_NEEDED entries that name libmpi or libmpich. Empty for anything
// else (scripts, static programs, unreadable files).
static std::string mpi_library_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st;
  std::vector<char> f;
  if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (1 << 30)) {
    f.resize(size_t(st.st_size));
    if (pread(fd, f.data(), f.size(), 0) != ssize_t(f.size())) f.clear();
  }
  ::close(fd);
  if (f.size() < sizeof(Elf64_Ehdr) || memcmp(f.data(), ELFMAG, SELFMAG) != 0 ||
      f[EI_CLASS] != ELFCLASS64)
    return "";
  Elf64_Ehdr eh;
  memcpy(&eh, f.data(), sizeof eh);
  auto phdr = [&](int i, Elf64_Phdr* out) {
    uint64_t off = eh.e_phoff + uint64_t(i) * eh.e_phentsize;
    if (eh.e_phentsize < sizeof *out || off + sizeof *out > f.size()) return false;
    memcpy(out, f.data() + off, sizeof *out);
    return true;
  };
  auto file_offset = [&](uint64_t vaddr, uint64_t* off) {  // through the PT_LOADs
    Elf64_Phdr ph;
    for (int i = 0; i < eh.e_phnum && phdr(i, &ph); i++)
      if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
        *off = vaddr - ph.p_vaddr + ph.p_offset;
        return true;
      }
    return false;
  };
  Elf64_Phdr dyn{};
  bool found = false;
  for (int i = 0; i < eh.e_phnum && !found && phdr(i, &dyn); i++) found = dyn.p_type == PT_DYNAMIC;
  if (!found || dyn.p_offset + dyn.p_filesz > f.size()) return "";
  std::vector<uint64_t> needed;
  uint64_t strtab = 0;
  for (uint64_t o = dyn.p_offset; o + sizeof(Elf64_Dyn) <= dyn.p_offset + dyn.p_filesz;
       o += sizeof(Elf64_Dyn)) {
    Elf64_Dyn d;
    memcpy(&d, f.data() + o, sizeof d);
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_NEEDED) needed.push_back(d.d_un.d_val);
    if (d.d_tag == DT_STRTAB) strtab = d.d_un.d_ptr;
  }
  uint64_t base;
  if (!strtab || !file_offset(strtab, &base)) return "";
  for (uint64_t n : needed) {
    if (base + n >= f.size()) continue;
    std::string lib(f.data() + base + n, strnlen(f.data() + base + n, f.size() - base - n));
    if (lib.rfind("libmpi.so", 0) == 0 || lib.rfind("libmpich", 0) == 0 ||
        lib.rfind("libmpi_", 0) == 0)
      return lib;
  }
  return "";
}

// PROGRAM as execvp would find it.
static std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= p.size();) {
    size_t end = p.find(':', at);
    if (end == std::string::npos) end = p.size();
    std::string c = (end == at ? "." : p.substr(at, end - at)) + "/" + name;
    if (::access(c.c_str(), X_OK) == 0) return c;
    at = end + 1;
  }
  return name;
}

// Transparent checkpointing sees one process; the ranks of an MPI job and
// the messages between them would not come back together. One line that
// says so and points to libckpt's MPI mode, or "" when PROGRAM is not MPI.
std::string mpi_refusal(const std::vector<std::string>& argv) {
  if (argv.empty()) return "";
  std::string lib = mpi_library_of(find_program(argv[0]));
  const char* launched = nullptr;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    const char* n = std::getenv(v);
    if (n && std::atoi(n) > 1) launched = v;
  }
  if (lib.empty() && !launched) return "";
  std::string why = !lib.empty() ? "is linked with " + lib
                                 : std::string("runs as one rank of an MPI job (") + launched + ")";
  return argv[0] + " " + why +
         ": ckpt run cannot checkpoint MPI programs transparently; use libckpt's MPI mode "
         "(ckpt::mpi, "
         "docs/mpi.md) and ckpt sbatch --app --ntasks=N";
}

static int supervise_fresh(control::SuperviseOptions o, const std::vector<std::string>& argv) {
  control::Supervisor sup(o);
  Status s = sup.open_job();
  if (!s.is_ok()) return fail("%s", s.message());
  s = sup.launch(argv);
  if (!s.is_ok()) return fail("%s", s.message());
  return sup.run();
}

std::function<int()> setup_run(CLI::App* sub) {
  auto o = std::make_shared<control::SuperviseOptions>();
  auto a = std::make_shared<SuperviseArgs>();
  auto argv = std::make_shared<std::vector<std::string>>();
  auto fresh = std::make_shared<bool>(false);
  add_supervise_options(sub, o.get(), a.get());
  sub->add_flag("--fresh", *fresh, "Start over even if DIR holds a resumable run");
  sub->add_option("PROGRAM", *argv, "The program and its arguments (after --)")
      ->required()
      ->type_name("");
  sub->footer(
      "If DIR holds a checkpoint of a run that has not finished (it was stopped by a checkpoint,\n"
      "killed by a signal, or its restart failed), that run is resumed instead; --fresh starts\n"
      "over. Only the program's own exit marks a run finished.\n"
      "Exit status: the program's; 85 if it was stopped by `ckpt checkpoint --stop` or the stop "
      "signal.");
  return [o, a, argv, fresh] {
    if (!resolve_supervise_options(*a, o.get())) return kExitUsage;
    if (std::string no = mpi_refusal(*argv); !no.empty()) {
      fail("%s", no.c_str());
      return kExitUsage;
    }
    if (!*fresh && control::resumable(o->dir)) return restart_job(*o);
    return supervise_fresh(*o, *argv);
  };
}

}  // namespace ckpt::cli
