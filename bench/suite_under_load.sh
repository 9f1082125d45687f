#!/usr/bin/env bash
# The whole suite, several times in a row, on a machine kept busy (issue 24: a flaky
# test is a race to find, and races show when the cores are contended).
#
#   bash bench/suite_under_load.sh [RUNS=3] [HOGS=number of cores]
#
# Starts HOGS busy loops (plain `while :; do :; done` shells at normal priority, so
# they contend with the tests as another user's job would), then runs
# `bash scripts/test.sh` RUNS times, one after another, from this checkout. The load
# average is sampled every 30 s. At the end it prints, per run: the wall time, the
# pytest summary line and the median and highest load average seen during it. The
# hogs stop when the script ends, however it ends.
#
# To leave the machine's own install alone, run it from a clean clone inside a venv
# of its own (scripts/test.sh installs the clone with `pip install -e`), and give the
# Slurm cluster other ports when another one may be running:
#   EVALTASKS_SLURMCTLD_PORT=7617 EVALTASKS_SLURMD_PORT=7618 bash bench/suite_under_load.sh
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
hogs=${2:-$(nproc)}
out=$(mktemp -d /tmp/suite-under-load.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
for _ in $(seq "$hogs"); do
    bash -c 'while :; do :; done' &
    pids+=($!)
done
(while :; do echo "$(date +%s) $(cut -d' ' -f1 /proc/loadavg)"; sleep 30; done) > "$out/load" &
pids+=($!)
echo "[load] $hogs busy loops; logs and load samples in $out"

summary=()
status=0
for i in $(seq "$runs"); do
    start=$(date +%s)
    bash scripts/test.sh > "$out/run$i.log" 2>&1
    rc=$?
    end=$(date +%s)
    [ "$rc" -eq 0 ] || status=1
    line=$(grep -E '[0-9]+ (passed|failed|errors?)\b.* in [0-9.]+s' "$out/run$i.log" | tail -1)
    load=$(awk -v s="$start" -v e="$end" '$1>=s && $1<=e {print $2}' "$out/load" | sort -n |
        awk '{a[NR]=$1} END {if (NR) printf "load median %s, max %s", a[int((NR+1)/2)], a[NR]; else print "no load sample"}')
    summary+=("run $i: exit $rc, $(( (end - start) / 60 ))m$(( (end - start) % 60 ))s wall, $load: $line")
    echo "${summary[-1]}"
done
echo "---"
printf '%s\n' "${summary[@]}"
exit "$status"
