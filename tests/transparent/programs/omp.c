/* OpenMP parallel loops with a reduction, step by step. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 30;
  double total = 0;
  for (int s = 0; s < steps; s++) {
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(4)
    for (int i = 0; i < 200000; i++) sum += (double)((i * 7 + s) % 1000) / 1000.0;
    total += sum;
    printf("step %d %.3f\n", s, total);
    fflush(stdout);
    usleep(100000);
  }
  return 0;
}
