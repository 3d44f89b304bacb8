/* count-signal in C (story S2): the counter is saved only when SIGINT,
 * SIGTERM (save and stop, exit 85) or SIGUSR1 (save, go on) arrives.
 * Usage: count-signal-c [LAST [DELAY_MS]] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ckpt/ckpt.h>

int main(int argc, char** argv) {
  long last = argc > 1 ? atol(argv[1]) : 10;
  long delay_ms = argc > 2 ? atol(argv[2]) : 1000;
  long i = 0;

  ckpt_t* ck = ckpt_new(NULL);
  if (!ck || ckpt_register(ck, "i", &i, sizeof i) < 0 || ckpt_restore(ck, NULL) < 0) {
    fprintf(stderr, "count-signal-c: %s\n", ck ? ckpt_last_error(ck) : "out of memory");
    return 1;
  }
  while (i < last) {
    i++;
    printf("%ld\n", i);
    fflush(stdout);
    usleep((useconds_t)(delay_ms * 1000));
    if (ckpt_checkpoint_if_due(ck) < 0)
      fprintf(stderr, "count-signal-c: %s\n", ckpt_last_error(ck));
  }
  ckpt_free(ck);
  return 0;
}
