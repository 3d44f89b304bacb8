// Fuzz target: the image reader (file header, record framing, payloads,
// zstd decoding) on arbitrary bytes.
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "format/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int fd = memfd_create("image", 0);
  static std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) return 0;

  ckpt::format::VerifyResult v;
  (void)ckpt::format::verify_image(path, &v);

  ckpt::format::ImageReader r;
  if (!r.open(path).is_ok()) return 0;
  std::vector<uint8_t> payload;
  for (int i = 0; i < 10000; i++) {
    ckpt::format::RecordInfo rec;
    bool end = false;
    if (!r.next(&rec, &end).is_ok() || end) break;
    (void)r.read_payload(rec, &payload);
  }
  return 0;
}
