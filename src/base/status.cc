#include <ckpt/status.hpp>

namespace ckpt {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kCorrupt: return "corrupt";
    case Code::kIo: return "i/o error";
    case Code::kNoSpace: return "no space";
    case Code::kInvalid: return "invalid";
    case Code::kMismatch: return "mismatch";
    case Code::kUnsupported: return "unsupported";
    case Code::kBusy: return "busy";
  }
  return "unknown";
}

}  // namespace ckpt
