#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian's packages, without
# systemd: munged, slurmctld and slurmd, everything (config, munge key and
# socket, state, spool, logs, pid files) under one folder, so it touches no
# system file and coexists with a system munged.
#
#   bash scripts/slurm-cluster.sh start  [DIR]   # idempotent; prints the export SLURM_CONF=... line
#   bash scripts/slurm-cluster.sh stop   [DIR]   # cancels its jobs, stops the daemons
#   bash scripts/slurm-cluster.sh status [DIR]   # exit 0 when up, 3 when not running
#
# DIR defaults to $EVALTASKS_SLURM_DIR, else /tmp/evaltasks-slurm. Ports:
# $EVALTASKS_SLURMCTLD_PORT (6817) and $EVALTASKS_SLURMD_PORT (6818). Needs root.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status [DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
cmd=$1
dir=${2:-${EVALTASKS_SLURM_DIR:-/tmp/evaltasks-slurm}}
case $cmd in start|stop|status) ;; *) usage ;; esac
dir=$(realpath -m "$dir")
conf=$dir/slurm.conf
export SLURM_CONF=$conf

log() { echo "[slurm-cluster] $*"; }
die() { echo "[slurm-cluster] error: $*" >&2; exit 1; }

# Daemons are told where to write their pid; a pid counts only while that
# process is alive and is the program we started (pids get reused).
# A zombie (state Z: ended, not yet reaped) does not count.
alive() {  # alive NAME PIDFILE
    local pid stat
    pid=$(cat "$2" 2>/dev/null) && [ -n "$pid" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && [ "$(echo "${stat##*) }" | cut -c1)" != Z ]
}
PIDS=("munged:$dir/munge/munged.pid" "slurmctld:$dir/run/slurmctld.pid" "slurmd:$dir/run/slurmd.pid")

# The node answers: idle, or busy with jobs (mixed, allocated, completing).
node_up() {
    [ -f "$conf" ] && [[ "$(timeout 10 sinfo -h -N -o %t 2>/dev/null)" =~ ^(idle|mix|alloc|comp)$ ]]
}

port_free() {  # nothing listens on 127.0.0.1:PORT
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
CTLD_PORT=${EVALTASKS_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${EVALTASKS_SLURMD_PORT:-6818}

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && return
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; run this as root to install them"
    log "installing slurm-wlm and munge (apt)"
    # Other installs may hold the dpkg lock (setup.sh, a neighbour's apt): wait, bounded.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq slurm-wlm munge >/dev/null
}

# NodeName must be what slurmd calls itself (`hostname -s`); the node and the
# controller are reached at 127.0.0.1, so no name needs to resolve (containers
# often have a hostname nothing resolves).
write_conf() {
    local host hw
    host=$(hostname -s 2>/dev/null || true)
    host=${host:-$(cut -d. -f1 /proc/sys/kernel/hostname)}
    # slurmd -C reports this machine's CPUs, sockets, cores and RealMemory (MB),
    # the figures slurmd checks the node's definition against.
    hw=$(slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //')
    cat >"$conf" <<EOF
# Written by scripts/slurm-cluster.sh; rewritten on each start.
ClusterName=evaltasks
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompLoc=$dir/log/jobcomp.txt
$(cat "$(dirname "$0")/slurm-common.conf")
NodeName=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munged() {
    alive munged "$dir/munge/munged.pid" && return
    # The socket's folder must be searchable by every user who submits jobs.
    mkdir -p "$dir/munge" && chmod 0755 "$dir/munge"
    [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    chmod 0600 "$dir/munge/munge.key"
    rm -f "$dir/munge/munge.socket" "$dir/munge/munge.socket.lock"
    munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" --origin=127.0.0.1 \
        || fail "munged did not start"
}

fail() {
    echo "[slurm-cluster] error: $*; the last log lines:" >&2
    for f in "$dir"/log/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }
    done
    # A start that failed leaves nothing running.
    [ -z "${starting:-}" ] || stop >/dev/null 2>&1 || true
    exit 1
}

# munged refuses a socket that not every user can reach: check before creating anything.
check_dir() {
    local d=$dir
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        [ ! -d "$d" ] || [ "$(( 0$(stat -c %a "$d") & 1 ))" = 1 ] \
            || die "$dir is inside $d, which not every user can enter (munge's socket lives in $dir/munge); use another folder"
    done
}

start() {
    check_dir
    install_packages
    if alive munged "$dir/munge/munged.pid" && alive slurmctld "$dir/run/slurmctld.pid" \
        && alive slurmd "$dir/run/slurmd.pid"; then
        log "already running in $dir"
    else
        [ "$(id -u)" = 0 ] || die "starting the cluster needs root (its daemons run as root)"
        alive slurmctld "$dir/run/slurmctld.pid" || port_free "$CTLD_PORT" \
            || die "port $CTLD_PORT is in use (another Slurm controller?); set EVALTASKS_SLURMCTLD_PORT"
        alive slurmd "$dir/run/slurmd.pid" || port_free "$SLURMD_PORT" \
            || die "port $SLURMD_PORT is in use (another slurmd?); set EVALTASKS_SLURMD_PORT"
        starting=1
        mkdir -p "$dir"/{state,spool,log,run}
        chmod 0755 "$dir"
        write_conf
        start_munged
        alive slurmctld "$dir/run/slurmctld.pid" || slurmctld || fail "slurmctld did not start"
        alive slurmd "$dir/run/slurmd.pid" || slurmd -N "$(awk -F'[= ]' '/^NodeName=/{print $2}' "$conf")" \
            || fail "slurmd did not start"
        log "started in $dir"
    fi
    for _ in $(seq 1 60); do
        node_up && break
        sleep 0.5
    done
    node_up || fail "the node is not idle after 30 s ($(sinfo -h -N -o '%t %E' 2>&1 | head -n1))"
    starting=
    sinfo
    echo "export SLURM_CONF=$conf"
}

stop() {
    local i n pid
    if [ -f "$conf" ] && alive slurmctld "$dir/run/slurmctld.pid"; then
        # slurmd leaves its jobs' slurmstepd running when it stops: end the jobs first.
        if [ -n "$(squeue -h -o %A 2>/dev/null)" ]; then
            log "cancelling $(squeue -h -o %A | wc -l) job(s)"
            squeue -h -o %A | xargs scancel || true
            for _ in $(seq 1 30); do
                [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
    fi
    # slurmd first, munged last: the daemons authenticate through it until they end.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        entry=${PIDS[$i]}
        name=${entry%%:*}
        file=${entry#*:}
        alive "$name" "$file" || continue
        pid=$(cat "$file")
        kill "$pid" 2>/dev/null || true
        for n in $(seq 1 50); do
            alive "$name" "$file" || break
            sleep 0.2
        done
        if alive "$name" "$file"; then kill -KILL "$pid" 2>/dev/null || true; fi
        log "stopped $name"
    done
    rm -f "$dir/munge/munge.socket" "$dir/munge/munge.socket.lock"
    log "not running in $dir"
}

status() {
    local up=0
    for entry in "${PIDS[@]}"; do
        name=${entry%%:*}
        file=${entry#*:}
        if alive "$name" "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: not running"; up=3; fi
    done
    if [ $up = 0 ]; then sinfo; echo "export SLURM_CONF=$conf"; fi
    exit $up
}

$cmd
