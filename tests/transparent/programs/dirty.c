/* Memory that changes a little between checkpoints, in the ways a program
   can change it behind a dirty-page tracker's back; every step prints a
   checksum of all of it, so a restart from a wrong increment shows.
   Usage: t_dirty MIB STEPS MODE [MICROSECONDS_PER_STEP]
   MODE: plain      write 1 % of the pages each step
         mprotect   also make a region read-only and writable again each step
         dontneed   also drop a region with MADV_DONTNEED (it reads as zeros)
         mremap     also move a region to a new address each step
         uffd       also use a userfaultfd of its own: create it at start and,
                    each step, register a fresh mapping for write-protection,
                    check the registration, and unregister it
         sparse     also hold 16 x MIB MiB never touched but for one page
                    written and one page read (zeros) each step: an image
                    holds those pages, not the whole region */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096ul

static uint64_t sum_of(const unsigned char* p, size_t n) {
  uint64_t s = 1469598103934665603ull;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    s = (s ^ w) * 1099511628211ull;
  }
  return s;
}

static void die(const char* what) {
  perror(what);
  exit(3);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  size_t n = (size_t)atoi(argv[1]) << 20;
  int steps = atoi(argv[2]);
  const char* mode = argv[3];
  useconds_t pause = argc > 4 ? (useconds_t)atoi(argv[4]) : 100000;
  unsigned char* a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) die("mmap");
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(a + i, &x, 8);
  }
  size_t pages = n / PAGE, region = pages / 8 * PAGE; /* the region the modes play with */
  unsigned char* moving = NULL;
  if (!strcmp(mode, "mremap")) {
    moving = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (moving == MAP_FAILED) die("mmap");
    memset(moving, 7, region);
  }
  size_t sparse_pages = 16 * n / PAGE;
  unsigned char* sparse = NULL;
  if (!strcmp(mode, "sparse")) {
    sparse = mmap(NULL, sparse_pages * PAGE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sparse == MAP_FAILED) die("mmap");
  }
  uint64_t sparse_sum = 0;
  int uffd = -1;
  if (!strcmp(mode, "uffd")) {
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (uffd < 0) die("userfaultfd");
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    if (ioctl(uffd, UFFDIO_API, &api) != 0) die("UFFDIO_API");
  }
  for (int s = 0; s < steps; s++) {
    for (size_t p = (size_t)s % 100; p < pages; p += 100) a[p * PAGE + (size_t)s % PAGE] += 1;
    if (!strcmp(mode, "mprotect")) {
      if (mprotect(a + region, region, PROT_READ) != 0) die("mprotect");
      if (mprotect(a + region, region, PROT_READ | PROT_WRITE) != 0) die("mprotect");
      a[region + (size_t)s * PAGE] = (unsigned char)s;
    } else if (!strcmp(mode, "dontneed")) {
      size_t off = 2 * region + (size_t)(s % 4) * (region / 4);
      if (madvise(a + off, region / 4, MADV_DONTNEED) != 0) die("madvise");
      if (s % 2) a[off + PAGE] = 1; /* touched again, or left as zeros */
    } else if (!strcmp(mode, "mremap")) {
      void* to = mmap(NULL, region, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (to == MAP_FAILED) die("mmap");
      moving = mremap(moving, region, region, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      if (moving == MAP_FAILED) die("mremap");
      moving[(size_t)s * 3 * PAGE % region] += (unsigned char)s;
    } else if (sparse) {
      sparse[((size_t)s * 7919 % sparse_pages) * PAGE + (size_t)s % PAGE] = (unsigned char)(s + 1);
      sparse_sum = sparse_sum * 31 + sparse[((size_t)s * 104729 + 13) % sparse_pages * PAGE + 5];
      for (int k = 0; k <= s; k++)
        sparse_sum += sparse[((size_t)k * 7919 % sparse_pages) * PAGE + (size_t)k % PAGE];
    } else if (uffd >= 0) {
      void* fresh =
          mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (fresh == MAP_FAILED) die("mmap");
      struct uffdio_register reg = {.range = {(uint64_t)(uintptr_t)fresh, 16 * PAGE},
                                    .mode = UFFDIO_REGISTER_MODE_MISSING};
      if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) die("UFFDIO_REGISTER");
      if (ioctl(uffd, UFFDIO_UNREGISTER, &reg.range) != 0) die("UFFDIO_UNREGISTER");
      munmap(fresh, 16 * PAGE);
    }
    uint64_t sum = sum_of(a, n) ^ (moving ? sum_of(moving, region) : 0) ^ sparse_sum;
    printf("step %d %016llx\n", s, (unsigned long long)sum);
    fflush(stdout);
    usleep(pause);
  }
  return 0;
}
