#include "control/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace ckpt::control {
namespace {

// What the reading child sends back, object by object: a header, then the
// messages (type, length, text) or the values.
struct Head {
  uint32_t kind;
  int32_t id, key;
  uint32_t uid, gid, mode;
  uint64_t qbytes;
  uint32_t count;  // messages, or semaphores, or a segment's bytes that follow
  uint32_t attached, removed;
  uint64_t size;  // a segment's
};
struct MessageHead {
  int64_t type;
  uint32_t len;
};

// A message's text is at most msgmax bytes; a new IPC namespace's msgmax
// is 8192, and the job cannot raise it.
constexpr size_t kMaxText = 1 << 16;

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= size_t(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= size_t(r);
  }
  return true;
}

// The reading child: forked from the supervisor, which may have other
// threads, so it allocates nothing (static buffers, raw system calls).
[[noreturn]] void read_namespace(int out) {
  static struct {
    long mtype;
    char text[kMaxText];
  } msg;
  static unsigned short values[32000];
  msqid_ds qs = {};
  int top = ::msgctl(0, MSG_INFO, &qs);
  for (int idx = 0; idx <= top; idx++) {
    msqid_ds ds = {};
    int id = ::msgctl(idx, MSG_STAT_ANY, &ds);
    if (id < 0) continue;
    Head h = {uint32_t(IpcKind::kQueue),
              id,
              int32_t(ds.msg_perm.__key),
              ds.msg_perm.uid,
              ds.msg_perm.gid,
              uint32_t(ds.msg_perm.mode & 0777),
              uint64_t(ds.msg_qbytes),
              uint32_t(ds.msg_qnum)};
    if (!write_all(out, &h, sizeof h)) _exit(12);
    for (uint32_t i = 0; i < h.count; i++) {
      ssize_t n = ::msgrcv(id, &msg, sizeof msg.text, long(i), IPC_NOWAIT | MSG_COPY);
      if (n < 0) _exit(13);  // the job is stopped: the queue cannot have changed
      MessageHead m = {msg.mtype, uint32_t(n)};
      if (!write_all(out, &m, sizeof m) || !write_all(out, msg.text, size_t(n))) _exit(12);
    }
  }
  semid_ds ss = {};
  top = ::semctl(0, 0, SEM_INFO, &ss);
  for (int idx = 0; idx <= top; idx++) {
    semid_ds ds = {};
    int id = ::semctl(idx, 0, SEM_STAT_ANY, &ds);
    if (id < 0) continue;
    Head h = {uint32_t(IpcKind::kSemaphores),
              id,
              int32_t(ds.sem_perm.__key),
              ds.sem_perm.uid,
              ds.sem_perm.gid,
              uint32_t(ds.sem_perm.mode & 0777),
              0,
              uint32_t(ds.sem_nsems)};
    if (h.count > 32000 || ::semctl(id, 0, GETALL, values) != 0) _exit(14);
    if (!write_all(out, &h, sizeof h) || !write_all(out, values, h.count * sizeof values[0]))
      _exit(12);
  }
  // Shared memory: an attached segment's pages are saved with the memory
  // of a process that maps it; one that no process has attached is read
  // here (attached read-only for the moment), if it fits in its record.
  shmid_ds ms = {};
  top = ::shmctl(0, SHM_INFO, &ms);
  for (int idx = 0; idx <= top; idx++) {
    shmid_ds ds = {};
    int id = ::shmctl(idx, SHM_STAT_ANY, &ds);
    if (id < 0) continue;
    Head h = {uint32_t(IpcKind::kSharedMemory),
              id,
              int32_t(ds.shm_perm.__key),
              ds.shm_perm.uid,
              ds.shm_perm.gid,
              uint32_t(ds.shm_perm.mode & 0777),
              0,
              0,
              uint32_t(ds.shm_nattch > 0),
              uint32_t((ds.shm_perm.mode & SHM_DEST) != 0),
              uint64_t(ds.shm_segsz)};
    const void* at = nullptr;
    if (!h.attached && h.size <= kMaxSysvUnattached) {
      at = ::shmat(id, nullptr, SHM_RDONLY);
      if (at == reinterpret_cast<void*>(-1)) _exit(15);
      h.count = uint32_t(h.size);
    }
    if (!write_all(out, &h, sizeof h) || (at && !write_all(out, at, h.count))) _exit(12);
    if (at) ::shmdt(at);
  }
  _exit(0);
}

