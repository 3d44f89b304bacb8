// Pipes and unix socket pairs held by the checkpointed process: captured
// with the bytes in flight (without consuming them), rebuilt at restart as
// one object per pipe or pair, with those bytes queued again. A pipe whose
// other end is not held by the job comes back with that end closed: reads
// see the bytes in flight, then end of file. docs/process-tree.md,
// "resources", is the plan this is the first part of.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

// Largest number of bytes in flight saved for one pipe or socket end (an
// FD record is capped at 1 MiB).
inline constexpr uint64_t kMaxQueued = 960u << 10;

// Fills a kPipe descriptor: pipe size, and the bytes in flight if data is
// set and a read end can be had (*read_end then; once per pipe). The
// program must be stopped. pidfd: the program's, for pidfd_getfd.
Status capture_pipe(pid_t pid, int pidfd, FdInfo* f, bool data, bool* read_end);

// What the supervisor knows of every unix socket (sock_diag), by inode.
struct UnixSocket {
  uint32_t type = 0, state = 0;
  uint64_t peer = 0;
  // A listening socket: the connections in its accept queue, not yet
  // accepted (UNIX_DIAG_ICONS: the inodes of their client ends).
  std::vector<uint64_t> pending;
};
Status list_unix_sockets(std::map<uint64_t, UnixSocket>* out);

// Fills a kUnixPair descriptor: type, peer, and the messages queued for it
// (peeked, not consumed). pidfd: the program's, for pidfd_getfd.
Status capture_unix_pair(int pidfd, const UnixSocket& s, FdInfo* f);

// At restart, before the job's processes exist: makes every pipe, socket
// pair and other socket of the job's descriptors once, with its queued
// bytes, at or above `above`, close-on-exec. pipe_ends: by inode * 2 + 0
// for the read end, + 1 for the write end; sockets: by inode. On failure,
// *error says why.
bool build_pipes(const std::vector<FdInfo>& fds, int above, std::map<uint64_t, int>* pipe_ends,
                 std::map<uint64_t, int>* sockets, std::string* error);

// The image's checks of these descriptors (hostile images): nullptr if sound.
const char* check_pipes(const std::vector<FdInfo>& fds);

}  // namespace ckpt::control
