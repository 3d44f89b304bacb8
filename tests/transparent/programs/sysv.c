/* SysV semaphores and a message queue between two processes:
 *   t_sysv STEPS [undo]
 * The parent makes a message queue (IPC_PRIVATE) and a set of two
 * semaphores (with a key made from its pid), then forks. Each step the child sends a message
 * and raises semaphore 0 (with SEM_UNDO if asked); the parent waits for
 * semaphore 0, and reads messages three steps behind, so that messages wait
 * in the queue. Each line checks what a restart must keep: the ids (the
 * saved ids still work, the key still finds the set), semaphore 1's value
 * (set once to 7), and the messages' order and types. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

struct message {
  long type;
  char text[64];
};

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void report(int qid, int sid, key_t key, const struct message* m) {
  struct msqid_ds qs;
  int same_q = msgctl(qid, IPC_STAT, &qs) == 0;
  int same_s = semget(key, 0, 0) == sid;
  int seven = semctl(sid, 1, GETVAL);
  printf("got type %ld \"%s\" queue %s set %s sem1 %d\n", m->type, m->text,
         same_q ? "same" : "GONE", same_s ? "same" : "GONE", seven);
  fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: t_sysv STEPS [undo]\n");
    return 2;
  }
  int steps = atoi(argv[1]);
  int undo = argc > 2 && strcmp(argv[2], "undo") == 0;
  /* Unique on the host too, where two reference runs may overlap. */
  key_t key = (key_t)(0x5e000000 | (getpid() & 0xffffff));
  int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  int sid = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
  if (qid < 0 || sid < 0) die("msgget/semget");
  if (semctl(sid, 1, SETVAL, 7) != 0) die("semctl");
  pid_t kid = fork();
  if (kid < 0) die("fork");
  if (kid == 0) {
    for (int k = 0; k < steps; k++) {
      struct message m = {1 + k % 3, ""};
      snprintf(m.text, sizeof m.text, "step %d", k);
      if (msgsnd(qid, &m, strlen(m.text) + 1, 0) != 0) die("msgsnd");
      struct sembuf up = {0, 1, (short)(undo ? SEM_UNDO : 0)};
      if (semop(sid, &up, 1) != 0) die("semop");
      usleep(30000);
    }
    /* With SEM_UNDO, exiting takes back every raise not yet consumed. */
    while (semctl(sid, 0, GETVAL) > 0) usleep(1000);
    return 0;
  }
  for (int k = 0; k < steps; k++) {
    struct sembuf down = {0, -1, 0};
    while (semop(sid, &down, 1) != 0)
      if (errno != EINTR) die("semop");
    if (k >= 3) {
      struct message m;
      if (msgrcv(qid, &m, sizeof m.text, 0, 0) < 0) die("msgrcv");
      report(qid, sid, key, &m);
    }
  }
  for (int k = 0; k < 3 && k < steps; k++) {
    struct message m;
    if (msgrcv(qid, &m, sizeof m.text, 0, 0) < 0) die("msgrcv");
    report(qid, sid, key, &m);
  }
  int st;
  waitpid(kid, &st, 0);
  msgctl(qid, IPC_RMID, NULL);
  semctl(sid, 0, IPC_RMID);
  printf("done, child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}
