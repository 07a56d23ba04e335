#!/usr/bin/env bash
# Failure-detector cost and detection time (bench.sh fd): for each cluster
# size, starts that many ftsr-node processes on loopback, then measures
#   idle CPU    the whole cluster's CPU time over IDLE_S seconds once every
#               node is in the view, as a percentage of one core;
#   kill -9     time from the kill of one node until every survivor logged
#               it failed (the point where monitors fire; its port
#               refuses: proven dead at once);
#   SIGSTOP     the same for a stopped node (silent: the heartbeat
#               timeout, the majority's agreement and the lease wait).
# Usage: bash scripts/bench-fd.sh [SIZES...]   (default: 3 9 15 31)
# Env: IDLE_S (default 10), HEARTBEAT_MS (100), TIMEOUT_MS (500),
#      BASE_PORT (4700). Needs a built build/apps/node/ftsr-node.
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=$PWD/build/apps/node/ftsr-node
[[ -x $node_bin ]] || { echo "bench-fd.sh: build ftsr-node first" >&2; exit 2; }
sizes=("$@")
((${#sizes[@]} > 0)) || sizes=(3 9 15 31)
idle_s=${IDLE_S:-10}
hb=${HEARTBEAT_MS:-100}
ft=${TIMEOUT_MS:-500}
base_port=${BASE_PORT:-4700}
tck=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/ftsr-bench-fd.XXXXXX)
pids=()

stop_all() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Sum of utime + stime (clock ticks) of the running nodes.
cpu_ticks() {
  local sum=0 p f
  for p in "${pids[@]}"; do
    [[ -r /proc/$p/stat ]] || continue
    f=$(sed 's/.*) //' "/proc/$p/stat")
    read -r -a a <<< "$f"
    sum=$((sum + a[11] + a[12]))
  done
  echo "$sum"
}

# Polls (10 ms steps, bounded) until every log but the victim's names
# `pattern`; prints the elapsed milliseconds since `t0`.
await_all_logs() {
  local n=$1 victim=$2 pattern=$3 t0=$4 bound_ms=$5 i ok
  while :; do
    ok=1
    for ((i = 1; i <= n; ++i)); do
      ((i == victim)) && continue
      grep -q -- "$pattern" "$work/host$i.log" || { ok=0; break; }
    done
    if ((ok)); then echo $(($(now_ms) - t0)); return 0; fi
    if (($(now_ms) - t0 > bound_ms)); then
      echo "bench-fd.sh: '$pattern' not logged by every survivor within" \
           "$bound_ms ms (see $work)" >&2
      return 1
    fi
    sleep 0.01
  done
}

# Starts an n-node cluster (file $work/cluster-n.toml) and waits until
# every node installed a view of all n.
start_cluster() {
  local n=$1 cfg=$work/cluster-$1.toml i
  {
    printf '[cluster]\nname = "fd%s"\nheartbeat_interval_ms = %s\n' "$n" "$hb"
    printf 'failure_timeout_ms = %s\n' "$ft"
    for ((i = 1; i <= n; ++i)); do
      printf '\n[[node]]\nname = "host%s"\nhost = "127.0.0.1"\nport = %s\n' \
        "$i" $((base_port + i))
    done
  } > "$cfg"
  rm -rf "$work"/data-* "$work"/host*.log
  for ((i = 1; i <= n; ++i)); do
    "$node_bin" --config "$cfg" --name "host$i" --threads 2 \
      --data-dir "$work/data-host$i" > "$work/host$i.log" 2>&1 &
    pids+=($!)
  done
  await_all_logs "$n" 0 \
    "installed: view [0-9]* \[\(host[0-9]*/[0-9]* \)\{$((n - 1))\}host" \
    "$(now_ms)" 120000 > /dev/null
}

printf '%-6s %-14s %-12s %-12s\n' nodes "idle CPU %" "kill-9 ms" "SIGSTOP ms"
for n in "${sizes[@]}"; do
  start_cluster "$n"
  c0=$(cpu_ticks); sleep "$idle_s"; c1=$(cpu_ticks)
  idle=$(awk -v d=$((c1 - c0)) -v t="$tck" -v s="$idle_s" \
    'BEGIN { printf "%.1f", 100 * d / t / s }')
  t0=$(now_ms); kill -9 "${pids[n - 1]}"
  killed=$(await_all_logs "$n" "$n" "peer host$n/[0-9]* failed" "$t0" 30000)
  stop_all
  start_cluster "$n"
  t0=$(now_ms); kill -STOP "${pids[n - 1]}"
  stopped=$(await_all_logs "$n" "$n" "peer host$n/[0-9]* failed" "$t0" 30000)
  kill -CONT "${pids[n - 1]}"
  printf '%-6s %-14s %-12s %-12s\n' "$n" "$idle" "$killed" "$stopped"
  stop_all
done
