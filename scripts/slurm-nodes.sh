#!/usr/bin/env bash
# A multi-node Slurm cluster whose nodes are Docker containers: one slurmctld
# container and N-1 slurmd containers, each with its own hostname, on a Docker
# network of their own that reaches nothing outside (--internal: the nodes have
# no package index, as on many real clusters). Every container runs Debian
# bookworm's slurm-wlm, munge and python3 (so the nodes' interpreter is not the
# submit host's), all with the same munge key.
#
# The host is the submit host: it runs a munged of its own with the same key
# and reaches slurmctld at its container's address, so sbatch/squeue/scontrol
# run here as they would on a real cluster's login node, and the launcher
# under test is the one on this machine (not a copy in a login container).
#
# DIR is the one shared folder: mounted at the same path in every container,
# like a cluster's shared filesystem. DIR/shared is for the user's files
# (output_dir, caches); DIR/ctl holds slurmctld's state and job-completion file
# (so sacct -c reads it from the host); DIR/log the daemons' logs. Each
# container's munge socket folder (DIR/munge) is a private tmpfs.
#
#   bash scripts/slurm-nodes.sh start  DIR [--nodes N]   # N containers in all (default 3); prints export lines
#   bash scripts/slurm-nodes.sh stop   DIR               # removes every container, the network and the host's munged
#   bash scripts/slurm-nodes.sh status DIR               # exit 0 when up, 3 when not
#   bash scripts/slurm-nodes.sh kill-node DIR NAME       # stop one compute node's container (a node failure)
#   bash scripts/slurm-nodes.sh revive-node DIR NAME     # start it again; Slurm takes it back (ReturnToService=2)
#
# The node image (evaltasks-slurm-node:bookworm) is made offline once, by
# debootstrap from this machine's Debian mirror + docker import, then reused.
# Needs root (munged, docker) and the host's slurm-wlm clients, which it installs.
set -euo pipefail

usage() { echo "usage: $0 start DIR [--nodes N] | stop DIR | status DIR | kill-node|revive-node DIR NAME" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
shift 2
nodes=3
node_to_kill=
case $cmd in
    start) while [ $# -gt 0 ]; do
               case $1 in --nodes) nodes=${2:?}; shift 2 ;; --nodes=*) nodes=${1#*=}; shift ;; *) usage ;; esac
           done
           [[ $nodes =~ ^[0-9]+$ ]] && [ "$nodes" -ge 2 ] || { echo "--nodes: at least 2 (a controller and a compute node)" >&2; exit 2; } ;;
    stop|status) [ $# = 0 ] || usage ;;
    kill-node|revive-node) [ $# = 1 ] || usage; node_to_kill=$1 ;;
    *) usage ;;
esac

IMAGE=${EVALTASKS_SLURM_NODE_IMAGE:-evaltasks-slurm-node:bookworm}
# One name for everything this cluster makes: containers, network, label.
tag=evt-slurm-$(echo -n "$dir" | sha256sum | cut -c1-8)
network=$tag
label=evaltasks.slurm-nodes=$dir
conf=$dir/slurm.conf
export SLURM_CONF=$conf
CTL=slurmctl                       # the controller's hostname; compute nodes are node1..node(N-1)

log() { echo "[slurm-nodes] $*"; }
die() { echo "[slurm-nodes] error: $*" >&2; exit 1; }

install_host_clients() {
    command -v sbatch >/dev/null && command -v munged >/dev/null && return
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; run this as root to install them"
    log "installing slurm-wlm and munge (apt)"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq slurm-wlm munge >/dev/null
}

# Made as the harness base image is (debootstrap + docker import, no registry), with Slurm,
# munge and python3-venv added; once, then reused.
build_image() {
    docker image inspect "$IMAGE" >/dev/null 2>&1 && return
    log "making $IMAGE (debootstrap: a few minutes, once)"
    EVALTASKS_EXTRA_PACKAGES=slurm-wlm,munge,python3-venv,procps,iproute2 \
        bash "$(dirname "$0")/make-base-image.sh" "$IMAGE" || die "could not make $IMAGE"
}

containers() { docker ps -aq --filter "label=$label"; }
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$tag-$1"; }
host_munged_alive() {
    local pid; pid=$(cat "$dir/host-munge/munged.pid" 2>/dev/null) && [ -n "$pid" ] \
        && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = munged ]
}

# One slurm.conf for the host and every node (same path everywhere). Node
# addresses are the containers' IPs, so nothing has to resolve on the host.
write_conf() {
    local hw=$1 i
    cat >"$conf" <<EOF
# Written by scripts/slurm-nodes.sh; rewritten on each start.
ClusterName=evaltasks-nodes
SlurmctldHost=$CTL($(ip_of $CTL))
# cred_expire: a requeued job may start again after 30 s, not Slurm's default 120.
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=30
StateSaveLocation=$dir/ctl/state
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
JobCompLoc=$dir/ctl/jobcomp.txt
$(cat "$(dirname "$0")/slurm-common.conf")
# A stopped node is noticed within seconds, not Slurm's default 5 minutes.
SlurmdTimeout=10
EOF
    for ((i = 1; i < nodes; i++)); do
        echo "NodeName=node$i NodeAddr=$(ip_of node$i) $hw State=UNKNOWN" >>"$conf"
    done
    # LLN: a job goes to the least loaded node, so jobs spread as on a cluster with room.
    echo "PartitionName=debug Nodes=node[1-$((nodes - 1))] Default=YES MaxTime=INFINITE State=UP LLN=YES" >>"$conf"
}

