// Getting a pid back without privileges. The kernel hands pids out in
// order: the next process gets the first free pid after the last one handed
// out (/proc/sys/kernel/ns_last_pid, which anyone may read but only
// CAP_CHECKPOINT_RESTORE may write). So without a namespace of the job's own
// (where clone3 set_tid is allowed), a pid that is free is reached by making
// processes that exit at once until the counter stands just below it, at
// most once round the whole range (pid_max). docs/process-tree.md,
// "Trees without a user namespace".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::control {

// Like fork (flags: extra clone flags, such as CLONE_PARENT), but the new
// process gets pid `want`: returns `want` in the parent and 0 in the child,
// or -1 with one line in *why (the pid is in use or a group's id, cannot be
// reached, or other processes kept taking it). Single-threaded callers only.
pid_t fork_with_pid(pid_t want, uint64_t flags, std::string* why);

// Whether every one of `pids` can be had here now: free of processes
// (or freed within 2 s each), not a process group's or session's id (or
// no longer within 5 s: a killed job's zombies being reaped), within the
// machine's range; if not, why in one line. Checked for every process of a
// job before the counter moves, so that a restart that cannot succeed
// leaves it where it was.
bool pids_can_be_had(const std::vector<pid_t>& pids, std::string* why);

// How many pids the counter hands out before it reaches `want` (for
// making several processes in one round).
uint64_t pids_before(pid_t want);

// Restarts of one machine that bring the counter round take turns (a file
// lock, /tmp/ckpt-pid-walk.lock): two at once would take each other's pids.
// Waits up to a minute for another, then goes on regardless.
class PidWalkTurn {
 public:
  PidWalkTurn();
  ~PidWalkTurn() { release(); }
  PidWalkTurn(const PidWalkTurn&) = delete;
  PidWalkTurn& operator=(const PidWalkTurn&) = delete;
  void release();

 private:
  int fd_ = -1;
};

// The lowest pid the kernel hands out again once its counter has gone
// round (RESERVED_PIDS in the kernel).
inline constexpr pid_t kLowestReusedPid = 300;

}  // namespace ckpt::control
