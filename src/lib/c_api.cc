// The C API: a thin layer over ckpt::Checkpointer that turns Status values
// into negative codes and keeps the last message.
#include <ckpt/ckpt.h>

#include <cstdio>
#include <new>
#include <string>

#include <ckpt/ckpt.hpp>

#include "ckpt_version.h"

struct ckpt_s {
  ckpt::Options options;
  ckpt::Checkpointer* cp = nullptr;  // made when the first entry is registered
  ckpt::Status last;
};
struct ckpt_writer {
  ckpt::Writer* w;
};
struct ckpt_reader {
  ckpt::Reader* r;
};

namespace {

int code_of(const ckpt::Status& s) { return s.is_ok() ? 0 : -int(s.code()); }

int fail(ckpt_t* ck, const ckpt::Status& s) {
  ck->last = s;
  return code_of(s);
}

int too_late(ckpt_t* ck) {
  return fail(ck, ckpt::Status::make(ckpt::Code::kInvalid, 0,
                                     "options must be set before the first registration"));
}

ckpt::Checkpointer* get(ckpt_t* ck) {
  if (!ck->cp) ck->cp = new (std::nothrow) ckpt::Checkpointer(ck->options);
  return ck->cp;
}

}  // namespace

extern "C" {

ckpt_t* ckpt_new(const char* dir) {
  ckpt_t* ck = new (std::nothrow) ckpt_t;
  if (!ck) return nullptr;
  ck->options = ckpt::options_from_env();
  if (dir && *dir) ck->options.dir = dir;
  return ck;
}

void ckpt_free(ckpt_t* ck) {
  if (!ck) return;
  delete ck->cp;
  delete ck;
}

#define CKPT_OPTION(ck)           \
  if (!(ck)) return -CKPT_EINVAL; \
  if ((ck)->cp) return too_late(ck)

int ckpt_set_interval(ckpt_t* ck, double seconds) {
  CKPT_OPTION(ck);
  ck->options.interval_seconds = seconds;
  return 0;
}
int ckpt_set_signals(ckpt_t* ck, const int* signals, int n, const int* stop, int nstop) {
  CKPT_OPTION(ck);
  ck->options.signals.assign(signals, signals + (n > 0 ? n : 0));
  ck->options.stop_signals.assign(stop, stop + (nstop > 0 ? nstop : 0));
  return 0;
}
int ckpt_set_exit_on_stop(ckpt_t* ck, int enabled, int exit_status) {
  CKPT_OPTION(ck);
  ck->options.exit_on_stop = enabled != 0;
  ck->options.stop_exit_status = exit_status;
  return 0;
}
int ckpt_set_deadline(ckpt_t* ck, int64_t unix_time, double margin_seconds) {
  CKPT_OPTION(ck);
  ck->options.deadline_unix = unix_time;
  ck->options.deadline_margin_seconds = margin_seconds;
  return 0;
}
int ckpt_set_keep(ckpt_t* ck, int generations) {
  CKPT_OPTION(ck);
  ck->options.keep = generations;
  return 0;
}
int ckpt_set_full_every(ckpt_t* ck, int generations) {
  CKPT_OPTION(ck);
  if (generations < 1)
    return fail(ck, ckpt::Status::make(ckpt::Code::kInvalid, 0, "full_every must be at least 1"));
  ck->options.full_every = generations;
  return 0;
}
int ckpt_set_compression(ckpt_t* ck, int level) {
  CKPT_OPTION(ck);
  ck->options.compression = level > 0 ? ckpt::Compression::kZstd : ckpt::Compression::kNone;
  if (level > 0) ck->options.compression_level = level;
  return 0;
}
int ckpt_set_async(ckpt_t* ck, int enabled) {
  CKPT_OPTION(ck);
  ck->options.async = enabled != 0;
  return 0;
}
int ckpt_set_quiet(ckpt_t* ck, int quiet) {
  CKPT_OPTION(ck);
  ck->options.quiet = quiet != 0;
  return 0;
}

int ckpt_register(ckpt_t* ck, const char* name, void* data, size_t size) {
  if (!ck || !name) return -CKPT_EINVAL;
  ckpt::Checkpointer* cp = get(ck);
  if (!cp) return -CKPT_EIO;
  return fail(ck, cp->add_buffer(name, data, size));
}

int ckpt_register_callbacks(ckpt_t* ck, const char* name, ckpt_save_fn save, ckpt_load_fn load,
                            void* user) {
  if (!ck || !name || !save || !load) return -CKPT_EINVAL;
  ckpt::Checkpointer* cp = get(ck);
  if (!cp) return -CKPT_EIO;
  std::string n = name;
  auto saver = [save, user, n](ckpt::Writer& w) {
    ckpt_writer cw{&w};
    int rc = save(&cw, user);
    return rc == 0 ? ckpt::Status::ok()
                   : ckpt::Status::make(ckpt::Code::kInvalid, 0,
                                        "entry '%s': save callback returned %d", n.c_str(), rc);
  };
  auto loader = [load, user, n](ckpt::Reader& r) {
    ckpt_reader cr{&r};
    int rc = load(&cr, user);
    return rc == 0 ? ckpt::Status::ok()
                   : ckpt::Status::make(ckpt::Code::kMismatch, 0,
                                        "entry '%s': load callback returned %d", n.c_str(), rc);
  };
  return fail(ck, cp->add_callbacks(name, saver, loader));
}

int ckpt_write(ckpt_writer_t* w, const void* data, size_t size) {
  if (!w) return -CKPT_EINVAL;
  return code_of(w->w->write(data, size));
}
int ckpt_read(ckpt_reader_t* r, void* data, size_t size) {
  if (!r) return -CKPT_EINVAL;
  return code_of(r->r->read(data, size));
}
size_t ckpt_remaining(const ckpt_reader_t* r) { return r ? r->r->remaining() : 0; }

int ckpt_restore(ckpt_t* ck, uint64_t* generation) {
  if (!ck) return -CKPT_EINVAL;
  ckpt::Checkpointer* cp = get(ck);
  if (!cp) return -CKPT_EIO;
  ckpt::RestoreInfo info;
  int rc = fail(ck, cp->restore(&info));
  if (rc < 0) return rc;
  if (generation) *generation = info.generation;
  return info.restored ? 1 : 0;
}
int ckpt_start(ckpt_t* ck) {
  if (!ck) return -CKPT_EINVAL;
  ckpt::Checkpointer* cp = get(ck);
  if (!cp) return -CKPT_EIO;
  return fail(ck, cp->start());
}
int ckpt_checkpoint(ckpt_t* ck) {
  if (!ck) return -CKPT_EINVAL;
  ckpt::Checkpointer* cp = get(ck);
  if (!cp) return -CKPT_EIO;
  return fail(ck, cp->checkpoint());
}
int ckpt_checkpoint_if_due(ckpt_t* ck) {
  if (!ck || !ck->cp) return ck ? 0 : -CKPT_EINVAL;
  if (!ck->cp->due()) return 0;
  int rc = ckpt_checkpoint(ck);
  if (rc < 0 && !ck->options.quiet)
    std::fprintf(stderr, "ckpt: checkpoint failed: %s\n", ck->last.message());
  return rc < 0 ? rc : 1;
}
int ckpt_due(const ckpt_t* ck) { return ck && ck->cp && ck->cp->due() ? 1 : 0; }
int ckpt_wait(ckpt_t* ck) {
  if (!ck) return -CKPT_EINVAL;
  return ck->cp ? fail(ck, ck->cp->wait()) : 0;
}
uint64_t ckpt_generation(const ckpt_t* ck) { return ck && ck->cp ? ck->cp->generation() : 0; }
const char* ckpt_last_error(const ckpt_t* ck) { return ck ? ck->last.message() : "null ckpt_t"; }
const char* ckpt_version(void) { return CKPT_VERSION_STRING; }

}  // extern "C"
