/* Producer and consumer in two processes over shared memory of one kind:
 * anon (MAP_SHARED|MAP_ANONYMOUS inherited across fork), posix (shm_open),
 * memfd (inherited) or sysv (shmget, attached before the fork). The
 * producer writes items one by one; the consumer adds them up as they come.
 * Usage: t_shm KIND ITEMS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

struct ring {
  _Atomic long produced, consumed;
  long items[64];
};

int main(int argc, char** argv) {
  const char* kind = argc > 1 ? argv[1] : "anon";
  long n = argc > 2 ? atol(argv[2]) : 200;
  size_t size = 1 << 20;
  struct ring* r = MAP_FAILED;
  char name[64] = "";
  if (!strcmp(kind, "anon")) {
    r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  } else if (!strcmp(kind, "posix")) {
    snprintf(name, sizeof name, "/ckpt-test-shm-%d", (int)getpid());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) return 2;
    r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
  } else if (!strcmp(kind, "memfd")) {
    int fd = memfd_create("ring", 0);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) return 2;
    r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
  } else if (!strcmp(kind, "sysv")) {
    int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    if (id < 0) return 2;
    r = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL); /* gone once both have detached */
    if (r == (void*)-1) r = MAP_FAILED;
  }
  if (r == MAP_FAILED) return 2;
  pid_t kid = fork();
  if (kid == 0) {
    for (long i = 1; i <= n; i++) {
      while (atomic_load(&r->produced) - atomic_load(&r->consumed) >= 64) usleep(1000);
      r->items[i % 64] = i * i % 1000003;
      atomic_store(&r->produced, i);
      usleep(10000);
    }
    _exit(0);
  }
  long sum = 0;
  for (long i = 1; i <= n; i++) {
    while (atomic_load(&r->produced) < i) usleep(1000);
    sum += r->items[i % 64];
    atomic_store(&r->consumed, i);
    if (i % 50 == 0) {
      printf("%ld items, sum %ld\n", i, sum);
      fflush(stdout);
    }
  }
  int st;
  waitpid(kid, &st, 0);
  if (name[0]) shm_unlink(name);
  printf("%s: %ld items, sum %ld, producer %d\n", kind, n, sum,
         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}