// A child of ours in the job's IPC namespace: it enters the job's user
// namespace first (the supervisor owns it; only from inside it may the IPC
// one be entered). *kid is 0 in the child, which allocates nothing after
// the fork (the supervisor may have other threads).
Status fork_into(pid_t init, pid_t* kid) {
  std::string base = "/proc/" + std::to_string(init) + "/ns/";
  int user_ns = ::open((base + "user").c_str(), O_RDONLY | O_CLOEXEC);
  int ipc_ns = ::open((base + "ipc").c_str(), O_RDONLY | O_CLOEXEC);
  if (user_ns < 0 || ipc_ns < 0) {
    int e = errno;
    for (int fd : {user_ns, ipc_ns})
      if (fd >= 0) ::close(fd);
    return Status::make(Code::kIo, e, "cannot reach the job's IPC namespace");
  }
  *kid = ::fork();
  if (*kid == 0) {
    if (::setns(user_ns, CLONE_NEWUSER) != 0) _exit(10);
    if (::setns(ipc_ns, CLONE_NEWIPC) != 0) _exit(11);
    ::close(user_ns);
    ::close(ipc_ns);
    return Status::ok();
  }
  int e = errno;
  ::close(user_ns);
  ::close(ipc_ns);
  if (*kid < 0) return Status::make(Code::kIo, e, "fork");
  return Status::ok();
}

}  // namespace

const char* check_ipc(const IpcObject& v) {
  if (v.kind == IpcKind::kSharedMemory) {
    if (!v.values.empty() || !v.messages.empty() || v.qbytes) return "a SysV segment with messages";
    if (v.size == 0 || v.size > kMaxSysvSegment) return "a SysV segment of an impossible size";
    if (!v.bytes.empty() && (v.bytes.size() != v.size || v.size > kMaxSysvUnattached))
      return "a SysV segment whose saved bytes are not its size";
    if (v.removed && v.key) return "a removed SysV segment that still has its key";
    return nullptr;
  }
  if (v.size || v.removed || !v.bytes.empty()) return "a semaphore set or queue with a size";
  if (v.kind == IpcKind::kSemaphores) {
    if (v.values.empty()) return "a semaphore set without semaphores";
    if (!v.messages.empty() || v.qbytes) return "a semaphore set with messages";
  } else {
    if (!v.values.empty()) return "a message queue with semaphore values";
    uint64_t total = 0;
    for (const IpcObject::Message& m : v.messages) {
      if (m.text.size() > kMaxText) return "a message longer than a queue holds";
      total += m.text.size();
    }
    if (total > v.qbytes) return "a message queue holding more than its limit";
  }
  return nullptr;
}

