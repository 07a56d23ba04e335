#!/usr/bin/env bash
# The cost of TLS on group invocations: ftsr-bench-group on the same
# three-node cluster (ports 4211-4213 on loopback) over plain TCP and over
# mutual TLS ([cluster.tls], throw-away certificates), alternating plain/TLS
# for ROUNDS pairs in one sitting, then the medians and the TLS/plain ratios.
# Needs build/apps/bench/ftsr-bench-group and build/apps/node/ftsr-node
# (bash scripts/bench.sh tls builds them first).
#
#   bash scripts/bench-group-tls.sh [ROUNDS (default 5)] [ftsr-bench-group args]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
shift || true
dir=$(mktemp -d /tmp/ftsr-tls-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT
bash scripts/make-test-certs.sh "$dir/certs" cluster
nodes() {
  for i in 1 2 3; do
    printf '\n[[node]]\nname = "host%s"\nhost = "127.0.0.1"\nport = %s\n' \
      "$i" $((4210 + i))
  done
}
{ printf '[cluster]\nname = "bench"\n'; nodes; } > "$dir/plain.toml"
{
  printf '[cluster]\nname = "bench"\n\n[cluster.tls]\nca = "certs/ca.pem"\n'
  printf 'cert = "certs/cluster.pem"\nkey = "certs/cluster.key"\n'
  nodes
} > "$dir/tls.toml"
log="$dir/runs.txt"
for ((r = 1; r <= rounds; ++r)); do
  for mode in plain tls; do
    echo "# round $r $mode, load $(cut -d' ' -f1-3 /proc/loadavg)"
    ./build/apps/bench/ftsr-bench-group --config "$dir/$mode.toml" "$@" \
      | grep '^  ftsr ' | sed "s/^/$mode /" | tee -a "$log"
  done
done
# Medians per mode and workload (ops/s, p50, p99), then TLS / plain.
awk '
  { mode = $1; work = $3; k = mode " " work; n[k]++; ops[k, n[k]] = $5 }
  { for (i = 1; i <= NF; ++i) {
      if ($i == "p50") p50[k, n[k]] = $(i + 1);
      if ($i == "p99") p99[k, n[k]] = $(i + 1); } }
  function median(arr, k, cnt,   v, i, j, t) {
    for (i = 1; i <= cnt; ++i) v[i] = arr[k, i];
    for (i = 1; i <= cnt; ++i) for (j = i + 1; j <= cnt; ++j)
      if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2 }
  END {
    for (w = 0; w < 2; ++w) {
      work = w ? "async" : "sync";
      for (m = 0; m < 2; ++m) {
        mode = m ? "tls" : "plain"; k = mode " " work;
        o[mode] = median(ops, k, n[k]); a[mode] = median(p50, k, n[k]);
        b[mode] = median(p99, k, n[k]);
        printf "median %-5s %-5s %9.1f ops/s  p50 %.3f ms  p99 %.3f ms (n=%d)\n",
          mode, work, o[mode], a[mode], b[mode], n[k] }
      printf "ratio tls/plain %-5s throughput %.2f  p50 %.2f  p99 %.2f\n",
        work, o["tls"] / o["plain"], a["tls"] / a["plain"], b["tls"] / b["plain"] }
  }' "$log"
