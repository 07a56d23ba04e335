#!/usr/bin/env bash
# The banking sample in one command (the README's main command): installs
# the Debian packages, builds ftsr-bank, starts a fresh 3-host cluster
# (config/bank-3hosts.toml, run directory ftsr-bank-run), runs about a
# minute of chaos under 8 clients with faults on every role (kill -9 and
# SIGSTOP/SIGCONT of each host, destroy of the transaction manager, the
# lock manager and both data managers; killed and fenced nodes restart as
# new incarnations), prints the checker's verdict and the figures, and
# stops the cluster.
#   bash scripts/bank.sh [extra chaos options, e.g. --faults 30 or
#                         --schedule kill:host2 stop:host1 ...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/build.sh ftsr-bank
bank=build/apps/bank/ftsr-bank
dir=ftsr-bank-run
"$bank" down --dir "$dir" > /dev/null 2>&1 || true
"$bank" up --config config/bank-3hosts.toml --dir "$dir"
trap '"$bank" down --dir "$dir"' EXIT

# ---- DASHBOARD -------------------------------------------------------------
# The tracing dashboard (built separately) starts here and prints its URL,
# e.g. "dashboard: http://127.0.0.1:PORT/", before the chaos run begins.
# ----------------------------------------------------------------------------

"$bank" audit --dir "$dir" > /dev/null
# Every role's node and every role, twice over (about a minute).
schedule=(kill:host1 stop:host2 destroy:tm kill:host3 destroy:lm stop:host1
          destroy:dm1 kill:host2 destroy:dm2 stop:host3)
"$bank" chaos --dir "$dir" --faults 20 --clients 8 --interval 1000 \
  --schedule "${schedule[@]}" --history "$dir/history.json" "$@"
