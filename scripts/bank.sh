#!/usr/bin/env bash
# The banking sample in one command: builds ftsr-bank, starts a fresh
# 3-host cluster (config/bank-3hosts.toml, run directory ftsr-bank-run),
# runs about a minute of chaos (8 clients; kill -9, SIGSTOP/SIGCONT and
# destroy over every role's node and role), prints the checker's verdict
# and the figures, and stops the cluster.
#   bash scripts/bank.sh [extra chaos options, e.g. --seed 5]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
make -C build -j"$(nproc)" ftsr-bank > /dev/null
bank=build/apps/bank/ftsr-bank
dir=ftsr-bank-run
"$bank" down --dir "$dir" > /dev/null 2>&1 || true
"$bank" up --config config/bank-3hosts.toml --dir "$dir"
trap '"$bank" down --dir "$dir"' EXIT
"$bank" audit --dir "$dir" > /dev/null
# About a minute: each fault takes a few seconds to detect and repair.
"$bank" chaos --dir "$dir" --faults 15 --clients 8 --interval 1000 \
  --history "$dir/history.json" "$@"
