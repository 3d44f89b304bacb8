#include "control/tree.h"

#include <errno.h>
#include <time.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <set>

#include "control/procfs.h"

namespace ckpt::control {
namespace {

constexpr double kGrowSeconds = 10;

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// The last field of a "NSpid:"-style line: the value inside the job's
// namespace (0: outside it).
pid_t inner_field(const std::string& status, const char* name) {
  std::string v = status_field(status, name);
  size_t sp = v.find_last_of(" \t");
  return pid_t(std::atoi(sp == std::string::npos ? v.c_str() : v.c_str() + sp + 1));
}

// State letter (R, S, Z...) and, for a zombie, its wait status; false if gone.
bool read_state(pid_t pid, char* state, int* exit_code, pid_t* ppid) {
  std::vector<std::string> f;
  // Numbered as in proc(5): 3 state, 4 ppid, 52 exit_code.
  if (!read_stat_fields(pid, &f).is_ok() || f.size() < 53) return false;
  *state = f[3].empty() ? '?' : f[3][0];
  *ppid = pid_t(std::atoi(f[4].c_str()));
  *exit_code = std::atoi(f[52].c_str());
  return true;
}

}  // namespace

std::string process_name(pid_t outer, pid_t inner) {
  std::string comm;
  (void)read_text("/proc/" + std::to_string(outer) + "/comm", &comm);
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  if (comm.empty()) comm = "?";
  return comm + " (pid " + std::to_string(inner > 0 ? inner : outer) + ")";
}

Status seize_job(pid_t root, pid_t init, pid_t reaper, std::vector<JobProcess>* out) {
  std::set<pid_t> seen;
  std::deque<pid_t> todo = {root};
  std::map<pid_t, pid_t> outer_ppid;
  double deadline = now_s() + kGrowSeconds;
  for (;;) {
    while (!todo.empty()) {
      pid_t p = todo.front();
      todo.pop_front();
      if (!seen.insert(p).second) continue;
      char state;
      int code;
      pid_t ppid;
      if (!read_state(p, &state, &code, &ppid)) {
        if (p == root)
          return Status::make(Code::kIo, 0, "the program exited during the checkpoint");
        continue;  // reaped meanwhile
      }
      JobProcess jp;
      jp.pid = p;
      std::string st = "/proc/" + std::to_string(p) + "/status";
      jp.task.pid = inner_pid(st);
      if (jp.task.pid <= 0) jp.task.pid = p;
      jp.name = process_name(p, jp.task.pid);
      if (state != 'Z' && state != 'X') {
        jp.seized = std::make_unique<Seized>();
        Status s = jp.seized->stop(p);
        if (!s.is_ok()) {
          jp.seized.reset();  // released
          // Exited between the look and the stop: a zombie now, or gone.
          if (!read_state(p, &state, &code, &ppid)) {
            if (p == root)
              return Status::make(Code::kIo, 0, "the program exited during the checkpoint");
            continue;
          }
          if (state != 'Z' && state != 'X') return s;
        }
      }
      if (state == 'Z' || state == 'X') {
        jp.task.state = TaskState::kZombie;
        jp.task.exit_status = code & 0xffff;
      }
      jp.task.pgid = inner_field(st, "NSpgid");
      jp.task.sid = inner_field(st, "NSsid");
      outer_ppid[p] = ppid;
      if (!jp.zombie())
        for (pid_t kid : list_children(p)) todo.push_back(kid);
      out->push_back(std::move(jp));
    }
    // Orphans adopted by the init, the reaper or a subreaper of the job
    // while the walk went on; the stopped processes' children cannot change
    // any more.
    bool fresh = false;
    std::vector<pid_t> parents;
    for (pid_t r : {init, reaper})
      if (r > 0)
        for (pid_t kid : list_children(r)) {
          char state;
          int code;
          pid_t ppid;
          if (!seen.count(kid) && read_state(kid, &state, &code, &ppid) && state != 'Z' &&
              state != 'X') {
            todo.push_back(kid);
            fresh = true;
          }
        }
    for (const JobProcess& jp : *out)
      if (!jp.zombie()) parents.push_back(jp.pid);
    for (pid_t parent : parents)
      for (pid_t kid : list_children(parent))
        if (!seen.count(kid)) {
          todo.push_back(kid);
          fresh = true;
        }
    if (!fresh) break;
    if (now_s() > deadline)
      return Status::make(Code::kIo, 0, "the job kept starting processes for %d s",
                          int(kGrowSeconds));
  }
  // Parents as the job sees them: 1 for the init, 0 for ckpt itself.
  std::map<pid_t, pid_t> inner_of;
  for (const JobProcess& jp : *out) inner_of[jp.pid] = jp.task.pid;
  std::set<pid_t> job_pids;
  for (const JobProcess& jp : *out) job_pids.insert(jp.task.pid);
  for (JobProcess& jp : *out) {
    pid_t pp = outer_ppid[jp.pid];
    if (inner_of.count(pp)) jp.task.ppid = inner_of[pp];
    else jp.task.ppid = init > 0 && pp == init ? 1 : 0;
    // Without a namespace, a session or group led from outside the job
    // (`ckpt run`'s own) shows its real id: it is outside, as a namespace
    // shows it (0).
    if (init == 0) {
      if (!job_pids.count(jp.task.sid)) jp.task.sid = 0;
      if (!job_pids.count(jp.task.pgid)) jp.task.pgid = 0;
    }
  }
  return Status::ok();
}

std::string check_tree(const std::vector<JobProcess>& job) {
  std::map<pid_t, const TaskInfo*> by_pid;
  std::set<pid_t> pids;
  for (const JobProcess& jp : job) {
    pids.insert(jp.task.pid);
    by_pid[jp.task.pid] = &jp.task;
  }
  for (const JobProcess& jp : job) {
    const TaskInfo& t = jp.task;
    // Sessions are inherited: one that is not this process's own must be
    // its parent's (the init's is the one outside the job: 0).
    auto parent = by_pid.find(t.ppid);
    int32_t parent_sid = parent == by_pid.end() ? 0 : parent->second->sid;
    if (t.sid != t.pid && t.sid != parent_sid)
      return jp.name + " is in session " + std::to_string(t.sid) +
             " but its parent is not; ckpt cannot recreate that";
    auto leader = by_pid.find(t.pgid);
    if (t.pgid > 0 && leader != by_pid.end() && leader->second->sid != t.sid)
      return jp.name + " is in a process group of another session; ckpt cannot recreate that";
    // A group or session is recreated by its leader: one whose leader is no
    // longer in the job has nobody to recreate it.
    if (t.sid > 0 && !pids.count(t.sid))
      return jp.name + " is in session " + std::to_string(t.sid) +
             ", whose leader has exited; ckpt cannot recreate such a session";
    if (t.pgid > 0 && !pids.count(t.pgid))
      return jp.name + " is in process group " + std::to_string(t.pgid) +
             ", whose leader has exited; ckpt cannot recreate such a group";
  }
  return "";
}

}  // namespace ckpt::control
