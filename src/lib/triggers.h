// What makes a libckpt checkpoint due besides the clock: signals (whose
// handlers only set flags) and the job's deadline under Slurm.
#pragma once

#include <cstdint>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::lib {

// Installs flag-setting handlers for `signals`; `stop` is the subset after
// which the program ends. Only one owner at a time per process.
Status install_signal_triggers(const void* owner, const std::vector<int>& signals,
                               const std::vector<int>& stop);
void remove_signal_triggers(const void* owner);
// A stop signal arrived since the last clear.
bool stop_requested();
// Which signal asked for the stop (0 if none).
int stop_signal();
void clear_signal_flags();
// Re-delivers the pending stop signal with the program's own disposition:
// used when the checkpoint that it asked for failed.
[[noreturn]] void reraise_stop_signal();

// The end time (unix seconds) of Slurm job `job_id`, from squeue; 0 when it
// cannot be found out. Bounded by a few seconds.
int64_t slurm_job_end_time(const char* job_id);
// squeue's "%e" output ("2026-01-31T12:00:00", local time) as unix seconds;
// 0 for anything else ("N/A", "Unknown", garbage).
int64_t parse_squeue_end_time(const char* text);

}  // namespace ckpt::lib
