/* count in C (story S1): the counter is saved at every iteration.
 * Usage: count-c [LAST [DELAY_MS]] */
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
    fprintf(stderr, "count-c: %s\n", ck ? ckpt_last_error(ck) : "out of memory");
    return 1;
  }
  while (i < last) {
    i++;
    printf("%ld\n", i);
    fflush(stdout);
    if (ckpt_checkpoint(ck) < 0) {
      fprintf(stderr, "count-c: %s\n", ckpt_last_error(ck));
      return 1;
    }
    usleep((useconds_t)(delay_ms * 1000));
    ckpt_checkpoint_if_due(ck); /* a Ctrl-C during the sleep stops here */
  }
  ckpt_free(ck);
  return 0;
}
