// ckpt::Status: the result of an operation, as a value.
//
// A Status is trivially copyable and never allocates, so it can be returned
// from code that runs on a checkpoint path inside someone else's process.
// The message is formatted into a fixed buffer and truncated if too long.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

namespace ckpt {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,     // nothing to restore, no such file or job
  kCorrupt,      // a checksum, length or magic does not match
  kIo,           // the operating system refused (errno says why)
  kNoSpace,      // ENOSPC, EDQUOT or EFBIG while writing
  kInvalid,      // bad argument or bad use of the API
  kMismatch,     // the image does not fit what the program registered
  kUnsupported,  // a newer format version or unknown required record
  kBusy,         // another process holds the job directory
};

const char* code_name(Code code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept { message_[0] = '\0'; }
  static Status ok() noexcept { return Status(); }

  // printf-style message; errno_value is 0 when the OS is not involved.
  [[gnu::format(printf, 3, 4)]] static Status make(Code code, int errno_value, const char* fmt,
                                                   ...) noexcept {
    Status s;
    s.code_ = code;
    s.errno_ = errno_value;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(s.message_, sizeof s.message_, fmt, ap);
    va_end(ap);
    if (errno_value != 0) {
      size_t n = std::strlen(s.message_);
      std::snprintf(s.message_ + n, sizeof s.message_ - n, ": %s", std::strerror(errno_value));
    }
    return s;
  }

  bool is_ok() const noexcept { return code_ == Code::kOk; }
  explicit operator bool() const noexcept { return is_ok(); }
  Code code() const noexcept { return code_; }
  int sys_errno() const noexcept { return errno_; }
  const char* message() const noexcept { return is_ok() ? "ok" : message_; }

 private:
  Code code_ = Code::kOk;
  int errno_ = 0;
  char message_[240];
};

static_assert(std::is_trivially_copyable_v<Status>);

}  // namespace ckpt

#define CKPT_RETURN_IF_ERROR(expr) \
  do {                             \
    ::ckpt::Status _s = (expr);    \
    if (!_s.is_ok()) return _s;    \
  } while (0)
