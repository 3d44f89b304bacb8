#!/bin/bash
# A real single-node Slurm on localhost, for ckpt's Slurm tests.
#
#   scripts/slurm.sh up     install (root only, if missing) and start munged,
#                           slurmctld, slurmd; wait until the node is idle
#   scripts/slurm.sh down   stop what `up` started, by pid files
#   scripts/slurm.sh env    print the line that points Slurm's commands here
#
# Environment:
#   CKPT_SLURM_DIR   private config, state, spool and logs (/tmp/ckpt-slurm)
#   CKPT_SLURM_USER  an ordinary user created for the tests when run as root
#                    (ckpttest; empty: none)
#
# Exit status: 0 up (or down); 77 Slurm cannot be started here (the message
# says why; tests then skip); 1 an unexpected failure.
# No systemd and no cgroups: see docs/slurm.md for the settings and why.
set -u
PATH=$PATH:/usr/sbin:/sbin  # slurmctld, slurmd and munged live there

DIR=${CKPT_SLURM_DIR:-/tmp/ckpt-slurm}
TEST_USER=${CKPT_SLURM_USER-ckpttest}
CONF=$DIR/slurm.conf
SKIP=77

say() { echo "slurm.sh: $*" >&2; }
skip() { say "skipped: $*"; exit $SKIP; }
die() { say "error: $*"; exit 1; }

alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && [ -d "/proc/$p" ]; }

node_state() { SLURM_CONF=$CONF timeout 10 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1; }

# Slurm's daemons run as the users slurm and munge, and jobs as the user who
# submits: none of them can reach a file if / is 0700 (as on some
# containers, or after `ckpt` run by root was given --dir /). Make it
# traversable (not listable) for all: munged insists on g+x and o+x.
open_root() {
  [ "$(id -u)" = 0 ] || return 0
  local mode
  mode=$(stat -c %a /)
  if [ $((0$mode & 011)) != $((011)) ]; then
    say "/ is mode $mode: no ordinary user can reach any file; making it traversable (chmod go+x /)"
    chmod go+x / || skip "cannot chmod go+x /"
  fi
}

install_packages() {
  local need=0
  for c in munged slurmctld slurmd sbatch; do command -v $c >/dev/null || need=1; done
  [ $need = 0 ] && return 0
  [ "$(id -u)" = 0 ] || skip "Slurm is not installed and installing it needs root (run: sudo $0 up)"
  command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get"
  say "installing munge slurmctld slurmd slurm-client"
  # Package scripts try to start the services; there is no init system here.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  local pkgs="munge slurmctld slurmd slurm-client"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --configure -a >"$DIR/apt.log" 2>&1  # an earlier, interrupted install
  if ! apt-get install -y -q --no-install-recommends $pkgs >>"$DIR/apt.log" 2>&1; then
    apt-get update -q >>"$DIR/apt.log" 2>&1
    apt-get install -y -q --no-install-recommends $pkgs >>"$DIR/apt.log" 2>&1 ||
      { [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; skip "apt-get could not install $pkgs (see $DIR/apt.log)"; }
  fi
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || skip "munged is not running and starting it needs root"
  [ -s /etc/munge/munge.key ] || { mungekey -c >/dev/null 2>&1 || create-munge-key -f >/dev/null 2>&1; } ||
    die "no /etc/munge/munge.key and cannot create one"
  install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged >>"$DIR/log/munged.start" 2>&1 || die "munged did not start ($DIR/log/munged.start)"
  cp /run/munge/munged.pid "$DIR/run/munged.pid" 2>/dev/null
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged started but munge -n | unmunge fails"
}

write_conf() {
  # The node's real hardware line, e.g. "NodeName=vm CPUs=2 ... RealMemory=23999".
  local hw
  hw=$(slurmd -C 2>/dev/null | head -1)
  [ -n "$hw" ] || die "slurmd -C printed nothing"
  cat >"$CONF.tmp" <<EOF
# Written by ckpt's scripts/slurm.sh: a one-node Slurm on loopback for tests.
ClusterName=ckpttest
SlurmctldHost=localhost(127.0.0.1)
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Fast tests: credentials expire in 5 s (the minimum), the scheduler runs every second.
AuthInfo=cred_expire=5
SchedulerParameters=sched_interval=1,bf_interval=1
KillWait=5
MinJobAge=600
ReturnToService=2
# No cgroups and no systemd here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$hw NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  chmod 0644 "$CONF"
}

up() {
  [ "$(uname -s)" = Linux ] || skip "not Linux"
  mkdir -p "$DIR" || die "cannot create $DIR"
  open_root
  install_packages
  NODE=$(hostname -s)
  if [ -f "$CONF" ] && alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd.pid" &&
    [ "$(node_state)" = idle ]; then
    say "already up ($CONF)"
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  [ "$(id -u)" = 0 ] || skip "starting slurmctld and slurmd needs root (run: sudo $0 up)"
  getent hosts "$NODE" >/dev/null || skip "the host name $NODE does not resolve"
  down quiet
  chmod 0755 "$DIR"
  install -d -m 0755 "$DIR/run" "$DIR/log" "$DIR/spool"
  install -d -m 0755 -o slurm -g slurm "$DIR/state" "$DIR/state"
  touch "$DIR/log/slurmctld.log" "$DIR/log/jobcomp.txt" && chown slurm:slurm "$DIR/log/slurmctld.log" "$DIR/log/jobcomp.txt"
  rm -rf "${DIR:?}/state/"* "${DIR:?}/spool/"*
  start_munge
  write_conf
  export SLURM_CONF=$CONF
  slurmctld -f "$CONF" >>"$DIR/log/slurmctld.start" 2>&1 || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  slurmd -f "$CONF" >>"$DIR/log/slurmd.start" 2>&1 || die "slurmd did not start (see $DIR/log/slurmd.log)"
  local st=""
  for i in $(seq 300); do
    st=$(node_state)
    [ "$st" = idle ] && break
    # A node left down by an earlier run: bring it back.
    case "$st" in down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 ;; esac
    sleep 0.2
  done
  [ "$st" = idle ] || die "node $NODE is '${st:-unknown}', not idle, after 60 s (see $DIR/log/)"
  if [ -n "$TEST_USER" ] && ! id "$TEST_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$TEST_USER" || die "useradd $TEST_USER failed"
  fi
  say "up: node $NODE idle; jobs for user ${TEST_USER:-$(id -un)}"
  echo "export SLURM_CONF=$CONF"
}

stop_pid() {  # stop_pid PIDFILE NAME
  local f=$1 pid
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 0; }
    sleep 0.1
  done
  say "$2 (pid $pid) did not stop in 10 s; killing it"
  kill -9 "$pid" 2>/dev/null
  rm -f "$f"
}

down() {
  stop_pid "$DIR/run/slurmd.pid" slurmd
  stop_pid "$DIR/run/slurmctld.pid" slurmctld
  # munged only if this script started it.
  stop_pid "$DIR/run/munged.pid" munged
  [ "${1:-}" = quiet ] || say "down"
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
