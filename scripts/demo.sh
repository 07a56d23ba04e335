#!/usr/bin/env bash
# Installs the Debian packages, builds the demo and ftsr-node, then runs the
# demo on the 3-node loopback cluster of config/local-3.toml: it starts three
# ftsr-node processes, shows a call with backup completing and monitors
# firing when one node is killed, then stops the cluster and exits.
# Extra arguments go to ftsr-demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/build.sh ftsr-demo ftsr-node

exec build/apps/demo/ftsr-demo --config config/local-3.toml \
  --node-bin build/apps/node/ftsr-node "$@"
