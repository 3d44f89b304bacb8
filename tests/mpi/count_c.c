/* The C API of the MPI mode: every rank adds its rank+1 to a running sum
 * each step, checkpointing every 5 steps; rank R kills itself after step K
 * if asked. Rank 0 prints "resumed at STEP" and the final "total T".
 *   count_c STEPS [KILL_RANK KILL_STEP] */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <ckpt/mpi.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  long steps = argc > 1 ? atol(argv[1]) : 20;
  int kill_rank = argc > 3 ? atoi(argv[2]) : -1;
  long kill_step = argc > 3 ? atol(argv[3]) : -1;
  long step = 0, sum = 0;
  ckpt_mpi_t* ck = ckpt_mpi_new(MPI_COMM_WORLD, NULL);
  if (!ck || ckpt_mpi_register(ck, "step", &step, sizeof step) < 0 ||
      ckpt_mpi_register(ck, "sum", &sum, sizeof sum) < 0) {
    fprintf(stderr, "count_c: %s\n", ck ? ckpt_mpi_last_error(ck) : "out of memory");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int rc = ckpt_mpi_restore(ck);
  if (rc < 0) {
    if (rank == 0) fprintf(stderr, "ckpt: %s\n", ckpt_mpi_last_error(ck));
    ckpt_mpi_free(ck);
    MPI_Finalize();
    return 1;
  }
  if (rc == 1 && rank == 0) printf("resumed at %ld\n", step);
  for (; step < steps;) {
    sum += rank + 1;
    step++;
    if (rank == kill_rank && step == kill_step) raise(SIGKILL);
    if (step % 5 == 0 && ckpt_mpi_checkpoint(ck) < 0 && rank == 0)
      fprintf(stderr, "count_c: %s\n", ckpt_mpi_last_error(ck));
    ckpt_mpi_checkpoint_if_due(ck);
  }
  long total = 0;
  MPI_Reduce(&sum, &total, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("total %ld\n", total);
  ckpt_mpi_free(ck);
  MPI_Finalize();
  return 0;
}
