// Writes seed images for the fuzz targets: real images with the entries
// app_restore_fuzz registers, uncompressed and compressed.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <ckpt/ckpt.hpp>

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: make_seeds OUTDIR\n"), 2;
  std::string out = argv[1];
  std::filesystem::create_directories(out);
  int n = 0;
  for (int level : {0, 1}) {
    for (size_t len : {size_t(0), size_t(3), size_t(5000)}) {
      std::string dir = out + "/job";
      std::filesystem::remove_all(dir);
      ckpt::Options o;
      o.dir = dir;
      o.signals = {};
      o.quiet = true;
      o.compression = level ? ckpt::Compression::kZstd : ckpt::Compression::kNone;
      int64_t i = int64_t(len);
      double values[3] = {1, 2, 3};
      std::vector<double> v(len, 0.5);
      std::string s(len, 'x');
      std::vector<int> custom(len, 7);
      ckpt::Checkpointer ck(o);
      (void)ck.add("i", i);
      (void)ck.add("values", values);
      (void)ck.add("v", v);
      (void)ck.add("s", s);
      (void)ck.add_callbacks(
          "c",
          [&](ckpt::Writer& w) { return w.write(custom.data(), custom.size() * sizeof(int)); },
          [&](ckpt::Reader&) { return ckpt::Status::ok(); });
      if (!ck.restore() || !ck.checkpoint()) return 1;
      std::filesystem::copy_file(dir + "/ckpt-000000000001.img",
                                 out + "/seed" + std::to_string(n++) + ".img");
      std::filesystem::remove_all(dir);
    }
  }
  return 0;
}
