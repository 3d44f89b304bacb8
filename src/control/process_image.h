// The records of a process image (Kind::kProcess), their in-memory form and
// their encoding: fixed-width little-endian fields, strings as u32 length +
// bytes. The grammar, with the reason for each field, is in
// docs/process-image.md; keep the two in step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/identity.h"
#include "inject/inject_abi.h"

namespace ckpt::control {

inline constexpr uint32_t kProcFormatVersion = 1;

// What the process saw when it was checkpointed.
struct ProcInfo {
  uint32_t format_version = kProcFormatVersion;
  uint32_t uid = 0;
  int32_t pid = 0;
  uint32_t signal = 0;      // the checkpoint signal
  uint64_t block_addr = 0;  // the injected library's Block
  uint32_t seq = 0;         // checkpoint number within the block's life
  uint32_t pid_ns = 0;      // 1: ran in its own user+pid namespace
  uint64_t mm[11] = {};     // see restore_abi.h RHeader::mm
  uint32_t umask = 022;
  std::string cwd, exe;
  uint64_t exe_ino = 0, exe_size = 0, exe_mtime_ns = 0;
  inject::KSigaction actions[65] = {};
  uint64_t itimers[3][4] = {};
  uint64_t rlimits[16][2] = {};
  uint64_t sigpending = 0;     // process-wide pending signals
  std::vector<uint64_t> auxv;  // words, up to and including AT_NULL
  // The executable's content (appended field: absent in older images,
  // whose executable is then identified by inode, size and mtime only).
  bool has_exe_hash = false;
  ContentHash exe_hash;
};

// The whole job (JOB, first in a job image): how many processes follow and
// which one is the root. An image without it is a job of one process.
struct JobInfo {
  uint32_t version = 1;
  uint32_t pid_ns = 0;     // 1: the job ran in its own user+pid namespace
  int32_t root = 0;        // the root's pid (as the job saw it)
  uint32_t processes = 0;  // TASK records that follow
};

enum class TaskState : uint32_t {
  kLive = 1,    // has a process section
  kZombie = 2,  // exited, not yet waited for by its parent: exit_status
};

// One process of the job (TASK): its place in the tree. Pids are as the
// job saw them; 0 for a group or session outside the job's namespace
// (inherited from `ckpt run`, and from `ckpt restart` at restart).
struct TaskInfo {
  int32_t pid = 0, ppid = 0, pgid = 0, sid = 0;
  TaskState state = TaskState::kLive;
  int32_t exit_status = 0;  // a zombie's wait status (as waitpid reports it)
};

struct ThreadInfo {
  inject::ThreadSlot slot{};
  uint64_t sigpending = 0;
};

enum class MapKind : uint32_t {
  kAnon = 1,     // private or shared anonymous memory, [heap], [stack]
  kFile = 2,     // a file, mapped back from it (must be unchanged)
  kMemfd = 3,    // shared memory without a file to come back from (memfd, deleted file)
  kSpecial = 4,  // [vdso], [vvar], [vvar_vclock]: moved, not saved
};

struct MappingInfo {
  uint64_t start = 0, end = 0, pgoff = 0;
  uint32_t prot = 0;   // PROT_* bits
  uint32_t flags = 0;  // restore::kMap* bits (shared, growsdown)
  MapKind kind = MapKind::kAnon;
  uint32_t special = 0;                               // restore::kSpecial* for kSpecial
  uint64_t dev = 0, ino = 0, size = 0, mtime_ns = 0;  // for kFile: what must be unchanged
  std::string path;
  // For kFile: the file's content (appended field, as has_exe_hash).
  bool has_hash = false;
  ContentHash hash;
  // Shared memory that several mappings (of one process or several) map:
  // the same object id is one object at restart (appended field; 0: none).
  // Its pages are saved with the first mapping of it in the image that
  // covers them; later mappings carry no page data for those.
  uint64_t object = 0;
  // A SysV shared memory segment attached whole (shmat): its id in the
  // job's IPC namespace, which the restart makes again (an IPC record);
  // -1: none (appended field).
  int32_t sysv_id = -1;
};

struct PagesInfo {
  uint64_t addr = 0, len = 0;
};

enum class FdKind : uint32_t {
  kFile = 1,       // a regular file, reopened by path
  kDevice = 2,     // /dev/null, /dev/zero, /dev/urandom...: reopened by path
  kInherited = 3,  // stdin/stdout/stderr as `ckpt run` got them: taken from `ckpt restart`
  kOther = 4,      // pipe, socket, other anon inodes...: not restorable yet, /dev/null in its place
  kEventfd = 5,    // recreated with its count (fdinfo)
  kTimerfd = 6,    // recreated with its clock and remaining time: still armed
  kEpoll = 7,      // recreated with its interest list, after every other descriptor
  kReport = 8,     // the injected library's report pipe: a new one at restart
  kPipe = 9,       // a pipe (ino: its identity), with the bytes in flight
  kUnixPair = 10,  // a unix socket whose peer is held by the job too, with its unread data
  kSocket = 11,    // another socket: bound or listening again, or closed (sockets.h)
};

struct FdInfo {
  int32_t fd = -1;
  FdKind kind = FdKind::kOther;
  uint32_t open_flags = 0;  // O_* as in fdinfo, without O_CLOEXEC
  uint32_t cloexec = 0;
  uint64_t pos = 0, size = 0;  // offset; file size at the checkpoint
  uint64_t dev = 0, ino = 0;
  std::string path;
  std::string fdinfo;        // kEventfd, kTimerfd, kEpoll: /proc/PID/fdinfo/FD as read
  uint64_t peer = 0;         // kUnixPair: the peer socket's inode
  uint32_t sock_type = 0;    // kUnixPair, kSocket: SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
  uint32_t sock_family = 0;  // kSocket: AF_UNIX, AF_INET, AF_INET6
  uint32_t sock_state = 0;   // kSocket: SocketState (sockets.h)
  std::string addr;          // kSocket: the address it is bound to (sockaddr bytes)
  // kPipe: the bytes in flight (on the pipe's first descriptor only);
  // kUnixPair: the messages queued for this end, oldest first.
  std::vector<std::string> queued;
  // kFile: the open file description, shared by every descriptor of the
  // job that has the same id (dup, fork): one offset at restart
  // (appended field; 0: a description of its own).
  uint64_t ofd = 0;
  // kSocket connected to another socket of the job (kSocketConnected), or a
  // datagram socket with a default peer (kSocketDatagramPeer): the peer's
  // address (appended field; addr is then the local one).
  std::string peer_addr;
  // kSocket of type SOCK_DGRAM: for each datagram in queued, the address of
  // its sender (empty: an unnamed sender) (appended field).
  std::vector<std::string> queued_from;
};

// A SysV semaphore set, message queue or shared memory segment of the job
// (IPC record, control/ipc.h).
enum class IpcKind : uint32_t { kSemaphores = 1, kQueue = 2, kSharedMemory = 3 };
// The largest SysV segment an image may name (hostile images), and the
// largest whose bytes fit in its IPC record (one with no process attached;
// records are at most 1 MiB).
inline constexpr uint64_t kMaxSysvSegment = 1ull << 40;
inline constexpr uint64_t kMaxSysvUnattached = (1u << 20) - 4096;
struct IpcObject {
  IpcKind kind = IpcKind::kQueue;
  int32_t id = 0;
  int32_t key = 0;  // 0: IPC_PRIVATE
  uint32_t uid = 0, gid = 0, mode = 0;
  uint64_t qbytes = 0;           // a queue's byte limit
  std::vector<uint16_t> values;  // a semaphore set's values (nsems of them)
  struct Message {
    int64_t type = 1;
    std::string text;
  };
  std::vector<Message> messages;  // a queue's, oldest first
  // A shared memory segment's size in bytes, whether it was marked for
  // removal (IPC_RMID: gone once the last process detaches; its key is
  // then IPC_PRIVATE), and its bytes when no process had it attached
  // (attached, its pages are saved with the first mapping of it, as other
  // shared memory is). Appended fields, absent in older images.
  uint64_t size = 0;
  uint32_t removed = 0;
  std::string bytes;
};

std::vector<uint8_t> encode(const JobInfo& v);
std::vector<uint8_t> encode(const TaskInfo& v);
std::vector<uint8_t> encode(const ProcInfo& v);
std::vector<uint8_t> encode(const ThreadInfo& v);
std::vector<uint8_t> encode(const MappingInfo& v);
std::vector<uint8_t> encode(const PagesInfo& v);
std::vector<uint8_t> encode(const FdInfo& v);
std::vector<uint8_t> encode(const IpcObject& v);

// kCorrupt naming the record and its first bad field ("bad mapping record
// (field end)"): one that does not fit, or a value no writer produces.
Status decode(const std::vector<uint8_t>& in, JobInfo* v);
Status decode(const std::vector<uint8_t>& in, TaskInfo* v);
Status decode(const std::vector<uint8_t>& in, ProcInfo* v);
Status decode(const std::vector<uint8_t>& in, ThreadInfo* v);
Status decode(const std::vector<uint8_t>& in, MappingInfo* v);
Status decode(const std::vector<uint8_t>& in, PagesInfo* v);
Status decode(const std::vector<uint8_t>& in, FdInfo* v);
Status decode(const std::vector<uint8_t>& in, IpcObject* v);

}  // namespace ckpt::control
