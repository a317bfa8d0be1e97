#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the project's tests and for trying the
# SLURM path by hand. Everything it writes lives under one directory ($NAS_ASSETS_SLURM_DIR,
# default /tmp/nas_assets_slurm); /etc/slurm and /etc/munge are never touched.
#
# Usage: bash slurm/cluster.sh start [--reset] | stop | status | env
#
#   start    write slurm.conf/gres.conf, start our own munged, slurmctld and slurmd, and wait
#            until the node is idle. Does nothing when our cluster is already up and healthy.
#            --reset restarts it even then (job state is wiped; job ids restart at 1).
#   stop     cancel remaining jobs, then stop only the daemons this script started, by the PID
#            files under the state dir (TERM, up to 10 s, then KILL). No error when none runs.
#   status   print the daemons' state and `sinfo`; exit 0 when healthy, 1 otherwise.
#   env      print `export SLURM_CONF=...`, for: eval "$(bash slurm/cluster.sh env)"
#
# Environment:
#   NAS_ASSETS_SLURM_DIR            state directory (default /tmp/nas_assets_slurm; keep it short:
#                                   the munge socket path must fit in 108 bytes)
#   NAS_ASSETS_SLURM_MUNGE_SOCKET   use an already running munged at this socket (for example
#                                   /run/munge/munge.socket.2) instead of starting our own
#   NAS_ASSETS_SLURM_CTLD_PORT      slurmctld port (default 6817)
#   NAS_ASSETS_SLURM_SLURMD_PORT    slurmd port (default 6818)
#   NAS_ASSETS_SLURM_START_TIMEOUT  seconds to wait for the node to become idle (default 30)
#
# Exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.
set -euo pipefail

readonly PROG="cluster.sh"
DIR="$(realpath -m "${NAS_ASSETS_SLURM_DIR:-/tmp/nas_assets_slurm}")"
readonly DIR
readonly CONF="$DIR/slurm.conf"
readonly GRES_CONF="$DIR/gres.conf"
readonly MUNGE_DIR="$DIR/munge"
readonly RUN_DIR="$DIR/run"
readonly LOG_DIR="$DIR/log"
readonly CTLD_PID="$RUN_DIR/slurmctld.pid"
readonly SLURMD_PID="$RUN_DIR/slurmd.pid"
readonly MUNGED_PID="$MUNGE_DIR/munged.pid"
readonly EXTERNAL_MUNGE_SOCKET="${NAS_ASSETS_SLURM_MUNGE_SOCKET:-}"
readonly MUNGE_SOCKET="${EXTERNAL_MUNGE_SOCKET:-$MUNGE_DIR/munge.socket}"
readonly CTLD_PORT="${NAS_ASSETS_SLURM_CTLD_PORT:-6817}"
readonly SLURMD_PORT="${NAS_ASSETS_SLURM_SLURMD_PORT:-6818}"
readonly START_TIMEOUT="${NAS_ASSETS_SLURM_START_TIMEOUT:-30}"
readonly NODE="localhost"
readonly N_FAKE_GPUS=2
readonly SBIN="/usr/sbin"

# Clients (sinfo, scancel, ...) run from this script must talk to our cluster only.
export SLURM_CONF="$CONF"
export PATH="$PATH:$SBIN:/usr/bin"

log() { echo "$PROG: $*" >&2; }

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

