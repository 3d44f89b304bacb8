/* libckpt's C API (C99; Fortran through iso_c_binding).
 *
 * Conventions:
 *  - Every function that can fail returns an int: 0 on success, a negative
 *    CKPT_E* code on failure. ckpt_last_error() gives a one-line message.
 *  - A ckpt_t is made by ckpt_new(), configured with ckpt_set_*() and then
 *    ckpt_register*() before ckpt_restore() (or ckpt_start()), and freed by
 *    ckpt_free(). Every ckpt_set_*() comes before the first ckpt_register*():
 *    after it they fail with CKPT_EINVAL. One ckpt_t is used by one thread
 *    at a time.
 *  - Names are NUL-terminated UTF-8; registered memory must stay valid
 *    until ckpt_free().
 *
 *   ckpt_t* ck = ckpt_new(NULL);
 *   ckpt_register(ck, "i", &i, sizeof i);
 *   if (ckpt_restore(ck, NULL) < 0) { fprintf(stderr, "%s\n", ckpt_last_error(ck)); }
 *   while (i < n) { step(i); i++; ckpt_checkpoint_if_due(ck); }
 *   ckpt_free(ck);
 */
#ifndef CKPT_CKPT_H
#define CKPT_CKPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a program that checkpointed on a stop signal and ended. */
#define CKPT_EXIT_STOPPED 85

/* Error codes (negated in return values). */
enum {
  CKPT_OK = 0,
  CKPT_ENOTFOUND = 1,
  CKPT_ECORRUPT = 2,
  CKPT_EIO = 3,
  CKPT_ENOSPACE = 4,
  CKPT_EINVAL = 5,
  CKPT_EMISMATCH = 6,
  CKPT_EUNSUPPORTED = 7,
  CKPT_EBUSY = 8
};

typedef struct ckpt_s ckpt_t;
typedef struct ckpt_writer ckpt_writer_t;
typedef struct ckpt_reader ckpt_reader_t;

/* dir: NULL for the default ($CKPT_DIR, else "ckpt.d"). The environment
 * variables of ckpt::options_from_env apply. NULL only if out of memory. */
ckpt_t* ckpt_new(const char* dir);
void ckpt_free(ckpt_t* ck);

int ckpt_set_interval(ckpt_t* ck, double seconds);
/* Signals that trigger a checkpoint, and those of them that then stop the
 * program with CKPT_EXIT_STOPPED (when exit_on_stop is set). */
int ckpt_set_signals(ckpt_t* ck, const int* signals, int n, const int* stop_signals, int nstop);
int ckpt_set_exit_on_stop(ckpt_t* ck, int enabled, int exit_status);
/* unix_time 0: none (under Slurm the job's end is found automatically).
 * margin_seconds < 0: automatic, 60 s, or a third of the time left when
 * less than 3 minutes are left (as ckpt sbatch's --lead). */
int ckpt_set_deadline(ckpt_t* ck, int64_t unix_time, double margin_seconds);
int ckpt_set_keep(ckpt_t* ck, int generations);
/* 1 (default): every image full; N > 1: a full image every N generations,
 * between them only the 64 KiB blocks that changed (docs/libckpt.md). */
int ckpt_set_full_every(ckpt_t* ck, int generations);
/* level 0: uncompressed; 1-19: zstd. */
int ckpt_set_compression(ckpt_t* ck, int level);
int ckpt_set_async(ckpt_t* ck, int enabled);
int ckpt_set_quiet(ckpt_t* ck, int quiet);

int ckpt_register(ckpt_t* ck, const char* name, void* data, size_t size);
typedef int (*ckpt_save_fn)(ckpt_writer_t* w, void* user);
typedef int (*ckpt_load_fn)(ckpt_reader_t* r, void* user);
int ckpt_register_callbacks(ckpt_t* ck, const char* name, ckpt_save_fn save, ckpt_load_fn load,
                            void* user);
int ckpt_write(ckpt_writer_t* w, const void* data, size_t size);
int ckpt_read(ckpt_reader_t* r, void* data, size_t size);
size_t ckpt_remaining(const ckpt_reader_t* r);

/* Returns 1 if state was restored (generation in *generation), 0 if there
 * was nothing to restore, a negative code on error. Starts the triggers. */
int ckpt_restore(ckpt_t* ck, uint64_t* generation);
int ckpt_start(ckpt_t* ck);
int ckpt_checkpoint(ckpt_t* ck);
/* 1 if a checkpoint was written, 0 if none was due, negative on error. */
int ckpt_checkpoint_if_due(ckpt_t* ck);
int ckpt_due(const ckpt_t* ck);
int ckpt_wait(ckpt_t* ck);
uint64_t ckpt_generation(const ckpt_t* ck);
const char* ckpt_last_error(const ckpt_t* ck);
const char* ckpt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CKPT_CKPT_H */
