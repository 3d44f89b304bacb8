// Running Slurm's commands from the ckpt command (never from a checkpointed
// program): find them on the PATH, run one and capture what it prints.
#pragma once

#include <string>
#include <vector>

namespace ckpt::slurm {

// The full path of an executable NAME (or NAME itself if it has a '/' and is
// executable); empty if there is none.
std::string find_program(const std::string& name);

// Runs argv[0] (searched on the PATH) with stdin from /dev/null, and returns
// its exit status (128+N if killed by signal N, 127 if it could not start).
// Its stdout and stderr are captured into `out` and `err` (either may be null).
int run_command(const std::vector<std::string>& argv, std::string* out, std::string* err);

}  // namespace ckpt::slurm
