#!/bin/bash
# A multi-node Slurm on this one machine, for ckpt's multinode tests.
#
#   scripts/cluster.sh up [N]   N nodes (default 3): each in its own network
#                               namespace (10.77.0.1X on bridge ckpt-br0)
#                               and UTS namespace (host name nX), with its own
#                               slurmd and node-local directory
#                               ($DIR/local/nX, the tasks' $TMPDIR); one
#                               slurmctld on 10.77.0.1; munge
#   scripts/cluster.sh down     stops all of it (munged too if `up` started
#                               it), removes the namespaces, the bridge,
#                               the nodes' directories and /etc/hosts lines
#   scripts/cluster.sh env      the line that points Slurm's commands here
#   scripts/cluster.sh status   exit 0 when it is up and every node idle
#   scripts/cluster.sh kill-node NAME   a node failure: its slurmd and every
#                               process of its namespace killed, its
#                               node-local directory removed
#   scripts/cluster.sh revive-node NAME  the node back, empty
#
# Needs root (namespaces, daemons). Coexists with scripts/slurm.sh (other
# ports, other directory). Exit status 77 when it cannot run here.
set -u
PATH=$PATH:/usr/sbin:/sbin
DIR=${CKPT_CLUSTER_DIR:-/var/tmp/ckpt-cluster}
CONF=$DIR/slurm.conf
BR=ckpt-br0
NET=10.77.0
SKIP=77
say() { echo "cluster.sh: $*" >&2; }
skip() { say "skipped: $*"; exit $SKIP; }
die() { say "error: $*"; exit 1; }
alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && [ -d "/proc/$p" ]; }

nodes() { cat "$DIR/nodes" 2>/dev/null; }

# The nodes' names in /etc/hosts, so that every node resolves every other:
# appended with this mark, removed by `down`.
MARK="# ckpt-cluster"
hosts_clean() {
  # Also the unmarked lines of earlier versions of this script.
  grep -q -E "^$NET\.1[0-9]+ n[0-9]+( $MARK)?\$" /etc/hosts 2>/dev/null || return 0
  local t
  t=$(mktemp /etc/.hosts.XXXXXX) || return 0
  grep -v -E "^$NET\.1[0-9]+ n[0-9]+( $MARK)?\$" /etc/hosts >"$t"
  chmod --reference=/etc/hosts "$t" && cat "$t" >/etc/hosts  # in place: /etc/hosts may be a mount
  rm -f "$t"
}

# munged, started here only when none runs (then stopped by `down`).
start_munge() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
  command -v munged >/dev/null || skip "munged is not installed"
  [ -s /etc/munge/munge.key ] || { mungekey -c >/dev/null 2>&1 || create-munge-key -f >/dev/null 2>&1; } ||
    die "no /etc/munge/munge.key and cannot create one"
  install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- munged >>"$DIR/log/munged.start" 2>&1 || die "munged did not start ($DIR/log/munged.start)"
  cp /run/munge/munged.pid "$DIR/run/munged.pid" 2>/dev/null
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged started but munge -n | unmunge fails"
}

