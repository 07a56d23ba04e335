#!/usr/bin/env bash
# A long chaos run of the banking sample (not in CI): >= 1000 faults over
# every role's node and role under 8 clients on a fresh 3-host cluster,
# then the checker's verdict. Takes about an hour.
#   bash scripts/bank-chaos-long.sh [FAULTS (default 1000)] [SEED] [CONFIG]
# CONFIG: the cluster file (default config/bank-3hosts.toml; another one
# lets the run use other ports than the README's bank).
set -euo pipefail
cd "$(dirname "$0")/.."
faults=${1:-1000}
seed=${2:-1}
config=${3:-config/bank-3hosts.toml}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
make -C build -j2 ftsr-bank > /dev/null
bank=build/apps/bank/ftsr-bank
dir=ftsr-bank-long
"$bank" down --dir "$dir" > /dev/null 2>&1 || true
"$bank" up --config "$config" --dir "$dir"
trap '"$bank" down --dir "$dir"' EXIT
"$bank" chaos --dir "$dir" --faults "$faults" --clients 8 --interval 200 \
  --seed "$seed" --no-progress --history "$dir/history.json"
