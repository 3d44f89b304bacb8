#!/usr/bin/env bash
# The no-namespace mode's stage: runs the transparent tests of a build as an
# ordinary user where user namespaces are refused, so every job runs in the
# mode where pids and tids change (docs/transparent.md).
#
# How they are refused: a chroot into a bind mount of /, in a private mount
# namespace. The kernel refuses user namespaces to a chrooted process (EPERM,
# even for root), the same refusal a container's seccomp profile gives, and
# everything else (files, /proc, the build) stays where it is. A seccomp
# filter would need a helper program of its own for the same EPERM; the
# sysctls (user.max_user_namespaces) are the machine's, not this test's.
#
# Before entering, a job is checkpointed in namespace mode outside the
# chroot: inside, restarting it must be refused in one clear line.
#
# Usage (root): scripts/nons.sh BUILD_DIR USER [CTEST_ARGS...]
#   CTEST_ARGS default: -L transparent (the kill -9 torture with
#   CKPT_TORTURE_TRIALS, default here 10), in two passes: the tests of
#   trees (Tree*, the tree's torture) one at a time, the others two at a
#   time. A tree's restart here brings the machine's pid counter round to
#   its pids (docs/process-tree.md, "Without a namespace"), and a process
#   that another test starts at that moment could take one of them.
set -euo pipefail
build=$(cd "$1" && pwd)
user=$2
shift 2
ctest_args=("$@")
[ "$(id -u)" -eq 0 ] || { echo "nons: needs root (chroot, mounts)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/ckpt-nons.XXXXXX)
trap 'umount -R "$work/root" 2> /dev/null || true; rm -rf "$work"' EXIT
chmod 0755 "$work"
home=$(getent passwd "$user" | cut -d: -f6)
as_user() { runuser -u "$user" -- /usr/bin/env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 \
              TMPDIR="$work/tmp" "$@"; }
mkdir -p "$work/tmp"
chown "$user:" "$work/tmp"

# A namespace-mode image, made outside the chroot (the job then stops: 85).
as_user "$build/src/ckpt" run --dir "$work/tmp/nsjob" -- "$build/tests/transparent/t_count" 100 \
  > /dev/null 2> "$work/nsjob.err" &
for _ in $(seq 100); do
  as_user "$build/src/ckpt" checkpoint --stop --dir "$work/tmp/nsjob" > /dev/null 2>&1 && break
  sleep 0.1
done
wait $! || true
grep -qx namespace "$work/tmp/nsjob/mode" \
  || { echo "nons: could not make a namespace-mode image here: $(cat "$work/nsjob.err")"; exit 1; }

mkdir "$work/root"
unshare --mount --propagation private /bin/bash -euc '
  work=$1; shift
  mount --rbind / "$work/root"
  exec chroot "$work/root" "$@"
' nons "$work" runuser -u "$user" -- /usr/bin/env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 \
    TMPDIR="$work/tmp" CKPT_TORTURE_TRIALS="${CKPT_TORTURE_TRIALS:-10}" CKPT_NAMESPACE_IMAGE_DIR="$work/tmp/nsjob" \
    bash -c 'cd "$1" && shift && unshare -U true 2> /dev/null && { echo "nons: user namespaces are not refused here"; exit 1; }
             trees="^Tree|OfATree\$"
             skipped() { grep -a -h -A1 ": Skipped$" Testing/Temporary/LastTest.log \
                           | grep -v -e ": Skipped$" -e "^--$" || true; }
             if [ $# -gt 0 ]; then
               ctest -j2 --output-on-failure --timeout 600 "$@"; st=$?; skips=$(skipped)
             else
               ctest -j2 --output-on-failure --timeout 600 -L transparent -E "$trees"; st=$?
               skips=$(skipped)
               ctest -j1 --output-on-failure --timeout 900 -L transparent -R "$trees" || st=1
               skips=$(printf "%s\n%s" "$skips" "$(skipped)")
             fi
             echo "nons: skipped here, with their reasons:"
             printf "%s\n" "$skips" | grep -v "^$" | sort | uniq -c || true
             exit $st' nons "$build" "${ctest_args[@]}"
