/* libckpt's MPI mode in C (target ckpt::mpi; Fortran through
 * iso_c_binding with MPI_Comm_c2f/f2c). Same conventions as <ckpt/ckpt.h>:
 * 0 or a negative CKPT_E* code, ckpt_mpi_last_error() for the line.
 * Every function but the registrations is collective over the
 * communicator.
 *
 *   ckpt_mpi_t* ck = ckpt_mpi_new(MPI_COMM_WORLD, NULL);
 *   ckpt_mpi_register(ck, "step", &step, sizeof step);
 *   ckpt_mpi_register(ck, "grid", grid, bytes);
 *   if (ckpt_mpi_restore(ck) < 0) fprintf(stderr, "%s\n", ckpt_mpi_last_error(ck));
 *   while (step < n) { compute(); step++; ckpt_mpi_checkpoint_if_due(ck); }
 *   ckpt_mpi_free(ck);   (before MPI_Finalize: waits for the durable copy)
 */
#ifndef CKPT_MPI_H
#define CKPT_MPI_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include <ckpt/ckpt.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_mpi_s ckpt_mpi_t;

/* dir: the durable directory, NULL for $CKPT_DIR else "ckpt.d". */
ckpt_mpi_t* ckpt_mpi_new(MPI_Comm comm, const char* dir);
void ckpt_mpi_free(ckpt_mpi_t* ck);
int ckpt_mpi_register(ckpt_mpi_t* ck, const char* name, void* p, size_t n);
/* 1 if a generation was restored, 0 if there was none, < 0 on error. */
int ckpt_mpi_restore(ckpt_mpi_t* ck);
int ckpt_mpi_checkpoint(ckpt_mpi_t* ck);
/* 1 if it checkpointed, else 0; a failed checkpoint is reported on stderr
 * by rank 0 and kept in ckpt_mpi_last_error(). */
int ckpt_mpi_checkpoint_if_due(ckpt_mpi_t* ck);
uint64_t ckpt_mpi_generation(const ckpt_mpi_t* ck);
const char* ckpt_mpi_last_error(const ckpt_mpi_t* ck);

#ifdef __cplusplus
}
#endif
#endif
