#!/usr/bin/env bash
# Builds ckpt and runs its main test suite in a fresh Debian 13 (trixie)
# root, as an ordinary user, the way a new user of Debian 13 would:
# scripts/deps.sh installs what is missing, then the release build,
# ./scripts/demo.sh, and ctest (Slurm and two-user tests excepted: they stay
# on the host; MPI tests too: they are written for Debian 12's Open MPI 4.1,
# and Debian 13's Open MPI 5 is not tried yet).
#
# The root is made with debootstrap once and kept as a tarball
# ($CKPT_USERLAND_CACHE, default /var/tmp/ckpt-debian13.tar; made anew when
# missing, a week old, or CKPT_USERLAND_FRESH=1; scripts/deps.sh inside
# installs what was added since). Each run unpacks a fresh copy and
# enters it as a container runtime does: a private mount and pid namespace,
# /proc mounted anew, /sys and /dev bound, then pivot_root. Not chroot: the
# kernel refuses user namespaces to a chrooted process, and the tests here
# are the namespace mode's.
#
# Usage (root): scripts/userland.sh [CTEST_ARGS...]
# Environment: CKPT_DEBIAN_MIRROR (default: deb.debian.org, then the mirror
# of this machine's apt sources); CKPT_TORTURE_TRIALS (default here 10).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
suite=trixie
cache=${CKPT_USERLAND_CACHE:-/var/tmp/ckpt-debian13.tar}
[ "$(id -u)" -eq 0 ] || { echo "userland: needs root (debootstrap, mounts)" >&2; exit 1; }
say() { echo "userland: $*"; }

mirrors() {
  [ -n "${CKPT_DEBIAN_MIRROR:-}" ] && echo "$CKPT_DEBIAN_MIRROR"
  echo http://deb.debian.org/debian
  # The mirror this machine's apt uses for Debian's main archive.
  grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | sed 's/ *$//' | sort -u || true
}

# enter ROOT COMMAND...: runs COMMAND as root of ROOT, pivot_root'ed.
enter() {
  local root=$1
  shift
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
  unshare --mount --pid --fork --propagation private /bin/bash -euc '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mkdir -p "$root/.old"
    cd "$root"
    pivot_root . .old
    exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 /bin/bash -euc "umount -l /.old; rmdir /.old; cd /; exec \"\$@\"" inner "$@"
  ' enter "$root" "$@"
}

make_root() {
  command -v debootstrap > /dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap > /dev/null
  }
  local dir=$1 m
  for m in $(mirrors); do
    say "debootstrap $suite from $m"
    rm -rf "$dir"
    mkdir -p "$dir"
    if debootstrap --variant=minbase "$suite" "$dir" "$m" > "$dir.debootstrap.log" 2>&1; then
      # Debian's own demo path: the README's first command installs the rest.
      mkdir -p "$dir/opt/deps"
      cp "$src/scripts/deps.sh" "$dir/opt/deps/"
      enter "$dir" /opt/deps/deps.sh
      rm -rf "$dir/opt/deps" "$dir"/var/cache/apt/archives/*.deb
      return 0
    fi
    tail -5 "$dir.debootstrap.log" >&2
  done
  echo "userland: debootstrap failed from every mirror" >&2
  return 1
}

work=$(mktemp -d /var/tmp/ckpt-userland.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
t0=$SECONDS
if [ "${CKPT_USERLAND_FRESH:-0}" = 1 ] || [ ! -s "$cache" ] || [ -n "$(find "$cache" -mtime +7)" ]; then
  make_root "$root"
  tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
  say "root made and cached in $cache ($((SECONDS - t0)) s)"
else
  mkdir -p "$root"
  tar -C "$root" -xf "$cache"
  say "root unpacked from $cache ($((SECONDS - t0)) s)"
fi
say "$(cat "$root/etc/debian_version"), $(enter "$root" g++ --version | head -1)"

mkdir -p "$root/home/ckpttest/src"
tar -C "$src" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$root/home/ckpttest/src" -xf -
ctest_args=("$@")
[ ${#ctest_args[@]} -eq 0 ] && ctest_args=(-LE 'slurm|twouser|mpi')
cat > "$root/home/ckpttest/run.sh" << 'EOF'
#!/bin/bash
# Inside the root: what a new user types, then the suite as that user.
set -euo pipefail
/home/ckpttest/src/scripts/deps.sh
id -u ckpttest > /dev/null 2>&1 || useradd -M -d /home/ckpttest -s /bin/bash ckpttest
chown -R ckpttest: /home/ckpttest
as_user() { runuser -u ckpttest -- env -i HOME=/home/ckpttest PATH=/usr/bin:/bin LANG=C.UTF-8 \
              CKPT_TORTURE_TRIALS="$CKPT_TORTURE_TRIALS" "$@"; }
t=$SECONDS
as_user /home/ckpttest/src/scripts/build.sh /home/ckpttest/src/build > /home/ckpttest/build.log 2>&1 \
  || { tail -50 /home/ckpttest/build.log; echo "userland: BUILD FAILED"; exit 1; }
warnings=$(grep -c 'warning:' /home/ckpttest/build.log || true)
echo "userland: built in $((SECONDS - t)) s, $warnings compiler warnings"
grep 'warning:' /home/ckpttest/build.log | head -20 || true
# The README's first command, unchanged (its build is the one just made).
as_user bash -c 'cd /home/ckpttest/src && ./scripts/demo.sh' > /home/ckpttest/demo.log 2>&1 \
  || { cat /home/ckpttest/demo.log; echo "userland: DEMO FAILED"; exit 1; }
echo "userland: ./scripts/demo.sh ran: $(tail -1 /home/ckpttest/demo.log)"
t=$SECONDS
cd /home/ckpttest/src/build
st=0
as_user ctest -j2 --output-on-failure --timeout 600 "$@" || st=$?
echo "userland: tests took $((SECONDS - t)) s"
exit $st
EOF
chmod 0755 "$root/home/ckpttest/run.sh"
enter "$root" /usr/bin/env CKPT_TORTURE_TRIALS="${CKPT_TORTURE_TRIALS:-10}" /home/ckpttest/run.sh \
  "${ctest_args[@]}"
