#include <stdio.h>

#include <ckpt/ckpt.h>

int main(void) {
  int runs = 0;
  ckpt_t* ck = ckpt_new(NULL);
  ckpt_register(ck, "runs", &runs, sizeof runs);
  if (ckpt_restore(ck, NULL) < 0) return 1;
  runs++;
  if (ckpt_checkpoint(ck) < 0) return 1;
  printf("%d\n", runs);
  ckpt_free(ck);
  return 0;
}
