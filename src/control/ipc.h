// SysV semaphore sets, message queues and shared memory segments of a job
// in namespace mode. The job has an IPC namespace of its own (created with
// its user and pid namespaces), so its objects can come back under their
// old ids: at restart the job's init writes kernel/{sem,msg,shm}_next_id
// (allowed with CAP_CHECKPOINT_RESTORE in the job's user namespace) before
// it makes each one. Semaphores keep their values, queues their messages
// in order. A process's SEM_UNDO adjustments cannot be read by anyone: the
// checkpoint says so (has_sem_undo) and they are not undone after a
// restart. A segment's pages are saved as memory when a process has it
// attached (memory.h): its id, key, owner and mode are made again here,
// and each process attaches it again at its address (the restorer,
// kMapSysv); one that no process has attached is saved in its record.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

// nullptr if the record is one a checkpoint can have written.
const char* check_ipc(const IpcObject& v);

// The objects of the IPC namespace of `init` (the job's init), read from
// inside it by a child that enters the job's user namespace and then its
// IPC namespace (the supervisor owns the first; only from inside it may it
// enter the second). Nothing is taken: queues are read with MSG_COPY.
Status capture_ipc(pid_t init, std::vector<IpcObject>* out);

// Whether a process has SEM_UNDO adjustments (its undo list is not the
// init's empty one, by kcmp).
bool has_sem_undo(pid_t pid, pid_t init);

// At restart, in the job's init, before any process exists: every object
// made again under its id, with its owner, mode, values and messages.
// false with *error naming the object.
bool make_ipc_objects(const std::vector<IpcObject>& objects, std::string* error);

// Once every process of the restarted job has attached its segments, and
// before any runs: each segment gets its owner and mode back, and one
// that was marked for removal (IPC_RMID) is marked again, so that it goes
// when its last process detaches, as before. From the supervisor, by a
// child that enters the job's namespaces as capture_ipc's does.
Status finish_segments(pid_t init, const std::vector<IpcObject>& objects);

}  // namespace ckpt::control
