// Fuzz target: libckpt's restore of an arbitrary image into registered
// state of every kind (values, vectors, strings, callbacks).
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <ckpt/ckpt.hpp>

#include "../tests/support/process.h"

namespace {

ckpt::Options options(const std::string& dir) {
  ckpt::Options o;
  o.dir = dir;
  o.signals = {};
  o.quiet = true;
  o.find_slurm_deadline = false;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string dir = [] {
    char t[] = "/tmp/ckpt-fuzz-XXXXXX";
    return std::string(mkdtemp(t));
  }();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  ckpt::test::write_file(dir + "/ckpt-000000000001.img",
                         std::string(reinterpret_cast<const char*>(data), size));

  int64_t i = 0;
  double values[3] = {};
  std::vector<double> v;
  std::string s;
  std::vector<int> custom;
  ckpt::Checkpointer ck(options(dir));
  (void)ck.add("i", i);
  (void)ck.add("values", values);
  (void)ck.add("v", v);
  (void)ck.add("s", s);
  (void)ck.add_callbacks(
      "c", [&](ckpt::Writer& w) { return w.write(custom.data(), custom.size() * sizeof(int)); },
      [&](ckpt::Reader& r) {
        custom.resize(r.remaining() / sizeof(int));
        return r.read(custom.data(), custom.size() * sizeof(int));
      });
  (void)ck.restore();
  return 0;
}