cluster_up() {
    [ -f "$conf" ] && [ "$(timeout 10 sinfo -h -N -o %t 2>/dev/null | grep -cE '^(idle|mix|alloc|comp)$')" = "$(grep -c '^NodeName=' "$conf")" ]
}

start_daemons() {  # start_daemons NAME: munged, then slurmctld or slurmd, in that container
    # A restarted container keeps pid files whose pids may now be other processes'.
    docker exec "$tag-$1" rm -f /run/munged.pid /run/slurmd.pid /run/slurmctld.pid
    docker exec "$tag-$1" munged --socket="$dir/munge/munge.socket" --key-file="$dir/key/munge.key" \
        --pid-file=/run/munged.pid --log-file=/var/log/munged.log --seed-file=/var/lib/munged.seed
    if [ "$1" = "$CTL" ]; then docker exec "$tag-$1" slurmctld; else docker exec "$tag-$1" slurmd; fi
}

start() {
    [ "$(id -u)" = 0 ] || die "starting the cluster needs root"
    install_host_clients
    build_image
    if [ -n "$(containers)" ]; then
        cluster_up && { log "already running in $dir"; echo "export SLURM_CONF=$conf"; return; }
        log "a previous cluster in $dir is not healthy: removing it"
        stop >/dev/null
    fi
    trap 'echo "[slurm-nodes] start failed; removing what it made" >&2; stop >/dev/null 2>&1' ERR
    mkdir -p "$dir"/{shared,ctl/state,log,key,munge,host-munge}
    chmod 0755 "$dir" "$dir/shared" "$dir/host-munge"
    [ -s "$dir/key/munge.key" ] || mungekey --create --keyfile="$dir/key/munge.key" >/dev/null
    chmod 0700 "$dir/key"; chmod 0600 "$dir/key/munge.key"
    docker network create --internal --label "$label" "$network" >/dev/null
    local names=($CTL) i
    for ((i = 1; i < nodes; i++)); do names+=(node$i); done
    for name in "${names[@]}"; do
        # The munge folder is a private tmpfs in each container: its socket is its own.
        docker run -d --name "$tag-$name" --hostname "$name" --label "$label" --network "$network" \
            --init -v "$dir:$dir" --tmpfs "$dir/munge:mode=0755" -e SLURM_CONF="$conf" \
            "$IMAGE" sleep infinity >/dev/null
    done
    local hw
    hw=$(docker exec "$tag-node1" slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //')
    write_conf "$hw"
    for name in "${names[@]}"; do start_daemons "$name"; done
    # The host's munged: same key, its own socket where the shared slurm.conf says.
    if ! host_munged_alive; then
        rm -f "$dir/munge/munge.socket"*
        munged --socket="$dir/munge/munge.socket" --key-file="$dir/key/munge.key" \
            --pid-file="$dir/host-munge/munged.pid" --log-file="$dir/log/munged-host.log" \
            --seed-file="$dir/host-munge/munged.seed"
    fi
    for _ in $(seq 1 60); do cluster_up && break; sleep 0.5; done
    cluster_up || { sinfo -N >&2 || true; tail -n 20 "$dir"/log/slurm*.log >&2 || true; false; }
    trap - ERR
    local host_v node_v
    host_v=$(sinfo --version); node_v=$(docker exec "$tag-node1" sinfo --version)
    [ "$host_v" = "$node_v" ] || log "warning: host has $host_v, nodes $node_v"
    log "started in $dir: $host_v, controller $CTL, compute nodes node[1-$((nodes - 1))]"
    sinfo -N
    echo "export SLURM_CONF=$conf"
    echo "export EVALTASKS_SHARED_DIR=$dir/shared"
    # The host's address on the nodes' network: a server the nodes must reach binds there.
    echo "export EVALTASKS_NODES_GATEWAY=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$network")"
}

stop() {
    local pid ids
    if [ -f "$conf" ] && [ -n "$(containers)" ]; then
        timeout 20 scancel --quiet -u root 2>/dev/null || true
    fi
    ids=$(containers)
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
    docker network ls -q --filter "label=$label" | xargs -r docker network rm >/dev/null
    if host_munged_alive; then
        pid=$(cat "$dir/host-munge/munged.pid"); kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do host_munged_alive || break; sleep 0.1; done
    fi
    rm -f "$dir/munge/munge.socket"*
    log "not running in $dir"
}

status() {
    [ -n "$(containers)" ] && host_munged_alive && cluster_up || { echo "not running in $dir"; exit 3; }
    sinfo -N
    echo "export SLURM_CONF=$conf"
}

kill_node() {
    [[ $node_to_kill != "$CTL" ]] || die "$CTL is the controller, not a compute node"
    docker stop -t 0 "$tag-$node_to_kill" >/dev/null
    log "stopped $node_to_kill"
}

revive_node() {
    [ "$(docker inspect -f '{{.State.Running}}' "$tag-$node_to_kill")" = true ] && { log "$node_to_kill is running"; return; }
    docker start "$tag-$node_to_kill" >/dev/null
    start_daemons "$node_to_kill"
    for _ in $(seq 1 60); do
        [[ "$(sinfo -h -n "$node_to_kill" -o %t 2>/dev/null)" =~ ^(idle|mix|alloc)$ ]] && break
        sleep 0.5
    done
    [[ "$(sinfo -h -n "$node_to_kill" -o %t)" =~ ^(idle|mix|alloc)$ ]] || die "$node_to_kill did not come back"
    log "started $node_to_kill again"
}

case $cmd in kill-node) kill_node ;; revive-node) revive_node ;; *) $cmd ;; esac
