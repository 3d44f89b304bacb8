// Test hooks of libckpt (not part of the public API).
#pragma once

namespace ckpt {
class Fs;
namespace lib {

// Every image libckpt writes from now on goes through fs (nullptr: POSIX).
// For fault-injection tests only; not thread-safe against checkpoints.
void set_fs_for_testing(Fs* fs);

}  // namespace lib
}  // namespace ckpt
