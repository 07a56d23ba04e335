#!/usr/bin/env bash
# The banking sample in one command (the README's main command): installs
# the Debian packages, builds ftsr-bank, starts a fresh 3-host cluster
# (config/bank-3hosts.toml, run directory ftsr-bank-run), runs about a
# minute of chaos under 8 clients with faults on every role (kill -9 and
# SIGSTOP/SIGCONT of each host, destroy of the transaction manager, the
# lock manager and both data managers; killed and fenced nodes restart as
# new incarnations), prints the checker's verdict and the figures, and
# stops the cluster. While it runs, ftsr-dashboard serves the cluster's
# live failure dashboard on a free loopback port and the script prints its
# URL ("dashboard: http://127.0.0.1:PORT/").
#   bash scripts/bank.sh [extra chaos options, e.g. --faults 30 or
#                         --schedule kill:host2 stop:host1 ...]
# Environment (tests): BANK_CONFIG (cluster file, default
# config/bank-3hosts.toml), BANK_DIR (run directory, default ftsr-bank-run),
# FTSR_BUILD_DIR (use the binaries built there instead of building build/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${FTSR_BUILD_DIR:-}" ]]; then
  build=$FTSR_BUILD_DIR
else
  bash scripts/build.sh ftsr-bank ftsr-dashboard
  build=build
fi
bank=$build/apps/bank/ftsr-bank
dashboard=$build/apps/dashboard/ftsr-dashboard
dir=${BANK_DIR:-ftsr-bank-run}
"$bank" down --dir "$dir" > /dev/null 2>&1 || true
"$bank" up --config "${BANK_CONFIG:-config/bank-3hosts.toml}" --dir "$dir"

# The dashboard joins the cluster as a client (its failures never reach the
# members) and prints its URL once it serves; stopped by PID on exit.
dashboard_pid=
stop_all() {
  if [[ -n "$dashboard_pid" ]]; then
    kill -TERM "$dashboard_pid" 2> /dev/null || true
    wait "$dashboard_pid" 2> /dev/null || true
  fi
  "$bank" down --dir "$dir"
}
trap stop_all EXIT
"$dashboard" --config "$dir/cluster.toml" --listen 127.0.0.1:0 \
  > "$dir/dashboard.log" 2>&1 &
dashboard_pid=$!
url=
for _ in $(seq 150); do # up to 15 s
  url=$(grep -o 'http://[^ ]*' "$dir/dashboard.log" || true)
  if [[ -n "$url" ]] || ! kill -0 "$dashboard_pid" 2> /dev/null; then
    break
  fi
  sleep 0.1
done
if [[ -n "$url" ]]; then
  echo "dashboard: $url (live while the chaos runs)"
else
  echo "dashboard did not start (see $dir/dashboard.log); running without it" >&2
fi

"$bank" audit --dir "$dir" > /dev/null
# Every role's node and every role, twice over (about a minute).
schedule=(kill:host1 stop:host2 destroy:tm kill:host3 destroy:lm stop:host1
          destroy:dm1 kill:host2 destroy:dm2 stop:host3)
# The defaults of the options the caller did not give (ftsr-bank refuses an
# option given twice).
given() {
  local opt=$1 arg
  shift
  for arg; do
    [[ $arg == "$opt" || $arg == "$opt="* ]] && return 0
  done
  return 1
}
defaults=()
given --faults "$@" || defaults+=(--faults 20)
given --clients "$@" || defaults+=(--clients 8)
given --interval "$@" || defaults+=(--interval 1000)
given --history "$@" || defaults+=(--history "$dir/history.json")
given --schedule "$@" || given --seed "$@" \
  || defaults+=(--schedule "${schedule[@]}")
"$bank" chaos --dir "$dir" "${defaults[@]}" "$@"