write_conf() {
  local n=$1 i
  cat >"$CONF.tmp" <<EOF
# Written by ckpt's scripts/cluster.sh: $n Slurm nodes in network namespaces.
ClusterName=ckptcluster
SlurmctldHost=$(hostname -s)($NET.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=5
SchedulerParameters=sched_interval=1,bf_interval=1
KillWait=5
MinJobAge=600
ReturnToService=2
SlurmdTimeout=10
MessageTimeout=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
TaskProlog=$DIR/task-prolog
Epilog=$DIR/epilog
# PMIx's per-step directories: per node (the default, /tmp, is shared here).
TmpFS=$DIR/local/%n
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldPort=6827
SlurmdPort=6828
EOF
  for i in $(seq "$n"); do
    echo "NodeName=n$i NodeAddr=$NET.1$i NodeHostname=n$i CPUs=2 RealMemory=2000 State=UNKNOWN" >>"$CONF.tmp"
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >>"$CONF.tmp"
  mv "$CONF.tmp" "$CONF" && chmod 0644 "$CONF"
}

up() {
  local n=${1:-3} i
  [ "$(id -u)" = 0 ] || skip "needs root (namespaces and daemons)"
  for c in ip unshare nsenter slurmctld slurmd munge munged; do command -v $c >/dev/null || skip "$c is not installed (scripts/slurm.sh up installs Slurm)"; done
  ip netns add ckpt-probe 2>/dev/null && ip netns del ckpt-probe || skip "cannot create network namespaces here"
  down quiet
  install -d -m 0755 "$DIR" "$DIR/run" "$DIR/log" "$DIR/spool"
  install -d -m 0755 -o slurm -g slurm "$DIR/state"
  install -d -m 1777 "$DIR/local"
  touch "$DIR/log/slurmctld.log" && chown slurm:slurm "$DIR/log/slurmctld.log"
  start_munge
  write_conf "$n"
  # Every task's TMPDIR is its node's directory (lines "export NAME=VALUE"
  # of a TaskProlog go into the task's environment). Open MPI's shared
  # memory goes there too, per job, not in /dev/shm, which all the nodes
  # share here: a rank killed with its node leaves its segment behind, and
  # the requeued job's ranks would meet their own names again (Open MPI
  # names them by host, job and rank) and fail ("A system call failed
  # during shared memory initialization"). The Epilog removes a job's
  # segments after each of its runs on a node.
  cat >"$DIR/task-prolog" <<END
#!/bin/sh
d=$DIR/local/\$SLURMD_NODENAME
mkdir -p "\$d/shm-\$SLURM_JOB_ID"
echo "export TMPDIR=\$d"
echo "export OMPI_MCA_btl_vader_backing_directory=\$d/shm-\$SLURM_JOB_ID"
END
  cat >"$DIR/epilog" <<END
#!/bin/sh
rm -rf "$DIR/local/\$SLURMD_NODENAME/shm-\$SLURM_JOB_ID"
exit 0
END
  chmod 0755 "$DIR/task-prolog" "$DIR/epilog"
  seq -f "n%g" "$n" >"$DIR/nodes"
  ip link add $BR type bridge && ip addr add $NET.1/24 dev $BR && ip link set $BR up || die "cannot make bridge $BR"
  for i in $(seq "$n"); do
    ip netns add ckpt-n$i || die "netns ckpt-n$i"
    ip link add ckv$i type veth peer name eth0 netns ckpt-n$i || die "veth ckv$i"
    ip link set ckv$i master $BR up
    ip -n ckpt-n$i addr add $NET.1$i/24 dev eth0
    ip -n ckpt-n$i link set eth0 up
    ip -n ckpt-n$i link set lo up
    install -d -m 1777 "$DIR/local/n$i"
    install -d -m 0755 "$DIR/spool/n$i"
    grep -q "^$NET.1$i n$i $MARK\$" /etc/hosts || echo "$NET.1$i n$i $MARK" >>/etc/hosts
  done
  SLURM_CONF=$CONF slurmctld -f "$CONF" >>"$DIR/log/slurmctld.start" 2>&1 || die "slurmctld did not start ($DIR/log)"
  for i in $(seq "$n"); do start_node n$i; done
  local st
  for _ in $(seq 150); do
    st=$(SLURM_CONF=$CONF timeout 10 sinfo -h -o %t 2>/dev/null | sort -u | tr '\n' ' ')
    [ "$st" = "idle " ] && break
    sleep 0.2
  done
  [ "$st" = "idle " ] || die "nodes are '$st', not idle, after 30 s (see $DIR/log/)"
  say "up: $n nodes idle"
  echo "export SLURM_CONF=$CONF"
}

# Its own host name (so MPI and ckpt::mpi see nX) and network; nsenter, not
# ip netns exec, which would remount /sys and hide the cgroups. Its
# node-local directory is the tasks' $TMPDIR (set by the TaskProlog), not a
# /tmp of its own: a job's files under the host's /tmp (a build tree) stay
# visible on every node, as a shared file system would make them.
start_node() {
  local name=$1
  nsenter --net=/run/netns/ckpt-$name unshare --uts \
    sh -c "hostname $name && exec slurmd -f '$CONF' -N $name" \
    >>"$DIR/log/slurmd-$name.start" 2>&1 || die "slurmd $name did not start ($DIR/log)"
}

# A node killed by kill-node comes back: a fresh slurmd, an empty directory.
revive_node() {
  local name=$1 st
  [ -n "$name" ] && ip netns list | grep -q "^ckpt-$name\b" || die "no node $name"
  export SLURM_CONF=$CONF
  start_node "$name"
  scontrol update nodename="$name" state=resume >/dev/null 2>&1
  for _ in $(seq 150); do
    st=$(timeout 10 sinfo -h -n "$name" -o %t 2>/dev/null)
    [ "$st" = idle ] && { say "node $name back"; return 0; }
    case "$st" in down* | drain*) scontrol update nodename="$name" state=resume >/dev/null 2>&1 ;; esac
    sleep 0.2
  done
  die "node $name is '$st', not idle, after 30 s (see $DIR/log/)"
}

kill_node() {
  local name=$1 i=${1#n} p
  [ -n "$name" ] && ip netns list | grep -q "^ckpt-$name\b" || die "no node $name"
  # Every process in the node's network namespace: slurmd, slurmstepd, tasks.
  for p in $(ip netns pids ckpt-$name); do kill -9 "$p" 2>/dev/null; done
  # Its node-local directory, with ckpt::mpi's fast level.
  find "${DIR:?}/local/$name" -mindepth 1 -delete 2>/dev/null
  say "node $name killed (its processes and node-local directory)"
}

down() {
  local ns p
  # Every node namespace, also those of a run whose $DIR is gone.
  for ns in $(ip netns list 2>/dev/null | grep -o '^ckpt-n[0-9]*'); do
    for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null; done
  done
  if alive "$DIR/run/slurmctld.pid"; then
    kill "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null
    for _ in $(seq 50); do alive "$DIR/run/slurmctld.pid" || break; sleep 0.1; done
    alive "$DIR/run/slurmctld.pid" && kill -9 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null
  fi
  for ns in $(ip netns list 2>/dev/null | grep -o '^ckpt-n[0-9]*'); do ip netns del "$ns" 2>/dev/null; done
  ip link del $BR 2>/dev/null
  hosts_clean
  # Open MPI's segments of ranks killed before this script kept them per node.
  rm -f /dev/shm/vader_segment.n[0-9]*.* 2>/dev/null
  if alive "$DIR/run/munged.pid"; then
    kill "$(cat "$DIR/run/munged.pid")" 2>/dev/null
    rm -f "$DIR/run/munged.pid"
  fi
  rm -rf "${DIR:?}" 2>/dev/null
  [ "${1:-}" = quiet ] || say "down"
  return 0
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  kill-node) kill_node "${2:-}" ;;
  revive-node) revive_node "${2:-}" ;;
  status) [ -f "$CONF" ] && alive "$DIR/run/slurmctld.pid" && [ "$(SLURM_CONF=$CONF timeout 10 sinfo -h -o %t 2>/dev/null | sort -u)" = idle ] ;;
  *) echo "usage: $0 up [N]|down|env|status|kill-node NAME|revive-node NAME" >&2; exit 2 ;;
esac
