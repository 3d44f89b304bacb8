// Writes seed inputs for the fuzz targets, one directory per target under
// OUTDIR: real images with the entries app_restore_fuzz registers
// (uncompressed and compressed), process images (process_seeds.cc), and the
// lines and texts the control and Slurm parsers read.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <ckpt/ckpt.hpp>

namespace ckpt::fuzz {
bool write_process_image(const std::string& path, int zstd_level, int threads, size_t pages);
}

namespace {

bool write_app_image(const std::string& out, const std::string& name, int level, size_t len) {
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
  {
    ckpt::Checkpointer ck(o);
    (void)ck.add("i", i);
    (void)ck.add("values", values);
    (void)ck.add("v", v);
    (void)ck.add("s", s);
    (void)ck.add_callbacks(
        "c", [&](ckpt::Writer& w) { return w.write(custom.data(), custom.size() * sizeof(int)); },
        [&](ckpt::Reader&) { return ckpt::Status::ok(); });
    if (!ck.restore() || !ck.checkpoint()) return false;
  }
  std::filesystem::copy_file(dir + "/ckpt-000000000001.img", name);
  std::filesystem::remove_all(dir);
  return true;
}

// `ckpt sbatch` arguments as slurm_fuzz reads them: words split at NUL bytes.
std::string words(std::initializer_list<const char*> list) {
  std::string s;
  for (const char* w : list) s += std::string(w) + '\0';
  s.pop_back();
  return s;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: make_seeds OUTDIR\n"), 2;
  std::string out = argv[1];
  for (const char* t :
       {"image_fuzz", "app_restore_fuzz", "process_image_fuzz", "control_fuzz", "slurm_fuzz"})
    std::filesystem::create_directories(out + "/" + t);
  int n = 0;
  for (int level : {0, 1}) {
    for (size_t len : {size_t(0), size_t(3), size_t(5000)}) {
      std::string name = out + "/app_restore_fuzz/seed" + std::to_string(n) + ".img";
      if (!write_app_image(out, name, level, len)) return 1;
      std::filesystem::copy_file(name, out + "/image_fuzz/seed" + std::to_string(n++) + ".img");
    }
    for (int threads : {1, 3}) {
      std::string name = out + "/process_image_fuzz/seed" + std::to_string(n) + ".img";
      if (!ckpt::fuzz::write_process_image(name, level, threads, threads == 1 ? 0 : 3)) return 1;
      std::filesystem::copy_file(name, out + "/image_fuzz/seed" + std::to_string(n++) + ".img");
    }
  }

  const char* control[] = {"checkpoint\n",
                           "checkpoint stop\n",
                           "ok 3 1234567 0.012 0.250 /home/user/ckpt.d/ckpt-000000000003.img\n",
                           "ok 18446744073709551615 0 0.000 12345.678 /a dir/with spaces.img\n",
                           "error no space left on the device: /home/user/ckpt.d\n",
                           "checkpoint\nok 1 2 3.000 4.000 /x\nerror x\n"};
  n = 0;
  for (const char* c : control) write_text(out + "/control_fuzz/seed" + std::to_string(n++), c);

  const std::string slurm[] = {
      "5",
      "5:30",
      "1:00:10",
      "2-0",
      "1-2:3",
      "1-02:03:04",
      "UNLIMITED",
      "2026-01-31T12:00:00",
      "1234;cluster\n",
      "RUNNING 1:02:03\n",
      "sbatch: error: Invalid partition name specified\n",
      "job_id=1234\nrun=2\nstate=requeued\nreason=checkpoint saved\nnext_job_id=\nmode=requeue\n"
      "max_restarts=20\noutput=/home/user/job.out\nlast_checkpoint=1767225600\n"
      "updated=1767225660\n",
      words({"-t", "10", "--lead", "90", "--job-name=x", "-pdebug", "--app", "--max-restarts=3",
             "--chain=singleton", "--dir", "d", "--", "prog", "arg"}),
      words(
          {"--time=1-0", "--interval", "600", "--output=o.txt", "--dependency=afterok:1", "prog"})};
  n = 0;
  for (const std::string& s : slurm) write_text(out + "/slurm_fuzz/seed" + std::to_string(n++), s);
  return 0;
}
