// Shared by `ckpt run`, `ckpt checkpoint` and `ckpt restart`.
#pragma once

#include <string>

#include "control/supervisor.h"

namespace ckpt::cli {

// "TERM", "SIGTERM", "15" -> 15; 0 for "" or "none"; -1 if unknown.
int parse_signal(const std::string& name);

// The options of `ckpt run` and `ckpt restart` as given, by flag or by
// environment variable (the names of the table in docs/transparent.md).
struct SuperviseArgs {
  std::string interval, keep, full_every, compress, signal = "USR1", stop_signal;
};
// Adds --dir, --interval, --keep, --compress (alias --zstd), --signal,
// --stop-signal and --quiet to sub.
void add_supervise_options(CLI::App* sub, control::SuperviseOptions* o, SuperviseArgs* a);
// Checks the values and puts them into *o; false (one line printed) if one is
// out of range or unknown: the caller exits with kExitUsage.
bool resolve_supervise_options(const SuperviseArgs& a, control::SuperviseOptions* o);

// Resumes the newest usable image in o.dir under a new supervisor; a damaged
// newest image is set aside as *.damaged and the previous one is used.
// Returns the exit status.
int restart_job(control::SuperviseOptions o, const control::RestoreOptions& ro = {});

}  // namespace ckpt::cli
