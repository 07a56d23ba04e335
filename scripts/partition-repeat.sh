#!/usr/bin/env bash
# Runs the partition test suite (tests/partition_test.cpp) N times in a row
# (default 20) and prints how many runs passed and failed; the output of
# each failed run is kept in build/partition-repeat/run-<k>.log.
# Builds partition_test first (scripts/build.sh); needs root. Extra arguments go to ctest,
# e.g. `bash scripts/partition-repeat.sh 5 -R isolate`.
# Exits 0 only if every run passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${1:-20}
shift || true
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "partition-repeat: the run count must be a positive integer, got '$runs'" >&2
  exit 2
fi

bash scripts/build.sh partition_test
logs=build/partition-repeat
mkdir -p "$logs"
passed=0
failed=0
for ((k = 1; k <= runs; ++k)); do
  log="$logs/run-$k.log"
  if (cd build && ctest --output-on-failure -R '^partition\.' "$@") > "$log" 2>&1; then
    passed=$((passed + 1))
    rm -f "$log"
    echo "run $k/$runs: passed"
  else
    failed=$((failed + 1))
    echo "run $k/$runs: FAILED ($(grep -c '\*\*\*Failed' "$log" || true) tests; log $log)"
  fi
done
echo "partition-repeat: $passed passed, $failed failed"
((failed == 0))
