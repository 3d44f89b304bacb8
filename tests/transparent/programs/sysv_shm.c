/* SysV shared memory segments between two processes, each of the kinds a
 * restart must keep under its id:
 *   t_sysv_shm STEPS [split|alone]
 * ring:    a segment with a key, mode 0640 and an odd size, attached by
 *          both processes (the child produces items, the parent adds them);
 * parked:  a segment no process has attached, holding a pattern;
 * removed: a segment attached by both and marked for removal (IPC_RMID),
 *          which the child counts its steps in.
 * Each line checks what a restart must keep: the key still finds the ring
 * under its id, its size and mode, the parked segment's pattern, and that
 * the removed one is still marked so and still holds the count.
 * split: the ring's last page is made read-only (mprotect), so that the
 * ring is mapped in two parts, which cannot be attached back under its id;
 * the lines then say only what a restart keeps of it, its memory.
 * alone: one process, which produces the items itself (a job of one
 * process is restarted without the tree's builder). */
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

enum { kRingSize = 3 * 4096 + 100, kParkedSize = 64 * 1024 };

static void die(const char* what) {
  perror(what);
  exit(1);
}

static const char* parked_state(int parked) {
  unsigned char* p = shmat(parked, NULL, SHM_RDONLY);
  if (p == (void*)-1) return "GONE";
  int ok = 1;
  for (int i = 0; i < kParkedSize; i++) ok &= p[i] == (unsigned char)(i * 7 + 3);
  shmdt(p);
  return ok ? "intact" : "CHANGED";
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: t_sysv_shm STEPS\n");
    return 2;
  }
  long steps = atol(argv[1]);
  int split = argc > 2 && strcmp(argv[2], "split") == 0;
  int alone = argc > 2 && strcmp(argv[2], "alone") == 0;
  /* Unique on the host too, where two reference runs may overlap. */
  key_t key = (key_t)(0x5f000000 | (getpid() & 0xffffff));
  int ring_id = shmget(key, kRingSize, IPC_CREAT | IPC_EXCL | 0640);
  int parked = shmget(IPC_PRIVATE, kParkedSize, IPC_CREAT | 0600);
  int removed = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (ring_id < 0 || parked < 0 || removed < 0) die("shmget");
  unsigned char* p = shmat(parked, NULL, 0);
  struct ring* r = shmat(ring_id, NULL, 0);
  _Atomic long* count = shmat(removed, NULL, 0);
  if (p == (void*)-1 || r == (void*)-1 || count == (void*)-1) die("shmat");
  if (split && mprotect((char*)r + 3 * 4096, 4096, PROT_READ) != 0) die("mprotect");
  for (int i = 0; i < kParkedSize; i++) p[i] = (unsigned char)(i * 7 + 3);
  shmdt(p);
  if (shmctl(removed, IPC_RMID, NULL) != 0) die("shmctl");
  pid_t kid = alone ? -2 : fork();
  if (kid == -1) die("fork");
  if (kid == 0) {
    for (long i = 1; i <= steps; i++) {
      while (atomic_load(&r->produced) - atomic_load(&r->consumed) >= 64) usleep(1000);
      r->items[i % 64] = i * i % 1000003;
      atomic_store(count, i);
      atomic_store(&r->produced, i);
      usleep(10000);
    }
    _exit(0);
  }
  long sum = 0;
  for (long i = 1; i <= steps; i++) {
    if (alone) {
      r->items[i % 64] = i * i % 1000003;
      atomic_store(count, i);
      atomic_store(&r->produced, i);
      usleep(10000);
    }
    while (atomic_load(&r->produced) < i) usleep(1000);
    sum += r->items[i % 64];
    atomic_store(&r->consumed, i);
    if (i % 25 == 0 && split) {
      printf("%ld items, sum %ld\n", i, sum);
      fflush(stdout);
    } else if (i % 25 == 0) {
      struct shmid_ds ring_ds, removed_ds;
      int ring_ok = shmctl(ring_id, IPC_STAT, &ring_ds) == 0;
      int removed_ok = shmctl(removed, IPC_STAT, &removed_ds) == 0;
      printf(
          "%ld items, sum %ld; key finds the ring: %s, size %ld mode %03o; parked %s; "
          "removed: %s, count %s\n",
          i, sum, shmget(key, 0, 0) == ring_id ? "same" : "GONE",
          ring_ok ? (long)ring_ds.shm_segsz : -1L, ring_ok ? ring_ds.shm_perm.mode & 0777 : 0,
          parked_state(parked),
          !removed_ok                             ? "GONE"
          : (removed_ds.shm_perm.mode & SHM_DEST) ? "still marked"
                                                  : "NOT MARKED",
          atomic_load(count) >= i ? "on" : "BEHIND");
      fflush(stdout);
    }
  }
  int st = 0;
  if (!alone) waitpid(kid, &st, 0);
  shmdt(r);
  shmdt((void*)count);
  shmctl(ring_id, IPC_RMID, NULL);
  shmctl(parked, IPC_RMID, NULL);
  printf("done: %ld items, sum %ld, producer %d\n", steps, sum,
         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}
