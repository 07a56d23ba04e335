#!/usr/bin/env bash
# Installs the Debian packages, builds everything in build/ and runs the whole
# test suite: the sanitizer stage (scripts/sanitize.sh), the bounded fuzz
# runs (scripts/fuzz.sh, FUZZ_SECONDS each, default 30 here), then every
# test with ctest, whose summary closes the output. A failing stage stops
# the run with its report. Extra arguments go to ctest, e.g.
#   FTSR_SKIP_STAGES=1 bash scripts/test.sh -R cluster_config
# (FTSR_SKIP_STAGES=1 skips the two stages, for a quick local run.)
# Exits with the first failing stage's status, else ctest's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/build.sh

if [[ "${FTSR_SKIP_STAGES:-0}" != 1 ]]; then
  bash scripts/sanitize.sh
  FUZZ_SECONDS=${FUZZ_SECONDS:-30} bash scripts/fuzz.sh
fi

cd build
exec ctest --output-on-failure "$@"
