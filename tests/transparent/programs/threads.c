/* N pthreads take turns under a mutex and condition variable; the final sum
   depends on every turn having happened exactly once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, turn;
static int nthreads, rounds;

static void* worker(void* arg) {
  long id = (long)arg;
  for (int r = 0; r < rounds; r++) {
    pthread_mutex_lock(&mu);
    while (turn % nthreads != id) pthread_cond_wait(&cv, &mu);
    counter += id * 1000 + r;
    turn++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (id == 0) {
      printf("round %d\n", r);
      fflush(stdout);
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, 0);
  }
  return 0;
}

int main(int argc, char** argv) {
  nthreads = argc > 1 ? atoi(argv[1]) : 4;
  rounds = argc > 2 ? atoi(argv[2]) : 100;
  pthread_t t[256];
  for (long i = 0; i < nthreads; i++) pthread_create(&t[i], 0, worker, (void*)i);
  for (int i = 0; i < nthreads; i++) pthread_join(t[i], 0);
  printf("sum %ld\n", counter);
  return 0;
}
