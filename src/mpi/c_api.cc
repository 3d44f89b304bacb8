// The C API of the MPI mode: a thin layer over ckpt::mpi::Checkpointer.
#include <ckpt/mpi.h>

#include <new>

#include <ckpt/mpi.hpp>

struct ckpt_mpi_s {
  ckpt::mpi::Checkpointer ck;
  ckpt::Status last;
  ckpt_mpi_s(MPI_Comm c, ckpt::mpi::Options o) : ck(c, std::move(o)) {}
};

namespace {
int code_of(ckpt_mpi_t* ck, const ckpt::Status& s) {
  ck->last = s;
  return s.is_ok() ? 0 : -int(s.code());
}
}  // namespace

extern "C" {

ckpt_mpi_t* ckpt_mpi_new(MPI_Comm comm, const char* dir) {
  ckpt::mpi::Options o = ckpt::mpi::options_from_env();
  if (dir && *dir) o.dir = dir;
  return new (std::nothrow) ckpt_mpi_s(comm, std::move(o));
}

void ckpt_mpi_free(ckpt_mpi_t* ck) { delete ck; }

int ckpt_mpi_register(ckpt_mpi_t* ck, const char* name, void* p, size_t n) {
  return code_of(ck, ck->ck.add_buffer(name ? name : "", p, n));
}

int ckpt_mpi_restore(ckpt_mpi_t* ck) {
  ckpt::mpi::RestoreInfo info;
  int rc = code_of(ck, ck->ck.restore(&info));
  return rc < 0 ? rc : info.restored ? 1 : 0;
}

int ckpt_mpi_checkpoint(ckpt_mpi_t* ck) { return code_of(ck, ck->ck.checkpoint()); }

int ckpt_mpi_checkpoint_if_due(ckpt_mpi_t* ck) {
  bool did = ck->ck.checkpoint_if_due();
  ck->last = ck->ck.last_status();
  return did ? 1 : 0;
}

uint64_t ckpt_mpi_generation(const ckpt_mpi_t* ck) { return ck->ck.generation(); }

const char* ckpt_mpi_last_error(const ckpt_mpi_t* ck) { return ck->last.message(); }

}  // extern "C"
