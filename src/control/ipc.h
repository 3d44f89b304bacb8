// SysV semaphore sets and message queues of a job in namespace mode. The
// job has an IPC namespace of its own (created with its user and pid
// namespaces), so its objects can come back under their old ids: at
// restart the job's init writes kernel/{sem,msg}_next_id (allowed with
// CAP_CHECKPOINT_RESTORE in the job's user namespace) before it makes each
// one. Semaphores keep their values, queues their messages in order. A
// process's SEM_UNDO adjustments cannot be read by anyone: the checkpoint
// says so (has_sem_undo) and they are not undone after a restart.
// (Attached SysV shared memory is saved as memory, memory.h; its id is not
// kept yet.)
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

}  // namespace ckpt::control
