#!/usr/bin/env bash
# The bank benchmark (run by `bash scripts/bench.sh bank`; not a test):
#  1. ftsr-bank on a fresh 3-host cluster (loopback, durable: every stable
#     store write is fsynced): committed transfers/s, p50/p99, 16 clients,
#     no faults; then the same with one kill -9 every 2 s (kill:host1,
#     kill:host2, kill:host3 in turn; the next kill comes 2 s after the
#     cluster serves again), with the checker's verdict.
#  2. PostgreSQL 15 (Debian postgresql), a throw-away cluster under /tmp on
#     127.0.0.1, pgbench TPC-B scale 10, 16 clients, synchronous_commit on
#     and off.
# Prints the figures and the ratios ftsr / pgbench.
# Env: SECONDS_PER_RUN (default 30), KILLS (default 10), PG_PORT (5499),
# BANK_CONFIG (default config/bank-3hosts.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-30}
kills=${KILLS:-10}
pg_port=${PG_PORT:-5499}
config=${BANK_CONFIG:-config/bank-3hosts.toml}

if ! command -v pg_ctlcluster > /dev/null \
   || ! ls /usr/lib/postgresql/*/bin/pgbench > /dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends postgresql postgresql-contrib > /dev/null
fi
bash scripts/build.sh ftsr-bank > /dev/null
bank=build/apps/bank/ftsr-bank
work=$(mktemp -d /tmp/ftsr-bench-bank.XXXXXX)
pgdata="$work/pg"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  "$bank" down --dir "$work/run" > /dev/null 2>&1 || true
  if [[ -f "$pgdata/postmaster.pid" ]]; then
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# -- ftsr-bank ---------------------------------------------------------------
figures() { # the summary line of ftsr-bank load/chaos -> "tps p50 p99"
  sed -n 's/.*committed [0-9]* (\([0-9.]*\)\/s), p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1 \2 \3/p' "$1"
}
"$bank" up --config "$config" --dir "$work/run" > /dev/null
"$bank" load --dir "$work/run" --clients 16 --duration "$secs" \
  --count 100000000 --accounts 1000 --no-progress > "$work/load.txt"
read -r f_tps f_p50 f_p99 < <(figures "$work/load.txt") || true
schedule=()
for ((i = 0; i < kills; ++i)); do schedule+=("kill:host$((i % 3 + 1))"); done
"$bank" chaos --dir "$work/run" --clients 16 --faults "$kills" --interval 2000 \
  --schedule "${schedule[@]}" --no-progress --history "$work/chaos.json" \
  > "$work/chaos.txt" 2> "$work/chaos.err" || true
read -r c_tps c_p50 c_p99 < <(figures "$work/chaos.txt") || true
grep -h "^fault\|chaos:\|final audit" "$work/chaos.txt" "$work/chaos.err" \
  | tail -3 || true
verdict=$(grep -o 'verdict: [A-Z]*' "$work/chaos.txt" || echo "verdict: none")
"$bank" down --dir "$work/run" > /dev/null

# -- PostgreSQL pgbench ------------------------------------------------------
mkdir -p "$pgdata"
chown postgres: "$work" "$pgdata" 2> /dev/null || true
as_pg "$pgbin/initdb" -D "$pgdata" -A trust -U postgres > /dev/null
pgbench_tps() { # synchronous_commit value -> tps
  as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$work/pg.log" -w \
    -o "-p $pg_port -k $pgdata -c listen_addresses=127.0.0.1 -c synchronous_commit=$1 -c max_connections=50" \
    start > /dev/null
  as_pg "$pgbin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 10 -q \
    postgres > /dev/null 2>&1
  as_pg "$pgbin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -c 16 -j 2 \
    -T "$secs" postgres 2> /dev/null > "$work/pgbench-$1.txt"
  as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast stop > /dev/null
  sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench-$1.txt" | head -1
}
pg_on=$(pgbench_tps on)
pg_off=$(pgbench_tps off)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "ftsr-bank, 16 clients, no faults:        ${f_tps} transfers/s, p50 ${f_p50} ms, p99 ${f_p99} ms"
echo "ftsr-bank, 16 clients, kill -9 every 2 s: ${c_tps} transfers/s, p50 ${c_p50} ms, p99 ${c_p99} ms ($kills kills, $verdict)"
echo "pgbench TPC-B scale 10, 16 clients, synchronous_commit=on:  ${pg_on} tps"
echo "pgbench TPC-B scale 10, 16 clients, synchronous_commit=off: ${pg_off} tps"
echo "ratio ftsr (no faults) / pgbench on:  $(ratio "$f_tps" "$pg_on")"
echo "ratio ftsr (no faults) / pgbench off: $(ratio "$f_tps" "$pg_off")"
echo "ratio ftsr (kill -9 every 2 s) / pgbench on: $(ratio "$c_tps" "$pg_on")"