Status capture_ipc(pid_t init, std::vector<IpcObject>* out) {
  out->clear();
#if defined(__SANITIZE_THREAD__)
  // Under ThreadSanitizer the forked reader has TSan's own thread, and
  // setns(CLONE_NEWUSER) refuses a multithreaded caller (EINVAL): the TSan
  // build (CI's race-detection stage) saves no SysV objects. The release and
  // ASan builds test this path (Tree.SysVSemaphores...).
  (void)init;
  return Status::ok();
#endif
  std::string base = "/proc/" + std::to_string(init) + "/ns/";
  // A job without an IPC namespace of its own (started by an older ckpt):
  // its SysV objects are the machine's, not the job's.
  struct stat mine, its;
  if (::stat("/proc/self/ns/ipc", &mine) == 0 && ::stat((base + "ipc").c_str(), &its) == 0 &&
      mine.st_ino == its.st_ino && mine.st_dev == its.st_dev)
    return Status::ok();
  int p[2] = {-1, -1};
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::make(Code::kIo, errno, "pipe");
  pid_t kid = -1;
  if (Status s = fork_into(init, &kid); !s) {
    ::close(p[0]);
    ::close(p[1]);
    return s;
  }
  if (kid == 0) {
    ::close(p[0]);
    read_namespace(p[1]);
  }
  ::close(p[1]);
  bool ok = kid > 0;
  int unkept = -1;
  uint64_t unkept_size = 0;
  for (Head h; ok && read_all(p[0], &h, sizeof h);) {
    IpcObject o;
    o.kind = IpcKind(h.kind);
    o.id = h.id;
    o.key = h.key;
    o.uid = h.uid;
    o.gid = h.gid;
    o.mode = h.mode;
    o.qbytes = h.qbytes;
    if (o.kind == IpcKind::kSharedMemory) {
      o.size = h.size;
      o.removed = h.removed;
      // Said once everything is read: the child is not left blocked.
      if (!h.attached && h.count != h.size && unkept < 0) {
        unkept = h.id;
        unkept_size = h.size;
      }
      o.bytes.resize(h.count);
      ok = h.count <= kMaxSysvUnattached && read_all(p[0], o.bytes.data(), o.bytes.size());
    } else if (o.kind == IpcKind::kQueue) {
      for (uint32_t i = 0; ok && i < h.count; i++) {
        MessageHead m;
        ok = read_all(p[0], &m, sizeof m) && m.len <= kMaxText;
        IpcObject::Message msg;
        msg.type = m.type;
        msg.text.resize(ok ? m.len : 0);
        ok = ok && read_all(p[0], msg.text.data(), msg.text.size());
        o.messages.push_back(std::move(msg));
      }
    } else {
      o.values.resize(h.count);
      ok = read_all(p[0], o.values.data(), o.values.size() * sizeof o.values[0]);
    }
    out->push_back(std::move(o));
  }
  ::close(p[0]);
  int st = 0;
  while (kid > 0 && ::waitpid(kid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return Status::make(Code::kIo, 0, "cannot read the job's SysV objects (step %d)",
                        WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  if (unkept >= 0)
    return Status::make(Code::kUnsupported, 0,
                        "SysV shared memory segment %d (%llu KiB) is attached by no process: "
                        "ckpt saves such a segment only up to %llu KiB",
                        unkept, (unsigned long long)(unkept_size >> 10),
                        (unsigned long long)(kMaxSysvUnattached >> 10));
  return Status::ok();
}

bool has_sem_undo(pid_t pid, pid_t init) {
  return ::syscall(SYS_kcmp, pid, init, KCMP_SYSVSEM, 0, 0) > 0;
}

bool make_ipc_objects(const std::vector<IpcObject>& objects, std::string* error) {
  for (const IpcObject& o : objects) {
    bool queue = o.kind == IpcKind::kQueue, segment = o.kind == IpcKind::kSharedMemory;
    const char* what = queue     ? "message queue"
                       : segment ? "shared memory segment"
                                 : "semaphore set";
    auto fail = [&](const char* step) {
      *error = std::string("cannot make SysV ") + what + " " + std::to_string(o.id) +
               " again: " + step + ": " + std::strerror(errno);
      return false;
    };
    // The next object made gets this id (needs CAP_CHECKPOINT_RESTORE in
    // the job's user namespace: the init has it).
    int fd = ::open(queue     ? "/proc/sys/kernel/msg_next_id"
                    : segment ? "/proc/sys/kernel/shm_next_id"
                              : "/proc/sys/kernel/sem_next_id",
                    O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("open kernel's next id");
    std::string id = std::to_string(o.id);
    bool set = ::write(fd, id.data(), id.size()) == ssize_t(id.size());
    ::close(fd);
    if (!set) return fail("write kernel's next id");
    key_t key = o.key ? key_t(o.key) : IPC_PRIVATE;
    int got = queue     ? ::msgget(key, IPC_CREAT | IPC_EXCL | 0600)
              : segment ? ::shmget(key, size_t(o.size), IPC_CREAT | IPC_EXCL | 0600)
                        : ::semget(key, int(o.values.size()), IPC_CREAT | IPC_EXCL | 0600);
    if (got < 0) return fail(queue ? "msgget" : segment ? "shmget" : "semget");
    if (got != o.id) {
      errno = EEXIST;
      return fail(("it came back as " + std::to_string(got)).c_str());
    }
    if (segment) {
      // Its owner and mode, and its removal, wait until every process has
      // attached it (finish_segments): the restorer that fills it in
      // attaches it read-write.
      if (!o.bytes.empty()) {
        void* at = ::shmat(got, nullptr, 0);
        if (at == reinterpret_cast<void*>(-1)) return fail("shmat");
        std::memcpy(at, o.bytes.data(), o.bytes.size());
        ::shmdt(at);
      }
    } else if (queue) {
      static struct {
        long mtype;
        char text[kMaxText];
      } msg;
      for (const IpcObject::Message& m : o.messages) {
        msg.mtype = long(m.type);
        std::memcpy(msg.text, m.text.data(), m.text.size());
        if (::msgsnd(got, &msg, m.text.size(), IPC_NOWAIT) != 0) return fail("msgsnd");
      }
      msqid_ds ds = {};
      if (::msgctl(got, IPC_STAT, &ds) != 0) return fail("msgctl");
      ds.msg_perm.uid = o.uid;
      ds.msg_perm.gid = o.gid;
      ds.msg_perm.mode = (unsigned short)o.mode;
      // A limit above the new namespace's default cannot be given back
      // (the kernel asks CAP_SYS_RESOURCE of the host); the messages are in.
      if (o.qbytes <= ds.msg_qbytes) ds.msg_qbytes = (msglen_t)o.qbytes;
      if (::msgctl(got, IPC_SET, &ds) != 0) return fail("msgctl(IPC_SET)");
    } else {
      std::vector<unsigned short> values(o.values.begin(), o.values.end());
      if (::semctl(got, 0, SETALL, values.data()) != 0) return fail("semctl(SETALL)");
      semid_ds ds = {};
      if (::semctl(got, 0, IPC_STAT, &ds) != 0) return fail("semctl");
      ds.sem_perm.uid = o.uid;
      ds.sem_perm.gid = o.gid;
      ds.sem_perm.mode = (unsigned short)o.mode;
      if (::semctl(got, 0, IPC_SET, &ds) != 0) return fail("semctl(IPC_SET)");
    }
  }
  return true;
}

Status finish_segments(pid_t init, const std::vector<IpcObject>& objects) {
  if (std::none_of(objects.begin(), objects.end(),
                   [](const IpcObject& o) { return o.kind == IpcKind::kSharedMemory; }))
    return Status::ok();
  pid_t kid = -1;
  CKPT_RETURN_IF_ERROR(fork_into(init, &kid));
  if (kid == 0) {
    for (const IpcObject& o : objects) {
      if (o.kind != IpcKind::kSharedMemory) continue;
      shmid_ds ds = {};
      if (::shmctl(o.id, IPC_STAT, &ds) != 0) _exit(20);
      ds.shm_perm.uid = o.uid;
      ds.shm_perm.gid = o.gid;
      ds.shm_perm.mode = (unsigned short)o.mode;
      if (::shmctl(o.id, IPC_SET, &ds) != 0) _exit(21);
      if (o.removed && ::shmctl(o.id, IPC_RMID, nullptr) != 0) _exit(22);
    }
    _exit(0);
  }
  int st = 0;
  while (::waitpid(kid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return Status::make(Code::kIo, 0,
                        "cannot give the job's SysV shared memory its owner and mode back (step "
                        "%d)",
                        WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return Status::ok();
}

}  // namespace ckpt::control
