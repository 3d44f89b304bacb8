// Fuzz target: an incremental process image and its base, as `ckpt
// restart` and `ckpt verify` read them: the input is a base image and an
// increment (a u32 length of the base, the base, then the increment),
// written as generations 1 and 2 of one directory; prepare_restore() reads
// the increment, follows its base record and copies every data_ref's
// slice; verify_image() follows them too. The decoders of the base and
// data_ref records also get the raw input.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control/restore_prep.h"
#include "format/chain.h"
#include "format/reader.h"

namespace {

bool put(const std::string& path, const uint8_t* p, size_t n) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = pwrite(fd, p, n, 0) == ssize_t(n);
  close(fd);
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string dir = [] {
    std::string t =
        std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/ckpt-fuzz-XXXXXX";
    if (!mkdtemp(t.data())) abort();
    return t;
  }();
  std::vector<uint8_t> raw(data, data + size);
  ckpt::format::BaseRef b;
  ckpt::format::DataRef d;
  (void)ckpt::format::decode_base(raw, &b);
  (void)ckpt::format::decode_data_ref(raw, &d);
  if (size < 4) return 0;
  uint32_t n;
  std::memcpy(&n, data, 4);
  if (n > size - 4) n = uint32_t(size - 4);
  std::string base = dir + "/ckpt-000000000001.img", incr = dir + "/ckpt-000000000002.img";
  if (!put(base, data + 4, n) || !put(incr, data + 4 + n, size - 4 - n)) return 0;

  ckpt::control::RestorePlan plan;
  (void)ckpt::control::prepare_restore(incr, &plan);
  ckpt::control::close_plan_fds(&plan);
  ckpt::format::VerifyResult v;
  (void)ckpt::format::verify_image(incr, &v);
  uint64_t digest;
  (void)ckpt::format::image_digest(incr, &digest);
  (void)ckpt::format::read_bases(incr);
  return 0;
}
