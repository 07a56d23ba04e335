#!/usr/bin/env bash
# Installs the Debian packages, builds everything in build/ and runs the whole
# test suite with ctest. Extra arguments go to ctest, e.g.
#   bash scripts/test.sh -R cluster_config
# Exits with ctest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/build.sh

cd build
exec ctest --output-on-failure "$@"
