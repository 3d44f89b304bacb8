// Shared by `ckpt run`, `ckpt checkpoint` and `ckpt restart`.
#pragma once

#include <string>

#include "control/supervisor.h"

namespace ckpt::cli {

// "TERM", "SIGTERM", "15" -> 15; 0 for "" or "none"; -1 if unknown.
int parse_signal(const std::string& name);
// Adds --interval, --signal, --stop-signal, --zstd to sub.
void add_supervise_options(CLI::App* sub, control::SuperviseOptions* o, std::string* sig,
                           std::string* stop_sig);
// Resumes the newest usable image in o.dir under a new supervisor; a damaged
// newest image falls back to the previous one. Returns the exit status.
int restart_job(control::SuperviseOptions o, const control::RestoreOptions& ro = {});

}  // namespace ckpt::cli
