// Fuzz target: a transparent checkpoint's process image, as `ckpt restart`
// reads it: prepare_restore() parses and checks every record (process,
// threads, descriptors, mappings, pages) and unpacks the pages into its
// memfd; nothing runs, no descriptor or mapping of the program is made
// (that is exec_restorer's, not called here; what it assumes of a plan is
// checked instead). The record decoders also get the raw input, so they are
// fuzzed on their own.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "control/ipc.h"
#include "control/restore_prep.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A real file of ours: restart refuses images reached through a symlink
  // (such as /proc/self/fd/N).
  static std::string path = [] {
    std::string t =
        std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/ckpt-fuzz-XXXXXX";
    if (!mkdtemp(t.data())) abort();
    return t + "/ckpt-000000000001.img";
  }();
  static int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) return 0;

  ckpt::control::RestorePlan plan;
  ckpt::Status s = ckpt::control::prepare_restore(path, &plan);
  ckpt::control::close_plan_fds(&plan);
  // What exec_restorer takes for granted in a plan that passed.
  for (const ckpt::control::FdInfo& f :
       plan.procs.empty() ? std::vector<ckpt::control::FdInfo>{} : plan.procs[0].fds)
    if (s.is_ok() &&
        (f.fd < 0 || f.fd >= 1 << 20 || (f.kind == ckpt::control::FdKind::kInherited && f.fd > 2)))
      abort();

  std::vector<uint8_t> raw(data, data + size);
  ckpt::control::ProcInfo p;
  ckpt::control::ThreadInfo t;
  ckpt::control::MappingInfo m;
  ckpt::control::PagesInfo g;
  ckpt::control::FdInfo f;
  ckpt::control::IpcObject o;
  (void)decode(raw, &p);
  (void)decode(raw, &t);
  (void)decode(raw, &m);
  (void)decode(raw, &g);
  (void)decode(raw, &f);
  if (decode(raw, &o).is_ok() && ckpt::control::check_ipc(o) == nullptr) {
    // What make_ipc_objects takes for granted in a record that passed.
    uint64_t total = 0;
    for (const auto& msg : o.messages) total += msg.text.size();
    if (o.id < 0 || (o.kind == ckpt::control::IpcKind::kQueue && total > o.qbytes)) abort();
    // A segment's: a size the kernel can be asked for, and bytes that fill
    // it exactly or not at all.
    if (o.kind == ckpt::control::IpcKind::kSharedMemory &&
        (o.size == 0 || o.size > ckpt::control::kMaxSysvSegment ||
         (!o.bytes.empty() && o.bytes.size() != o.size)))
      abort();
  }
  return 0;
}
