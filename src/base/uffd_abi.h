// Dirty-page tracking without soft-dirty: the kernel interfaces, as numbers.
// Linux 6.7 added UFFD_FEATURE_WP_ASYNC, UFFD_FEATURE_WP_UNPOPULATED and the
// PAGEMAP_SCAN ioctl; Debian 12's headers (linux-libc-dev 6.1) lack them.
// The values are stable ABI (include/uapi/linux/userfaultfd.h, fs.h).
// Header-only and libc-free: the injected library uses it too.
#pragma once

#include <stdint.h>
#include <sys/ioctl.h>

namespace ckpt::uffd {

// userfaultfd(2) flags and UFFDIO_API features.
inline constexpr int kUserModeOnly = 1;                        // UFFD_USER_MODE_ONLY
inline constexpr uint64_t kFeatureWpUnpopulated = 1ull << 13;  // protect pages never touched too
inline constexpr uint64_t kFeatureWpAsync = 1ull << 15;  // the kernel resolves write faults itself
inline constexpr uint64_t kApi = 0xAA;                   // UFFD_API

struct Api {  // struct uffdio_api
  uint64_t api, features, ioctls;
};
struct Register {  // struct uffdio_register
  uint64_t start, len, mode, ioctls;
};
inline constexpr uint64_t kRegisterModeWp = 1ull << 1;  // UFFDIO_REGISTER_MODE_WP
inline constexpr unsigned long kIoctlApi = _IOWR(0xAA, 0x3F, Api);
inline constexpr unsigned long kIoctlRegister = _IOWR(0xAA, 0x00, Register);

// PAGEMAP_SCAN on /proc/PID/pagemap (struct pm_scan_arg, struct page_region).
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
struct PageRegion {
  uint64_t start, end, categories;
};
inline constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
inline constexpr uint64_t kScanWpMatching = 1 << 0;    // write-protect what matches
inline constexpr uint64_t kScanCheckWpasync = 1 << 1;  // EPERM where not registered for WP_ASYNC
inline constexpr uint64_t kPageIsWpAllowed = 1 << 0;
inline constexpr uint64_t kPageIsWritten = 1 << 1;

}  // namespace ckpt::uffd