usage() {
    sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

require_root() {
    [[ $EUID -eq 0 ]] || die "'$1' needs root (slurmd runs jobs as their users and munged runs as 'munge'); rerun as root: sudo bash $0 $1"
}

require_binaries() {
    local missing=() bin
    for bin in "$SBIN/slurmctld" "$SBIN/slurmd" "$SBIN/munged"; do
        [[ -x "$bin" ]] || missing+=("$bin")
    done
    for bin in sinfo scontrol sbatch munge unmunge; do
        command -v "$bin" >/dev/null || missing+=("$bin")
    done
    [[ ${#missing[@]} -eq 0 ]] \
        || die "SLURM/munge not installed (missing: ${missing[*]}); run: bash slurm/install_debian.sh"
}

# Serialise start/stop: concurrent test sessions may both try to bring the cluster up. The
# daemons are started with fd 9 closed (munged keeps inherited descriptors, and would hold the
# lock for its lifetime).
take_lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/cluster.lock"
    flock -w 120 9 || die "another $PROG start/stop holds $DIR/cluster.lock for more than 120 s"
}

# --- processes -------------------------------------------------------------------------------

# is_alive PID: the process exists and is not a zombie. The VM's PID 1 does not reap orphans, so
# a dead daemon lingers as a zombie on which `kill -0` still succeeds.
is_alive() {
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
    [[ -n "$stat" && "$stat" != Z* ]]
}

# our_pid PIDFILE MARKER: print the PID recorded in PIDFILE when that process is alive and was
# started from this state dir (its command line contains MARKER), so that a stale PID file
# whose number was reused by an unrelated process never gets that process killed.
our_pid() {
    local pidfile="$1" marker="$2" pid
    [[ -r "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] && is_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 1
    echo "$pid"
}

# Markers end in a space: the joined command line has one after every argument.
readonly CONF_MARKER="-f $CONF "
readonly MUNGED_MARKER="--socket=$MUNGE_SOCKET "
ctld_pid() { our_pid "$CTLD_PID" "$CONF_MARKER"; }
slurmd_pid() { our_pid "$SLURMD_PID" "$CONF_MARKER"; }
munged_pid() { our_pid "$MUNGED_PID" "$MUNGED_MARKER"; }

# stop_pidfile NAME PIDFILE MARKER: TERM, wait up to 10 s, then KILL.
stop_pidfile() {
    local name="$1" pidfile="$2" marker="$3" pid i
    if ! pid="$(our_pid "$pidfile" "$marker")"; then
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        is_alive "$pid" || break
        sleep 0.2
    done
    if is_alive "$pid"; then
        log "$name (pid $pid) ignored TERM for 10 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 25; i++)); do
            is_alive "$pid" || break
            sleep 0.2
        done
        is_alive "$pid" && die "$name (pid $pid) survived KILL"
    fi
    rm -f "$pidfile"
}

munge_ok() {
    [[ -S "$MUNGE_SOCKET" ]] \
        && munge -S "$MUNGE_SOCKET" -n 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1
}

# Our munged (or the external one) answers. The PID check comes first: `munge` retries a dead
# socket for over 2 s.
munge_ready() {
    if [[ -z "$EXTERNAL_MUNGE_SOCKET" ]]; then
        munged_pid >/dev/null || return 1
    fi
    munge_ok
}

# Node state as sinfo reports it (idle, mixed, down*, ...), empty when slurmctld is unreachable.
node_state() {
    timeout 15 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1 || true
}

node_healthy() {
    [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]
}

cluster_healthy() {
    ctld_pid >/dev/null && slurmd_pid >/dev/null && munge_ready && node_healthy
}

show_logs() {
    local f
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" "$MUNGE_DIR/munged.log" \
        "$LOG_DIR/daemons.out"; do
        [[ -s "$f" ]] || continue
        echo "----- last lines of $f -----" >&2
        # Without libpmix (not installed) every daemon logs harmless mpi/pmix load errors.
        grep -v -e 'pmix' -e 'MPI: Cannot create context' "$f" | tail -n 15 >&2 || true
    done
}

# fail_start MESSAGE: show the logs, stop whatever this start brought up, and exit 1.
fail_start() {
    show_logs
    stop_slurm_daemons
    [[ -n "$EXTERNAL_MUNGE_SOCKET" ]] || stop_pidfile munged "$MUNGED_PID" "$MUNGED_MARKER"
    die "$1"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- configuration ---------------------------------------------------------------------------

real_memory_mb() {
    local total_kb total_mb
    total_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    total_mb=$((total_kb / 1024))
    # Headroom: slurmd drains a node whose configured RealMemory exceeds what it measures.
    echo $((total_mb - (total_mb / 10 > 512 ? total_mb / 10 : 512)))
}

write_config() {
    local cpus mem tmp
    cpus="$(nproc)"
    mem="$(real_memory_mb)"
    tmp="$(mktemp "$DIR/slurm.conf.XXXXXX")"
    cat >"$tmp" <<EOF
# Written by slurm/cluster.sh for the local test cluster; rewritten on every start.
ClusterName=nas_assets
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
ReturnToService=2
EnforcePartLimits=ALL
MinJobAge=86400
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:$N_FAKE_GPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    mv -f "$tmp" "$CONF"
    chmod 0644 "$CONF"

    # Fake GPUs: gres only needs device files to exist; these are /dev/null's major/minor.
    local i
    for ((i = 0; i < N_FAKE_GPUS; i++)); do
        [[ -c "$DIR/fakegpu$i" ]] || mknod "$DIR/fakegpu$i" c 1 3
    done
    echo "NodeName=$NODE Name=gpu File=$DIR/fakegpu[0-$((N_FAKE_GPUS - 1))]" >"$GRES_CONF"
    chmod 0644 "$GRES_CONF"
}

# --- start -----------------------------------------------------------------------------------

start_munged() {
    if [[ -n "$EXTERNAL_MUNGE_SOCKET" ]]; then
        munge_ok || die "no munged answers at NAS_ASSETS_SLURM_MUNGE_SOCKET=$EXTERNAL_MUNGE_SOCKET (check: munge -S $EXTERNAL_MUNGE_SOCKET -n | unmunge -S $EXTERNAL_MUNGE_SOCKET)"
        return 0
    fi
    if munge_ready; then
        return 0
    fi
    stop_pidfile munged "$MUNGED_PID" "$MUNGED_MARKER"
    id munge >/dev/null 2>&1 || die "user 'munge' does not exist; run: bash slurm/install_debian.sh"
    # munged insists: its directory owned by it and world-executable, the key readable by it only.
    mkdir -p "$MUNGE_DIR"
    chown munge:munge "$MUNGE_DIR"
    chmod 0755 "$MUNGE_DIR"
    if [[ ! -s "$MUNGE_DIR/munge.key" ]]; then
        (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_DIR/munge.key")
    fi
    chown munge:munge "$MUNGE_DIR/munge.key"
    chmod 0600 "$MUNGE_DIR/munge.key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"

    # --force: let munged replace a socket left by one that was killed.
    runuser -u munge -- "$SBIN/munged" --force \
        "--socket=$MUNGE_SOCKET" "--pid-file=$MUNGED_PID" "--log-file=$MUNGE_DIR/munged.log" \
        "--seed-file=$MUNGE_DIR/munged.seed" "--key-file=$MUNGE_DIR/munge.key" \
        </dev/null >>"$LOG_DIR/daemons.out" 2>&1 9>&- \
        || fail_start "munged failed to start (log: $MUNGE_DIR/munged.log)"
    local i
    for ((i = 0; i < 50; i++)); do
        munge_ok && return 0
        sleep 0.1
    done
    fail_start "munged started but does not answer on $MUNGE_SOCKET"
}

wait_for_idle() {
    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state="$(node_state)"
        [[ "$state" == idle ]] && return 0
        if ! ctld_pid >/dev/null || ! slurmd_pid >/dev/null; then
            fail_start "a SLURM daemon exited during start-up (see the logs above, under $LOG_DIR)"
        fi
        sleep 0.5
    done
    fail_start "node '$NODE' not idle after ${START_TIMEOUT}s (last state: '${state:-slurmctld unreachable}'); logs under $LOG_DIR"
}

start_cluster() {
    local reset=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --reset) reset=1 ;;
            *) echo "$PROG: unknown option for start: $1" >&2; usage ;;
        esac
        shift
    done
    require_root start
    require_binaries
    (( ${#MUNGE_SOCKET} < 100 )) \
        || die "munge socket path too long (${#MUNGE_SOCKET} bytes, limit ~100): $MUNGE_SOCKET; use a shorter NAS_ASSETS_SLURM_DIR"
    take_lock

    if ((reset == 0)) && cluster_healthy; then
        log "already running and healthy ($DIR)"
        return 0
    fi
    # Half-up or reset: start from a clean slate (no job left running behind a restarted slurmd),
    # but keep a healthy munged of ours.
    cancel_jobs
    stop_slurm_daemons
    if ((reset)); then
        rm -rf "$DIR/state" "$DIR/spool" "$LOG_DIR"
    fi
    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        ! port_in_use "$port" \
            || die "port $port on 127.0.0.1 is taken by another process (another slurmctld/slurmd?); stop it or set NAS_ASSETS_SLURM_CTLD_PORT / NAS_ASSETS_SLURM_SLURMD_PORT"
    done

    mkdir -p "$DIR/state" "$DIR/spool" "$RUN_DIR" "$LOG_DIR"
    chmod 0755 "$DIR"
    start_munged
    write_config

    log "starting slurmctld and slurmd (state: $DIR)"
    "$SBIN/slurmctld" -f "$CONF" -c </dev/null >>"$LOG_DIR/daemons.out" 2>&1 9>&- \
        || fail_start "slurmctld failed to start"
    "$SBIN/slurmd" -f "$CONF" -N "$NODE" </dev/null >>"$LOG_DIR/daemons.out" 2>&1 9>&- \
        || fail_start "slurmd failed to start"
    wait_for_idle
    log "up: node '$NODE' idle, partitions debug (default) and gpu; use: export SLURM_CONF=$CONF"
}

# --- stop ------------------------------------------------------------------------------------

cancel_jobs() {
    ctld_pid >/dev/null || return 0
    local jobs
    jobs="$(timeout 15 squeue -h -o '%i' 2>/dev/null || true)"
    [[ -n "$jobs" ]] || return 0
    log "cancelling $(wc -w <<<"$jobs") unfinished job(s)"
    # shellcheck disable=SC2086  # one job id per word
    timeout 15 scancel $jobs 2>/dev/null || true
    local i
    for ((i = 0; i < 30; i++)); do  # KillWait=5, so steps are gone well within 15 s
        [[ -z "$(timeout 15 squeue -h -o '%i' 2>/dev/null || true)" ]] && return 0
        sleep 0.5
    done
    log "some jobs were still completing; stopping anyway"
}

stop_slurm_daemons() {
    stop_pidfile slurmd "$SLURMD_PID" "$CONF_MARKER"
    stop_pidfile slurmctld "$CTLD_PID" "$CONF_MARKER"
}

stop_cluster() {
    require_root stop
    [[ -d "$DIR" ]] || return 0
    take_lock
    cancel_jobs
    stop_slurm_daemons
    stop_pidfile munged "$MUNGED_PID" "$MUNGED_MARKER"
    log "stopped ($DIR)"
}

# --- status / env ----------------------------------------------------------------------------

status_cluster() {
    local healthy=0 pid
    if [[ -n "$EXTERNAL_MUNGE_SOCKET" ]]; then
        echo "munged:    external at $MUNGE_SOCKET"
    elif pid="$(munged_pid)"; then
        echo "munged:    running (pid $pid)"
    else
        echo "munged:    not running"; healthy=1
    fi
    ((healthy)) || munge_ok || { echo "munge:     no credential round trip on $MUNGE_SOCKET"; healthy=1; }
    if pid="$(ctld_pid)"; then echo "slurmctld: running (pid $pid)"; else echo "slurmctld: not running"; healthy=1; fi
    if pid="$(slurmd_pid)"; then echo "slurmd:    running (pid $pid)"; else echo "slurmd:    not running"; healthy=1; fi
    echo "SLURM_CONF=$CONF"
    if [[ -f "$CONF" ]] && ctld_pid >/dev/null; then
        timeout 15 sinfo || healthy=1
        node_healthy || { echo "node '$NODE' is not usable (state: '$(node_state)')"; healthy=1; }
    fi
    if ((healthy == 0)); then echo "healthy"; else echo "not healthy"; fi
    return "$healthy"
}

print_env() {
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"
    shift
    case "$cmd" in
        start) start_cluster "$@" ;;
        stop) stop_cluster ;;
        status) status_cluster ;;
        env) print_env ;;
        -h | --help | help) usage ;;
        *) echo "$PROG: unknown command: $cmd" >&2; usage ;;
    esac
}

main "$@"
