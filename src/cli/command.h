// The ckpt command's subcommands: one table (commands.cc) of name, summary
// and the function that declares its options and what it runs.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "format/reader.h"

namespace ckpt::cli {

// Exit statuses of the ckpt command itself (a program's own status passes
// through `ckpt run` unchanged).
inline constexpr int kExitError = 1;  // the operation failed; one line on stderr says why
inline constexpr int kExitUsage = 2;  // bad arguments

struct Command {
  const char* name;
  const char* summary;  // one line: `ckpt --help`, the man page's NAME
  // Declares the options on `sub` and returns what to run once parsed.
  std::function<std::function<int()>(CLI::App* sub)> setup;
  // For commands that pass another program's options on (sbatch's): main()
  // hands them their arguments unparsed; `setup` then only adds help text.
  std::function<int(const std::vector<std::string>& args)> run_raw = nullptr;
  // Their help text, for the manual page.
  std::function<std::string()> raw_help = nullptr;
};

const std::vector<Command>& commands();

// Prints "ckpt: <message>" on stderr; returns kExitError.
[[gnu::format(printf, 1, 2)]] int fail(const char* fmt, ...);
// The same for bad arguments; returns kExitUsage.
[[gnu::format(printf, 1, 2)]] int usage(const char* fmt, ...);

// A whole number given as an option's text (from its flag or its environment
// variable): false, with a one-line error printed, unless it is in [lo, hi].
bool parse_number(const char* option, const std::string& text, long lo, long hi, int* out);
// Adds --dir DIR (also $CKPT_DIR) to sub, defaulting to format::default_dir().
void add_dir_option(CLI::App* sub, std::string* dir);
// Where a command's manual is, for --help footers: "man ckpt-NAME".
std::string docs_footer(const char* name);

std::string human_bytes(uint64_t n);
std::string human_age(uint64_t created_ns);

// What list and status show of an image that passed quick_check.
struct ImageSummary {
  format::FileHeader header;
  uint64_t file_bytes = 0;
};
// A cheap soundness check (soundness.cc): headers, the end record, and all
// checksums but those of the big data records of images over 64 MiB.
// kCorrupt for a damaged image.
Status quick_check(const std::string& path, ImageSummary* out);

// Writes ckpt.1 and ckpt-COMMAND.1 into dir (manual.cc); the exit status.
int write_man_pages(const CLI::App& app, const std::string& dir);

// Subcommand setups, one per file.
std::function<int()> setup_status(CLI::App* sub);
std::function<int()> setup_list(CLI::App* sub);
std::function<int()> setup_inspect(CLI::App* sub);
std::function<int()> setup_verify(CLI::App* sub);
std::function<int()> setup_check(CLI::App* sub);
// Transparent checkpointing (src/cli/run.cc, checkpoint.cc, restart.cc).
std::function<int()> setup_run(CLI::App* sub);
std::function<int()> setup_checkpoint(CLI::App* sub);
std::function<int()> setup_restart(CLI::App* sub);
// Slurm (src/cli/sbatch.cc, slurm_script.cc, slurm_status.cc).
std::function<int()> setup_sbatch(CLI::App* sub);
std::function<int()> setup_slurm_script(CLI::App* sub);
int run_sbatch(const std::vector<std::string>& args);
int run_slurm_script(const std::vector<std::string>& args);
int sbatch_main(const std::vector<std::string>& args, bool submit);
std::string sbatch_help(bool submit);
// The Slurm job of a checkpoint directory (its slurm.state), for ckpt status.
void print_slurm_status(const std::string& dir);

}  // namespace ckpt::cli
