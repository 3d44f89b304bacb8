// Can a job have a user+pid namespace of its own here (the namespace mode,
// in which pids and tids survive a restart), and if not, why not and what
// would allow it. Used by `ckpt run`/`ckpt restart` to pick the mode and to
// refuse a namespace image clearly, and by the tests to skip with a reason.
#pragma once

#include <string>

namespace ckpt::control {

// What the kernel and its settings say, read by probe_userns(); filled by
// hand in tests.
struct UsernsFacts {
  bool created = false;                 // clone(CLONE_NEWUSER | CLONE_NEWPID) succeeded
  bool capable = false;                 // and a capability operation inside it did too
  int err = 0;                          // errno of the clone, or of the capability operation
  long max_user_namespaces = -1;        // user.max_user_namespaces; -1: unknown
  long unprivileged_userns_clone = -1;  // kernel.unprivileged_userns_clone (Debian/Ubuntu)
  long apparmor_restrict = -1;          // kernel.apparmor_restrict_unprivileged_userns
  bool seccomp = false;                 // this process runs under a seccomp filter
};

struct Userns {
  bool ok = false;     // the namespace mode is possible
  std::string why;     // if not: why, one phrase ("user namespaces are refused: ...")
  std::string remedy;  // if not: what would allow them, one phrase
};

// Tries it for real: a throw-away child in a new user+pid namespace sets the
// namespace's next pid (what restoring tids needs: CAP_CHECKPOINT_RESTORE
// there). Ubuntu 24.04's AppArmor lets the clone succeed and denies that.
UsernsFacts probe_userns_facts();
// The verdict and its wording, from the facts (pure: tested on its own).
Userns explain_userns(const UsernsFacts& f);
inline Userns probe_userns() { return explain_userns(probe_userns_facts()); }
// The one line (without "ckpt: ") refusing to restart a namespace-mode image
// where u says namespaces cannot be had: why, and what would allow it.
std::string namespace_image_refusal(const Userns& u);

// Passes CAP_SYS_ADMIN (set_tid), CAP_SYS_RESOURCE (PR_SET_MM) and
// CAP_CHECKPOINT_RESTORE through the next exec as ambient capabilities, in
// a process of the job's namespace about to exec the restorer (which drops
// all of them before the program runs).
void raise_ambient_caps();

}  // namespace ckpt::control
