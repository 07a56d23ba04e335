#!/usr/bin/env bash
# Installs the Debian packages and builds the given targets (all when none)
# in build/, with at most two jobs. Shared by demo.sh, test.sh and bench.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2> /dev/null || echo 1)
if ((jobs > 2)); then jobs=2; fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  > /dev/null
make -C build -j"$jobs" --no-print-directory "$@"
