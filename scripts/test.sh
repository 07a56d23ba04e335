#!/usr/bin/env bash
# Installs the Debian packages, builds everything in build/ and runs the whole
# test suite with ctest. Extra arguments go to ctest, e.g.
#   bash scripts/test.sh -R cluster_config
# Exits with ctest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2> /dev/null || echo 1)
if ((jobs > 2)); then jobs=2; fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  > /dev/null
make -C build -j"$jobs" --no-print-directory

cd build
exec ctest --output-on-failure "$@"
